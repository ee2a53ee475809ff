/* Unit tests for proto/ksp_http.c (the HTTP API's search body, HTML
 * escaping, code-point offsets) and for the JSON encoder on random hostile
 * bytes: every output parses with jansson and decodes to exactly what an
 * independent decoder here (the WHATWG UTF-8 decoder: one U+FFFD per
 * maximal invalid subpart) makes of the input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "ksp_http.h"

#define FFFD "\xEF\xBF\xBD"

/* ---- reference decoder ----------------------------------------------------- */

static size_t put_utf8(uint32_t c, unsigned char *o)
{
    if (c < 0x80) {
        o[0] = (unsigned char)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (unsigned char)(0xC0 | (c >> 6));
        o[1] = (unsigned char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (c >> 12));
        o[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (c & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (c >> 18));
    o[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (c & 0x3F));
    return 4;
}

/* The WHATWG Encoding Standard's UTF-8 decoder with replacement, written
 * from the spec: returns the output length (out has room for 3*n bytes). */
static size_t whatwg_decode(const unsigned char *in, size_t n, unsigned char *out)
{
    size_t o = 0;
    uint32_t cp = 0;
    int need = 0, seen = 0;
    unsigned lower = 0x80, upper = 0xBF;
    for (size_t i = 0; i <= n; i++) {
        if (i == n) {
            if (need)
                o += put_utf8(0xFFFD, out + o);
            break;
        }
        unsigned b = in[i];
        if (need == 0) {
            if (b <= 0x7F) {
                out[o++] = (unsigned char)b;
            } else if (b >= 0xC2 && b <= 0xDF) {
                need = 1;
                cp = b & 0x1F;
            } else if (b >= 0xE0 && b <= 0xEF) {
                lower = b == 0xE0 ? 0xA0 : 0x80;
                upper = b == 0xED ? 0x9F : 0xBF;
                need = 2;
                cp = b & 0xF;
            } else if (b >= 0xF0 && b <= 0xF4) {
                lower = b == 0xF0 ? 0x90 : 0x80;
                upper = b == 0xF4 ? 0x8F : 0xBF;
                need = 3;
                cp = b & 0x7;
            } else {
                o += put_utf8(0xFFFD, out + o);
            }
            continue;
        }
        if (b < lower || b > upper) {
            cp = 0;
            need = seen = 0;
            lower = 0x80;
            upper = 0xBF;
            o += put_utf8(0xFFFD, out + o);
            i--; /* prepend the byte: decode it again from scratch */
            continue;
        }
        lower = 0x80;
        upper = 0xBF;
        cp = (cp << 6) | (b & 0x3F);
        if (++seen == need) {
            o += put_utf8(cp, out + o);
            cp = 0;
            need = seen = 0;
        }
    }
    return o;
}

/* Encodes in[0..n) and checks the output against the reference. */
static void check_encoded(const unsigned char *in, size_t n)
{
    ksp_buf b;
    ksp_buf_init(&b);
    assert_int_equal(ksp_json_string(&b, (const char *)in, n), 0);
    json_error_t jerr;
    json_t *v = json_loadb(b.data, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!v)
        fail_msg("jansson rejects %s: %s", b.data, jerr.text);
    for (size_t i = 0; i < b.len; i++) /* raw controls never reach the output */
        assert_true((unsigned char)b.data[i] >= 0x20);
    unsigned char *want = malloc(3 * n + 1);
    assert_non_null(want);
    size_t wl = whatwg_decode(in, n, want);
    assert_true(json_is_string(v));
    assert_int_equal(json_string_length(v), wl);
    assert_memory_equal(json_string_value(v), want, wl);
    /* the HTTP API's code-point offsets count what the client decodes */
    size_t cps = 0;
    for (size_t i = 0; i < wl; i++)
        cps += (want[i] & 0xC0) != 0x80;
    assert_int_equal(ksp_utf8_count((const char *)in, n), cps);
    free(want);
    json_decref(v);
    ksp_buf_free(&b);
}

static void test_reference_decoder(void **state)
{
    (void)state;
    unsigned char out[64];
    /* worked out by hand from the spec's examples */
    assert_int_equal(whatwg_decode((const unsigned char *)"\xF0\x80\x80", 3, out), 9);
    assert_memory_equal(out, FFFD FFFD FFFD, 9);
    assert_int_equal(whatwg_decode((const unsigned char *)"\xF0\x90\x80", 3, out), 3);
    assert_memory_equal(out, FFFD, 3);
    assert_int_equal(whatwg_decode((const unsigned char *)"\xE1\x80\x41", 3, out), 4);
    assert_memory_equal(out, FFFD "A", 4);
    assert_int_equal(whatwg_decode((const unsigned char *)"\xEA\xB0\x80", 3, out), 3);
    assert_memory_equal(out, "\xEA\xB0\x80", 3);
}

/* Hostile byte classes, then random strings: NULs and every C0 control,
 * DEL and C1, lone continuations, overlongs, surrogates, above U+10FFFF,
 * truncations, U+2028/2029, quotes and backslashes. */
static void test_json_hostile_random(void **state)
{
    (void)state;
    static const char *const pieces[] = {
        "\0", "\x01", "\x1f", "\t", "\n", "\r", "\x7f", "\xC2\x80", "\xC2\x9F", "\"", "\\", "/",
        "\x80", "\xBF", "\xC0\x80", "\xC1\xBF", "\xE0\x80\x80", "\xE0\x9F\xBF", "\xF0\x80\x80\x80",
        "\xED\xA0\x80", "\xED\xBF\xBF", "\xF4\x90\x80\x80", "\xF5", "\xFF", "\xFE", "\xE2\x80\xA8",
        "\xE2\x80\xA9", "\xEC\x95", "\xF0\x9F\x98", "가", "\xF0\x9F\x98\x80", "a", " ", "\xEF\xBF\xBD",
        "\xEF\xBF\xBF", "<script>",
    };
    static const size_t lens[] = {
        1, 1, 1, 1, 1, 1, 1, 2, 2, 1, 1, 1, 1, 1, 2, 2, 3, 3, 4, 3, 3, 4, 1, 1, 1, 3, 3, 2, 3, 3, 4, 1, 1, 3, 3, 8,
    };
    size_t np = sizeof pieces / sizeof pieces[0];
    assert_int_equal(np, sizeof lens / sizeof lens[0]);
    for (unsigned c = 0; c < 0x20; c++) { /* every C0 control alone and among text */
        unsigned char in[3] = { 'x', (unsigned char)c, 'y' };
        check_encoded(in, 3);
    }
    unsigned seed = 12345;
    unsigned char buf[256];
    for (int round = 0; round < 20000; round++) {
        size_t n = 0;
        int pieces_mode = round % 2;
        size_t want = (size_t)((seed = seed * 1103515245u + 12345u) >> 16) % 40;
        while (n < want) {
            seed = seed * 1103515245u + 12345u;
            if (pieces_mode) {
                size_t k = (seed >> 16) % np;
                if (n + lens[k] > sizeof buf)
                    break;
                memcpy(buf + n, pieces[k], lens[k]);
                n += lens[k];
            } else {
                buf[n++] = (unsigned char)(seed >> 16);
            }
        }
        /* exact-size heap copy so ASan sees any overread */
        unsigned char *in = malloc(n ? n : 1);
        assert_non_null(in);
        memcpy(in, buf, n);
        check_encoded(in, n);
        free(in);
    }
}

/* ---- ksp_http ------------------------------------------------------------- */

static void test_utf8_count(void **state)
{
    (void)state;
    assert_int_equal(ksp_utf8_count("", 0), 0);
    assert_int_equal(ksp_utf8_count("abc", 3), 3);
    assert_int_equal(ksp_utf8_count("카카오", strlen("카카오")), 3);
    assert_int_equal(ksp_utf8_count("a\xFF" "b", 3), 3);
    assert_int_equal(ksp_utf8_count("\xE0\x80\xAF", 3), 3); /* overlong: three replacements */
    assert_int_equal(ksp_utf8_count("\xEC\x95", 2), 1);      /* truncated: one */
    assert_int_equal(ksp_utf8_count("\xF0\x9F\x98\x80", 4), 1);
}

/* Every code has its documented status (proto/HTTP.md, Errors); the 503
 * path cannot be reached from outside (a worker always has an index). */
static void test_http_status(void **state)
{
    (void)state;
    static const struct { ksp_errcode code; int status; } want[] = {
        { KSP_ERR_BAD_REQUEST, 400 }, { KSP_ERR_UNKNOWN_COMMAND, 400 }, { KSP_ERR_LINE_TOO_LONG, 413 },
        { KSP_ERR_BAD_UTF8, 400 }, { KSP_ERR_TOO_MANY_CONNECTIONS, 429 }, { KSP_ERR_INDEX_UNAVAILABLE, 503 },
        { KSP_ERR_INTERNAL, 500 }, { KSP_ERR_NOT_FOUND, 404 }, { KSP_ERR_LIMIT_EXCEEDED, 400 },
        { KSP_ERR_FORBIDDEN, 403 }, { KSP_ERR_TIMEOUT, 408 }, { KSP_ERR_NONE, 500 }, { (ksp_errcode)999, 500 },
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_int_equal(ksp_http_status(want[i].code), want[i].status);
    assert_int_equal(KSP_ERR_COUNT_ALL, 12); /* a new code needs a row here and in HTTP.md */
}

static void test_html_escape(void **state)
{
    (void)state;
    ksp_buf b;
    ksp_buf_init(&b);
    const char in[] = "<a href=\"x\" title='y'>&amp;</a> 가\xFF";
    assert_int_equal(ksp_html_escape(&b, in, sizeof in - 1), 0);
    assert_string_equal(b.data, "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt; 가" FFFD);
    ksp_buf_free(&b);
}

static json_t *parse_body(const ksp_buf *b)
{
    assert_true(b->len > 0 && b->data[b->len - 1] == '\n');
    assert_null(memchr(b->data, '\n', b->len - 1));
    json_error_t jerr;
    json_t *v = json_loadb(b->data, b->len, 0, &jerr);
    if (!v)
        fail_msg("jansson rejects %s: %s", b->data, jerr.text);
    return v;
}

static void test_http_search(void **state)
{
    (void)state;
    /* byte offsets:  "<b>" 0..3, "카카오" 4..13, " & " 13..16, "\xFF" 16, "카카오" 17..26, "'" 26 */
    const char snip[] = "<b> 카카오 & \xFF카카오'";
    uint32_t good[] = { 4, 13, 17, 26 };
    uint32_t bad[] = { 4, 13, 8, 10, 20, 17, 17, 99 }; /* one good, then overlapping, reversed, outside */
    ksp_hit hits[] = {
        { 1, 2.5, { "d1", 2 }, { "제목 <1>", strlen("제목 <1>") }, { snip, sizeof snip - 1 } },
        { 2, 1.0, { "d2", 2 }, { "", 0 }, { snip, sizeof snip - 1 } },
        { 3, 0.5, { "d3", 2 }, { "", 0 }, { "", 0 } },
    };
    ksp_ranges rg[] = { { good, 2 }, { bad, 4 }, { NULL, 0 } };
    ksp_search_result r = { 42, 1, 7, hits, 3 };
    ksp_http_search s = { { "카카오", strlen("카카오") }, { "OR(x)", 5 }, 0, 3, &r, rg };
    ksp_buf b;
    ksp_buf_init(&b);
    assert_int_equal(ksp_buf_puts(&b, "before"), 0);
    size_t before = b.len;
    assert_int_equal(ksp_format_http_search(&b, &s), 0);
    ksp_buf body = { b.data + before, b.len - before, 0, 0 };
    json_t *v = parse_body(&body);
    assert_string_equal(json_string_value(json_object_get(v, "query")), "카카오");
    assert_string_equal(json_string_value(json_object_get(v, "parsed")), "OR(x)");
    assert_int_equal(json_integer_value(json_object_get(v, "total")), 42);
    assert_true(json_is_true(json_object_get(v, "estimate")));
    assert_int_equal(json_integer_value(json_object_get(v, "took_us")), 7);
    assert_int_equal(json_integer_value(json_object_get(v, "limit")), 3);
    json_t *h = json_object_get(v, "hits");
    assert_int_equal(json_array_size(h), 3);
    json_t *h0 = json_array_get(h, 0);
    assert_string_equal(json_string_value(json_object_get(h0, "id")), "d1");
    assert_string_equal(json_string_value(json_object_get(h0, "title")), "제목 <1>");
    assert_string_equal(json_string_value(json_object_get(h0, "snippet")), "<b> 카카오 & " FFFD "카카오'");
    /* code points: "<b> " is 4, 카카오 3, " & " 3, U+FFFD 1 */
    char *hl = json_dumps(json_object_get(h0, "highlights"), JSON_COMPACT);
    assert_string_equal(hl, "[[4,7],[11,14]]");
    free(hl);
    assert_string_equal(json_string_value(json_object_get(h0, "snippet_html")),
                        "&lt;b&gt; <mark>카카오</mark> &amp; " FFFD "<mark>카카오</mark>&#39;");
    json_t *h1 = json_array_get(h, 1);
    hl = json_dumps(json_object_get(h1, "highlights"), JSON_COMPACT);
    assert_string_equal(hl, "[[4,7]]"); /* the bad ranges are dropped */
    free(hl);
    json_t *h2 = json_array_get(h, 2);
    assert_int_equal(json_array_size(json_object_get(h2, "highlights")), 0);
    assert_string_equal(json_string_value(json_object_get(h2, "snippet_html")), "");
    json_decref(v);
    assert_memory_equal(b.data, "before", before);

    /* no ranges at all: plain escaped snippets */
    s.ranges = NULL;
    ksp_buf_reset(&b);
    assert_int_equal(ksp_format_http_search(&b, &s), 0);
    v = parse_body(&b);
    h0 = json_array_get(json_object_get(v, "hits"), 0);
    assert_int_equal(json_array_size(json_object_get(h0, "highlights")), 0);
    assert_string_equal(json_string_value(json_object_get(h0, "snippet_html")),
                        "&lt;b&gt; 카카오 &amp; " FFFD "카카오&#39;");
    json_decref(v);

    /* a failed buffer: nothing appended, an error returned */
    ksp_buf_reset(&b);
    ksp_buf_puts(&b, "x");
    b.failed = 1;
    assert_int_not_equal(ksp_format_http_search(&b, &s), 0);
    assert_int_equal(b.len, 1);
    ksp_buf_free(&b);
}

int main(void)
{
    static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_decoder),
        cmocka_unit_test(test_json_hostile_random),
        cmocka_unit_test(test_utf8_count),
        cmocka_unit_test(test_http_status),
        cmocka_unit_test(test_html_escape),
        cmocka_unit_test(test_http_search),
    };
    return cmocka_run_group_tests_name("proto_http", tests, NULL, NULL);
}
