/* Unit tests of the Stream VByte decoder (core/svb.c): it decodes exactly
 * what libstreamvbyte (the segment builder's encoder) writes, plain and
 * delta, for every count up to two blocks and every byte length of a
 * value, and refuses input whose control bytes disagree with the size,
 * whether it checks the size before decoding (little room to read) or
 * after (room for any encoding). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include <streamvbyte.h>
#include <streamvbytedelta.h>

#include "ks_svb.h"

#define MAXN 256

static uint32_t rnd(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    uint32_t v = (uint32_t)(*s >> 32);
    switch (v & 3) { /* every encoded length */
    case 0: return v >> 24;
    case 1: return v >> 16;
    case 2: return v >> 8;
    default: return v;
    }
}

static void test_roundtrip(void **state)
{
    (void)state;
    uint64_t s = 42;
    static uint32_t in[MAXN], out[MAXN];
    static uint8_t buf[MAXN * 5 + 64];
    for (uint32_t n = 1; n <= MAXN; n++) {
        for (uint32_t i = 0; i < n; i++)
            in[i] = rnd(&s);
        memset(buf, 0, sizeof buf);
        size_t b = streamvbyte_encode(in, n, buf);
        assert_int_equal(ks_svb_size(buf, n), b);
        /* room for any encoding (decode, then compare the size) and just
         * the encoded bytes plus the over-read (size checked first) */
        assert_int_equal(ks_svb_decode(buf, out, n, b, sizeof buf), b);
        assert_memory_equal(in, out, n * sizeof *in);
        memset(out, 0, sizeof out);
        assert_int_equal(ks_svb_decode(buf, out, n, b, b + 16), b);
        assert_memory_equal(in, out, n * sizeof *in);
        assert_int_equal(ks_svb_decode(buf, out, n, b + 1, sizeof buf), 0);
        assert_int_equal(ks_svb_decode(buf, out, n, b + 1, b + 16), 0);
        /* ascending docids, as the postings hold them */
        uint32_t prev = rnd(&s) >> 8, base = prev;
        for (uint32_t i = 0; i < n; i++)
            in[i] = prev += 1 + (rnd(&s) & 0xfffff);
        memset(buf, 0, sizeof buf);
        b = streamvbyte_delta_encode(in, n, buf, base);
        assert_int_equal(ks_svb_delta_decode(buf, out, n, base, b, sizeof buf), b);
        assert_memory_equal(in, out, n * sizeof *in);
        assert_int_equal(ks_svb_delta_decode(buf, out, n, base, b, b + 16), b);
        assert_memory_equal(in, out, n * sizeof *in);
        buf[0] ^= 0xff; /* a damaged control byte changes the size (unless all codes flip to themselves) */
        if (ks_svb_size(buf, n) != b) {
            assert_int_equal(ks_svb_delta_decode(buf, out, n, base, b, sizeof buf), 0);
            assert_int_equal(ks_svb_delta_decode(buf, out, n, base, b, b + 16), 0);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = { cmocka_unit_test(test_roundtrip) };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
