/* The engine's buffer pool (ks_bufpool.h): best fit among the idle
 * buffers, sizes rounded up to powers of two (at least 4 KiB) so that
 * lists of similar length share buffers. */
#include "ks_bufpool.h"

#include <stdlib.h>

void *ks_bufpool_get(ks_bufpool *bp, size_t want, size_t *cap)
{
    size_t best = bp->n;
    for (size_t i = 0; i < bp->n; i++)
        if (bp->cap[i] >= want && (best == bp->n || bp->cap[i] < bp->cap[best]))
            best = i;
    if (best < bp->n) {
        void *p = bp->p[best];
        *cap = bp->cap[best];
        bp->bytes -= bp->cap[best];
        bp->n--;
        bp->p[best] = bp->p[bp->n];
        bp->cap[best] = bp->cap[bp->n];
        return p;
    }
    size_t c = 4096;
    while (c < want && c < ((size_t)1 << 62))
        c *= 2;
    void *p = malloc(c);
    *cap = p ? c : 0;
    return p;
}

void ks_bufpool_put(ks_bufpool *bp, void *p, size_t cap)
{
    if (!p)
        return;
    if (bp->n == KS_BUFPOOL_SLOTS || cap > KS_BUFPOOL_KEEP - bp->bytes || bp->bytes > KS_BUFPOOL_KEEP) {
        free(p);
        return;
    }
    bp->p[bp->n] = p;
    bp->cap[bp->n++] = cap;
    bp->bytes += cap;
}

void ks_bufpool_clear(ks_bufpool *bp)
{
    for (size_t i = 0; i < bp->n; i++)
        free(bp->p[i]);
    bp->n = 0;
    bp->bytes = 0;
}
