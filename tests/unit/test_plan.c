/* Unit tests of query plans (core/plan.c) and snippets (core/snippet.c):
 * queries and the trees they must become, worked out by hand from the rules
 * in plan.c; texts and the highlighted windows they must give. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ks_plan.h"
#include "ks_snippet.h"

static ks_analyzer *qa, *da;

static int setup(void **state)
{
    (void)state;
    ks_errbuf eb;
    ks_analyzer_opts o = ks_analyzer_default_opts();
    o.query = 1;
    return ks_analyzer_new(&o, &qa, &eb) || ks_analyzer_new(NULL, &da, &eb);
}

static int teardown(void **state)
{
    (void)state;
    ks_analyzer_free(qa);
    ks_analyzer_free(da);
    return 0;
}

static int plan_of(const char *q, ks_plan *p, ks_errbuf *eb)
{
    ks_query *pq;
    int rc = ks_query_parse(q, strlen(q), &pq, eb);
    if (rc)
        return rc;
    rc = ks_plan_build(pq, qa, p, eb);
    ks_query_free(pq);
    return rc;
}

static const struct {
    const char *q, *want;
} plans[] = {
    { "책", "책" },
    { "경쟁", "경쟁" }, /* two characters: one bigram, no spacing variants */
    { "카카오", "OR(PHRASE/2(카카, 카오), PHRASE/2(카, 카오), PHRASE/3(카카, 오))" },
    { "인공지능", "OR(PHRASE/3(인공, 공지, 지능), PHRASE/3(인, 공지, 지능), PHRASE/3(인공, 지능), "
                  "PHRASE/4(인공, 공지, 능))" },
    { "title:카카오", "OR(PHRASE/2(S카카, S카오), PHRASE/2(S카, S카오), PHRASE/3(S카카, S오))" },
    { "title:뉴스", "S뉴스" },
    { "-광고 뉴스", "AND_NOT(뉴스, 광고)" },
    { "a OR b c", "AND(OR(a, b), c)" },
    { "GPT", "gpt" },
    { "챗GPT와", "PHRASE/3(챗, gpt, 와)" }, /* mixed scripts: no spacing variants */
    { "\"open office\"", "PHRASE/2(open, office)" },
    { "\"할 수 있다\"", "OR(PHRASE/3(할, 수, 있다), PHRASE/3(할수, 수있, 있다))" },
    { "\"인공 지능\"", "OR(PHRASE/3(인공, 지능), PHRASE/3(인공, 공지, 지능))" },
    /* 14 characters: over KS_PLAN_MAX_SPLIT_CHARS, the plain phrase only */
    { "가나다라마바사아자차카타파하",
      "PHRASE/13(가나, 나다, 다라, 라마, 마바, 바사, 사아, 아자, 자차, 차카, 카타, 타파, 파하)" },
    { "책 !!!", "책" }, /* an item of punctuation only adds nothing */
    /* several plain words: the adjacent phrase (body or title) adds weight */
    { "표 삽입", "AND_MAYBE(AND(표, 삽입), OR(PHRASE/2(표, 삽입), PHRASE/2(S표, S삽입)))" },
    { "-광고 표 삽입", "AND_NOT(AND_MAYBE(AND(표, 삽입), OR(PHRASE/2(표, 삽입), PHRASE/2(S표, S삽입))), 광고)" },
};

static void test_plans(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof plans / sizeof plans[0]; i++) {
        ks_plan p;
        ks_errbuf eb = { "" };
        int rc = plan_of(plans[i].q, &p, &eb);
        if (rc)
            fail_msg("%s: error %d %s", plans[i].q, rc, eb.msg);
        char buf[4096];
        ks_plan_describe(&p, buf, sizeof buf);
        if (strcmp(buf, plans[i].want) != 0)
            fail_msg("%s\n  want: %s\n  got:  %s", plans[i].q, plans[i].want, buf);
        ks_plan_free(&p);
    }
}

/* OR queries (totals may be estimated) vs all-words ones (exact), whatever
 * the root's node: a single word's spacing variants are an OR node. */
static void test_is_or(void **state)
{
    (void)state;
    static const struct {
        const char *q;
        int is_or;
    } cases[] = {
        { "책", 0 },          { "카카오", 0 },         { "표 삽입", 0 },     { "a OR b c", 0 },
        { "a OR b", 1 },      { "카카오 OR 네이버", 1 }, { "a OR b -c", 1 },  { "-c a OR b", 1 },
        { "a OR !!!", 0 },    { "title:카카오", 0 },    { "-광고 표 삽입", 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ks_plan p;
        ks_errbuf eb = { "" };
        if (plan_of(cases[i].q, &p, &eb))
            fail_msg("%s: %s", cases[i].q, eb.msg);
        if (ks_plan_is_or(&p) != cases[i].is_or)
            fail_msg("%s: ks_plan_is_or %d, want %d", cases[i].q, ks_plan_is_or(&p), cases[i].is_or);
        ks_plan_free(&p);
    }
}

static void test_relaxed_plan(void **state)
{
    (void)state;
    ks_query *pq;
    ks_errbuf eb;
    const char *q = "대화상자 -광고 title:책";
    assert_int_equal(ks_query_parse(q, strlen(q), &pq, &eb), 0);
    ks_plan p;
    assert_int_equal(ks_plan_build_relaxed(pq, qa, &p, &eb), 0);
    char buf[1024];
    ks_plan_describe(&p, buf, sizeof buf);
    /* any word's terms, exclusions still excluded */
    assert_string_equal(buf, "AND_NOT(OR(OR(대화, 화상, 상자), S책), 광고)");
    assert_int_equal(ks_plan_is_or(&p), 1); /* the any-words fallback is an OR query */
    ks_plan_free(&p);
    ks_query_free(pq);
}

static void test_plan_errors(void **state)
{
    (void)state;
    ks_plan p;
    ks_errbuf eb = { "" };
    assert_int_equal(plan_of("!!! ???", &p, &eb), KS_EINVAL);
    assert_non_null(strstr(eb.msg, "no searchable words"));
    assert_int_equal(plan_of("-책", &p, &eb), KS_EINVAL); /* rejected by the parser */
}

/* "가" repeated n times: one word of n - 1 bigrams (over 12 characters, so
 * no spacing variants). */
static char *syllables(size_t n)
{
    char *s = malloc(3 * n + 1);
    assert_non_null(s);
    for (size_t i = 0; i < n; i++)
        memcpy(s + 3 * i, "가", 3);
    s[3 * n] = 0;
    return s;
}

static void test_plan_limits(void **state)
{
    (void)state;
    ks_plan p;
    ks_errbuf eb = { "" };
    /* KS_PLAN_MAX_PHRASE_TERMS: 65 syllables are 64 bigrams, one more is over */
    char *w = syllables(KS_PLAN_MAX_PHRASE_TERMS + 1);
    assert_int_equal(plan_of(w, &p, &eb), 0);
    assert_int_equal(p.n_terms, KS_PLAN_MAX_PHRASE_TERMS);
    ks_plan_free(&p);
    free(w);
    w = syllables(KS_PLAN_MAX_PHRASE_TERMS + 2);
    assert_int_equal(plan_of(w, &p, &eb), KS_ETOOBIG);
    assert_string_equal(eb.msg, "a word or phrase is too long: more than 64 terms after analysis");
    free(w);
    /* KS_PLAN_MAX_TERMS: four 65-syllable words are 256 terms; a fifth word is over */
    char q[4 * (3 * 65 + 1) + 16];
    w = syllables(65);
    snprintf(q, sizeof q, "%s %s %s %s", w, w, w, w);
    assert_int_equal(plan_of(q, &p, &eb), 0);
    assert_int_equal(p.n_terms, KS_PLAN_MAX_TERMS);
    ks_plan_free(&p);
    snprintf(q, sizeof q, "%s %s %s %s 책", w, w, w, w);
    assert_int_equal(plan_of(q, &p, &eb), KS_ETOOBIG);
    assert_string_equal(eb.msg, "query is too long: more than 256 terms after analysis");
    free(w);
    /* items just under the budget leave no room for the phrase boost of
     * plain words: the query is planned without it (it used to fail with
     * "out of memory") */
    assert_int_equal(plan_of("가나 가나다라마바사아 가나다라마바사아 가나다라마바사아 가나다라마바사아", &p, &eb), 0);
    assert_true(p.n_terms <= KS_PLAN_MAX_TERMS);
    assert_int_equal(p.nodes[p.root].op, KS_PLAN_AND);
    ks_plan_free(&p);
}

static char *snip(const char *q, const char *text, size_t max_chars, int title, size_t *nm)
{
    ks_plan p;
    ks_errbuf eb;
    assert_int_equal(plan_of(q, &p, &eb), 0);
    ks_snippet_opts o = { .open = "[", .close = "]", .max_chars = max_chars, .title = title };
    char *out;
    size_t len;
    assert_int_equal(ks_snippet_make(da, &p, text, strlen(text), &o, &out, &len, nm), 0);
    assert_int_equal(len, strlen(out));
    ks_plan_free(&p);
    return out;
}

static void test_snippets(void **state)
{
    (void)state;
    size_t nm;
    char *s = snip("카카오", "카카오는 좋다. 카카오가 좋다", 0, 0, &nm);
    assert_string_equal(s, "[카카오]는 좋다. [카카오]가 좋다");
    assert_int_equal(nm, 2);
    free(s);
    /* a spacing variant is highlighted with its space */
    s = snip("인공지능", "새 인공 지능 연구", 0, 0, &nm);
    assert_string_equal(s, "새 [인공 지능] 연구");
    free(s);
    /* scattered syllables are not a match */
    s = snip("카카오", "카 카 오", 0, 0, &nm);
    assert_string_equal(s, "카 카 오");
    assert_int_equal(nm, 0);
    free(s);
    /* newlines and tabs become spaces; title: items mark titles only */
    s = snip("title:책", "책\t읽기\n책", 0, 0, &nm);
    assert_string_equal(s, "책 읽기 책");
    free(s);
    s = snip("title:책", "책\t읽기", 0, 1, &nm);
    assert_string_equal(s, "[책] 읽기");
    free(s);
}

/* Ranges come from where the marks were written, not from searching the
 * output for markers: exact with empty markers and when the text itself
 * holds the marker bytes. */
static void test_snippet_ranges(void **state)
{
    (void)state;
    ks_plan p;
    ks_errbuf eb;
    assert_int_equal(plan_of("카카오", &p, &eb), 0);
    const char *text = "[카카오]는 좋다. 카카오가 좋다";
    const char *markers[][2] = { { "", "" }, { "[", "]" } };
    for (size_t m = 0; m < 2; m++) {
        uint32_t *rg = NULL;
        size_t nrg = 99, len, nm;
        char *out;
        ks_snippet_opts o = { .open = markers[m][0], .close = markers[m][1], .ranges = &rg, .n_ranges = &nrg };
        assert_int_equal(ks_snippet_make(da, &p, text, strlen(text), &o, &out, &len, &nm), 0);
        assert_int_equal(nrg, 2);
        for (size_t i = 0; i < nrg; i++) {
            assert_true(rg[2 * i] < rg[2 * i + 1] && rg[2 * i + 1] <= len);
            assert_memory_equal(out + rg[2 * i], "카카오", rg[2 * i + 1] - rg[2 * i]);
            assert_int_equal(rg[2 * i + 1] - rg[2 * i], strlen("카카오"));
        }
        if (m == 0)
            assert_string_equal(out, text); /* empty markers: the plain text */
        free(rg);
        free(out);
    }
    /* no match: no ranges */
    uint32_t *rg = (uint32_t *)&p;
    size_t nrg = 99, len, nm;
    char *out;
    ks_snippet_opts o = { .open = "", .close = "", .ranges = &rg, .n_ranges = &nrg };
    assert_int_equal(ks_snippet_make(da, &p, "없음", strlen("없음"), &o, &out, &len, &nm), 0);
    assert_null(rg);
    assert_int_equal(nrg, 0);
    free(out);
    ks_plan_free(&p);
}

static void test_snippet_window(void **state)
{
    (void)state;
    /* 300 'x ' words, then the match, then 300 more: the window holds the
     * match, is cut at both ends with an ellipsis, and is at most 40 chars */
    size_t n = 300;
    char *text = malloc(2 * 4 * n + 64), *w = text; /* 2n words of 4 bytes, and the match */
    for (size_t i = 0; i < n; i++)
        w += sprintf(w, "가 ");
    w += sprintf(w, "카카오 ");
    for (size_t i = 0; i < n; i++)
        w += sprintf(w, "나 ");
    size_t nm;
    char *s = snip("카카오", text, 40, 0, &nm);
    assert_non_null(strstr(s, "[카카오]"));
    assert_memory_equal(s, "\xE2\x80\xA6", 3);
    assert_memory_equal(s + strlen(s) - 3, "\xE2\x80\xA6", 3);
    /* characters: every Hangul syllable here is 3 bytes, a space 1 */
    size_t chars = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        chars += (*p & 0xC0) != 0x80;
    assert_true(chars <= 40 + 2 /* ellipses */ + 2 /* markers */);
    free(s);
    /* no match: the window starts at the beginning */
    s = snip("책", text, 10, 0, &nm);
    assert_int_equal(nm, 0);
    assert_memory_equal(s, "가 가 가", strlen("가 가 가"));
    free(s);
    free(text);
}

/* The query-mode analysis that snippets use when they can (opts.lean)
 * finds exactly what the document-mode one does: same output, same match
 * count, for one-syllable words inside longer ones too. */
static void test_snippet_lean(void **state)
{
    (void)state;
    const char *queries[] = { "책", "카카오", "인공지능", "\"검색 엔진\"", "title:책", "engine", "a", "한국어 search",
                              "서책", "교과서책 OR 책", "é", "漢字", "カナ", "검색 -엔진" };
    const char *texts[] = { "교과서책 한 권과 책, 서책", "카카오는 좋다. 카카오가 좋다", "새 인공 지능 연구와 인공지능",
                            "검색 엔진의 검색엔진: search engine, a b c", "Café é 漢字 カナ 한국어 search",
                            "책\t읽기\n책" };
    size_t lean_hits = 0;
    for (size_t q = 0; q < sizeof queries / sizeof *queries; q++)
        for (size_t t = 0; t < sizeof texts / sizeof *texts; t++)
            for (int title = 0; title < 2; title++) {
                ks_plan p;
                ks_errbuf eb;
                assert_int_equal(plan_of(queries[q], &p, &eb), 0);
                ks_snippet_opts o = { .open = "[", .close = "]", .max_chars = 12, .title = title };
                char *a, *b;
                size_t la, lb, na, nb;
                assert_int_equal(ks_snippet_make(da, &p, texts[t], strlen(texts[t]), &o, &a, &la, &na), 0);
                o.lean = qa;
                assert_int_equal(ks_snippet_make(da, &p, texts[t], strlen(texts[t]), &o, &b, &lb, &nb), 0);
                assert_string_equal(a, b);
                assert_int_equal(na, nb);
                lean_hits += na;
                free(a);
                free(b);
                ks_plan_free(&p);
            }
    assert_true(lean_hits > 20);
    /* a one-syllable word inside a longer one is still found */
    size_t nm;
    char *s = snip("책", "교과서책", 0, 0, &nm);
    assert_string_equal(s, "교과서[책]");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plans),
        cmocka_unit_test(test_plan_errors),
        cmocka_unit_test(test_plan_limits),
        cmocka_unit_test(test_relaxed_plan),
        cmocka_unit_test(test_is_or),
        cmocka_unit_test(test_snippets),
        cmocka_unit_test(test_snippet_ranges),
        cmocka_unit_test(test_snippet_window),
        cmocka_unit_test(test_snippet_lean),
    };
    return cmocka_run_group_tests_name("plan", tests, setup, teardown);
}
