/* Snippet windows and highlight marks (ks_snippet.h). */
#include "ks_snippet.h"

#include <stdlib.h>
#include <string.h>

#include <unicode/utf8.h>

typedef struct span {
    uint32_t start, end; /* byte range in the text */
} span;

static int cmp_span(const void *a, const void *b)
{
    const span *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start ? 1 : (x->end < y->end ? -1 : x->end > y->end);
}

/* First index in t whose position is >= pos (terms are sorted by position). */
static size_t lower_bound(const ks_terms *t, uint32_t pos)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (t->a[mid].pos < pos)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Finds the document term at pos equal to want; returns its index or -1. */
static long term_at(const ks_terms *t, uint32_t pos, const char *want, size_t wl)
{
    for (size_t i = lower_bound(t, pos); i < t->n && t->a[i].pos == pos; i++)
        if (t->a[i].len == wl && memcmp(ks_term_text(t, i), want, wl) == 0)
            return (long)i;
    return -1;
}

static uint32_t hash_bytes(const char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)p[i]) * 16777619u;
    return h;
}

/* Appends span (st, en) to s. */
static int push_span(span **s, size_t *n, size_t *cap, uint32_t st, uint32_t en)
{
    if (*n == *cap) {
        span *ns = realloc(*s, (*cap *= 2) * sizeof **s);
        if (!ns)
            return KS_ENOMEM;
        *s = ns;
    }
    (*s)[(*n)++] = (span){ st, en };
    return 0;
}

/* Every match of a highlight item in t: the item's first term at some
 * position and its other terms at their relative positions. The items'
 * first terms go into a small hash table so that each text term is looked
 * up once, not compared with every item (a plan with spacing variants has
 * a dozen items, and most Korean terms have the same length). */
static int find_spans(const ks_terms *t, const ks_plan *p, int title, span **out, size_t *n_out)
{
    size_t n = 0, cap = 16, mask = 15;
    while (mask + 1 < 2 * p->n_hl)
        mask = mask * 2 + 1;
    span *s = malloc(cap * sizeof *s);
    /* head[slot]: 1 + first item of the chain, next[item]: 1 + next item */
    uint32_t *head = calloc(mask + 1 + p->n_hl, sizeof *head), *next = head ? head + mask + 1 : NULL;
    if (!s || !head) {
        free(s);
        free(head);
        return KS_ENOMEM;
    }
    for (size_t h = p->n_hl; h-- > 0;) {
        const ks_hl_item *it = &p->hl[h];
        if (it->title_only && !title)
            continue;
        const ks_hl_term *ht = &p->hl_terms[it->first];
        uint32_t slot = hash_bytes(p->text + ht[0].off, ht[0].len) & (uint32_t)mask;
        next[h] = head[slot];
        head[slot] = (uint32_t)h + 1;
    }
    int rc = 0;
    for (size_t i = 0; i < t->n && !rc; i++) {
        const char *tx = ks_term_text(t, i);
        for (uint32_t c = head[hash_bytes(tx, t->a[i].len) & (uint32_t)mask]; c && !rc; c = next[c - 1]) {
            const ks_hl_item *it = &p->hl[c - 1];
            const ks_hl_term *ht = &p->hl_terms[it->first];
            if (t->a[i].len != ht[0].len || memcmp(tx, p->text + ht[0].off, ht[0].len) != 0)
                continue;
            uint32_t p0 = t->a[i].pos, st = t->a[i].start, en = t->a[i].end;
            int ok = 1;
            for (uint32_t k = 1; k < it->n && ok; k++) {
                long j = term_at(t, p0 + ht[k].rel, p->text + ht[k].off, ht[k].len);
                if (j < 0)
                    ok = 0;
                else {
                    st = t->a[j].start < st ? t->a[j].start : st;
                    en = t->a[j].end > en ? t->a[j].end : en;
                }
            }
            if (ok)
                rc = push_span(&s, &n, &cap, st, en);
        }
    }
    free(head);
    if (rc) {
        free(s);
        return rc;
    }
    /* merge overlapping or touching spans */
    qsort(s, n, sizeof *s, cmp_span);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m && s[i].start <= s[m - 1].end) {
            if (s[i].end > s[m - 1].end)
                s[m - 1].end = s[i].end;
        } else {
            s[m++] = s[i];
        }
    }
    *out = s;
    *n_out = m;
    return 0;
}

/* Byte offset after advancing `chars` characters from byte `from`. */
static size_t fwd_chars(const char *text, size_t len, size_t from, size_t chars)
{
    int32_t i = (int32_t)from;
    for (size_t c = 0; c < chars && (size_t)i < len; c++)
        U8_FWD_1((const uint8_t *)text, i, (int32_t)len);
    return (size_t)i;
}

/* Byte offset after moving back `chars` characters from byte `from`. */
static size_t back_chars(const char *text, size_t from, size_t chars)
{
    int32_t i = (int32_t)from;
    for (size_t c = 0; c < chars && i > 0; c++)
        U8_BACK_1((const uint8_t *)text, 0, i);
    return (size_t)i;
}

/* Characters in text[from..to): the bytes that are not UTF-8 continuation
 * bytes, which is what stepping with U8_FWD_1 counts for valid UTF-8 (all
 * the index stores); the loop vectorises. */
static size_t count_chars(const char *text, size_t from, size_t to)
{
    size_t c = 0;
    for (size_t i = from; i < to; i++)
        c += ((uint8_t)text[i] & 0xC0) != 0x80;
    return c;
}

/* 1 when some highlight term is one character other than ASCII: it may be
 * a unigram inside a CJK run, which only a document-mode analysis emits. */
static int needs_inner_unigrams(const ks_plan *p)
{
    for (size_t i = 0; i < p->n_hl_terms; i++) {
        const ks_hl_term *t = &p->hl_terms[i];
        if (t->len >= 2 && t->len <= 4 && (uint8_t)p->text[t->off] >= 0xC0 &&
            (size_t)U8_COUNT_TRAIL_BYTES((uint8_t)p->text[t->off]) + 1 == t->len)
            return 1;
    }
    return 0;
}

int ks_snippet_make(ks_analyzer *an, const ks_plan *plan, const char *text, size_t len, const ks_snippet_opts *o,
                    char **out, size_t *out_len, size_t *n_matches)
{
    *out = NULL;
    if (o->lean && !needs_inner_unigrams(plan))
        an = o->lean;
    ks_terms t;
    memset(&t, 0, sizeof t);
    /* only terms that begin as some highlight term does can be part of a
     * match: the others are never stored (most of a text's terms) */
    uint64_t keep[KS_TERMS_KEEP_BITS / 64] = { 0 };
    for (size_t i = 0; i < plan->n_hl_terms; i++) {
        const ks_hl_term *h = &plan->hl_terms[i];
        int32_t k = 0;
        UChar32 c;
        U8_NEXT((const uint8_t *)plan->text + h->off, k, (int32_t)h->len, c);
        if (h->len)
            ks_terms_keep_set(keep, (uint32_t)(c < 0 ? 0xFFFD : c));
    }
    t.keep = keep;
    span *s = NULL;
    size_t ns = 0;
    int rc = ks_analyze(an, text, len, 0, &t);
    if (rc == KS_ETOOBIG) {
        rc = 0; /* a huge text: no highlights, just its beginning */
        t.n = 0;
    }
    if (!rc)
        rc = find_spans(&t, plan, o->title, &s, &ns);
    ks_terms_free(&t);
    if (rc)
        return rc;
    *n_matches = ns;

    /* Window: the max_chars-character stretch holding the most matches,
     * starting a little before its first match for context. */
    size_t ws = 0, we = len;
    /* longer than max_chars characters: found without counting them all */
    if (o->max_chars && fwd_chars(text, len, 0, o->max_chars) < len) {
        /* character offsets of every span boundary, in one pass (spans are
         * sorted and disjoint, so starts and ends interleave in order) */
        size_t *cs = malloc((ns + 1) * 2 * sizeof *cs), *ce = cs ? cs + ns + 1 : NULL;
        if (!cs) {
            free(s);
            return KS_ENOMEM;
        }
        size_t at = 0, chars = 0;
        for (size_t i = 0; i < ns; i++) {
            chars += count_chars(text, at, s[i].start);
            cs[i] = chars;
            chars += count_chars(text, s[i].start, s[i].end);
            ce[i] = chars;
            at = s[i].end;
        }
        size_t best = 0, best_i = 0;
        for (size_t i = 0, j = 0; i < ns; i++) {
            if (j < i)
                j = i;
            while (j < ns && ce[j] - cs[i] <= o->max_chars)
                j++;
            if (j - i > best) {
                best = j - i;
                best_i = i;
            }
        }
        free(cs);
        if (ns) {
            size_t ctx = o->max_chars / 5;
            ws = back_chars(text, s[best_i].start, ctx);
            /* start at a word boundary when one is near */
            for (size_t k = ws; k < s[best_i].start && k < ws + 24; k++)
                if (text[k] == ' ' || text[k] == '\n') {
                    ws = k + 1;
                    break;
                }
        }
        we = fwd_chars(text, len, ws, o->max_chars);
        if (we == len)
            ws = back_chars(text, len, o->max_chars);
    }

    size_t ol = strlen(o->open), cl = strlen(o->close);
    size_t cap = (we - ws) + ns * (ol + cl) + 8;
    char *b = malloc(cap), *w = b;
    /* at most one range per span (spans outside the window get none) */
    uint32_t *rg = o->ranges && ns ? malloc(ns * 2 * sizeof *rg) : NULL;
    size_t nrg = 0;
    if (!b || (o->ranges && ns && !rg)) {
        free(b);
        free(rg);
        free(s);
        return KS_ENOMEM;
    }
    if (ws > 0) {
        memcpy(w, "\xE2\x80\xA6", 3); /* … */
        w += 3;
    }
    size_t k = 0;
    while (k < ns && s[k].end <= ws)
        k++;
    int in = 0;
    for (size_t i = ws; i < we; i++) {
        if (!in && k < ns && i == (s[k].start > ws ? s[k].start : ws)) {
            memcpy(w, o->open, ol);
            w += ol;
            in = 1;
            if (rg)
                rg[2 * nrg] = (uint32_t)(w - b);
        }
        char c = text[i];
        *w++ = (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
        if (in && i + 1 == s[k].end) {
            if (rg)
                rg[2 * nrg++ + 1] = (uint32_t)(w - b);
            memcpy(w, o->close, cl);
            w += cl;
            in = 0;
            k++;
        }
    }
    if (in) {
        if (rg)
            rg[2 * nrg++ + 1] = (uint32_t)(w - b);
        memcpy(w, o->close, cl);
        w += cl;
    }
    if (we < len) {
        memcpy(w, "\xE2\x80\xA6", 3);
        w += 3;
    }
    *w = 0;
    *out = b;
    *out_len = (size_t)(w - b);
    if (o->ranges) {
        *o->ranges = rg;
        *o->n_ranges = nrg;
    }
    free(s);
    return 0;
}
