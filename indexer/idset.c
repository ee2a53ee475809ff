/* Open-addressing hash set of ids (idset.h). */
#include "idset.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ks_error.h"

typedef struct slot {
    char *id;            /* NULL when empty */
    size_t len;
    uint64_t hash;
    unsigned long line;
} slot;

struct ks_idset {
    slot *t;
    size_t cap, n;
};

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

ks_idset *ks_idset_new(void)
{
    ks_idset *s = calloc(1, sizeof *s);
    if (s) {
        s->cap = 1024;
        s->t = calloc(s->cap, sizeof *s->t);
        if (!s->t) {
            free(s);
            return NULL;
        }
    }
    return s;
}

void ks_idset_free(ks_idset *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->cap; i++)
        free(s->t[i].id);
    free(s->t);
    free(s);
}

static int rehash(ks_idset *s)
{
    size_t nc = s->cap * 2;
    slot *nt = calloc(nc, sizeof *nt);
    if (!nt)
        return KS_ENOMEM;
    for (size_t i = 0; i < s->cap; i++) {
        if (!s->t[i].id)
            continue;
        size_t j = s->t[i].hash & (nc - 1);
        while (nt[j].id)
            j = (j + 1) & (nc - 1);
        nt[j] = s->t[i];
    }
    free(s->t);
    s->t = nt;
    s->cap = nc;
    return 0;
}

int ks_idset_insert(ks_idset *s, const char *id, size_t len, unsigned long line, unsigned long *first_line)
{
    if ((s->n + 1) * 10 > s->cap * 7 && rehash(s))
        return KS_ENOMEM;
    uint64_t h = fnv1a(id, len);
    size_t j = h & (s->cap - 1);
    while (s->t[j].id) {
        if (s->t[j].hash == h && s->t[j].len == len && memcmp(s->t[j].id, id, len) == 0) {
            *first_line = s->t[j].line;
            return 0;
        }
        j = (j + 1) & (s->cap - 1);
    }
    char *c = malloc(len + 1);
    if (!c)
        return KS_ENOMEM;
    memcpy(c, id, len);
    c[len] = 0;
    s->t[j] = (slot){ c, len, h, line };
    s->n++;
    return 1;
}
