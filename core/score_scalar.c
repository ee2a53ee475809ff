/* The scalar BM25 kernel (the reference) and the per-term and per-document
 * constants, transcribed from Xapian 1.4's BM25Weight (init, get_sumpart)
 * so that scores equal Xapian's to the last bit where the order of the sum
 * over terms is the same. */
#include <math.h>

#include "ks_score.h"

void ks_score_block_scalar(double tw, const uint32_t *doc, const uint32_t *wdf, const double *K, double *acc,
                           size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double w = (double)wdf[i];
        acc[i] += tw * (w / (K[doc[i]] + w));
    }
}

double ks_bm25_termweight(const ks_bm25 *p, uint64_t N, uint64_t tf, uint32_t wqf, double factor)
{
    double tw = ((double)N - (double)tf + 0.5) / ((double)tf + 0.5);
    if (tw < 2)
        tw = tw * 0.5 + 1; /* Xapian's guard against negative weights for common terms */
    double termweight = log(tw) * factor;
    if (p->k3 != 0) {
        double q = (double)wqf;
        termweight *= (p->k3 + 1) * q / (p->k3 + q);
    }
    return termweight * (p->k1 + 1);
}

double ks_bm25_len_factor(const ks_bm25 *p, double avglength)
{
    if (p->k2 == 0 && (p->b == 0 || p->k1 == 0))
        return 0;
    return avglength != 0 ? 1 / avglength : 0;
}

double ks_bm25_doc_k(const ks_bm25 *p, double len_factor, uint32_t doclen)
{
    double normlen = (double)doclen * len_factor;
    if (normlen < p->min_normlen)
        normlen = p->min_normlen;
    return p->k1 * (normlen * p->b + (1 - p->b));
}
