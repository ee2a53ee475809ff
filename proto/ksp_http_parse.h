/* HTTP/1.x request heads for kosearchd's HTTP API (proto/HTTP.md): the
 * request line and the headers the daemon acts on, percent-decoding, and
 * query-string parameters. Pure functions over caller-owned bytes, shared by
 * the daemon and the fuzz target (tests/fuzz/fuzz_http.c). */
#ifndef KSP_HTTP_PARSE_H
#define KSP_HTTP_PARSE_H

#include <stddef.h>

#include "ksp_request.h"

/* One parsed request head. Slices point into the caller's head buffer. */
typedef struct ksp_http_req {
    ksp_str method, target;
    int head;                 /* HEAD: headers only */
    int keep_alive;           /* the connection stays open after the response */
    int has_body;             /* Content-Length > 0 or Transfer-Encoding: bodies are never read */
    ksp_str origin;           /* Origin header (empty: none) */
    int preflight;            /* Access-Control-Request-Method present */
} ksp_http_req;

/* Parses h[0..len): a request line, header lines, up to the blank line (LF
 * or CRLF line ends). Any bytes are accepted as input. Returns 0 with *r
 * filled, or -1 for a malformed head (bad request line, method or target
 * characters, version other than HTTP/1.0 or 1.1, header without a name or
 * colon, obsolete line folding, bad Content-Length, or no line end). */
int ksp_http_parse_head(const char *h, size_t len, ksp_http_req *r /* OUT */);

/* Splits a request target into its path and query string, both still
 * percent-encoded and pointing into target (a fragment, which clients do
 * not send, is cut off if present). query is empty without a '?'. */
void ksp_http_split_target(ksp_str target, ksp_str *path /* OUT */, ksp_str *query /* OUT */);

/* Percent-decodes s[0..n) into out (room for n bytes); '+' is a space when
 * plus is set (query strings). Returns the decoded length, or -1 for a bad
 * escape. The result may hold any byte, NUL included. */
long ksp_http_pct_decode(const char *s, size_t n, int plus, char *out /* OUT */);

/* The value of parameter name in query string qs, decoded into a malloc'd
 * NUL-terminated buffer the caller frees. Returns 1 (found: *val, *vlen),
 * 0 (absent) or -1 (bad escape, or no memory). */
int ksp_http_query_param(ksp_str qs, const char *name, char **val /* OUT */, size_t *vlen /* OUT */);

#endif
