/* BM25 scoring kernels: the hot loop of the native engine. One function
 * adds one query term's BM25 contribution to a block of candidate
 * documents, exactly as Xapian 1.4's BM25Weight::get_sumpart computes it:
 *     acc[i] += tw * (w / (K[doc[i]] + w)),   w = (double)wdf[i]
 * in that operation order, in double, with no FMA contraction, so every
 * variant (scalar, SSE4.2, AVX2, AVX-512) gives bit-identical results and
 * Xapian's matcher is an oracle for the scores. The variant is chosen once
 * (ks_score_select) before worker threads start. */
#ifndef KS_SCORE_H
#define KS_SCORE_H

#include <stddef.h>
#include <stdint.h>

#include "ks_bm25.h"
#include "ks_error.h"

/* Signature of every kernel variant. tw: the term's weight (ks_bm25_termweight);
 * doc[0..n): document numbers indexing K; wdf[0..n): within-document
 * frequencies; K: per-document length factors (ks_bm25_doc_k); acc[0..n):
 * accumulated scores, updated in place. No alignment is required. */
typedef void (*ks_score_fn)(double tw, const uint32_t *doc, const uint32_t *wdf, const double *K, double *acc,
                            size_t n);

/* The scalar reference: the definition every other variant must equal bit
 * for bit, and the tail handler of the vector variants. */
void ks_score_block_scalar(double tw, const uint32_t *doc, const uint32_t *wdf, const double *K, double *acc,
                           size_t n);

/* Xapian BM25Weight::init: the weight of a term with document frequency tf
 * in a collection of N documents, within-query frequency wqf, scale factor
 * (1 unless scaled). */
double ks_bm25_termweight(const ks_bm25 *p, uint64_t N, uint64_t tf, uint32_t wqf, double factor);

/* K for a document of length doclen: k1 * (normlen * b + (1 - b)) with
 * normlen = max(doclen * len_factor, min_normlen) and len_factor =
 * 1 / average length (0 when k2 == 0 and b or k1 is 0, as Xapian does). */
double ks_bm25_len_factor(const ks_bm25 *p, double avglength);
double ks_bm25_doc_k(const ks_bm25 *p, double len_factor, uint32_t doclen);

#endif
