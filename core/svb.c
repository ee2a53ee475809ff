/* Stream VByte decoder (ks_svb.h). The encoded size is summed from the
 * control bytes first (a table of four lengths per control byte) and must
 * equal the size the segment recorded, so corrupt input is refused, not
 * decoded past its block. Where the readable bytes leave room for any
 * encoding, the size consumed is compared after decoding instead (the
 * pre-pass cost 5% of a sparse-filter query). Then, on x86 with SSSE3, four values per control byte with one
 * 16-byte load and a byte shuffle (the format's design; the load reads up
 * to 16 bytes past a group, inside the segment's KS_SEG_PAD); elsewhere,
 * and for the last n % 4 values, one unaligned 32-bit load per value
 * masked to its length. */
#include "ks_svb.h"

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define KS_SVB_X86 1
#endif

/* Encoded data bytes of the four values a control byte describes, and the
 * shuffle placing them in four 32-bit lanes (0x80: a zero byte). */
static uint8_t ctl_len[256];
static uint8_t ctl_shuf[256][16];
static int have_ssse3;
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void init_tables(void)
{
    /* once per process (pthread_once): the tables are then read-only */
    for (int c = 0; c < 256; c++) {
        int o = 0;
        for (int k = 0; k < 4; k++) {
            int len = ((c >> (2 * k)) & 3) + 1;
            for (int b = 0; b < 4; b++)
                ctl_shuf[c][4 * k + b] = (uint8_t)(b < len ? o + b : 0x80);
            o += len;
        }
        ctl_len[c] = (uint8_t)o;
    }
#ifdef KS_SVB_X86
    __builtin_cpu_init();
    have_ssse3 = __builtin_cpu_supports("ssse3");
#endif
}

#ifdef KS_SVB_X86
/* The n / 4 full groups; returns the data pointer after them. */
__attribute__((target("ssse3"))) static const uint8_t *groups_ssse3(const uint8_t *ctl, const uint8_t *p,
                                                                  uint32_t *out, uint32_t groups, int delta,
                                                                  uint32_t *prev)
{
    __m128i run = _mm_set1_epi32((int)*prev);
    for (uint32_t g = 0; g < groups; g++) {
        uint8_t c = ctl[g];
        __m128i v = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)p),
                                     _mm_loadu_si128((const __m128i *)ctl_shuf[c]));
        if (delta) { /* prefix sum over the lanes, plus the previous value */
            v = _mm_add_epi32(v, _mm_slli_si128(v, 4));
            v = _mm_add_epi32(v, _mm_slli_si128(v, 8));
            v = _mm_add_epi32(v, run);
            run = _mm_shuffle_epi32(v, 0xff);
        }
        _mm_storeu_si128((__m128i *)(out + 4 * g), v);
        p += ctl_len[c];
    }
    *prev = (uint32_t)_mm_cvtsi128_si32(run);
    return p;
}
#endif

size_t ks_svb_size(const uint8_t *in, uint32_t n)
{
    pthread_once(&tables_once, init_tables);
    size_t nctl = ((size_t)n + 3) / 4, data = 0;
    for (size_t i = 0; i + 1 < nctl; i++)
        data += ctl_len[in[i]];
    if (nctl) { /* the last control byte describes only n - 4 * (nctl - 1) values */
        uint32_t c = in[nctl - 1], left = n - (uint32_t)(nctl - 1) * 4;
        for (uint32_t k = 0; k < left; k++)
            data += ((c >> (2 * k)) & 3) + 1;
    }
    return nctl + data;
}

static const uint32_t mask[4] = { 0xffu, 0xffffu, 0xffffffu, 0xffffffffu };

static inline uint32_t load32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static size_t decode(const uint8_t *in, uint32_t *out, uint32_t n, int delta, uint32_t prev, size_t want,
                     size_t avail)
{
    /* Where even the largest encoding of n values (4 bytes each) and the
     * 16-byte over-read fit in avail, decode first and compare the size
     * consumed; elsewhere (a segment's last blocks) check it first. */
    int checked = 0;
    if (avail < ((size_t)n + 3) / 4 + 4 * (size_t)n + 16) {
        if (ks_svb_size(in, n) != want)
            return 0;
        checked = 1;
    }
    pthread_once(&tables_once, init_tables);
    const uint8_t *ctl = in, *p = in + ((size_t)n + 3) / 4;
    uint32_t i = 0;
#ifdef KS_SVB_X86
    if (have_ssse3) {
        p = groups_ssse3(ctl, p, out, n / 4, delta, &prev);
        i = n / 4 * 4;
    }
#endif
    for (; i < n; i++) {
        uint32_t code = (ctl[i >> 2] >> (2 * (i & 3))) & 3;
        uint32_t v = load32(p) & mask[code];
        out[i] = delta ? (prev += v) : v;
        p += code + 1;
    }
    return checked || (size_t)(p - in) == want ? want : 0;
}

size_t ks_svb_decode(const uint8_t *in, uint32_t *out, uint32_t n, size_t want, size_t avail)
{
    return decode(in, out, n, 0, 0, want, avail);
}

size_t ks_svb_delta_decode(const uint8_t *in, uint32_t *out, uint32_t n, uint32_t prev, size_t want, size_t avail)
{
    return decode(in, out, n, 1, prev, want, avail);
}
