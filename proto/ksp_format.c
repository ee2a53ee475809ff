/* Reply formatting for protocol v1: ksp_buf, the one JSON string encoder,
 * the text-mode sanitiser, locale-independent numbers, every reply in text
 * and JSON mode, and the HELP text. */
#include "ksp_format.h"

#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unicode/utf8.h>

/* ---- ksp_buf ---------------------------------------------------------- */

int ksp_buf_init(ksp_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->failed = 0;
    return 0;
}

void ksp_buf_free(ksp_buf *b)
{
    free(b->data);
    ksp_buf_init(b);
}

void ksp_buf_reset(ksp_buf *b)
{
    b->len = 0;
    b->failed = 0;
    if (b->data)
        b->data[0] = '\0';
}

/* Ensures room for n more bytes plus the NUL. */
static int buf_reserve(ksp_buf *b, size_t n)
{
    if (b->failed)
        return KS_ENOMEM;
    if (n > SIZE_MAX - 1 - b->len) {
        b->failed = 1;
        return KS_ENOMEM;
    }
    size_t need = b->len + n + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->failed = 1;
        return KS_ENOMEM;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

int ksp_buf_append(ksp_buf *b, const void *p, size_t n)
{
    int rc = buf_reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int ksp_buf_puts(ksp_buf *b, const char *s)
{
    return ksp_buf_append(b, s, strlen(s));
}

int ksp_buf_printf(ksp_buf *b, const char *fmt, ...)
{
    if (b->failed)
        return KS_ENOMEM;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return KS_EINVAL;
    int rc = buf_reserve(b, (size_t)n);
    if (rc)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

static int putc_buf(ksp_buf *b, char c)
{
    return ksp_buf_append(b, &c, 1);
}

/* ---- numbers ----------------------------------------------------------- */

/* Appends a double as a JSON-compatible number in any locale ("%.*g", the
 * locale's decimal point replaced by '.'; NaN and infinities as 0). */
static int put_double(ksp_buf *b, double d, int digits)
{
    if (!isfinite(d))
        d = 0.0;
    char tmp[64];
    int n = snprintf(tmp, sizeof tmp, "%.*g", digits, d);
    if (n < 0 || (size_t)n >= sizeof tmp)
        return ksp_buf_puts(b, "0");
    const char *dp = localeconv()->decimal_point;
    size_t dpl = dp ? strlen(dp) : 0;
    char out[64];
    size_t o = 0;
    for (int i = 0; i < n && o < sizeof out - 1;) {
        if (dpl && !(dpl == 1 && dp[0] == '.') &&
            (size_t)(n - i) >= dpl && memcmp(tmp + i, dp, dpl) == 0) {
            out[o++] = '.';
            i += (int)dpl;
        } else {
            out[o++] = tmp[i++];
        }
    }
    return ksp_buf_append(b, out, o);
}

#define SCORE_DIGITS 6
#define VALUE_DIGITS 15

static int put_u64(ksp_buf *b, uint64_t v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return ksp_buf_append(b, tmp + i, sizeof tmp - i);
}

static int put_i64(ksp_buf *b, int64_t v)
{
    if (v < 0) {
        int rc = putc_buf(b, '-');
        if (rc)
            return rc;
        return put_u64(b, (uint64_t)0 - (uint64_t)v);
    }
    return put_u64(b, (uint64_t)v);
}

/* ---- encoders ---------------------------------------------------------- */

int ksp_json_u64(ksp_buf *b, uint64_t v)
{
    return put_u64(b, v);
}

int ksp_json_double(ksp_buf *b, double d, int score)
{
    return put_double(b, d, score ? SCORE_DIGITS : VALUE_DIGITS);
}

static const char hexdig[] = "0123456789abcdef";

/* Is code point c one we never emit raw (C0, DEL, C1)? */
static int is_control(UChar32 c)
{
    return c < 0x20 || (c >= 0x7f && c <= 0x9f);
}

int ksp_json_string(ksp_buf *b, const char *s, size_t len)
{
    const uint8_t *u = (const uint8_t *)s;
    int rc = putc_buf(b, '"');
    size_t i = 0;
    while (rc == 0 && i < len) {
        /* Copy the longest run of bytes that need no escaping at once. */
        size_t run = i;
        while (run < len && u[run] >= 0x20 && u[run] < 0x7f &&
               u[run] != '"' && u[run] != '\\')
            run++;
        if (run > i) {
            rc = ksp_buf_append(b, s + i, run - i);
            i = run;
            continue;
        }
        size_t start = i;
        UChar32 c;
        U8_NEXT(u, i, len, c);
        if (c < 0) {
            rc = ksp_buf_append(b, "\xEF\xBF\xBD", 3); /* U+FFFD */
        } else if (c == '"' || c == '\\') {
            char esc[2] = { '\\', (char)c };
            rc = ksp_buf_append(b, esc, 2);
        } else if (is_control(c) || c == 0x2028 || c == 0x2029) {
            char esc[6] = { '\\', 'u', hexdig[(c >> 12) & 0xf],
                            hexdig[(c >> 8) & 0xf], hexdig[(c >> 4) & 0xf],
                            hexdig[c & 0xf] };
            rc = ksp_buf_append(b, esc, 6);
        } else {
            rc = ksp_buf_append(b, s + start, i - start);
        }
    }
    if (rc == 0)
        rc = putc_buf(b, '"');
    return rc;
}

int ksp_text_field(ksp_buf *b, const char *s, size_t len, int token)
{
    const uint8_t *u = (const uint8_t *)s;
    int rc = 0;
    if (token && len == 0)
        return putc_buf(b, '-');
    size_t i = 0;
    while (rc == 0 && i < len) {
        size_t run = i;
        while (run < len && u[run] > 0x20 && u[run] < 0x7f)
            run++;
        if (run > i) {
            rc = ksp_buf_append(b, s + i, run - i);
            i = run;
            continue;
        }
        size_t start = i;
        UChar32 c;
        U8_NEXT(u, i, len, c);
        if (c < 0)
            rc = ksp_buf_append(b, "\xEF\xBF\xBD", 3);
        else if (c == ' ' || is_control(c))
            rc = putc_buf(b, token ? '_' : ' ');
        else
            rc = ksp_buf_append(b, s + start, i - start);
    }
    return rc;
}

static int json_cstr(ksp_buf *b, const char *s)
{
    return ksp_json_string(b, s ? s : "", s ? strlen(s) : 0);
}

/* ---- replies ----------------------------------------------------------- */

/* Runs a formatter body; on any failure the buffer is cut back to where
 * the reply started so a failed reply never leaves half a line behind. */
#define REPLY_BEGIN(b) size_t reply_start_ = (b)->len; int rc = 0
#define TRY(expr) do { if (rc == 0) rc = (expr); } while (0)
#define REPLY_END(b)                                                       \
    do {                                                                   \
        if (rc != 0 && (b)->data && reply_start_ <= (b)->len) {            \
            (b)->len = reply_start_;                                       \
            (b)->data[reply_start_] = '\0';                                \
        }                                                                  \
        return rc;                                                         \
    } while (0)

int ksp_format_error(ksp_buf *b, ksp_mode m, const ksp_error *err)
{
    REPLY_BEGIN(b);
    const char *word = ksp_errcode_word(err->code);
    if (err->code == KSP_ERR_NONE)
        word = ksp_errcode_word(KSP_ERR_INTERNAL);
    size_t mlen = strnlen(err->message, sizeof err->message);
    if (m == KSP_MODE_JSON) {
        TRY(ksp_buf_puts(b, "{\"ok\":false,\"error\":"));
        TRY(json_cstr(b, word));
        TRY(ksp_buf_puts(b, ",\"message\":"));
        TRY(ksp_json_string(b, err->message, mlen));
        if (err->close)
            TRY(ksp_buf_puts(b, ",\"close\":true"));
        TRY(ksp_buf_puts(b, "}\n"));
    } else {
        TRY(ksp_buf_puts(b, "ERR "));
        TRY(ksp_buf_puts(b, word));
        if (mlen) {
            TRY(putc_buf(b, ' '));
            TRY(ksp_text_field(b, err->message, mlen, 0));
        }
        TRY(putc_buf(b, '\n'));
    }
    REPLY_END(b);
}

int ksp_format_pong(ksp_buf *b, ksp_mode m)
{
    return ksp_buf_puts(b, m == KSP_MODE_JSON ? "{\"ok\":true,\"pong\":true}\n"
                                              : "OK PONG\n");
}

int ksp_format_bye(ksp_buf *b, ksp_mode m)
{
    return ksp_buf_puts(b, m == KSP_MODE_JSON ? "{\"ok\":true,\"bye\":true}\n"
                                              : "OK BYE\n");
}

int ksp_format_format(ksp_buf *b, ksp_mode new_mode)
{
    return ksp_buf_puts(b, new_mode == KSP_MODE_JSON
                               ? "{\"ok\":true,\"format\":\"json\"}\n"
                               : "OK FORMAT text\n");
}

int ksp_format_authenticated(ksp_buf *b, ksp_mode m)
{
    return ksp_buf_puts(b, m == KSP_MODE_JSON
                               ? "{\"ok\":true,\"authenticated\":true}\n"
                               : "OK AUTHENTICATED\n");
}

int ksp_format_reloaded(ksp_buf *b, ksp_mode m, const char *revision,
                        size_t len)
{
    REPLY_BEGIN(b);
    if (!revision)
        len = 0;
    if (m == KSP_MODE_JSON) {
        TRY(ksp_buf_puts(b, "{\"ok\":true,\"reloaded\":true,\"revision\":"));
        TRY(ksp_json_string(b, revision, len));
        TRY(ksp_buf_puts(b, "}\n"));
    } else {
        TRY(ksp_buf_puts(b, "OK RELOADED "));
        TRY(ksp_text_field(b, revision, len, 1));
        TRY(putc_buf(b, '\n'));
    }
    REPLY_END(b);
}

int ksp_format_count(ksp_buf *b, ksp_mode m, uint64_t count, int estimate)
{
    REPLY_BEGIN(b);
    if (m == KSP_MODE_JSON) {
        TRY(ksp_buf_puts(b, "{\"ok\":true,\"count\":"));
        TRY(put_u64(b, count));
        TRY(ksp_buf_puts(b, estimate ? ",\"estimate\":true}\n"
                                     : ",\"estimate\":false}\n"));
    } else {
        TRY(ksp_buf_puts(b, "OK "));
        TRY(put_u64(b, count));
        TRY(ksp_buf_puts(b, estimate ? " ~\n" : "\n"));
    }
    REPLY_END(b);
}

int ksp_format_search(ksp_buf *b, ksp_mode m, const ksp_search_result *r)
{
    REPLY_BEGIN(b);
    if (m == KSP_MODE_JSON) {
        TRY(ksp_buf_puts(b, "{\"ok\":true,\"total\":"));
        TRY(put_u64(b, r->total));
        TRY(ksp_buf_puts(b, r->estimate ? ",\"estimate\":true,\"returned\":"
                                        : ",\"estimate\":false,\"returned\":"));
        TRY(put_u64(b, (uint64_t)r->nhits));
        TRY(ksp_buf_puts(b, ",\"took_us\":"));
        TRY(put_u64(b, r->took_us));
        TRY(ksp_buf_puts(b, ",\"hits\":["));
        for (size_t k = 0; k < r->nhits && rc == 0; k++) {
            const ksp_hit *h = &r->hits[k];
            TRY(ksp_buf_puts(b, k ? ",{\"rank\":" : "{\"rank\":"));
            TRY(put_u64(b, h->rank));
            TRY(ksp_buf_puts(b, ",\"score\":"));
            TRY(put_double(b, h->score, SCORE_DIGITS));
            TRY(ksp_buf_puts(b, ",\"id\":"));
            TRY(ksp_json_string(b, h->id.ptr, h->id.len));
            TRY(ksp_buf_puts(b, ",\"title\":"));
            TRY(ksp_json_string(b, h->title.ptr, h->title.len));
            TRY(ksp_buf_puts(b, ",\"snippet\":"));
            TRY(ksp_json_string(b, h->snippet.ptr, h->snippet.len));
            TRY(putc_buf(b, '}'));
        }
        TRY(ksp_buf_puts(b, "]}\n"));
    } else {
        TRY(ksp_buf_puts(b, "OK "));
        TRY(put_u64(b, r->total));
        TRY(putc_buf(b, ' '));
        TRY(put_u64(b, (uint64_t)r->nhits));
        TRY(putc_buf(b, ' '));
        TRY(put_u64(b, r->took_us));
        TRY(ksp_buf_puts(b, r->estimate ? " ~\n" : "\n"));
        for (size_t k = 0; k < r->nhits && rc == 0; k++) {
            const ksp_hit *h = &r->hits[k];
            TRY(ksp_buf_puts(b, "HIT "));
            TRY(put_u64(b, h->rank));
            TRY(putc_buf(b, '\t'));
            TRY(put_double(b, h->score, SCORE_DIGITS));
            TRY(putc_buf(b, '\t'));
            TRY(ksp_text_field(b, h->id.ptr, h->id.len, 0));
            TRY(putc_buf(b, '\t'));
            TRY(ksp_text_field(b, h->title.ptr, h->title.len, 0));
            TRY(putc_buf(b, '\t'));
            TRY(ksp_text_field(b, h->snippet.ptr, h->snippet.len, 0));
            TRY(putc_buf(b, '\n'));
        }
        TRY(ksp_buf_puts(b, "END\n"));
    }
    REPLY_END(b);
}

static int json_value(ksp_buf *b, const ksp_kv *kv)
{
    switch (kv->type) {
    case KSP_VAL_INT: return put_i64(b, kv->i);
    case KSP_VAL_UINT: return put_u64(b, kv->u);
    case KSP_VAL_DOUBLE: return put_double(b, kv->d, VALUE_DIGITS);
    case KSP_VAL_STR: break;
    }
    return ksp_json_string(b, kv->str, kv->str ? kv->str_len : 0);
}

static int text_value(ksp_buf *b, const ksp_kv *kv)
{
    switch (kv->type) {
    case KSP_VAL_INT: return put_i64(b, kv->i);
    case KSP_VAL_UINT: return put_u64(b, kv->u);
    case KSP_VAL_DOUBLE: return put_double(b, kv->d, VALUE_DIGITS);
    case KSP_VAL_STR: break;
    }
    return ksp_text_field(b, kv->str, kv->str ? kv->str_len : 0, 0);
}

/* The JSON object {"key":value,...} of a kv list. */
static int json_object(ksp_buf *b, const ksp_kv *kv, size_t n)
{
    int rc = putc_buf(b, '{');
    for (size_t k = 0; k < n && rc == 0; k++) {
        if (k)
            TRY(putc_buf(b, ','));
        TRY(json_cstr(b, kv[k].key));
        TRY(putc_buf(b, ':'));
        TRY(json_value(b, &kv[k]));
    }
    TRY(putc_buf(b, '}'));
    return rc;
}

/* Text body: "<PREFIX> <key><sep><value>" per entry, then END. */
static int text_kv_lines(ksp_buf *b, const char *prefix, char sep,
                         const ksp_kv *kv, size_t n)
{
    int rc = ksp_buf_puts(b, "OK\n");
    for (size_t k = 0; k < n && rc == 0; k++) {
        const char *key = kv[k].key ? kv[k].key : "";
        TRY(ksp_buf_puts(b, prefix));
        TRY(putc_buf(b, ' '));
        TRY(ksp_text_field(b, key, strlen(key), 1));
        TRY(putc_buf(b, sep));
        TRY(text_value(b, &kv[k]));
        TRY(putc_buf(b, '\n'));
    }
    TRY(ksp_buf_puts(b, "END\n"));
    return rc;
}

int ksp_format_fields(ksp_buf *b, ksp_mode m, ksp_str id,
                      const ksp_kv *fields, size_t n)
{
    REPLY_BEGIN(b);
    if (m == KSP_MODE_JSON) {
        TRY(ksp_buf_puts(b, "{\"ok\":true,"));
        if (id.len) {
            TRY(ksp_buf_puts(b, "\"id\":"));
            TRY(ksp_json_string(b, id.ptr, id.len));
            TRY(putc_buf(b, ','));
        }
        TRY(ksp_buf_puts(b, "\"fields\":"));
        TRY(json_object(b, fields, n));
        TRY(ksp_buf_puts(b, "}\n"));
    } else {
        TRY(text_kv_lines(b, "FIELD", '\t', fields, n));
    }
    REPLY_END(b);
}

static int format_kv(ksp_buf *b, ksp_mode m, const char *jkey,
                     const char *prefix, const ksp_kv *kv, size_t n)
{
    REPLY_BEGIN(b);
    if (m == KSP_MODE_JSON) {
        TRY(ksp_buf_puts(b, "{\"ok\":true,\""));
        TRY(ksp_buf_puts(b, jkey));
        TRY(ksp_buf_puts(b, "\":"));
        TRY(json_object(b, kv, n));
        TRY(ksp_buf_puts(b, "}\n"));
    } else {
        TRY(text_kv_lines(b, prefix, ' ', kv, n));
    }
    REPLY_END(b);
}

int ksp_format_info(ksp_buf *b, ksp_mode m, const ksp_kv *kv, size_t n)
{
    return format_kv(b, m, "info", "INFO", kv, n);
}

int ksp_format_stats(ksp_buf *b, ksp_mode m, const ksp_kv *kv, size_t n)
{
    return format_kv(b, m, "stats", "STAT", kv, n);
}

/* ---- HELP -------------------------------------------------------------- */

/* Help text: for each command a syntax line and detail lines. The overview
 * prints every syntax line; HELP <command> prints one entry in full. No
 * line may be "END" (it would end the text reply). */
typedef struct help_entry {
    ksp_cmd cmd;               /* the command described */
    const char *syntax;        /* one-line summary */
    const char *details[6];    /* further lines, NULL-terminated */
} help_entry;

static const help_entry help_table[] = {
    { KSP_CMD_PING, "PING                      check the connection: OK PONG",
      { NULL } },
    { KSP_CMD_SEARCH,
      "SEARCH [limit=N] [offset=N] [hl=OPEN,CLOSE] [--] <query>",
      { "  ranked hits: OK <total> <returned> <took_us> [~], HIT lines, END",
        "  HIT <rank> TAB <score> TAB <id> TAB <title> TAB <snippet>",
        "  a trailing ~ means total is an estimate; defaults limit=10 offset=0 hl=[,]",
        "  query: words (all must match), \"a phrase\", -word, a OR b, title:word",
        NULL } },
    { KSP_CMD_COUNT, "COUNT [--] <query>        number of matches: OK <count> [~]",
      { NULL } },
    { KSP_CMD_GET, "GET <id>                  stored fields: OK, FIELD <name> TAB <value> lines, END",
      { NULL } },
    { KSP_CMD_INFO, "INFO                      index facts: OK, INFO <key> <value> lines, END",
      { NULL } },
    { KSP_CMD_STATS, "STATS                     server counters: OK, STAT <name> <value> lines, END",
      { NULL } },
    { KSP_CMD_FORMAT, "FORMAT text|json          reply format of this connection",
      { "  json: every reply is one line holding one JSON object", NULL } },
    { KSP_CMD_HELP, "HELP [command]            this text, or details of one command",
      { NULL } },
    { KSP_CMD_RELOAD, "RELOAD                    reopen the index (admin): OK RELOADED <revision>",
      { "  admin: allowed on kosearchd's --admin-socket, or after AUTH on TCP;",
        "  otherwise ERR FORBIDDEN", NULL } },
    { KSP_CMD_AUTH, "AUTH <token>              allow admin commands on this connection: OK AUTHENTICATED",
      { "  the token is the first line of kosearchd's --admin-token-file;",
        "  a wrong token is ERR FORBIDDEN, and after 3 the connection is closed", NULL } },
    { KSP_CMD_QUIT, "QUIT                      close the connection: OK BYE",
      { NULL } },
};

#define HELP_N (sizeof help_table / sizeof help_table[0])

static int help_line(ksp_buf *b, ksp_mode m, const char *line, int *first)
{
    int rc = 0;
    if (m == KSP_MODE_JSON) {
        if (!*first)
            TRY(putc_buf(b, ','));
        TRY(json_cstr(b, line));
    } else {
        TRY(ksp_text_field(b, line, strlen(line), 0));
        TRY(putc_buf(b, '\n'));
    }
    *first = 0;
    return rc;
}

int ksp_format_help(ksp_buf *b, ksp_mode m, ksp_cmd topic)
{
    REPLY_BEGIN(b);
    int first = 1;
    TRY(ksp_buf_puts(b, m == KSP_MODE_JSON ? "{\"ok\":true,\"help\":[" : "OK\n"));
    if (topic == KSP_CMD_NONE) {
        TRY(help_line(b, m, "kosearchd protocol v1: one request per line; "
                            "command words are case-insensitive.", &first));
        for (size_t k = 0; k < HELP_N && rc == 0; k++)
            TRY(help_line(b, m, help_table[k].syntax, &first));
        TRY(help_line(b, m, "HELP <command> for details; see PROTOCOL.md.",
                      &first));
    } else {
        for (size_t k = 0; k < HELP_N && rc == 0; k++) {
            if (help_table[k].cmd != topic)
                continue;
            TRY(help_line(b, m, help_table[k].syntax, &first));
            for (size_t d = 0; help_table[k].details[d] && rc == 0; d++)
                TRY(help_line(b, m, help_table[k].details[d], &first));
        }
    }
    TRY(ksp_buf_puts(b, m == KSP_MODE_JSON ? "]}\n" : "END\n"));
    REPLY_END(b);
}
