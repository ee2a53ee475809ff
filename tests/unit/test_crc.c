/* Unit tests of ks_crc32 (core/crc.c, ISA-L): the segment format's checksums
 * are zlib's CRC-32, so zlib is the oracle: every length from 0 to 1,100
 * bytes at every alignment 0..15, lengths around the fold widths (64, 128,
 * 256 bytes) up to 64 KiB, and chained calls split at every point, must give
 * zlib's crc32() exactly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "ks_crc.h"
#include "ks_segment.h"

#define BUF (65536 + 64)

static uint8_t *random_bytes(void)
{
    uint8_t *b = malloc(BUF);
    assert_non_null(b);
    uint64_t s = 20261125;
    for (size_t i = 0; i < BUF; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        b[i] = (uint8_t)(s >> 56);
    }
    return b;
}

static uint32_t zcrc(uint32_t crc, const uint8_t *p, size_t n)
{
    return (uint32_t)crc32(crc, p, (uInt)n);
}

static void test_lengths_and_alignments(void **state)
{
    (void)state;
    uint8_t *b = random_bytes();
    for (size_t off = 0; off < 16; off++)
        for (size_t n = 0; n <= 1100; n++)
            if (ks_crc32(0, b + off, n) != zcrc(0, b + off, n))
                fail_msg("offset %zu length %zu: %08x, zlib %08x", off, n, ks_crc32(0, b + off, n),
                         zcrc(0, b + off, n));
    for (size_t n = 1024; n + 64 <= BUF; n = n * 3 / 2 + 7)
        for (size_t d = 0; d < 3; d++)
            assert_int_equal(ks_crc32(0, b + d, n - d), zcrc(0, b + d, n - d));
    assert_int_equal(ks_segment_crc(b, BUF), zcrc(0, b, BUF));
    /* known values: the CRC-32 check value and the empty input */
    assert_int_equal(ks_crc32(0, "123456789", 9), 0xcbf43926u);
    assert_int_equal(ks_crc32(0, "", 0), 0);
    free(b);
}

static void test_chained(void **state)
{
    (void)state;
    uint8_t *b = random_bytes();
    const size_t n = 3000;
    uint32_t whole = zcrc(0, b, n);
    for (size_t cut = 0; cut <= n; cut++)
        if (ks_crc32(ks_crc32(0, b, cut), b + cut, n - cut) != whole)
            fail_msg("chained at %zu differs", cut);
    /* continuing a zlib value and the other way round */
    assert_int_equal(ks_crc32(zcrc(0, b, 777), b + 777, n - 777), whole);
    assert_int_equal(zcrc(ks_crc32(0, b, 1234), b + 1234, n - 1234), whole);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lengths_and_alignments),
        cmocka_unit_test(test_chained),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
