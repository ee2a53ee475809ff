/* Unit tests of the scoring segment (core/segment*.c): a segment built from
 * a small two-shard Xapian database holds exactly its postings, positions
 * and lengths; a truncated or damaged file is KS_ECORRUPT with a message;
 * the engine (core/engine.c) ranks small plans as Xapian does, without the
 * shared corpus (tests/integration/test_parity is the large comparison). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <math.h>
#include <pthread.h>

#include "ks_analyze.h"
#include "ks_engine.h"
#include "ks_indexdir.h"
#include "ks_query.h"
#include "ks_segment.h"
#include "ks_xdb.h"
#include "unit_files.h"
#include "unit_xdb.h"

#define NDOCS 700

static char dir[64], stub[128], segpath[128];

static void add_docs(ks_xdb_writer *w, int shard)
{
    ks_errbuf eb;
    for (int i = shard; i < NDOCS; i += 2) {
        ks_xposting p[8];
        size_t n = 0;
        char id[32];
        snprintf(id, sizeof id, "Q%d", i);
        p[n++] = (ks_xposting){ "a", 1, (uint32_t)(i % 5), 1 };
        p[n++] = (ks_xposting){ "a", 1, (uint32_t)(i % 5 + 2), 1 };
        if (i % 3 == 0)
            p[n++] = (ks_xposting){ "b", 1, KS_XDB_NOPOS, (uint32_t)(i % 4 + 1) };
        if (i % 7 == 0)
            p[n++] = (ks_xposting){ "c", 1, (uint32_t)(i % 11), 2 };
        if (i % 50 == 1)
            p[n++] = (ks_xposting){ "Sz", 2, 1, 3 };
        ks_xdoc d = { id, strlen(id), "{}", 2, p, n };
        assert_int_equal(ks_xdb_writer_add(w, &d, &eb), 0);
    }
}

static int setup(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/ks-test-seg-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    ks_errbuf eb;
    if (unit_two_shards(dir, add_docs, "42", stub, sizeof stub))
        return -1;
    snprintf(segpath, sizeof segpath, "%s/segment", dir);
    /* Tiny checksum chunks, so that each flipped byte below lies in a chunk
     * of its own and only the access path that reads it can find it. */
    setenv("KOSEARCH_SEGMENT_CHUNK", "64", 1);
    int brc = ks_segment_build(stub, segpath, &eb);
    unsetenv("KOSEARCH_SEGMENT_CHUNK");
    if (brc) {
        fprintf(stderr, "# build: %s\n", eb.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ks_indexdir_rmtree(dir);
    return 0;
}

typedef struct walk {
    ks_segment *seg;
    const ks_seg_term *t;
    uint32_t doc[KS_SEG_BLOCK], wdf[KS_SEG_BLOCK];
    uint32_t i;           /* posting number */
    ks_xdb *db;
    uint64_t terms;
} walk;

static int check_posting(void *ud, uint32_t docid, uint32_t wdf, const uint32_t *pos, size_t npos)
{
    walk *w = ud;
    ks_errbuf eb;
    const ks_seg_block *b = ks_segment_blocks(w->seg, w->t) + w->i / KS_SEG_BLOCK;
    if (w->i % KS_SEG_BLOCK == 0)
        assert_int_equal(ks_segment_decode(w->seg, b, w->doc, w->wdf, &eb), 0);
    assert_int_equal(w->doc[w->i % KS_SEG_BLOCK], docid);
    assert_int_equal(w->wdf[w->i % KS_SEG_BLOCK], wdf);
    assert_true(b->max_wdf >= wdf);
    const uint32_t *sp;
    uint32_t sn;
    assert_int_equal(ks_segment_positions(w->seg, w->t, w->i, &sp, &sn, &eb), 0);
    assert_int_equal(sn, npos);
    if (npos)
        assert_memory_equal(sp, pos, npos * sizeof *pos);
    w->i++;
    return 0;
}

static int check_term(void *ud, const char *term, size_t len, uint32_t termfreq)
{
    walk *w = ud;
    ks_errbuf eb;
    w->t = ks_segment_find(w->seg, term, len);
    assert_non_null(w->t);
    assert_int_equal(w->t->termfreq, termfreq);
    w->i = 0;
    assert_int_equal(ks_xdb_postings(w->db, term, len, 1, check_posting, w, &eb), 0);
    assert_int_equal(w->i, termfreq);
    w->terms++;
    return 0;
}

static void test_round_trip(void **state)
{
    (void)state;
    ks_errbuf eb;
    walk w;
    memset(&w, 0, sizeof w);
    assert_int_equal(ks_segment_open(segpath, &w.seg, &eb), 0);
    assert_int_equal(ks_xdb_open(stub, &w.db, &eb), 0);
    ks_xdb_stats st;
    assert_int_equal(ks_xdb_stats_get(w.db, &st, &eb), 0);
    const ks_seg_header *h = ks_segment_header(w.seg);
    assert_int_equal(h->doccount, NDOCS);
    assert_int_equal(h->doccount, st.doccount);
    assert_int_equal(h->lastdocid, st.lastdocid);
    assert_int_equal(h->total_length, st.total_length);
    assert_int_equal(h->revision, 42);
    assert_true(h->avglength == (double)st.total_length / (double)st.doccount);
    assert_int_equal(ks_xdb_all_terms(w.db, check_term, &w, &eb), 0);
    assert_int_equal(w.terms, h->n_terms);
    assert_null(ks_segment_find(w.seg, "nope", 4));
    assert_null(ks_segment_find(w.seg, "", 0));
    /* "a" spans several blocks, "b" has no positions */
    const ks_seg_term *a = ks_segment_find(w.seg, "a", 1), *b = ks_segment_find(w.seg, "b", 1);
    assert_true(a->n_blocks > 2 && a->has_pos);
    assert_true(b && !b->has_pos);
    uint32_t *len = calloc(st.lastdocid + 1, sizeof *len);
    assert_int_equal(ks_xdb_doclengths(w.db, len, st.lastdocid + 1, &eb), 0);
    assert_memory_equal(len, ks_segment_doclens(w.seg), (st.lastdocid + 1) * sizeof *len);
    free(len);
    ks_xdb_close(w.db);
    ks_segment_close(w.seg);
}

static uint8_t *slurp(size_t *n)
{
    return unit_slurp(segpath, n);
}

/* The streaming builder writes the same bytes whatever its buffer size:
 * 64 bytes (every section flushes hundreds of times and most puts bypass
 * the buffer), 4 KiB, 64 KiB, the environment's override and the default
 * (setup's segment, checked against Xapian by test_round_trip); each file
 * is sealed (its checksums are ks_segment_seal's) and verifies. */
static void test_buffer_sizes(void **state)
{
    (void)state;
    size_t n;
    uint8_t *want = unit_slurp(segpath, &n);
    size_t sizes[] = { 1, 64, 4096, 65536, 0 };
    setenv("KOSEARCH_SEGMENT_CHUNK", "64", 1); /* as setup built it */
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes + 1; i++) {
        char path[160];
        snprintf(path, sizeof path, "%s/seg-buf-%zu", dir, i);
        ks_errbuf eb = { "" };
        int rc;
        if (i < sizeof sizes / sizeof *sizes) {
            rc = ks_segment_build_buffered(stub, path, sizes[i], &eb);
        } else {
            setenv("KOSEARCH_SEGMENT_BUFFER", "100", 1);
            rc = ks_segment_build(stub, path, &eb);
            unsetenv("KOSEARCH_SEGMENT_BUFFER");
        }
        if (rc)
            fail_msg("build %zu: %d %s", i, rc, eb.msg);
        size_t m;
        uint8_t *got = unit_slurp(path, &m);
        assert_int_equal(m, n);
        assert_memory_equal(got, want, n);
        ks_segment_seal(got, m);
        assert_memory_equal(got, want, n);
        free(got);
        ks_segment *s;
        assert_int_equal(ks_segment_open(path, &s, &eb), 0);
        assert_int_equal(ks_segment_verify(s, &eb), 0);
        ks_segment_close(s);
        unlink(path);
    }
    unsetenv("KOSEARCH_SEGMENT_CHUNK");
    free(want);
}

/* Builds the segment of xapian into path with threads threads and buffer
 * buffer bytes (0: the default) and returns its bytes. */
static uint8_t *build_threads(const char *xapian, const char *path, unsigned threads, size_t buffer, size_t *n)
{
    ks_errbuf eb = { "" };
    ks_seg_build_opts o = { .buffer_bytes = buffer, .threads = threads };
    int rc = ks_segment_build_with(xapian, path, &o, &eb);
    if (rc)
        fail_msg("build with %u threads, buffer %zu: %d %s", threads, buffer, rc, eb.msg);
    uint8_t *p = unit_slurp(path, n);
    unlink(path);
    return p;
}

/* Every thread count gives the one-thread file byte for byte on xapian:
 * 2, 3 and 7 threads (more ranges than a small vocabulary can balance),
 * with the default buffers and with 64-byte ones (the rebasing reads cut
 * entries at the buffer's end); 0: the default count. */
static void check_threads(const char *xapian, const char *tag)
{
    char path[200];
    snprintf(path, sizeof path, "%s/seg-threads-%s", dir, tag);
    size_t n, m;
    uint8_t *want = build_threads(xapian, path, 1, 0, &n);
    unsigned threads[] = { 1, 2, 3, 7, 0 };
    for (size_t i = 0; i < sizeof threads / sizeof *threads; i++)
        for (size_t buffer = 0; buffer <= 64; buffer += 64) {
            uint8_t *got = build_threads(xapian, path, threads[i], buffer, &m);
            if (m != n || memcmp(got, want, n))
                fail_msg("%s: %u threads, buffer %zu: not the one-thread file", tag, threads[i], buffer);
            free(got);
        }
    ks_segment *s;
    ks_errbuf eb;
    unit_spit(path, want, n);
    assert_int_equal(ks_segment_open(path, &s, &eb), 0);
    assert_int_equal(ks_segment_verify(s, &eb), 0);
    ks_segment_close(s);
    unlink(path);
    free(want);
}

/* A database of ndocs documents, each with its id term and, with pos, the
 * term "a" at a position: ndocs (+ 1) terms. */
static void tiny_db(const char *path, int ndocs, int pos)
{
    ks_errbuf eb;
    ks_xdb_writer *w;
    assert_int_equal(ks_xdb_writer_open(path, KS_XDB_CREATE, &w, &eb), 0);
    for (int i = 0; i < ndocs; i++) {
        char id[16];
        snprintf(id, sizeof id, "Q%d", i);
        ks_xposting p = { "a", 1, (uint32_t)i + 1, 1 };
        ks_xdoc d = { id, strlen(id), "{}", 2, &p, pos ? 1 : 0 };
        assert_int_equal(ks_xdb_writer_add(w, &d, &eb), 0);
    }
    assert_int_equal(ks_xdb_writer_close(w, 1, &eb), 0);
}

/* The segment built by several threads is the one-thread segment: on the
 * two-shard database of setup (704 terms, "a" in every document) and on
 * tiny ones of 0, 1, 2 and 3 terms, where most threads get no range. */
static void test_threads(void **state)
{
    (void)state;
    setenv("KOSEARCH_SEGMENT_CHUNK", "64", 1);
    check_threads(stub, "main");
    struct { int ndocs, pos; } tiny[] = { { 0, 0 }, { 1, 0 }, { 2, 0 }, { 3, 0 }, { 1, 1 }, { 2, 1 } };
    for (size_t i = 0; i < sizeof tiny / sizeof *tiny; i++) {
        char db[160], tag[32];
        snprintf(tag, sizeof tag, "tiny-%d-%d", tiny[i].ndocs, tiny[i].pos);
        snprintf(db, sizeof db, "%s/%s", dir, tag);
        tiny_db(db, tiny[i].ndocs, tiny[i].pos);
        check_threads(db, tag);
        ks_indexdir_rmtree(db);
    }
    unsetenv("KOSEARCH_SEGMENT_CHUNK");
}

/* Entries of directory d. */
static int count_entries(const char *d)
{
    DIR *dp = opendir(d);
    assert_non_null(dp);
    int k = 0;
    struct dirent *e;
    while ((e = readdir(dp)))
        k++;
    closedir(dp);
    return k;
}

/* A write that fails (here past a file-size limit, as on a full disk; with
 * one thread and with three), one thread of three failing (a failure point
 * of ks_fault.h), a missing directory and a bad KOSEARCH_SEGMENT_BUFFER or
 * KOSEARCH_SEGMENT_THREADS are errors with a message, and leave neither the
 * .part file nor a temporary file. */
static void test_build_errors(void **state)
{
    (void)state;
    char sub[160], out[200];
    snprintf(sub, sizeof sub, "%s/errs", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    snprintf(out, sizeof out, "%s/segment", sub);
    ks_errbuf eb = { "" };

    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    void (*oldsig)(int) = signal(SIGXFSZ, SIG_IGN);
    /* the first limit fails in the temporary files, the second (room for
     * the largest section, not for the whole file) in the .part */
    size_t n;
    uint8_t *seg = slurp(&n);
    const ks_seg_header *h = (const ks_seg_header *)seg;
    uint64_t largest = 0;
    for (int i = 0; i < KS_SEG_NSECT; i++)
        if (h->sect[i].size > largest)
            largest = h->sect[i].size;
    size_t limits[] = { 1024, (size_t)(largest + n) / 2 };
    assert_true(limits[1] > largest + 8 && limits[1] < n);
    free(seg);
    for (size_t i = 0; i < 4; i++) { /* one thread, then three */
        lim = old;
        lim.rlim_cur = limits[i % 2];
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
        eb.msg[0] = 0;
        ks_seg_build_opts o = { .buffer_bytes = 64, .threads = i < 2 ? 1 : 3 };
        int rc = ks_segment_build_with(stub, out, &o, &eb);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
        if (rc != KS_EIO || !strstr(eb.msg, "File too large"))
            fail_msg("limit %zu, %u threads: %d %s", limits[i % 2], o.threads, rc, eb.msg);
        assert_int_equal(count_entries(sub), 2); /* . and .. */
    }
    signal(SIGXFSZ, oldsig);

    /* one thread of three fails (its disk full, say) while the others
     * succeed: the build fails with that thread's message */
    for (int k = 0; k < 3; k++) {
        char at[32];
        snprintf(at, sizeof at, "segment-thread-%d", k);
        setenv("KOSEARCH_FAULT_FAIL_AT", at, 1);
        eb.msg[0] = 0;
        ks_seg_build_opts o = { .threads = 3 };
        int rc = ks_segment_build_with(stub, out, &o, &eb);
        if (rc != KS_EIO || !strstr(eb.msg, "No space left on device") || !strstr(eb.msg, sub))
            fail_msg("%s: %d %s", at, rc, eb.msg);
        assert_int_equal(count_entries(sub), 2);
    }
    unsetenv("KOSEARCH_FAULT_FAIL_AT");

    char missing[200];
    snprintf(missing, sizeof missing, "%s/none/segment", dir);
    assert_int_equal(ks_segment_build(stub, missing, &eb), KS_EIO);
    assert_non_null(strstr(eb.msg, "/none"));

    setenv("KOSEARCH_SEGMENT_BUFFER", "12", 1);
    assert_int_equal(ks_segment_build(stub, out, &eb), KS_EINVAL);
    assert_non_null(strstr(eb.msg, "KOSEARCH_SEGMENT_BUFFER"));
    unsetenv("KOSEARCH_SEGMENT_BUFFER");
    const char *bad_threads[] = { "0", "65", "2x", "" };
    for (size_t i = 0; i < sizeof bad_threads / sizeof *bad_threads; i++) {
        setenv("KOSEARCH_SEGMENT_THREADS", bad_threads[i], 1);
        eb.msg[0] = 0;
        assert_int_equal(ks_segment_build(stub, out, &eb), KS_EINVAL);
        assert_non_null(strstr(eb.msg, "KOSEARCH_SEGMENT_THREADS"));
    }
    unsetenv("KOSEARCH_SEGMENT_THREADS");
    assert_int_equal(count_entries(sub), 2);
    rmdir(sub);
}

/* Writes bytes as a segment file and expects KS_ECORRUPT with a message. */
/* Decodes every block and reads every posting's positions, as queries
 * would; the first error. */
static int walk_all(const ks_segment *s, ks_errbuf *eb)
{
    const ks_seg_header *h = ks_segment_header(s);
    uint32_t doc[KS_SEG_BLOCK], wdf[KS_SEG_BLOCK];
    for (uint64_t i = 0; i < h->n_terms; i++) {
        const ks_seg_term *t = ks_segment_term_at(s, i);
        if (!t) { /* damage in the dictionary or the block index: marked */
            assert_true(ks_segment_damaged(s));
            assert_non_null(ks_segment_damage_reason(s));
            snprintf(eb->msg, sizeof eb->msg, "%s", ks_segment_damage_reason(s));
            return KS_ECORRUPT;
        }
        const ks_seg_block *b = ks_segment_blocks(s, t);
        for (uint32_t j = 0; j < t->n_blocks; j++) {
            int rc = ks_segment_decode(s, &b[j], doc, wdf, eb);
            if (rc)
                return rc;
        }
        for (uint32_t k = 0; k < t->termfreq; k++) {
            const uint32_t *pos;
            uint32_t np;
            int rc = ks_segment_positions(s, t, k, &pos, &np, eb);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* dir/name := p[0..n); the path into path. */
static void write_file(const char *name, const uint8_t *p, size_t n, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", dir, name);
    unit_spit(path, p, n);
}

/* dir/name := p[0..n), opened: the open's result, the segment in *s. */
static int open_bytes(const char *name, const uint8_t *p, size_t n, ks_segment **s, ks_errbuf *eb)
{
    char path[160];
    write_file(name, p, n, path, sizeof path);
    return ks_segment_open(path, s, eb);
}

static void expect_corrupt(const uint8_t *p, size_t n, const char *what)
{
    ks_segment *s = NULL;
    ks_errbuf eb = { "" };
    int rc = open_bytes("bad", p, n, &s, &eb);
    if (rc == 0) {
        /* Damage in a lazily verified section (all but the header, DOCLENS
         * and CHUNKS) passes the open; then reading everything must meet
         * it, and so must verify. */
        rc = walk_all(s, &eb);
        ks_errbuf veb = { "" };
        int vrc = ks_segment_verify(s, &veb);
        ks_segment_close(s);
        s = NULL;
        if (vrc != KS_ECORRUPT)
            fail_msg("%s: opened, and ks_segment_verify gave %d, not KS_ECORRUPT", what, vrc);
    }
    if (rc != KS_ECORRUPT)
        fail_msg("%s: expected KS_ECORRUPT, got %d (%s)", what, rc, eb.msg);
    assert_null(s);
    assert_true(eb.msg[0] != 0);
}

static void test_truncated(void **state)
{
    (void)state;
    size_t n;
    uint8_t *p = slurp(&n);
    size_t cut[] = { 0, 1, 100, 255, 256, 300, n / 2, n - 8, n - 1 };
    for (size_t i = 0; i < sizeof cut / sizeof *cut; i++)
        expect_corrupt(p, cut[i], "truncated");
    free(p);
}

static void test_flipped_bytes(void **state)
{
    (void)state;
    size_t n;
    uint8_t *p = slurp(&n);
    const ks_seg_header *h = (const ks_seg_header *)p;
    size_t where[KS_SEG_NSECT * 3 + 4], nw = 0;
    for (int s = 0; s < KS_SEG_NSECT; s++) {
        if (!h->sect[s].size)
            continue;
        where[nw++] = h->sect[s].off;
        where[nw++] = h->sect[s].off + h->sect[s].size / 2;
        where[nw++] = h->sect[s].off + h->sect[s].size - 1;
    }
    where[nw++] = offsetof(ks_seg_header, doccount);
    where[nw++] = offsetof(ks_seg_header, sect) + 3;
    where[nw++] = offsetof(ks_seg_header, header_crc);
    for (size_t i = 0; i < nw; i++) {
        uint8_t *q = malloc(n);
        memcpy(q, p, n);
        q[where[i]] ^= 0x5a;
        expect_corrupt(q, n, "flipped byte");
        free(q);
    }
    free(p);
}

static void test_magic_and_version(void **state)
{
    (void)state;
    size_t n;
    uint8_t *p = slurp(&n);
    ks_seg_header *h = (ks_seg_header *)p;
    h->magic[0] = 'X';
    expect_corrupt(p, n, "magic");
    h->magic[0] = KS_SEG_MAGIC[0];
    h->version = KS_SEG_VERSION + 1;
    expect_corrupt(p, n, "version");
    free(p);
    ks_segment *s;
    ks_errbuf eb;
    char missing[160];
    snprintf(missing, sizeof missing, "%s/none", dir);
    assert_int_equal(ks_segment_open(missing, &s, &eb), KS_ENOTFOUND);
}

/* ks_segment_seal recomputes exactly the builder's checksums, so damage
 * behind them reaches the structural checks (the fuzzer's mode). */
static void test_seal(void **state)
{
    (void)state;
    size_t n;
    uint8_t *p = slurp(&n);
    uint8_t *q = malloc(n + 8);
    memcpy(q, p, n);
    ks_segment_seal(q, n);
    assert_memory_equal(q, p, n); /* an intact file is already sealed */

    /* a changed posting byte: the open passes either way (lazy), verify
     * finds it unless sealed */
    const ks_seg_header *h = (const ks_seg_header *)p;
    size_t at = h->sect[KS_SEG_POSTINGS].off + 1;
    ks_errbuf eb = { "" };
    ks_segment *s;
    for (int seal = 0; seal < 2; seal++) {
        memcpy(q, p, n);
        q[at] ^= 0x01;
        if (seal)
            ks_segment_seal(q, n);
        assert_int_equal(open_bytes(seal ? "sealed" : "unsealed", q, n, &s, &eb), 0);
        assert_int_equal(ks_segment_verify(s, &eb), seal ? 0 : KS_ECORRUPT);
        ks_segment_close(s);
    }

    /* structural damage, sealed: caught by the checks behind the crcs */
    struct {
        size_t off;
        uint32_t add;
        const char *msg;
        int at_lookup; /* found by the entry's first lookup, not the open */
    } cases[] = {
        { offsetof(ks_seg_header, n_terms), 1, "counts disagree", 0 },
        /* n_blocks + 2^59: n_blocks * 32 wrapped to the right size, and a
         * block_first up to n_blocks read far outside the file */
        { offsetof(ks_seg_header, n_blocks) + 4, 1u << 27, "counts disagree", 0 },
        { offsetof(ks_seg_header, chunk_size), 1, "chunk size", 0 },
        /* POSTINGS 8 bytes earlier, over the end of BLOCKS */
        { offsetof(ks_seg_header, sect) + KS_SEG_POSTINGS * sizeof(ks_seg_section), 0xfffffff8u, "out of order", 0 },
        { h->sect[KS_SEG_DICT].off + offsetof(ks_seg_term, block_first), 1000, "dictionary entry 0 out of bounds", 1 },
        { h->sect[KS_SEG_DICT].off + offsetof(ks_seg_term, str_off), 1u << 30, "dictionary entry 0 out of bounds", 1 },
        { h->sect[KS_SEG_BLOCKS].off + offsetof(ks_seg_block, off), 1u << 30, "block 0 of dictionary entry", 1 },
        /* entry 0's term bytes made to sort after entry 1's */
        { h->sect[KS_SEG_STRINGS].off, 0x7f, "not sorted at entry 1", 1 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        memcpy(q, p, n);
        uint32_t v;
        memcpy(&v, q + cases[i].off, 4);
        v += cases[i].add;
        memcpy(q + cases[i].off, &v, 4);
        ks_segment_seal(q, n);
        s = NULL;
        int rc = open_bytes("sealed", q, n, &s, &eb);
        if (cases[i].at_lookup) {
            /* the open does not read the dictionary: the first lookup of
             * the entry meets the damage, and so does verify */
            assert_int_equal(rc, 0);
            assert_int_equal(walk_all(s, &eb), KS_ECORRUPT);
            ks_errbuf veb = { "" };
            assert_int_equal(ks_segment_verify(s, &veb), KS_ECORRUPT);
            assert_non_null(strstr(veb.msg, cases[i].msg));
            ks_segment_close(s);
        } else {
            assert_int_equal(rc, KS_ECORRUPT);
            assert_null(s);
        }
        if (!strstr(eb.msg, cases[i].msg))
            fail_msg("case %zu: expected \"%s\" in \"%s\"", i, cases[i].msg, eb.msg);
    }
    free(q);
    free(p);
}

/* A query meeting a damaged block fails with KS_ECORRUPT and frees what
 * it had allocated (a single-term plan leaked its list: found by
 * fuzz_segment; ASan's leak check in CI sees it). */
static void test_engine_damaged_block(void **state)
{
    (void)state;
    size_t n;
    uint8_t *p = slurp(&n);
    ks_errbuf eb = { "" };
    ks_segment *s;
    assert_int_equal(open_bytes("intact", p, n, &s, &eb), 0);
    const ks_seg_term *t = ks_segment_find(s, "a", 1);
    assert_non_null(t);
    const ks_seg_block *b = ks_segment_blocks(s, t);
    size_t at = ks_segment_header(s)->sect[KS_SEG_POSTINGS].off + b[t->n_blocks - 1].off + 1;
    ks_segment_close(s);
    p[at] ^= 0x40; /* in the last block: the others decode first */
    assert_int_equal(open_bytes("damaged", p, n, &s, &eb), 0);

    ks_engine *e;
    assert_int_equal(ks_engine_new(s, &e, &eb), 0);
    ks_plan_node nodes[3] = {
        { .op = KS_PLAN_TERM, .term_off = 0, .term_len = 1 },
        { .op = KS_PLAN_AND, .first = 0, .n = 2 },
        { .op = KS_PLAN_TERM, .term_off = 1, .term_len = 1 },
    };
    uint32_t kids[2] = { 0, 2 };
    char text[] = "ab";
    ks_plan plan = { .nodes = nodes, .n_nodes = 3, .kids = kids, .n_kids = 2, .text = text, .text_len = 2 };
    ks_bm25 bm = KS_BM25_DEFAULTS;
    ks_engine_hit hits[10];
    size_t nhits;
    uint64_t total;
    for (uint32_t root = 0; root < 2; root++) { /* a, then a AND b */
        plan.root = root;
        eb.msg[0] = 0;
        int estimated;
        assert_int_equal(ks_engine_search(e, &plan, &bm, 0, 10, 0, hits, &nhits, &total, &estimated, &eb),
                         KS_ECORRUPT);
        assert_true(eb.msg[0] != 0);
        assert_int_equal(nhits, 0);
    }
    ks_engine_free(e);
    ks_segment_close(s);
    free(p);
}

/* Opens of one file share a mapping while any is open; a file renamed
 * over it (what the indexer does) is a new segment. */
static void test_shared_open(void **state)
{
    (void)state;
    ks_errbuf eb = { "" };
    ks_segment *a = NULL, *b = NULL, *c = NULL;
    assert_int_equal(ks_segment_open(segpath, &a, &eb), 0);
    assert_int_equal(ks_segment_open(segpath, &b, &eb), 0);
    assert_ptr_equal(a, b);
    /* replace the file as the indexer does: a copy renamed over it */
    size_t n;
    uint8_t *p = slurp(&n);
    char tmp[160];
    write_file("segment.part", p, n, tmp, sizeof tmp);
    free(p);
    assert_int_equal(rename(tmp, segpath), 0);
    assert_int_equal(ks_segment_open(segpath, &c, &eb), 0);
    assert_ptr_not_equal(c, a);
    assert_int_equal(ks_segment_header(c)->n_terms, ks_segment_header(a)->n_terms);
    ks_segment_close(a);
    /* b still holds the first mapping: it stays readable */
    assert_non_null(ks_segment_find(b, "a", 1));
    ks_segment_close(b);
    ks_segment_close(c);
}

/* The dictionary and block index are checked on first use, not at open,
 * and read from private copies: bytes changed in the file under an open
 * segment (in place, which kosearch never does) are not seen where the
 * copy was made, and are a checksum mismatch where it was not: the lookup
 * finds nothing and marks the segment damaged with the reason. */
static void test_lazy_dictionary(void **state)
{
    (void)state;
    size_t n;
    uint8_t *p = slurp(&n);
    char path[160];
    write_file("lazy", p, n, path, sizeof path);
    ks_errbuf eb = { "" };
    ks_segment *s;
    assert_int_equal(ks_segment_open(path, &s, &eb), 0);
    const ks_seg_header *h = ks_segment_header(s);
    /* the middle entry: a lookup of its bytes probes it first; the last
     * one lies many 64-byte chunks away */
    uint64_t last = h->n_terms - 1, mid = h->n_terms / 2;
    assert_true(last > 20);
    const ks_seg_term *a = ks_segment_term_at(s, mid);
    assert_non_null(a);
    uint32_t tf = a->termfreq;
    char bytes[64];
    assert_true(a->str_len < sizeof bytes);
    memcpy(bytes, ks_segment_term_bytes(s, a), a->str_len);

    /* every entry's first byte in the file set to 0xff, in place */
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    for (uint64_t i = 0; i < h->n_terms; i++) {
        uint8_t x = 0xff;
        assert_int_equal(pwrite(fd, &x, 1, (off_t)(h->sect[KS_SEG_DICT].off + i * sizeof(ks_seg_term))), 1);
    }
    close(fd);
    /* copied and checked before: unchanged for the reader */
    assert_ptr_equal(ks_segment_find(s, bytes, a->str_len), a);
    assert_ptr_equal(ks_segment_term_at(s, mid), a);
    assert_int_equal(a->termfreq, tf);
    assert_false(ks_segment_damaged(s));
    assert_null(ks_segment_damage_reason(s));
    /* not read before: the change is found */
    assert_null(ks_segment_term_at(s, last));
    assert_true(ks_segment_damaged(s));
    const char *why = ks_segment_damage_reason(s);
    assert_non_null(why);
    assert_non_null(strstr(why, "checksum mismatch"));
    assert_int_equal(ks_segment_verify(s, &eb), KS_ECORRUPT);
    ks_segment_close(s);
    unlink(path);
    free(p);
}

/* Readers that meet the same unread chunks at once (the daemon's workers
 * after a start or RELOAD): each finds every term with its entry and
 * decodes its blocks as one reader alone does. Under the sanitizers in CI. */
typedef struct conc {
    ks_segment *s;
    uint64_t n, start;
    char (*bytes)[64];
    uint32_t *len, *tf, *first_doc;
    int bad;
} conc;

static void *conc_reader(void *arg)
{
    conc *c = arg;
    uint32_t doc[KS_SEG_BLOCK], wdf[KS_SEG_BLOCK];
    for (uint64_t k = 0; k < c->n; k++) {
        uint64_t i = (c->start + k) % c->n;
        const ks_seg_term *t = ks_segment_find(c->s, c->bytes[i], c->len[i]);
        ks_errbuf eb;
        if (!t || t->termfreq != c->tf[i] || ks_segment_decode(c->s, ks_segment_blocks(c->s, t), doc, wdf, &eb) ||
            doc[0] != c->first_doc[i])
            c->bad++;
    }
    return NULL;
}

static void test_concurrent_first_use(void **state)
{
    (void)state;
    ks_errbuf eb = { "" };
    ks_segment *s;
    assert_int_equal(ks_segment_open(segpath, &s, &eb), 0);
    uint64_t n = ks_segment_header(s)->n_terms;
    char(*bytes)[64] = calloc(n, 64);
    uint32_t *len = calloc(n, 4), *tf = calloc(n, 4), *first = calloc(n, 4);
    assert_true(bytes && len && tf && first);
    uint32_t doc[KS_SEG_BLOCK], wdf[KS_SEG_BLOCK];
    for (uint64_t i = 0; i < n; i++) {
        const ks_seg_term *t = ks_segment_term_at(s, i);
        assert_non_null(t);
        assert_true(t->str_len < 64);
        memcpy(bytes[i], ks_segment_term_bytes(s, t), t->str_len);
        len[i] = t->str_len;
        tf[i] = t->termfreq;
        assert_int_equal(ks_segment_decode(s, ks_segment_blocks(s, t), doc, wdf, &eb), 0);
        first[i] = doc[0];
    }
    ks_segment_close(s);
    /* a copy: a new file, so a new segment with nothing read yet */
    size_t sz;
    uint8_t *p = slurp(&sz);
    char path[160];
    for (int round = 0; round < 3; round++) {
        write_file("conc", p, sz, path, sizeof path);
        assert_int_equal(ks_segment_open(path, &s, &eb), 0);
        conc c[4];
        pthread_t th[4];
        for (int k = 0; k < 4; k++) {
            c[k] = (conc){ s, n, (uint64_t)k * n / 4 * (uint64_t)round, bytes, len, tf, first, 0 };
            assert_int_equal(pthread_create(&th[k], NULL, conc_reader, &c[k]), 0);
        }
        for (int k = 0; k < 4; k++) {
            pthread_join(th[k], NULL);
            assert_int_equal(c[k].bad, 0);
        }
        assert_false(ks_segment_damaged(s));
        ks_segment_close(s);
        unlink(path);
    }
    free(p);
    free(bytes);
    free(len);
    free(tf);
    free(first);
}

/* The tiny index's segment, an engine over it and a query analyzer. */
static void open_engine(ks_segment **seg, ks_engine **eng, ks_analyzer **qa)
{
    ks_errbuf eb = { "" };
    ks_analyzer_opts qo = ks_analyzer_default_opts();
    qo.query = 1;
    assert_int_equal(ks_segment_open(segpath, seg, &eb), 0);
    assert_int_equal(ks_engine_new(*seg, eng, &eb), 0);
    assert_int_equal(ks_analyzer_new(&qo, qa, &eb), 0);
}

/* Same documents and scores (1e-9 relative) as Xapian, ranked alike. */
static void test_engine_matches_xapian(void **state)
{
    (void)state;
    static const char *queries[] = { "a", "b", "c", "a b", "a c", "b c", "\"b a\"", "\"a c\"", "\"c a\"",
                                     "a OR c", "b OR c", "a -b", "b -c", "c OR b -a", "title:z", "z a",
                                     "\"a b c\"" };
    ks_errbuf eb = { "" };
    ks_segment *seg;
    ks_xdb *db;
    ks_engine *eng;
    ks_analyzer *qa;
    open_engine(&seg, &eng, &qa);
    assert_int_equal(ks_xdb_open(stub, &db, &eb), 0);
    ks_bm25 bm = KS_BM25_DEFAULTS;
    uint32_t xd[NDOCS];
    double xs[NDOCS];
    ks_engine_hit eh[NDOCS];
    for (size_t q = 0; q < sizeof queries / sizeof *queries; q++) {
        ks_query *pq;
        ks_plan plan;
        assert_int_equal(ks_query_parse(queries[q], strlen(queries[q]), &pq, &eb), 0);
        assert_int_equal(ks_plan_build(pq, qa, &plan, &eb), 0);
        size_t xn = 0, en = 0;
        uint64_t xt = 0, et = 0;
        int exact = 0;
        assert_int_equal(ks_xdb_rank(db, &plan, &bm, 0, NDOCS, NDOCS, xd, xs, &xn, &xt, &exact, &eb), 0);
        int estimated = 1;
        assert_int_equal(ks_engine_search(eng, &plan, &bm, 0, NDOCS, 0, eh, &en, &et, &estimated, &eb), 0);
        assert_int_equal(estimated, 0);
        char desc[512];
        ks_plan_describe(&plan, desc, sizeof desc);
        if (xt != et || xn != en)
            fail_msg("%s: %s: xapian %llu matches, engine %llu", queries[q], desc, (unsigned long long)xt,
                     (unsigned long long)et);
        for (size_t i = 0; i < xn; i++)
            if (xd[i] != eh[i].docid || fabs(xs[i] - eh[i].score) > 1e-9 * fabs(xs[i]))
                fail_msg("%s: %s: rank %zu xapian %u (%.17g), engine %u (%.17g)", queries[q], desc, i + 1, xd[i],
                         xs[i], eh[i].docid, eh[i].score);
        ks_plan_free(&plan);
        ks_query_free(pq);
    }
    ks_analyzer_free(qa);
    ks_engine_free(eng);
    ks_xdb_close(db);
    ks_segment_close(seg);
}

/* ks_segment_position_starts: for every term with positions, the table
 * gives each posting's count as ks_segment_positions does; a table made to
 * descend (and the file resealed, so only this check can see it) is
 * KS_ECORRUPT. */
static void test_position_starts(void **state)
{
    (void)state;
    ks_errbuf eb = { "" };
    ks_segment *s;
    assert_int_equal(ks_segment_open(segpath, &s, &eb), 0);
    const ks_seg_header *h = ks_segment_header(s);
    const ks_seg_term *victim = NULL;
    for (uint64_t k = 0; k < h->n_terms; k++) {
        const ks_seg_term *t = ks_segment_term_at(s, k);
        const uint32_t *st;
        assert_int_equal(ks_segment_position_starts(s, t, &st, &eb), 0);
        assert_true((st != NULL) == (t->has_pos != 0));
        for (uint32_t i = 0; st && i < t->termfreq; i++) {
            const uint32_t *pos;
            uint32_t np;
            assert_int_equal(ks_segment_positions(s, t, i, &pos, &np, &eb), 0);
            assert_int_equal(np, st[i + 1] - st[i]);
        }
        if (st && t->termfreq >= 2 && st[1] > st[0] && !victim)
            victim = t;
    }
    assert_non_null(victim);
    size_t at = h->sect[KS_SEG_POSITIONS].off + victim->pos_off + 4; /* starts[1] */
    uint64_t vk = 0;
    while (ks_segment_term_at(s, vk) != victim)
        vk++;
    ks_segment_close(s);
    size_t n;
    uint8_t *p = slurp(&n);
    uint32_t big = 0xfffffff0u;
    memcpy(p + at, &big, 4); /* starts[1] > starts[2]: descends */
    ks_segment_seal(p, n);
    assert_int_equal(open_bytes("starts-bad", p, n, &s, &eb), 0);
    const uint32_t *st = (const uint32_t *)1;
    assert_int_equal(ks_segment_position_starts(s, ks_segment_term_at(s, vk), &st, &eb), KS_ECORRUPT);
    assert_null(st);
    assert_non_null(strstr(eb.msg, "positions are damaged"));
    ks_segment_close(s);
    free(p);
}

/* OR with pruning (MaxScore): "title:z" (14 documents, rare, wdf 3) bounds
 * far above "a" (every document), so after z's documents the top 10 is
 * settled and a is scored only over them: the pages must be the unpruned
 * ranking's bit for bit, the total flagged as an estimate; without prune,
 * or with limit 0 (COUNT), exact. Both child orders, as scores are summed
 * in plan order. */
static void test_engine_or_pruned(void **state)
{
    (void)state;
    static const char *queries[] = { "title:z OR a", "a OR title:z" };
    ks_errbuf eb = { "" };
    ks_segment *seg;
    ks_engine *eng;
    ks_analyzer *qa;
    open_engine(&seg, &eng, &qa);
    ks_bm25 bm = KS_BM25_DEFAULTS;
    static ks_engine_hit all[NDOCS];
    for (size_t q = 0; q < sizeof queries / sizeof *queries; q++) {
        ks_query *pq;
        ks_plan plan;
        assert_int_equal(ks_query_parse(queries[q], strlen(queries[q]), &pq, &eb), 0);
        assert_int_equal(ks_plan_build(pq, qa, &plan, &eb), 0);
        assert_true(ks_plan_is_or(&plan));
        size_t n = 0;
        uint64_t total = 0;
        int est = 1;
        assert_int_equal(ks_engine_search(eng, &plan, &bm, 0, NDOCS, 0, all, &n, &total, &est, &eb), 0);
        assert_int_equal(est, 0);
        assert_int_equal(total, NDOCS);
        assert_int_equal(n, NDOCS);
        est = 1;
        assert_int_equal(ks_engine_search(eng, &plan, &bm, 0, 0, 1, NULL, &n, &total, &est, &eb), 0);
        assert_int_equal(est, 0); /* no page: nothing to prune for */
        assert_int_equal(total, NDOCS);
        for (uint32_t off = 0; off <= 4; off += 4) {
            ks_engine_hit page[10];
            est = 0;
            uint64_t scored, postings;
            assert_int_equal(ks_engine_search(eng, &plan, &bm, off, 10, 1, page, &n, &total, &est, &eb), 0);
            ks_engine_last_work(eng, &scored, &postings);
            assert_int_equal(est, 1);
            assert_true(total >= 14 && total <= NDOCS);
            assert_true(scored < postings / 2); /* most of a's postings never scored */
            assert_int_equal(n, 10);
            for (size_t i = 0; i < n; i++)
                if (page[i].docid != all[off + i].docid || page[i].score != all[off + i].score)
                    fail_msg("%s offset %u rank %zu: pruned %u (%.17g), unpruned %u (%.17g)", queries[q], off,
                             off + i + 1, page[i].docid, page[i].score, all[off + i].docid, all[off + i].score);
        }
        ks_plan_free(&plan);
        ks_query_free(pq);
    }
    ks_analyzer_free(qa);
    ks_engine_free(eng);
    ks_segment_close(seg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_flipped_bytes),
        cmocka_unit_test(test_magic_and_version),
        cmocka_unit_test(test_shared_open),
        cmocka_unit_test(test_lazy_dictionary),
        cmocka_unit_test(test_concurrent_first_use),
        cmocka_unit_test(test_seal),
        cmocka_unit_test(test_engine_damaged_block),
        cmocka_unit_test(test_engine_matches_xapian),
        cmocka_unit_test(test_engine_or_pruned),
        cmocka_unit_test(test_position_starts),
        cmocka_unit_test(test_buffer_sizes),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_build_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
