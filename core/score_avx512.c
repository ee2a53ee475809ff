/* The AVX-512F BM25 kernel: eight documents per 512-bit vector, K[doc[i]]
 * loaded element by element (vgatherqpd measured 2x slower than scalar on
 * this AMD EPYC, see bench/RESULTS.md, "Scoring kernels"), uint32 wdf converted exactly
 * with vcvtudq2pd. Same operations in the same order as the scalar
 * reference, no FMA: results are bit-identical. */
#include "config.h"

#include <string.h>

#include "ks_score.h"

#if (defined(__x86_64__) || defined(__i386__)) && defined(KS_HAVE_AVX512_TARGET)
#include <immintrin.h>

#define KS_AVX512 __attribute__((target("avx512f")))

/* One vector of eight postings. K by scalar loads, not _mm512_i64gather_pd:
 * on AMD Zen the gather is microcoded and 2-3x slower. The doc ids are read
 * two per 64-bit load (x86 is little-endian: doc[j] is the low half), which
 * halves the loads: the load ports, not the divider, are the limit. */
KS_AVX512 static inline void step8(__m512d vtw, const uint32_t *doc, const uint32_t *wdf, const double *K,
                                   double *acc)
{
    uint64_t d0, d1, d2, d3;
    memcpy(&d0, doc, 8);
    memcpy(&d1, doc + 2, 8);
    memcpy(&d2, doc + 4, 8);
    memcpy(&d3, doc + 6, 8);
    __m512d k = _mm512_set_pd(K[d3 >> 32], K[(uint32_t)d3], K[d2 >> 32], K[(uint32_t)d2], K[d1 >> 32],
                              K[(uint32_t)d1], K[d0 >> 32], K[(uint32_t)d0]);
    __m512d w = _mm512_cvtepu32_pd(_mm256_loadu_si256((const __m256i *)(const void *)wdf));
    __m512d a = _mm512_loadu_pd(acc);
    a = _mm512_add_pd(a, _mm512_mul_pd(vtw, _mm512_div_pd(w, _mm512_add_pd(k, w))));
    _mm512_storeu_pd(acc, a);
}

KS_AVX512 void ks_score_block_avx512(double tw, const uint32_t *doc, const uint32_t *wdf, const double *K,
                                     double *acc, size_t n)
{
    const __m512d vtw = _mm512_set1_pd(tw);
    size_t i = 0;
    /* Two independent vectors per turn, so that a divide is always in
     * flight while the next gather issues. */
    for (; i + 16 <= n; i += 16) {
        step8(vtw, doc + i, wdf + i, K, acc + i);
        step8(vtw, doc + i + 8, wdf + i + 8, K, acc + i + 8);
    }
    for (; i + 8 <= n; i += 8)
        step8(vtw, doc + i, wdf + i, K, acc + i);
    ks_score_block_scalar(tw, doc + i, wdf + i, K, acc + i, n - i);
}
#else
typedef int ks_score_avx512_unavailable; /* compiler cannot target AVX-512F: not built */
#endif
