/* Shared helpers of ks-gen-corpus and ks-gen-queries: the PRNG
 * (xoshiro256** seeded through splitmix64, so the output depends only on the
 * inputs and the seed, never on rand() or the platform), a gz/plain line
 * reader, a string→id hash table and JSON string output. */
#ifndef KS_GEN_UTIL_H
#define KS_GEN_UTIL_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define GEN_EXIT_USAGE 2

static inline void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

static inline void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

/* Grows *cap (elements of size sz) so that need elements fit. */
static inline void *grow(void *p, size_t *cap, size_t need, size_t sz)
{
    if (need <= *cap)
        return p;
    size_t c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    *cap = c;
    return xrealloc(p, c * sz);
}

/* ---- PRNG: xoshiro256** 1.0 (Blackman & Vigna), state from splitmix64 ---- */
typedef struct { uint64_t s[4]; } rng_t;

static inline uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline void rng_seed(rng_t *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t rng_next(rng_t *r)
{
    uint64_t *s = r->s;
    uint64_t res = rotl64(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return res;
}

/* Uniform in [0, n), n > 0 (Lemire's multiply-shift with rejection). */
static inline uint64_t rng_below(rng_t *r, uint64_t n)
{
    unsigned __int128 m = (unsigned __int128)rng_next(r) * n;
    uint64_t lo = (uint64_t)m;
    if (lo < n) {
        uint64_t th = -n % n;
        while (lo < th) {
            m = (unsigned __int128)rng_next(r) * n;
            lo = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

/* Uniform double in [0, 1). */
static inline double rng_unit(rng_t *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }

/* Index i with cum[i-1] <= x < cum[i], cum strictly increasing, x < cum[n-1]. */
static inline size_t upper_index(const uint64_t *cum, size_t n, uint64_t x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cum[mid] > x)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* ---- line reader over gzFile (reads .gz and plain files alike) ---- */
typedef struct {
    gzFile f;
    char *buf;
    size_t cap;
} line_reader;

static inline int lr_open(line_reader *lr, const char *path)
{
    memset(lr, 0, sizeof *lr);
    lr->f = strcmp(path, "-") == 0 ? gzdopen(0, "rb") : gzopen(path, "rb");
    if (!lr->f)
        return -1;
    gzbuffer(lr->f, 1 << 17);
    lr->cap = 1 << 16;
    lr->buf = xmalloc(lr->cap);
    return 0;
}

/* Next line without its LF; NULL at end of file. *len gets its length. */
static inline char *lr_next(line_reader *lr, size_t *len)
{
    size_t n = 0;
    for (;;) {
        if (!gzgets(lr->f, lr->buf + n, (int)(lr->cap - n))) {
            if (n == 0)
                return NULL;
            break;
        }
        n += strlen(lr->buf + n);
        if (n > 0 && lr->buf[n - 1] == '\n') {
            n--;
            break;
        }
        if (n + 1 < lr->cap)
            continue; /* short read without LF: end of file follows */
        lr->cap *= 2;
        lr->buf = xrealloc(lr->buf, lr->cap);
    }
    lr->buf[n] = '\0';
    *len = n;
    return lr->buf;
}

static inline int lr_close(line_reader *lr)
{
    int err = 0;
    const char *m = gzerror(lr->f, &err);
    if (err != Z_OK && err != Z_STREAM_END)
        fprintf(stderr, "read error: %s\n", m);
    gzclose(lr->f);
    free(lr->buf);
    return err == Z_OK || err == Z_STREAM_END ? 0 : -1;
}

/* ---- string table: words in an arena, open addressing on their hashes ---- */
typedef struct {
    char *arena;
    size_t arena_len, arena_cap;
    uint64_t *off;   /* word id → offset in arena (length in low 16 bits) */
    size_t n, cap;   /* words, capacity of off */
    uint32_t *slot;  /* id + 1, 0 = empty */
    size_t nslots;   /* power of two */
} strtab;

static inline uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
    return h ^ (h >> 29);
}

static inline const char *st_word(const strtab *t, uint32_t id, size_t *len)
{
    *len = (size_t)(t->off[id] & 0xffff);
    return t->arena + (t->off[id] >> 16);
}

static inline void st_rehash(strtab *t, size_t nslots)
{
    free(t->slot);
    t->slot = calloc(nslots, sizeof *t->slot);
    if (!t->slot) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    t->nslots = nslots;
    for (size_t id = 0; id < t->n; id++) {
        size_t l;
        const char *w = st_word(t, (uint32_t)id, &l);
        size_t i = hash_bytes(w, l) & (nslots - 1);
        while (t->slot[i])
            i = (i + 1) & (nslots - 1);
        t->slot[i] = (uint32_t)id + 1;
    }
}

/* Id of word s[0..n) (n < 65536); adds it when add, else returns UINT32_MAX
 * when absent. *added tells whether it was new. */
static inline uint32_t st_lookup(strtab *t, const char *s, size_t n, int add, int *added)
{
    if (added)
        *added = 0;
    if (t->nslots == 0)
        st_rehash(t, 1024);
    size_t mask = t->nslots - 1, i = hash_bytes(s, n) & mask;
    for (;;) {
        uint32_t v = t->slot[i];
        if (!v)
            break;
        size_t l;
        const char *w = st_word(t, v - 1, &l);
        if (l == n && memcmp(w, s, n) == 0)
            return v - 1;
        i = (i + 1) & mask;
    }
    if (!add)
        return UINT32_MAX;
    t->arena = grow(t->arena, &t->arena_cap, t->arena_len + n, 1);
    memcpy(t->arena + t->arena_len, s, n);
    t->off = grow(t->off, &t->cap, t->n + 1, sizeof *t->off);
    t->off[t->n] = ((uint64_t)t->arena_len << 16) | n;
    t->arena_len += n;
    uint32_t id = (uint32_t)t->n++;
    t->slot[i] = id + 1;
    if (added)
        *added = 1;
    if (t->n * 2 > t->nslots)
        st_rehash(t, t->nslots * 2);
    return id;
}

static inline void st_free(strtab *t)
{
    free(t->arena);
    free(t->off);
    free(t->slot);
    memset(t, 0, sizeof *t);
}

/* ---- output buffer with JSON string escaping ---- */
typedef struct {
    char *b;
    size_t n, cap;
    FILE *f;
    uint64_t written;
} outbuf;

static inline void ob_flush(outbuf *o)
{
    if (o->n && fwrite(o->b, 1, o->n, o->f) != o->n) {
        fprintf(stderr, "write error: %s\n", strerror(errno));
        exit(1);
    }
    o->written += o->n;
    o->n = 0;
}

static inline void ob_put(outbuf *o, const char *s, size_t n)
{
    if (o->n + n > o->cap) {
        ob_flush(o);
        if (n > o->cap) {
            o->cap = n;
            o->b = xrealloc(o->b, o->cap);
        }
    }
    memcpy(o->b + o->n, s, n);
    o->n += n;
}

static inline void ob_puts(outbuf *o, const char *s) { ob_put(o, s, strlen(s)); }

/* Appends s[0..n) (valid UTF-8) escaped for a JSON string, without quotes. */
static inline void ob_json(outbuf *o, const char *s, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        ob_put(o, s + start, i - start);
        char e[8];
        switch (c) {
        case '"': ob_put(o, "\\\"", 2); break;
        case '\\': ob_put(o, "\\\\", 2); break;
        case '\n': ob_put(o, "\\n", 2); break;
        case '\t': ob_put(o, "\\t", 2); break;
        case '\r': ob_put(o, "\\r", 2); break;
        default:
            snprintf(e, sizeof e, "\\u%04x", c);
            ob_put(o, e, 6);
        }
        start = i + 1;
    }
    ob_put(o, s + start, n - start);
}

/* Parses a non-negative decimal integer; -1 on junk or overflow. */
static inline int parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s || *s == '-' || *s == '+')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

/* Decodes the UTF-8 sequence at s (valid input); returns its length. */
static inline int utf8_dec(const unsigned char *s, uint32_t *cp)
{
    if (s[0] < 0x80) { *cp = s[0]; return 1; }
    if (s[0] < 0xe0) { *cp = ((uint32_t)(s[0] & 0x1f) << 6) | (s[1] & 0x3f); return 2; }
    if (s[0] < 0xf0) {
        *cp = ((uint32_t)(s[0] & 0x0f) << 12) | ((uint32_t)(s[1] & 0x3f) << 6) | (s[2] & 0x3f);
        return 3;
    }
    *cp = ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3f) << 12) |
          ((uint32_t)(s[2] & 0x3f) << 6) | (s[3] & 0x3f);
    return 4;
}

static inline int is_hangul_syllable(uint32_t cp) { return cp >= 0xac00 && cp <= 0xd7a3; }

#endif
