/* ks_grow: the one growable-array helper of libkscore. Grows *p (elements
 * of size sz, *cap of them) to hold at least need, doubling from a small
 * start so appends cost amortised O(1). 0, or KS_ENOMEM with *p and *cap
 * unchanged (the caller still owns and frees *p). */
#ifndef KS_GROW_H
#define KS_GROW_H

#include <stdlib.h>

#include "ks_error.h"

static inline int ks_grow(void **p, size_t *cap, size_t need, size_t sz)
{
    if (need <= *cap)
        return 0;
    size_t nc = *cap ? *cap : 64;
    while (nc < need)
        nc *= 2;
    void *np = realloc(*p, nc * sz);
    if (!np)
        return KS_ENOMEM;
    *p = np;
    *cap = nc;
    return 0;
}

#endif
