/* A pool of heap buffers reused across queries by one engine (one thread):
 * the engine's per-node result lists come and go by the dozen per query,
 * and fresh large allocations cost page faults and zeroing in the kernel
 * (~10% of the engine's profile on the 100k index) that reused buffers do
 * not. Not thread-safe: one pool per engine. */
#ifndef KS_BUFPOOL_H
#define KS_BUFPOOL_H

#include <stddef.h>

#define KS_BUFPOOL_MIN_LOG 12   /* smallest buffer: 4 KiB */
#define KS_BUFPOOL_CLASSES 40   /* power-of-two sizes 4 KiB .. 2^51 */
#define KS_BUFPOOL_DEPTH 32     /* idle buffers kept per size */
#define KS_BUFPOOL_KEEP ((size_t)256 << 20) /* idle bytes kept at most, per engine (per worker thread) */

typedef struct ks_bufpool {
    void *p[KS_BUFPOOL_CLASSES][KS_BUFPOOL_DEPTH];
    unsigned n[KS_BUFPOOL_CLASSES];
    size_t bytes;
} ks_bufpool;

/* A buffer of at least want bytes (*cap: its real size, a power of two);
 * NULL when out of memory. Contents undefined. */
void *ks_bufpool_get(ks_bufpool *bp, size_t want, size_t *cap /* OUT */);

/* Returns p (of cap bytes, from ks_bufpool_get; NULL is ignored) to the
 * pool, or frees it when the pool is full. */
void ks_bufpool_put(ks_bufpool *bp, void *p, size_t cap);

/* Frees every idle buffer. */
void ks_bufpool_clear(ks_bufpool *bp);

#endif
