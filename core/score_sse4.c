/* The SSE4.2 BM25 kernel: two documents per 128-bit vector, four per loop
 * turn. SSE has no gather, so K[doc[i]] is loaded element by element; the
 * arithmetic is the scalar reference's, operation for operation (IEEE
 * double, no FMA, exact uint32 -> double), so results are bit-identical. */
#include "config.h"

#include "ks_score.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

/* uint32 -> double, exactly: flip the sign bit to get x - 2^31 as int32,
 * convert (exact), add 2^31 back (exact: the result is below 2^53). */
__attribute__((target("sse4.2"))) static inline __m128d u32lo_to_pd(__m128i x)
{
    return _mm_add_pd(_mm_cvtepi32_pd(_mm_xor_si128(x, _mm_set1_epi32(INT32_MIN))), _mm_set1_pd(2147483648.0));
}

__attribute__((target("sse4.2"))) void ks_score_block_sse4(double tw, const uint32_t *doc, const uint32_t *wdf,
                                                           const double *K, double *acc, size_t n)
{
    const __m128d vtw = _mm_set1_pd(tw);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m128i wi = _mm_loadu_si128((const __m128i *)(const void *)(wdf + i));
        __m128d w0 = u32lo_to_pd(wi);
        __m128d w1 = u32lo_to_pd(_mm_unpackhi_epi64(wi, wi));
        __m128d k0 = _mm_set_pd(K[doc[i + 1]], K[doc[i]]);
        __m128d k1 = _mm_set_pd(K[doc[i + 3]], K[doc[i + 2]]);
        __m128d a0 = _mm_loadu_pd(acc + i);
        __m128d a1 = _mm_loadu_pd(acc + i + 2);
        a0 = _mm_add_pd(a0, _mm_mul_pd(vtw, _mm_div_pd(w0, _mm_add_pd(k0, w0))));
        a1 = _mm_add_pd(a1, _mm_mul_pd(vtw, _mm_div_pd(w1, _mm_add_pd(k1, w1))));
        _mm_storeu_pd(acc + i, a0);
        _mm_storeu_pd(acc + i + 2, a1);
    }
    ks_score_block_scalar(tw, doc + i, wdf + i, K, acc + i, n - i);
}
#else
typedef int ks_score_sse4_unavailable; /* not x86: the variant is not built */
#endif
