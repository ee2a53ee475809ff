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

/* ---- vector variants and their dispatch (core/score_dispatch.c) ---------- */

/* The variants, best last. */
typedef enum { KS_SIMD_SCALAR, KS_SIMD_SSE4, KS_SIMD_AVX2, KS_SIMD_AVX512 } ks_simd;
#define KS_SIMD_COUNT 4

/* The vector kernels. Each is compiled for its own ISA (target attribute)
 * and exists only where the build can target it (config.h:
 * KS_HAVE_AVX2_TARGET, KS_HAVE_AVX512_TARGET; SSE4 on any x86): call them
 * through ks_score_variant() or ks_score_get(), never directly, because
 * running one on a CPU without the ISA is an illegal instruction. */
void ks_score_block_sse4(double tw, const uint32_t *doc, const uint32_t *wdf, const double *K, double *acc,
                         size_t n);
void ks_score_block_avx2(double tw, const uint32_t *doc, const uint32_t *wdf, const double *K, double *acc,
                         size_t n);
void ks_score_block_avx512(double tw, const uint32_t *doc, const uint32_t *wdf, const double *K, double *acc,
                           size_t n);

/* Selects the kernel that ks_score_get() returns. force NULL, "" or "auto":
 * the best variant this build, CPU and OS support; otherwise one of
 * "scalar", "sse4", "avx2", "avx512". An unknown name is KS_EINVAL, a
 * variant not built or not supported by the CPU/OS is KS_EUNSUPPORTED (the
 * selection is then unchanged); eb says why. Not thread-safe: call it once,
 * before worker threads start (the daemon passes ks_score_env()). */
int ks_score_select(const char *force, ks_errbuf *eb);

/* getenv("KOSEARCH_SIMD"): the operator's override, or NULL. */
const char *ks_score_env(void);

/* The selected kernel (the scalar reference until ks_score_select succeeds).
 * Safe from any thread once the selection is made before the threads start
 * (pthread_create orders the write before their reads); a caller may keep
 * the pointer. ks_score_supported/ks_score_variant are thread-safe anywhere
 * (CPU detection runs once, under pthread_once). */
ks_score_fn ks_score_get(void);

/* Name of the selected variant ("scalar", "sse4", "avx2", "avx512"), for INFO. */
const char *ks_score_name(void);

/* 1 if variant v is built and the CPU and OS support it (cpuid + xgetbv), else 0. */
int ks_score_supported(ks_simd v);

/* Name of v (static), or "unknown" when v is out of range. */
const char *ks_simd_name(ks_simd v);

/* v's kernel if ks_score_supported(v), else NULL; does not change the
 * selection (for tests and benchmarks that compare variants). */
ks_score_fn ks_score_variant(ks_simd v);

#endif
