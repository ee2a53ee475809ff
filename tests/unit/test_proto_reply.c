/* Unit tests for proto/ksp_reply.c: a pipelined stream of hand-written
 * replies fed byte by byte, in odd chunks and all at once; reader errors
 * and limits; SEARCH status and HIT line parsing; a round trip through the
 * formatter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ksp_format.h"
#include "ksp_reply.h"

/* What one reply of the stream must look like. */
typedef struct want_reply {
    ksp_mode mode;          /* expected mode */
    int ok;                 /* expected ok flag */
    int multiline;          /* expected multiline flag */
    const char *raw;        /* exact raw bytes */
    const char *status;     /* status line */
    const char *code;       /* ERR code word ("" if none) */
    const char *message;    /* text ERR message ("" if none) */
    size_t nlines;          /* body lines */
    const char *lines[4];   /* the first body lines */
} want_reply;

static const want_reply stream[] = {
    { KSP_MODE_TEXT, 1, 0, "OK PONG\n", "OK PONG", "", "", 0, { NULL } },
    { KSP_MODE_TEXT, 1, 1,
      "OK 120 2 345 ~\nHIT 1\t2.5\tdoc-1\t제목\t[카카오]는\nHIT 2\t1\td2\t\t\nEND\n",
      "OK 120 2 345 ~", "", "", 2,
      { "HIT 1\t2.5\tdoc-1\t제목\t[카카오]는", "HIT 2\t1\td2\t\t" } },
    { KSP_MODE_TEXT, 0, 0, "ERR BAD_REQUEST SEARCH needs a query\n",
      "ERR BAD_REQUEST SEARCH needs a query", "BAD_REQUEST", "SEARCH needs a query",
      0, { NULL } },
    { KSP_MODE_TEXT, 0, 0, "ERR FORBIDDEN\n", "ERR FORBIDDEN", "FORBIDDEN", "", 0,
      { NULL } },
    { KSP_MODE_TEXT, 1, 1, "OK\nFIELD title\t카카오\nFIELD END\tnot the end\nEND\n",
      "OK", "", "", 2, { "FIELD title\t카카오", "FIELD END\tnot the end" } },
    { KSP_MODE_TEXT, 1, 1, "OK\nEND\n", "OK", "", "", 0, { NULL } },
    { KSP_MODE_TEXT, 1, 0, "OK 7 ~\n", "OK 7 ~", "", "", 0, { NULL } },
    { KSP_MODE_TEXT, 1, 0, "OK 7\n", "OK 7", "", "", 0, { NULL } },
    { KSP_MODE_TEXT, 1, 0, "OK RELOADED 12\n", "OK RELOADED 12", "", "", 0, { NULL } },
    { KSP_MODE_TEXT, 1, 0, "OK 1 2 3 x\n", "OK 1 2 3 x", "", "", 0, { NULL } },
    { KSP_MODE_JSON, 1, 0, "{\"ok\":true,\"format\":\"json\"}\n",
      "{\"ok\":true,\"format\":\"json\"}", "", "", 0, { NULL } },
    { KSP_MODE_JSON, 0, 0,
      "{\"ok\":false,\"error\":\"NOT_FOUND\",\"message\":\"no doc\"}\n",
      "{\"ok\":false,\"error\":\"NOT_FOUND\",\"message\":\"no doc\"}", "NOT_FOUND", "",
      0, { NULL } },
    { KSP_MODE_JSON, 1, 0, "{\"ok\":true,\"total\":0,\"hits\":[]}\r\n",
      "{\"ok\":true,\"total\":0,\"hits\":[]}", "", "", 0, { NULL } },
    { KSP_MODE_TEXT, 1, 0, "OK FORMAT text\n", "OK FORMAT text", "", "", 0, { NULL } },
    { KSP_MODE_TEXT, 1, 1, "OK\r\nINFO documents 3\r\nEND\r\n", "OK", "", "", 1,
      { "INFO documents 3" } },
    { KSP_MODE_TEXT, 1, 1, "OK 0 0 9\nEND\n", "OK 0 0 9", "", "", 0, { NULL } },
};

#define NSTREAM (sizeof stream / sizeof stream[0])

static void assert_str(ksp_str got, const char *want)
{
    size_t wl = strlen(want);
    if (got.len != wl || (wl && memcmp(got.ptr, want, wl) != 0))
        fail_msg("got '%.*s', want '%s'", (int)got.len, got.ptr ? got.ptr : "", want);
}

static void check(const ksp_reply *r, const want_reply *w)
{
    assert_int_equal(r->mode, w->mode);
    assert_int_equal(r->ok, w->ok);
    assert_int_equal(r->multiline, w->multiline);
    assert_str(r->raw, w->raw);
    assert_str(r->status, w->status);
    assert_str(r->code, w->code);
    assert_str(r->message, w->message);
    assert_int_equal(r->nlines, w->nlines);
    for (size_t i = 0; i < w->nlines && i < 4; i++)
        assert_str(r->lines[i], w->lines[i]);
    if (!w->multiline)
        assert_null(r->lines);
}

/* Feeds the whole stream in chunks of `chunk` bytes, checking every reply
 * as soon as it is complete. */
static void feed_stream(size_t chunk)
{
    ksp_buf all;
    ksp_buf_init(&all);
    for (size_t i = 0; i < NSTREAM; i++)
        ksp_buf_puts(&all, stream[i].raw);

    ksp_reader r;
    ksp_reader_init(&r, 0);
    size_t got = 0;
    for (size_t off = 0; off < all.len; off += chunk) {
        size_t n = all.len - off < chunk ? all.len - off : chunk;
        assert_int_equal(ksp_reader_feed(&r, all.data + off, n), 0);
        for (;;) {
            ksp_reply rep;
            int ready = -1;
            assert_int_equal(ksp_reader_next(&r, &rep, &ready), 0);
            if (!ready)
                break;
            assert_true(got < NSTREAM);
            check(&rep, &stream[got]);
            got++;
            /* a reply is complete exactly when its last byte arrived */
        }
    }
    assert_int_equal(got, NSTREAM);
    assert_int_equal(ksp_reader_pending(&r), 0);
    ksp_reader_free(&r);
    ksp_buf_free(&all);
}

static void test_stream_byte_by_byte(void **state)
{
    (void)state;
    feed_stream(1);
}

static void test_stream_chunks(void **state)
{
    (void)state;
    feed_stream(3);
    feed_stream(7);
    feed_stream(64);
}

static void test_stream_at_once(void **state)
{
    (void)state;
    feed_stream(1u << 20);
}

/* A reply is not handed out before its END line arrives. */
static void test_partial(void **state)
{
    (void)state;
    ksp_reader r;
    ksp_reader_init(&r, 0);
    ksp_reply rep;
    int ready;
    const char *part = "OK 1 1 5\nHIT 1\t1\ta\tb\tc\nEN";
    ksp_reader_feed(&r, part, strlen(part));
    assert_int_equal(ksp_reader_next(&r, &rep, &ready), 0);
    assert_int_equal(ready, 0);
    assert_int_equal(ksp_reader_pending(&r), strlen(part));
    ksp_reader_feed(&r, "D\nOK PO", 7);
    assert_int_equal(ksp_reader_next(&r, &rep, &ready), 0);
    assert_int_equal(ready, 1);
    assert_int_equal(rep.nlines, 1);
    assert_str(rep.lines[0], "HIT 1\t1\ta\tb\tc");
    assert_int_equal(ksp_reader_next(&r, &rep, &ready), 0);
    assert_int_equal(ready, 0);
    assert_int_equal(ksp_reader_pending(&r), 5);
    ksp_reader_free(&r);
}

static void expect_error(const char *bytes, size_t max_reply, int want_rc)
{
    ksp_reader r;
    ksp_reader_init(&r, max_reply);
    ksp_reply rep;
    int ready = -1;
    assert_int_equal(ksp_reader_feed(&r, bytes, strlen(bytes)), 0);
    int rc = 0;
    /* skip good replies before the bad one */
    while ((rc = ksp_reader_next(&r, &rep, &ready)) == 0 && ready)
        ;
    assert_int_equal(rc, want_rc);
    assert_int_equal(ready, 0);
    /* the reader stays broken */
    assert_int_equal(ksp_reader_next(&r, &rep, &ready), KS_EINVAL);
    assert_int_equal(ksp_reader_feed(&r, "OK\n", 3), KS_EINVAL);
    ksp_reader_free(&r);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("HELLO\n", 0, KS_EINVAL);
    expect_error("OK PONG\nhello\n", 0, KS_EINVAL);
    expect_error("\n", 0, KS_EINVAL);
    expect_error("OKAY\n", 0, KS_EINVAL);
    expect_error("ERRNO\n", 0, KS_EINVAL);
    expect_error("{\"result\":1}\n", 0, KS_EINVAL);
    expect_error("{ \"ok\":true}\n", 0, KS_EINVAL);
    /* 20-byte limit: a 21-byte body, a line without LF past the limit */
    expect_error("OK\nFIELD a\t0123456789\nEND\n", 20, KS_ETOOBIG);
    expect_error("OK PONG\nOK 0123456789012345678901", 20, KS_ETOOBIG);
}

static void test_max_reply_exact(void **state)
{
    (void)state;
    /* a reply of exactly max_reply bytes is accepted */
    ksp_reader r;
    ksp_reader_init(&r, 8);
    ksp_reply rep;
    int ready;
    ksp_reader_feed(&r, "OK\nEND\n", 7);
    assert_int_equal(ksp_reader_next(&r, &rep, &ready), 0);
    assert_int_equal(ready, 1);
    ksp_reader_feed(&r, "OK 1234\n", 8);
    assert_int_equal(ksp_reader_next(&r, &rep, &ready), 0);
    assert_int_equal(ready, 1);
    assert_str(rep.status, "OK 1234");
    ksp_reader_free(&r);
}

typedef struct status_case {
    const char *in;          /* status line */
    int rc;                  /* expected return */
    uint64_t total, returned, took; /* expected numbers */
    int estimate;            /* expected marker */
} status_case;

static void test_search_status(void **state)
{
    (void)state;
    static const status_case sc[] = {
        { "OK 12 3 456", 0, 12, 3, 456, 0 },
        { "OK 12 3 456 ~", 0, 12, 3, 456, 1 },
        { "OK 0 0 0", 0, 0, 0, 0, 0 },
        { "OK 18446744073709551615 1 2", 0, UINT64_MAX, 1, 2, 0 },
        { "OK 18446744073709551616 1 2", KS_EINVAL, 0, 0, 0, 0 },
        { "OK 12 3", KS_EINVAL, 0, 0, 0, 0 },
        { "OK 12 3 ", KS_EINVAL, 0, 0, 0, 0 },
        { "OK 1 2 3 x", KS_EINVAL, 0, 0, 0, 0 },
        { "OK 1 2 3 ~~", KS_EINVAL, 0, 0, 0, 0 },
        { "OK 1  2 3", KS_EINVAL, 0, 0, 0, 0 },
        { "OK a b c", KS_EINVAL, 0, 0, 0, 0 },
        { "OK -1 2 3", KS_EINVAL, 0, 0, 0, 0 },
        { "ERR 1 2 3", KS_EINVAL, 0, 0, 0, 0 },
        { "OK", KS_EINVAL, 0, 0, 0, 0 },
    };
    for (size_t i = 0; i < sizeof sc / sizeof sc[0]; i++) {
        ksp_search_status st = { 9, 9, 9, 9 };
        int rc = ksp_parse_search_status((ksp_str){ sc[i].in, strlen(sc[i].in) }, &st);
        if (rc != sc[i].rc)
            fail_msg("'%s': rc %d, want %d", sc[i].in, rc, sc[i].rc);
        if (rc == 0) {
            assert_int_equal(st.total, sc[i].total);
            assert_int_equal(st.returned, sc[i].returned);
            assert_int_equal(st.took_us, sc[i].took);
            assert_int_equal(st.estimate, sc[i].estimate);
        }
    }
}

typedef struct hit_case {
    const char *in;        /* HIT line */
    int rc;                /* expected return */
    uint64_t rank;         /* expected rank */
    double score;          /* expected score */
    const char *id, *title, *snippet; /* expected fields */
} hit_case;

static void test_parse_hit(void **state)
{
    (void)state;
    static const hit_case hc[] = {
        { "HIT 1\t2.5\tdoc-1\t제목\t[카카오]는", 0, 1, 2.5, "doc-1", "제목", "[카카오]는" },
        { "HIT 11\t1e-07\ta\t\t", 0, 11, 1e-7, "a", "", "" },
        { "HIT 3\t-0.125\t\tt\ts", 0, 3, -0.125, "", "t", "s" },
        { "HIT 1\t2.5\tdoc-1\ttitle", KS_EINVAL, 0, 0, NULL, NULL, NULL },
        { "HIT 1\t2.5\tdoc-1\tt\ts\textra", KS_EINVAL, 0, 0, NULL, NULL, NULL },
        { "HIT x\t2.5\ta\tb\tc", KS_EINVAL, 0, 0, NULL, NULL, NULL },
        { "HIT 1\tabc\ta\tb\tc", KS_EINVAL, 0, 0, NULL, NULL, NULL },
        { "HIT 1\t\ta\tb\tc", KS_EINVAL, 0, 0, NULL, NULL, NULL },
        { "HIT 1\t1.5.5\ta\tb\tc", KS_EINVAL, 0, 0, NULL, NULL, NULL },
        { "HITS 1\t1\ta\tb\tc", KS_EINVAL, 0, 0, NULL, NULL, NULL },
        { "FIELD a\tb", KS_EINVAL, 0, 0, NULL, NULL, NULL },
    };
    for (size_t i = 0; i < sizeof hc / sizeof hc[0]; i++) {
        ksp_hit h;
        memset(&h, 0, sizeof h);
        int rc = ksp_parse_hit((ksp_str){ hc[i].in, strlen(hc[i].in) }, &h);
        if (rc != hc[i].rc)
            fail_msg("'%s': rc %d, want %d", hc[i].in, rc, hc[i].rc);
        if (rc == 0) {
            assert_int_equal(h.rank, hc[i].rank);
            assert_true(h.score == hc[i].score);
            assert_str(h.id, hc[i].id);
            assert_str(h.title, hc[i].title);
            assert_str(h.snippet, hc[i].snippet);
        }
    }
}

/* Formatter output read back by the reader gives the same values. */
static void test_round_trip(void **state)
{
    (void)state;
    static const ksp_hit hits[] = {
        { 11, 3.25, { "d-11", 4 }, { "인공 지능", 13 }, { "[인공] [지능] 연구", 24 } },
        { 12, 0.5, { "d-12", 4 }, { "t\tx", 3 }, { "", 0 } },
    };
    ksp_search_result res = { 99, 1, 1234, hits, 2 };
    ksp_buf b;
    ksp_buf_init(&b);
    ksp_format_search(&b, KSP_MODE_TEXT, &res);
    ksp_format_count(&b, KSP_MODE_TEXT, 99, 1);
    ksp_format_pong(&b, KSP_MODE_JSON);

    ksp_reader r;
    ksp_reader_init(&r, 0);
    ksp_reply rep;
    int ready;
    for (size_t i = 0; i < b.len; i++)
        ksp_reader_feed(&r, b.data + i, 1);
    assert_int_equal(ksp_reader_next(&r, &rep, &ready), 0);
    assert_int_equal(ready, 1);
    assert_int_equal(rep.multiline, 1);
    ksp_search_status st;
    assert_int_equal(ksp_parse_search_status(rep.status, &st), 0);
    assert_int_equal(st.total, 99);
    assert_int_equal(st.returned, 2);
    assert_int_equal(st.took_us, 1234);
    assert_int_equal(st.estimate, 1);
    assert_int_equal(rep.nlines, 2);
    ksp_hit h;
    assert_int_equal(ksp_parse_hit(rep.lines[0], &h), 0);
    assert_int_equal(h.rank, 11);
    assert_true(h.score == 3.25);
    assert_str(h.id, "d-11");
    assert_str(h.title, "인공 지능");
    assert_str(h.snippet, "[인공] [지능] 연구");
    assert_int_equal(ksp_parse_hit(rep.lines[1], &h), 0);
    assert_str(h.title, "t x");
    assert_str(h.snippet, "");

    assert_int_equal(ksp_reader_next(&r, &rep, &ready), 0);
    assert_int_equal(ready, 1);
    assert_str(rep.status, "OK 99 ~");
    assert_int_equal(ksp_reader_next(&r, &rep, &ready), 0);
    assert_int_equal(ready, 1);
    assert_int_equal(rep.mode, KSP_MODE_JSON);
    assert_int_equal(ksp_reader_next(&r, &rep, &ready), 0);
    assert_int_equal(ready, 0);
    ksp_reader_free(&r);
    ksp_buf_free(&b);
}

int main(void)
{
    static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_byte_by_byte),
        cmocka_unit_test(test_stream_chunks),
        cmocka_unit_test(test_stream_at_once),
        cmocka_unit_test(test_partial),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_max_reply_exact),
        cmocka_unit_test(test_search_status),
        cmocka_unit_test(test_parse_hit),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests_name("proto_reply", tests, NULL, NULL);
}
