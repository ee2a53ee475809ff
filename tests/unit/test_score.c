/* Unit tests of the BM25 kernels (core/ks_score.h): every vector variant the
 * CPU supports must give the scalar reference's scores bit for bit, on all
 * lengths around the vector widths and on misaligned arrays; the BM25
 * constants against values worked out by hand; the dispatcher's choices. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ks_score.h"

/* splitmix64: deterministic inputs, so a failure can be replayed. */
static uint64_t rng_state = 0x6b6f736561726368ull;
static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static double rnd_unit(void) /* [0, 1) */
{
    return (double)(rnd() >> 11) * (1.0 / 9007199254740992.0);
}

#define NDOCS 4099                 /* size of K: doc ids are drawn below it */
#define MAXLEN 1000
#define PAD 8                      /* room for offsets 0..7 */

static const size_t lengths[] = { 0, 1, 7, 8, 15, 16, 17, 31, 32, 33, 1000 };

/* wdf: mostly small, with the edge values the conversion must get right. */
static uint32_t rnd_wdf(void)
{
    static const uint32_t edge[] = { 1, 65535, 2147483648u, 0, 2147483647u, 2147483649u, 4294967295u, 2, 3 };
    uint64_t r = rnd();
    if (r % 4 == 0)
        return edge[(r >> 8) % (sizeof edge / sizeof edge[0])];
    return 1 + (uint32_t)((r >> 8) % 5);
}

static void check_variant(ks_simd v)
{
    ks_score_fn fn = ks_score_variant(v);
    if (!fn) {
        print_message("# %s not supported by this build/CPU/OS: skipped\n", ks_simd_name(v));
        skip();
        return;
    }
    static double K[NDOCS];
    static uint32_t doc_buf[MAXLEN + PAD], wdf_buf[MAXLEN + PAD];
    static double acc0[MAXLEN + PAD], accr[MAXLEN + PAD], accv[MAXLEN + PAD];
    for (size_t d = 0; d < NDOCS; d++)
        K[d] = 0.5 + 49.5 * rnd_unit();
    K[0] = 0.5;
    K[NDOCS - 1] = 50;
    size_t cases = 0;
    for (size_t li = 0; li < sizeof lengths / sizeof lengths[0]; li++) {
        size_t n = lengths[li];
        for (size_t off = 0; off < PAD; off++) {
            /* offset doc, wdf and acc differently so no two share an alignment */
            size_t od = off, ow = (off + 3) % PAD, oa = (off + 5) % PAD;
            uint32_t *doc = doc_buf + od, *wdf = wdf_buf + ow;
            double *ar = accr + oa, *av = accv + oa;
            for (size_t i = 0; i < n; i++) {
                doc[i] = (uint32_t)(rnd() % NDOCS);
                wdf[i] = rnd_wdf();
                acc0[i] = (rnd() & 1) ? 0 : 30 * rnd_unit();
            }
            double tw = 0.01 + (20 - 0.01) * rnd_unit();
            memcpy(ar, acc0, n * sizeof *ar);
            memcpy(av, acc0, n * sizeof *av);
            /* two passes: a second term's contribution on top of the first */
            for (int pass = 0; pass < 2; pass++) {
                ks_score_block_scalar(tw, doc, wdf, K, ar, n);
                fn(tw, doc, wdf, K, av, n);
                tw *= 0.37;
            }
            if (n && memcmp(ar, av, n * sizeof *ar) != 0) {
                for (size_t i = 0; i < n; i++)
                    if (memcmp(&ar[i], &av[i], sizeof ar[i]) != 0)
                        fail_msg("%s: n=%zu offset=%zu i=%zu doc=%u wdf=%u: scalar %a, %s %a", ks_simd_name(v),
                                 n, off, i, doc[i], wdf[i], ar[i], ks_simd_name(v), av[i]);
            }
            cases++;
        }
    }
    assert_int_equal(cases, (sizeof lengths / sizeof lengths[0]) * PAD);
}

/* The kernel must not write past acc[n). */
static void check_bounds(ks_simd v)
{
    ks_score_fn fn = ks_score_variant(v);
    if (!fn) {
        skip();
        return;
    }
    double K[64];
    uint32_t doc[40], wdf[40];
    double acc[41];
    for (int i = 0; i < 64; i++)
        K[i] = 1 + i;
    for (int i = 0; i < 40; i++) {
        doc[i] = (uint32_t)(i * 7 % 64);
        wdf[i] = (uint32_t)(1 + i % 3);
    }
    for (size_t n = 0; n <= 40; n++) {
        for (int i = 0; i < 41; i++)
            acc[i] = -1;
        fn(2.0, doc, wdf, K, acc, n);
        for (size_t i = n; i < 41; i++)
            assert_true(acc[i] == -1);
    }
}

static void test_sse4(void **state) { (void)state; check_variant(KS_SIMD_SSE4); }
static void test_avx2(void **state) { (void)state; check_variant(KS_SIMD_AVX2); }
static void test_avx512(void **state) { (void)state; check_variant(KS_SIMD_AVX512); }
static void test_bounds_sse4(void **state) { (void)state; check_bounds(KS_SIMD_SSE4); }
static void test_bounds_avx2(void **state) { (void)state; check_bounds(KS_SIMD_AVX2); }
static void test_bounds_avx512(void **state) { (void)state; check_bounds(KS_SIMD_AVX512); }

/* The scalar kernel itself against one value worked out by hand:
 * tw=2, K=1.5, wdf=3: 2 * (3 / 4.5) = 4/3, added to acc=1. */
static void test_scalar_by_hand(void **state)
{
    (void)state;
    double K[2] = { 9, 1.5 };
    uint32_t doc[1] = { 1 }, wdf[1] = { 3 };
    double acc[1] = { 1 };
    ks_score_block_scalar(2, doc, wdf, K, acc, 1);
    assert_true(acc[0] == 1 + 2 * (3.0 / 4.5));
    assert_true(fabs(acc[0] - 7.0 / 3) < 1e-15);
}

static void near(double got, double want)
{
    if (!(fabs(got - want) <= 1e-13 * fabs(want)))
        fail_msg("got %.17g, want %.17g", got, want);
}

/* Xapian BM25Weight::init by hand (digits from a 40-digit calculation):
 *  N=1000 tf=10: (990.5/10.5) = 283/3, ln(283/3) * (k1+1=2)  = 9.0936692179502559
 *  N=100 tf=60: 40.5/60.5 = 81/121 < 2 -> 81/242 + 1 = 323/242, ln * 2 = 0.57742919413194029
 *  wqf=2 with k3=1: * (2*2)/(1+2) = 4/3                       -> 12.124892290600341
 *  k1=1.2 k3=0 factor 0.5, N=5e6 tf=1: ln(4999999.5/1.5)*0.5*2.2 = 16.521431588519226
 *  N=10 tf=10: 0.5/10.5 = 1/21 -> 1/42 + 1 = 43/42, ln * 2    = 0.047060994820388235 */
static void test_termweight(void **state)
{
    (void)state;
    ks_bm25 p = KS_BM25_DEFAULTS;
    near(ks_bm25_termweight(&p, 1000, 10, 1, 1), 9.0936692179502559);
    near(ks_bm25_termweight(&p, 100, 60, 1, 1), 0.57742919413194029);
    near(ks_bm25_termweight(&p, 1000, 10, 2, 1), 12.124892290600341);
    near(ks_bm25_termweight(&p, 10, 10, 1, 1), 0.047060994820388235);
    ks_bm25 q = { 1.2, 0, 0, 0.75, 0.5 };
    near(ks_bm25_termweight(&q, 5000000, 1, 3, 0.5), 16.521431588519226);
}

/* K = k1 * (max(doclen/avglen, min_normlen) * b + (1 - b)); defaults k1=1, b=0.5:
 *  avg 100, len 50 -> 0.5*0.5+0.5 = 0.75; len 200 -> 2*0.5+0.5 = 1.5;
 *  len 10 -> normlen 0.1 floored to 0.5 -> 0.75; len 0 -> 0.75.
 *  k1=2, b=0.75, avg 40, len 100: 2 * (2.5*0.75 + 0.25) = 4.25. */
static void test_doc_k(void **state)
{
    (void)state;
    ks_bm25 p = KS_BM25_DEFAULTS;
    double lf = ks_bm25_len_factor(&p, 100);
    near(lf, 0.01);
    near(ks_bm25_doc_k(&p, lf, 50), 0.75);
    near(ks_bm25_doc_k(&p, lf, 200), 1.5);
    near(ks_bm25_doc_k(&p, lf, 10), 0.75);
    near(ks_bm25_doc_k(&p, lf, 0), 0.75);
    ks_bm25 q = { 2, 0, 1, 0.75, 0.5 };
    near(ks_bm25_doc_k(&q, ks_bm25_len_factor(&q, 40), 100), 4.25);
    /* length ignored when k2 == 0 and b == 0: K = k1 */
    ks_bm25 r = { 1.5, 0, 1, 0, 0.5 };
    assert_true(ks_bm25_len_factor(&r, 100) == 0);
    near(ks_bm25_doc_k(&r, 0, 1000), 1.5);
    /* an empty database: average 0 gives factor 0 */
    assert_true(ks_bm25_len_factor(&p, 0) == 0);
}

static void test_select_errors(void **state)
{
    (void)state;
    ks_errbuf eb;
    assert_int_equal(ks_score_select("scalar", &eb), 0);
    assert_string_equal(ks_score_name(), "scalar");
    assert_ptr_equal(ks_score_get(), ks_score_block_scalar);
    eb.msg[0] = 0;
    assert_int_equal(ks_score_select("avx1024", &eb), KS_EINVAL);
    assert_non_null(strstr(eb.msg, "avx1024"));
    assert_int_equal(ks_score_select("AVX2", &eb), KS_EINVAL); /* names are exact */
    assert_string_equal(ks_score_name(), "scalar");            /* unchanged after an error */
    for (int v = 0; v < KS_SIMD_COUNT; v++) {
        int rc = ks_score_select(ks_simd_name((ks_simd)v), &eb);
        if (ks_score_supported((ks_simd)v)) {
            assert_int_equal(rc, 0);
            assert_string_equal(ks_score_name(), ks_simd_name((ks_simd)v));
            assert_ptr_equal(ks_score_get(), ks_score_variant((ks_simd)v));
        } else {
            assert_int_equal(rc, KS_EUNSUPPORTED);
            assert_non_null(strstr(eb.msg, ks_simd_name((ks_simd)v)));
        }
    }
    assert_int_equal(ks_score_supported((ks_simd)KS_SIMD_COUNT), 0);
    assert_string_equal(ks_simd_name((ks_simd)-1), "unknown");
    assert_true(ks_score_supported(KS_SIMD_SCALAR));
}

/* KOSEARCH_SIMD as the daemon uses it: ks_score_select(ks_score_env()). */
static void test_env(void **state)
{
    (void)state;
    ks_errbuf eb;
    assert_int_equal(setenv("KOSEARCH_SIMD", "scalar", 1), 0);
    assert_string_equal(ks_score_env(), "scalar");
    assert_int_equal(ks_score_select(ks_score_env(), &eb), 0);
    assert_string_equal(ks_score_name(), "scalar");
    assert_ptr_equal(ks_score_get(), ks_score_block_scalar);
    assert_int_equal(setenv("KOSEARCH_SIMD", "fastest", 1), 0);
    assert_int_equal(ks_score_select(ks_score_env(), &eb), KS_EINVAL);
    assert_string_equal(ks_score_name(), "scalar");
    assert_int_equal(unsetenv("KOSEARCH_SIMD"), 0);
    assert_null(ks_score_env());
}

/* Does /proc/cpuinfo list a flag? (-1 if it cannot be read) */
static int cpuinfo_has(const char *flag)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return -1;
    char line[8192];
    int found = 0;
    size_t fl = strlen(flag);
    while (!found && fgets(line, sizeof line, f)) {
        if (strncmp(line, "flags", 5) != 0)
            continue;
        for (char *p = strstr(line, flag); p; p = strstr(p + 1, flag))
            if ((p == line || p[-1] == ' ' || p[-1] == '\t') && (p[fl] == ' ' || p[fl] == '\n' || p[fl] == 0))
                found = 1;
    }
    fclose(f);
    return found;
}

/* The default picks the best variant that is built and that /proc/cpuinfo
 * lists (Linux lists avx2/avx512f only when it saves the YMM/ZMM state):
 * avx512 on this project's machine, whatever is best elsewhere. */
static void test_default_best(void **state)
{
    (void)state;
    ks_errbuf eb;
    assert_int_equal(ks_score_select(NULL, &eb), 0);
    const char *best = ks_score_name();
    for (int v = KS_SIMD_COUNT - 1; v >= 0; v--)
        if (ks_score_supported((ks_simd)v)) {
            assert_string_equal(best, ks_simd_name((ks_simd)v));
            break;
        }
    assert_int_equal(ks_score_select("auto", &eb), 0);
    assert_string_equal(ks_score_name(), best);
    assert_int_equal(ks_score_select("", &eb), 0);
    assert_string_equal(ks_score_name(), best);

    int built_avx2 = 0, built_avx512 = 0;
#ifdef KS_HAVE_AVX2_TARGET
    built_avx2 = 1;
#endif
#ifdef KS_HAVE_AVX512_TARGET
    built_avx512 = 1;
#endif
    int sse = cpuinfo_has("sse4_2"), avx2 = cpuinfo_has("avx2"), avx512 = cpuinfo_has("avx512f");
    if (sse < 0) {
        print_message("# /proc/cpuinfo unreadable: default is %s, not cross-checked\n", best);
        skip();
        return;
    }
    const char *want = built_avx512 && avx512 == 1 ? "avx512"
                       : built_avx2 && avx2 == 1   ? "avx2"
                       : sse == 1                  ? "sse4"
                                                   : "scalar";
    print_message("# default is %s (built: avx2 %d, avx512 %d)\n", best, built_avx2, built_avx512);
    assert_string_equal(best, want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalar_by_hand), cmocka_unit_test(test_sse4),
        cmocka_unit_test(test_avx2),           cmocka_unit_test(test_avx512),
        cmocka_unit_test(test_bounds_sse4),    cmocka_unit_test(test_bounds_avx2),
        cmocka_unit_test(test_bounds_avx512),  cmocka_unit_test(test_termweight),
        cmocka_unit_test(test_doc_k),          cmocka_unit_test(test_select_errors),
        cmocka_unit_test(test_default_best),   cmocka_unit_test(test_env),
    };
    return cmocka_run_group_tests_name("score", tests, NULL, NULL);
}
