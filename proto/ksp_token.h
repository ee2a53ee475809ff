/* Admin tokens: read by kosearchd (--admin-token-file) and by the kosearch
 * client (--token-file), sent as `AUTH <token>` (proto/PROTOCOL.md 3.11). */
#ifndef KSP_TOKEN_H
#define KSP_TOKEN_H

#include <stddef.h>

#include "ks_error.h"

#define KSP_TOKEN_MIN 16   /* shortest token accepted, in bytes */
#define KSP_TOKEN_MAX 256  /* longest token accepted, in bytes */

/* Reads the token: the first line of the file at path, without its CR LF.
 * Refuses (KS_EINVAL, reason in eb) a file that is not a regular file or
 * that group or others may read or write (whoever reads the token gets the
 * admin commands), a token shorter than KSP_TOKEN_MIN or longer than
 * KSP_TOKEN_MAX bytes, or one with a byte other than printable ASCII
 * (0x21-0x7E: it travels as one word of a request line). KS_EIO (reason in eb) when the file cannot be
 * opened or read. Returns 0 and fills tok (NUL-terminated) and *len.
 * The messages never include the token. */
int ksp_token_load(const char *path, char tok[KSP_TOKEN_MAX + 1] /* OUT */,
                   size_t *len /* OUT */, ks_errbuf *eb /* OUT */);

/* 1 if got[0..got_len) equals want[0..want_len), else 0. The time taken
 * depends on want_len only, not on where the first difference is, so a
 * network client cannot guess the token byte by byte from timings. */
int ksp_token_equal(const char *want, size_t want_len, const char *got,
                    size_t got_len);

#endif
