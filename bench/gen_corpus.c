/* ks-gen-corpus: a reproducible, streaming generator of Korean-like JSON Lines
 * corpora of any size for benchmarks. It learns an order-2 word Markov model,
 * length histograms and Hangul syllable statistics from real text once, then
 * writes documents one by one; new words come from a Pitman-Yor pool so the
 * vocabulary grows by Heaps' law and word frequencies follow Zipf's law. */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <time.h>
#include <unistd.h>

#include "gen_util.h"

#define NSYL 11172u          /* Hangul syllables U+AC00..U+D7A3 */
#define SYL_START NSYL       /* pseudo-syllable before the first one */
#define SYL_ANY (NSYL + 1)   /* context of the syllable unigram distribution */
#define MAX_STEM_SYL 12
#define LINE_BREAK 0u        /* word id 0: end of line / start context */

/* ---- transition lists: sorted (context, next) → per-context cumulative counts ---- */
typedef struct {
    uint64_t key;      /* context */
    uint32_t start, n; /* range in next[]/cum[] */
} ctx_t;

typedef struct {
    ctx_t *ctx;
    size_t nctx;
    uint32_t *slot; /* ctx index + 1 */
    size_t nslots;
    uint32_t *next;
    uint64_t *cum;
} trans_t;

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

typedef struct { uint64_t key; uint32_t next; } pair_t;

static int cmp_pair(const void *a, const void *b)
{
    const pair_t *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->next < y->next ? -1 : x->next > y->next;
}

/* Builds the transition table from n (context, next) observations. */
static void trans_build(trans_t *t, pair_t *p, size_t n)
{
    memset(t, 0, sizeof *t);
    qsort(p, n, sizeof *p, cmp_pair);
    t->next = xmalloc(n * sizeof *t->next);
    t->cum = xmalloc(n * sizeof *t->cum);
    t->ctx = xmalloc(n * sizeof *t->ctx);
    size_t m = 0;
    for (size_t i = 0; i < n;) {
        ctx_t *c = &t->ctx[t->nctx++];
        c->key = p[i].key;
        c->start = (uint32_t)m;
        uint64_t total = 0;
        while (i < n && p[i].key == c->key) {
            uint32_t nx = p[i].next;
            while (i < n && p[i].key == c->key && p[i].next == nx) {
                total++;
                i++;
            }
            t->next[m] = nx;
            t->cum[m++] = total;
        }
        c->n = (uint32_t)(m - c->start);
    }
    t->nslots = 16;
    while (t->nslots < t->nctx * 2)
        t->nslots *= 2;
    t->slot = calloc(t->nslots, sizeof *t->slot);
    if (!t->slot)
        exit(1);
    for (size_t i = 0; i < t->nctx; i++) {
        size_t s = mix64(t->ctx[i].key) & (t->nslots - 1);
        while (t->slot[s])
            s = (s + 1) & (t->nslots - 1);
        t->slot[s] = (uint32_t)i + 1;
    }
}

static const ctx_t *trans_find(const trans_t *t, uint64_t key)
{
    if (!t->nslots)
        return NULL;
    size_t s = mix64(key) & (t->nslots - 1);
    for (uint32_t v; (v = t->slot[s]); s = (s + 1) & (t->nslots - 1))
        if (t->ctx[v - 1].key == key)
            return &t->ctx[v - 1];
    return NULL;
}

static void trans_free(trans_t *t)
{
    free(t->ctx);
    free(t->slot);
    free(t->next);
    free(t->cum);
}

/* Draws from a context; with probability k/(total+k) (Witten-Bell escape)
 * returns UINT32_MAX to ask for the lower order. */
static uint32_t trans_draw(const trans_t *t, const ctx_t *c, rng_t *r, int may_escape)
{
    uint64_t total = t->cum[c->start + c->n - 1];
    uint64_t x = rng_below(r, total + (may_escape ? c->n : 0));
    if (x >= total)
        return UINT32_MAX;
    return t->next[c->start + upper_index(t->cum + c->start, c->n, x)];
}

/* ---- the whole model ---- */
typedef struct {
    strtab words;     /* id 0 = line break */
    uint32_t n_model; /* words learnt from the training text */
    trans_t t2, t1, t0; /* order 2, order 1, unigram (context key 0) */
    uint32_t *body_len, *title_len; /* per training document, in words */
    size_t ndocs;
    /* syllables: start distribution and bigrams (context = previous syllable or SYL_START) */
    trans_t syl;
    uint64_t stem_len_cum[MAX_STEM_SYL + 1];
    /* particles */
    uint64_t part_cum[32];
    int npart;
    uint64_t hangul_words, particle_words;
} model_t;

static const char *const PARTICLES[] = {
    "", "은", "는", "이", "가", "을", "를", "의", "에", "에서", "로", "으로", "와", "과",
    "도", "만", "에게", "까지", "부터", "처럼", "보다", "이다", "입니다", "하는", "합니다",
};
#define NPART ((int)(sizeof PARTICLES / sizeof *PARTICLES))

typedef struct {
    pair_t *p2, *p1, *p0, *ps;
    size_t n2, n1, n0, ns, c2, c1, c0, cs;
    uint64_t stem_hist[MAX_STEM_SYL + 1];
    uint64_t part_hist[NPART];
} train_acc;

static void push(pair_t **v, size_t *n, size_t *cap, uint64_t key, uint32_t next)
{
    *v = grow(*v, cap, *n + 1, sizeof **v);
    (*v)[(*n)++] = (pair_t){key, next};
}

static int is_ascii_punct(unsigned char c)
{
    return (c >= 0x21 && c <= 0x2f) || (c >= 0x3a && c <= 0x40) || (c >= 0x5b && c <= 0x60) ||
           (c >= 0x7b && c <= 0x7e);
}

/* Syllable and particle statistics of one word. */
static void learn_syllables(train_acc *a, const char *w, size_t n)
{
    while (n && is_ascii_punct((unsigned char)w[n - 1]))
        n--;
    if (n < 3 || n % 3)
        return;
    uint32_t syl[64];
    size_t k = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t cp;
        if (utf8_dec((const unsigned char *)w + i, &cp) != 3 || !is_hangul_syllable(cp) || k == 64)
            return;
        syl[k++] = cp - 0xac00;
    }
    /* longest particle suffix leaving at least one syllable of stem */
    int best = 0;
    size_t blen = 0;
    for (int p = 1; p < NPART; p++) {
        size_t pl = strlen(PARTICLES[p]);
        if (pl > blen && pl < n && memcmp(w + n - pl, PARTICLES[p], pl) == 0) {
            best = p;
            blen = pl;
        }
    }
    a->part_hist[best]++;
    size_t stem = k - blen / 3;
    a->stem_hist[stem > MAX_STEM_SYL ? MAX_STEM_SYL : stem]++;
    uint32_t prev = SYL_START;
    for (size_t i = 0; i < stem; i++) {
        push(&a->ps, &a->ns, &a->cs, prev, syl[i]);
        push(&a->ps, &a->ns, &a->cs, SYL_ANY, syl[i]);
        prev = syl[i];
    }
}

static int is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

/* Learns the words of one text; returns its word count. Lines are separate
 * sequences, each starting in context (0,0) and ending with a line break. */
static uint32_t learn_text(model_t *m, train_acc *a, const char *s, size_t n)
{
    uint32_t words = 0, w1 = LINE_BREAK, w2 = LINE_BREAK;
    int online = 0;
    for (size_t i = 0; i <= n;) {
        if (i == n || s[i] == '\n') {
            if (online) {
                push(&a->p2, &a->n2, &a->c2, ((uint64_t)w1 << 32) | w2, LINE_BREAK);
                push(&a->p1, &a->n1, &a->c1, w2, LINE_BREAK);
                push(&a->p0, &a->n0, &a->c0, 0, LINE_BREAK);
            }
            w1 = w2 = LINE_BREAK;
            online = 0;
            i++;
            continue;
        }
        if (is_space((unsigned char)s[i])) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && s[j] != '\n' && !is_space((unsigned char)s[j]))
            j++;
        if (j - i < 0xffff) {
            uint32_t id = st_lookup(&m->words, s + i, j - i, 1, NULL);
            push(&a->p2, &a->n2, &a->c2, ((uint64_t)w1 << 32) | w2, id);
            push(&a->p1, &a->n1, &a->c1, w2, id);
            push(&a->p0, &a->n0, &a->c0, 0, id);
            learn_syllables(a, s + i, j - i);
            w1 = w2;
            w2 = id;
            online = 1;
            words++;
        }
        i = j;
    }
    return words;
}

static int train(model_t *m, char **files, int nfiles)
{
    train_acc a;
    memset(&a, 0, sizeof a);
    size_t capb = 0, capt = 0;
    st_lookup(&m->words, "\n", 1, 1, NULL); /* id 0 */
    for (int f = 0; f < nfiles; f++) {
        line_reader lr;
        if (lr_open(&lr, files[f]) < 0) {
            fprintf(stderr, "ks-gen-corpus: cannot open '%s': %s\n", files[f], strerror(errno));
            goto fail;
        }
        size_t len, lineno = 0;
        for (char *line; (line = lr_next(&lr, &len));) {
            lineno++;
            json_error_t je;
            json_t *o = json_loadb(line, len, 0, &je);
            if (!o || !json_is_object(o)) {
                if (len)
                    fprintf(stderr, "ks-gen-corpus: %s:%zu: skipped (not a JSON object)\n", files[f], lineno);
                json_decref(o);
                continue;
            }
            json_t *t = json_object_get(o, "title"), *b = json_object_get(o, "body");
            if (json_is_string(b) && json_string_length(b) > 0) {
                uint32_t tl = json_is_string(t) ? learn_text(m, &a, json_string_value(t), json_string_length(t)) : 0;
                uint32_t bl = learn_text(m, &a, json_string_value(b), json_string_length(b));
                if (bl > 0) {
                    m->body_len = grow(m->body_len, &capb, m->ndocs + 1, sizeof *m->body_len);
                    m->title_len = grow(m->title_len, &capt, m->ndocs + 1, sizeof *m->title_len);
                    m->body_len[m->ndocs] = bl;
                    m->title_len[m->ndocs++] = tl;
                }
            }
            json_decref(o);
        }
        if (lr_close(&lr) < 0)
            goto fail;
    }
    if (m->ndocs == 0 || a.ns == 0) {
        fprintf(stderr, "ks-gen-corpus: the training text has no documents with Korean words\n");
        goto fail;
    }
    m->n_model = (uint32_t)m->words.n;
    trans_build(&m->t2, a.p2, a.n2);
    trans_build(&m->t1, a.p1, a.n1);
    trans_build(&m->t0, a.p0, a.n0);
    trans_build(&m->syl, a.ps, a.ns);
    free(a.p2);
    free(a.p1);
    free(a.p0);
    free(a.ps);
    uint64_t c = 0;
    for (int i = 0; i <= MAX_STEM_SYL; i++)
        m->stem_len_cum[i] = (c += a.stem_hist[i]);
    c = 0;
    for (int i = 0; i < NPART; i++) {
        m->part_cum[i] = (c += a.part_hist[i]);
        m->hangul_words += a.part_hist[i];
        if (i)
            m->particle_words += a.part_hist[i];
    }
    m->npart = NPART;
    return 0;
fail:
    free(a.p2);
    free(a.p1);
    free(a.p0);
    free(a.ps);
    return -1;
}

static void model_free(model_t *m)
{
    trans_free(&m->t2);
    trans_free(&m->t1);
    trans_free(&m->t0);
    trans_free(&m->syl);
    free(m->body_len);
    free(m->title_len);
    st_free(&m->words);
}

/* ---- Pitman-Yor pool of new words: Fenwick tree over weights c_i - d ---- */
typedef struct {
    uint32_t *word;  /* pool index → word id */
    uint64_t *count; /* uses */
    uint64_t *fen;   /* Fenwick tree over 1000*count - d1000, 1-based */
    size_t n, cap;   /* cap: power of two */
    uint64_t uses, total_w;
    uint64_t d1000;  /* discount in thousandths */
    double theta;
} pool_t;

static void fen_add(pool_t *p, size_t i, uint64_t v)
{
    for (i++; i <= p->cap; i += i & (~i + 1))
        p->fen[i] += v;
}

static void pool_add(pool_t *p, uint32_t word)
{
    if (p->n == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 1024;
        p->word = xrealloc(p->word, nc * sizeof *p->word);
        p->count = xrealloc(p->count, nc * sizeof *p->count);
        free(p->fen);
        p->fen = calloc(nc + 1, sizeof *p->fen);
        if (!p->fen)
            exit(1);
        p->cap = nc;
        for (size_t i = 0; i < p->n; i++)
            fen_add(p, i, 1000 * p->count[i] - p->d1000);
    }
    p->word[p->n] = word;
    p->count[p->n] = 1;
    fen_add(p, p->n, 1000 - p->d1000);
    p->n++;
    p->uses++;
    p->total_w += 1000 - p->d1000;
}

/* Pool index whose cumulative weight range holds x. */
static size_t fen_find(const pool_t *p, uint64_t x)
{
    size_t pos = 0;
    for (size_t step = p->cap; step; step >>= 1)
        if (pos + step <= p->cap && p->fen[pos + step] <= x) {
            pos += step;
            x -= p->fen[pos];
        }
    return pos;
}

static void pool_free(pool_t *p)
{
    free(p->word);
    free(p->count);
    free(p->fen);
}

/* ---- generation ---- */
typedef struct {
    model_t *m;
    pool_t pool;
    rng_t rng;
    double new_rate;
    /* statistics: uses per word id (memory grows with the vocabulary) */
    uint64_t *tf;
    size_t tf_cap;
    uint64_t tokens, vocab;
    uint64_t new_attempts, new_collisions;
} gen_t;

static uint32_t syl_draw(gen_t *g, uint32_t prev)
{
    /* bigram, backing off (Witten-Bell) to the syllable unigram */
    const ctx_t *c = trans_find(&g->m->syl, prev);
    uint32_t s;
    if (c && (s = trans_draw(&g->m->syl, c, &g->rng, 1)) != UINT32_MAX)
        return s;
    return trans_draw(&g->m->syl, trans_find(&g->m->syl, SYL_ANY), &g->rng, 0);
}

/* A word that is not yet known: syllables from the bigram model, a stem
 * length and a particle from the training histograms. */
static uint32_t invent_word(gen_t *g)
{
    model_t *m = g->m;
    for (int attempt = 0;; attempt++) {
        char buf[3 * (MAX_STEM_SYL + 8)];
        size_t n = 0;
        size_t len = upper_index(m->stem_len_cum, MAX_STEM_SYL + 1,
                                 rng_below(&g->rng, m->stem_len_cum[MAX_STEM_SYL]));
        if (len == 0)
            len = 1;
        uint32_t s = SYL_START;
        for (size_t i = 0; i < len; i++) {
            s = syl_draw(g, s);
            uint32_t cp = 0xac00 + s;
            buf[n++] = (char)(0xe0 | (cp >> 12));
            buf[n++] = (char)(0x80 | ((cp >> 6) & 0x3f));
            buf[n++] = (char)(0x80 | (cp & 0x3f));
        }
        const char *part = PARTICLES[upper_index(m->part_cum, (size_t)m->npart,
                                                 rng_below(&g->rng, m->part_cum[m->npart - 1]))];
        /* the allomorph that fits the last syllable: 은/는, 이/가, 을/를, 과/와, 으로/로 */
        static const char *const ALLO[][2] = {
            {"은", "는"}, {"이", "가"}, {"을", "를"}, {"과", "와"}, {"으로", "로"},
        };
        unsigned jong = s % 28; /* final consonant; 8 = ㄹ */
        for (size_t k = 0; k < sizeof ALLO / sizeof *ALLO; k++)
            if (strcmp(part, ALLO[k][0]) == 0 || strcmp(part, ALLO[k][1]) == 0)
                part = ALLO[k][jong != 0 && !(k == 4 && jong == 8) ? 0 : 1];
        size_t pl = strlen(part);
        memcpy(buf + n, part, pl);
        n += pl;
        int added;
        g->new_attempts++;
        uint32_t id = st_lookup(&m->words, buf, n, 1, &added);
        if (added || attempt == 50)
            return id;
        g->new_collisions++;
    }
}

/* Pitman-Yor draw: a brand-new word with probability (theta + d K)/(theta + n),
 * else an old pool word with probability ∝ count - d. */
static uint32_t py_word(gen_t *g)
{
    pool_t *p = &g->pool;
    double d = (double)p->d1000 / 1000.0;
    double pnew = (p->theta + d * (double)p->n) / (p->theta + (double)p->uses);
    if (p->n == 0 || rng_unit(&g->rng) < pnew) {
        uint32_t id = invent_word(g);
        pool_add(p, id);
        return id;
    }
    size_t i = fen_find(p, rng_below(&g->rng, p->total_w));
    p->count[i]++;
    p->uses++;
    p->total_w += 1000;
    fen_add(p, i, 1000);
    return p->word[i];
}

/* Next model word after context (w1, w2), backing off 2 → 1 → 0. */
static uint32_t model_word(gen_t *g, uint32_t w1, uint32_t w2)
{
    model_t *m = g->m;
    const ctx_t *c = trans_find(&m->t2, ((uint64_t)w1 << 32) | w2);
    uint32_t id;
    if (c && (id = trans_draw(&m->t2, c, &g->rng, 1)) != UINT32_MAX)
        return id;
    c = trans_find(&m->t1, w2);
    if (c && (id = trans_draw(&m->t1, c, &g->rng, 1)) != UINT32_MAX)
        return id;
    return trans_draw(&m->t0, &m->t0.ctx[0], &g->rng, 0);
}

static void count_token(gen_t *g, uint32_t id)
{
    g->tokens++;
    if (id >= g->tf_cap) {
        size_t old = g->tf_cap;
        g->tf = grow(g->tf, &g->tf_cap, (size_t)id + 1, sizeof *g->tf);
        memset(g->tf + old, 0, (g->tf_cap - old) * sizeof *g->tf);
    }
    if (g->tf[id]++ == 0)
        g->vocab++;
}

/* Writes nwords words (JSON-escaped); lines end where the model ends them
 * (multiline) or just restart the context (titles). */
static void gen_text(gen_t *g, outbuf *o, uint32_t nwords, int multiline)
{
    uint32_t w1 = LINE_BREAK, w2 = LINE_BREAK, done = 0, online = 0;
    while (done < nwords) {
        uint32_t id;
        if (g->new_rate > 0 && rng_unit(&g->rng) < g->new_rate) {
            id = py_word(g); /* the context stays as if the word were not there */
        } else {
            id = model_word(g, w1, w2);
            if (id == LINE_BREAK) {
                if (online && multiline) { /* a title just goes on */
                    ob_put(o, "\\n", 2);
                    online = 0;
                }
                w1 = w2 = LINE_BREAK;
                continue;
            }
            w1 = w2;
            w2 = id;
        }
        if (online)
            ob_put(o, " ", 1);
        size_t l;
        const char *s = st_word(&g->m->words, id, &l);
        ob_json(o, s, l);
        online = 1;
        done++;
        count_token(g, id);
    }
}

/* Civil date from days since 1970-01-01 (Howard Hinnant's algorithm). */
static void civil(int64_t z, int *y, int *mo, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *mo = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*mo <= 2));
}

typedef struct { uint64_t docs, tokens, vocab; } point_t;

static double now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Least-squares slope and intercept of log y on log x. */
static void loglog_fit(const double *x, const double *y, size_t n, double *slope, double *icept)
{
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (size_t i = 0; i < n; i++) {
        double lx = log(x[i]), ly = log(y[i]);
        sx += lx;
        sy += ly;
        sxx += lx * lx;
        sxy += lx * ly;
    }
    double den = (double)n * sxx - sx * sx;
    *slope = n > 1 && den != 0 ? ((double)n * sxy - sx * sy) / den : NAN;
    *icept = n > 1 ? (sy - *slope * sx) / (double)n : NAN;
}

static int cmp_desc_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

static int write_stats(const char *path, int quiet, gen_t *g, const point_t *pts, size_t npts,
                       double secs, uint64_t bytes)
{
    /* Heaps: fit on the checkpoints from 1,000 documents on (all when fewer). */
    double x[64], y[64], beta, lk;
    size_t nf = 0;
    for (size_t i = 0; i < npts; i++)
        if (pts[i].docs >= 1000 && pts[i].vocab > 0) {
            x[nf] = (double)pts[i].tokens;
            y[nf++] = (double)pts[i].vocab;
        }
    if (nf < 2)
        for (size_t i = nf = 0; i < npts; i++)
            if (pts[i].vocab > 0) {
                x[nf] = (double)pts[i].tokens;
                y[nf++] = (double)pts[i].vocab;
            }
    loglog_fit(x, y, nf, &beta, &lk);
    /* Zipf: frequencies by rank; fit between rank 10 and V/10 on log-spaced ranks. */
    uint64_t *f = xmalloc(g->tf_cap * sizeof *f);
    size_t v = 0;
    for (size_t i = 0; i < g->tf_cap; i++)
        if (g->tf[i])
            f[v++] = g->tf[i];
    qsort(f, v, sizeof *f, cmp_desc_u64);
    size_t nz = 0, zcap = 0;
    double *zx = NULL, *zy = NULL;
    size_t zcap2 = 0;
    for (double r = 10; r <= (double)v / 10; r *= 1.1) {
        zx = grow(zx, &zcap, nz + 1, sizeof *zx);
        zy = grow(zy, &zcap2, nz + 1, sizeof *zy);
        zx[nz] = floor(r);
        zy[nz++] = (double)f[(size_t)r - 1];
    }
    double zs = NAN, zi;
    if (nz >= 2)
        loglog_fit(zx, zy, nz, &zs, &zi);
    free(zx);
    free(zy);

    if (!quiet)
        fprintf(stderr,
            "ks-gen-corpus: %" PRIu64 " documents, %" PRIu64 " words, %" PRIu64
            " distinct (%zu training words, %zu invented, %" PRIu64 " pool uses, %" PRIu64
            " name collisions), %.1f MB in %.1f s (%.1f MB/s)\n"
            "ks-gen-corpus: Heaps V = %.3g * N^%.3f over %zu checkpoints; Zipf slope %.3f (ranks 10..V/10)\n",
            pts[npts - 1].docs, g->tokens, g->vocab, (size_t)g->m->n_model - 1,
            g->m->words.n - g->m->n_model, g->pool.uses, g->new_collisions, (double)bytes / 1e6, secs,
            secs > 0 ? (double)bytes / 1e6 / secs : 0.0, exp(lk), beta, nf, -zs);
    if (!path) {
        free(f);
        return 0;
    }
    FILE *out = fopen(path, "w");
    if (!out) {
        fprintf(stderr, "ks-gen-corpus: cannot write '%s': %s\n", path, strerror(errno));
        free(f);
        return -1;
    }
    fprintf(out, "# ks-gen-corpus statistics. Block 0 (gnuplot index 0): vocabulary growth;\n"
                 "# block 1: rank/frequency of all distinct words (log-spaced ranks beyond 1000).\n");
    fprintf(out, "# heaps_K\t%.6g\n# heaps_beta\t%.4f\n# zipf_slope\t%.4f\n", exp(lk), beta, -zs);
    fprintf(out, "docs\ttokens\tvocab\n");
    for (size_t i = 0; i < npts; i++)
        fprintf(out, "%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\n", pts[i].docs, pts[i].tokens, pts[i].vocab);
    fprintf(out, "\n\nrank\tfreq\n");
    size_t last = 0;
    for (double r = 1; r <= (double)v; r = r < 1000 ? r + 1 : r * 1.01) {
        size_t k = (size_t)r;
        if (k == last)
            continue;
        last = k;
        fprintf(out, "%zu\t%" PRIu64 "\n", k, f[k - 1]);
    }
    if (v && last != v)
        fprintf(out, "%zu\t%" PRIu64 "\n", v, f[v - 1]);
    free(f);
    if (fclose(out) != 0) {
        fprintf(stderr, "ks-gen-corpus: cannot write '%s': %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: ks-gen-corpus --train FILE.jsonl[.gz] [--train ...] -n N [options]\n"
            "Generates N Korean-like documents in kosearch-indexer's JSON Lines format\n"
            "({\"id\":\"gen-<n>\",\"title\":...,\"body\":...,\"date\":\"YYYY-MM-DD\"}), reproducibly:\n"
            "the same training files and seed give the same bytes (PRNG: xoshiro256**\n"
            "seeded by splitmix64). Memory depends on the training text and on the\n"
            "vocabulary (which grows like N^beta), not on N itself.\n"
            "\n"
            "  --train FILE     training JSON Lines (title, body), .gz or plain; repeatable\n"
            "  -n, --docs N     documents to generate (0 gives empty output)\n"
            "  --seed S         PRNG seed (default 1)\n"
            "  -o, --output F   output file, '-' for stdout (default)\n"
            "  --stats FILE     write vocabulary growth (Heaps) and rank/frequency (Zipf) TSV\n"
            "  --new-rate P     share of word slots drawn from the new-word pool (default 0.08)\n"
            "  --py-discount D  Pitman-Yor discount of the pool, 0..0.95 (default 0.65)\n"
            "  --py-strength T  Pitman-Yor strength of the pool (default 1000)\n"
            "  -q, --quiet      no progress or summary on stderr\n"
            "  -h, --help       this help\n"
            "Exit status: 0 ok, 1 runtime error, 2 bad arguments.\n");
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"train", required_argument, 0, 't'},    {"docs", required_argument, 0, 'n'},
        {"seed", required_argument, 0, 's'},     {"output", required_argument, 0, 'o'},
        {"stats", required_argument, 0, 'S'},    {"new-rate", required_argument, 0, 'r'},
        {"py-discount", required_argument, 0, 'd'}, {"py-strength", required_argument, 0, 'T'},
        {"quiet", no_argument, 0, 'q'},          {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    /* static: still reachable (not a leak) when an argument error returns early */
    static char **train_files;
    train_files = xmalloc((size_t)argc * sizeof *train_files);
    int ntrain = 0, quiet = 0, have_n = 0;
    uint64_t ndocs = 0, seed = 1;
    const char *out_path = "-", *stats_path = NULL;
    double new_rate = 0.08, discount = 0.65, strength = 1000;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":n:o:qh", opts, NULL)) != -1) {
        switch (c) {
        case 't': train_files[ntrain++] = optarg; break;
        case 'n':
            if (parse_u64(optarg, &ndocs) < 0 || ndocs > 1000000000ULL) {
                fprintf(stderr, "ks-gen-corpus: -n wants a number of documents 0..1000000000, not '%s'\n", optarg);
                return GEN_EXIT_USAGE;
            }
            have_n = 1;
            break;
        case 's':
            if (parse_u64(optarg, &seed) < 0) {
                fprintf(stderr, "ks-gen-corpus: --seed wants a non-negative integer, not '%s'\n", optarg);
                return GEN_EXIT_USAGE;
            }
            break;
        case 'o': out_path = optarg; break;
        case 'S': stats_path = optarg; break;
        case 'r':
            if (parse_double(optarg, 0, 1, &new_rate) < 0) {
                fprintf(stderr, "ks-gen-corpus: --new-rate wants a probability 0..1, not '%s'\n", optarg);
                return GEN_EXIT_USAGE;
            }
            break;
        case 'd':
            if (parse_double(optarg, 0, 0.95, &discount) < 0) {
                fprintf(stderr, "ks-gen-corpus: --py-discount wants 0..0.95, not '%s'\n", optarg);
                return GEN_EXIT_USAGE;
            }
            break;
        case 'T':
            if (parse_double(optarg, 0, 1e9, &strength) < 0) {
                fprintf(stderr, "ks-gen-corpus: --py-strength wants 0..1e9, not '%s'\n", optarg);
                return GEN_EXIT_USAGE;
            }
            break;
        case 'q': quiet = 1; break;
        case 'h': usage(stdout); return 0;
        case ':':
            fprintf(stderr, "ks-gen-corpus: option '%s' needs a value (see --help)\n", argv[optind - 1]);
            return GEN_EXIT_USAGE;
        default:
            fprintf(stderr, "ks-gen-corpus: unknown option '%s' (see --help)\n", argv[optind - 1]);
            return GEN_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ks-gen-corpus: unexpected argument '%s' (see --help)\n", argv[optind]);
        return GEN_EXIT_USAGE;
    }
    if (ntrain == 0 || !have_n) {
        fprintf(stderr, "ks-gen-corpus: --train FILE and -n N are required (see --help)\n");
        return GEN_EXIT_USAGE;
    }

    model_t m;
    memset(&m, 0, sizeof m);
    int trained = train(&m, train_files, ntrain);
    free(train_files);
    if (trained < 0) {
        model_free(&m);
        return 1;
    }

    FILE *out = strcmp(out_path, "-") == 0 ? stdout : fopen(out_path, "wb");
    if (!out) {
        fprintf(stderr, "ks-gen-corpus: cannot write '%s': %s\n", out_path, strerror(errno));
        model_free(&m);
        return 1;
    }
    gen_t g;
    memset(&g, 0, sizeof g);
    g.m = &m;
    g.new_rate = new_rate;
    g.pool.d1000 = (uint64_t)llround(discount * 1000);
    g.pool.theta = strength;
    rng_seed(&g.rng, seed);
    outbuf o = {.cap = 1 << 20, .f = out};
    o.b = xmalloc(o.cap);

    int progress = !quiet && isatty(2);
    point_t pts[64];
    size_t npts = 0;
    uint64_t next_cp = 1, cp_mult[] = {2, 5, 10}; /* 1, 2, 5, 10, 20, 50, ... */
    int cp_i = 0;
    uint64_t cp_base = 1;
    double t0 = now_sec(), last_report = t0;
    const int64_t day0 = 10957, ndays = 9497; /* 2000-01-01 .. 2025-12-31 */
    for (uint64_t d = 1; d <= ndocs; d++) {
        uint32_t tl = m.title_len[rng_below(&g.rng, m.ndocs)];
        uint32_t bl = m.body_len[rng_below(&g.rng, m.ndocs)];
        char head[64];
        snprintf(head, sizeof head, "{\"id\":\"gen-%" PRIu64 "\",\"title\":\"", d);
        ob_puts(&o, head);
        gen_text(&g, &o, tl, 0);
        ob_puts(&o, "\",\"body\":\"");
        gen_text(&g, &o, bl, 1);
        int y, mo, dd;
        civil(day0 + (int64_t)rng_below(&g.rng, (uint64_t)ndays), &y, &mo, &dd);
        snprintf(head, sizeof head, "\",\"date\":\"%04d-%02d-%02d\"}\n", y, mo, dd);
        ob_puts(&o, head);
        if (d == next_cp || d == ndocs) {
            if (npts < 64)
                pts[npts++] = (point_t){d, g.tokens, g.vocab};
            if (d == next_cp) {
                next_cp = cp_base * cp_mult[cp_i];
                if (++cp_i == 3) {
                    cp_i = 0;
                    cp_base *= 10;
                }
            }
        }
        if (progress && (d & 1023) == 0) {
            double t = now_sec();
            if (t - last_report >= 0.5) {
                last_report = t;
                double mb = (double)(o.written + o.n) / 1e6;
                fprintf(stderr, "\r%" PRIu64 "/%" PRIu64 " docs, %.0f MB, %.1f MB/s, %" PRIu64 " distinct words   ",
                        d, ndocs, mb, mb / (t - t0), g.vocab);
            }
        }
    }
    ob_flush(&o);
    if (progress && ndocs >= 1024)
        fputc('\n', stderr);
    int rc = 0;
    if (out != stdout ? fclose(out) != 0 : fflush(out) != 0) {
        fprintf(stderr, "ks-gen-corpus: write error: %s\n", strerror(errno));
        rc = 1;
    }
    double secs = now_sec() - t0;
    if (ndocs > 0 && (stats_path || !quiet))
        if (write_stats(stats_path, quiet, &g, pts, npts, secs, o.written) < 0)
            rc = 1;
    if (ndocs == 0 && stats_path) {
        FILE *sf = fopen(stats_path, "w");
        if (!sf || fclose(sf) != 0)
            rc = 1;
    }
    free(o.b);
    free(g.tf);
    pool_free(&g.pool);
    model_free(&m);
    return rc;
}
