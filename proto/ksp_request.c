/* Request parsing for protocol v1: framing checks (length, HTTP, UTF-8,
 * control bytes), command words, SEARCH options and arguments. Owns the
 * tables of command names and error code words. No allocation anywhere. */
#include "ksp_request.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <unicode/utf8.h>

static const char *const cmd_names[KSP_CMD_COUNT_ALL] = {
    [KSP_CMD_NONE] = "",        [KSP_CMD_PING] = "PING",
    [KSP_CMD_SEARCH] = "SEARCH", [KSP_CMD_COUNT] = "COUNT",
    [KSP_CMD_GET] = "GET",      [KSP_CMD_INFO] = "INFO",
    [KSP_CMD_STATS] = "STATS",  [KSP_CMD_HELP] = "HELP",
    [KSP_CMD_QUIT] = "QUIT",    [KSP_CMD_RELOAD] = "RELOAD",
    [KSP_CMD_FORMAT] = "FORMAT", [KSP_CMD_AUTH] = "AUTH",
};

static const char *const err_words[KSP_ERR_COUNT_ALL] = {
    [KSP_ERR_NONE] = "",
    [KSP_ERR_BAD_REQUEST] = "BAD_REQUEST",
    [KSP_ERR_UNKNOWN_COMMAND] = "UNKNOWN_COMMAND",
    [KSP_ERR_LINE_TOO_LONG] = "LINE_TOO_LONG",
    [KSP_ERR_BAD_UTF8] = "BAD_UTF8",
    [KSP_ERR_TOO_MANY_CONNECTIONS] = "TOO_MANY_CONNECTIONS",
    [KSP_ERR_INDEX_UNAVAILABLE] = "INDEX_UNAVAILABLE",
    [KSP_ERR_INTERNAL] = "INTERNAL",
    [KSP_ERR_NOT_FOUND] = "NOT_FOUND",
    [KSP_ERR_LIMIT_EXCEEDED] = "LIMIT_EXCEEDED",
    [KSP_ERR_FORBIDDEN] = "FORBIDDEN",
    [KSP_ERR_TIMEOUT] = "TIMEOUT",
};

const char *ksp_cmd_name(ksp_cmd cmd)
{
    if ((int)cmd < 0 || (int)cmd >= KSP_CMD_COUNT_ALL)
        return "";
    return cmd_names[cmd];
}

const char *ksp_errcode_word(ksp_errcode code)
{
    if ((int)code < 0 || (int)code >= KSP_ERR_COUNT_ALL)
        return err_words[KSP_ERR_INTERNAL];
    return err_words[code];
}

int ksp_errcode_from_word(const char *word, size_t len, ksp_errcode *code)
{
    for (int i = 1; i < KSP_ERR_COUNT_ALL; i++) {
        if (strlen(err_words[i]) == len && memcmp(err_words[i], word, len) == 0) {
            *code = (ksp_errcode)i;
            return 0;
        }
    }
    return KS_ENOTFOUND;
}

int ksp_limits_default(ksp_limits *lim)
{
    lim->max_line = KSP_DEFAULT_MAX_LINE;
    lim->default_limit = KSP_DEFAULT_LIMIT;
    lim->max_limit = KSP_DEFAULT_MAX_LIMIT;
    lim->max_window = KSP_DEFAULT_MAX_WINDOW;
    return 0;
}

/* Length of the longest prefix of s[0..len) that ends on a code point
 * boundary and is at most max bytes (s is assumed valid UTF-8; an invalid
 * tail is dropped). */
static size_t utf8_prefix(const char *s, size_t len, size_t max)
{
    const uint8_t *u = (const uint8_t *)s;
    size_t i = 0, good = 0;
    while (i < len) {
        UChar32 c;
        U8_NEXT(u, i, len, c);
        if (c < 0 || i > max)
            break;
        good = i;
    }
    return good;
}

int ksp_error_set(ksp_error *err, ksp_errcode code, int close,
                  const char *fmt, ...)
{
    int rc = 0;
    if ((int)code <= 0 || (int)code >= KSP_ERR_COUNT_ALL) {
        code = KSP_ERR_INTERNAL;
        rc = KS_EINVAL;
    }
    err->code = code;
    err->word = err_words[code];
    err->close = close ? 1 : 0;

    char tmp[KSP_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    size_t len = n < 0 ? 0 : (size_t)n;
    if (len > sizeof tmp - 1)
        len = sizeof tmp - 1;
    /* Keep only whole code points (invalid bytes end the message); every
     * control code point (C0, DEL, C1 such as U+0085 NEL) becomes a space. */
    len = utf8_prefix(tmp, len, sizeof tmp - 1);
    const uint8_t *u = (const uint8_t *)tmp;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        size_t start = i;
        UChar32 c;
        U8_NEXT(u, i, len, c);
        if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) {
            err->message[o++] = ' ';
        } else {
            memcpy(err->message + o, tmp + start, i - start);
            o += i - start;
        }
    }
    err->message[o] = '\0';
    return rc;
}

static void clear_error(ksp_error *err)
{
    err->code = KSP_ERR_NONE;
    err->word = err_words[KSP_ERR_NONE];
    err->close = 0;
    err->message[0] = '\0';
}

/* ---- small lexical helpers ------------------------------------------- */

static int is_ws(char c)
{
    return c == ' ' || c == '\t';
}

static char ascii_upper(char c)
{
    return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
}

/* Case-insensitive (ASCII) comparison of a slice with an upper-case word. */
static int word_eq(const char *p, size_t n, const char *upper)
{
    size_t m = strlen(upper);
    if (n != m)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (ascii_upper(p[i]) != upper[i])
            return 0;
    return 1;
}

static size_t skip_ws(const char *s, size_t len, size_t i)
{
    while (i < len && is_ws(s[i]))
        i++;
    return i;
}

static size_t token_end(const char *s, size_t len, size_t i)
{
    while (i < len && !is_ws(s[i]))
        i++;
    return i;
}

static ksp_cmd lookup_cmd(const char *p, size_t n)
{
    for (int i = 1; i < KSP_CMD_COUNT_ALL; i++)
        if (word_eq(p, n, cmd_names[i]))
            return (ksp_cmd)i;
    return KSP_CMD_NONE;
}

/* Bytes of user input quoted in messages. */
#define QUOTE_MAX 40

/* Length to quote from p[0..n): whole code points, at most QUOTE_MAX. */
static int quote_len(const char *p, size_t n)
{
    return (int)utf8_prefix(p, n, QUOTE_MAX);
}

/* ---- HTTP detection -------------------------------------------------- */

static size_t strip_eol(const char *line, size_t len)
{
    if (len > 0 && line[len - 1] == '\n')
        len--;
    if (len > 0 && line[len - 1] == '\r')
        len--;
    return len;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Does s[0..len) end with " HTTP/<digit>[.<digit>]"? */
static int ends_with_http_version(const char *s, size_t len)
{
    size_t i = len;
    if (i == 0 || !is_digit(s[i - 1]))
        return 0;
    i--;
    if (i >= 2 && s[i - 1] == '.' && is_digit(s[i - 2]))
        i -= 2;
    static const char tag[] = " HTTP/";
    size_t t = sizeof tag - 1;
    return i >= t && memcmp(s + i - t, tag, t) == 0;
}

int ksp_looks_like_http(const char *line, size_t len)
{
    static const char *const foreign[] = {
        "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT",
        "TRACE", "PRI",
    };
    len = strip_eol(line, len);
    size_t w = 0;
    while (w < len && line[w] >= 'A' && line[w] <= 'Z')
        w++;
    if (w == 0 || w >= len || line[w] != ' ')
        return 0;
    for (size_t k = 0; k < sizeof foreign / sizeof foreign[0]; k++)
        if (strlen(foreign[k]) == w && memcmp(foreign[k], line, w) == 0)
            return 1;
    if (w == 3 && memcmp(line, "GET", 3) == 0)
        return ends_with_http_version(line, len);
    return 0;
}

/* ---- options --------------------------------------------------------- */

/* Is tok an option token, i.e. NAME=VALUE with NAME = [A-Za-z][A-Za-z0-9_]*?
 * Sets *eq to the index of '='. */
static int is_option(const char *tok, size_t n, size_t *eq)
{
    if (n == 0 || !((tok[0] >= 'a' && tok[0] <= 'z') ||
                    (tok[0] >= 'A' && tok[0] <= 'Z')))
        return 0;
    for (size_t i = 1; i < n; i++) {
        char c = tok[i];
        if (c == '=') {
            *eq = i;
            return 1;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              is_digit(c) || c == '_'))
            return 0;
    }
    return 0;
}

/* Decimal digits only; saturates at UINT64_MAX. 0 ok, KS_EINVAL if bad. */
int ksp_parse_number(const char *p, size_t n, uint64_t *out)
{
    if (n == 0)
        return KS_EINVAL;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(p[i]))
            return KS_EINVAL;
        unsigned d = (unsigned)(p[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            v = UINT64_MAX;
        else
            v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int ksp_check_page(const ksp_limits *lim, uint64_t limit, uint64_t offset, ksp_error *err)
{
    if (limit > lim->max_limit) {
        ksp_error_set(err, KSP_ERR_LIMIT_EXCEEDED, 0,
                      "limit must be at most %lu",
                      (unsigned long)lim->max_limit);
        return KS_ETOOBIG;
    }
    if (offset > lim->max_window || limit + offset > lim->max_window) {
        ksp_error_set(err, KSP_ERR_LIMIT_EXCEEDED, 0,
                      "offset+limit must be at most %lu",
                      (unsigned long)lim->max_window);
        return KS_ETOOBIG;
    }
    return 0;
}

enum { OPT_LIMIT = 1, OPT_OFFSET = 2, OPT_HL = 4 };

/* Parses the options of SEARCH (allowed = OPT_* mask) or COUNT (allowed 0)
 * starting at s[i], then the query. Returns 0 or an error (err filled). */
static int parse_query_args(const char *s, size_t len, size_t i, int allowed,
                            const ksp_limits *lim, ksp_request *req,
                            ksp_error *err)
{
    const char *cmd = ksp_cmd_name(req->cmd);
    int seen = 0;
    uint64_t limit = lim->default_limit, offset = 0;

    for (;;) {
        i = skip_ws(s, len, i);
        if (i >= len)
            break;
        size_t e = token_end(s, len, i), eq = 0;
        const char *tok = s + i;
        size_t n = e - i;
        if (n == 2 && tok[0] == '-' && tok[1] == '-') {
            i = skip_ws(s, len, e);
            break;
        }
        if (!is_option(tok, n, &eq))
            break;
        const char *val = tok + eq + 1;
        size_t vlen = n - eq - 1;
        int which = word_eq(tok, eq, "LIMIT")    ? OPT_LIMIT
                    : word_eq(tok, eq, "OFFSET") ? OPT_OFFSET
                    : word_eq(tok, eq, "HL")     ? OPT_HL
                                                 : 0;
        if (!(which & allowed)) {
            ksp_error_set(err, KSP_ERR_BAD_REQUEST, 0,
                          "unknown option '%.*s' for %s (use -- before a query "
                          "that contains '=')",
                          quote_len(tok, eq), tok, cmd);
            return KS_EINVAL;
        }
        if (seen & which) {
            ksp_error_set(err, KSP_ERR_BAD_REQUEST, 0,
                          "option '%.*s' given twice", (int)eq, tok);
            return KS_EINVAL;
        }
        seen |= which;
        if (which == OPT_HL) {
            const char *comma = memchr(val, ',', vlen);
            if (!comma || memchr(comma + 1, ',', vlen - (size_t)(comma - val) - 1)) {
                ksp_error_set(err, KSP_ERR_BAD_REQUEST, 0,
                              "hl= takes OPEN,CLOSE (exactly one comma)");
                return KS_EINVAL;
            }
            size_t ol = (size_t)(comma - val), cl = vlen - ol - 1;
            if (ol > KSP_HL_MAX || cl > KSP_HL_MAX) {
                ksp_error_set(err, KSP_ERR_BAD_REQUEST, 0,
                              "hl= markers are limited to %d bytes each",
                              KSP_HL_MAX);
                return KS_EINVAL;
            }
            req->hl_open = (ksp_str){ val, ol };
            req->hl_close = (ksp_str){ comma + 1, cl };
        } else {
            uint64_t v;
            if (ksp_parse_number(val, vlen, &v) != 0) {
                ksp_error_set(err, KSP_ERR_BAD_REQUEST, 0,
                              "%.*s= needs a decimal number, got '%.*s'",
                              (int)eq, tok, quote_len(val, vlen), val);
                return KS_EINVAL;
            }
            if (which == OPT_LIMIT)
                limit = v;
            else
                offset = v;
        }
        i = e;
    }

    /* The query: the rest of the line without trailing blanks. */
    size_t end = len;
    while (end > i && is_ws(s[end - 1]))
        end--;
    if (end <= i) {
        ksp_error_set(err, KSP_ERR_BAD_REQUEST, 0, "%s needs a query", cmd);
        return KS_EINVAL;
    }
    req->arg = (ksp_str){ s + i, end - i };

    if (allowed) {
        int rc = ksp_check_page(lim, limit, offset, err);
        if (rc)
            return rc;
        req->limit = (uint32_t)limit;
        req->offset = (uint32_t)offset;
    }
    return 0;
}

/* ---- the parser ------------------------------------------------------ */

int ksp_parse_request(const char *line, size_t len, const ksp_limits *lim,
                      ksp_request *req, ksp_error *err)
{
    ksp_limits defaults;
    if (!lim) {
        ksp_limits_default(&defaults);
        lim = &defaults;
    }
    memset(req, 0, sizeof *req);
    clear_error(err);
    if (!line)
        len = 0;

    len = strip_eol(line, len);
    if (len > lim->max_line) {
        ksp_error_set(err, KSP_ERR_LINE_TOO_LONG, 1,
                      "request longer than %zu bytes", lim->max_line);
        return KS_ETOOBIG;
    }
    if (ksp_looks_like_http(line, len)) {
        ksp_error_set(err, KSP_ERR_BAD_REQUEST, 1,
                      "this is a kosearch protocol port, not HTTP");
        return KSP_EHTTP;
    }

    /* Whole line: valid UTF-8, and no C0 control character but TAB, no DEL:
     * those are binary garbage or terminal escapes. C1 controls (U+0080 to
     * U+009F) are accepted as text: real documents hold them (mis-decoded
     * characters) and users paste them into queries; the analyzer treats
     * them as separators, and replies turn them into spaces. */
    const uint8_t *u = (const uint8_t *)line;
    for (size_t i = 0; i < len;) {
        size_t start = i;
        UChar32 c;
        U8_NEXT(u, i, len, c);
        if (c < 0) {
            ksp_error_set(err, KSP_ERR_BAD_UTF8, 0,
                          "invalid UTF-8 at byte %zu", start);
            return KS_EUTF8;
        }
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            ksp_error_set(err, KSP_ERR_BAD_REQUEST, 0,
                          "control character U+%04X at byte %zu",
                          (unsigned)c, start);
            return KS_EINVAL;
        }
    }

    size_t i = skip_ws(line, len, 0);
    if (i >= len) {
        ksp_error_set(err, KSP_ERR_BAD_REQUEST, 0, "empty request");
        return KS_EINVAL;
    }
    size_t e = token_end(line, len, i);
    ksp_cmd cmd = lookup_cmd(line + i, e - i);
    if (cmd == KSP_CMD_NONE) {
        ksp_error_set(err, KSP_ERR_UNKNOWN_COMMAND, 0,
                      "unknown command '%.*s' (try HELP)",
                      quote_len(line + i, e - i), line + i);
        return KS_EINVAL;
    }
    req->cmd = cmd;
    req->limit = lim->default_limit;
    req->hl_open = (ksp_str){ "[", 1 };
    req->hl_close = (ksp_str){ "]", 1 };
    const char *name = cmd_names[cmd];

    /* Up to two argument tokens, for the commands that take words. */
    size_t a = skip_ws(line, len, e);
    size_t ae = token_end(line, len, a);
    size_t b = skip_ws(line, len, ae);

    int rc = 0;
    switch (cmd) {
    case KSP_CMD_SEARCH:
        rc = parse_query_args(line, len, e, OPT_LIMIT | OPT_OFFSET | OPT_HL,
                              lim, req, err);
        break;
    case KSP_CMD_COUNT:
        rc = parse_query_args(line, len, e, 0, lim, req, err);
        break;
    case KSP_CMD_PING:
    case KSP_CMD_INFO:
    case KSP_CMD_STATS:
    case KSP_CMD_QUIT:
    case KSP_CMD_RELOAD:
        if (a < len) {
            ksp_error_set(err, KSP_ERR_BAD_REQUEST, 0,
                          "%s takes no arguments", name);
            rc = KS_EINVAL;
        }
        break;
    case KSP_CMD_AUTH:
        /* One word. The messages never quote it: it is a secret. */
        if (a >= len || b < len) {
            ksp_error_set(err, KSP_ERR_BAD_REQUEST, 0,
                          "AUTH takes one argument, the token");
            rc = KS_EINVAL;
            break;
        }
        req->arg = (ksp_str){ line + a, ae - a };
        break;
    case KSP_CMD_GET:
    case KSP_CMD_FORMAT:
    case KSP_CMD_HELP:
        if (b < len) {
            ksp_error_set(err, KSP_ERR_BAD_REQUEST, 0,
                          "%s takes one argument", name);
            rc = KS_EINVAL;
            break;
        }
        req->arg = (ksp_str){ line + a, ae - a };
        if (cmd == KSP_CMD_GET && a >= len) {
            ksp_error_set(err, KSP_ERR_BAD_REQUEST, 0, "GET needs an id");
            rc = KS_EINVAL;
        } else if (cmd == KSP_CMD_FORMAT) {
            if (word_eq(line + a, ae - a, "TEXT")) {
                req->format = KSP_MODE_TEXT;
            } else if (word_eq(line + a, ae - a, "JSON")) {
                req->format = KSP_MODE_JSON;
            } else {
                ksp_error_set(err, KSP_ERR_BAD_REQUEST, 0,
                              "FORMAT takes 'text' or 'json'");
                rc = KS_EINVAL;
            }
        } else if (cmd == KSP_CMD_HELP && a < len) {
            req->topic = lookup_cmd(line + a, ae - a);
            if (req->topic == KSP_CMD_NONE) {
                ksp_error_set(err, KSP_ERR_UNKNOWN_COMMAND, 0,
                              "no help for unknown command '%.*s'",
                              quote_len(line + a, ae - a), line + a);
                rc = KS_EINVAL;
            }
        }
        break;
    case KSP_CMD_NONE:
        break;
    }
    if (rc != 0) {
        ksp_request empty;
        memset(&empty, 0, sizeof empty);
        *req = empty;
    }
    return rc;
}
