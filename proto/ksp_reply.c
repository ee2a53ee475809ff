/* Incremental reply reader for protocol v1 (clients and tests): splits the
 * byte stream into replies using only the first line of each reply, and
 * parses SEARCH status and HIT lines back into numbers and slices. */
#include "ksp_reply.h"

#include <stdlib.h>
#include <string.h>

int ksp_reader_init(ksp_reader *r, size_t max_reply)
{
    memset(r, 0, sizeof *r);
    ksp_buf_init(&r->in);
    r->max_reply = max_reply ? max_reply : KSP_DEFAULT_MAX_REPLY;
    return 0;
}

void ksp_reader_free(ksp_reader *r)
{
    ksp_buf_free(&r->in);
    free(r->spans);
    free(r->lines);
    size_t max = r->max_reply;
    ksp_reader_init(r, max);
}

/* Drops the bytes of the reply returned last. */
static void compact(ksp_reader *r)
{
    if (!r->consumed)
        return;
    size_t rest = r->in.len - r->consumed;
    memmove(r->in.data, r->in.data + r->consumed, rest);
    r->in.len = rest;
    r->in.data[rest] = '\0';
    r->consumed = 0;
    r->scan = 0;
    r->in_body = 0;
    r->nspans = 0;
    r->status_len = 0;
}

int ksp_reader_feed(ksp_reader *r, const void *data, size_t len)
{
    if (r->broken)
        return KS_EINVAL;
    compact(r);
    int rc = ksp_buf_append(&r->in, data, len);
    if (rc)
        r->broken = 1;
    return rc;
}

size_t ksp_reader_pending(const ksp_reader *r)
{
    return r->in.len - r->consumed;
}

static int str_is(const char *p, size_t n, const char *lit)
{
    size_t m = strlen(lit);
    return n == m && memcmp(p, lit, m) == 0;
}

static int starts_with(const char *p, size_t n, const char *lit)
{
    size_t m = strlen(lit);
    return n >= m && memcmp(p, lit, m) == 0;
}

/* Decimal digits p[0..n) into *v; KS_EINVAL if empty, non-digit, overflow. */
static int parse_u64(const char *p, size_t n, uint64_t *v)
{
    if (n == 0)
        return KS_EINVAL;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return KS_EINVAL;
        unsigned d = (unsigned)(p[i] - '0');
        if (x > (UINT64_MAX - d) / 10)
            return KS_EINVAL;
        x = x * 10 + d;
    }
    *v = x;
    return 0;
}

int ksp_parse_search_status(ksp_str status, ksp_search_status *out)
{
    const char *p = status.ptr;
    size_t n = status.len;
    if (!starts_with(p, n, "OK "))
        return KS_EINVAL;
    uint64_t v[3];
    size_t i = 3;
    for (int k = 0; k < 3; k++) {
        size_t s = i;
        while (i < n && p[i] != ' ')
            i++;
        if (parse_u64(p + s, i - s, &v[k]))
            return KS_EINVAL;
        if (k < 2) {
            if (i >= n)
                return KS_EINVAL;
            i++; /* the space */
        }
    }
    int est = 0;
    if (i < n) {
        if (!str_is(p + i, n - i, " ~"))
            return KS_EINVAL;
        est = 1;
    }
    out->total = v[0];
    out->returned = v[1];
    out->took_us = v[2];
    out->estimate = est;
    return 0;
}

int ksp_parse_hit(ksp_str line, ksp_hit *hit)
{
    const char *p = line.ptr;
    size_t n = line.len;
    if (!starts_with(p, n, "HIT "))
        return KS_EINVAL;
    ksp_str f[5];
    size_t s = 4, nf = 0;
    for (size_t i = 4; i <= n; i++) {
        if (i == n || p[i] == '\t') {
            if (nf == 5)
                return KS_EINVAL;
            f[nf++] = (ksp_str){ p + s, i - s };
            s = i + 1;
        }
    }
    if (nf != 5)
        return KS_EINVAL;
    uint64_t rank;
    if (parse_u64(f[0].ptr, f[0].len, &rank))
        return KS_EINVAL;
    char tmp[64];
    if (f[1].len == 0 || f[1].len >= sizeof tmp)
        return KS_EINVAL;
    memcpy(tmp, f[1].ptr, f[1].len);
    tmp[f[1].len] = '\0';
    if (strspn(tmp, "0123456789+-.eE") != f[1].len)
        return KS_EINVAL;
    char *end;
    double score = strtod(tmp, &end);
    if (*end != '\0')
        return KS_EINVAL;
    hit->rank = rank;
    hit->score = score;
    hit->id = f[2];
    hit->title = f[3];
    hit->snippet = f[4];
    return 0;
}

static int push_span(ksp_reader *r, size_t off, size_t len)
{
    if (r->nspans == r->capspans) {
        size_t cap = r->capspans ? r->capspans * 2 : 16;
        ksp_span *p = realloc(r->spans, cap * sizeof *p);
        if (!p)
            return KS_ENOMEM;
        r->spans = p;
        r->capspans = cap;
    }
    r->spans[r->nspans++] = (ksp_span){ off, len };
    return 0;
}

/* Fills reply with the reply made of the first end bytes of the buffer. */
static int produce(ksp_reader *r, size_t end, int multiline, ksp_reply *reply)
{
    const char *d = r->in.data;
    memset(reply, 0, sizeof *reply);
    reply->raw = (ksp_str){ d, end };
    reply->status = (ksp_str){ d, r->status_len };
    reply->multiline = multiline;
    const char *st = d;
    size_t sl = r->status_len;
    if (sl > 0 && st[0] == '{') {
        reply->mode = KSP_MODE_JSON;
        static const char err_prefix[] = "{\"ok\":false,\"error\":\"";
        reply->ok = starts_with(st, sl, "{\"ok\":true");
        if (starts_with(st, sl, err_prefix)) {
            size_t s = sizeof err_prefix - 1, e = s;
            while (e < sl && st[e] != '"' && st[e] != '\\')
                e++;
            if (e < sl && st[e] == '"')
                reply->code = (ksp_str){ st + s, e - s };
        }
    } else {
        reply->mode = KSP_MODE_TEXT;
        reply->ok = starts_with(st, sl, "OK");
        if (!reply->ok && sl > 4) {
            size_t s = 4, e = 4;
            while (e < sl && st[e] != ' ')
                e++;
            reply->code = (ksp_str){ st + s, e - s };
            if (e < sl)
                reply->message = (ksp_str){ st + e + 1, sl - e - 1 };
        }
    }
    if (multiline) {
        if (r->caplines < r->nspans) {
            ksp_str *p = realloc(r->lines, r->nspans * sizeof *p);
            if (!p)
                return KS_ENOMEM;
            r->lines = p;
            r->caplines = r->nspans;
        }
        for (size_t k = 0; k < r->nspans; k++)
            r->lines[k] = (ksp_str){ d + r->spans[k].off, r->spans[k].len };
        reply->lines = r->lines;
        reply->nlines = r->nspans;
    }
    r->consumed = end;
    return 0;
}

int ksp_reader_next(ksp_reader *r, ksp_reply *reply, int *ready)
{
    *ready = 0;
    if (r->broken)
        return KS_EINVAL;
    compact(r);
    int rc = 0;
    while (rc == 0) {
        const char *d = r->in.data;
        size_t avail = r->in.len - r->scan;
        const char *lf = avail ? memchr(d + r->scan, '\n', avail) : NULL;
        if (!lf) {
            if (r->in.len > r->max_reply)
                rc = KS_ETOOBIG;
            break;
        }
        size_t start = r->scan, next = (size_t)(lf - d) + 1;
        size_t len = next - 1 - start;
        if (len > 0 && d[start + len - 1] == '\r')
            len--;
        if (next > r->max_reply) {
            rc = KS_ETOOBIG;
            break;
        }
        r->scan = next;
        const char *line = d + start;
        if (!r->in_body) {
            r->status_len = len;
            if (len > 0 && line[0] == '{') {
                if (!starts_with(line, len, "{\"ok\":true") &&
                    !starts_with(line, len, "{\"ok\":false")) {
                    rc = KS_EINVAL;
                    break;
                }
                rc = produce(r, next, 0, reply);
            } else if (str_is(line, len, "ERR") || starts_with(line, len, "ERR ")) {
                rc = produce(r, next, 0, reply);
            } else if (str_is(line, len, "OK")) {
                r->in_body = 1;
                continue;
            } else if (starts_with(line, len, "OK ")) {
                ksp_search_status ss;
                if (ksp_parse_search_status((ksp_str){ line, len }, &ss) == 0) {
                    r->in_body = 1;
                    continue;
                }
                rc = produce(r, next, 0, reply);
            } else {
                rc = KS_EINVAL;
                break;
            }
            if (rc == 0)
                *ready = 1;
            break;
        }
        if (str_is(line, len, "END")) {
            rc = produce(r, next, 1, reply);
            if (rc == 0)
                *ready = 1;
            break;
        }
        rc = push_span(r, start, len);
    }
    if (rc)
        r->broken = 1;
    return rc;
}
