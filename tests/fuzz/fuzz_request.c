/* libFuzzer target (`make fuzz-request`): parses arbitrary bytes as a request,
 * checks the parser's invariants, formats the matching OK/ERR reply in both
 * modes and checks it (JSON: one line jansson parses; text: clean UTF-8 that
 * reads back as one reply); also the JSON encoder and reader on raw bytes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <unicode/utf8.h>

#include "ksp_format.h"
#include "ksp_reply.h"
#include "ksp_request.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Valid UTF-8 without control characters other than those allowed: TAB
 * and LF if allow_tab_lf, C1 controls (U+0080..U+009F) if allow_c1. */
static int clean_utf8_c1(const char *s, size_t len, int allow_tab_lf, int allow_c1)
{
    const uint8_t *u = (const uint8_t *)s;
    for (size_t i = 0; i < len;) {
        UChar32 c;
        U8_NEXT(u, i, len, c);
        if (c < 0)
            return 0;
        if (c == '\t' || c == '\n') {
            if (!allow_tab_lf)
                return 0;
        } else if (c < 0x20 || c == 0x7f || (c >= 0x80 && c <= 0x9f && !allow_c1)) {
            return 0;
        }
    }
    return 1;
}

/* Replies: no control characters at all (fields are sanitised). */
static int clean_utf8(const char *s, size_t len, int allow_tab_lf)
{
    return clean_utf8_c1(s, len, allow_tab_lf, 0);
}

static int valid_utf8(const char *s, size_t len)
{
    const uint8_t *u = (const uint8_t *)s;
    for (size_t i = 0; i < len;) {
        UChar32 c;
        U8_NEXT(u, i, len, c);
        if (c < 0)
            return 0;
    }
    return 1;
}

static void check_json_reply(const ksp_buf *b)
{
    CHECK(b->len > 0 && b->data[b->len - 1] == '\n');
    CHECK(memchr(b->data, '\n', b->len - 1) == NULL);
    CHECK(valid_utf8(b->data, b->len));
    json_error_t jerr;
    json_t *v = json_loadb(b->data, b->len, 0, &jerr);
    if (!v)
        fprintf(stderr, "bad JSON: %s\n%s\n", jerr.text, b->data);
    CHECK(v != NULL);
    CHECK(json_is_object(v));
    CHECK(json_is_boolean(json_object_get(v, "ok")));
    json_decref(v);
}

static void check_text_reply(const ksp_buf *b)
{
    CHECK(b->len > 0 && b->data[b->len - 1] == '\n');
    CHECK(clean_utf8(b->data, b->len, 1));
    ksp_reader r;
    ksp_reader_init(&r, 0);
    CHECK(ksp_reader_feed(&r, b->data, b->len) == 0);
    ksp_reply rep;
    int ready = 0;
    CHECK(ksp_reader_next(&r, &rep, &ready) == 0);
    CHECK(ready == 1);
    CHECK(rep.raw.len == b->len); /* exactly one reply */
    CHECK(ksp_reader_pending(&r) == 0 || (ksp_reader_next(&r, &rep, &ready) == 0 &&
                                          ready == 0 && ksp_reader_pending(&r) == 0));
    ksp_reader_free(&r);
}

/* Formats the reply a daemon might send for req, in mode m. */
static int format_ok(ksp_buf *b, ksp_mode m, const ksp_request *req)
{
    switch (req->cmd) {
    case KSP_CMD_PING: return ksp_format_pong(b, m);
    case KSP_CMD_QUIT: return ksp_format_bye(b, m);
    case KSP_CMD_FORMAT: return ksp_format_format(b, m);
    case KSP_CMD_RELOAD: return ksp_format_reloaded(b, m, "r1", 2);
    case KSP_CMD_AUTH: return ksp_format_authenticated(b, m);
    case KSP_CMD_COUNT: return ksp_format_count(b, m, req->arg.len, req->arg.len & 1);
    case KSP_CMD_HELP: return ksp_format_help(b, m, req->topic);
    case KSP_CMD_SEARCH: {
        /* hostile fields: the query itself, and the markers around it */
        ksp_buf snip;
        ksp_buf_init(&snip);
        ksp_buf_append(&snip, req->hl_open.ptr, req->hl_open.len);
        ksp_buf_append(&snip, req->arg.ptr, req->arg.len);
        ksp_buf_append(&snip, req->hl_close.ptr, req->hl_close.len);
        ksp_hit h = { (uint64_t)req->offset + 1, (double)req->limit / 3.0, req->arg,
                      req->arg, { snip.data, snip.len } };
        ksp_search_result r = { req->limit, (int)(req->offset & 1), 17, &h,
                                req->limit ? 1 : 0 };
        int rc = snip.failed ? KS_ENOMEM : ksp_format_search(b, m, &r);
        ksp_buf_free(&snip);
        return rc;
    }
    case KSP_CMD_GET: {
        ksp_kv kv[2] = {
            { .key = "id", .type = KSP_VAL_STR, .str = req->arg.ptr, .str_len = req->arg.len },
            { .key = "len", .type = KSP_VAL_UINT, .u = req->arg.len },
        };
        return ksp_format_fields(b, m, req->arg, kv, 2);
    }
    case KSP_CMD_INFO:
    case KSP_CMD_STATS: {
        ksp_kv kv[2] = {
            { .key = "documents", .type = KSP_VAL_INT, .i = -1 },
            { .key = "p99 us", .type = KSP_VAL_DOUBLE, .d = 0.1 },
        };
        return req->cmd == KSP_CMD_INFO ? ksp_format_info(b, m, kv, 2)
                                        : ksp_format_stats(b, m, kv, 2);
    }
    case KSP_CMD_NONE: break;
    }
    CHECK(0);
    return 0;
}

static void check_request(const char *line, size_t size, const ksp_limits *lim)
{
    ksp_request req;
    ksp_error err;
    int rc = ksp_parse_request(line, size, lim, &req, &err);
    ksp_limits d;
    ksp_limits_default(&d);
    const ksp_limits *L = lim ? lim : &d;

    if (rc == 0) {
        CHECK(req.cmd != KSP_CMD_NONE);
        CHECK(err.code == KSP_ERR_NONE && err.message[0] == '\0');
        CHECK(req.arg.len == 0 || (req.arg.ptr >= line && req.arg.ptr + req.arg.len <= line + size));
        /* requests may carry C1 controls as text (PROTOCOL.md §2) */
        CHECK(clean_utf8_c1(req.arg.ptr, req.arg.len, 1, 1));
        if (req.cmd == KSP_CMD_SEARCH || req.cmd == KSP_CMD_COUNT || req.cmd == KSP_CMD_GET)
            CHECK(req.arg.len > 0);
        if (req.cmd == KSP_CMD_SEARCH) {
            CHECK(req.limit <= L->max_limit);
            CHECK((uint64_t)req.limit + req.offset <= L->max_window);
            CHECK(req.hl_open.len <= KSP_HL_MAX && req.hl_close.len <= KSP_HL_MAX);
        }
    } else {
        CHECK(req.cmd == KSP_CMD_NONE);
        CHECK(err.code != KSP_ERR_NONE);
        CHECK(strcmp(err.word, ksp_errcode_word(err.code)) == 0);
        size_t ml = strlen(err.message);
        CHECK(ml > 0 && ml < KSP_MSG_MAX);
        CHECK(clean_utf8(err.message, ml, 0));
        CHECK((rc == KSP_EHTTP) == (err.close && err.code == KSP_ERR_BAD_REQUEST));
        CHECK((err.code == KSP_ERR_LINE_TOO_LONG) == (err.close && rc == KS_ETOOBIG));
        CHECK(rc == KS_EUTF8 ? err.code == KSP_ERR_BAD_UTF8 : err.code != KSP_ERR_BAD_UTF8);
        CHECK(rc == KSP_EHTTP || rc == KS_EUTF8 || rc == KS_EINVAL || rc == KS_ETOOBIG);
    }

    ksp_buf b;
    ksp_buf_init(&b);
    for (int m = KSP_MODE_TEXT; m <= KSP_MODE_JSON; m++) {
        ksp_buf_reset(&b);
        int frc = rc == 0 ? format_ok(&b, (ksp_mode)m, &req)
                          : ksp_format_error(&b, (ksp_mode)m, &err);
        CHECK(frc == 0);
        if (m == KSP_MODE_JSON)
            check_json_reply(&b);
        else
            check_text_reply(&b);
    }
    ksp_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* exact-size copy so ASan sees any read past the line */
    char *line = malloc(size ? size : 1);
    if (!line)
        return 0;
    memcpy(line, data, size);

    static const ksp_limits tiny = { 64, 3, 5, 7 };
    check_request(line, size, NULL);
    check_request(line, size, &tiny);

    /* the JSON encoder on the raw bytes: always valid, lossless for UTF-8 */
    ksp_buf b;
    ksp_buf_init(&b);
    CHECK(ksp_json_string(&b, line, size) == 0);
    json_t *v = json_loadb(b.data, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    CHECK(v && json_is_string(v));
    if (valid_utf8(line, size))
        CHECK(json_string_length(v) == size && memcmp(json_string_value(v), line, size) == 0);
    json_decref(v);

    /* the text sanitiser: clean UTF-8, one line, no tab */
    ksp_buf_reset(&b);
    CHECK(ksp_text_field(&b, line, size, 0) == 0);
    CHECK(clean_utf8(b.data ? b.data : "", b.len, 0));
    ksp_buf_free(&b);

    /* the reply reader on the raw bytes must not crash or overread */
    ksp_reader r;
    ksp_reader_init(&r, 4096);
    if (ksp_reader_feed(&r, line, size) == 0) {
        ksp_reply rep;
        int ready = 1;
        while (ready && ksp_reader_next(&r, &rep, &ready) == 0)
            if (ready)
                CHECK(rep.raw.len > 0 && rep.raw.ptr[rep.raw.len - 1] == '\n');
    }
    ksp_reader_free(&r);
    free(line);
    return 0;
}
