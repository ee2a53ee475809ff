/* BM25 parameters, exactly those of Xapian's BM25Weight, so that Xapian's own
 * matcher is an oracle for kosearch's ranking. */
#ifndef KS_BM25_H
#define KS_BM25_H

typedef struct ks_bm25 {
    double k1;          /* term-frequency saturation */
    double k2;          /* document-length correction (Xapian's extra term) */
    double k3;          /* query-term-frequency saturation */
    double b;           /* length normalisation */
    double min_normlen; /* floor of the normalised document length */
} ks_bm25;

/* Xapian's defaults for BM25Weight(). */
#define KS_BM25_DEFAULTS { 1.0, 0.0, 1.0, 0.5, 0.5 }

#endif
