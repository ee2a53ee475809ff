/* Stream VByte decoding for the scoring segment's postings (the format of
 * libstreamvbyte's streamvbyte_encode / streamvbyte_delta_encode, which
 * the segment builder writes). Our own decoder because the engine spends
 * most of its time here and the distribution's libstreamvbyte is built
 * without optimisation or SIMD; it also checks the encoded size against
 * the caller's bound before reading any data, so a damaged control byte
 * cannot send it past the block. */
#ifndef KS_SVB_H
#define KS_SVB_H

#include <stddef.h>
#include <stdint.h>

/* Bytes that the n values encoded at in occupy (control bytes plus data),
 * read from the control bytes alone ((n + 3) / 4 bytes). */
size_t ks_svb_size(const uint8_t *in, uint32_t n);

/* Decodes n values from in into out[0..n); with delta, each value is added
 * to the previous output (starting from prev), as streamvbyte_delta_decode.
 * Returns the bytes consumed, or 0 (out then holds garbage) when that is
 * not exactly want (the caller's recorded size). avail: the bytes readable
 * from in (the decoder reads up to 16 bytes past the encoded data, so the
 * segment pads its postings); whatever the control bytes say, it never
 * reads past in + avail. */
size_t ks_svb_decode(const uint8_t *in, uint32_t *out, uint32_t n, size_t want, size_t avail);
size_t ks_svb_delta_decode(const uint8_t *in, uint32_t *out, uint32_t n, uint32_t prev, size_t want, size_t avail);

#endif
