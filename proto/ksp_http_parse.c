/* HTTP/1.x request heads: see ksp_http_parse.h. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ksp_http_parse.h"

static int ieq(ksp_str s, const char *lit)
{
    size_t n = strlen(lit);
    if (s.len != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char a = s.ptr[i], b = lit[i];
        if (a >= 'A' && a <= 'Z')
            a = (char)(a - 'A' + 'a');
        if (a != b)
            return 0;
    }
    return 1;
}

static int is_tchar(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static ksp_str trim(const char *p, size_t n)
{
    while (n && (*p == ' ' || *p == '\t'))
        p++, n--;
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r'))
        n--;
    return (ksp_str){ p, n };
}

/* Does the comma-separated header value v hold token t? */
static int has_token(ksp_str v, const char *t)
{
    size_t i = 0;
    while (i < v.len) {
        size_t j = i;
        while (j < v.len && v.ptr[j] != ',')
            j++;
        if (ieq(trim(v.ptr + i, j - i), t))
            return 1;
        i = j + 1;
    }
    return 0;
}

int ksp_http_parse_head(const char *h, size_t len, ksp_http_req *r)
{
    memset(r, 0, sizeof *r);
    const char *eol = memchr(h, '\n', len);
    if (!eol)
        return -1;
    ksp_str line = trim(h, (size_t)(eol - h));
    const char *sp1 = memchr(line.ptr, ' ', line.len);
    if (!sp1)
        return -1;
    const char *sp2 = memchr(sp1 + 1, ' ', line.len - (size_t)(sp1 + 1 - line.ptr));
    if (!sp2)
        return -1;
    r->method = (ksp_str){ line.ptr, (size_t)(sp1 - line.ptr) };
    r->target = (ksp_str){ sp1 + 1, (size_t)(sp2 - sp1 - 1) };
    ksp_str ver = { sp2 + 1, line.len - (size_t)(sp2 + 1 - line.ptr) };
    if (!r->method.len || !r->target.len)
        return -1;
    for (size_t i = 0; i < r->method.len; i++)
        if (!is_tchar(r->method.ptr[i]))
            return -1;
    for (size_t i = 0; i < r->target.len; i++)
        if ((unsigned char)r->target.ptr[i] <= 0x20 || r->target.ptr[i] == 0x7f)
            return -1;
    if (ver.len != 8 || memcmp(ver.ptr, "HTTP/1.", 7) != 0 || (ver.ptr[7] != '0' && ver.ptr[7] != '1'))
        return -1;
    int v11 = ver.ptr[7] == '1', conn_close = 0, conn_keep = 0;
    const char *p = eol + 1, *end = h + len;
    while (p < end) {
        const char *e = memchr(p, '\n', (size_t)(end - p));
        if (!e)
            return -1; /* a header line without its end */
        size_t n = (size_t)(e - p);
        if (n && p[n - 1] == '\r')
            n--;
        if (n == 0)
            break; /* the blank line */
        if (p[0] == ' ' || p[0] == '\t')
            return -1; /* obsolete line folding: RFC 9112 5.2 allows rejecting it */
        const char *colon = memchr(p, ':', n);
        if (!colon || colon == p)
            return -1;
        ksp_str name = { p, (size_t)(colon - p) };
        for (size_t i = 0; i < name.len; i++)
            if (!is_tchar(name.ptr[i]))
                return -1;
        ksp_str val = trim(colon + 1, n - name.len - 1);
        if (ieq(name, "connection")) {
            conn_close |= has_token(val, "close");
            conn_keep |= has_token(val, "keep-alive");
        } else if (ieq(name, "content-length")) {
            uint64_t v;
            if (ksp_parse_number(val.ptr, val.len, &v))
                return -1;
            r->has_body |= v > 0;
        } else if (ieq(name, "transfer-encoding")) {
            r->has_body = 1;
        } else if (ieq(name, "origin")) {
            r->origin = val;
        } else if (ieq(name, "access-control-request-method")) {
            r->preflight = 1;
        }
        p = e + 1;
    }
    r->keep_alive = v11 ? !conn_close : (conn_keep && !conn_close);
    r->head = r->method.len == 4 && memcmp(r->method.ptr, "HEAD", 4) == 0;
    return 0;
}

void ksp_http_split_target(ksp_str target, ksp_str *path, ksp_str *query)
{
    const char *t = target.ptr, *hash = target.len ? memchr(t, '#', target.len) : NULL;
    size_t tl = hash ? (size_t)(hash - t) : target.len;
    const char *qm = tl ? memchr(t, '?', tl) : NULL;
    size_t pl = qm ? (size_t)(qm - t) : tl;
    *path = (ksp_str){ t, pl };
    *query = qm ? (ksp_str){ qm + 1, tl - pl - 1 } : (ksp_str){ "", 0 };
}

static int hexval(char ch)
{
    return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                                           : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
}

long ksp_http_pct_decode(const char *s, size_t n, int plus, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
            int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return -1;
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[o++] = plus && s[i] == '+' ? ' ' : s[i];
        }
    }
    return (long)o;
}

int ksp_http_query_param(ksp_str qs, const char *name, char **val, size_t *vlen)
{
    size_t i = 0, nl = strlen(name);
    while (i < qs.len) {
        size_t j = i;
        while (j < qs.len && qs.ptr[j] != '&')
            j++;
        const char *eq = memchr(qs.ptr + i, '=', j - i);
        size_t kl = eq ? (size_t)(eq - qs.ptr - i) : j - i;
        char key[16];
        long dk = kl < sizeof key ? ksp_http_pct_decode(qs.ptr + i, kl, 1, key) : -1;
        if (dk == (long)nl && memcmp(key, name, nl) == 0) {
            const char *v = eq ? eq + 1 : qs.ptr + j;
            size_t n = (size_t)(qs.ptr + j - v);
            if (!(*val = malloc(n + 1)))
                return -1;
            long d = ksp_http_pct_decode(v, n, 1, *val);
            if (d < 0) {
                free(*val);
                *val = NULL;
                return -1;
            }
            (*val)[d] = 0;
            *vlen = (size_t)d;
            return 1;
        }
        i = j + 1;
    }
    return 0;
}

