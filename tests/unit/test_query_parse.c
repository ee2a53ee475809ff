/* Unit tests for the query-language parser (core/ks_query.h): a table of
 * inputs with the expected describe() rendering or error code and message,
 * worked out by hand from the grammar; plus limits met exactly and exceeded
 * by one, API edge cases and describe()'s snprintf-style truncation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ks_query.h"

/* One table row. */
typedef struct qcase {
    const char *name;    /* test name in the TAP output */
    const char *in;      /* query bytes (may hold NUL or invalid UTF-8) */
    size_t len;          /* bytes of in */
    int rc;              /* expected return code */
    const char *expect;  /* rc == 0: the exact describe() output; else a substring of the error message */
} qcase;

#define OK(name, in, out) { name, in, sizeof(in) - 1, 0, out }
#define ERR(name, in, code, msg) { name, in, sizeof(in) - 1, code, msg }

#define IDSP "\xE3\x80\x80" /* U+3000 IDEOGRAPHIC SPACE */

static const char no_words[] = "query has no words to search for";
static const char or_sides[] = "OR needs a word on each side";
static const char or_excl[] = "cannot be part of an OR group";

static const qcase cases[] = {
    /* words and AND */
    OK("single word", "a", "AND(OR(word:\"a\"))"),
    OK("two words", "a b", "AND(OR(word:\"a\"), OR(word:\"b\"))"),
    OK("korean full example",
       "카카오 \"인공 지능\" -광고 title:뉴스 OR 기사",
       "AND(OR(word:\"카카오\"), OR(phrase:\"인공 지능\"), NOT(word:\"광고\"), "
       "OR(title:word:\"뉴스\", word:\"기사\"))"),
    OK("ideographic space separates", "카카오" IDSP "뉴스",
       "AND(OR(word:\"카카오\"), OR(word:\"뉴스\"))"),
    OK("ideographic spaces around and between",
       IDSP IDSP "가" IDSP IDSP "나" IDSP,
       "AND(OR(word:\"가\"), OR(word:\"나\"))"),
    OK("tabs and surrounding spaces", " \ta\t b  ",
       "AND(OR(word:\"a\"), OR(word:\"b\"))"),
    OK("newline and CRLF separate", "a\nb\r\nc",
       "AND(OR(word:\"a\"), OR(word:\"b\"), OR(word:\"c\"))"),
    OK("no-break space separates", "a\xC2\xA0" "b",
       "AND(OR(word:\"a\"), OR(word:\"b\"))"),
    OK("em space separates", "a\xE2\x80\x83" "b",
       "AND(OR(word:\"a\"), OR(word:\"b\"))"),
    OK("zero-width space is not a separator, shown escaped",
       "a\xE2\x80\x8B" "b", "AND(OR(word:\"a\\u{200B}b\"))"),
    OK("control character kept in word, shown escaped", "a\x01" "b",
       "AND(OR(word:\"a\\u{0001}b\"))"),
    OK("backslash escaped in describe", "a\\b", "AND(OR(word:\"a\\\\b\"))"),
    OK("duplicate words kept", "a a", "AND(OR(word:\"a\"), OR(word:\"a\"))"),

    /* phrases */
    OK("phrase", "\"a b\"", "AND(OR(phrase:\"a b\"))"),
    OK("phrase internal whitespace kept", "\"a  b\"",
       "AND(OR(phrase:\"a  b\"))"),
    OK("phrase ends trimmed", "\"  a b \t\"", "AND(OR(phrase:\"a b\"))"),
    OK("phrase ideographic space kept, shown escaped",
       "\"인공" IDSP "지능\"", "AND(OR(phrase:\"인공\\u{3000}지능\"))"),
    OK("phrase tab kept, shown escaped", "\"a\tb\"",
       "AND(OR(phrase:\"a\\u{0009}b\"))"),
    OK("one-word phrase stays a phrase", "\"a\"", "AND(OR(phrase:\"a\"))"),
    OK("unterminated quote runs to the end", "a \"b c",
       "AND(OR(word:\"a\"), OR(phrase:\"b c\"))"),
    OK("unterminated quote swallows OR and minus", "\"a OR -b",
       "AND(OR(phrase:\"a OR -b\"))"),
    OK("unterminated empty quote ignored", "a \"",
       "AND(OR(word:\"a\"))"),
    OK("empty quotes ignored", "a \"\" b",
       "AND(OR(word:\"a\"), OR(word:\"b\"))"),
    OK("whitespace-only quotes ignored", "a \" " IDSP " \"",
       "AND(OR(word:\"a\"))"),
    OK("phrase then word without space", "\"a\"b",
       "AND(OR(phrase:\"a\"), OR(word:\"b\"))"),
    OK("quote inside a word is text", "e\"mail x\"",
       "AND(OR(word:\"e\\\"mail\"), OR(word:\"x\\\"\"))"),
    OK("nested-looking quotes", "\"a \"b\" c\"",
       "AND(OR(phrase:\"a\"), OR(word:\"b\\\"\"), OR(word:\"c\\\"\"))"),
    OK("two phrases back to back", "\"a\"\"b\"",
       "AND(OR(phrase:\"a\"), OR(phrase:\"b\"))"),

    /* exclusion */
    OK("excluded word", "a -b", "AND(OR(word:\"a\"), NOT(word:\"b\"))"),
    OK("excluded phrase first", "-\"b c\" a",
       "AND(NOT(phrase:\"b c\"), OR(word:\"a\"))"),
    OK("lone minus is a word", "a - b",
       "AND(OR(word:\"a\"), OR(word:\"-\"), OR(word:\"b\"))"),
    OK("lone minus at the end is a word", "a -",
       "AND(OR(word:\"a\"), OR(word:\"-\"))"),
    OK("minus inside a word is text", "e-mail a-",
       "AND(OR(word:\"e-mail\"), OR(word:\"a-\"))"),
    OK("double minus excludes a word starting with minus", "--a b",
       "AND(NOT(word:\"-a\"), OR(word:\"b\"))"),
    OK("excluded empty phrase ignored", "a -\"\"", "AND(OR(word:\"a\"))"),
    OK("minus before ideographic space is a word", "a -" IDSP "b",
       "AND(OR(word:\"a\"), OR(word:\"-\"), OR(word:\"b\"))"),
    OK("excluded OR token is a word", "a -OR",
       "AND(OR(word:\"a\"), NOT(word:\"OR\"))"),

    /* OR */
    OK("OR binds the neighbours", "a b OR c d",
       "AND(OR(word:\"a\"), OR(word:\"b\", word:\"c\"), OR(word:\"d\"))"),
    OK("OR chain is one group", "a OR b OR c",
       "AND(OR(word:\"a\", word:\"b\", word:\"c\"))"),
    OK("two OR groups", "a OR b c OR d",
       "AND(OR(word:\"a\", word:\"b\"), OR(word:\"c\", word:\"d\"))"),
    OK("OR between phrases", "\"a b\" OR \"c d\"",
       "AND(OR(phrase:\"a b\", phrase:\"c d\"))"),
    OK("OR with ideographic spaces", "a" IDSP "OR" IDSP "b",
       "AND(OR(word:\"a\", word:\"b\"))"),
    OK("lower-case or is a word", "a or b",
       "AND(OR(word:\"a\"), OR(word:\"or\"), OR(word:\"b\"))"),
    OK("mixed-case Or is a word", "a Or b",
       "AND(OR(word:\"a\"), OR(word:\"Or\"), OR(word:\"b\"))"),
    OK("oR is a word", "a oR b",
       "AND(OR(word:\"a\"), OR(word:\"oR\"), OR(word:\"b\"))"),
    OK("OR joins a title item", "title:a OR b",
       "AND(OR(title:word:\"a\", word:\"b\"))"),
    OK("ORb is a word", "a ORb", "AND(OR(word:\"a\"), OR(word:\"ORb\"))"),
    OK("quoted OR is a phrase", "\"OR\"", "AND(OR(phrase:\"OR\"))"),
    OK("OR skips an ignored empty phrase", "a OR \"\" b",
       "AND(OR(word:\"a\", word:\"b\"))"),
    OK("OR then lone minus", "a OR -",
       "AND(OR(word:\"a\", word:\"-\"))"),
    OK("OR with an exclusion elsewhere", "-x a OR b",
       "AND(NOT(word:\"x\"), OR(word:\"a\", word:\"b\"))"),
    ERR("OR at the start", "OR a", KS_EINVAL, or_sides),
    ERR("OR at the end", "a OR", KS_EINVAL, or_sides),
    ERR("OR at the end before spaces", "a OR " IDSP, KS_EINVAL, or_sides),
    ERR("OR doubled", "a OR OR b", KS_EINVAL, or_sides),
    ERR("OR alone", "OR", KS_EINVAL, or_sides),
    ERR("OR before only an empty phrase", "a OR \"\"", KS_EINVAL, or_sides),
    ERR("OR after only an empty phrase", "\"\" OR a", KS_EINVAL, or_sides),
    ERR("excluded item after OR", "a OR -b", KS_EINVAL, or_excl),
    ERR("excluded item before OR", "-a OR b", KS_EINVAL, or_excl),
    ERR("excluded phrase after OR", "a OR -\"b c\"", KS_EINVAL, or_excl),

    /* fields */
    OK("title word", "title:뉴스", "AND(OR(title:word:\"뉴스\"))"),
    OK("title phrase", "title:\"a b\"", "AND(OR(title:phrase:\"a b\"))"),
    OK("excluded title word", "-title:x a",
       "AND(NOT(title:word:\"x\"), OR(word:\"a\"))"),
    OK("excluded title phrase", "a -title:\"x y\"",
       "AND(OR(word:\"a\"), NOT(title:phrase:\"x y\"))"),
    OK("url is plain text", "http://x", "AND(OR(word:\"http://x\"))"),
    OK("unknown field is plain text", "foo:bar",
       "AND(OR(word:\"foo:bar\"))"),
    OK("field names are case-sensitive", "Title:x",
       "AND(OR(word:\"Title:x\"))"),
    OK("bare title: is a word", "title: x",
       "AND(OR(word:\"title:\"), OR(word:\"x\"))"),
    OK("excluded bare title: is an excluded word", "a -title:",
       "AND(OR(word:\"a\"), NOT(word:\"title:\"))"),
    OK("title prefix only once", "title:title:x",
       "AND(OR(title:word:\"title:x\"))"),
    OK("minus after title: is text", "title:-x",
       "AND(OR(title:word:\"-x\"))"),
    OK("title OR is a title word", "title:OR",
       "AND(OR(title:word:\"OR\"))"),
    OK("title unterminated phrase", "title:\"a b",
       "AND(OR(title:phrase:\"a b\"))"),
    OK("title empty phrase ignored", "a title:\"\"", "AND(OR(word:\"a\"))"),
    OK("title before ideographic space is a word", "title:" IDSP "x",
       "AND(OR(word:\"title:\"), OR(word:\"x\"))"),

    /* things that look like syntax but are text */
    OK("parentheses are text", "(a OR b) c",
       "AND(OR(word:\"(a\", word:\"b)\"), OR(word:\"c\"))"),
    OK("nested-looking parentheses", "a OR (b OR c)",
       "AND(OR(word:\"a\", word:\"(b\", word:\"c)\"))"),
    OK("minus before parenthesis", "x -(-a)",
       "AND(OR(word:\"x\"), NOT(word:\"(-a)\"))"),

    /* no positive item */
    ERR("empty", "", KS_EINVAL, no_words),
    ERR("whitespace only", " \t" IDSP "\n", KS_EINVAL, no_words),
    ERR("only empty quotes", "\"\"", KS_EINVAL, no_words),
    ERR("only an unterminated empty quote", "  \"  ", KS_EINVAL, no_words),
    ERR("only exclusions", "-a -\"b c\" -title:d", KS_EINVAL, no_words),

    /* encoding */
    ERR("invalid byte", "\xFF", KS_EUTF8, "byte 0"),
    ERR("truncated sequence", "a \xEC\xB9", KS_EUTF8, "byte 2"),
    ERR("overlong slash", "a\xC0\xAF", KS_EUTF8, "UTF-8"),
    ERR("encoded surrogate", "\xED\xA0\x80", KS_EUTF8, "UTF-8"),
    ERR("lone continuation byte", "\x80" "abc", KS_EUTF8, "UTF-8"),
    ERR("invalid UTF-8 wins over a dangling OR", "OR \xFF", KS_EUTF8,
        "UTF-8"),
    ERR("NUL inside the query", "a\0b", KS_EINVAL, "NUL"),

    /* limits met exactly (written out so they can be checked by eye) */
    OK("phrase of 16 words",
       "\"1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\"",
       "AND(OR(phrase:\"1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\"))"),
    ERR("phrase of 17 words",
        "\"1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\"", KS_ETOOBIG,
        "phrase has 17 words; the limit is 16"),
    ERR("phrase of 17 words, unterminated, ideographic spaces",
        "x \"1" IDSP "2" IDSP "3" IDSP "4" IDSP "5" IDSP "6" IDSP "7" IDSP
        "8" IDSP "9" IDSP "10" IDSP "11" IDSP "12" IDSP "13" IDSP "14" IDSP
        "15" IDSP "16" IDSP "17",
        KS_ETOOBIG, "phrase has 17 words"),
    OK("OR group of 8", "a OR b OR c OR d OR e OR f OR g OR h",
       "AND(OR(word:\"a\", word:\"b\", word:\"c\", word:\"d\", word:\"e\", "
       "word:\"f\", word:\"g\", word:\"h\"))"),
    ERR("OR group of 9", "a OR b OR c OR d OR e OR f OR g OR h OR i",
        KS_ETOOBIG, "more than 8 alternatives"),
    ERR("limit error comes before a later dangling OR",
        "a OR b OR c OR d OR e OR f OR g OR h OR i OR", KS_ETOOBIG,
        "more than 8"),
    ERR("33 items",
        "a b c d e f g h i j k l m n o p q r s t u v w x y z 0 1 2 3 4 5 6",
        KS_ETOOBIG, "more than 32 words and phrases"),
    ERR("33 items counting exclusions and phrases",
        "a b c d e f g h i j k l m n o p q r s t u v w x y z 0 1 2 3 "
        "-x \"y z\" -\"w\"", KS_ETOOBIG, "more than 32"),
};

static void expect_result(const char *in, size_t len, int want_rc,
                          const char *want)
{
    ks_errbuf eb;
    ks_query *q = (ks_query *)(uintptr_t)1;  /* must be reset to NULL on failure */
    int rc = ks_query_parse(in, len, &q, &eb);
    if (rc != want_rc)
        fail_msg("rc %d (%s), want %d; message: %s", rc, ks_strerror(rc),
                 want_rc, eb.msg);
    if (want_rc != 0) {
        assert_null(q);
        if (!strstr(eb.msg, want))
            fail_msg("message \"%s\" lacks \"%s\"", eb.msg, want);
        return;
    }
    assert_non_null(q);
    char out[8192];
    int n = ks_query_describe(q, out, sizeof out);
    assert_true(n >= 0 && (size_t)n < sizeof out);
    assert_string_equal(out, want);
    assert_int_equal((size_t)n, strlen(out));
    ks_query_free(q);
}

static void run_case(void **state)
{
    const qcase *c = *state;
    expect_result(c->in, c->len, c->rc, c->expect);
}

/* 32 items exactly: structure checked through the API. */
static void test_32_items(void **state)
{
    (void)state;
    static const char in[] =
        "a b c d e f g h i j k l m n o p q r s t u v w x y z 0 1 2 3 -x \"y z\"";
    ks_errbuf eb;
    ks_query *q = NULL;
    assert_int_equal(ks_query_parse(in, sizeof in - 1, &q, &eb), 0);
    assert_int_equal(q->n_items, 32);
    assert_int_equal(q->n_groups, 32);
    assert_int_equal(q->n_negated, 1);
    assert_string_equal(q->items[0].text, "a");
    assert_string_equal(q->items[29].text, "3");
    assert_true(q->items[30].negated);
    assert_string_equal(q->items[30].text, "x");
    assert_true(q->items[31].is_phrase);
    assert_string_equal(q->items[31].text, "y z");
    assert_int_equal(q->items[31].n_words, 2);
    ks_query_free(q);
}

/* 4096 bytes is accepted, 4097 is not, and the length check comes first. */
static void test_length_limit(void **state)
{
    (void)state;
    char *buf = malloc(KS_QUERY_MAX_BYTES + 2);
    assert_non_null(buf);
    ks_errbuf eb;
    ks_query *q = NULL;

    /* one 4096-byte word */
    memset(buf, 'x', KS_QUERY_MAX_BYTES + 1);
    assert_int_equal(ks_query_parse(buf, 4096, &q, &eb), 0);
    assert_int_equal(q->n_items, 1);
    assert_int_equal(q->items[0].text_len, 4096);
    assert_int_equal(strlen(q->items[0].text), 4096);
    ks_query_free(q);

    assert_int_equal(ks_query_parse(buf, 4097, &q, &eb), KS_ETOOBIG);
    assert_null(q);
    assert_string_equal(eb.msg, "query is 4097 bytes; the limit is 4096");

    /* 4096 bytes of Korean text and spaces: 32 words. Words 0..10 are 43
     * syllables (129 bytes), words 11..31 are 42 syllables (126 bytes):
     * 11 * 129 + 21 * 126 + 31 spaces = 1419 + 2646 + 31 = 4096. */
    size_t n = 0;
    for (int w = 0; w < 32; w++) {
        if (w > 0)
            buf[n++] = ' ';
        for (int k = 0; k < (w <= 10 ? 43 : 42); k++) {
            memcpy(buf + n, "한", 3);
            n += 3;
        }
    }
    assert_int_equal(n, 4096);
    assert_int_equal(ks_query_parse(buf, n, &q, &eb), 0);
    assert_int_equal(q->n_items, 32);
    assert_int_equal(q->items[0].text_len, 129);
    assert_int_equal(q->items[10].text_len, 129);
    assert_int_equal(q->items[11].text_len, 126);
    assert_int_equal(q->items[31].text_len, 126);
    ks_query_free(q);

    /* 4097 bytes that are also invalid UTF-8: the size is reported */
    memset(buf, 0xFF, KS_QUERY_MAX_BYTES + 1);
    assert_int_equal(ks_query_parse(buf, 4097, &q, &eb), KS_ETOOBIG);
    free(buf);
}

/* The item fields behind the Korean example. */
static void test_item_fields(void **state)
{
    (void)state;
    static const char in[] = "카카오 \"인공 지능\" -광고 title:뉴스 OR 기사";
    ks_errbuf eb;
    ks_query *q = NULL;
    assert_int_equal(ks_query_parse(in, sizeof in - 1, &q, &eb), 0);
    assert_int_equal(q->n_groups, 4);
    assert_int_equal(q->n_items, 5);
    assert_int_equal(q->n_negated, 1);

    const ks_query_item *it = q->items;
    assert_string_equal(it[0].text, "카카오");
    assert_int_equal(it[0].text_len, 9);
    assert_false(it[0].is_phrase);
    assert_int_equal(it[0].n_words, 1);
    assert_string_equal(it[1].text, "인공 지능");
    assert_true(it[1].is_phrase);
    assert_int_equal(it[1].n_words, 2);
    assert_true(it[2].negated);
    assert_int_equal(it[3].field, KS_FIELD_TITLE);
    assert_int_equal(it[4].field, KS_FIELD_ANY);

    assert_ptr_equal(q->groups[0].items, &it[0]);
    assert_ptr_equal(q->groups[3].items, &it[3]);
    assert_int_equal(q->groups[3].n_items, 2);
    assert_int_equal(q->groups[2].n_items, 1);
    ks_query_free(q);
}

static void test_api_edges(void **state)
{
    (void)state;
    ks_errbuf eb;
    ks_query *q = NULL;
    assert_int_equal(ks_query_parse("a", 1, NULL, &eb), KS_EINVAL);
    assert_int_equal(ks_query_parse(NULL, 3, &q, &eb), KS_EINVAL);
    assert_null(q);
    assert_int_equal(ks_query_parse(NULL, 0, &q, &eb), KS_EINVAL);
    assert_string_equal(eb.msg, "query has no words to search for");
    /* a NULL errbuf is allowed */
    assert_int_equal(ks_query_parse("OR", 2, &q, NULL), KS_EINVAL);
    assert_int_equal(ks_query_parse("a", 1, &q, NULL), 0);
    /* len is honoured: the rest of the buffer is not read */
    ks_query *q2 = NULL;
    assert_int_equal(ks_query_parse("ab OR", 2, &q2, &eb), 0);
    char out[64];
    assert_int_equal(ks_query_describe(q2, out, sizeof out), 18);
    assert_string_equal(out, "AND(OR(word:\"ab\"))");
    /* success clears an earlier message */
    assert_string_equal(eb.msg, "");
    assert_int_equal(ks_query_describe(NULL, out, sizeof out), KS_EINVAL);
    assert_int_equal(ks_query_describe(q, NULL, 5), KS_EINVAL);
    ks_query_free(q);
    ks_query_free(q2);
    ks_query_free(NULL);
}

/* describe() is snprintf-like: returns the full length, truncates safely. */
static void test_describe_truncation(void **state)
{
    (void)state;
    ks_errbuf eb;
    ks_query *q = NULL;
    assert_int_equal(ks_query_parse("가 -b", 6, &q, &eb), 0);
    static const char full[] = "AND(OR(word:\"가\"), NOT(word:\"b\"))";
    const int want = (int)sizeof full - 1;

    assert_int_equal(ks_query_describe(q, NULL, 0), want);
    char out[64];
    memset(out, '#', sizeof out);
    assert_int_equal(ks_query_describe(q, out, 1), want);
    assert_int_equal(out[0], '\0');
    assert_int_equal(out[1], '#');
    memset(out, '#', sizeof out);
    assert_int_equal(ks_query_describe(q, out, 10), want);
    assert_string_equal(out, "AND(OR(wo");
    assert_int_equal(out[10], '#');
    assert_int_equal(ks_query_describe(q, out, (size_t)want), want);
    assert_int_equal(strlen(out), (size_t)want - 1);
    assert_int_equal(ks_query_describe(q, out, (size_t)want + 1), want);
    assert_string_equal(out, full);
    ks_query_free(q);
}

int main(void)
{
    enum { N_CASES = sizeof cases / sizeof cases[0] };
    static const struct CMUnitTest fixed[] = {
        cmocka_unit_test(test_32_items),
        cmocka_unit_test(test_length_limit),
        cmocka_unit_test(test_item_fields),
        cmocka_unit_test(test_api_edges),
        cmocka_unit_test(test_describe_truncation),
    };
    enum { N_FIXED = sizeof fixed / sizeof fixed[0] };
    static struct CMUnitTest tests[N_CASES + N_FIXED];

    for (size_t i = 0; i < N_CASES; i++) {
        tests[i] = (struct CMUnitTest){ .name = cases[i].name,
                                        .test_func = run_case,
                                        .initial_state = (void *)&cases[i] };
    }
    for (size_t i = 0; i < N_FIXED; i++)
        tests[N_CASES + i] = fixed[i];
    return _cmocka_run_group_tests("query_parse", tests, N_CASES + N_FIXED,
                                   NULL, NULL);
}
