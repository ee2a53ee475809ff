/* The searcher: everything the daemon needs from an index, behind one
 * handle per thread: parse + analyse + plan a query, rank it (the native
 * engine over the scoring segment, or Xapian's Enquire with BM25Weight;
 * same matches and scores, tests/integration/test_parity), and build the page of hits with highlighted
 * titles and snippets; count matches; fetch a stored document; describe the
 * index. Not thread-safe: one searcher per worker thread. */
#ifndef KS_SEARCH_H
#define KS_SEARCH_H

#include <stddef.h>
#include <stdint.h>

#include "ks_bm25.h"
#include "ks_error.h"

/* Who ranks: the native engine over INDEX/current/segment (ks_engine.h),
 * or Xapian's Enquire. Stored fields, titles and snippets always come from
 * Xapian for the page of hits. */
enum { KS_ENGINE_SIMD = 0, KS_ENGINE_XAPIAN = 1 };

/* "simd" or "xapian". */
const char *ks_engine_kind_name(int engine);

typedef struct ks_search_opts {
    uint32_t offset;            /* hits to skip */
    uint32_t limit;             /* hits to return */
    const char *hl_open;        /* highlight markers (default "[" and "]") */
    const char *hl_close;
    uint32_t snippet_chars;     /* snippet window in characters (default 160) */
    ks_bm25 bm25;               /* ranking parameters (default Xapian's) */
    uint64_t exact_count_limit; /* totals up to this are exact; beyond, estimated and flagged */
    int hl_ranges;              /* nonzero: fill ks_hit.hl with the snippet's match ranges (default 0) */
} ks_search_opts;

void ks_search_opts_default(ks_search_opts *o /* OUT */);

typedef struct ks_hit {
    uint32_t rank;        /* 1-based rank over the whole result list (offset + i + 1) */
    double score;         /* BM25 score */
    uint32_t docid;       /* Xapian document number */
    char *id;             /* external id (malloc'd, NUL-terminated) */
    char *title;          /* title with matches marked */
    char *snippet;        /* body window with matches marked */
    uint32_t *hl;         /* with opts.hl_ranges: n_hl start,end byte offset pairs into snippet,
                             the text between each match's markers (malloc'd; NULL when none) */
    size_t n_hl;
} ks_hit;

typedef struct ks_results {
    uint64_t total;       /* matching documents */
    int estimate;         /* 1 when total is an estimate */
    int relaxed;          /* 1 when nothing matched all the words and these hits match some
                             (ks_plan_build_relaxed); total then counts those */
    ks_hit *hits;         /* n hits in rank order */
    size_t n;
    char *plan;           /* the analysed query, one line, for debugging (malloc'd) */
} ks_results;

void ks_results_free(ks_results *r);

typedef struct ks_index_info {
    uint64_t documents;      /* documents in the index */
    uint64_t terms;          /* distinct terms (counted once per searcher, then cached) */
    uint64_t revision;       /* Xapian revision */
    double avglength;        /* average document length (terms) */
    char generation[4096];   /* the generation directory in use */
    char built_at[40];       /* ISO 8601, from the index metadata */
    char updated_at[40];
} ks_index_info;

typedef struct ks_searcher ks_searcher;

/* Opens the current generation of the index directory `index` to rank with
 * engine (KS_ENGINE_*). KS_ENGINE_SIMD also maps GEN/segment and requires
 * its revision to equal the Xapian database's: a missing, damaged or stale
 * segment is an error saying to rebuild the index. 0, KS_ENOTFOUND (no
 * index or segment there), KS_ECORRUPT (damaged or stale) or KS_EXAPIAN
 * with a message. */
int ks_searcher_open_engine(const char *index, int engine, ks_searcher **out /* OUT */, ks_errbuf *eb);

/* ks_searcher_open_engine(index, KS_ENGINE_SIMD, ...). */
int ks_searcher_open(const char *index, ks_searcher **out /* OUT */, ks_errbuf *eb);

/* The engine this searcher ranks with (KS_ENGINE_*). A KS_ENGINE_SIMD
 * searcher whose segment turns out damaged while it serves (a checksum
 * mismatch in a chunk read for the first time, or the file truncated or
 * changed under it) answers that query and all later ones with Xapian
 * instead, with the same results: this then says KS_ENGINE_XAPIAN. */
int ks_searcher_engine(const ks_searcher *s);

/* Why the searcher moved from the segment to Xapian, once (then NULL
 * until it happens again, which it cannot): for the caller's log. Valid
 * until the thread's next call. */
const char *ks_searcher_take_fallback(ks_searcher *s);

/* Why a KS_ENGINE_SIMD searcher does not use (or stopped using) its
 * generation's document store (ks_docstore.h): damaged, stale or of another
 * version. Its replies then take the stored fields from Xapian, the same
 * bytes, slower. Once, then NULL; a store that is simply missing (an index
 * built before stores existed) gives none. Valid until the thread's next
 * call. */
const char *ks_searcher_take_docstore_note(ks_searcher *s);

/* 1 when this searcher's hits take their stored fields from the document
 * store, 0 when from Xapian (--engine xapian, ranking fallen back to
 * Xapian, or no usable store): for INFO. */
int ks_searcher_uses_docstore(const ks_searcher *s);
void ks_searcher_close(ks_searcher *s);

int ks_searcher_info(ks_searcher *s, ks_index_info *out /* OUT */, ks_errbuf *eb);

/* Runs query q[0..len). Errors meant for the user: KS_EINVAL (bad query,
 * nothing to search for), KS_EUTF8, KS_ETOOBIG (query over a limit); eb says
 * what. Others (KS_EXAPIAN, KS_ENOMEM) are the server's. *out is filled on
 * success only; free it with ks_results_free(). */
int ks_search(ks_searcher *s, const char *q, size_t len, const ks_search_opts *o, ks_results *out /* OUT */,
              ks_errbuf *eb);

/* Exact number of documents matching q (ranked by the searcher's engine).
 * Errors as ks_search. */
int ks_search_count(ks_searcher *s, const char *q, size_t len, uint64_t *count /* OUT */, ks_errbuf *eb);

/* Stored fields of document id as a JSON object (malloc'd, caller frees).
 * KS_ENOTFOUND if there is no such document. */
int ks_search_get(ks_searcher *s, const char *id, size_t len, char **json /* OUT */, size_t *json_len /* OUT */,
                  ks_errbuf *eb);

#endif
