/* Unit tests for proto/ksp_format.c: ksp_buf, the JSON string encoder on
 * hostile input (checked byte for byte and by parsing back with jansson),
 * text-mode sanitising, and every reply in both modes against replies
 * written out by hand from PROTOCOL.md. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>
#include <jansson.h>

#include "ksp_format.h"

#define FFFD "\xEF\xBF\xBD"
#define S(lit) lit, sizeof(lit) - 1 /* bytes and length of a literal */

/* ---- ksp_buf ------------------------------------------------------------ */

static void test_buf_basics(void **state)
{
    (void)state;
    ksp_buf b;
    assert_int_equal(ksp_buf_init(&b), 0);
    assert_int_equal(b.len, 0);
    assert_int_equal(ksp_buf_append(&b, "ab", 2), 0);
    assert_int_equal(ksp_buf_puts(&b, "cd"), 0);
    assert_int_equal(ksp_buf_printf(&b, "-%d-%s", 42, "x"), 0);
    assert_int_equal(b.len, 9);
    assert_string_equal(b.data, "abcd-42-x");
    assert_int_equal(ksp_buf_append(&b, "\0z", 2), 0); /* NUL bytes kept */
    assert_int_equal(b.len, 11);
    assert_memory_equal(b.data, "abcd-42-x\0z", 11);
    assert_int_equal(b.data[11], '\0');
    ksp_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    ksp_buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    /* usable again after free */
    assert_int_equal(ksp_buf_puts(&b, "again"), 0);
    assert_string_equal(b.data, "again");
    ksp_buf_free(&b);
}

static void test_buf_growth(void **state)
{
    (void)state;
    ksp_buf b;
    ksp_buf_init(&b);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(ksp_buf_append(&b, i % 2 ? "b" : "a", 1), 0);
    assert_int_equal(b.len, 10000);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(b.data[i], i % 2 ? 'b' : 'a');
    assert_true(b.cap > b.len);
    /* one printf much larger than what is left */
    char big[5001];
    memset(big, 'q', 5000);
    big[5000] = '\0';
    ksp_buf_reset(&b);
    assert_int_equal(ksp_buf_printf(&b, "<%s>", big), 0);
    assert_int_equal(b.len, 5002);
    assert_int_equal(b.data[0], '<');
    assert_int_equal(b.data[5001], '>');
    assert_int_equal(b.data[5002], '\0');
    ksp_buf_free(&b);
}

static void test_buf_failure(void **state)
{
    (void)state;
    ksp_buf b;
    ksp_buf_init(&b);
    assert_int_equal(ksp_buf_puts(&b, "keep"), 0);
    /* a size that cannot be allocated: reported, contents kept, sticky */
    assert_int_equal(ksp_buf_append(&b, "x", SIZE_MAX - 2), KS_ENOMEM);
    assert_int_equal(b.failed, 1);
    assert_int_equal(b.len, 4);
    assert_string_equal(b.data, "keep");
    assert_int_equal(ksp_buf_puts(&b, "more"), KS_ENOMEM);
    assert_int_equal(ksp_buf_printf(&b, "%d", 1), KS_ENOMEM);
    assert_int_equal(ksp_format_pong(&b, KSP_MODE_TEXT), KS_ENOMEM);
    ksp_search_result r = { 1, 0, 2, NULL, 0 };
    assert_int_equal(ksp_format_search(&b, KSP_MODE_JSON, &r), KS_ENOMEM);
    assert_int_equal(b.len, 4);
    assert_string_equal(b.data, "keep");
    /* reset clears the failure */
    ksp_buf_reset(&b);
    assert_int_equal(ksp_format_pong(&b, KSP_MODE_TEXT), 0);
    assert_string_equal(b.data, "OK PONG\n");
    ksp_buf_free(&b);
}

/* ---- JSON string encoder ------------------------------------------------ */

typedef struct json_case {
    const char *name;  /* TAP test name */
    const char *in;    /* input bytes */
    size_t in_len;     /* input length */
    const char *out;   /* exact encoder output */
    const char *dec;   /* what a JSON parser must decode it to */
    size_t dec_len;    /* decoded length (may contain NUL) */
} json_case;

#define J(n, in, out, dec) { n, S(in), out, S(dec) }

static const json_case json_cases[] = {
    J("json empty", "", "\"\"", ""),
    J("json plain ASCII", "hello world", "\"hello world\"", "hello world"),
    J("json Korean", "카카오는 인공 지능", "\"카카오는 인공 지능\"", "카카오는 인공 지능"),
    J("json quote", "say \"hi\"", "\"say \\\"hi\\\"\"", "say \"hi\""),
    J("json backslash", "C:\\dir\\", "\"C:\\\\dir\\\\\"", "C:\\dir\\"),
    J("json slash kept", "a/b", "\"a/b\"", "a/b"),
    J("json LF CR TAB BS FF", "\n\r\t\b\f",
      "\"\\u000a\\u000d\\u0009\\u0008\\u000c\"", "\n\r\t\b\f"),
    J("json other controls", "\x01\x1f\x1b[0m\x7f", "\"\\u0001\\u001f\\u001b[0m\\u007f\"",
      "\x01\x1f\x1b[0m\x7f"),
    J("json embedded NUL", "a\0b", "\"a\\u0000b\"", "a\0b"),
    J("json only NULs", "\0\0", "\"\\u0000\\u0000\"", "\0\0"),
    J("json C1 control U+0085", "x\xC2\x85y", "\"x\\u0085y\"", "x\xC2\x85y"),
    J("json U+00A0 kept", "\xC2\xA0", "\"\xC2\xA0\"", "\xC2\xA0"),
    J("json U+2028 U+2029", "\xE2\x80\xA8\xE2\x80\xA9", "\"\\u2028\\u2029\"",
      "\xE2\x80\xA8\xE2\x80\xA9"),
    J("json 4-byte emoji", "\xF0\x9F\x98\x80", "\"\xF0\x9F\x98\x80\"", "\xF0\x9F\x98\x80"),
    J("json U+10FFFF", "\xF4\x8F\xBF\xBF", "\"\xF4\x8F\xBF\xBF\"", "\xF4\x8F\xBF\xBF"),
    J("json U+FFFD itself", FFFD, "\"" FFFD "\"", FFFD),
    J("json FF byte", "a\xFF" "b", "\"a" FFFD "b\"", "a" FFFD "b"),
    J("json lone continuation", "\x80", "\"" FFFD "\"", FFFD),
    J("json overlong 2-byte NUL", "a\xC0\x80" "b", "\"a" FFFD FFFD "b\"",
      "a" FFFD FFFD "b"),
    J("json overlong 3-byte", "\xE0\x80\xAF", "\"" FFFD FFFD FFFD "\"", FFFD FFFD FFFD),
    J("json surrogate", "\xED\xA0\x80", "\"" FFFD FFFD FFFD "\"", FFFD FFFD FFFD),
    J("json above U+10FFFF", "\xF4\x90\x80\x80", "\"" FFFD FFFD FFFD FFFD "\"",
      FFFD FFFD FFFD FFFD),
    J("json truncated 3-byte at end", "ok\xEC\x95", "\"ok" FFFD "\"", "ok" FFFD),
    J("json truncated 3-byte before quote", "\xEC\x95\"", "\"" FFFD "\\\"\"",
      FFFD "\""),
    J("json truncated 4-byte", "\xF0\x9F\x98", "\"" FFFD "\"", FFFD),
    J("json truncated then NUL", "\xEC\0", "\"" FFFD "\\u0000\"", FFFD "\0"),
    J("json Latin-1", "caf\xE9", "\"caf" FFFD "\"", "caf" FFFD),
    J("json hostile mix", "</script>\"\\\x00\x1f\xFE",
      "\"</script>\\\"\\\\\\u0000\\u001f" FFFD "\"", "</script>\"\\\0\x1f" FFFD),
};

#undef J

static void run_json_case(void **state)
{
    const json_case *c = *state;
    /* exact-size heap copy so ASan sees any overread */
    char *in = malloc(c->in_len ? c->in_len : 1);
    assert_non_null(in);
    memcpy(in, c->in, c->in_len);
    ksp_buf b;
    ksp_buf_init(&b);
    assert_int_equal(ksp_json_string(&b, in, c->in_len), 0);
    assert_int_equal(b.len, strlen(c->out));
    assert_memory_equal(b.data, c->out, b.len);

    json_error_t jerr;
    json_t *v = json_loadb(b.data, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!v)
        fail_msg("jansson rejects %s: %s", b.data, jerr.text);
    assert_true(json_is_string(v));
    assert_int_equal(json_string_length(v), c->dec_len);
    assert_memory_equal(json_string_value(v), c->dec, c->dec_len);
    json_decref(v);
    ksp_buf_free(&b);
    free(in);
}

/* Every single byte value and every byte pair: the output always parses,
 * and valid UTF-8 input decodes back to itself. */
static void test_json_all_bytes(void **state)
{
    (void)state;
    ksp_buf b;
    ksp_buf_init(&b);
    for (unsigned x = 0; x < 256; x++) {
        for (unsigned y = 0; y < 256; y++) {
            char in[2] = { (char)x, (char)y };
            ksp_buf_reset(&b);
            assert_int_equal(ksp_json_string(&b, in, 2), 0);
            json_error_t jerr;
            json_t *v = json_loadb(b.data, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL,
                                   &jerr);
            if (!v)
                fail_msg("bytes %02x %02x: jansson rejects %s", x, y, b.data);
            int valid = (x < 0x80 && y < 0x80) ||
                        (x >= 0xC2 && x <= 0xDF && y >= 0x80 && y <= 0xBF);
            if (valid) {
                assert_int_equal(json_string_length(v), 2);
                assert_memory_equal(json_string_value(v), in, 2);
            }
            json_decref(v);
        }
    }
    ksp_buf_free(&b);
}

/* ---- text-mode sanitising ---------------------------------------------- */

typedef struct text_case {
    const char *name;  /* TAP test name */
    const char *in;    /* input bytes */
    size_t in_len;     /* input length */
    int token;         /* token mode */
    const char *out;   /* expected output */
} text_case;

#define T(n, in, tok, out) { n, S(in), tok, out }

static const text_case text_cases[] = {
    T("text plain", "카카오 뉴스", 0, "카카오 뉴스"),
    T("text tab CR LF become spaces", "a\tb\rc\nd", 0, "a b c d"),
    T("text CRLF becomes two spaces", "a\r\nb", 0, "a  b"),
    T("text other controls", "\x01x\x1b[1m\x7f", 0, " x [1m "),
    T("text NUL", "a\0b", 0, "a b"),
    T("text C1 control", "a\xC2\x9B" "b", 0, "a b"),
    T("text invalid UTF-8", "a\xFF\xC0\x80" "b", 0, "a" FFFD FFFD FFFD "b"),
    T("text truncated tail", "가\xEA\xB0", 0, "가" FFFD),
    T("text empty", "", 0, ""),
    T("text token spaces", "p50 ms", 1, "p50_ms"),
    T("text token tab", "a\tb", 1, "a_b"),
    T("text token empty", "", 1, "-"),
    T("text token Korean", "제목", 1, "제목"),
};

#undef T

static void run_text_case(void **state)
{
    const text_case *c = *state;
    ksp_buf b;
    ksp_buf_init(&b);
    assert_int_equal(ksp_text_field(&b, c->in, c->in_len, c->token), 0);
    assert_int_equal(b.len, strlen(c->out));
    assert_memory_equal(b.data, c->out, b.len);
    ksp_buf_free(&b);
}

/* ---- replies ------------------------------------------------------------ */

/* Formats into a fresh buffer and compares with want; in JSON mode also
 * checks that the reply is one line that jansson parses as an object. */
static void check_reply(const ksp_buf *b, ksp_mode m, const char *want)
{
    if (strcmp(b->data, want) != 0)
        fail_msg("got  <%s>\nwant <%s>", b->data, want);
    assert_int_equal(b->len, strlen(want));
    if (m == KSP_MODE_JSON) {
        assert_int_equal(b->data[b->len - 1], '\n');
        assert_null(memchr(b->data, '\n', b->len - 1));
        json_error_t jerr;
        json_t *v = json_loadb(b->data, b->len, 0, &jerr);
        if (!v)
            fail_msg("jansson rejects %s: %s", b->data, jerr.text);
        assert_true(json_is_object(v));
        assert_true(json_is_boolean(json_object_get(v, "ok")));
        json_decref(v);
    }
}

static void test_reply_error(void **state)
{
    (void)state;
    ksp_buf b;
    ksp_buf_init(&b);
    ksp_error e;
    ksp_error_set(&e, KSP_ERR_BAD_REQUEST, 0, "empty request");
    ksp_format_error(&b, KSP_MODE_TEXT, &e);
    check_reply(&b, KSP_MODE_TEXT, "ERR BAD_REQUEST empty request\n");
    ksp_buf_reset(&b);
    ksp_format_error(&b, KSP_MODE_JSON, &e);
    check_reply(&b, KSP_MODE_JSON,
                "{\"ok\":false,\"error\":\"BAD_REQUEST\",\"message\":\"empty request\"}\n");

    ksp_buf_reset(&b);
    ksp_error_set(&e, KSP_ERR_LINE_TOO_LONG, 1, "request longer than %d bytes", 8192);
    ksp_format_error(&b, KSP_MODE_JSON, &e);
    check_reply(&b, KSP_MODE_JSON,
                "{\"ok\":false,\"error\":\"LINE_TOO_LONG\",\"message\":"
                "\"request longer than 8192 bytes\",\"close\":true}\n");
    ksp_buf_reset(&b);
    ksp_format_error(&b, KSP_MODE_TEXT, &e);
    check_reply(&b, KSP_MODE_TEXT, "ERR LINE_TOO_LONG request longer than 8192 bytes\n");

    /* a hand-built error with hostile bytes in the message */
    memset(&e, 0, sizeof e);
    e.code = KSP_ERR_NOT_FOUND;
    memcpy(e.message, "no \"x\"\tin\n\xFF", 12); /* with its NUL */
    ksp_buf_reset(&b);
    ksp_format_error(&b, KSP_MODE_TEXT, &e);
    check_reply(&b, KSP_MODE_TEXT, "ERR NOT_FOUND no \"x\" in " FFFD "\n");
    ksp_buf_reset(&b);
    ksp_format_error(&b, KSP_MODE_JSON, &e);
    check_reply(&b, KSP_MODE_JSON,
                "{\"ok\":false,\"error\":\"NOT_FOUND\",\"message\":"
                "\"no \\\"x\\\"\\u0009in\\u000a" FFFD "\"}\n");

    /* no message; and KSP_ERR_NONE is never sent as an empty code */
    memset(&e, 0, sizeof e);
    e.code = KSP_ERR_FORBIDDEN;
    ksp_buf_reset(&b);
    ksp_format_error(&b, KSP_MODE_TEXT, &e);
    check_reply(&b, KSP_MODE_TEXT, "ERR FORBIDDEN\n");
    e.code = KSP_ERR_NONE;
    ksp_buf_reset(&b);
    ksp_format_error(&b, KSP_MODE_TEXT, &e);
    check_reply(&b, KSP_MODE_TEXT, "ERR INTERNAL\n");
    ksp_buf_free(&b);
}

static void test_reply_simple(void **state)
{
    (void)state;
    ksp_buf b;
    ksp_buf_init(&b);
    struct { int which; ksp_mode m; const char *want; } rows[] = {
        { 0, KSP_MODE_TEXT, "OK PONG\n" },
        { 0, KSP_MODE_JSON, "{\"ok\":true,\"pong\":true}\n" },
        { 1, KSP_MODE_TEXT, "OK BYE\n" },
        { 1, KSP_MODE_JSON, "{\"ok\":true,\"bye\":true}\n" },
        { 2, KSP_MODE_TEXT, "OK FORMAT text\n" },
        { 2, KSP_MODE_JSON, "{\"ok\":true,\"format\":\"json\"}\n" },
        { 3, KSP_MODE_TEXT, "OK 42\n" },
        { 3, KSP_MODE_JSON, "{\"ok\":true,\"count\":42,\"estimate\":false}\n" },
        { 4, KSP_MODE_TEXT, "OK 9000000000 ~\n" },
        { 4, KSP_MODE_JSON, "{\"ok\":true,\"count\":9000000000,\"estimate\":true}\n" },
        { 7, KSP_MODE_TEXT, "OK 18446744073709551615\n" },
        { 5, KSP_MODE_TEXT, "OK RELOADED r17_b\n" },
        { 5, KSP_MODE_JSON, "{\"ok\":true,\"reloaded\":true,\"revision\":\"r17 b\"}\n" },
        { 6, KSP_MODE_TEXT, "OK RELOADED -\n" },
        { 6, KSP_MODE_JSON, "{\"ok\":true,\"reloaded\":true,\"revision\":\"\"}\n" },
        { 8, KSP_MODE_TEXT, "OK AUTHENTICATED\n" },
        { 8, KSP_MODE_JSON, "{\"ok\":true,\"authenticated\":true}\n" },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        ksp_buf_reset(&b);
        int rc = 0;
        switch (rows[i].which) {
        case 0: rc = ksp_format_pong(&b, rows[i].m); break;
        case 1: rc = ksp_format_bye(&b, rows[i].m); break;
        case 2: rc = ksp_format_format(&b, rows[i].m); break;
        case 3: rc = ksp_format_count(&b, rows[i].m, 42, 0); break;
        case 4: rc = ksp_format_count(&b, rows[i].m, 9000000000u, 1); break;
        case 7: rc = ksp_format_count(&b, rows[i].m, UINT64_MAX, 0); break;
        case 5: rc = ksp_format_reloaded(&b, rows[i].m, "r17 b", 5); break;
        case 6: rc = ksp_format_reloaded(&b, rows[i].m, NULL, 3); break;
        case 8: rc = ksp_format_authenticated(&b, rows[i].m); break;
        }
        assert_int_equal(rc, 0);
        check_reply(&b, rows[i].m, rows[i].want);
    }
    ksp_buf_free(&b);
}

static const ksp_hit two_hits[] = {
    { 1, 1.5, { S("doc-1") }, { S("카카오 뉴스") }, { S("[카카오]는 오늘") } },
    { 2, 0.25, { S("doc\t2") }, { S("a\nb\r\nc") }, { S("x\"\\\x01") } },
};

static void test_reply_search(void **state)
{
    (void)state;
    ksp_buf b;
    ksp_buf_init(&b);
    ksp_search_result r = { 1234, 1, 567, two_hits, 2 };
    assert_int_equal(ksp_format_search(&b, KSP_MODE_TEXT, &r), 0);
    check_reply(&b, KSP_MODE_TEXT,
                "OK 1234 2 567 ~\n"
                "HIT 1\t1.5\tdoc-1\t카카오 뉴스\t[카카오]는 오늘\n"
                "HIT 2\t0.25\tdoc 2\ta b  c\tx\"\\ \n"
                "END\n");
    ksp_buf_reset(&b);
    assert_int_equal(ksp_format_search(&b, KSP_MODE_JSON, &r), 0);
    check_reply(&b, KSP_MODE_JSON,
                "{\"ok\":true,\"total\":1234,\"estimate\":true,\"returned\":2,"
                "\"took_us\":567,\"hits\":["
                "{\"rank\":1,\"score\":1.5,\"id\":\"doc-1\",\"title\":\"카카오 뉴스\","
                "\"snippet\":\"[카카오]는 오늘\"},"
                "{\"rank\":2,\"score\":0.25,\"id\":\"doc\\u00092\","
                "\"title\":\"a\\u000ab\\u000d\\u000ac\",\"snippet\":\"x\\\"\\\\\\u0001\"}"
                "]}\n");

    /* parse back: the values survive */
    json_t *v = json_loadb(b.data, b.len, 0, NULL);
    assert_non_null(v);
    json_t *hits = json_object_get(v, "hits");
    assert_int_equal(json_array_size(hits), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(hits, 1),
                                                          "title")), "a\nb\r\nc");
    assert_true(json_real_value(json_object_get(json_array_get(hits, 1), "score"))
                == 0.25);
    json_decref(v);

    /* no hits, exact total */
    ksp_search_result none = { 0, 0, 12, NULL, 0 };
    ksp_buf_reset(&b);
    ksp_format_search(&b, KSP_MODE_TEXT, &none);
    check_reply(&b, KSP_MODE_TEXT, "OK 0 0 12\nEND\n");
    ksp_buf_reset(&b);
    ksp_format_search(&b, KSP_MODE_JSON, &none);
    check_reply(&b, KSP_MODE_JSON,
                "{\"ok\":true,\"total\":0,\"estimate\":false,\"returned\":0,"
                "\"took_us\":12,\"hits\":[]}\n");
    ksp_buf_free(&b);
}

static void test_reply_scores(void **state)
{
    (void)state;
    struct { double score; const char *text; } rows[] = {
        { 12.3456789, "12.3457" }, { 0.0, "0" }, { -2.5, "-2.5" },
        { 1e-7, "1e-07" }, { 123456789.0, "1.23457e+08" },
        { NAN, "0" }, { INFINITY, "0" }, { -INFINITY, "0" },
    };
    ksp_buf b;
    ksp_buf_init(&b);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        ksp_hit h = { 7, rows[i].score, { S("i") }, { S("") }, { S("") } };
        ksp_search_result r = { 1, 0, 0, &h, 1 };
        char want[256];
        ksp_buf_reset(&b);
        ksp_format_search(&b, KSP_MODE_TEXT, &r);
        snprintf(want, sizeof want, "OK 1 1 0\nHIT 7\t%s\ti\t\t\nEND\n", rows[i].text);
        check_reply(&b, KSP_MODE_TEXT, want);
        ksp_buf_reset(&b);
        ksp_format_search(&b, KSP_MODE_JSON, &r);
        snprintf(want, sizeof want,
                 "{\"ok\":true,\"total\":1,\"estimate\":false,\"returned\":1,"
                 "\"took_us\":0,\"hits\":[{\"rank\":7,\"score\":%s,\"id\":\"i\","
                 "\"title\":\"\",\"snippet\":\"\"}]}\n", rows[i].text);
        check_reply(&b, KSP_MODE_JSON, want);
    }
    ksp_buf_free(&b);
}

static const ksp_kv fields[] = {
    { .key = "title", .type = KSP_VAL_STR, .str = "카카오", .str_len = 9 },
    { .key = "body", .type = KSP_VAL_STR, .str = "a\nb\tc", .str_len = 5 },
    { .key = "year", .type = KSP_VAL_INT, .i = 2024 },
};

static void test_reply_fields(void **state)
{
    (void)state;
    ksp_buf b;
    ksp_buf_init(&b);
    ksp_str id = { S("doc-1") };
    ksp_format_fields(&b, KSP_MODE_TEXT, id, fields, 3);
    check_reply(&b, KSP_MODE_TEXT,
                "OK\nFIELD title\t카카오\nFIELD body\ta b c\nFIELD year\t2024\nEND\n");
    ksp_buf_reset(&b);
    ksp_format_fields(&b, KSP_MODE_JSON, id, fields, 3);
    check_reply(&b, KSP_MODE_JSON,
                "{\"ok\":true,\"id\":\"doc-1\",\"fields\":{\"title\":\"카카오\","
                "\"body\":\"a\\u000ab\\u0009c\",\"year\":2024}}\n");
    ksp_buf_reset(&b);
    ksp_format_fields(&b, KSP_MODE_JSON, (ksp_str){ NULL, 0 }, NULL, 0);
    check_reply(&b, KSP_MODE_JSON, "{\"ok\":true,\"fields\":{}}\n");
    ksp_buf_reset(&b);
    ksp_format_fields(&b, KSP_MODE_TEXT, (ksp_str){ NULL, 0 }, NULL, 0);
    check_reply(&b, KSP_MODE_TEXT, "OK\nEND\n");
    ksp_buf_free(&b);
}

static void test_reply_info_stats(void **state)
{
    (void)state;
    const ksp_kv kv[] = {
        { .key = "documents", .type = KSP_VAL_UINT, .u = 42 },
        { .key = "engine", .type = KSP_VAL_STR, .str = "kosearch 0.1", .str_len = 12 },
        { .key = "delta", .type = KSP_VAL_INT, .i = INT64_MIN },
        { .key = "p50 ms", .type = KSP_VAL_DOUBLE, .d = 0.5 },
        { .key = "note", .type = KSP_VAL_STR, .str = NULL, .str_len = 4 },
    };
    ksp_buf b;
    ksp_buf_init(&b);
    ksp_format_info(&b, KSP_MODE_TEXT, kv, 5);
    check_reply(&b, KSP_MODE_TEXT,
                "OK\nINFO documents 42\nINFO engine kosearch 0.1\n"
                "INFO delta -9223372036854775808\nINFO p50_ms 0.5\nINFO note \nEND\n");
    ksp_buf_reset(&b);
    ksp_format_info(&b, KSP_MODE_JSON, kv, 5);
    check_reply(&b, KSP_MODE_JSON,
                "{\"ok\":true,\"info\":{\"documents\":42,\"engine\":\"kosearch 0.1\","
                "\"delta\":-9223372036854775808,\"p50 ms\":0.5,\"note\":\"\"}}\n");
    ksp_buf_reset(&b);
    ksp_format_stats(&b, KSP_MODE_TEXT, kv, 2);
    check_reply(&b, KSP_MODE_TEXT,
                "OK\nSTAT documents 42\nSTAT engine kosearch 0.1\nEND\n");
    ksp_buf_reset(&b);
    ksp_format_stats(&b, KSP_MODE_JSON, kv, 2);
    check_reply(&b, KSP_MODE_JSON,
                "{\"ok\":true,\"stats\":{\"documents\":42,\"engine\":\"kosearch 0.1\"}}\n");
    ksp_buf_free(&b);
}

/* Splits a text reply into its lines (without LF); returns the count. */
static size_t split_lines(const char *s, const char **lines, size_t max)
{
    size_t n = 0;
    while (*s && n < max) {
        lines[n++] = s;
        const char *lf = strchr(s, '\n');
        if (!lf)
            break;
        s = lf + 1;
    }
    return n;
}

static void test_reply_help(void **state)
{
    (void)state;
    ksp_buf t, j;
    ksp_buf_init(&t);
    ksp_buf_init(&j);
    for (int topic = 0; topic < KSP_CMD_COUNT_ALL; topic++) {
        ksp_buf_reset(&t);
        ksp_buf_reset(&j);
        assert_int_equal(ksp_format_help(&t, KSP_MODE_TEXT, (ksp_cmd)topic), 0);
        assert_int_equal(ksp_format_help(&j, KSP_MODE_JSON, (ksp_cmd)topic), 0);
        const char *lines[64];
        size_t n = split_lines(t.data, lines, 64);
        assert_true(n >= 3);
        assert_memory_equal(lines[0], "OK\n", 3);
        assert_memory_equal(lines[n - 1], "END\n", 4);
        assert_int_equal(t.data[t.len - 1], '\n');
        for (size_t i = 1; i + 1 < n; i++) {
            assert_false(strncmp(lines[i], "END\n", 4) == 0);
            assert_null(memchr(lines[i], '\t', (size_t)(strchr(lines[i], '\n') - lines[i])));
        }
        json_t *v = json_loadb(j.data, j.len, 0, NULL);
        assert_non_null(v);
        json_t *arr = json_object_get(v, "help");
        assert_int_equal(json_array_size(arr), n - 2);
        /* the same lines in both modes */
        for (size_t i = 1; i + 1 < n; i++) {
            const char *s = json_string_value(json_array_get(arr, i - 1));
            size_t l = (size_t)(strchr(lines[i], '\n') - lines[i]);
            assert_int_equal(strlen(s), l);
            assert_memory_equal(s, lines[i], l);
        }
        /* the topic's own command name appears in its help */
        if (topic != KSP_CMD_NONE)
            assert_non_null(strstr(t.data, ksp_cmd_name((ksp_cmd)topic)));
        json_decref(v);
    }
    /* the overview lists every command */
    ksp_buf_reset(&t);
    ksp_format_help(&t, KSP_MODE_TEXT, KSP_CMD_NONE);
    for (int c = 1; c < KSP_CMD_COUNT_ALL; c++)
        assert_non_null(strstr(t.data, ksp_cmd_name((ksp_cmd)c)));
    ksp_buf_reset(&t);
    ksp_format_help(&t, KSP_MODE_TEXT, KSP_CMD_SEARCH);
    assert_memory_equal(t.data, "OK\nSEARCH [limit=N] [offset=N] [hl=OPEN,CLOSE] [--] <query>\n",
                        strlen("OK\nSEARCH [limit=N] [offset=N] [hl=OPEN,CLOSE] [--] <query>\n"));
    ksp_buf_free(&t);
    ksp_buf_free(&j);
}

/* Replies append: two replies in one buffer stay separate and whole. */
static void test_reply_append(void **state)
{
    (void)state;
    ksp_buf b;
    ksp_buf_init(&b);
    ksp_format_pong(&b, KSP_MODE_TEXT);
    ksp_format_count(&b, KSP_MODE_TEXT, 3, 0);
    ksp_format_pong(&b, KSP_MODE_JSON);
    check_reply(&b, KSP_MODE_TEXT, "OK PONG\nOK 3\n{\"ok\":true,\"pong\":true}\n");
    ksp_buf_free(&b);
}

int main(void)
{
    static const struct CMUnitTest fixed[] = {
        cmocka_unit_test(test_buf_basics),
        cmocka_unit_test(test_buf_growth),
        cmocka_unit_test(test_buf_failure),
        cmocka_unit_test(test_json_all_bytes),
        cmocka_unit_test(test_reply_error),
        cmocka_unit_test(test_reply_simple),
        cmocka_unit_test(test_reply_search),
        cmocka_unit_test(test_reply_scores),
        cmocka_unit_test(test_reply_fields),
        cmocka_unit_test(test_reply_info_stats),
        cmocka_unit_test(test_reply_help),
        cmocka_unit_test(test_reply_append),
    };
    size_t nj = sizeof json_cases / sizeof json_cases[0];
    size_t nt = sizeof text_cases / sizeof text_cases[0];
    size_t nf = sizeof fixed / sizeof fixed[0];
    struct CMUnitTest *tests = calloc(nj + nt + nf, sizeof *tests);
    if (!tests)
        return 1;
    size_t k = 0;
    for (size_t i = 0; i < nj; i++, k++) {
        tests[k].name = json_cases[i].name;
        tests[k].test_func = run_json_case;
        tests[k].initial_state = (void *)&json_cases[i];
    }
    for (size_t i = 0; i < nt; i++, k++) {
        tests[k].name = text_cases[i].name;
        tests[k].test_func = run_text_case;
        tests[k].initial_state = (void *)&text_cases[i];
    }
    memcpy(tests + k, fixed, sizeof fixed);
    int failed = _cmocka_run_group_tests("proto_format", tests, nj + nt + nf, NULL, NULL);
    free(tests);
    return failed ? 1 : 0;
}
