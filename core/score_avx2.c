/* The AVX2 BM25 kernel: four documents per 256-bit vector, K[doc[i]]
 * loaded element by element (faster than vgatherqpd on AMD Zen, see
 * bench/RESULTS.md, "Scoring kernels"). Same operations in the same order as the
 * scalar reference, no FMA: results are bit-identical. */
#include "config.h"

#include <string.h>

#include "ks_score.h"

#if (defined(__x86_64__) || defined(__i386__)) && defined(KS_HAVE_AVX2_TARGET)
#include <immintrin.h>

#define KS_AVX2 __attribute__((target("avx2")))

/* uint32 -> double, exactly: x - 2^31 as int32 (sign flip), convert, add 2^31. */
KS_AVX2 static inline __m256d u32_to_pd(__m128i x)
{
    return _mm256_add_pd(_mm256_cvtepi32_pd(_mm_xor_si128(x, _mm_set1_epi32(INT32_MIN))),
                         _mm256_set1_pd(2147483648.0));
}

/* One vector of four postings at offset i. */
KS_AVX2 static inline void step4(__m256d vtw, const uint32_t *doc, const uint32_t *wdf, const double *K,
                                 double *acc)
{
    uint64_t d0, d1; /* doc ids two per load (little-endian: doc[j] is the low half) */
    memcpy(&d0, doc, 8);
    memcpy(&d1, doc + 2, 8);
    __m256d k = _mm256_set_pd(K[d1 >> 32], K[(uint32_t)d1], K[d0 >> 32], K[(uint32_t)d0]);
    __m256d w = u32_to_pd(_mm_loadu_si128((const __m128i *)(const void *)wdf));
    __m256d a = _mm256_loadu_pd(acc);
    a = _mm256_add_pd(a, _mm256_mul_pd(vtw, _mm256_div_pd(w, _mm256_add_pd(k, w))));
    _mm256_storeu_pd(acc, a);
}

KS_AVX2 void ks_score_block_avx2(double tw, const uint32_t *doc, const uint32_t *wdf, const double *K,
                                 double *acc, size_t n)
{
    const __m256d vtw = _mm256_set1_pd(tw);
    size_t i = 0;
    /* Two independent vectors per turn: the divider is the bottleneck, and
     * two in flight keep it busy while the next loads issue. */
    for (; i + 8 <= n; i += 8) {
        step4(vtw, doc + i, wdf + i, K, acc + i);
        step4(vtw, doc + i + 4, wdf + i + 4, K, acc + i + 4);
    }
    for (; i + 4 <= n; i += 4)
        step4(vtw, doc + i, wdf + i, K, acc + i);
    ks_score_block_scalar(tw, doc + i, wdf + i, K, acc + i, n - i);
}
#else
typedef int ks_score_avx2_unavailable; /* compiler cannot target AVX2: not built */
#endif
