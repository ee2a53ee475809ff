/* Unit tests for proto/ksp_request.c: one table row per request line (each
 * row is its own TAP test point), plus HTTP detection, error helpers and
 * line-length limits. Expected values are worked out from PROTOCOL.md. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ksp_request.h"

#define NOARG NULL

typedef struct req_case {
    const char *name;       /* TAP test name */
    const char *line;       /* input bytes */
    size_t len;             /* input length; 0 means strlen(line) */
    const ksp_limits *lim;  /* NULL: defaults */
    int rc;                 /* expected return value */
    ksp_cmd cmd;            /* expected command (NONE on error) */
    ksp_errcode code;       /* expected error code (NONE on success) */
    int close;              /* expected close flag */
    const char *arg;        /* expected arg, NULL = empty */
    uint32_t limit;         /* expected limit (SEARCH) */
    uint32_t offset;        /* expected offset (SEARCH) */
    const char *hl_open;    /* expected hl_open, NULL = "[" */
    const char *hl_close;   /* expected hl_close, NULL = "]" */
    ksp_mode format;        /* expected format (FORMAT) */
    ksp_cmd topic;          /* expected topic (HELP) */
    const char *message;    /* expected error message, NULL = unchecked */
} req_case;

static const ksp_limits small = { 8192, 3, 5, 7 }; /* small SEARCH maxima */
static const ksp_limits tiny = { 10, 3, 5, 7 };    /* and a 10-byte line */

#define OK_(n, l, c) .name = n, .line = l, .rc = 0, .cmd = c
#define BAD(n, l, r, e) .name = n, .line = l, .rc = r, .cmd = KSP_CMD_NONE, .code = e

static const req_case cases[] = {
    /* ---- simple commands, case, CRLF, blanks ---- */
    { OK_("PING", "PING", KSP_CMD_PING) },
    { OK_("ping lower case", "ping", KSP_CMD_PING) },
    { OK_("PiNg mixed case", "PiNg", KSP_CMD_PING) },
    { OK_("PING with CR", "PING\r", KSP_CMD_PING) },
    { OK_("PING with CRLF", "PING\r\n", KSP_CMD_PING) },
    { OK_("PING with LF", "PING\n", KSP_CMD_PING) },
    { OK_("PING surrounded by blanks", " \t PING \t", KSP_CMD_PING) },
    { BAD("PING with argument", "PING now", KS_EINVAL, KSP_ERR_BAD_REQUEST),
      .message = "PING takes no arguments" },
    { OK_("INFO", "info", KSP_CMD_INFO) },
    { OK_("STATS", "Stats", KSP_CMD_STATS) },
    { OK_("QUIT", "quit\r\n", KSP_CMD_QUIT) },
    { OK_("RELOAD", "RELOAD", KSP_CMD_RELOAD) },
    { BAD("RELOAD with argument", "RELOAD now", KS_EINVAL, KSP_ERR_BAD_REQUEST) },
    { OK_("AUTH token", "auth s3cret-Token_0123456789", KSP_CMD_AUTH), .arg = "s3cret-Token_0123456789" },
    { OK_("AUTH token, blanks around", " AUTH\t tok  \r\n", KSP_CMD_AUTH), .arg = "tok" },
    /* the token is a secret: messages never quote it */
    { BAD("AUTH without token", "AUTH", KS_EINVAL, KSP_ERR_BAD_REQUEST),
      .message = "AUTH takes one argument, the token" },
    { BAD("AUTH with two words", "AUTH secret1 secret2", KS_EINVAL, KSP_ERR_BAD_REQUEST),
      .message = "AUTH takes one argument, the token" },
    { OK_("HELP", "HELP", KSP_CMD_HELP), .topic = KSP_CMD_NONE },
    { OK_("HELP search", "help search", KSP_CMD_HELP), .arg = "search",
      .topic = KSP_CMD_SEARCH },
    { OK_("HELP GET", "HELP GET", KSP_CMD_HELP), .arg = "GET",
      .topic = KSP_CMD_GET },
    { BAD("HELP unknown topic", "HELP FROB", KS_EINVAL, KSP_ERR_UNKNOWN_COMMAND),
      .message = "no help for unknown command 'FROB'" },
    { BAD("HELP two topics", "HELP GET PING", KS_EINVAL, KSP_ERR_BAD_REQUEST) },
    { OK_("FORMAT json", "FORMAT json", KSP_CMD_FORMAT), .arg = "json",
      .format = KSP_MODE_JSON },
    { OK_("FORMAT JSON upper", "format JSON", KSP_CMD_FORMAT), .arg = "JSON",
      .format = KSP_MODE_JSON },
    { OK_("FORMAT text", "FORMAT Text", KSP_CMD_FORMAT), .arg = "Text",
      .format = KSP_MODE_TEXT },
    { BAD("FORMAT xml", "FORMAT xml", KS_EINVAL, KSP_ERR_BAD_REQUEST),
      .message = "FORMAT takes 'text' or 'json'" },
    { BAD("FORMAT without mode", "FORMAT", KS_EINVAL, KSP_ERR_BAD_REQUEST) },
    { BAD("FORMAT two words", "FORMAT json text", KS_EINVAL, KSP_ERR_BAD_REQUEST) },

    /* ---- GET ---- */
    { OK_("GET id", "GET doc-1", KSP_CMD_GET), .arg = "doc-1" },
    { OK_("get Korean id", "get 문서/7", KSP_CMD_GET), .arg = "문서/7" },
    { OK_("GET id trailing blanks", "GET doc-1  \r\n", KSP_CMD_GET), .arg = "doc-1" },
    { BAD("GET without id", "GET", KS_EINVAL, KSP_ERR_BAD_REQUEST),
      .message = "GET needs an id" },
    { BAD("GET blank id", "GET   ", KS_EINVAL, KSP_ERR_BAD_REQUEST) },
    { BAD("GET two ids", "GET a b", KS_EINVAL, KSP_ERR_BAD_REQUEST),
      .message = "GET takes one argument" },

    /* ---- SEARCH ---- */
    { OK_("SEARCH Korean", "SEARCH 카카오", KSP_CMD_SEARCH), .arg = "카카오",
      .limit = 10 },
    { OK_("search lower case", "search 인공 지능", KSP_CMD_SEARCH),
      .arg = "인공 지능", .limit = 10 },
    { OK_("SEARCH all options", "SEARCH limit=5 offset=20 hl=<b>,</b> 인공 지능",
          KSP_CMD_SEARCH), .arg = "인공 지능", .limit = 5, .offset = 20,
      .hl_open = "<b>", .hl_close = "</b>" },
    { OK_("SEARCH option keys any case", "SEARCH LIMIT=3 Offset=4 x",
          KSP_CMD_SEARCH), .arg = "x", .limit = 3, .offset = 4 },
    { OK_("SEARCH -- protects key=value query", "SEARCH -- limit=5",
          KSP_CMD_SEARCH), .arg = "limit=5", .limit = 10 },
    { OK_("SEARCH options then --", "SEARCH limit=2 -- -- x", KSP_CMD_SEARCH),
      .arg = "-- x", .limit = 2 },
    { OK_("SEARCH exclusion word is not an option", "SEARCH -word a",
          KSP_CMD_SEARCH), .arg = "-word a", .limit = 10 },
    { OK_("SEARCH query language kept verbatim",
          "SEARCH \"a phrase\" -not title:x OR y", KSP_CMD_SEARCH),
      .arg = "\"a phrase\" -not title:x OR y", .limit = 10 },
    { OK_("SEARCH option after query is query", "SEARCH x limit=5",
          KSP_CMD_SEARCH), .arg = "x limit=5", .limit = 10 },
    { OK_("SEARCH tabs separate", "SEARCH\tlimit=4\tfoo\tbar\t", KSP_CMD_SEARCH),
      .arg = "foo\tbar", .limit = 4 },
    { OK_("SEARCH CRLF", "SEARCH x\r\n", KSP_CMD_SEARCH), .arg = "x", .limit = 10 },
    { OK_("SEARCH limit=0", "SEARCH limit=0 x", KSP_CMD_SEARCH), .arg = "x" },
    { OK_("SEARCH leading zeros", "SEARCH limit=007 x", KSP_CMD_SEARCH),
      .arg = "x", .limit = 7 },
    { OK_("SEARCH limit at maximum", "SEARCH limit=1000 offset=9000 x",
          KSP_CMD_SEARCH), .arg = "x", .limit = 1000, .offset = 9000 },
    { OK_("SEARCH offset at maximum with default limit", "SEARCH offset=9990 x",
          KSP_CMD_SEARCH), .arg = "x", .limit = 10, .offset = 9990 },
    { OK_("SEARCH empty highlight markers", "SEARCH hl=, x", KSP_CMD_SEARCH),
      .arg = "x", .limit = 10, .hl_open = "", .hl_close = "" },
    { OK_("SEARCH 32-byte marker", "SEARCH hl=0123456789abcdef0123456789abcdef,] x",
          KSP_CMD_SEARCH), .arg = "x", .limit = 10,
      .hl_open = "0123456789abcdef0123456789abcdef", .hl_close = "]" },
    { OK_("SEARCH Korean token with = is query", "SEARCH 카=b", KSP_CMD_SEARCH),
      .arg = "카=b", .limit = 10 },
    { OK_("SEARCH 4-byte UTF-8", "SEARCH \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF",
          KSP_CMD_SEARCH), .arg = "\xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF", .limit = 10 },
    { BAD("SEARCH unknown option", "SEARCH a=b", KS_EINVAL, KSP_ERR_BAD_REQUEST),
      .message = "unknown option 'a' for SEARCH (use -- before a query that "
                 "contains '=')" },
    { BAD("SEARCH unknown option before query", "SEARCH sort=date x", KS_EINVAL,
          KSP_ERR_BAD_REQUEST) },
    { BAD("SEARCH bad number", "SEARCH limit=abc x", KS_EINVAL,
          KSP_ERR_BAD_REQUEST), .message = "limit= needs a decimal number, got 'abc'" },
    { BAD("SEARCH empty number", "SEARCH limit= x", KS_EINVAL, KSP_ERR_BAD_REQUEST) },
    { BAD("SEARCH negative number", "SEARCH limit=-1 x", KS_EINVAL, KSP_ERR_BAD_REQUEST) },
    { BAD("SEARCH plus sign", "SEARCH offset=+1 x", KS_EINVAL, KSP_ERR_BAD_REQUEST) },
    { BAD("SEARCH hex number", "SEARCH limit=0x10 x", KS_EINVAL, KSP_ERR_BAD_REQUEST) },
    { BAD("SEARCH number with suffix", "SEARCH limit=5k x", KS_EINVAL, KSP_ERR_BAD_REQUEST) },
    { BAD("SEARCH duplicate option", "SEARCH limit=5 limit=6 x", KS_EINVAL,
          KSP_ERR_BAD_REQUEST), .message = "option 'limit' given twice" },
    { BAD("SEARCH limit over maximum", "SEARCH limit=1001 x", KS_ETOOBIG,
          KSP_ERR_LIMIT_EXCEEDED), .message = "limit must be at most 1000" },
    { BAD("SEARCH offset+limit over maximum", "SEARCH limit=1000 offset=9001 x",
          KS_ETOOBIG, KSP_ERR_LIMIT_EXCEEDED),
      .message = "offset+limit must be at most 10000" },
    { BAD("SEARCH offset+default limit over maximum", "SEARCH offset=9991 x",
          KS_ETOOBIG, KSP_ERR_LIMIT_EXCEEDED) },
    { BAD("SEARCH huge limit", "SEARCH limit=99999999999999999999999 x",
          KS_ETOOBIG, KSP_ERR_LIMIT_EXCEEDED) },
    { BAD("SEARCH huge offset", "SEARCH offset=18446744073709551615 x",
          KS_ETOOBIG, KSP_ERR_LIMIT_EXCEEDED) },
    { BAD("SEARCH without query", "SEARCH", KS_EINVAL, KSP_ERR_BAD_REQUEST),
      .message = "SEARCH needs a query" },
    { BAD("SEARCH blank query", "SEARCH  \t ", KS_EINVAL, KSP_ERR_BAD_REQUEST) },
    { BAD("SEARCH options but no query", "SEARCH limit=5", KS_EINVAL,
          KSP_ERR_BAD_REQUEST) },
    { BAD("SEARCH -- and nothing", "SEARCH --", KS_EINVAL, KSP_ERR_BAD_REQUEST) },
    { BAD("SEARCH -- and blanks", "SEARCH -- \r\n", KS_EINVAL, KSP_ERR_BAD_REQUEST) },
    { BAD("SEARCH hl without comma", "SEARCH hl=ab x", KS_EINVAL, KSP_ERR_BAD_REQUEST),
      .message = "hl= takes OPEN,CLOSE (exactly one comma)" },
    { BAD("SEARCH hl with two commas", "SEARCH hl=a,b,c x", KS_EINVAL,
          KSP_ERR_BAD_REQUEST) },
    { BAD("SEARCH 33-byte marker", "SEARCH hl=0123456789abcdef0123456789abcdefX,] x",
          KS_EINVAL, KSP_ERR_BAD_REQUEST) },
    { OK_("SEARCH custom default limit", "SEARCH x", KSP_CMD_SEARCH), .lim = &small,
      .arg = "x", .limit = 3 },
    { OK_("SEARCH custom maxima reached", "SEARCH limit=5 offset=2 x",
          KSP_CMD_SEARCH), .lim = &small, .arg = "x", .limit = 5, .offset = 2 },
    { BAD("SEARCH custom max limit", "SEARCH limit=6 x", KS_ETOOBIG,
          KSP_ERR_LIMIT_EXCEEDED), .lim = &small, .message = "limit must be at most 5" },
    { BAD("SEARCH custom max window", "SEARCH offset=5 x", KS_ETOOBIG,
          KSP_ERR_LIMIT_EXCEEDED), .lim = &small,
      .message = "offset+limit must be at most 7" },

    /* ---- COUNT ---- */
    { OK_("COUNT", "COUNT 카카오", KSP_CMD_COUNT), .arg = "카카오", .limit = 10 },
    { OK_("COUNT with --", "count -- a=b", KSP_CMD_COUNT), .arg = "a=b", .limit = 10 },
    { BAD("COUNT takes no options", "COUNT limit=5 x", KS_EINVAL,
          KSP_ERR_BAD_REQUEST) },
    { BAD("COUNT without query", "COUNT", KS_EINVAL, KSP_ERR_BAD_REQUEST),
      .message = "COUNT needs a query" },

    /* ---- empty and unknown ---- */
    { BAD("empty line", "", KS_EINVAL, KSP_ERR_BAD_REQUEST), .message = "empty request" },
    { BAD("blank line", " \t ", KS_EINVAL, KSP_ERR_BAD_REQUEST) },
    { BAD("lone CR", "\r", KS_EINVAL, KSP_ERR_BAD_REQUEST) },
    { BAD("unknown command", "FROB x", KS_EINVAL, KSP_ERR_UNKNOWN_COMMAND),
      .message = "unknown command 'FROB' (try HELP)" },
    { BAD("command prefix is not a command", "SEARCHX foo", KS_EINVAL,
          KSP_ERR_UNKNOWN_COMMAND) },
    { BAD("long unknown command quoted at a character boundary",
          "가나다라마바사아자차카타파하가나다라마바", KS_EINVAL,
          KSP_ERR_UNKNOWN_COMMAND),
      .message = "unknown command '가나다라마바사아자차카타파' (try HELP)" },
    { BAD("lower-case post is no HTTP", "post office", KS_EINVAL,
          KSP_ERR_UNKNOWN_COMMAND) },
    { BAD("POST alone is no HTTP", "POST", KS_EINVAL, KSP_ERR_UNKNOWN_COMMAND) },

    /* ---- HTTP: error, close ---- */
    { BAD("HTTP GET", "GET / HTTP/1.1", KSP_EHTTP, KSP_ERR_BAD_REQUEST), .close = 1,
      .message = "this is a kosearch protocol port, not HTTP" },
    { BAD("HTTP GET 1.0 CRLF", "GET /index.html HTTP/1.0\r\n", KSP_EHTTP,
          KSP_ERR_BAD_REQUEST), .close = 1 },
    { BAD("HTTP POST", "POST /search HTTP/1.1", KSP_EHTTP, KSP_ERR_BAD_REQUEST),
      .close = 1 },
    { BAD("HTTP HEAD", "HEAD / HTTP/1.1", KSP_EHTTP, KSP_ERR_BAD_REQUEST), .close = 1 },
    { BAD("HTTP PUT without version", "PUT /x", KSP_EHTTP, KSP_ERR_BAD_REQUEST),
      .close = 1 },
    { BAD("HTTP OPTIONS", "OPTIONS * HTTP/1.1", KSP_EHTTP, KSP_ERR_BAD_REQUEST),
      .close = 1 },
    { BAD("HTTP/2 preface", "PRI * HTTP/2.0", KSP_EHTTP, KSP_ERR_BAD_REQUEST),
      .close = 1 },
    { BAD("HTTP GET HTTP/2", "GET /x HTTP/2", KSP_EHTTP, KSP_ERR_BAD_REQUEST),
      .close = 1 },
    { BAD("HTTP wins over bad UTF-8", "GET /\xFF HTTP/1.1", KSP_EHTTP,
          KSP_ERR_BAD_REQUEST), .close = 1 },
    { BAD("lower-case get with version is no HTTP", "get / HTTP/1.1", KS_EINVAL,
          KSP_ERR_BAD_REQUEST), .close = 0 },
    { OK_("SEARCH ending in HTTP/1.1 is a search", "SEARCH about HTTP/1.1",
          KSP_CMD_SEARCH), .arg = "about HTTP/1.1", .limit = 10 },

    /* ---- invalid UTF-8: error, stay open ---- */
    { BAD("overlong 2-byte NUL", "SEARCH \xC0\x80", KS_EUTF8, KSP_ERR_BAD_UTF8),
      .message = "invalid UTF-8 at byte 7" },
    { BAD("overlong 2-byte slash", "SEARCH \xC1\xAF", KS_EUTF8, KSP_ERR_BAD_UTF8) },
    { BAD("overlong 3-byte", "SEARCH \xE0\x80\xAF", KS_EUTF8, KSP_ERR_BAD_UTF8) },
    { BAD("overlong 4-byte", "SEARCH \xF0\x80\x80\xAF", KS_EUTF8, KSP_ERR_BAD_UTF8) },
    { BAD("high surrogate", "SEARCH \xED\xA0\x80", KS_EUTF8, KSP_ERR_BAD_UTF8) },
    { BAD("low surrogate", "SEARCH a\xED\xBF\xBF", KS_EUTF8, KSP_ERR_BAD_UTF8),
      .message = "invalid UTF-8 at byte 8" },
    { BAD("above U+10FFFF", "SEARCH \xF4\x90\x80\x80", KS_EUTF8, KSP_ERR_BAD_UTF8) },
    { BAD("F5 lead byte", "SEARCH \xF5\x80\x80\x80", KS_EUTF8, KSP_ERR_BAD_UTF8) },
    { BAD("truncated at end", "SEARCH \xEC\x95", KS_EUTF8, KSP_ERR_BAD_UTF8) },
    { BAD("truncated before blank", "SEARCH \xEC\x95 x", KS_EUTF8, KSP_ERR_BAD_UTF8) },
    { BAD("truncated 4-byte", "SEARCH \xF0\x9F\x98", KS_EUTF8, KSP_ERR_BAD_UTF8) },
    { BAD("lone continuation byte", "SEARCH \x80", KS_EUTF8, KSP_ERR_BAD_UTF8) },
    { BAD("continuation bytes in command", "PI\xBFNG", KS_EUTF8, KSP_ERR_BAD_UTF8),
      .message = "invalid UTF-8 at byte 2" },
    { BAD("FF byte", "GET \xFF", KS_EUTF8, KSP_ERR_BAD_UTF8) },
    { BAD("Latin-1 text", "SEARCH caf\xE9", KS_EUTF8, KSP_ERR_BAD_UTF8) },

    /* ---- control characters ---- */
    { .name = "embedded NUL", .line = "SEARCH a\0b", .len = 10, .rc = KS_EINVAL,
      .code = KSP_ERR_BAD_REQUEST, .message = "control character U+0000 at byte 8" },
    /* regression (found by fuzz_request): U+0085 NEL, a C1 control and a
     * Unicode line break, was quoted raw into the message: now a space */
    { BAD("C1 control NEL in an unknown command", "FORs&n\xC2\x85", KS_EINVAL, KSP_ERR_UNKNOWN_COMMAND),
      .message = "unknown command 'FORs&n ' (try HELP)" },
    /* C1 controls are text (real documents hold them; users paste them) */
    { OK_("C1 control in a query", "SEARCH li\xC2\x9B" "2J", KSP_CMD_SEARCH),
      .arg = "li\xC2\x9B" "2J", .limit = 10 },
    { OK_("U+00A0 is no control", "SEARCH a\xC2\xA0" "b", KSP_CMD_SEARCH),
      .arg = "a\xC2\xA0" "b", .limit = 10 },
    { BAD("SOH", "SEARCH a\x01", KS_EINVAL, KSP_ERR_BAD_REQUEST) },
    { BAD("CR inside", "SEARCH a\rb", KS_EINVAL, KSP_ERR_BAD_REQUEST) },
    { BAD("DEL", "SEARCH a\x7f", KS_EINVAL, KSP_ERR_BAD_REQUEST) },
    { BAD("ESC", "SEARCH \x1b[31m", KS_EINVAL, KSP_ERR_BAD_REQUEST) },

    /* ---- length ---- */
    { OK_("line at max_line", "SEARCH abc", KSP_CMD_SEARCH), .lim = &tiny,
      .arg = "abc", .limit = 3 },
    { OK_("line at max_line plus CRLF", "SEARCH abc\r\n", KSP_CMD_SEARCH),
      .lim = &tiny, .arg = "abc", .limit = 3 },
    { BAD("line over max_line", "SEARCH abcd", KS_ETOOBIG, KSP_ERR_LINE_TOO_LONG),
      .lim = &tiny, .close = 1, .message = "request longer than 10 bytes" },
};

#undef OK_
#undef BAD

static void assert_slice(ksp_str got, const char *want)
{
    size_t wl = want ? strlen(want) : 0;
    if (got.len != wl || (wl && memcmp(got.ptr, want, wl) != 0))
        fail_msg("slice '%.*s' (%zu bytes), want '%s'", (int)got.len,
                 got.ptr ? got.ptr : "", got.len, want ? want : "");
}

static void run_case(void **state)
{
    const req_case *c = *state;
    size_t len = c->len ? c->len : strlen(c->line);
    /* Copy to an exact-size heap block so ASan catches any overread. */
    char *line = malloc(len ? len : 1);
    assert_non_null(line);
    memcpy(line, c->line, len);

    ksp_request req;
    ksp_error err;
    memset(&req, 0xAB, sizeof req);
    int rc = ksp_parse_request(line, len, c->lim, &req, &err);
    assert_int_equal(rc, c->rc);
    assert_int_equal(req.cmd, c->cmd);
    assert_int_equal(err.code, c->code);
    assert_int_equal(err.close, c->close);
    assert_string_equal(err.word, ksp_errcode_word(c->code));
    if (c->message)
        assert_string_equal(err.message, c->message);
    if (rc == 0) {
        assert_string_equal(err.message, "");
        assert_slice(req.arg, c->arg);
        if (req.arg.len) /* the slice points into the caller's line */
            assert_true(req.arg.ptr >= line && req.arg.ptr + req.arg.len <= line + len);
        if (c->cmd == KSP_CMD_SEARCH) {
            assert_int_equal(req.limit, c->limit);
            assert_int_equal(req.offset, c->offset);
            assert_slice(req.hl_open, c->hl_open ? c->hl_open : "[");
            assert_slice(req.hl_close, c->hl_close ? c->hl_close : "]");
        }
        if (c->cmd == KSP_CMD_FORMAT)
            assert_int_equal(req.format, c->format);
        if (c->cmd == KSP_CMD_HELP)
            assert_int_equal(req.topic, c->topic);
    } else {
        assert_true(strlen(err.message) > 0);
        assert_int_equal(req.arg.len, 0);
    }
    free(line);
}

/* ---- tests outside the table ------------------------------------------ */

typedef struct http_case {
    const char *line;  /* input */
    int want;          /* expected ksp_looks_like_http() */
} http_case;

static void test_looks_like_http(void **state)
{
    (void)state;
    static const http_case hc[] = {
        { "GET / HTTP/1.1", 1 },       { "GET / HTTP/1.0\r\n", 1 },
        { "GET /a?b=c HTTP/1.1\n", 1 }, { "POST / HTTP/1.1", 1 },
        { "POST x", 1 },               { "HEAD / HTTP/1.1", 1 },
        { "DELETE /x HTTP/1.1", 1 },   { "PATCH /x HTTP/1.1", 1 },
        { "CONNECT a:443 HTTP/1.1", 1 }, { "TRACE / HTTP/1.1", 1 },
        { "PRI * HTTP/2.0", 1 },       { "GET / HTTP/2", 1 },
        { "GET doc-1", 0 },            { "GET / HTTP/", 0 },
        { "GET / HTTP/1.", 0 },        { "GET / http/1.1", 0 },
        { "get / HTTP/1.1", 0 },       { "POST", 0 },
        { "POSTX y", 0 },              { "SEARCH a HTTP/1.1", 0 },
        { "", 0 },                     { " GET / HTTP/1.1", 0 },
        { "GET HTTP/1.1", 1 },         { "GET  HTTP/1.1", 1 },
    };
    for (size_t i = 0; i < sizeof hc / sizeof hc[0]; i++) {
        int got = ksp_looks_like_http(hc[i].line, strlen(hc[i].line));
        if (got != hc[i].want)
            fail_msg("ksp_looks_like_http(\"%s\") = %d, want %d", hc[i].line,
                     got, hc[i].want);
    }
}

static void test_line_too_long_default(void **state)
{
    (void)state;
    size_t n = KSP_DEFAULT_MAX_LINE + 2;
    char *line = malloc(n);
    assert_non_null(line);
    memcpy(line, "SEARCH ", 7);
    memset(line + 7, 'a', n - 7);
    ksp_request req;
    ksp_error err;
    /* exactly 8192 bytes: accepted, with or without CR LF after it */
    assert_int_equal(ksp_parse_request(line, 8192, NULL, &req, &err), 0);
    assert_int_equal(req.arg.len, 8192 - 7);
    line[8192] = '\r';
    line[8193] = '\n';
    assert_int_equal(ksp_parse_request(line, 8194, NULL, &req, &err), 0);
    assert_int_equal(req.arg.len, 8192 - 7);
    /* 8193 bytes: too long, connection closes */
    line[8192] = 'a';
    assert_int_equal(ksp_parse_request(line, 8193, NULL, &req, &err), KS_ETOOBIG);
    assert_int_equal(err.code, KSP_ERR_LINE_TOO_LONG);
    assert_string_equal(err.word, "LINE_TOO_LONG");
    assert_int_equal(err.close, 1);
    assert_int_equal(req.cmd, KSP_CMD_NONE);
    free(line);
}

static void test_errcode_words(void **state)
{
    (void)state;
    static const char *const words[] = {
        "", "BAD_REQUEST", "UNKNOWN_COMMAND", "LINE_TOO_LONG", "BAD_UTF8",
        "TOO_MANY_CONNECTIONS", "INDEX_UNAVAILABLE", "INTERNAL", "NOT_FOUND",
        "LIMIT_EXCEEDED", "FORBIDDEN", "TIMEOUT",
    };
    assert_int_equal(sizeof words / sizeof words[0], KSP_ERR_COUNT_ALL);
    for (int i = 0; i < KSP_ERR_COUNT_ALL; i++) {
        assert_string_equal(ksp_errcode_word((ksp_errcode)i), words[i]);
        ksp_errcode code = KSP_ERR_NONE;
        int rc = ksp_errcode_from_word(words[i], strlen(words[i]), &code);
        if (i == 0) {
            assert_int_equal(rc, KS_ENOTFOUND);
        } else {
            assert_int_equal(rc, 0);
            assert_int_equal(code, i);
        }
    }
    ksp_errcode code;
    assert_int_equal(ksp_errcode_from_word("bad_request", 11, &code), KS_ENOTFOUND);
    assert_int_equal(ksp_errcode_from_word("BAD_REQUESTX", 12, &code), KS_ENOTFOUND);
    assert_int_equal(ksp_errcode_from_word("BAD_REQUEST", 10, &code), KS_ENOTFOUND);
    assert_string_equal(ksp_errcode_word((ksp_errcode)99), "INTERNAL");
    assert_string_equal(ksp_errcode_word((ksp_errcode)-1), "INTERNAL");
}

static void test_cmd_names(void **state)
{
    (void)state;
    static const char *const names[] = {
        "", "PING", "SEARCH", "COUNT", "GET", "INFO", "STATS", "HELP", "QUIT",
        "RELOAD", "FORMAT", "AUTH",
    };
    assert_int_equal(sizeof names / sizeof names[0], KSP_CMD_COUNT_ALL);
    for (int i = 0; i < KSP_CMD_COUNT_ALL; i++)
        assert_string_equal(ksp_cmd_name((ksp_cmd)i), names[i]);
    assert_string_equal(ksp_cmd_name((ksp_cmd)42), "");
}

static void test_error_set(void **state)
{
    (void)state;
    ksp_error err;
    assert_int_equal(ksp_error_set(&err, KSP_ERR_NOT_FOUND, 0, "no document '%s'",
                                   "doc-9"), 0);
    assert_int_equal(err.code, KSP_ERR_NOT_FOUND);
    assert_string_equal(err.word, "NOT_FOUND");
    assert_int_equal(err.close, 0);
    assert_string_equal(err.message, "no document 'doc-9'");

    /* control characters become spaces; close is normalised to 1 */
    assert_int_equal(ksp_error_set(&err, KSP_ERR_TOO_MANY_CONNECTIONS, 7,
                                   "a\tb\nc\rd\x1b"), 0);
    assert_int_equal(err.close, 1);
    assert_string_equal(err.message, "a b c d ");
    /* C1 controls (2 bytes each) become one space each */
    assert_int_equal(ksp_error_set(&err, KSP_ERR_INTERNAL, 0, "x\xC2\x85y\xC2\x9Fz"), 0);
    assert_string_equal(err.message, "x y z");

    /* truncation keeps whole code points: 'x' + 100 x U+AC00 (3 bytes)
     * = 301 bytes; 255 bytes fit, and 1 + 84*3 = 253 is the last boundary */
    char big[400];
    big[0] = 'x';
    for (int i = 0; i < 100; i++)
        memcpy(big + 1 + 3 * i, "\xEA\xB0\x80", 3);
    big[301] = '\0';
    assert_int_equal(ksp_error_set(&err, KSP_ERR_INTERNAL, 0, "%s", big), 0);
    assert_int_equal(strlen(err.message), 253);
    assert_memory_equal(err.message, big, 253);

    /* unknown code */
    assert_int_equal(ksp_error_set(&err, (ksp_errcode)77, 0, "x"), KS_EINVAL);
    assert_int_equal(err.code, KSP_ERR_INTERNAL);
    assert_string_equal(err.word, "INTERNAL");
    assert_int_equal(ksp_error_set(&err, KSP_ERR_NONE, 0, "x"), KS_EINVAL);
    assert_int_equal(err.code, KSP_ERR_INTERNAL);
}

static void test_limits_default(void **state)
{
    (void)state;
    ksp_limits lim;
    memset(&lim, 0, sizeof lim);
    assert_int_equal(ksp_limits_default(&lim), 0);
    assert_int_equal(lim.max_line, 8192);
    assert_int_equal(lim.default_limit, 10);
    assert_int_equal(lim.max_limit, 1000);
    assert_int_equal(lim.max_window, 10000);
}

static void test_null_line(void **state)
{
    (void)state;
    ksp_request req;
    ksp_error err;
    assert_int_equal(ksp_parse_request(NULL, 0, NULL, &req, &err), KS_EINVAL);
    assert_int_equal(err.code, KSP_ERR_BAD_REQUEST);
    assert_string_equal(err.message, "empty request");
}

int main(void)
{
    size_t ncases = sizeof cases / sizeof cases[0];
    static const struct CMUnitTest extra[] = {
        cmocka_unit_test(test_looks_like_http),
        cmocka_unit_test(test_line_too_long_default),
        cmocka_unit_test(test_errcode_words),
        cmocka_unit_test(test_cmd_names),
        cmocka_unit_test(test_error_set),
        cmocka_unit_test(test_limits_default),
        cmocka_unit_test(test_null_line),
    };
    size_t nextra = sizeof extra / sizeof extra[0];
    struct CMUnitTest *tests = calloc(ncases + nextra, sizeof *tests);
    if (!tests)
        return 1;
    for (size_t i = 0; i < ncases; i++) {
        tests[i].name = cases[i].name;
        tests[i].test_func = run_case;
        tests[i].initial_state = (void *)&cases[i];
    }
    memcpy(tests + ncases, extra, sizeof extra);
    int failed = _cmocka_run_group_tests("proto_request", tests, ncases + nextra,
                                         NULL, NULL);
    free(tests);
    return failed ? 1 : 0;
}
