/* The native query engine: runs a query plan (ks_plan.h) over a scoring
 * segment (ks_segment.h) with Xapian 1.4's BM25Weight, giving the same
 * matches and scores as Xapian's Enquire on the same plan (core/xdb.cc),
 * the parity test's oracle. One engine per thread (it keeps scratch space). */
#ifndef KS_ENGINE_H
#define KS_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "ks_bm25.h"
#include "ks_error.h"
#include "ks_plan.h"
#include "ks_segment.h"

typedef struct ks_engine ks_engine;

typedef struct ks_engine_hit {
    uint32_t docid;  /* Xapian document number */
    double score;    /* BM25 score, summed in double */
} ks_engine_hit;

/* An engine over seg (borrowed: it must outlive the engine). */
int ks_engine_new(const ks_segment *seg, ks_engine **out /* OUT */, ks_errbuf *eb);
void ks_engine_free(ks_engine *e);

/* Runs plan with BM25 parameters bm25 (per-document length factors are
 * cached for the last parameters seen). Writes hits offset .. offset+limit-1
 * of the ranking (score descending, then docid ascending) to hits[0..*nhits)
 * (room for limit) and the number of matching documents to *total.
 * With prune (and limit > 0), a plan whose root is an OR (or AND_MAYBE
 * over one, either perhaps under AND_NOT) may skip the documents that cannot reach the top offset+limit
 * (MaxScore on the terms' per-block maximum wdfs): the hits and their
 * scores are the same as without, but *total is then an estimate and
 * *estimated is 1. Without prune, or when nothing was skipped, *total is
 * exact and *estimated 0. Callers prune OR queries (ks_plan_is_or) only:
 * all-words queries' totals stay exact.
 * KS_ENOMEM, KS_ECORRUPT (damaged segment) or KS_EUNSUPPORTED (a plan shape
 * the engine does not run) with a message. */
int ks_engine_search(ks_engine *e, const ks_plan *plan, const ks_bm25 *bm25, uint32_t offset, uint32_t limit,
                     int prune, ks_engine_hit *hits /* OUT */, size_t *nhits /* OUT */, uint64_t *total /* OUT */,
                     int *estimated /* OUT */, ks_errbuf *eb);

/* The engine keeps, per unigram used in a phrase, the list of its postings
 * that hold positions (built on first use; core/engine.c): up to
 * KS_ENGINE_LIST_CACHE bytes by default, after which it starts again empty.
 * Sets that bound (0: a list is kept only until the next one is built). */
#define KS_ENGINE_LIST_CACHE ((size_t)32 << 20)
void ks_engine_set_list_cache(ks_engine *e, size_t max_bytes);

/* The work of e's last search: postings scored (phrase matches count one
 * per term) and the postings of the plan's terms, for benchmarks. */
void ks_engine_last_work(const ks_engine *e, uint64_t *scored /* OUT */, uint64_t *postings /* OUT */);

/* Name of the BM25 kernel the engine scores with (ks_score_name(): the
 * variant ks_score_select chose, "scalar" until then). */
const char *ks_engine_kernel_name(void);

#endif
