/* A query plan: the parsed query (ks_query.h) with every item run through
 * the analyzer, as an engine-independent tree of TERM / PHRASE / AND / OR /
 * AND_NOT nodes. The Xapian engine executes it (core/xdb.cc); the snippet
 * builder uses its highlight items. Built per query, owned by the caller. */
#ifndef KS_PLAN_H
#define KS_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "ks_analyze.h"
#include "ks_error.h"
#include "ks_query.h"

enum ks_plan_op {
    KS_PLAN_TERM = 0,   /* one term */
    KS_PLAN_AND = 1,    /* all children */
    KS_PLAN_OR = 2,     /* any child */
    KS_PLAN_PHRASE = 3, /* children (terms or ORs of terms) in order within `window` positions */
    KS_PLAN_AND_NOT = 4, /* first child and none of the second */
    KS_PLAN_AND_MAYBE = 5 /* matches the first child; the second adds its weight where it matches too */
};

typedef struct ks_plan_node {
    uint8_t op;          /* enum ks_plan_op */
    uint32_t window;     /* PHRASE: span of the required positions (last - first + 1) */
    uint32_t first;      /* children: plan->kids[first .. first + n) */
    uint32_t n;          /* number of children */
    uint32_t term_off;   /* TERM: bytes plan->text[term_off .. term_off + term_len) */
    uint32_t term_len;
} ks_plan_node;

/* One term of a highlight item: one spelling of a query word or phrase as
 * terms at relative positions. */
typedef struct ks_hl_term {
    uint32_t off, len;   /* unprefixed term bytes in plan->text */
    uint32_t rel;        /* position relative to the item's first term */
} ks_hl_term;

typedef struct ks_hl_item {
    uint32_t first, n;   /* terms plan->hl_terms[first .. first + n) */
    uint8_t title_only;  /* from a title: item */
} ks_hl_item;

typedef struct ks_plan {
    ks_plan_node *nodes;
    size_t n_nodes, cap_nodes;
    uint32_t *kids;
    size_t n_kids, cap_kids;
    char *text;
    size_t text_len, cap_text;
    uint32_t root;          /* index of the root node */
    ks_hl_item *hl;         /* positive items, for highlighting */
    size_t n_hl, cap_hl;
    ks_hl_term *hl_terms;
    size_t n_hl_terms, cap_hl_terms;
    uint32_t n_terms;       /* TERM nodes (a measure of query cost) */
    uint8_t any_of;         /* ranks documents with any of several alternatives: ks_plan_is_or */
} ks_plan;

#define KS_PLAN_MAX_TERMS 256 /* TERM nodes in one plan; more is KS_ETOOBIG */
#define KS_PLAN_MAX_PHRASE_TERMS 64 /* terms one word or phrase analyses into; more is KS_ETOOBIG */

/* Builds the plan of q using qa, an analyzer created with opts.query = 1.
 * out must be zero-initialised (or freed) before. Returns 0, KS_EINVAL when
 * no item yields a searchable term ("nothing to search for"), KS_ETOOBIG
 * or KS_ENOMEM; eb holds a message fit for the user. */
int ks_plan_build(const ks_query *q, ks_analyzer *qa, ks_plan *out /* OUT */, ks_errbuf *eb);

/* The relaxed plan of q, for when the plan above matches nothing: any of
 * the positive items' terms (OR, ranked by BM25, so documents holding most
 * of them come first), exclusions kept. It finds a word typed without any
 * of its spaces (콤보상자목록상자마법사 for "콤보 상자 목록 상자 마법사"), which
 * the exact plan's one-space variants cannot. Same contract as above. */
int ks_plan_build_relaxed(const ks_query *q, ks_analyzer *qa, ks_plan *out /* OUT */, ks_errbuf *eb);

/* 1 when p is an OR query: the any-words (relaxed) plan, or a query of one
 * group of OR alternatives ("a OR b", maybe with -words); its root is then
 * an OR, or AND_NOT / AND_MAYBE over one, and its top k may be found
 * without every match, its total estimated. 0 for all-words queries, a
 * single word's plan included (an OR of its spacing variants). */
int ks_plan_is_or(const ks_plan *p);

/* One-line rendering, e.g. AND(PHRASE/2(카카, 카오), OR(책, ...)); snprintf
 * semantics (returns the full length). */
int ks_plan_describe(const ks_plan *p, char *buf, size_t cap);

void ks_plan_free(ks_plan *p);

/* The node's term bytes (TERM nodes). */
static inline const char *ks_plan_term(const ks_plan *p, const ks_plan_node *n)
{
    return p->text + n->term_off;
}

#endif
