/* Whole-file helpers for the cmocka unit tests: read a file into memory and
 * write one back, failing the running test on any error. Include after
 * <cmocka.h>. */
#ifndef KS_UNIT_FILES_H
#define KS_UNIT_FILES_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* The bytes of path (malloc'ed, the caller frees; never NULL) and their count in *n. */
static inline uint8_t *unit_slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    assert_true(size >= 0);
    *n = (size_t)size;
    rewind(f);
    uint8_t *p = malloc(*n ? *n : 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, *n, f), *n);
    fclose(f);
    return p;
}

/* Replaces path's contents with p[0..n). */
static inline void unit_spit(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

#endif
