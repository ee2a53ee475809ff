/* Unit tests of the analyzer (core/analyze.c): a table of inputs and the
 * terms they must give, worked out by hand from the rules in ks_analyze.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <unicode/unorm2.h>
#include <unicode/uscript.h>
#include <unicode/utf8.h>
#include <zlib.h>

#include "ks_analyze.h"

/* Renders terms as "text/kind/pos ..." with kind w, u or b. */
static char *render(const ks_terms *t)
{
    static const char kind[] = "wub";
    size_t cap = t->text_len + t->n * 16 + 1;
    char *s = malloc(cap), *p = s;
    *p = 0;
    for (size_t i = 0; i < t->n; i++)
        p += sprintf(p, "%s%.*s/%c/%u", i ? " " : "", (int)t->a[i].len, ks_term_text(t, i), kind[t->a[i].kind],
                     t->a[i].pos);
    return s;
}

static ks_terms run(const char *in, size_t len, int query, int unigrams)
{
    ks_analyzer_opts o = ks_analyzer_default_opts();
    o.query = query;
    o.unigrams = unigrams;
    ks_analyzer *a;
    ks_errbuf eb;
    assert_int_equal(ks_analyzer_new(&o, &a, &eb), 0);
    ks_terms t;
    memset(&t, 0, sizeof t);
    assert_int_equal(ks_analyze(a, in, len, 0, &t), 0);
    ks_analyzer_free(a);
    return t;
}

typedef struct {
    const char *in;
    const char *want;
    size_t invalid;
} case_t;

static const case_t doc_cases[] = {
    { "", "", 0 },
    { "  \t\n ", "", 0 },
    { "책", "책/u/0", 0 },
    { "카카오", "카/u/0 카카/b/0 카/u/1 카오/b/1 오/u/2", 0 },
    /* spaces and punctuation do not count as positions */
    { "인공 지능", "인/u/0 인공/b/0 공/u/1 지/u/2 지능/b/2 능/u/3", 0 },
    { "가, 나", "가/u/0 나/u/1", 0 },
    { "가 나", "가/u/0 나/u/1", 0 },
    /* a mixed-script token is split at the script boundary */
    { "챗GPT와", "챗/u/0 gpt/w/1 와/u/2", 0 },
    { "한국語", "한/u/0 한국/b/0 국/u/1 語/u/2", 0 },
    { "Hello World 2024", "hello/w/0 world/w/1 2024/w/2", 0 },
    { "gpt4o", "gpt4o/w/0", 0 },
    { "a\tb\nc", "a/w/0 b/w/1 c/w/2", 0 },
    { "e-mail", "e/w/0 mail/w/1", 0 },
    /* full-width letters and digits fold to ASCII, upper case to lower */
    { "\xEF\xBC\xA1\xEF\xBC\xA2\xEF\xBC\xA3\xEF\xBC\x91\xEF\xBC\x92", "abc12/w/0", 0 },
    { "STRASSE Stra\xC3\x9F" "e", "strasse/w/0 strasse/w/1", 0 },
    /* e + COMBINING ACUTE composes to U+00E9 */
    { "e\xCC\x81t\xC3\xA9", "\xC3\xA9t\xC3\xA9/w/0", 0 },
    /* decomposed Hangul (conjoining jamo U+1112 U+1161 U+11AB) composes to 한 */
    { "\xE1\x84\x92\xE1\x85\xA1\xE1\x86\xAB\xEA\xB8\x80", "한/u/0 한글/b/0 글/u/1", 0 },
    /* compatibility jamo U+3131 becomes conjoining U+1100 under NFKC */
    { "\xE3\x84\xB1", "\xE1\x84\x80/u/0", 0 },
    /* Hanja and Kana runs become bigrams too */
    { "大韓民國", "大/u/0 大韓/b/0 韓/u/1 韓民/b/1 民/u/2 民國/b/2 國/u/3", 0 },
    { "カタカナ", "カ/u/0 カタ/b/0 タ/u/1 タカ/b/1 カ/u/2 カナ/b/2 ナ/u/3", 0 },
    /* the prolonged sound mark (script Common) stays inside a Katakana run */
    { "コーヒー", "コ/u/0 コー/b/0 ー/u/1 ーヒ/b/1 ヒ/u/2 ヒー/b/2 ー/u/3", 0 },
    { "ひらがな", "ひ/u/0 ひら/b/0 ら/u/1 らが/b/1 が/u/2 がな/b/2 な/u/3", 0 },
    /* emoji and symbols separate tokens and take no position */
    { "\xF0\x9F\x98\x80 책", "책/u/0", 0 },
    { "\xF0\x9F\x98\x80\xE2\x9D\xA4\xEF\xB8\x8F", "", 0 },
    /* invalid UTF-8 becomes U+FFFD: a separator (no join), counted */
    { "가\xFF나", "가/u/0 나/u/1", 1 },
    { "\xC0\xAF", "", 2 },          /* overlong '/' : two bad bytes */
    { "abc\xE1\x84", "abc/w/0", 1 }, /* truncated sequence at the end */
    { "\x80\x80\x80", "", 3 },      /* lone continuation bytes */
};

static void test_document_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof doc_cases / sizeof doc_cases[0]; i++) {
        ks_terms t = run(doc_cases[i].in, strlen(doc_cases[i].in), 0, KS_UNIGRAMS_ALL);
        char *got = render(&t);
        if (strcmp(got, doc_cases[i].want) != 0)
            fail_msg("case %zu: input \"%s\"\n  want: %s\n  got:  %s", i, doc_cases[i].in, doc_cases[i].want, got);
        assert_int_equal(t.n_invalid, doc_cases[i].invalid);
        free(got);
        ks_terms_free(&t);
    }
}

static void test_surrogate_encoded(void **state)
{
    (void)state;
    /* U+D800 encoded in UTF-8 (CESU style) is invalid */
    ks_terms t = run("\xED\xA0\x80", 3, 0, KS_UNIGRAMS_ALL);
    assert_int_equal(t.n, 0);
    assert_true(t.n_invalid >= 1);
    ks_terms_free(&t);
}

static void test_embedded_nul(void **state)
{
    (void)state;
    ks_terms t = run("가\0나", 7, 0, KS_UNIGRAMS_ALL);
    char *got = render(&t);
    assert_string_equal(got, "가/u/0 나/u/1");
    free(got);
    ks_terms_free(&t);
}

static void test_query_mode(void **state)
{
    (void)state;
    static const case_t q[] = {
        { "카카오", "카카/b/0 카오/b/1", 0 },
        { "책", "책/u/0", 0 },
        { "인공 지능", "인공/b/0 지능/b/2", 0 },
        { "인공지능", "인공/b/0 공지/b/1 지능/b/2", 0 },
        { "챗GPT와", "챗/u/0 gpt/w/1 와/u/2", 0 },
    };
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
        ks_terms t = run(q[i].in, strlen(q[i].in), 1, KS_UNIGRAMS_ALL);
        char *got = render(&t);
        if (strcmp(got, q[i].want) != 0)
            fail_msg("query case %zu: want %s got %s", i, q[i].want, got);
        free(got);
        ks_terms_free(&t);
    }
}

static void test_unigram_modes(void **state)
{
    (void)state;
    ks_terms t = run("카카오", strlen("카카오"), 0, KS_UNIGRAMS_TAIL);
    char *got = render(&t);
    assert_string_equal(got, "카카/b/0 카오/b/1 오/u/2");
    free(got);
    ks_terms_free(&t);
    t = run("카카오 책", strlen("카카오 책"), 0, KS_UNIGRAMS_NONE);
    got = render(&t);
    assert_string_equal(got, "카카/b/0 카오/b/1 책/u/3");
    free(got);
    ks_terms_free(&t);
}

static void test_offsets(void **state)
{
    (void)state;
    /* "ＡＢ 카카" : ＡＢ is bytes 0-6, space 6, 카 7-10, 카 10-13 */
    const char *in = "\xEF\xBC\xA1\xEF\xBC\xA2 카카";
    ks_terms t = run(in, strlen(in), 0, KS_UNIGRAMS_ALL);
    assert_int_equal(t.n, 4); /* ab, 카, 카카, 카 */
    assert_int_equal(t.a[0].start, 0);
    assert_int_equal(t.a[0].end, 6);
    assert_int_equal(t.a[2].start, 7);
    assert_int_equal(t.a[2].end, 13);
    assert_int_equal(t.a[3].start, 10);
    assert_int_equal(t.a[3].end, 13);
    ks_terms_free(&t);
    /* a decomposed syllable maps to all of its source bytes */
    in = "x \xE1\x84\x92\xE1\x85\xA1\xE1\x86\xAB";
    t = run(in, strlen(in), 0, KS_UNIGRAMS_ALL);
    assert_int_equal(t.n, 2);
    assert_int_equal(t.a[1].start, 2);
    assert_int_equal(t.a[1].end, 11);
    ks_terms_free(&t);
}

static void test_long_word_cut(void **state)
{
    (void)state;
    char w[201];
    memset(w, 'a', 200);
    w[200] = 0;
    ks_terms t = run(w, 200, 0, KS_UNIGRAMS_ALL);
    assert_int_equal(t.n, 1);
    assert_int_equal(t.a[0].len, KS_MAX_WORD_BYTES);
    ks_terms_free(&t);
    /* cut at a character boundary: 30 x 'é' (2 bytes each) -> 32 chars fit in 64 */
    char e[2 * 40 + 1];
    for (int i = 0; i < 40; i++)
        memcpy(e + 2 * i, "\xC3\xA9", 2);
    e[80] = 0;
    t = run(e, 80, 0, KS_UNIGRAMS_ALL);
    assert_int_equal(t.a[0].len, 64);
    ks_terms_free(&t);
}

static void test_very_long_input(void **state)
{
    (void)state;
    /* 100,000 x "가나다 ": each word 3 unigrams + 2 bigrams */
    const size_t n = 100000, unit = strlen("가나다 ");
    char *s = malloc(n * unit + 1);
    for (size_t i = 0; i < n; i++)
        memcpy(s + i * unit, "가나다 ", unit);
    ks_terms t = run(s, n * unit, 0, KS_UNIGRAMS_ALL);
    assert_int_equal(t.n, 5 * n);
    assert_int_equal(t.next_pos, 3 * n);
    assert_int_equal(t.a[t.n - 1].pos, 3 * n - 1);
    assert_int_equal(t.a[t.n - 1].end, n * unit - 1);
    ks_terms_free(&t);
    free(s);
}

static void test_too_big(void **state)
{
    (void)state;
    ks_analyzer *a;
    ks_errbuf eb;
    assert_int_equal(ks_analyzer_new(NULL, &a, &eb), 0);
    ks_terms t;
    memset(&t, 0, sizeof t);
    assert_int_equal(ks_analyze(a, "", (size_t)KS_MAX_INPUT_BYTES + 1, 0, &t), KS_ETOOBIG);
    ks_analyzer_free(a);
}

static void test_pos_base_and_append(void **state)
{
    (void)state;
    ks_analyzer *a;
    ks_errbuf eb;
    assert_int_equal(ks_analyzer_new(NULL, &a, &eb), 0);
    ks_terms t;
    memset(&t, 0, sizeof t);
    assert_int_equal(ks_analyze(a, "ab 책", strlen("ab 책"), 10, &t), 0);
    assert_int_equal(t.next_pos, 12);
    assert_int_equal(ks_analyze(a, "cd", 2, t.next_pos + 5, &t), 0);
    char *got = render(&t);
    assert_string_equal(got, "ab/w/10 책/u/11 cd/w/17");
    free(got);
    ks_terms_free(&t);
    ks_analyzer_free(a);
}

/* A keep filter stores exactly the terms whose first code point is in the
 * set, with the positions and offsets they have without it; the filtered
 * analysis of text that needs normalising (full-width, upper case,
 * decomposed Hangul) too, and through the same analyzer twice in a row. */
static void test_keep_filter(void **state)
{
    (void)state;
    const char *in = "인공지능과 인공 지능, ＡＢＣ Search 검색엔진\xE1\x84\x92\xE1\x85\xA1\xE1\x86\xAB 책 한국어";
    ks_analyzer *a;
    ks_errbuf eb;
    assert_int_equal(ks_analyzer_new(NULL, &a, &eb), 0);
    uint32_t firsts[] = { 0xC778 /* 인 */, 'a', 0xD55C /* 한 */, 's' };
    for (int round = 0; round < 2; round++) {
        ks_terms all, some;
        memset(&all, 0, sizeof all);
        memset(&some, 0, sizeof some);
        uint64_t keep[KS_TERMS_KEEP_BITS / 64] = { 0 };
        for (size_t i = 0; i < sizeof firsts / sizeof *firsts; i++)
            ks_terms_keep_set(keep, firsts[i]);
        some.keep = keep;
        assert_int_equal(ks_analyze(a, in, strlen(in), 0, &all), 0);
        assert_int_equal(ks_analyze(a, in, strlen(in), 0, &some), 0);
        size_t j = 0;
        for (size_t i = 0; i < all.n; i++) {
            const uint8_t *tx = (const uint8_t *)ks_term_text(&all, i);
            int32_t k = 0;
            UChar32 c;
            U8_NEXT(tx, k, (int32_t)all.a[i].len, c);
            uint32_t b = (uint32_t)c % KS_TERMS_KEEP_BITS;
            if (!(keep[b / 64] >> (b % 64) & 1))
                continue;
            assert_true(j < some.n);
            assert_int_equal(some.a[j].len, all.a[i].len);
            assert_memory_equal(ks_term_text(&some, j), tx, all.a[i].len);
            assert_int_equal(some.a[j].pos, all.a[i].pos);
            assert_int_equal(some.a[j].start, all.a[i].start);
            assert_int_equal(some.a[j].end, all.a[i].end);
            assert_int_equal(some.a[j].kind, all.a[i].kind);
            j++;
        }
        assert_int_equal(j, some.n);
        assert_true(some.n >= 8 && some.n < all.n / 2); /* 인공 x3, 인 x3, 한 x2, 한국, abc, search */
        assert_int_equal(some.next_pos, all.next_pos);
        ks_terms_free(&all);
        ks_terms_free(&some);
    }
    ks_analyzer_free(a);
}

/* Analyses in[0..len) with the shortcut and through ICU alone (opts
 * icu_only): the same terms, positions, offsets and counts. */
static void same_as_icu(ks_analyzer *fast, ks_analyzer *icu, const char *in, size_t len)
{
    ks_terms x, y;
    memset(&x, 0, sizeof x);
    memset(&y, 0, sizeof y);
    assert_int_equal(ks_analyze(fast, in, len, 0, &x), 0);
    assert_int_equal(ks_analyze(icu, in, len, 0, &y), 0);
    assert_int_equal(x.n, y.n);
    assert_int_equal(x.n_invalid, y.n_invalid);
    assert_int_equal(x.next_pos, y.next_pos);
    for (size_t i = 0; i < x.n; i++) {
        assert_int_equal(x.a[i].len, y.a[i].len);
        assert_memory_equal(ks_term_text(&x, i), ks_term_text(&y, i), x.a[i].len);
        assert_int_equal(x.a[i].pos, y.a[i].pos);
        assert_int_equal(x.a[i].start, y.a[i].start);
        assert_int_equal(x.a[i].end, y.a[i].end);
        assert_int_equal(x.a[i].kind, y.a[i].kind);
        assert_int_equal(x.a[i].run_len_1, y.a[i].run_len_1);
    }
    ks_terms_free(&x);
    ks_terms_free(&y);
}

/* The shortcuts for ASCII and Hangul syllables (analyze.c: simple_unit,
 * classify) against ICU: each such unit is its own NFKC_Casefold (A-Z
 * lowered) and starts a segment, a syllable is of script Hangul, and texts where they meet what combines
 * with them, and the whole shared corpus when present, analyse the same. */
static void test_shortcut_matches_icu(void **state)
{
    (void)state;
    UErrorCode ec = U_ZERO_ERROR;
    const UNormalizer2 *N = unorm2_getNFKCCasefoldInstance(&ec);
    assert_true(U_SUCCESS(ec));
    for (UChar32 c = 0; c <= 0xD7A3; c = c == 0x7F ? 0xAC00 : c + 1) {
        UChar in[1] = { (UChar)c }, out[8];
        ec = U_ZERO_ERROR;
        int32_t n = unorm2_normalize(N, in, 1, out, 8, &ec);
        assert_true(U_SUCCESS(ec) && n == 1);
        assert_int_equal(out[0], c >= 'A' && c <= 'Z' ? c + 32 : c);
        assert_true(unorm2_hasBoundaryBefore(N, c));
        if (c >= 0xAC00) { /* and a Hangul syllable is of script Hangul (a CJK run) */
            ec = U_ZERO_ERROR;
            assert_int_equal(uscript_getScript(c, &ec), USCRIPT_HANGUL);
        }
    }
    ks_analyzer_opts o = ks_analyzer_default_opts();
    ks_analyzer *fast, *icu;
    ks_errbuf eb;
    assert_int_equal(ks_analyzer_new(&o, &fast, &eb), 0);
    o.icu_only = 1;
    assert_int_equal(ks_analyzer_new(&o, &icu, &eb), 0);
    const char *texts[] = {
        "e\xCC\x81 A\xCC\x8A", /* combining acute, ring: compose with the letter before */
        "\xEA\xB0\x80\xE1\x86\xA8 \xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8", /* 가 + jongseong; conjoining jamo */
        "ＡＢＣ한국 ﬁle Straße İstanbul CAFÉ café", "x\xCC\xA3\xCC\x87y 한\xE3\x80\x80국 \xEF\xBD\xB6\xEF\xBE\x9E",
        "A\xE2\x80\x8B" "B a\xC2\xAD" "b 한\xE2\x80\x8D국", /* default ignorables removed */
        "\xF0\x9F\x98\x80가\xF0\xA0\x80\x80나 \xFF\xFE 가\xC3", /* astral, invalid bytes */
        "Kakao의 AI 인공지능은 LLM을, Ｋａｋａｏ는 ＡＩ를", "", "A", "\xCC\x81", "가\xCC\x81",
    };
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++)
        same_as_icu(fast, icu, texts[i], strlen(texts[i]));
    const char *shared = getenv("KS_SHARED");
    char path[4096];
    snprintf(path, sizeof path, "%s/corpus/ko-corpus.jsonl.gz", shared ? shared : "../shared");
    gzFile f = gzopen(path, "rb");
    size_t docs = 0;
    if (f) {
        static char line[1 << 20];
        while (gzgets(f, line, sizeof line)) {
            json_t *d = json_loads(line, 0, NULL);
            if (!d)
                continue; /* a line over 1 MiB, cut by gzgets */
            const char *fields[] = { "title", "body" };
            for (int k = 0; k < 2; k++) {
                json_t *v = json_object_get(d, fields[k]);
                if (json_is_string(v))
                    same_as_icu(fast, icu, json_string_value(v), json_string_length(v));
            }
            json_decref(d);
            docs++;
        }
        gzclose(f);
        assert_true(docs >= 2000);
    } else {
        printf("# %s not found: the corpus part skipped\n", path);
    }
    ks_analyzer_free(fast);
    ks_analyzer_free(icu);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_document_table), cmocka_unit_test(test_surrogate_encoded),
        cmocka_unit_test(test_embedded_nul),   cmocka_unit_test(test_query_mode),
        cmocka_unit_test(test_unigram_modes),  cmocka_unit_test(test_offsets),
        cmocka_unit_test(test_long_word_cut),  cmocka_unit_test(test_very_long_input),
        cmocka_unit_test(test_too_big),        cmocka_unit_test(test_pos_base_and_append),
        cmocka_unit_test(test_keep_filter),     cmocka_unit_test(test_shortcut_matches_icu),
    };
    return cmocka_run_group_tests_name("analyze", tests, NULL, NULL);
}
