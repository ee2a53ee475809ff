/* Builds query plans (ks_plan.h). The rules that make Korean search work:
 * - a word with one term is that term; a word with several is a PHRASE of
 *   them at their analyzer positions (so 카카오 matches the substring, never
 *   scattered syllables);
 * - in a word with two or more bigrams, each bigram may also be matched by
 *   its join form (KS_PREFIX_JOIN), so 인공지능 finds "인공 지능"; a lone
 *   bigram word (공지) never matches across a space;
 * - title: items use the KS_PREFIX_TITLE terms;
 * - the words of a "phrase" are analysed together, so their positions are
 *   consecutive in the same way as the document's (spaces do not count). */
#include "ks_plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int grow(void **p, size_t *cap, size_t need, size_t sz)
{
    if (need <= *cap)
        return 0;
    size_t nc = *cap ? *cap : 32;
    while (nc < need)
        nc *= 2;
    void *np = realloc(*p, nc * sz);
    if (!np)
        return KS_ENOMEM;
    *p = np;
    *cap = nc;
    return 0;
}

static int add_text(ks_plan *p, const char *a, size_t al, const char *b, size_t bl, uint32_t *off)
{
    if (grow((void **)&p->text, &p->cap_text, p->text_len + al + bl + 1, 1))
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
    if (grow((void **)&p->nodes, &p->cap_nodes, p->n_nodes + 1, sizeof *p->nodes))
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
    if (grow((void **)&p->kids, &p->cap_kids, p->n_kids + n, sizeof *p->kids))
        return -1;
    ks_plan_node nd = { (uint8_t)op, window, (uint32_t)p->n_kids, (uint32_t)n, 0, 0 };
    for (size_t i = 0; i < n; i++)
        p->kids[p->n_kids++] = (uint32_t)ids[i];
    return add_node(p, nd);
}

/* Plans one item; returns its node, -3 when it yields no term, -2 too many
 * terms, -1 out of memory. */
static long plan_item(ks_plan *p, const ks_query_item *it, ks_analyzer *qa, ks_terms *t)
{
    ks_terms_reset(t);
    if (ks_analyze(qa, it->text, it->text_len, 0, t))
        return -1;
    if (t->n == 0)
        return -3;
    const char *pfx = it->field == KS_FIELD_TITLE ? KS_PREFIX_TITLE : "";
    size_t nbig = 0;
    for (size_t i = 0; i < t->n; i++)
        nbig += t->a[i].kind == KS_TERM_BIGRAM;

    /* highlight item (positive items only: the caller rolls back otherwise) */
    if (!it->negated) {
        if (grow((void **)&p->hl, &p->cap_hl, p->n_hl + 1, sizeof *p->hl) ||
            grow((void **)&p->hl_terms, &p->cap_hl_terms, p->n_hl_terms + t->n, sizeof *p->hl_terms))
            return -1;
        ks_hl_item *h = &p->hl[p->n_hl++];
        h->first = (uint32_t)p->n_hl_terms;
        h->n = (uint32_t)t->n;
        h->title_only = it->field == KS_FIELD_TITLE;
        for (size_t i = 0; i < t->n; i++) {
            ks_hl_term *ht = &p->hl_terms[p->n_hl_terms++];
            if (add_text(p, ks_term_text(t, i), t->a[i].len, "", 0, &ht->off))
                return -1;
            ht->len = t->a[i].len;
            ht->rel = t->a[i].pos - t->a[0].pos;
            ht->join_ok = t->a[i].kind == KS_TERM_BIGRAM && nbig >= 2;
        }
    }
    if (t->n == 1)
        return add_term(p, pfx, ks_term_text(t, 0), t->a[0].len);

    long *kid = malloc(t->n * sizeof *kid);
    if (!kid)
        return -1;
    char jp[8];
    snprintf(jp, sizeof jp, "%s%s", pfx, KS_PREFIX_JOIN);
    long rc = 0;
    for (size_t i = 0; i < t->n && rc >= 0; i++) {
        long a = add_term(p, pfx, ks_term_text(t, i), t->a[i].len);
        if (a >= 0 && t->a[i].kind == KS_TERM_BIGRAM && nbig >= 2) {
            long alt[2] = { a, add_term(p, jp, ks_term_text(t, i), t->a[i].len) };
            a = alt[1] < 0 ? alt[1] : add_op(p, KS_PLAN_OR, alt, 2, 0);
        }
        if (a < 0)
            rc = a;
        kid[i] = a;
    }
    if (rc >= 0)
        rc = add_op(p, KS_PLAN_PHRASE, kid, t->n, t->a[t->n - 1].pos - t->a[0].pos + 1);
    free(kid);
    return rc;
}

int ks_plan_build(const ks_query *q, ks_analyzer *qa, ks_plan *p, ks_errbuf *eb)
{
    memset(p, 0, sizeof *p);
    ks_terms t;
    memset(&t, 0, sizeof t);
    long *pos = malloc((q->n_groups + 1) * sizeof *pos), *neg = malloc((q->n_items + 1) * sizeof *neg);
    long *alts = malloc((q->n_items + 1) * sizeof *alts);
    size_t npos = 0, nneg = 0;
    int rc = 0;
    if (!pos || !neg || !alts) {
        rc = ks_seterr(eb, KS_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t g = 0; g < q->n_groups && !rc; g++) {
        const ks_query_group *gr = &q->groups[g];
        size_t nalt = 0;
        for (size_t i = 0; i < gr->n_items; i++) {
            long id = plan_item(p, &gr->items[i], qa, &t);
            if (id == -3)
                continue; /* punctuation or symbols only: nothing to match */
            if (id == -2) {
                rc = ks_seterr(eb, KS_ETOOBIG, "query is too long: more than %d terms after analysis",
                               KS_PLAN_MAX_TERMS);
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
            long id = add_op(p, KS_PLAN_OR, alts, nalt, 0);
            if (id < 0)
                rc = ks_seterr(eb, KS_ENOMEM, "out of memory");
            pos[npos++] = id;
        }
    }
    if (!rc && npos == 0)
        rc = ks_seterr(eb, KS_EINVAL, "query has no searchable words (only punctuation or symbols?)");
    if (!rc) {
        long root = add_op(p, KS_PLAN_AND, pos, npos, 0);
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
    if (rc)
        ks_plan_free(p);
    return rc;
}

static int describe(const ks_plan *p, uint32_t id, char *buf, size_t cap, size_t at)
{
    static const char *names[] = { "TERM", "AND", "OR", "PHRASE", "AND_NOT" };
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
