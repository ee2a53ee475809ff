/* The native query engine (ks_engine.h). Set-at-a-time with filters: a node
 * is evaluated into a sorted list of (docid, score) restricted to a filter
 * list, so an AND runs its rarest child first and the others only on its
 * survivors (skipping posting blocks by their last docid); phrases check
 * positions only for documents holding all their terms. Term scores come
 * from the BM25 kernel (ks_score.h) through one function pointer. */
#include "ks_engine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ks_bufpool.h"
#include "ks_score.h"

#include <unicode/utf8.h>

/* The kernel is the one the dispatcher selected at start-up (ks_score_select:
 * KOSEARCH_SIMD or the widest the CPU supports); every variant gives the
 * scalar reference's scores bit for bit. */
const char *ks_engine_kernel_name(void)
{
    return ks_score_name();
}

typedef struct rlist {
    uint32_t *doc;
    double *score;
    uint32_t *pidx;   /* TERM lists for phrases: posting number within the term */
    uint32_t *fidx;   /* TERM lists in a phrase's chain: index of each document in the filter */
    uint32_t *wdf;    /* TERM lists for phrases: wdfs, scored only for the phrase's matches */
    size_t n, cap;
    size_t bytes[5];  /* sizes of the five buffers, for the pool */
} rlist;

struct ks_engine {
    const ks_segment *seg;
    const ks_seg_header *h;
    ks_bm25 bm25;
    int have_k;
    double *K;        /* per-document BM25 length factor */
    uint32_t *wdf;    /* scratch */
    size_t cap_wdf;
    uint8_t *slot;    /* SLOT_SPAN + 1 zero bytes, lazily: a block's docs by docid - base (block_matches) */
    ks_errbuf *eb;
    const ks_plan *plan;
    ks_bufpool pool;  /* rlist buffers, reused across queries */
    double kmin;      /* smallest K: the largest length part of a term's score */
    uint64_t scored;  /* postings scored by the last search */
    uint64_t postings; /* postings of the last search's terms */
    struct plist *pl; /* PL_SLOTS cached position-holding lists, lazily */
    size_t pl_used, pl_bytes, pl_max;
};

static void rl_free(ks_engine *e, rlist *r)
{
    ks_bufpool_put(&e->pool, r->doc, r->bytes[0]);
    ks_bufpool_put(&e->pool, r->score, r->bytes[1]);
    ks_bufpool_put(&e->pool, r->pidx, r->bytes[2]);
    ks_bufpool_put(&e->pool, r->fidx, r->bytes[3]);
    ks_bufpool_put(&e->pool, r->wdf, r->bytes[4]);
    memset(r, 0, sizeof *r);
}

/* Room for n entries in an empty list: doc and score, or with pidx >= 1
 * doc, pidx and wdf (a phrase's term list, unscored), and with 2 fidx too. */
static int rl_alloc(ks_engine *e, rlist *r, size_t n, int pidx)
{
    if (n == 0)
        n = 1;
    r->doc = ks_bufpool_get(&e->pool, n * sizeof *r->doc, &r->bytes[0]);
    if (!pidx)
        r->score = ks_bufpool_get(&e->pool, n * sizeof *r->score, &r->bytes[1]);
    if (pidx) {
        r->pidx = ks_bufpool_get(&e->pool, n * sizeof *r->pidx, &r->bytes[2]);
        r->wdf = ks_bufpool_get(&e->pool, n * sizeof *r->wdf, &r->bytes[4]);
    }
    if (pidx > 1)
        r->fidx = ks_bufpool_get(&e->pool, n * sizeof *r->fidx, &r->bytes[3]);
    if (!r->doc || (!pidx && !r->score) || (pidx && (!r->pidx || !r->wdf)) || (pidx > 1 && !r->fidx)) {
        rl_free(e, r);
        return KS_ENOMEM;
    }
    r->cap = n;
    return 0;
}

/* ---- postings that hold positions ------------------------------------------
 * A unigram is stored with positions only where it is a word of its own
 * (core/document.c): for 창 or 의 a small part of its postings, yet a phrase
 * can match only there. The spacing variants of a query word put such
 * unigrams in phrases (PHRASE(창, 이의) for 창이의): at 1M documents leaving
 * those variants out halved the engine's median on all-words queries, most
 * of it spent walking the documents that hold the unigram and the other
 * terms to find positions in few of them. So a phrase takes
 * such a term's candidates from the list of its postings that hold
 * positions, built from the segment's position start table on first use
 * and kept by the engine (one per thread), for terms where that is at
 * most a quarter of the postings. A search starts with an empty cache when
 * the lists passed pl_max bytes or filled three quarters of the slots, never
 * during one: its phrases hold pointers into the lists. */
#define PL_SLOTS 4096                 /* a power of two */
#define PL_DENSE UINT32_MAX           /* n: too many to be worth a list */

typedef struct plist {
    const ks_seg_term *t; /* NULL: empty slot */
    uint32_t n;           /* postings with positions, or PL_DENSE */
    uint32_t *doc, *pidx, *wdf; /* ascending docs; posting numbers in t; wdfs */
} plist;

static void pl_clear(ks_engine *e)
{
    if (!e->pl)
        return;
    for (size_t i = 0; i < PL_SLOTS; i++) {
        free(e->pl[i].doc);
        free(e->pl[i].pidx);
        free(e->pl[i].wdf);
    }
    memset(e->pl, 0, PL_SLOTS * sizeof *e->pl);
    e->pl_used = e->pl_bytes = 0;
}

int ks_engine_new(const ks_segment *seg, ks_engine **out, ks_errbuf *eb)
{
    *out = NULL;
    ks_engine *e = calloc(1, sizeof *e);
    if (!e)
        return ks_seterr(eb, KS_ENOMEM, "out of memory");
    e->seg = seg;
    e->h = ks_segment_header(seg);
    e->pl_max = KS_ENGINE_LIST_CACHE;
    e->K = malloc((e->h->lastdocid + 1) * sizeof *e->K);
    if (!e->K) {
        free(e);
        return ks_seterr(eb, KS_ENOMEM, "out of memory");
    }
    *out = e;
    return 0;
}

void ks_engine_set_list_cache(ks_engine *e, size_t max_bytes)
{
    e->pl_max = max_bytes;
}

void ks_engine_free(ks_engine *e)
{
    if (!e)
        return;
    free(e->K);
    free(e->wdf);
    free(e->slot);
    pl_clear(e);
    free(e->pl);
    ks_bufpool_clear(&e->pool);
    free(e);
}

static void set_params(ks_engine *e, const ks_bm25 *p)
{
    if (e->have_k && memcmp(&e->bm25, p, sizeof *p) == 0)
        return;
    e->bm25 = *p;
    double lf = ks_bm25_len_factor(p, e->h->avglength);
    const uint32_t *len = ks_segment_doclens(e->seg);
    e->kmin = 0;
    for (uint64_t d = 0; d <= e->h->lastdocid; d++) {
        e->K[d] = ks_bm25_doc_k(p, lf, len[d]);
        if (d == 0 || e->K[d] < e->kmin)
            e->kmin = e->K[d];
    }
    e->have_k = 1;
}

static int oom(ks_engine *e)
{
    return ks_seterr(e->eb, KS_ENOMEM, "out of memory");
}

/* ---- estimates: how many documents a node may match ---------------------- */

static uint64_t estimate(ks_engine *e, uint32_t id)
{
    const ks_plan *p = e->plan;
    const ks_plan_node *n = &p->nodes[id];
    if (n->op == KS_PLAN_TERM) {
        const ks_seg_term *t = ks_segment_find(e->seg, ks_plan_term(p, n), n->term_len);
        return t ? t->termfreq : 0;
    }
    uint64_t v = n->op == KS_PLAN_OR ? 0 : UINT64_MAX;
    for (uint32_t i = 0; i < n->n; i++) {
        uint64_t k = estimate(e, p->kids[n->first + i]);
        if (n->op == KS_PLAN_OR)
            v += k;
        else if (n->op == KS_PLAN_AND || n->op == KS_PLAN_PHRASE)
            v = k < v ? k : v;
        else if (i == 0)
            v = k; /* AND_NOT, AND_MAYBE: the first child */
    }
    return v == UINT64_MAX ? 0 : v;
}

/* ---- leaves ---------------------------------------------------------------- */

/* First block in blk[lo..nb) whose last docid is >= d (nb if none):
 * exponential steps then binary search, so a sparse filter skips most of a
 * long list's block index instead of scanning it. */
static uint32_t gallop_blocks(const ks_seg_block *blk, uint32_t lo, uint32_t nb, uint32_t d)
{
    uint32_t step = 1, hi = lo;
    while (hi < nb && blk[hi].last < d) {
        lo = hi + 1;
        hi = lo + step;
        step *= 2;
    }
    if (hi > nb)
        hi = nb;
    while (lo < hi) { /* first in [lo, hi) with last >= d, else hi */
        uint32_t mid = lo + (hi - lo) / 2;
        if (blk[mid].last < d)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* First index >= i in a[0..n) (ascending) whose value is >= d (n if
 * none): exponential steps, then binary search. */
static size_t seek_u32(const uint32_t *a, size_t n, size_t i, uint32_t d)
{
    size_t step = 1, lo = i, hi = i;
    while (hi < n && a[hi] < d) {
        lo = hi + 1;
        hi = lo + step;
        step *= 2;
    }
    if (hi > n)
        hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a[mid] < d)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* A block whose docids span at most SLOT_SPAN is intersected through a
 * table indexed by docid - base: see block_matches. */
#define SLOT_SPAN 65535u
_Static_assert(KS_SEG_BLOCK <= 255, "a block index + 1 must fit a table slot (uint8_t)");

/* Matches the filter documents fd[f..fe), all in the block's (base, last],
 * against the block's docs doc[0..bn) (strictly increasing, validated by the
 * decoder): for the m-th match, hit[m] is its index in doc and fhit[m] its
 * index in fd. Returns m, or UINT32_MAX when the table cannot be allocated.
 * Few filter documents: a branch-free binary search each. Many, in a block
 * of a narrow span (a common term's): each block doc is written to a table
 * slot, each filter document reads its slot; loads that depend on no
 * comparison, where a merge's chain of compares and loads (i += a <= b)
 * was the engine's single hottest loop at 1M documents. Wide spans: the
 * merge. */
static uint32_t block_matches(ks_engine *e, const uint32_t *doc, uint32_t bn, uint32_t base, uint32_t last,
                              const uint32_t *fd, size_t f, size_t fe, uint32_t *hit, size_t *fhit)
{
    uint32_t m = 0;
    if ((fe - f) * 8 < bn) {
        for (; f < fe; f++) {
            /* first doc >= d in doc[0..bn): exists (doc[bn - 1] == last >= d) */
            uint32_t d = fd[f], lo = 0, len = bn;
            while (len > 1) {
                uint32_t half = len / 2;
                lo = doc[lo + half - 1] < d ? lo + half : lo;
                len -= half;
            }
            hit[m] = lo;
            fhit[m] = f;
            m += doc[lo] == d;
        }
        return m;
    }
    if (last - base <= SLOT_SPAN) {
        if (!e->slot && !(e->slot = calloc(SLOT_SPAN + 1, 1)))
            return UINT32_MAX;
        uint8_t *slot = e->slot; /* all zero between calls */
        for (uint32_t i = 0; i < bn; i++)
            slot[doc[i] - base] = (uint8_t)(i + 1); /* doc[i] - base in [1, SLOT_SPAN]; i + 1 <= 128 */
        for (; f < fe; f++) {
            uint32_t s = slot[fd[f] - base];
            hit[m] = s - 1;
            fhit[m] = f;
            m += s != 0;
        }
        for (uint32_t i = 0; i < bn; i++)
            slot[doc[i] - base] = 0;
        return m;
    }
    uint32_t i = 0;
    while (f < fe) { /* stops inside: doc[bn - 1] == last >= fd[fe - 1] */
        uint32_t a = doc[i], b = fd[f];
        hit[m] = i;
        fhit[m] = f;
        m += a == b;
        i += a <= b;
        f += b <= a;
    }
    return m;
}

/* The postings of term t restricted to filter (NULL: all), scored; with
 * want_pidx (for a phrase), their posting numbers (pidx) and wdfs instead
 * of scores, and with want_pidx 2 (a filter required) each one's index in
 * the filter (fidx). */
static int eval_term(ks_engine *e, const ks_seg_term *t, const rlist *filter, int want_pidx, rlist *out)
{
    memset(out, 0, sizeof *out);
    if (!t || (filter && !filter->n))
        return 0;
    size_t most = filter && filter->n < t->termfreq ? filter->n : t->termfreq;
    if (rl_alloc(e, out, most, want_pidx))
        return oom(e);
    if (most > e->cap_wdf) {
        uint32_t *w = realloc(e->wdf, most * sizeof *w);
        if (!w)
            return oom(e);
        e->wdf = w;
        e->cap_wdf = most;
    }
    uint32_t *W = want_pidx ? out->wdf : e->wdf; /* the wdfs: kept, or scored below */
    const ks_seg_block *blk = ks_segment_blocks(e->seg, t);
    uint32_t doc[KS_SEG_BLOCK], wdf[KS_SEG_BLOCK];
    size_t n = 0;
    int rc;
    if (!filter) {
        for (uint32_t j = 0; j < t->n_blocks; j++) {
            /* validated at open; checked again so that a file changed in
             * place under the mapping (not how the indexer replaces it)
             * is an error, not an overflow */
            if (blk[j].n > KS_SEG_BLOCK || n + blk[j].n > most)
                return ks_seterr(e->eb, KS_ECORRUPT, "segment blocks disagree with the term; rebuild the index");
            if ((rc = ks_segment_decode(e->seg, &blk[j], out->doc + n, W + n, e->eb)))
                return rc;
            if (want_pidx)
                for (uint32_t i = 0; i < blk[j].n; i++)
                    out->pidx[n + i] = j * KS_SEG_BLOCK + i;
            n += blk[j].n;
        }
    } else {
        /* Walk the filter; blocks are found by galloping over their last
         * docids, decoded only when a filter document falls inside their
         * (base, last] range, and their wdfs only once one matches. */
        uint32_t j = 0, nb = t->n_blocks;
        size_t f = 0, fn = filter->n;
        const uint32_t *fd = filter->doc;
        while (f < fn) {
            uint32_t d = fd[f];
            if (blk[j].last < d) {
                j = gallop_blocks(blk, j + 1, nb, d);
                if (j == nb)
                    break;
            }
            if (d <= blk[j].base) {
                f++; /* between this block and the previous one */
                continue;
            }
            if (blk[j].n > KS_SEG_BLOCK)
                return ks_seterr(e->eb, KS_ECORRUPT, "segment blocks disagree with the term; rebuild the index");
            if ((rc = ks_segment_decode_docs(e->seg, &blk[j], doc, e->eb)))
                return rc;
            /* The filter documents inside this block, fd[f..fe), matched
             * into hit[] (indexes into doc) by block_matches. */
            uint32_t last = blk[j].last, bn = blk[j].n, hit[KS_SEG_BLOCK];
            size_t fhit[KS_SEG_BLOCK];
            size_t fe = f;
            while (fe < fn && fd[fe] <= last)
                fe++;
            uint32_t m = block_matches(e, doc, bn, blk[j].base, last, fd, f, fe, hit, fhit);
            f = fe;
            if (m == UINT32_MAX)
                return oom(e);
            if (!m)
                continue;
            if (m > most - n)
                return ks_seterr(e->eb, KS_ECORRUPT, "segment blocks disagree with the term; rebuild the index");
            if ((rc = ks_segment_decode_wdfs(e->seg, &blk[j], wdf, e->eb)))
                return rc;
            for (uint32_t x = 0; x < m; x++) {
                out->doc[n + x] = doc[hit[x]];
                W[n + x] = wdf[hit[x]];
            }
            if (want_pidx)
                for (uint32_t x = 0; x < m; x++)
                    out->pidx[n + x] = j * KS_SEG_BLOCK + hit[x];
            if (want_pidx > 1)
                for (uint32_t x = 0; x < m; x++)
                    out->fidx[n + x] = (uint32_t)fhit[x];
            n += m;
        }
    }
    out->n = n;
    if (want_pidx)
        return 0;
    double tw = ks_bm25_termweight(&e->bm25, e->h->doccount, t->termfreq, 1, 1.0);
    e->scored += n;
    memset(out->score, 0, n * sizeof *out->score);
    ks_score_get()(tw, out->doc, e->wdf, e->K, out->score, n);
    return 0;
}

static int eval(ks_engine *e, uint32_t id, const rlist *filter, rlist *out);

/* out = a's documents also in b (b's documents must all be in a), scores summed. */
static void add_subset(rlist *a_and_b, const rlist *a)
{
    size_t k = 0;
    for (size_t i = 0; i < a_and_b->n; i++) {
        while (a->doc[k] < a_and_b->doc[i])
            k++;
        a_and_b->score[i] = a->score[k] + a_and_b->score[i];
    }
}

static int eval_and(ks_engine *e, const ks_plan_node *n, const rlist *filter, rlist *out)
{
    const ks_plan *p = e->plan;
    uint32_t order[KS_PLAN_MAX_TERMS * 2 + 8];
    uint64_t est[KS_PLAN_MAX_TERMS * 2 + 8];
    uint32_t m = n->n;
    if (m > sizeof order / sizeof *order)
        return ks_seterr(e->eb, KS_EUNSUPPORTED, "plan node with too many children");
    for (uint32_t i = 0; i < m; i++) {
        order[i] = p->kids[n->first + i];
        est[i] = estimate(e, order[i]);
    }
    for (uint32_t i = 1; i < m; i++) /* rarest first (insertion sort, stable) */
        for (uint32_t j = i; j > 0 && est[j] < est[j - 1]; j--) {
            uint64_t te = est[j];
            est[j] = est[j - 1];
            est[j - 1] = te;
            uint32_t to = order[j];
            order[j] = order[j - 1];
            order[j - 1] = to;
        }
    int rc = eval(e, order[0], filter, out);
    for (uint32_t i = 1; !rc && i < m && out->n; i++) {
        rlist r;
        rc = eval(e, order[i], out, &r);
        if (!rc) {
            add_subset(&r, out);
            rl_free(e, out);
            *out = r;
        }
    }
    return rc;
}

/* out = a ∪ b; where both match, the scores summed (sum) or a's (the same
 * document scored alike by two passes). */
static int merge_or(ks_engine *e, const rlist *a, const rlist *b, int sum, rlist *out)
{
    memset(out, 0, sizeof *out);
    if (rl_alloc(e, out, a->n + b->n, 0))
        return oom(e);
    size_t i = 0, j = 0, n = 0;
    while (i < a->n || j < b->n) {
        if (j == b->n || (i < a->n && a->doc[i] < b->doc[j])) {
            out->doc[n] = a->doc[i];
            out->score[n++] = a->score[i++];
        } else if (i == a->n || b->doc[j] < a->doc[i]) {
            out->doc[n] = b->doc[j];
            out->score[n++] = b->score[j++];
        } else {
            out->doc[n] = a->doc[i];
            out->score[n++] = sum ? a->score[i] + b->score[j] : a->score[i];
            i++;
            j++;
        }
    }
    out->n = n;
    return 0;
}

static int eval_or(ks_engine *e, const ks_plan_node *n, const rlist *filter, rlist *out)
{
    int rc = eval(e, e->plan->kids[n->first], filter, out);
    for (uint32_t i = 1; !rc && i < n->n; i++) {
        rlist r, m;
        rc = eval(e, e->plan->kids[n->first + i], filter, &r);
        if (!rc && r.n) {
            rc = merge_or(e, out, &r, 1, &m);
            if (!rc) {
                rl_free(e, out);
                *out = m;
            }
        }
        rl_free(e, &r);
    }
    return rc;
}

#define KS_PHRASE_MAX KS_PLAN_MAX_PHRASE_TERMS /* plans have no longer phrases */

/* First index in p[c..m) with p[index] > x (m if none): a step or two,
 * then galloping, because a frequent term (다, 의) has many positions in a
 * document and a rare one few. */
static uint32_t skip_to_gt(const uint32_t *p, uint32_t c, uint32_t m, uint32_t x)
{
    if (c >= m || p[c] > x || ++c >= m || p[c] > x)
        return c;
    return x == UINT32_MAX ? m : (uint32_t)seek_u32(p, m, c + 1, x + 1);
}

/* The exact case of phrase_at (window == k): there the greedy rule
 * succeeds exactly when some p_1 has p_1 + i among term i's positions for
 * every i, so the term with the fewest positions in this document (often
 * a rare word beside "the" or "is") drives, and the others are probed by
 * forward cursors. */
static int exact_at(const uint32_t *const *pos, const uint32_t *npos, uint32_t k)
{
    uint32_t r = 0;
    for (uint32_t i = 1; i < k; i++)
        if (npos[i] < npos[r])
            r = i;
    uint32_t cur[KS_PHRASE_MAX];
    for (uint32_t i = 0; i < k; i++)
        cur[i] = 0;
    for (uint32_t x = 0; x < npos[r]; x++) {
        uint32_t q = pos[r][x];
        if (q < r)
            continue; /* p_1 would be negative */
        uint32_t base = q - r, i;
        for (i = 0; i < k; i++) {
            if (i == r)
                continue;
            uint32_t want = base + i;
            uint32_t c = want ? skip_to_gt(pos[i], cur[i], npos[i], want - 1) : cur[i];
            cur[i] = c;
            if (c == npos[i])
                return 0; /* later p_1 want later positions still */
            if (pos[i][c] != want)
                break;
        }
        if (i == k)
            return 1;
    }
    return 0;
}

/* Xapian's PhrasePostList rule: positions p_1 < ... < p_k, one per term in
 * order, with p_k - p_1 + 1 <= window, trying each position of the first
 * term as p_1 and taking for each next term its first position after the
 * previous one. Those positions only grow with p_1, so every term keeps a
 * cursor that only moves forward (skip_to_gt), where a binary search per
 * term per p_1 was the engine's hottest loop; and when term i lands too
 * far at `at`, no p_1 below at + (k - i) - window can succeed (term i's
 * position only grows with p_1), so the first term skips there. */
static int phrase_at(const uint32_t *const *pos, const uint32_t *npos, uint32_t k, uint32_t window)
{
    uint32_t cur[KS_PHRASE_MAX];
    for (uint32_t i = 1; i < k; i++)
        cur[i] = 0;
    uint32_t b0 = 0;
    while (b0 < npos[0]) {
        uint32_t base = pos[0][b0], at = base;
        uint32_t i;
        for (i = 1; i < k; i++) {
            uint32_t c = skip_to_gt(pos[i], cur[i], npos[i], at);
            cur[i] = c;
            if (c == npos[i])
                return 0; /* no later base can do better */
            at = pos[i][c];
            if ((uint64_t)at - base + 1 + (k - 1 - i) > window)
                break;
        }
        if (i == k)
            return 1;
        /* next useful base: >= at + (k - i) - window, and > base */
        uint64_t need = (uint64_t)at + (k - i);
        need = need > window ? need - window : 0;
        if (need <= (uint64_t)base + 1)
            b0++;
        else
            b0 = skip_to_gt(pos[0], b0 + 1, npos[0], (uint32_t)(need - 1));
    }
    return 0;
}

/* Whether term bytes s[0..len) are one non-ASCII character after an
 * optional title: prefix: a unigram, the only kind of term stored without
 * positions in some documents (bigrams and Latin words always hold them). */
static int is_unigram(const char *s, size_t len)
{
    size_t pl = strlen(KS_PREFIX_TITLE);
    if (len > pl && memcmp(s, KS_PREFIX_TITLE, pl) == 0) {
        s += pl;
        len -= pl;
    }
    int32_t i = 0;
    U8_FWD_1((const uint8_t *)s, i, (int32_t)len); /* as core/plan.c splits a first character */
    return (unsigned char)s[0] >= 0x80 && (size_t)i == len;
}

/* *out: the list of t's postings that hold positions, or NULL to take all
 * its postings (t is not a unigram, or most of its postings hold
 * positions). Built on first use, then kept (see PL_SLOTS). */
static int positioned(ks_engine *e, const ks_seg_term *t, const plist **out)
{
    *out = NULL;
    if (!is_unigram(ks_segment_term_bytes(e->seg, t), t->str_len))
        return 0;
    if (!e->pl && !(e->pl = calloc(PL_SLOTS, sizeof *e->pl)))
        return oom(e);
    size_t h = (size_t)(((uint64_t)(uintptr_t)t * 0x9e3779b97f4a7c15ull) >> 40) & (PL_SLOTS - 1);
    while (e->pl[h].t && e->pl[h].t != t)
        h = (h + 1) & (PL_SLOTS - 1);
    if (e->pl[h].t) {
        *out = e->pl[h].n == PL_DENSE ? NULL : &e->pl[h];
        return 0;
    }
    if (e->pl_used * 4 >= PL_SLOTS * 3)
        return 0; /* full until the next search clears it: all postings */
    const uint32_t *st;
    int rc = ks_segment_position_starts(e->seg, t, &st, e->eb);
    if (rc)
        return rc;
    uint32_t tf = t->termfreq, cnt = 0;
    for (uint32_t i = 0; st && i < tf; i++)
        cnt += st[i + 1] > st[i];
    plist *p = &e->pl[h];
    if ((uint64_t)cnt * 4 > tf) {
        *p = (plist){ t, PL_DENSE, NULL, NULL, NULL };
        e->pl_used++;
        return 0;
    }
    plist q = { t, cnt, NULL, NULL, NULL };
    if (cnt) {
        q.doc = malloc(cnt * sizeof *q.doc);
        q.pidx = malloc(cnt * sizeof *q.pidx);
        q.wdf = malloc(cnt * sizeof *q.wdf);
        if (!q.doc || !q.pidx || !q.wdf) {
            free(q.doc);
            free(q.pidx);
            free(q.wdf);
            return oom(e);
        }
        const ks_seg_block *blk = ks_segment_blocks(e->seg, t);
        uint32_t doc[KS_SEG_BLOCK], wdf[KS_SEG_BLOCK], m = 0;
        for (uint32_t j = 0; !rc && j < t->n_blocks; j++) {
            uint64_t first = (uint64_t)j * KS_SEG_BLOCK;
            uint32_t bn = blk[j].n, any = 0;
            /* posting numbers are j * KS_SEG_BLOCK + i (eval_term): every
             * block but the last is full */
            if (bn > KS_SEG_BLOCK || (j + 1 < t->n_blocks && bn != KS_SEG_BLOCK) || first + bn > tf) {
                rc = ks_seterr(e->eb, KS_ECORRUPT, "segment blocks disagree with the term; rebuild the index");
                break;
            }
            for (uint32_t i = 0; i < bn; i++)
                any |= st[first + i + 1] > st[first + i];
            if (!any || (rc = ks_segment_decode(e->seg, &blk[j], doc, wdf, e->eb)))
                continue;
            for (uint32_t i = 0; i < bn && m < cnt; i++)
                if (st[first + i + 1] > st[first + i]) {
                    q.doc[m] = doc[i];
                    q.pidx[m] = (uint32_t)(first + i);
                    q.wdf[m++] = wdf[i];
                }
        }
        if (!rc && m != cnt)
            rc = ks_seterr(e->eb, KS_ECORRUPT, "segment blocks disagree with the term; rebuild the index");
        if (rc) {
            free(q.doc);
            free(q.pidx);
            free(q.wdf);
            return rc;
        }
    }
    *p = q;
    e->pl_used++;
    e->pl_bytes += (size_t)cnt * 12;
    *out = p;
    return 0;
}

/* As eval_term with want_pidx 1 or 2, from list pl instead of a term's
 * postings: its entries whose documents are in filter (NULL: all). */
static int eval_list(ks_engine *e, const plist *pl, const rlist *filter, int want_pidx, rlist *out)
{
    memset(out, 0, sizeof *out);
    if (!pl->n || (filter && !filter->n))
        return 0;
    size_t most = filter && filter->n < pl->n ? filter->n : pl->n;
    if (rl_alloc(e, out, most, want_pidx))
        return oom(e);
    size_t n = 0;
    if (!filter) {
        memcpy(out->doc, pl->doc, pl->n * sizeof *out->doc);
        memcpy(out->pidx, pl->pidx, pl->n * sizeof *out->pidx);
        memcpy(out->wdf, pl->wdf, pl->n * sizeof *out->wdf);
        n = pl->n;
    } else {
        size_t a = 0, b = 0;
        while (a < pl->n && b < filter->n) {
            uint32_t x = pl->doc[a], y = filter->doc[b];
            if (x < y) {
                a = seek_u32(pl->doc, pl->n, a + 1, y);
            } else if (y < x) {
                b = seek_u32(filter->doc, filter->n, b + 1, x);
            } else {
                out->doc[n] = x;
                out->pidx[n] = pl->pidx[a];
                out->wdf[n] = pl->wdf[a];
                if (want_pidx > 1)
                    out->fidx[n] = (uint32_t)b;
                n++;
                a++;
                b++;
            }
        }
    }
    out->n = n;
    return 0;
}

/* One evaluation of phrase node n (2 <= k <= KS_PHRASE_MAX terms t[],
 * all present) over filter: its terms' lists chained rarest first, each
 * filtering the next, then the positions of the documents holding them
 * all. over[i], when not NULL, gives term i's candidates instead of all its
 * postings: those that hold positions. */
static int phrase_pass(ks_engine *e, const ks_plan_node *n, const ks_seg_term *const *t, const plist *const *over,
                       const rlist *filter, rlist *out)
{
    memset(out, 0, sizeof *out);
    uint32_t k = n->n;
    uint32_t order[KS_PHRASE_MAX];
    uint64_t size[KS_PHRASE_MAX];
    for (uint32_t i = 0; i < k; i++) {
        order[i] = i;
        size[i] = over[i] ? over[i]->n : t[i]->termfreq;
    }
    for (uint32_t i = 1; i < k; i++)
        for (uint32_t j = i; j > 0 && size[order[j]] < size[order[j - 1]]; j--) {
            uint32_t x = order[j];
            order[j] = order[j - 1];
            order[j - 1] = x;
        }
    rlist L[KS_PHRASE_MAX];
    memset(L, 0, sizeof L);
    int rc = 0;
    const rlist *f = filter;
    for (uint32_t i = 0; i < k && !rc; i++) {
        uint32_t o = order[i];
        rc = over[o] ? eval_list(e, over[o], f, i ? 2 : 1, &L[o]) : eval_term(e, t[o], f, i ? 2 : 1, &L[o]);
        f = &L[order[i]];
        if (!f->n)
            break;
    }
    /* Xapian 1.4 quirk, kept for parity: a term holding no positions in a
     * document (a unigram inside a longer run) has an empty glass position
     * list whose skip_to(0) succeeds at position 0, so in an exact phrase
     * (ExactPhrasePostList) such a term as the first word stands at 0; the
     * windowed PhrasePostList starts with next() and never matches it. */
    uint32_t window = n->window < k ? k : n->window;
    int exact = window == k;
    static const uint32_t zero = 0;
    const rlist *D = f; /* the last list: documents holding every term */
    if (!rc && D->n && rl_alloc(e, out, D->n, 0))
        rc = oom(e);
    /* the matches' wdfs, term by term (sw[i * D->n + match]), scored after */
    size_t swcap = 0;
    uint32_t *sw = !rc && D->n ? ks_bufpool_get(&e->pool, (size_t)k * D->n * sizeof *sw, &swcap) : NULL;
    if (!rc && D->n && !sw)
        rc = oom(e);
    /* each list of the chain is the previous one filtered, with its
     * documents' indexes there (fidx): a document of D is found in every
     * list by following them back, not by merging */
    size_t at[KS_PHRASE_MAX] = { 0 };
    const uint32_t *pos[KS_PHRASE_MAX];
    uint32_t npos[KS_PHRASE_MAX];
    /* Positions are read sparsest term first (fewest positions per
     * posting): a term with none in a document rejects it at once, and a
     * unigram inside longer runs (no positions stored) is nearly always
     * that term, in the spacing variants of a query word. The first term
     * of an exact phrase goes last: with no positions it stands at 0
     * (Xapian's quirk below) instead of rejecting. */
    uint32_t fetch[KS_PHRASE_MAX];
    double density[KS_PHRASE_MAX];
    for (uint32_t i = 0; i < k && !rc; i++) {
        uint64_t total;
        rc = ks_segment_positions_total(e->seg, t[i], &total, e->eb);
        density[i] = (i == 0 && exact) ? INFINITY : (double)total / (double)(t[i]->termfreq ? t[i]->termfreq : 1);
        fetch[i] = i;
        for (uint32_t j = i; j > 0 && density[fetch[j]] < density[fetch[j - 1]]; j--) {
            uint32_t x = fetch[j];
            fetch[j] = fetch[j - 1];
            fetch[j - 1] = x;
        }
    }
    for (size_t d = 0; !rc && D->n && d < D->n && f->n; d++) {
        uint32_t doc = D->doc[d];
        int ok = 1;
        at[order[k - 1]] = d;
        for (uint32_t x = k - 1; x > 0; x--)
            at[order[x - 1]] = L[order[x]].fidx[at[order[x]]];
        for (uint32_t fi = 0; fi < k && ok && !rc; fi++) {
            uint32_t i = fetch[fi];
            rc = ks_segment_positions(e->seg, t[i], L[i].pidx[at[i]], &pos[i], &npos[i], e->eb);
            if (!rc && npos[i] == 0 && i == 0 && exact) {
                pos[i] = &zero; /* Xapian's empty position list answers skip_to(0) */
                npos[i] = 1;
            }
            ok = npos[i] > 0;
        }
        if (rc || !ok || !(exact ? exact_at(pos, npos, k) : phrase_at(pos, npos, k, window)))
            continue;
        for (uint32_t i = 0; i < k; i++)
            sw[(size_t)i * D->n + out->n] = L[i].wdf[at[i]];
        out->doc[out->n++] = doc;
    }
    /* Only the matches are scored: kernel passes over the terms in phrase
     * order add exactly what summing each term's score (0 + its part)
     * in that order gave, bit for bit. */
    if (!rc && out->n) {
        e->scored += (uint64_t)k * out->n;
        memset(out->score, 0, out->n * sizeof *out->score);
        for (uint32_t i = 0; i < k; i++)
            ks_score_get()(ks_bm25_termweight(&e->bm25, e->h->doccount, t[i]->termfreq, 1, 1.0), out->doc,
                           sw + (size_t)i * D->n, e->K, out->score, out->n);
    }
    ks_bufpool_put(&e->pool, sw, swcap);
    for (uint32_t i = 0; i < k; i++)
        rl_free(e, &L[i]);
    return rc;
}

static int eval_phrase(ks_engine *e, const ks_plan_node *n, const rlist *filter, rlist *out)
{
    const ks_plan *p = e->plan;
    memset(out, 0, sizeof *out);
    uint32_t k = n->n;
    if (k == 1)
        return eval(e, p->kids[n->first], filter, out);
    if (k > KS_PHRASE_MAX)
        return ks_seterr(e->eb, KS_EUNSUPPORTED, "phrase of more than %d terms", KS_PHRASE_MAX);
    const ks_seg_term *t[KS_PHRASE_MAX];
    const plist *over[KS_PHRASE_MAX];
    for (uint32_t i = 0; i < k; i++) {
        const ks_plan_node *c = &p->nodes[p->kids[n->first + i]];
        if (c->op != KS_PLAN_TERM)
            return ks_seterr(e->eb, KS_EUNSUPPORTED, "phrase of a non-term");
        t[i] = ks_segment_find(e->seg, ks_plan_term(p, c), c->term_len);
        if (!t[i])
            return 0; /* a term absent: no phrase anywhere */
    }
    int rc = 0;
    for (uint32_t i = 0; i < k && !rc; i++)
        rc = positioned(e, t[i], &over[i]);
    if (rc)
        return rc;
    /* Xapian's quirk (phrase_pass): the first term of an exact phrase stands
     * at 0 where it holds no positions, so there the phrase matches if the
     * second term stands at 1, the first position of the title (positions
     * start at KS_TITLE_POS_BASE, the body's far after), which the title:
     * copy of the term holds too (core/document.c). So a second pass over
     * the documents with the second term in the title finds those. In a
     * title: phrase the terms are those copies already: no shortcut. */
    int exact = (n->window < k ? k : n->window) == k;
    const ks_seg_term *title2 = NULL;
    int quirk = exact && over[0];
    if (quirk) {
        const ks_plan_node *c = &p->nodes[p->kids[n->first + 1]];
        size_t pl = strlen(KS_PREFIX_TITLE);
        char buf[512];
        if ((c->term_len >= pl && memcmp(ks_plan_term(p, c), KS_PREFIX_TITLE, pl) == 0) ||
            pl + c->term_len > sizeof buf) {
            over[0] = NULL;
            quirk = 0;
        } else {
            memcpy(buf, KS_PREFIX_TITLE, pl);
            memcpy(buf + pl, ks_plan_term(p, c), c->term_len);
            title2 = ks_segment_find(e->seg, buf, pl + c->term_len);
        }
    }
    rlist a;
    rc = phrase_pass(e, n, t, over, filter, &a);
    if (rc || !quirk || !title2) {
        *out = a;
        return rc;
    }
    rlist f2, b, m;
    memset(&b, 0, sizeof b);
    rc = eval_term(e, title2, filter, 1, &f2);
    over[0] = NULL;
    if (!rc && f2.n)
        rc = phrase_pass(e, n, t, over, &f2, &b);
    rl_free(e, &f2);
    if (!rc)
        rc = merge_or(e, &a, &b, 0, &m);
    rl_free(e, &a);
    rl_free(e, &b);
    if (!rc)
        *out = m;
    return rc;
}

/* AND_NOT (maybe = 0) and AND_MAYBE (maybe = 1). */
static int eval_pair(ks_engine *e, const ks_plan_node *n, const rlist *filter, int maybe, rlist *out)
{
    const ks_plan *p = e->plan;
    int rc = eval(e, p->kids[n->first], filter, out);
    if (rc || !out->n || n->n < 2)
        return rc;
    for (uint32_t c = 1; c < n->n && !rc; c++) {
        rlist b;
        rc = eval(e, p->kids[n->first + c], out, &b);
        if (rc)
            break;
        size_t k = 0, w = 0;
        for (size_t i = 0; i < out->n; i++) {
            while (k < b.n && b.doc[k] < out->doc[i])
                k++;
            int hit = k < b.n && b.doc[k] == out->doc[i];
            if (maybe) {
                if (hit)
                    out->score[i] += b.score[k];
            } else if (!hit) {
                out->doc[w] = out->doc[i];
                out->score[w++] = out->score[i];
            }
        }
        if (!maybe)
            out->n = w;
        rl_free(e, &b);
    }
    return rc;
}

static int eval(ks_engine *e, uint32_t id, const rlist *filter, rlist *out)
{
    const ks_plan_node *n = &e->plan->nodes[id];
    memset(out, 0, sizeof *out);
    int rc;
    switch (n->op) {
    case KS_PLAN_TERM:
        rc = eval_term(e, ks_segment_find(e->seg, ks_plan_term(e->plan, n), n->term_len), filter, 0, out);
        break;
    case KS_PLAN_AND: rc = eval_and(e, n, filter, out); break;
    case KS_PLAN_OR: rc = eval_or(e, n, filter, out); break;
    case KS_PLAN_PHRASE: rc = eval_phrase(e, n, filter, out); break;
    case KS_PLAN_AND_NOT: rc = eval_pair(e, n, filter, 0, out); break;
    case KS_PLAN_AND_MAYBE: rc = eval_pair(e, n, filter, 1, out); break;
    default: return ks_seterr(e->eb, KS_EUNSUPPORTED, "unknown plan node %u", n->op);
    }
    if (rc)
        rl_free(e, out);
    return rc;
}

/* ---- MaxScore for OR queries ---------------------------------------------- */

/* Relative slack on bounds and on the threshold: covers rounding, both in a
 * bound against the kernel's scores and between a document's partial sum
 * (children in bound order) and its final score (children in plan order). */
#define KS_MS_SLACK 1e-9

/* At least the score of a posting of wdf <= mw of a term of weight tw. */
static double term_bound(const ks_engine *e, double tw, uint32_t mw)
{
    double w = (double)mw;
    if (!(tw >= 0) || !(e->kmin > 0 || (e->kmin == 0 && mw > 0)))
        return 0.0 / 0.0;
    return tw * (w / (e->kmin + w)) * (1 + KS_MS_SLACK);
}

/* At least the largest score node id gives any document: a term's weight at
 * its largest wdf (the blocks' max_wdf) and the smallest length factor, by
 * the kernel's formula; sums of those for the other nodes. NaN when the
 * parameters make no bound (the caller then does not prune). */
static double bound(ks_engine *e, uint32_t id)
{
    const ks_plan *p = e->plan;
    const ks_plan_node *n = &p->nodes[id];
    if (n->op == KS_PLAN_TERM) {
        const ks_seg_term *t = ks_segment_find(e->seg, ks_plan_term(p, n), n->term_len);
        if (!t)
            return 0;
        const ks_seg_block *blk = ks_segment_blocks(e->seg, t);
        uint32_t mw = 0;
        for (uint32_t j = 0; j < t->n_blocks; j++)
            if (blk[j].max_wdf > mw)
                mw = blk[j].max_wdf;
        return term_bound(e, ks_bm25_termweight(&e->bm25, e->h->doccount, t->termfreq, 1, 1.0), mw);
    }
    double b = 0;
    for (uint32_t i = 0; i < n->n; i++) {
        b += bound(e, p->kids[n->first + i]);
        if (n->op == KS_PLAN_AND_NOT)
            break; /* only the first child scores */
    }
    return b;
}

/* The k-th largest of a[0..n) (1 <= k <= n), reordering a (Wirth's selection). */
static double kth_largest(double *a, size_t n, size_t k)
{
    ptrdiff_t l = 0, r = (ptrdiff_t)n - 1, want = (ptrdiff_t)k - 1;
    while (l < r) {
        double x = a[want];
        ptrdiff_t i = l, j = r;
        do {
            while (a[i] > x)
                i++;
            while (x > a[j])
                j--;
            if (i <= j) {
                double t = a[i];
                a[i++] = a[j];
                a[j--] = t;
            }
        } while (i <= j);
        if (j < want)
            l = i;
        if (want < i)
            r = j;
    }
    return a[want];
}

typedef struct ms_kid {
    uint32_t id;
    int maybe;    /* AND_MAYBE's right side: adds score, never documents */
    int full;     /* evaluated over every document (else over candidates) */
    double bound;
    rlist r;
} ms_kid;

/* The k-th best partial score of c, or -1 (nothing pruned) when c has
 * fewer than k documents. */
static int threshold(ks_engine *e, const rlist *c, size_t k, double *theta)
{
    *theta = -1;
    if (c->n < k)
        return 0;
    size_t cap = 0;
    double *s = ks_bufpool_get(&e->pool, c->n * sizeof *s, &cap);
    if (!s)
        return oom(e);
    memcpy(s, c->score, c->n * sizeof *s);
    *theta = kth_largest(s, c->n, k) * (1 - KS_MS_SLACK);
    ks_bufpool_put(&e->pool, s, cap);
    return 0;
}

/* First index >= i in r's documents that is >= d (r->n if none), galloping. */
static size_t seek_doc(const rlist *r, size_t i, uint32_t d)
{
    return seek_u32(r->doc, r->n, i, d);
}

/* Term t over every document, except that a block whose postings score
 * below cutoff (by its max_wdf) gives only its documents in U: the others
 * cannot reach the top k (the caller's cutoff is theta less the bounds of
 * the children still to come), and are counted in *skipped, not decoded
 * when U has none in the block. */
static int eval_term_cut(ks_engine *e, const ks_seg_term *t, const rlist *U, double cutoff, uint64_t *skipped,
                         rlist *out)
{
    memset(out, 0, sizeof *out);
    if (!t)
        return 0;
    if (rl_alloc(e, out, t->termfreq, 0))
        return oom(e);
    if (t->termfreq > e->cap_wdf) {
        uint32_t *w = realloc(e->wdf, t->termfreq * sizeof *w);
        if (!w)
            return oom(e);
        e->wdf = w;
        e->cap_wdf = t->termfreq;
    }
    double tw = ks_bm25_termweight(&e->bm25, e->h->doccount, t->termfreq, 1, 1.0);
    const ks_seg_block *blk = ks_segment_blocks(e->seg, t);
    uint32_t doc[KS_SEG_BLOCK], wdf[KS_SEG_BLOCK];
    size_t n = 0, f = 0;
    int rc;
    for (uint32_t j = 0; j < t->n_blocks; j++) {
        if (blk[j].n > KS_SEG_BLOCK || n + blk[j].n > t->termfreq)
            return ks_seterr(e->eb, KS_ECORRUPT, "segment blocks disagree with the term; rebuild the index");
        if (!(term_bound(e, tw, blk[j].max_wdf) < cutoff)) { /* hot (or no bound): every posting */
            if ((rc = ks_segment_decode(e->seg, &blk[j], out->doc + n, e->wdf + n, e->eb)))
                return rc;
            n += blk[j].n;
            continue;
        }
        f = seek_doc(U, f, blk[j].base + 1);
        if (f == U->n || U->doc[f] > blk[j].last) {
            *skipped += blk[j].n; /* no candidate inside: not decoded */
            continue;
        }
        if ((rc = ks_segment_decode(e->seg, &blk[j], doc, wdf, e->eb)))
            return rc;
        uint32_t m = 0;
        for (uint32_t i = 0; i < blk[j].n && f < U->n; i++) {
            while (f < U->n && U->doc[f] < doc[i])
                f++;
            if (f < U->n && U->doc[f] == doc[i]) {
                out->doc[n + m] = doc[i];
                e->wdf[n + m++] = wdf[i];
            }
        }
        *skipped += blk[j].n - m;
        n += m;
    }
    out->n = n;
    e->scored += n;
    memset(out->score, 0, n * sizeof *out->score);
    ks_score_get()(tw, out->doc, e->wdf, e->K, out->score, n);
    return 0;
}

/* Removes from r the documents that AND_NOT node `not` (NULL: none)
 * excludes: those its second and later children match. */
static int exclude(ks_engine *e, const ks_plan_node *not, rlist *r)
{
    for (uint32_t c = 1; not && c < not->n && r->n; c++) {
        rlist b;
        int rc = eval(e, e->plan->kids[not->first + c], r, &b);
        if (rc)
            return rc;
        size_t w = 0;
        for (size_t i = 0, j = 0; i < r->n; i++) {
            j = seek_doc(&b, j, r->doc[i]);
            if (j == b.n || b.doc[j] != r->doc[i]) {
                r->doc[w] = r->doc[i];
                r->score[w++] = r->score[i];
            }
        }
        r->n = w;
        rl_free(e, &b);
    }
    return 0;
}

/* Set-at-a-time MaxScore for a root OR, or AND_MAYBE over an OR, either
 * perhaps under AND_NOT (its exclusions are taken out of each child's
 * list before the merge, so theta ranks only documents that stay; *ran = 0
 * for other shapes or when no bound exists: the caller evaluates in full).
 * The OR's children run in full, largest bound first, merged into U with
 * partial scores; once the bounds of those left sum below the k-th best
 * partial score (theta), no document outside U can reach the top k, and
 * the rest run only over U's candidates that can still reach theta, the
 * candidates shrinking as theta rises. Final scores are then summed in plan
 * order from the kept lists, as eval_or / eval_pair sum them, so they are
 * the same bits. out = the candidates with their scores; *total exact
 * unless a child was pruned (*estimated = 1). */
static int maxscore(ks_engine *e, size_t k, rlist *out, uint64_t *total, int *estimated, int *ran)
{
    const ks_plan *p = e->plan;
    const ks_plan_node *root = &p->nodes[p->root], *or, *not = NULL;
    uint32_t nmaybe = 0;
    *ran = 0;
    memset(out, 0, sizeof *out);
    if (root->op == KS_PLAN_AND_NOT && root->n >= 2) {
        not = root; /* its other children exclude documents */
        root = &p->nodes[p->kids[root->first]];
    }
    or = root;
    if (root->op == KS_PLAN_AND_MAYBE && root->n >= 2) {
        or = &p->nodes[p->kids[root->first]];
        nmaybe = root->n - 1;
    }
    if (or->op != KS_PLAN_OR || or->n < 2 || k == 0)
        return 0;
    uint32_t nor = or->n, m = nor + nmaybe;
    ms_kid *kid = calloc(m, sizeof *kid);
    uint32_t *order = malloc(m * sizeof *order);
    if (!kid || !order) {
        free(kid);
        free(order);
        return oom(e);
    }
    double all = 0;
    for (uint32_t i = 0; i < m; i++) {
        kid[i].id = i < nor ? p->kids[or->first + i] : p->kids[root->first + 1 + (i - nor)];
        kid[i].maybe = i >= nor;
        kid[i].bound = bound(e, kid[i].id);
        all += kid[i].bound;
        order[i] = i;
    }
    int rc = 0;
    if (!(all >= 0) || all == 1.0 / 0.0)
        goto done; /* NaN or infinite: no bound */
    *ran = 1;
    for (uint32_t i = 1; i < nor; i++) /* the OR's children, largest bound first (stable) */
        for (uint32_t j = i; j > 0 && kid[order[j]].bound > kid[order[j - 1]].bound; j--) {
            uint32_t t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    rlist U;
    memset(&U, 0, sizeof U);
    double theta = -1;
    uint32_t x = 0;
    uint64_t skipped = 0; /* postings of cold blocks left out (eval_term_cut) */
    while (x < nor && !rc) {
        ms_kid *c = &kid[order[x++]];
        rlist mU;
        c->full = 1;
        const ks_plan_node *cn = &p->nodes[c->id];
        double after = 0; /* the bounds of the children after c */
        for (uint32_t y = x; y < m; y++)
            after += kid[order[y]].bound;
        if (cn->op == KS_PLAN_TERM && theta > after)
            rc = eval_term_cut(e, ks_segment_find(e->seg, ks_plan_term(p, cn), cn->term_len), &U, theta - after,
                               &skipped, &c->r);
        else
            rc = eval(e, c->id, NULL, &c->r);
        if (rc || (rc = exclude(e, not, &c->r)) ||
            (rc = merge_or(e, &U, &c->r, 1, &mU)))
            break;
        rl_free(e, &U);
        U = mU;
        if (x < nor && !(rc = threshold(e, &U, k, &theta)) && after < theta)
            break; /* pruned: the OR's children left cannot add a top-k document */
    }
    if (rc) {
        rl_free(e, &U);
        goto done;
    }
    *total = U.n + skipped;
    *estimated = x < nor || skipped;
    if (x == nor && x < m)
        rc = threshold(e, &U, k, &theta); /* for AND_MAYBE's children */
    /* What the pruned children would add if independent of U. An OR among
     * them is a word's spacing variants (plan.c), mostly the same
     * documents: its largest variant's estimate, not their sum. */
    for (uint32_t y = x; y < nor; y++) {
        const ks_plan_node *c = &p->nodes[kid[order[y]].id];
        uint64_t ce = 0;
        if (c->op == KS_PLAN_OR)
            for (uint32_t i = 0; i < c->n; i++) {
                uint64_t v = estimate(e, p->kids[c->first + i]);
                ce = v > ce ? v : ce;
            }
        else
            ce = estimate(e, kid[order[y]].id);
        double est = (double)ce * (1 - (double)U.n / (double)e->h->doccount);
        *total += est > 0 ? (uint64_t)est : 0;
    }
    /* an estimate cannot pass the collection; an exact count stands (it
     * can pass doccount only in a file whose header lies, and then it must
     * still agree with the hits: found by fuzz_segment) */
    if (*estimated && *total > e->h->doccount)
        *total = e->h->doccount > U.n + skipped ? e->h->doccount : U.n + skipped;
    /* the rest (pruned OR children, then AND_MAYBE's) over the candidates */
    for (; x < m && !rc; x++) {
        double rest = 0;
        for (uint32_t y = x; y < m; y++)
            rest += kid[order[y]].bound;
        if (theta >= 0) { /* drop the candidates that cannot reach theta */
            size_t w = 0;
            for (size_t i = 0; i < U.n; i++)
                if (U.score[i] + rest >= theta) {
                    U.doc[w] = U.doc[i];
                    U.score[w++] = U.score[i];
                }
            U.n = w;
        }
        ms_kid *c = &kid[order[x]];
        if ((rc = eval(e, c->id, &U, &c->r)))
            break;
        for (size_t i = 0, j = 0; i < c->r.n; i++) { /* c->r is a subset of U */
            j = seek_doc(&U, j, c->r.doc[i]);
            U.score[j] += c->r.score[i];
        }
        rc = threshold(e, &U, k, &theta);
    }
    if (rc) {
        rl_free(e, &U);
        goto done;
    }
    /* final scores in plan order: each kept list holds every candidate it matches */
    memset(U.score, 0, U.n * sizeof *U.score);
    for (uint32_t y = 0; y < m; y++) {
        const rlist *r = &kid[y].r;
        for (size_t i = 0, j = 0; i < U.n && j < r->n; i++) {
            j = seek_doc(r, j, U.doc[i]);
            if (j < r->n && r->doc[j] == U.doc[i])
                U.score[i] += r->score[j];
        }
    }
    *out = U;
done:
    for (uint32_t i = 0; i < m; i++)
        rl_free(e, &kid[i].r);
    free(kid);
    free(order);
    return rc;
}

/* ---- top-k ------------------------------------------------------------------ */

/* a ranks before b: higher score, then lower docid. */
static int before(const ks_engine_hit *a, const ks_engine_hit *b)
{
    return a->score > b->score || (a->score == b->score && a->docid < b->docid);
}

/* Min-heap on rank: the root is the worst hit kept. */
static void sift_down(ks_engine_hit *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && before(&h[w], &h[l]))
            w = l;
        if (r < n && before(&h[w], &h[r]))
            w = r;
        if (w == i)
            return;
        ks_engine_hit t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

static int cmp_hit(const void *a, const void *b)
{
    const ks_engine_hit *x = a, *y = b;
    return before(x, y) ? -1 : before(y, x) ? 1 : 0;
}

int ks_engine_search(ks_engine *e, const ks_plan *plan, const ks_bm25 *bm25, uint32_t offset, uint32_t limit,
                     int prune, ks_engine_hit *hits, size_t *nhits, uint64_t *total, int *estimated,
                     ks_errbuf *eb)
{
    *nhits = 0;
    *total = 0;
    *estimated = 0;
    e->eb = eb;
    e->plan = plan;
    e->scored = 0;
    e->postings = 0;
    if (e->pl_bytes > e->pl_max || e->pl_used * 4 >= PL_SLOTS * 3)
        pl_clear(e);
    for (size_t i = 0; i < plan->n_nodes; i++)
        if (plan->nodes[i].op == KS_PLAN_TERM) {
            const ks_seg_term *t = ks_segment_find(e->seg, ks_plan_term(plan, &plan->nodes[i]), plan->nodes[i].term_len);
            e->postings += t ? t->termfreq : 0;
        }
    set_params(e, bm25);
    rlist r;
    int ran = 0, rc = 0;
    if (prune && limit)
        rc = maxscore(e, (size_t)offset + limit, &r, total, estimated, &ran);
    if (!rc && !ran) {
        rc = eval(e, plan->root, NULL, &r);
        if (!rc)
            *total = r.n;
    }
    if (rc)
        return rc;
    size_t want = (size_t)offset + limit;
    if (want > r.n)
        want = r.n;
    if (limit == 0 || want <= offset) {
        rl_free(e, &r);
        return 0;
    }
    ks_engine_hit *heap = malloc(want * sizeof *heap);
    if (!heap) {
        rl_free(e, &r);
        return oom(e);
    }
    size_t hn = 0;
    for (size_t i = 0; i < r.n; i++) {
        ks_engine_hit c = { r.doc[i], r.score[i] };
        if (hn < want) {
            heap[hn++] = c;
            if (hn == want)
                for (size_t j = want / 2; j-- > 0;)
                    sift_down(heap, hn, j);
        } else if (before(&c, &heap[0])) {
            heap[0] = c;
            sift_down(heap, hn, 0);
        }
    }
    qsort(heap, hn, sizeof *heap, cmp_hit);
    for (size_t i = offset; i < hn; i++)
        hits[(*nhits)++] = heap[i];
    free(heap);
    rl_free(e, &r);
    return 0;
}

void ks_engine_last_work(const ks_engine *e, uint64_t *scored, uint64_t *postings)
{
    *scored = e->scored;
    *postings = e->postings;
}
