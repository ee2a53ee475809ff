/* The engine's buffer pool (ks_bufpool.h): one stack of idle buffers per
 * power-of-two size, so getting and putting are O(1) (a query takes and
 * returns a hundred or more buffers). */
#include "ks_bufpool.h"

#include <stdlib.h>

/* The size class holding want bytes: buffers of 2^(class + MIN_LOG). */
static unsigned size_class(size_t want)
{
    unsigned c = 0;
    while (c + 1 < KS_BUFPOOL_CLASSES && ((size_t)1 << (c + KS_BUFPOOL_MIN_LOG)) < want)
        c++;
    return c;
}

void *ks_bufpool_get(ks_bufpool *bp, size_t want, size_t *cap)
{
    unsigned c = size_class(want);
    size_t sz = (size_t)1 << (c + KS_BUFPOOL_MIN_LOG);
    if (sz < want) { /* beyond the largest class: not pooled */
        void *p = malloc(want);
        *cap = p ? want : 0;
        return p;
    }
    *cap = sz;
    if (bp->n[c]) {
        bp->bytes -= sz;
        return bp->p[c][--bp->n[c]];
    }
    void *p = malloc(sz);
    if (!p)
        *cap = 0;
    return p;
}

void ks_bufpool_put(ks_bufpool *bp, void *p, size_t cap)
{
    if (!p)
        return;
    unsigned c = size_class(cap);
    if (((size_t)1 << (c + KS_BUFPOOL_MIN_LOG)) != cap || bp->n[c] == KS_BUFPOOL_DEPTH ||
        cap > KS_BUFPOOL_KEEP - bp->bytes) {
        free(p);
        return;
    }
    bp->p[c][bp->n[c]++] = p;
    bp->bytes += cap;
}

void ks_bufpool_clear(ks_bufpool *bp)
{
    for (unsigned c = 0; c < KS_BUFPOOL_CLASSES; c++) {
        while (bp->n[c])
            free(bp->p[c][--bp->n[c]]);
    }
    bp->bytes = 0;
}
