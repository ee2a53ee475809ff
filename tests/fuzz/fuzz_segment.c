/* libFuzzer target for the scoring segment loader (core/segment.c) and the
 * native engine over it (core/engine.c). Input: one flags byte, then a
 * segment file. Flag bit 0 (the checksum-fixing mode): recompute every
 * checksum of the mutated file with ks_segment_seal before opening it, so
 * that mutations get past the CRCs to the structural checks and decoders
 * behind them (random mutations almost never pass a CRC). Bit 1 picks other
 * BM25 parameters; bits 2-7 choose which terms the queries use. The file goes to a memfd opened by its /proc/self/fd
 * path. When the open succeeds every read path runs: each dictionary entry
 * found by its bytes, absent neighbours not found, every block decoded
 * three ways, every posting's positions, the document lengths, verify, and
 * a few engine queries built from the segment's own terms. Each call must
 * give data or KS_ECORRUPT with a message: never a crash, a hang or a read
 * out of bounds. Built by `make fuzz-segment`; replay.c replays the seeds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ks_engine.h"
#include "ks_score.h"
#include "ks_segment.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { SEAL = 1, OTHER_BM25 = 2 };

static volatile uint64_t sink; /* keeps the reads of every value */

/* A failed call: KS_ECORRUPT with a message. */
static void check_err(int rc, const ks_errbuf *eb)
{
    if (rc != KS_ECORRUPT)
        fprintf(stderr, "unexpected error %d: %s\n", rc, eb->msg);
    CHECK(rc == KS_ECORRUPT);
    CHECK(memchr(eb->msg, '\0', sizeof eb->msg) && eb->msg[0] != '\0');
}

/* Looks up term bytes p[0..n) that may or may not be in the dictionary: a
 * hit must hold exactly those bytes. */
static void probe(const ks_segment *s, const char *p, size_t n)
{
    const ks_seg_term *t = ks_segment_find(s, p, n);
    if (t)
        CHECK(t->str_len == n && memcmp(ks_segment_term_bytes(s, t), p, n) == 0);
}

/* A term at a position of the walk's chosen document. */
typedef struct occ {
    uint32_t pos;
    uint64_t term;
} occ;

#define MAX_OCC 4096

/* What the walk learnt, to build queries that match. */
typedef struct facts {
    uint8_t *ok;       /* per term: every block decoded */
    uint32_t doc;      /* the chosen document */
    occ occ[MAX_OCC];  /* its terms at their positions (the first MAX_OCC found) */
    size_t n_occ;
} facts;

/* Every dictionary entry, its neighbours' spellings, its blocks and its
 * positions; notes in f which terms decode and which occur where in the
 * document f->doc. */
static void walk(const ks_segment *s, facts *f)
{
    const ks_seg_header *h = ks_segment_header(s);
    static uint32_t doc[KS_SEG_BLOCK], doc2[KS_SEG_BLOCK], wdf[KS_SEG_BLOCK], wdf2[KS_SEG_BLOCK];
    CHECK(ks_segment_term_at(s, h->n_terms) == NULL);
    for (uint64_t i = 0; i < h->n_terms; i++) {
        const ks_seg_term *t = ks_segment_term_at(s, i);
        if (!t) { /* damage in its entry or blocks: marked, with a reason */
            CHECK(ks_segment_damaged(s));
            const char *why = ks_segment_damage_reason(s);
            CHECK(why && why[0]);
            continue;
        }
        f->ok[i] = 1;
        uint32_t in_doc = UINT32_MAX; /* posting number of f->doc */
        const ks_seg_block *b = ks_segment_blocks(s, t);
        for (uint32_t j = 0; j < t->n_blocks; j++) {
            ks_errbuf eb = { "" };
            int rc = ks_segment_decode_docs(s, &b[j], doc, &eb);
            if (rc) {
                check_err(rc, &eb);
                f->ok[i] = 0;
            } else {
                CHECK(b[j].n >= 1 && b[j].n <= KS_SEG_BLOCK);
                CHECK(doc[0] > b[j].base && doc[b[j].n - 1] == b[j].last && b[j].last <= h->lastdocid);
                for (uint32_t k = 1; k < b[j].n; k++)
                    CHECK(doc[k] > doc[k - 1]);
                for (uint32_t k = 0; k < b[j].n; k++)
                    if (doc[k] == f->doc)
                        in_doc = j * KS_SEG_BLOCK + k;
            }
            int rc2 = ks_segment_decode_wdfs(s, &b[j], wdf, &eb);
            if (rc2) {
                check_err(rc2, &eb);
                f->ok[i] = 0;
            }
            int rc3 = ks_segment_decode(s, &b[j], doc2, wdf2, &eb);
            CHECK(rc3 == (rc ? rc : rc2)); /* decode is the two halves */
            if (rc3)
                check_err(rc3, &eb);
            else
                CHECK(memcmp(doc, doc2, b[j].n * 4) == 0 && memcmp(wdf, wdf2, b[j].n * 4) == 0);
        }
        for (uint32_t k = 0; k < t->termfreq; k++) {
            ks_errbuf eb = { "" };
            const uint32_t *pos;
            uint32_t np;
            int rc = ks_segment_positions(s, t, k, &pos, &np, &eb);
            if (rc) {
                check_err(rc, &eb);
                continue;
            }
            CHECK(np == 0 || pos != NULL);
            for (uint32_t p = 0; p < np; p++) {
                sink += pos[p];
                if (k == in_doc && f->n_occ < MAX_OCC)
                    f->occ[f->n_occ++] = (occ){ pos[p], i };
            }
        }
        /* past the last posting */
        const uint32_t *pos;
        uint32_t np;
        ks_errbuf eb = { "" };
        int rc = ks_segment_positions(s, t, t->termfreq, &pos, &np, &eb);
        if (t->has_pos)
            check_err(rc, &eb);
        else
            CHECK(rc == 0 && np == 0);
    }
    /* Every entry passed its first lookup, which checks its order against
     * its neighbours: so the whole dictionary is sorted without
     * duplicates, and a lookup by bytes finds exactly its entry. */
    for (uint64_t i = 0; i < h->n_terms && !ks_segment_damaged(s); i++) {
        const ks_seg_term *t = ks_segment_term_at(s, i);
        CHECK(t != NULL);
        const char *bytes = ks_segment_term_bytes(s, t);
        CHECK(ks_segment_find(s, bytes, t->str_len) == t);
        char *alt = malloc((size_t)t->str_len + 1);
        CHECK(alt);
        memcpy(alt, bytes, t->str_len);
        alt[t->str_len] = '\xff';
        probe(s, alt, (size_t)t->str_len + 1);
        if (t->str_len) {
            probe(s, alt, t->str_len - 1);
            alt[t->str_len - 1] ^= 1;
            probe(s, alt, t->str_len);
        }
        free(alt);
    }
}

/* A plan over up to four terms of the segment: nodes[0] is the root, its
 * children are nodes 1..nt, each a TERM of text[off[k] .. off[k] + len[k]). */
typedef struct qplan {
    ks_plan p;
    ks_plan_node nodes[5];
    uint32_t kids[4];
} qplan;

static void make_plan(qplan *q, char *text, uint8_t op, uint32_t window, const uint32_t *off, const uint32_t *len,
                      uint32_t nt)
{
    memset(q, 0, sizeof *q);
    q->p.nodes = q->nodes;
    q->p.kids = q->kids;
    q->p.text = text;
    q->p.root = 0;
    q->nodes[0] = (ks_plan_node){ .op = op, .window = window, .first = 0, .n = nt };
    for (uint32_t k = 0; k < nt; k++) {
        q->nodes[k + 1] = (ks_plan_node){ .op = KS_PLAN_TERM, .term_off = off[k], .term_len = len[k] };
        q->kids[k] = k + 1;
    }
    q->p.n_nodes = nt + 1;
    q->p.n_kids = nt;
    q->p.n_terms = nt;
    if (op == KS_PLAN_TERM)  /* a single term is its own root */
        q->p.root = 1;
}

/* Runs q (with prune, OR plans may skip documents and estimate the total);
 * returns the total, or UINT64_MAX when the engine gave an error. */
static uint64_t run(ks_engine *e, const ks_segment *s, const qplan *q, const ks_bm25 *bm, uint32_t offset, int prune)
{
    const ks_seg_header *h = ks_segment_header(s);
    ks_engine_hit hits[10];
    size_t nhits = 99;
    uint64_t total = 99;
    ks_errbuf eb = { "" };
    int estimated = 0;
    int rc = ks_engine_search(e, &q->p, bm, offset, 10, prune, hits, &nhits, &total, &estimated, &eb);
    if (rc) {
        check_err(rc, &eb);
        return UINT64_MAX;
    }
    CHECK(nhits <= 10 && total <= h->lastdocid);
    CHECK(!estimated || prune);
    if (!estimated)
        CHECK(nhits == (total > offset ? (total - offset < 10 ? total - offset : 10) : 0));
    for (size_t i = 0; i < nhits; i++) {
        CHECK(hits[i].docid >= 1 && hits[i].docid <= h->lastdocid);
        for (size_t j = 0; j < i; j++)
            CHECK(hits[j].docid != hits[i].docid);
        /* ranked: score descending, then docid ascending (NaN compares false) */
        if (i)
            CHECK(!(hits[i].score > hits[i - 1].score) &&
                  !(hits[i].score == hits[i - 1].score && hits[i].docid < hits[i - 1].docid));
    }
    return total;
}

static int by_pos(const void *a, const void *b)
{
    const occ *x = a, *y = b;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Three terms to query (n_terms > 0): pick[0] and pick[1] at neighbouring
 * positions of the walk's document if it has such a pair (the search starts
 * at a point choice, 0..63, sets), pick[2] next after them if a term is,
 * so that phrases match; otherwise the first and middle terms and the most
 * frequent other one. */
static void pick_terms(const ks_segment *s, facts *f, unsigned choice, uint64_t pick[3])
{
    uint64_t n = ks_segment_header(s)->n_terms;
    pick[0] = 0;
    pick[1] = n / 2;
    pick[2] = UINT64_MAX;
    size_t m = f->n_occ;
    qsort(f->occ, m, sizeof *f->occ, by_pos);
    for (size_t j = 0; j < m; j++) {
        const occ *a = &f->occ[(j + choice * m / 64) % m];
        if (a->pos >= UINT32_MAX - 2)
            continue;
        occ want = { a->pos + 1, 0 };
        const occ *b = bsearch(&want, f->occ, m, sizeof *f->occ, by_pos);
        if (b) {
            pick[0] = a->term;
            pick[1] = b->term;
            want.pos++;
            const occ *c = bsearch(&want, f->occ, m, sizeof *f->occ, by_pos);
            if (c)
                pick[2] = c->term;
            break;
        }
    }
    if (pick[2] != UINT64_MAX)
        return;
    uint32_t best = 0;
    pick[2] = pick[1];
    for (uint64_t i = 0; i < n; i++) {
        const ks_seg_term *t = ks_segment_term_at(s, i);
        if (t && i != pick[0] && i != pick[1] && t->termfreq > best) {
            best = t->termfreq;
            pick[2] = i;
        }
    }
}

static void queries(const ks_segment *s, facts *f, unsigned flags)
{
    const ks_seg_header *h = ks_segment_header(s);
    ks_engine *e;
    ks_errbuf eb = { "" };
    int rc = ks_engine_new(s, &e, &eb);
    if (rc) {
        CHECK(rc == KS_ENOMEM);
        return;
    }
    ks_bm25 bm = KS_BM25_DEFAULTS;
    if (flags & OTHER_BM25)
        bm = (ks_bm25){ 1.2, 0.0, 1.0, 0.75, 0.5 };
    /* three of the segment's terms, and one the dictionary lacks */
    uint64_t pick[3];
    uint32_t nt = h->n_terms ? 3 : 0, off[4], len[4], at = 0;
    if (nt)
        pick_terms(s, f, flags >> 2, pick);
    const ks_seg_term *t[3] = { NULL, NULL, NULL };
    char *text = malloc(ks_segment_size(s) + 16);
    CHECK(text);
    for (uint32_t k = 0; k < nt; k++)
        if (!(t[k] = ks_segment_term_at(s, pick[k]))) {
            CHECK(ks_segment_damaged(s));
            nt = 0; /* only the absent term's query */
        }
    for (uint32_t k = 0; k < nt; k++) {
        off[k] = at;
        len[k] = t[k]->str_len;
        memcpy(text + at, ks_segment_term_bytes(s, t[k]), len[k]);
        at += len[k];
    }
    static const char absent[] = "\xff\xff no such term";
    off[nt] = at;
    len[nt] = sizeof absent - 1;
    memcpy(text + at, absent, sizeof absent - 1);

    qplan q;
    make_plan(&q, text, KS_PLAN_TERM, 0, off + nt, len + nt, 1);
    uint64_t total = run(e, s, &q, &bm, 0, 0);
    CHECK(total == 0 || ks_segment_find(s, absent, len[nt]));
    if (nt) {
        for (uint32_t k = 0; k < nt; k++) {
            make_plan(&q, text, KS_PLAN_TERM, 0, off + k, len + k, 1);
            total = run(e, s, &q, &bm, k, 0);
            /* a term whose blocks all decode matches each of its postings */
            if (f->ok[pick[k]] && !ks_segment_damaged(s))
                CHECK(total == t[k]->termfreq);
        }
        static const struct { uint8_t op; uint32_t window, first, n; } shapes[] = {
            { KS_PLAN_AND, 0, 0, 2 },    { KS_PLAN_OR, 0, 0, 4 },        { KS_PLAN_PHRASE, 2, 0, 2 },
            { KS_PLAN_PHRASE, 4, 1, 2 }, { KS_PLAN_PHRASE, 3, 0, 3 },    { KS_PLAN_AND_NOT, 0, 1, 2 },
            { KS_PLAN_AND_NOT, 0, 0, 2 }, { KS_PLAN_AND_MAYBE, 0, 0, 3 }, { KS_PLAN_AND, 0, 1, 3 },
        };
        for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
            make_plan(&q, text, shapes[i].op, shapes[i].window, off + shapes[i].first, len + shapes[i].first,
                      shapes[i].n);
            run(e, s, &q, &bm, (uint32_t)i & 1, 0);
            run(e, s, &q, &bm, (uint32_t)i & 1, 1);
        }
    }
    free(text);
    ks_engine_free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int selected;
    if (!selected) {
        /* the widest BM25 kernel, as the daemon runs (the scalar otherwise) */
        ks_errbuf eb;
        CHECK(ks_score_select(NULL, &eb) == 0);
        selected = 1;
    }
    if (size < 1)
        return 0;
    uint8_t flags = data[0];
    size_t n = size - 1;
    /* 8-byte aligned, as a mapping is */
    uint64_t *file = malloc((n / 8 + 1) * 8);
    CHECK(file);
    memcpy(file, data + 1, n);
    if (flags & SEAL)
        ks_segment_seal(file, n);
    int fd = memfd_create("fuzz-segment", MFD_CLOEXEC);
    CHECK(fd >= 0);
    CHECK(write(fd, file, n) == (ssize_t)n);
    free(file);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);

    ks_segment *s = (ks_segment *)(uintptr_t)1;
    ks_errbuf eb = { "" };
    int rc = ks_segment_open(path, &s, &eb);
    if (rc) {
        CHECK(s == NULL);
        check_err(rc, &eb);
        close(fd);
        return 0;
    }
    const ks_seg_header *h = ks_segment_header(s);
    CHECK(ks_segment_size(s) == n && h->file_size == n);
    const uint32_t *len = ks_segment_doclens(s);
    for (uint64_t d = 0; d <= h->lastdocid; d++)
        sink += len[d];
    /* the walk notes the terms of one document: the first with a length
     * from a point the flags choose */
    facts *f = calloc(1, sizeof *f);
    CHECK(f);
    f->ok = calloc(h->n_terms + 1, 1);
    CHECK(f->ok);
    for (uint64_t d = (flags >> 2) * (h->lastdocid + 1) / 64; d <= h->lastdocid && !f->doc; d++)
        if (len[d])
            f->doc = (uint32_t)d;
    walk(s, f);
    rc = ks_segment_verify(s, &eb);
    if (rc)
        check_err(rc, &eb);
    queries(s, f, flags);
    free(f->ok);
    free(f);
    ks_segment_close(s);
    close(fd);
    return 0;
}
