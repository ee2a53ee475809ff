/* Unit tests for proto/ksp_token.c: token file rules (permissions, length,
 * characters, first line only) and the constant-time comparison. Files are
 * written to a fresh temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ksp_token.h"

static char dir[64];
static char path[128];

static void write_token_file(const char *bytes, size_t n, mode_t mode)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, mode), 0);
}

/* Loads path; checks the return code and, on success, the token. */
static void expect_load(int want_rc, const char *want_tok, const char *want_in_msg)
{
    char tok[KSP_TOKEN_MAX + 1];
    size_t len = 0;
    ks_errbuf eb = { "" };
    int rc = ksp_token_load(path, tok, &len, &eb);
    assert_int_equal(rc, want_rc);
    if (rc == 0) {
        assert_int_equal(len, strlen(want_tok));
        assert_string_equal(tok, want_tok);
    } else {
        assert_non_null(strstr(eb.msg, want_in_msg));
    }
}

static void test_good_files(void **state)
{
    (void)state;
    write_token_file("0123456789abcdef\n", 17, 0600);
    expect_load(0, "0123456789abcdef", NULL);
    write_token_file("0123456789abcdef", 16, 0400);
    expect_load(0, "0123456789abcdef", NULL);
    write_token_file("AAAAbbbbCCCCdddd~!#$\r\nsecond line\n", 34, 0600);
    expect_load(0, "AAAAbbbbCCCCdddd~!#$", NULL);
    char big[KSP_TOKEN_MAX + 1];
    memset(big, 'x', KSP_TOKEN_MAX);
    big[KSP_TOKEN_MAX] = '\0';
    write_token_file(big, KSP_TOKEN_MAX, 0600);
    expect_load(0, big, NULL);
}

static void test_bad_files(void **state)
{
    (void)state;
    char big[KSP_TOKEN_MAX + 1];
    memset(big, 'x', sizeof big);
    static const char good[] = "0123456789abcdef\n";
    const struct {
        const char *bytes;
        size_t len;
        mode_t mode;
        const char *msg; /* part of the expected message */
    } rows[] = {
        /* permissions: any group or other bit */
        { good, 17, 0640, "mode 0640" },
        { good, 17, 0604, "group or others" },
        { good, 17, 0620, "chmod 600" },
        /* length: the first line counts */
        { "shortsecret15by\n", 16, 0600, "15 bytes long; at least 16" },
        { "", 0, 0600, "0 bytes long" },
        { "\n0123456789abcdef\n", 18, 0600, "0 bytes long" },
        { big, KSP_TOKEN_MAX + 1, 0600, "longer than 256" },
        /* characters: one printable ASCII word */
        { "0123456789 abcdef\n", 18, 0600, "printable ASCII at 10" },
        { "0123456789\tabcdef\n", 18, 0600, "printable ASCII at 10" },
        { "0123456789abcdef\xed\x95\x9c\n", 20, 0600, "printable ASCII at 16" },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        write_token_file(rows[i].bytes, rows[i].len, rows[i].mode);
        expect_load(KS_EINVAL, NULL, rows[i].msg);
    }
    /* the message never holds the token */
    write_token_file("shortsecret15by\n", 16, 0600);
    char tok[KSP_TOKEN_MAX + 1];
    size_t len;
    ks_errbuf eb = { "" };
    assert_int_equal(ksp_token_load(path, tok, &len, &eb), KS_EINVAL);
    assert_null(strstr(eb.msg, "shortsecret"));
    /* not a file, no file */
    assert_int_equal(unlink(path), 0);
    expect_load(KS_EIO, NULL, "cannot open token file");
    assert_int_equal(mkdir(path, 0700), 0);
    expect_load(KS_EINVAL, NULL, "not a regular file");
    assert_int_equal(rmdir(path), 0);
}

static void test_equal(void **state)
{
    (void)state;
    const char *w = "0123456789abcdef";
    assert_int_equal(ksp_token_equal(w, 16, "0123456789abcdef", 16), 1);
    assert_int_equal(ksp_token_equal(w, 16, "1123456789abcdef", 16), 0);
    assert_int_equal(ksp_token_equal(w, 16, "0123456789abcdeg", 16), 0);
    assert_int_equal(ksp_token_equal(w, 16, "0123456789abcde", 15), 0);
    assert_int_equal(ksp_token_equal(w, 16, "0123456789abcdefX", 17), 0);
    assert_int_equal(ksp_token_equal(w, 16, NULL, 0), 0);
    /* a got that is w plus NUL padding is not w */
    assert_int_equal(ksp_token_equal(w, 16, "0123456789abcdef\0", 17), 0);
}

int main(void)
{
    snprintf(dir, sizeof dir, "%s", "/tmp/ksp-token.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(path, sizeof path, "%s/token", dir);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_files),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_equal),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    unlink(path);
    rmdir(dir);
    return rc;
}
