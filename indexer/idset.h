/* A set of document ids seen in one build, with the line each came from, so
 * a repeated id is reported as a bad record naming the first occurrence.
 * Open addressing; owned by the reading thread only. */
#ifndef KS_IDSET_H
#define KS_IDSET_H

#include <stddef.h>

typedef struct ks_idset ks_idset;

ks_idset *ks_idset_new(void);
void ks_idset_free(ks_idset *s);

/* Inserts id; returns 1 if inserted, 0 if already present (then *first_line
 * is the line it was first seen at), KS_ENOMEM on failure. */
int ks_idset_insert(ks_idset *s, const char *id, size_t len, unsigned long line,
                    unsigned long *first_line /* OUT */);

#endif
