/* JSON bodies of kosearchd's HTTP API (proto/HTTP.md) that the line
 * protocol has no reply for: the search page with highlight ranges and an
 * HTML snippet, plus the HTML escaper and the code-point counter they use.
 * Everything is written with the one JSON encoder (ksp_json_string) into a
 * caller-owned ksp_buf; nothing else is allocated. */
#ifndef KSP_HTTP_H
#define KSP_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "ksp_format.h"

/* Match ranges of one snippet: n start,end byte offset pairs. Borrowed. */
typedef struct ksp_ranges {
    const uint32_t *pairs;         /* NULL when n == 0 */
    size_t n;
} ksp_ranges;

/* A search page for GET /search. r->hits[i].snippet holds plain text (no
 * markers) and ranges[i] its matches (ranges may be NULL: none at all). */
typedef struct ksp_http_search {
    ksp_str query;                 /* q as given (decoded) */
    ksp_str parsed;                /* the analysed plan, one line */
    uint32_t offset, limit;        /* the page asked for */
    const ksp_search_result *r;    /* total, estimate, took_us and the hits */
    const ksp_ranges *ranges;      /* r->nhits entries, or NULL */
} ksp_http_search;

/* The HTTP status for an error code (proto/HTTP.md, Errors): 400 for
 * BAD_REQUEST, BAD_UTF8, LIMIT_EXCEEDED and UNKNOWN_COMMAND, 403 FORBIDDEN,
 * 404 NOT_FOUND, 408 TIMEOUT, 413 LINE_TOO_LONG, 429 TOO_MANY_CONNECTIONS,
 * 503 INDEX_UNAVAILABLE, 500 for INTERNAL and anything else. */
int ksp_http_status(ksp_errcode code);

/* Number of code points the JSON encoder writes for s[0..len): each valid
 * UTF-8 character counts one, and so does each invalid sequence (maximal
 * subpart) it replaces with U+FFFD. */
size_t ksp_utf8_count(const char *s, size_t len);

/* Appends s[0..len) HTML-escaped (& < > " ' as entities), invalid UTF-8
 * as U+FFFD like the JSON encoder. Returns 0 or KS_ENOMEM. */
int ksp_html_escape(ksp_buf *b, const char *s, size_t len);

/* Appends the /search body, one JSON object and a LF:
 * {"query":..,"parsed":..,"total":N,"estimate":bool,"took_us":N,"offset":N,
 *  "limit":N,"hits":[{"rank":N,"id":..,"score":X,"title":..,"snippet":..,
 *  "highlights":[[start,end],..],"snippet_html":..}]}
 * highlights are code-point offsets into snippet (ksp_utf8_count), sorted
 * and disjoint; snippet_html is the escaped snippet with <mark>..</mark>
 * around each range. Ranges that are out of order, overlapping or outside the
 * snippet are dropped. On failure nothing is appended. Returns 0 or KS_ENOMEM. */
int ksp_format_http_search(ksp_buf *b, const ksp_http_search *s);

#endif
