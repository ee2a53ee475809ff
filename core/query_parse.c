/* Query language v1 parser and its canonical rendering (ks_query.h has the
 * grammar). One left-to-right scan over validated UTF-8 builds the whole
 * tree inside a single allocation, so ks_query_free() is one free(). */
#include "ks_query.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unicode/uchar.h>
#include <unicode/utf8.h>

#define TITLE_PREFIX "title:"
#define TITLE_PREFIX_LEN 6

/* The single allocation behind a ks_query; the public part comes first so a
 * ks_query * is also a pointer to the block. */
typedef struct query_block {
    ks_query pub;                               /* what callers see; points into the arrays below */
    ks_query_group groups[KS_QUERY_MAX_ITEMS];  /* pub.n_groups used; each group has >= 1 item */
    ks_query_item items[KS_QUERY_MAX_ITEMS];    /* pub.n_items used, in query order */
    char arena[];                               /* item texts, each NUL-terminated */
} query_block;

/* Scanner state for one ks_query_parse() call. */
typedef struct parser {
    const uint8_t *s;    /* the query, already validated */
    int32_t len;         /* bytes in s (<= KS_QUERY_MAX_BYTES) */
    int32_t pos;         /* next byte to scan */
    query_block *qb;     /* the tree being built */
    size_t arena_used;   /* bytes of qb->arena used so far */
    ks_errbuf *eb;       /* caller's error detail; may be NULL */
} parser;

/* An item as scanned, before it is stored. */
typedef struct scanned {
    const uint8_t *text;   /* start of its text within the query */
    size_t text_len;       /* bytes of text; 0 for an ignored empty phrase */
    size_t n_words;        /* whitespace-separated words in text */
    ks_query_field field;  /* KS_FIELD_TITLE if written with title: */
    bool is_phrase;        /* written in double quotes */
    bool negated;          /* written with a leading - */
} scanned;

/* Byte length of the whitespace code point at s[pos], or 0 if pos is at the
 * end or the code point there is not whitespace. */
static int32_t ws_len(const uint8_t *s, int32_t len, int32_t pos)
{
    if (pos >= len)
        return 0;
    int32_t i = pos;
    UChar32 c;
    U8_NEXT(s, i, len, c);
    return (c >= 0 && u_isUWhiteSpace(c)) ? i - pos : 0;
}

/* True if an item or OR ends at pos: the end of the query or whitespace. */
static bool at_boundary(const uint8_t *s, int32_t len, int32_t pos)
{
    return pos >= len || ws_len(s, len, pos) > 0;
}

/* Rejects invalid UTF-8 and U+0000 (item texts are NUL-terminated). */
static int validate(const uint8_t *s, int32_t len, ks_errbuf *eb)
{
    int32_t i = 0;
    while (i < len) {
        int32_t at = i;
        UChar32 c;
        U8_NEXT(s, i, len, c);
        if (c < 0)
            return ks_seterr(eb, KS_EUTF8,
                             "query is not valid UTF-8 (bad sequence at byte %ld)",
                             (long)at);
        if (c == 0)
            return ks_seterr(eb, KS_EINVAL,
                             "query contains a NUL character (at byte %ld)",
                             (long)at);
    }
    return KS_OK;
}

/* Scans the phrase body s[open..close): trims whitespace at both ends and
 * counts words; enforces the phrase word limit. */
static int scan_phrase_body(parser *p, int32_t open, int32_t close,
                            scanned *it /* OUT */)
{
    int32_t i = open, first = -1, last_end = open;
    size_t words = 0;
    bool in_word = false;
    while (i < close) {
        int32_t w = ws_len(p->s, close, i);
        if (w > 0) {
            in_word = false;
            i += w;
            continue;
        }
        if (!in_word) {
            words++;
            in_word = true;
            if (first < 0)
                first = i;
        }
        U8_FWD_1(p->s, i, close);
        last_end = i;
    }
    if (words > KS_QUERY_MAX_PHRASE_WORDS)
        return ks_seterr(p->eb, KS_ETOOBIG,
                         "phrase has %zu words; the limit is %d", words,
                         KS_QUERY_MAX_PHRASE_WORDS);
    it->n_words = words;
    if (words == 0) {
        it->text = p->s + open;
        it->text_len = 0;
    } else {
        it->text = p->s + first;
        it->text_len = (size_t)(last_end - first);
    }
    return KS_OK;
}

/* Scans one item starting at p->pos (not whitespace, not OR) and leaves
 * p->pos just past it. */
static int scan_item(parser *p, scanned *it /* OUT */)
{
    const uint8_t *s = p->s;
    int32_t len = p->len, t = p->pos;

    memset(it, 0, sizeof *it);
    it->field = KS_FIELD_ANY;
    if (s[t] == '-' && !at_boundary(s, len, t + 1)) {
        it->negated = true;
        t++;
    }
    if (len - t > TITLE_PREFIX_LEN &&
        memcmp(s + t, TITLE_PREFIX, TITLE_PREFIX_LEN) == 0 &&
        !at_boundary(s, len, t + TITLE_PREFIX_LEN)) {
        it->field = KS_FIELD_TITLE;
        t += TITLE_PREFIX_LEN;
    }
    if (s[t] == '"') {
        /* '"' is ASCII, so a byte search cannot land inside a sequence. */
        int32_t open = t + 1, close = open;
        while (close < len && s[close] != '"')
            close++;
        p->pos = close < len ? close + 1 : len;
        it->is_phrase = true;
        return scan_phrase_body(p, open, close, it);
    }
    int32_t end = t;
    while (!at_boundary(s, len, end))
        U8_FWD_1(s, end, len);
    p->pos = end;
    it->text = s + t;
    it->text_len = (size_t)(end - t);
    it->n_words = 1;
    return KS_OK;
}

/* True if the token at p->pos is the OR operator. */
static bool at_or(const parser *p)
{
    return p->len - p->pos >= 2 && p->s[p->pos] == 'O' &&
           p->s[p->pos + 1] == 'R' && at_boundary(p->s, p->len, p->pos + 2);
}

/* Appends it to the query: into the last group if join, else as a new group. */
static int store_item(parser *p, const scanned *it, bool join)
{
    ks_query *q = &p->qb->pub;
    if (q->n_items >= KS_QUERY_MAX_ITEMS)
        return ks_seterr(p->eb, KS_ETOOBIG,
                         "query has more than %d words and phrases",
                         KS_QUERY_MAX_ITEMS);
    if (join && p->qb->groups[q->n_groups - 1].n_items >= KS_QUERY_MAX_OR_ITEMS)
        return ks_seterr(p->eb, KS_ETOOBIG,
                         "an OR group has more than %d alternatives",
                         KS_QUERY_MAX_OR_ITEMS);

    char *text = p->qb->arena + p->arena_used;
    memcpy(text, it->text, it->text_len);
    text[it->text_len] = '\0';
    p->arena_used += it->text_len + 1;

    ks_query_item *item = &p->qb->items[q->n_items];
    item->text = text;
    item->text_len = it->text_len;
    item->n_words = it->n_words;
    item->field = it->field;
    item->is_phrase = it->is_phrase;
    item->negated = it->negated;

    if (join) {
        p->qb->groups[q->n_groups - 1].n_items++;
    } else {
        p->qb->groups[q->n_groups].items = item;
        p->qb->groups[q->n_groups].n_items = 1;
        q->n_groups++;
    }
    q->n_items++;
    if (it->negated)
        q->n_negated++;
    return KS_OK;
}

static const char or_msg[] = "OR needs a word on each side";
static const char or_not_msg[] =
    "an excluded word or phrase (-...) cannot be part of an OR group";

/* The scan proper: items and ORs, left to right. */
static int parse_all(parser *p)
{
    ks_query *q = &p->qb->pub;
    bool after_or = false;  /* the last token was OR, waiting for its right side */

    for (;;) {
        int32_t w;
        while ((w = ws_len(p->s, p->len, p->pos)) > 0)
            p->pos += w;
        if (p->pos >= p->len)
            break;
        if (at_or(p)) {
            if (q->n_items == 0 || after_or)
                return ks_seterr(p->eb, KS_EINVAL, "%s", or_msg);
            if (q->items[q->n_items - 1].negated)
                return ks_seterr(p->eb, KS_EINVAL, "%s", or_not_msg);
            after_or = true;
            p->pos += 2;
            continue;
        }
        scanned it;
        int rc = scan_item(p, &it);
        if (rc < 0)
            return rc;
        if (it.text_len == 0)
            continue;  /* empty phrase: ignored as if absent */
        if (after_or && it.negated)
            return ks_seterr(p->eb, KS_EINVAL, "%s", or_not_msg);
        rc = store_item(p, &it, after_or);
        if (rc < 0)
            return rc;
        after_or = false;
    }
    if (after_or)
        return ks_seterr(p->eb, KS_EINVAL, "%s", or_msg);
    if (q->n_items == q->n_negated)
        return ks_seterr(p->eb, KS_EINVAL, "query has no words to search for");
    return KS_OK;
}

int ks_query_parse(const char *q, size_t len, ks_query **out /* OUT */,
                   ks_errbuf *eb)
{
    if (eb)
        eb->msg[0] = '\0';
    if (!out)
        return ks_seterr(eb, KS_EINVAL, "ks_query_parse: out is NULL");
    *out = NULL;
    if (!q && len > 0)
        return ks_seterr(eb, KS_EINVAL, "ks_query_parse: query is NULL");
    if (len > KS_QUERY_MAX_BYTES)
        return ks_seterr(eb, KS_ETOOBIG,
                         "query is %zu bytes; the limit is %d", len,
                         KS_QUERY_MAX_BYTES);

    const uint8_t *s = (const uint8_t *)(q ? q : "");
    int rc = validate(s, (int32_t)len, eb);
    if (rc < 0)
        return rc;

    /* Item texts are disjoint pieces of the query, plus one NUL each. */
    query_block *qb =
        calloc(1, sizeof *qb + len + KS_QUERY_MAX_ITEMS);
    if (!qb)
        return ks_seterr(eb, KS_ENOMEM, "out of memory parsing the query");
    qb->pub.groups = qb->groups;
    qb->pub.items = qb->items;

    parser p = { .s = s, .len = (int32_t)len, .pos = 0, .qb = qb,
                 .arena_used = 0, .eb = eb };
    rc = parse_all(&p);
    if (rc < 0) {
        free(qb);
        return rc;
    }
    *out = &qb->pub;
    return KS_OK;
}

void ks_query_free(ks_query *q)
{
    /* pub is the first member, so this is the block's address. */
    free(q);
}

/* ---- describe ---------------------------------------------------------- */

/* snprintf-style output: counts everything, stores what fits. */
typedef struct writer {
    char *buf;   /* destination; may be NULL when cap is 0 */
    size_t cap;  /* bytes available in buf, including the NUL */
    size_t n;    /* bytes of the full rendering so far */
} writer;

static void put_bytes(writer *w, const char *b, size_t n)
{
    if (w->n < w->cap) {
        size_t room = w->cap - 1 - w->n;
        memcpy(w->buf + w->n, b, n < room ? n : room);
    }
    w->n += n;
}

static void put_str(writer *w, const char *str)
{
    put_bytes(w, str, strlen(str));
}

/* True for code points describe() writes as \u{...}. */
static bool needs_escape(UChar32 c)
{
    if (c == ' ')
        return false;
    int8_t type = u_charType(c);
    return u_isUWhiteSpace(c) || type == U_CONTROL_CHAR ||
           type == U_FORMAT_CHAR;
}

static void put_text(writer *w, const char *text, size_t len)
{
    const uint8_t *s = (const uint8_t *)text;
    int32_t i = 0, n = (int32_t)len;
    while (i < n) {
        int32_t start = i;
        UChar32 c;
        U8_NEXT(s, i, n, c);
        if (c == '"' || c == '\\') {
            char esc[2] = { '\\', (char)c };
            put_bytes(w, esc, 2);
        } else if (c < 0 || needs_escape(c)) {
            /* c < 0 cannot happen (texts were validated); show it as U+FFFD. */
            char esc[16];
            int k = snprintf(esc, sizeof esc, "\\u{%04lX}",
                             (unsigned long)(c < 0 ? 0xFFFD : c));
            put_bytes(w, esc, (size_t)k);
        } else {
            put_bytes(w, text + start, (size_t)(i - start));
        }
    }
}

static void put_item(writer *w, const ks_query_item *it)
{
    if (it->field == KS_FIELD_TITLE)
        put_str(w, "title:");
    put_str(w, it->is_phrase ? "phrase:\"" : "word:\"");
    put_text(w, it->text, it->text_len);
    put_str(w, "\"");
}

int ks_query_describe(const ks_query *q, char *buf, size_t cap)
{
    if (!q || (!buf && cap > 0))
        return KS_EINVAL;
    writer w = { .buf = buf, .cap = cap, .n = 0 };
    put_str(&w, "AND(");
    for (size_t g = 0; g < q->n_groups; g++) {
        const ks_query_group *grp = &q->groups[g];
        if (g > 0)
            put_str(&w, ", ");
        bool neg = grp->n_items == 1 && grp->items[0].negated;
        put_str(&w, neg ? "NOT(" : "OR(");
        for (size_t i = 0; i < grp->n_items; i++) {
            if (i > 0)
                put_str(&w, ", ");
            put_item(&w, &grp->items[i]);
        }
        put_str(&w, ")");
    }
    put_str(&w, ")");
    if (cap > 0)
        buf[w.n < cap ? w.n : cap - 1] = '\0';
    if (w.n > (size_t)INT32_MAX)
        return KS_ETOOBIG;  /* unreachable: bounded by the query limits */
    return (int)w.n;
}
