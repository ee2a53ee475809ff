/* Stream VByte decoder (ks_svb.h): scalar, one unaligned 32-bit load per
 * value masked to its length; the encoded size is summed from the control
 * bytes first (a table of four lengths per control byte) and must equal
 * the size the segment recorded, so corrupt input is refused, not decoded. */
#include "ks_svb.h"

#include <string.h>

/* Encoded data bytes of the four values a control byte describes. */
static uint8_t ctl_len[256];
static int ctl_ready;

static void init_tables(void)
{
    /* idempotent: racing threads write the same bytes */
    for (int c = 0; c < 256; c++)
        ctl_len[c] = (uint8_t)(((c & 3) + 1) + ((c >> 2 & 3) + 1) + ((c >> 4 & 3) + 1) + ((c >> 6 & 3) + 1));
    __atomic_store_n(&ctl_ready, 1, __ATOMIC_RELEASE);
}

size_t ks_svb_size(const uint8_t *in, uint32_t n)
{
    if (!__atomic_load_n(&ctl_ready, __ATOMIC_ACQUIRE))
        init_tables();
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

size_t ks_svb_decode(const uint8_t *in, uint32_t *out, uint32_t n, size_t want)
{
    if (ks_svb_size(in, n) != want)
        return 0;
    const uint8_t *ctl = in, *p = in + ((size_t)n + 3) / 4;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t code = (ctl[i >> 2] >> (2 * (i & 3))) & 3;
        out[i] = load32(p) & mask[code];
        p += code + 1;
    }
    return want;
}

size_t ks_svb_delta_decode(const uint8_t *in, uint32_t *out, uint32_t n, uint32_t prev, size_t want)
{
    if (ks_svb_size(in, n) != want)
        return 0;
    const uint8_t *ctl = in, *p = in + ((size_t)n + 3) / 4;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t code = (ctl[i >> 2] >> (2 * (i & 3))) & 3;
        prev += load32(p) & mask[code];
        out[i] = prev;
        p += code + 1;
    }
    return want;
}
