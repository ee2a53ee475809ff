/* Builds query plans (ks_plan.h). The rules that make Korean search work:
 * - a word with one term is that term; a word with several is a PHRASE of
 *   them at their analyzer positions (so 카카오 matches the substring, never
 *   scattered syllables);
 * - spacing variants: a word of three or more Hangul/CJK characters also
 *   matches with one space inside it. With the space after character k the
 *   document holds the same bigrams at the same positions (spaces take no
 *   position) except the one spanning the space, and a one-character side
 *   is a word of its own, so each split is a phrase of those terms:
 *   인공지능 = PHRASE(인공 공지 지능) OR PHRASE(인 공지 지능) OR PHRASE(인공 지능)
 *   OR PHRASE(인공지 능). A quoted phrase of several words also matches with
 *   the spaces between CJK words removed ("할 수 있다" finds 할수있다);
 * - title: items use the KS_PREFIX_TITLE terms;
 * - every alternative of a positive item is also a highlight item;
 * - phrase boost: when a query has several plain words, documents holding
 *   them next to each other in query order, in the body or the title, get
 *   that phrase's weight on top (AND_MAYBE): "표 삽입" ranks the page titled
 *   "표 삽입" above pages where 표 and 삽입 are far apart. */
#include <unicode/uchar.h>
#include <unicode/uscript.h>
#include <unicode/utf8.h>

#include "ks_grow.h"
#include "ks_plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int add_text(ks_plan *p, const char *a, size_t al, const char *b, size_t bl, uint32_t *off)
{
    if (ks_grow((void **)&p->text, &p->cap_text, p->text_len + al + bl + 1, 1))
        return KS_ENOMEM;
    *off = (uint32_t)p->text_len;
    memcpy(p->text + p->text_len, a, al);
    memcpy(p->text + p->text_len + al, b, bl);
    p->text_len += al + bl;
    p->text[p->text_len] = 0;
    return 0;
}

/* Appends a node; returns its index or -1. */
static long add_node(ks_plan *p, ks_plan_node n)
{
    if (ks_grow((void **)&p->nodes, &p->cap_nodes, p->n_nodes + 1, sizeof *p->nodes))
        return -1;
    p->nodes[p->n_nodes] = n;
    return (long)p->n_nodes++;
}

static long add_term(ks_plan *p, const char *prefix, const char *t, size_t tl)
{
    if (p->n_terms >= KS_PLAN_MAX_TERMS)
        return -2;
    uint32_t off;
    size_t pl = strlen(prefix);
    if (add_text(p, prefix, pl, t, tl, &off))
        return -1;
    p->n_terms++;
    ks_plan_node n = { KS_PLAN_TERM, 0, 0, 0, off, (uint32_t)(pl + tl) };
    return add_node(p, n);
}

/* Appends an operator node over the children in ids[0..n). */
static long add_op(ks_plan *p, int op, const long *ids, size_t n, uint32_t window)
{
    if (n == 1 && op != KS_PLAN_PHRASE && op != KS_PLAN_AND_NOT)
        return ids[0];
    if (ks_grow((void **)&p->kids, &p->cap_kids, p->n_kids + n, sizeof *p->kids))
        return -1;
    ks_plan_node nd = { (uint8_t)op, window, (uint32_t)p->n_kids, (uint32_t)n, 0, 0 };
    for (size_t i = 0; i < n; i++)
        p->kids[p->n_kids++] = (uint32_t)ids[i];
    return add_node(p, nd);
}

typedef struct seq_term {
    const char *t;   /* term bytes (borrowed from the analyzer output) */
    uint32_t len;
    uint32_t pos;
} seq_term;

#define KS_PLAN_MAX_SPLIT_CHARS 12 /* longer words get no spacing alternatives */

/* Adds the phrase (or single term) of seq[0..n) and, for a positive item,
 * its highlight item. Returns the node, -2 (too many terms in the plan), -4
 * (too many in this phrase) or -1. */
static long plan_seq(ks_plan *p, const char *pfx, const seq_term *seq, size_t n, int hl, int title_only)
{
    if (hl) {
        if (ks_grow((void **)&p->hl, &p->cap_hl, p->n_hl + 1, sizeof *p->hl) ||
            ks_grow((void **)&p->hl_terms, &p->cap_hl_terms, p->n_hl_terms + n, sizeof *p->hl_terms))
            return -1;
        ks_hl_item *h = &p->hl[p->n_hl++];
        h->first = (uint32_t)p->n_hl_terms;
        h->n = (uint32_t)n;
        h->title_only = (uint8_t)title_only;
        for (size_t i = 0; i < n; i++) {
            ks_hl_term *ht = &p->hl_terms[p->n_hl_terms++];
            if (add_text(p, seq[i].t, seq[i].len, "", 0, &ht->off))
                return -1;
            ht->len = seq[i].len;
            ht->rel = seq[i].pos - seq[0].pos;
        }
    }
    if (n == 1)
        return add_term(p, pfx, seq[0].t, seq[0].len);
    long kid[KS_PLAN_MAX_PHRASE_TERMS];
    if (n > KS_PLAN_MAX_PHRASE_TERMS)
        return -4;
    for (size_t i = 0; i < n; i++)
        if ((kid[i] = add_term(p, pfx, seq[i].t, seq[i].len)) < 0)
            return kid[i];
    return add_op(p, KS_PLAN_PHRASE, kid, n, seq[n - 1].pos - seq[0].pos + 1);
}

/* Byte length of the first character of s. */
static uint32_t first_char_len(const char *s, uint32_t len)
{
    int32_t i = 0;
    U8_FWD_1((const uint8_t *)s, i, (int32_t)len);
    return (uint32_t)i;
}

static int is_cjk(UChar32 c)
{
    UErrorCode ec = U_ZERO_ERROR;
    UScriptCode sc = uscript_getScript(c, &ec);
    return sc == USCRIPT_HANGUL || sc == USCRIPT_HAN || sc == USCRIPT_HIRAGANA || sc == USCRIPT_KATAKANA;
}

/* Copies text without the whitespace that stands between two CJK
 * characters; returns the new length (dst holds len + 1 bytes). */
static size_t join_cjk(const char *text, size_t len, char *dst)
{
    const uint8_t *u = (const uint8_t *)text;
    size_t o = 0;
    int32_t i = 0, n = (int32_t)len;
    UChar32 prev = -1;
    while (i < n) {
        int32_t st = i;
        UChar32 c;
        U8_NEXT(u, i, n, c);
        if (c >= 0 && u_isUWhiteSpace(c) && prev >= 0 && is_cjk(prev)) {
            int32_t j = i;
            UChar32 d = -1;
            while (j < n) { /* the next non-space character */
                U8_NEXT(u, j, n, d);
                if (d < 0 || !u_isUWhiteSpace(d))
                    break;
            }
            if (d >= 0 && is_cjk(d))
                continue; /* drop this space */
        }
        memcpy(dst + o, text + st, (size_t)(i - st));
        o += (size_t)(i - st);
        prev = c;
    }
    dst[o] = 0;
    return o;
}

static int same_terms(const ks_terms *a, const ks_terms *b)
{
    if (a->n != b->n)
        return 0;
    for (size_t i = 0; i < a->n; i++)
        if (a->a[i].len != b->a[i].len || a->a[i].pos - a->a[0].pos != b->a[i].pos - b->a[0].pos ||
            memcmp(ks_term_text(a, i), ks_term_text(b, i), a->a[i].len) != 0)
            return 0;
    return 1;
}

/* Plans one item; returns its node, -3 when it yields no term, -2 too many
 * terms, -4 a phrase of too many terms, -1 out of memory. */
static long plan_item(ks_plan *p, const ks_query_item *it, ks_analyzer *qa, ks_terms *t, ks_terms *t2,
                      int relaxed)
{
    ks_terms_reset(t);
    if (ks_analyze(qa, it->text, it->text_len, 0, t))
        return -1;
    if (t->n == 0)
        return -3;
    const char *pfx = it->field == KS_FIELD_TITLE ? KS_PREFIX_TITLE : "";
    int hl = !it->negated, title_only = it->field == KS_FIELD_TITLE;
    if (relaxed && !it->negated) {
        /* any of the item's terms; each is also highlighted on its own */
        long kid[KS_PLAN_MAX_TERMS];
        size_t nk = 0;
        for (size_t i = 0; i < t->n && nk < KS_PLAN_MAX_TERMS; i++) {
            seq_term one = { ks_term_text(t, i), t->a[i].len, 0 };
            long id = plan_seq(p, pfx, &one, 1, hl, title_only);
            if (id < 0)
                return id;
            kid[nk++] = id;
        }
        return add_op(p, KS_PLAN_OR, kid, nk, 0);
    }
    long alt[KS_PLAN_MAX_SPLIT_CHARS + 2];
    size_t nalt = 0;
    seq_term *seq = malloc((t->n + 2) * sizeof *seq);
    if (!seq)
        return -1;
    for (size_t i = 0; i < t->n; i++)
        seq[i] = (seq_term){ ks_term_text(t, i), t->a[i].len, t->a[i].pos };
    long rc = alt[nalt++] = plan_seq(p, pfx, seq, t->n, hl, title_only);

    /* One space inside a single word of 3+ CJK characters (all bigrams). */
    size_t m = t->n, nchars = m + 1;
    int one_run = !it->is_phrase && m >= 2 && nchars <= KS_PLAN_MAX_SPLIT_CHARS;
    for (size_t i = 0; one_run && i < m; i++)
        one_run = t->a[i].kind == KS_TERM_BIGRAM && t->a[i].pos == t->a[0].pos + i;
    for (size_t k = 1; one_run && rc >= 0 && k < nchars; k++) {
        size_t n = 0;
        if (k == 1) /* left side: the first character alone */
            seq[n++] = (seq_term){ t->text + t->a[0].off, first_char_len(ks_term_text(t, 0), t->a[0].len),
                                   t->a[0].pos };
        else
            for (size_t i = 0; i + 1 < k; i++)
                seq[n++] = (seq_term){ ks_term_text(t, i), t->a[i].len, t->a[i].pos };
        if (k == nchars - 1) { /* right side: the last character alone */
            const ks_term *last = &t->a[m - 1];
            uint32_t fl = first_char_len(ks_term_text(t, m - 1), last->len);
            seq[n++] = (seq_term){ ks_term_text(t, m - 1) + fl, last->len - fl, last->pos + 1 };
        } else {
            for (size_t i = k; i < m; i++)
                seq[n++] = (seq_term){ ks_term_text(t, i), t->a[i].len, t->a[i].pos };
        }
        rc = alt[nalt++] = plan_seq(p, pfx, seq, n, hl, title_only);
    }

    /* A phrase of several CJK words also matches written without spaces. */
    if (rc >= 0 && it->is_phrase && it->n_words > 1) {
        char *joined = malloc(it->text_len + 1);
        if (!joined) {
            free(seq);
            return -1;
        }
        size_t jl = join_cjk(it->text, it->text_len, joined);
        ks_terms_reset(t2);
        if (ks_analyze(qa, joined, jl, 0, t2) == 0 && t2->n && !same_terms(t, t2)) {
            seq_term *s2 = realloc(seq, (t2->n + 2) * sizeof *seq);
            if (s2) {
                seq = s2;
                for (size_t i = 0; i < t2->n; i++)
                    seq[i] = (seq_term){ ks_term_text(t2, i), t2->a[i].len, t2->a[i].pos };
                rc = alt[nalt++] = plan_seq(p, pfx, seq, t2->n, hl, title_only);
            }
        }
        free(joined);
    }
    free(seq);
    if (rc < 0)
        return rc;
    return add_op(p, KS_PLAN_OR, alt, nalt, 0);
}

/* The phrase boost of a query with several plain words (no OR, no phrase,
 * no field): OR(PHRASE(the words' terms), PHRASE(their title terms)), the
 * words analysed together so positions run across them as in a document.
 * Returns the node, -3 when the query does not qualify, or -1/-2. */
static long phrase_boost(ks_plan *p, const ks_query *q, ks_analyzer *qa, ks_terms *t)
{
    size_t len = 0, nw = 0;
    for (size_t g = 0; g < q->n_groups; g++) {
        const ks_query_item *it = q->groups[g].items;
        if (it->negated)
            continue;
        if (q->groups[g].n_items != 1 || it->is_phrase || it->field != KS_FIELD_ANY)
            return -3;
        len += it->text_len + 1;
        nw++;
    }
    if (nw < 2)
        return -3;
    char *text = malloc(len + 1), *w = text;
    if (!text)
        return -1;
    for (size_t g = 0; g < q->n_groups; g++) {
        const ks_query_item *it = q->groups[g].items;
        if (it->negated)
            continue;
        memcpy(w, it->text, it->text_len);
        w += it->text_len;
        *w++ = ' ';
    }
    ks_terms_reset(t);
    int rc = ks_analyze(qa, text, (size_t)(w - text), 0, t);
    free(text);
    if (rc || t->n < 2 || t->n > 32)
        return rc ? -1 : -3;
    seq_term seq[32];
    for (size_t i = 0; i < t->n; i++)
        seq[i] = (seq_term){ ks_term_text(t, i), t->a[i].len, t->a[i].pos };
    long both[2] = { plan_seq(p, "", seq, t->n, 0, 0), plan_seq(p, KS_PREFIX_TITLE, seq, t->n, 0, 0) };
    if (both[0] == -2 || both[1] == -2)
        return -3; /* the items took the whole term budget: rank without the boost (nodes added stay unused) */
    if (both[0] < 0 || both[1] < 0)
        return both[0] < 0 ? both[0] : both[1];
    return add_op(p, KS_PLAN_OR, both, 2, 0);
}

static int build(const ks_query *q, ks_analyzer *qa, int relaxed, ks_plan *p, ks_errbuf *eb)
{
    memset(p, 0, sizeof *p);
    ks_terms t, t2;
    memset(&t, 0, sizeof t);
    memset(&t2, 0, sizeof t2);
    long *pos = malloc((q->n_groups + 1) * sizeof *pos), *neg = malloc((q->n_items + 1) * sizeof *neg);
    long *alts = malloc((q->n_items + 1) * sizeof *alts);
    size_t npos = 0, nneg = 0;
    int rc = 0, any_group = 0; /* a group of two or more alternatives */
    if (!pos || !neg || !alts) {
        rc = ks_seterr(eb, KS_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t g = 0; g < q->n_groups && !rc; g++) {
        const ks_query_group *gr = &q->groups[g];
        size_t nalt = 0;
        for (size_t i = 0; i < gr->n_items; i++) {
            long id = plan_item(p, &gr->items[i], qa, &t, &t2, relaxed);
            if (id == -3)
                continue; /* punctuation or symbols only: nothing to match */
            if (id == -2) {
                rc = ks_seterr(eb, KS_ETOOBIG, "query is too long: more than %d terms after analysis",
                               KS_PLAN_MAX_TERMS);
                break;
            }
            if (id == -4) {
                rc = ks_seterr(eb, KS_ETOOBIG, "a word or phrase is too long: more than %d terms after analysis",
                               KS_PLAN_MAX_PHRASE_TERMS);
                break;
            }
            if (id < 0) {
                rc = ks_seterr(eb, KS_ENOMEM, "out of memory");
                break;
            }
            if (gr->items[i].negated)
                neg[nneg++] = id;
            else
                alts[nalt++] = id;
        }
        if (!rc && nalt) {
            any_group |= nalt >= 2;
            long id = add_op(p, KS_PLAN_OR, alts, nalt, 0);
            if (id < 0)
                rc = ks_seterr(eb, KS_ENOMEM, "out of memory");
            pos[npos++] = id;
        }
    }
    if (!rc && npos == 0)
        rc = ks_seterr(eb, KS_EINVAL, "query has no searchable words (only punctuation or symbols?)");
    if (!rc) {
        /* an AND of one group is that group: "a OR b" alone is an OR query */
        p->any_of = (relaxed && npos >= 2) || (npos == 1 && any_group);
        long root = add_op(p, relaxed ? KS_PLAN_OR : KS_PLAN_AND, pos, npos, 0);
        long boost = root >= 0 && npos >= 2 && !relaxed ? phrase_boost(p, q, qa, &t) : -3;
        if (boost >= 0) {
            long two[2] = { root, boost };
            root = add_op(p, KS_PLAN_AND_MAYBE, two, 2, 0);
        } else if (boost != -3) {
            root = boost;
        }
        if (root >= 0 && nneg) {
            long n = add_op(p, KS_PLAN_OR, neg, nneg, 0);
            long two[2] = { root, n };
            root = n < 0 ? n : add_op(p, KS_PLAN_AND_NOT, two, 2, 0);
        }
        if (root < 0)
            rc = ks_seterr(eb, KS_ENOMEM, "out of memory");
        else
            p->root = (uint32_t)root;
    }
out:
    free(pos);
    free(neg);
    free(alts);
    ks_terms_free(&t);
    ks_terms_free(&t2);
    if (rc)
        ks_plan_free(p);
    return rc;
}

int ks_plan_build(const ks_query *q, ks_analyzer *qa, ks_plan *p, ks_errbuf *eb)
{
    return build(q, qa, 0, p, eb);
}

int ks_plan_build_relaxed(const ks_query *q, ks_analyzer *qa, ks_plan *p, ks_errbuf *eb)
{
    return build(q, qa, 1, p, eb);
}

static int describe(const ks_plan *p, uint32_t id, char *buf, size_t cap, size_t at)
{
    static const char *names[] = { "TERM", "AND", "OR", "PHRASE", "AND_NOT", "AND_MAYBE" };
    const ks_plan_node *n = &p->nodes[id];
    size_t k = at;
#define PUT(...)                                                                                   \
    do {                                                                                           \
        int w_ = snprintf(k < cap ? buf + k : NULL, k < cap ? cap - k : 0, __VA_ARGS__);           \
        k += (size_t)(w_ > 0 ? w_ : 0);                                                            \
    } while (0)
    if (n->op == KS_PLAN_TERM) {
        PUT("%.*s", (int)n->term_len, ks_plan_term(p, n));
        return (int)(k - at);
    }
    if (n->op == KS_PLAN_PHRASE)
        PUT("PHRASE/%u(", n->window);
    else
        PUT("%s(", names[n->op]);
    for (uint32_t i = 0; i < n->n; i++) {
        if (i)
            PUT(", ");
        k += (size_t)describe(p, p->kids[n->first + i], buf, cap, k);
    }
    PUT(")");
#undef PUT
    return (int)(k - at);
}

int ks_plan_is_or(const ks_plan *p)
{
    return p->any_of;
}

int ks_plan_describe(const ks_plan *p, char *buf, size_t cap)
{
    if (cap)
        buf[0] = 0;
    int n = describe(p, p->root, buf, cap, 0);
    if (cap && (size_t)n >= cap)
        buf[cap - 1] = 0;
    return n;
}

void ks_plan_free(ks_plan *p)
{
    free(p->nodes);
    free(p->kids);
    free(p->text);
    free(p->hl);
    free(p->hl_terms);
    memset(p, 0, sizeof *p);
}
