/* JSON bodies of the HTTP API that the line protocol has no reply for
 * (ksp_http.h). Offsets are counted the way the JSON encoder writes the
 * text, so a client indexing the decoded string by code point lands exactly
 * on the matches. */
#include "ksp_http.h"

#include <string.h>

#include <unicode/utf8.h>

int ksp_http_status(ksp_errcode code)
{
    switch (code) {
    case KSP_ERR_BAD_REQUEST:
    case KSP_ERR_BAD_UTF8:
    case KSP_ERR_LIMIT_EXCEEDED:
    case KSP_ERR_UNKNOWN_COMMAND: return 400;
    case KSP_ERR_FORBIDDEN: return 403;
    case KSP_ERR_NOT_FOUND: return 404;
    case KSP_ERR_TIMEOUT: return 408;
    case KSP_ERR_LINE_TOO_LONG: return 413;
    case KSP_ERR_TOO_MANY_CONNECTIONS: return 429;
    case KSP_ERR_INDEX_UNAVAILABLE: return 503;
    default: return 500;
    }
}

size_t ksp_utf8_count(const char *s, size_t len)
{
    const uint8_t *u = (const uint8_t *)s;
    size_t i = 0, n = 0;
    while (i < len) {
        UChar32 c;
        U8_NEXT(u, i, len, c); /* an invalid sequence advances past its maximal subpart */
        (void)c;
        n++;
    }
    return n;
}

int ksp_html_escape(ksp_buf *b, const char *s, size_t len)
{
    const uint8_t *u = (const uint8_t *)s;
    size_t i = 0;
    int rc = 0;
    while (rc == 0 && i < len) {
        size_t start = i;
        UChar32 c;
        U8_NEXT(u, i, len, c);
        switch (c) {
        case '&': rc = ksp_buf_puts(b, "&amp;"); break;
        case '<': rc = ksp_buf_puts(b, "&lt;"); break;
        case '>': rc = ksp_buf_puts(b, "&gt;"); break;
        case '"': rc = ksp_buf_puts(b, "&quot;"); break;
        case '\'': rc = ksp_buf_puts(b, "&#39;"); break;
        default:
            rc = c < 0 ? ksp_buf_append(b, "\xEF\xBF\xBD", 3) : ksp_buf_append(b, s + start, i - start);
        }
    }
    return rc;
}

/* Keeps only ranges that are in order, disjoint and inside the snippet,
 * so the HTML marks always nest properly. */
static int range_ok(const uint32_t *p, size_t k, size_t len)
{
    return p[2 * k] < p[2 * k + 1] && p[2 * k + 1] <= len && (k == 0 || p[2 * k] >= p[2 * k - 1]);
}

/* "highlights":[[s,e],...] in code points, then "snippet_html":"...". */
static int put_highlights(ksp_buf *b, ksp_buf *html, ksp_str snip, const ksp_ranges *rg)
{
    int rc = ksp_buf_puts(b, ",\"highlights\":[");
    size_t at = 0, cp = 0;
    int first = 1;
    ksp_buf_reset(html);
    for (size_t k = 0; rg && k < rg->n && rc == 0; k++) {
        const uint32_t *p = rg->pairs;
        if (!range_ok(p, k, snip.len) || p[2 * k] < at)
            continue;
        size_t cs = cp + ksp_utf8_count(snip.ptr + at, p[2 * k] - at);
        size_t ce = cs + ksp_utf8_count(snip.ptr + p[2 * k], p[2 * k + 1] - p[2 * k]);
        rc = ksp_buf_puts(b, first ? "[" : ",[");
        first = 0;
        if (!rc)
            rc = ksp_json_u64(b, cs);
        if (!rc)
            rc = ksp_buf_puts(b, ",");
        if (!rc)
            rc = ksp_json_u64(b, ce);
        if (!rc)
            rc = ksp_buf_puts(b, "]");
        if (!rc)
            rc = ksp_html_escape(html, snip.ptr + at, p[2 * k] - at);
        if (!rc)
            rc = ksp_buf_puts(html, "<mark>");
        if (!rc)
            rc = ksp_html_escape(html, snip.ptr + p[2 * k], p[2 * k + 1] - p[2 * k]);
        if (!rc)
            rc = ksp_buf_puts(html, "</mark>");
        at = p[2 * k + 1];
        cp = ce;
    }
    if (!rc)
        rc = ksp_html_escape(html, snip.ptr + at, snip.len - at);
    if (!rc)
        rc = ksp_buf_puts(b, "],\"snippet_html\":");
    if (!rc)
        rc = ksp_json_string(b, html->data ? html->data : "", html->len);
    return rc;
}

int ksp_format_http_search(ksp_buf *b, const ksp_http_search *s)
{
    size_t start = b->len;
    const ksp_search_result *r = s->r;
    ksp_buf html;
    ksp_buf_init(&html);
    int rc = ksp_buf_puts(b, "{\"query\":");
#define TRY(e) do { if (rc == 0) rc = (e); } while (0)
    TRY(ksp_json_string(b, s->query.ptr, s->query.len));
    TRY(ksp_buf_puts(b, ",\"parsed\":"));
    TRY(ksp_json_string(b, s->parsed.ptr, s->parsed.len));
    TRY(ksp_buf_puts(b, ",\"total\":"));
    TRY(ksp_json_u64(b, r->total));
    TRY(ksp_buf_puts(b, r->estimate ? ",\"estimate\":true,\"took_us\":" : ",\"estimate\":false,\"took_us\":"));
    TRY(ksp_json_u64(b, r->took_us));
    TRY(ksp_buf_puts(b, ",\"offset\":"));
    TRY(ksp_json_u64(b, s->offset));
    TRY(ksp_buf_puts(b, ",\"limit\":"));
    TRY(ksp_json_u64(b, s->limit));
    TRY(ksp_buf_puts(b, ",\"hits\":["));
    for (size_t i = 0; i < r->nhits && rc == 0; i++) {
        const ksp_hit *h = &r->hits[i];
        TRY(ksp_buf_puts(b, i ? ",{\"rank\":" : "{\"rank\":"));
        TRY(ksp_json_u64(b, h->rank));
        TRY(ksp_buf_puts(b, ",\"id\":"));
        TRY(ksp_json_string(b, h->id.ptr, h->id.len));
        TRY(ksp_buf_puts(b, ",\"score\":"));
        TRY(ksp_json_double(b, h->score, 1));
        TRY(ksp_buf_puts(b, ",\"title\":"));
        TRY(ksp_json_string(b, h->title.ptr, h->title.len));
        TRY(ksp_buf_puts(b, ",\"snippet\":"));
        TRY(ksp_json_string(b, h->snippet.ptr, h->snippet.len));
        TRY(put_highlights(b, &html, h->snippet, s->ranges ? &s->ranges[i] : NULL));
        TRY(ksp_buf_puts(b, "}"));
    }
    TRY(ksp_buf_puts(b, "]}\n"));
#undef TRY
    ksp_buf_free(&html);
    if (rc && b->data && start <= b->len) {
        b->len = start;
        b->data[start] = '\0';
    }
    return rc;
}
