/* Protocol v1 reply formatting: a growable byte buffer (ksp_buf), the JSON
 * string encoder and text-mode field sanitiser, and one formatter per reply
 * in text and JSON mode. Every formatter appends one complete reply
 * (ending in LF) to a caller-owned ksp_buf. See proto/PROTOCOL.md. */
#ifndef KSP_FORMAT_H
#define KSP_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "ksp_request.h"

/* Growable byte buffer. data is always NUL-terminated after a successful
 * init (the NUL is not counted in len). Once an append fails, the buffer
 * keeps its earlier contents and every later append fails too, until reset. */
typedef struct ksp_buf {
    char *data;   /* heap bytes owned by the buffer; NULL before first append */
    size_t len;   /* bytes used, not counting the terminating NUL */
    size_t cap;   /* bytes allocated */
    int failed;   /* nonzero after an allocation failure (sticky) */
} ksp_buf;

/* One search hit, filled by the daemon. Slices are borrowed. */
typedef struct ksp_hit {
    uint64_t rank;      /* 1-based position in the whole result list */
    double score;       /* relevance; non-finite values are sent as 0 */
    ksp_str id;         /* document id */
    ksp_str title;      /* title (may be empty) */
    ksp_str snippet;    /* snippet with highlight markers (may be empty) */
} ksp_hit;

/* A SEARCH result page. */
typedef struct ksp_search_result {
    uint64_t total;       /* matching documents (maybe estimated) */
    int estimate;         /* nonzero: total is an estimate (text marker "~") */
    uint64_t took_us;     /* search time in microseconds */
    const ksp_hit *hits;  /* borrowed array of nhits hits, in rank order */
    size_t nhits;         /* hits returned on this page */
} ksp_search_result;

/* Type of a key-value entry's value. */
typedef enum ksp_val_type {
    KSP_VAL_STR = 0,  /* str/str_len: a UTF-8 string */
    KSP_VAL_INT,      /* i: a signed integer */
    KSP_VAL_UINT,     /* u: an unsigned integer */
    KSP_VAL_DOUBLE    /* d: a real number (non-finite sent as 0) */
} ksp_val_type;

/* One key-value entry for INFO, STATS and GET fields. Borrowed. */
typedef struct ksp_kv {
    const char *key;     /* NUL-terminated name; blanks become '_' in text */
    ksp_val_type type;   /* which of the value members is used */
    const char *str;     /* KSP_VAL_STR: value bytes (NULL = empty) */
    size_t str_len;      /* KSP_VAL_STR: value length in bytes */
    int64_t i;           /* KSP_VAL_INT value */
    uint64_t u;          /* KSP_VAL_UINT value */
    double d;            /* KSP_VAL_DOUBLE value */
} ksp_kv;

/* ---- ksp_buf ---------------------------------------------------------- */

/* Makes b empty. Returns 0. */
int ksp_buf_init(ksp_buf *b /* OUT */);
/* Frees b's memory and leaves it empty and reusable. */
void ksp_buf_free(ksp_buf *b);
/* Empties b (keeps its memory) and clears the failed flag. */
void ksp_buf_reset(ksp_buf *b);
/* Appends n bytes. Returns 0, or KS_ENOMEM (allocation failure, size
 * overflow, or b already failed). */
int ksp_buf_append(ksp_buf *b, const void *p, size_t n);
/* Appends a NUL-terminated string. Returns as ksp_buf_append. */
int ksp_buf_puts(ksp_buf *b, const char *s);
/* Appends printf output. Returns 0, KS_ENOMEM, or KS_EINVAL for a bad
 * format. */
int ksp_buf_printf(ksp_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- encoders ---------------------------------------------------------- */

/* Appends v in decimal. Returns 0 or KS_ENOMEM. */
int ksp_json_u64(ksp_buf *b, uint64_t v);

/* Appends d as a JSON number in any locale, with 6 significant digits when
 * score is nonzero (as SEARCH sends scores), else 15; NaN and infinities as 0.
 * Returns 0 or KS_ENOMEM. */
int ksp_json_double(ksp_buf *b, double d, int score);

/* Appends s[0..len) as a quoted JSON string: '"' and '\' escaped, control
 * characters U+0000-U+001F, U+007F-U+009F and U+2028/U+2029 as \uXXXX,
 * each invalid UTF-8 sequence (maximal subpart) as U+FFFD; everything else
 * as UTF-8. s may hold NULs. Returns 0 or KS_ENOMEM. */
int ksp_json_string(ksp_buf *b, const char *s, size_t len);

/* Appends s[0..len) for a text-mode field: TAB, CR, LF and every other
 * control character (U+0000-U+001F, U+007F-U+009F) become a space, invalid
 * UTF-8 becomes U+FFFD. If token is nonzero, spaces also become '_' and an
 * empty value becomes "-" (for keys and names). Returns 0 or KS_ENOMEM. */
int ksp_text_field(ksp_buf *b, const char *s, size_t len, int token);

/* ---- replies (each appends one complete reply) ------------------------ */

/* ERR <WORD> <message>  |  {"ok":false,"error":"WORD","message":"..."}
 * (JSON adds "close":true when err->close). Returns 0 or KS_ENOMEM. */
int ksp_format_error(ksp_buf *b, ksp_mode m, const ksp_error *err);

/* OK PONG  |  {"ok":true,"pong":true}. Returns 0 or KS_ENOMEM. */
int ksp_format_pong(ksp_buf *b, ksp_mode m);

/* OK BYE  |  {"ok":true,"bye":true}. Returns 0 or KS_ENOMEM. */
int ksp_format_bye(ksp_buf *b, ksp_mode m);

/* Reply to FORMAT, written in the NEW mode: OK FORMAT text  |
 * {"ok":true,"format":"json"}. Returns 0 or KS_ENOMEM. */
int ksp_format_format(ksp_buf *b, ksp_mode new_mode);

/* OK RELOADED <revision>  |  {"ok":true,"reloaded":true,"revision":"..."}.
 * revision is sanitised as a token in text mode. Returns 0 or KS_ENOMEM. */
int ksp_format_reloaded(ksp_buf *b, ksp_mode m, const char *revision,
                        size_t len);

/* Reply to a good AUTH: OK AUTHENTICATED  |  {"ok":true,"authenticated":true}.
 * Returns 0 or KS_ENOMEM. */
int ksp_format_authenticated(ksp_buf *b, ksp_mode m);

/* OK <count>[ ~]  |  {"ok":true,"count":N,"estimate":false}.
 * Returns 0 or KS_ENOMEM. */
int ksp_format_count(ksp_buf *b, ksp_mode m, uint64_t count, int estimate);

/* OK <total> <returned> <took_us>[ ~], one line per hit
 * "HIT <rank>\t<score>\t<id>\t<title>\t<snippet>", END  |
 * {"ok":true,"total":N,"estimate":false,"returned":N,"took_us":N,
 *  "hits":[{"rank":N,"score":X,"id":"..","title":"..","snippet":".."}]}.
 * returned is r->nhits. Returns 0 or KS_ENOMEM. */
int ksp_format_search(ksp_buf *b, ksp_mode m, const ksp_search_result *r);

/* GET: OK, "FIELD <name>\t<value>" per field, END  |
 * {"ok":true,"id":"..","fields":{"name":value,...}}. id may be empty (then
 * omitted from JSON). Returns 0 or KS_ENOMEM. */
int ksp_format_fields(ksp_buf *b, ksp_mode m, ksp_str id,
                      const ksp_kv *fields, size_t n);

/* INFO: OK, "INFO <key> <value>" per entry, END  |
 * {"ok":true,"info":{"key":value,...}}. Returns 0 or KS_ENOMEM. */
int ksp_format_info(ksp_buf *b, ksp_mode m, const ksp_kv *kv, size_t n);

/* STATS: OK, "STAT <name> <value>" per entry, END  |
 * {"ok":true,"stats":{"name":value,...}}. Returns 0 or KS_ENOMEM. */
int ksp_format_stats(ksp_buf *b, ksp_mode m, const ksp_kv *kv, size_t n);

/* HELP: OK, help text lines, END  |  {"ok":true,"help":["line",...]}.
 * topic KSP_CMD_NONE gives the overview, a command its details.
 * Returns 0 or KS_ENOMEM. */
int ksp_format_help(ksp_buf *b, ksp_mode m, ksp_cmd topic);

#endif
