/* Unit tests of the build's positions log (core/poslog.c, ks_poslog.h) and
 * of the segment builder's use of it: a segment built with the logs of a
 * three-shard database is byte for byte the one built from Xapian's
 * position lists (one thread and three); a damaged, truncated, missing,
 * unfinished, misplaced or mismatching log is not used (the builder says
 * why and builds from Xapian: the same bytes again); the documents include
 * position lists of exactly {0, 1}, which Xapian 1.4 reads back as {1}
 * (core/xdb.cc), and terms with and without positions; the writer sorts and
 * de-duplicates positions as Xapian does and fails cleanly when it cannot
 * write. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ks_indexdir.h"
#include "ks_poslog.h"
#include "ks_segment.h"
#include "ks_xdb.h"
#include "unit_files.h"

#define NDOCS 200
#define NSHARDS 3

static char dir[64], stub[128], ref[128], out[128];
static char logp[NSHARDS][128];
static const char *logs[NSHARDS];

/* Document i's postings: positions out of order and repeated, terms
 * without positions, a term with and without, a prefixed term. */
static size_t make_postings(int i, ks_xposting *p)
{
    static const char *vocab[20] = { "t00", "t01", "t02", "t03", "t04", "t05", "t06", "t07", "t08", "t09",
                                     "t10", "t11", "t12", "t13", "t14", "t15", "t16", "t17", "t18", "t19" };
    size_t n = 0;
    for (int j = 0; j < i % 13 + 3; j++)
        p[n++] = (ks_xposting){ vocab[(i + j * 3) % 7 + i % 13], 3, (uint32_t)((j * 5 + i) % 17), 1 };
    p[n++] = (ks_xposting){ "n", 1, KS_XDB_NOPOS, 2 };
    if (i % 2)
        p[n++] = (ks_xposting){ "b", 1, KS_XDB_NOPOS, 1 };
    if (i % 3)
        p[n++] = (ks_xposting){ "b", 1, (uint32_t)(i % 4), 1 };
    if (i % 5 == 0)
        p[n++] = (ks_xposting){ "Sx", 2, 0, 3 };
    if (i % 11 == 0)
        p[n++] = (ks_xposting){ "big", 3, (uint32_t)(i * 100000 + 7), 1 }; /* multi-byte varints */
    return n;
}

/* Writes shard s of the database (documents s, s + NSHARDS, ... below
 * last) at path and its positions log at log, as a build does; document
 * `extra` gets a term "b0" at position 5 too. */
static int write_shard(const char *path, const char *log, int s, int extra, int last)
{
    ks_errbuf eb;
    ks_xdb_writer *w;
    ks_poslog_writer *lw;
    if (ks_xdb_writer_open(path, KS_XDB_CREATE_BULK, &w, &eb) ||
        ks_poslog_writer_open(log, (unsigned)s, NSHARDS, &lw, &eb))
        return -1;
    /* shards of unequal sizes: 67, 67, 66 */
    for (int i = s; i < last; i += NSHARDS) {
        ks_xposting post[40];
        char id[32];
        snprintf(id, sizeof id, "Q%d", i);
        size_t n = make_postings(i, post);
        if (i == extra)
            post[n++] = (ks_xposting){ "b0", 2, 5, 1 };
        ks_xdoc d = { id, strlen(id), "{}", 2, post, n };
        uint32_t docid;
        if (ks_xdb_writer_add_positions(w, &d, &docid, ks_poslog_put_term, lw, &eb) ||
            ks_poslog_end_doc(lw, docid, &eb))
            return -1;
    }
    if (s == 0 && ks_xdb_writer_set_metadata(w, "kosearch.revision", "7", &eb))
        return -1;
    if (ks_xdb_writer_close(w, 1, &eb) || ks_poslog_writer_close(lw, 1, &eb))
        return -1;
    return 0;
}

static int setup(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/ks-test-poslog-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    ks_errbuf eb;
    char rel[NSHARDS][16];
    const char *relp[NSHARDS];
    for (int s = 0; s < NSHARDS; s++) {
        char p[128];
        snprintf(rel[s], sizeof rel[s], "shard-%d", s);
        relp[s] = rel[s];
        snprintf(p, sizeof p, "%s/%s", dir, rel[s]);
        snprintf(logp[s], sizeof logp[s], "%s/shard-%d.poslog", dir, s);
        logs[s] = logp[s];
        if (write_shard(p, logp[s], s, -1, NDOCS))
            return -1;
    }
    if (ks_indexdir_write_stub(dir, relp, NSHARDS, &eb))
        return -1;
    snprintf(stub, sizeof stub, "%s/xapian", dir);
    snprintf(ref, sizeof ref, "%s/segment.ref", dir);
    snprintf(out, sizeof out, "%s/segment", dir);
    if (ks_segment_build(stub, ref, &eb)) { /* from Xapian's position lists */
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

/* Builds out with logs[0..n) on threads; the note says whether they were
 * used (empty) or why not; the file must be the reference's bytes. */
static void build_and_compare(const char *const *lp, unsigned n, unsigned threads, ks_errbuf *note)
{
    ks_errbuf eb = { "" };
    ks_seg_build_opts o = { .threads = threads, .poslogs = lp, .nposlogs = n, .poslog_note = note };
    int rc = ks_segment_build_with(stub, out, &o, &eb);
    if (rc)
        fprintf(stderr, "# %s\n", eb.msg);
    assert_int_equal(rc, 0);
    size_t a, b;
    uint8_t *want = unit_slurp(ref, &a), *got = unit_slurp(out, &b);
    assert_int_equal(a, b);
    assert_memory_equal(want, got, a);
    free(want);
    free(got);
    unlink(out);
}

/* The logs are used and give the Xapian path's bytes, on one thread and
 * on three (each thread's walk starts mid-vocabulary). */
static void test_log_gives_the_same_segment(void **state)
{
    (void)state;
    for (unsigned t = 1; t <= 3; t++) {
        ks_errbuf note = { "x" };
        build_and_compare(logs, NSHARDS, t, &note);
        assert_string_equal(note.msg, ""); /* used */
    }
}

/* Each damaged copy of shard 1's log (the others intact) makes the builder
 * fall back with a reason; the segment is still the reference's. */
static void check_fallback(const uint8_t *img, size_t n, const char *why)
{
    char bad[160];
    snprintf(bad, sizeof bad, "%s/bad.poslog", dir);
    unit_spit(bad, img, n);
    const char *lp[NSHARDS] = { logp[0], bad, logp[2] };
    for (unsigned t = 1; t <= 3; t += 2) {
        ks_errbuf note = { "" };
        build_and_compare(lp, NSHARDS, t, &note);
        if (!strstr(note.msg, why))
            fprintf(stderr, "# note: '%s', wanted '%s'\n", note.msg, why);
        assert_non_null(strstr(note.msg, why));
    }
    unlink(bad);
}

static void test_damaged_logs_fall_back(void **state)
{
    (void)state;
    size_t n;
    uint8_t *img = unit_slurp(logp[1], &n);
    uint8_t *copy = malloc(n);
    ks_poslog_header h;
    memcpy(&h, img, sizeof h);

    memcpy(copy, img, n);
    copy[sizeof h + h.data_size / 2] ^= 0x20; /* a byte of the data */
    check_fallback(copy, n, "checksum mismatch");
    memcpy(copy, img, n);
    copy[n - 3] ^= 1; /* the table */
    check_fallback(copy, n, "checksum mismatch");
    check_fallback(img, n - 8, "sizes do not match"); /* truncated */
    check_fallback(img, 10, "truncated");
    memcpy(copy, img, n);
    memset(copy, 0, sizeof h); /* a writer that never finished: no header */
    check_fallback(copy, n, "never finished");
    memcpy(copy, img, n);
    copy[20] ^= 1; /* the header */
    check_fallback(copy, n, "header checksum");

    /* shard 0's log where shard 1's should be */
    free(img);
    img = unit_slurp(logp[0], &n);
    check_fallback(img, n, "another shard");
    free(img);
    free(copy);

    /* a missing log */
    const char *lp[NSHARDS] = { logp[0], "/nonexistent/x.poslog", logp[2] };
    ks_errbuf note = { "" };
    build_and_compare(lp, NSHARDS, 1, &note);
    assert_non_null(strstr(note.msg, "cannot open"));
    /* two logs for a three-shard database */
    build_and_compare(logs, 2, 1, &note);
    assert_non_null(strstr(note.msg, "another shard"));
}

/* Intact logs (valid checksums) that do not match the database: written
 * with another database for shard 1, one with a term the real one does not
 * give document 1, and one without shard 1's last document. */
static void test_mismatching_logs_fall_back(void **state)
{
    (void)state;
    char bad[160], scratch[160];
    snprintf(bad, sizeof bad, "%s/other.poslog", dir);
    snprintf(scratch, sizeof scratch, "%s/scratch", dir);
    for (int variant = 0; variant < 2; variant++) {
        assert_int_equal(write_shard(scratch, bad, 1, variant == 0 ? 1 : -1, variant == 0 ? NDOCS : NDOCS - 2), 0);
        ks_indexdir_rmtree(scratch);
        const char *lp[NSHARDS] = { logp[0], bad, logp[2] };
        for (unsigned t = 1; t <= 3; t += 2) {
            ks_errbuf note = { "" };
            build_and_compare(lp, NSHARDS, t, &note);
            if (!strstr(note.msg, variant == 0 ? "does not give it" : "holds 199 documents"))
                fprintf(stderr, "# note: %s\n", note.msg);
            assert_non_null(strstr(note.msg, variant == 0 ? "does not give it" : "holds 199 documents"));
        }
        unlink(bad);
    }
}

/* The writer keeps positions as Xapian does (ascending, each once), reads
 * back through the cursor, refuses a document number out of turn, and a
 * failed write is KS_EIO with a message and leaves no file. */
static void test_writer(void **state)
{
    (void)state;
    char p[160];
    snprintf(p, sizeof p, "%s/w.poslog", dir);
    ks_errbuf eb = { "" };
    ks_poslog_writer *lw;
    assert_int_equal(ks_poslog_writer_open(p, 0, 1, &lw, &eb), 0);
    uint32_t pos[] = { 9, 3, 9, 1, 300000, 3 };
    assert_int_equal(ks_poslog_put_term(lw, "ab", 2, 1, pos, 6), 0);
    assert_int_equal(ks_poslog_put_term(lw, "abc", 3, 1, pos, 1), 0);
    assert_int_equal(ks_poslog_end_doc(lw, 1, &eb), 0);
    assert_int_equal(ks_poslog_end_doc(lw, 2, &eb), 0); /* a document without positions */
    assert_int_equal(ks_poslog_end_doc(lw, 4, &eb), KS_EINVAL);
    assert_int_equal(ks_poslog_writer_close(lw, 1, &eb), 0);
    assert_int_equal(ks_poslog_writer_open(p, 0, 1, &lw, &eb), KS_EIO); /* exists */

    const char *lp[1] = { p };
    ks_poslog *pl;
    assert_int_equal(ks_poslog_open(lp, 1, &pl, &eb), 0);
    assert_int_equal(ks_poslog_doccount(pl), 2);
    ks_poslog_cursor c;
    assert_int_equal(ks_poslog_cursor_init(&c, pl, NULL, 0, &eb), 0);
    ks_poslog_hit hit;
    uint32_t got[8];
    assert_int_equal(ks_poslog_find(pl, &c, 1, "a", 1, &hit, &eb), 0);
    assert_int_equal(hit.npos, 0);
    assert_int_equal(ks_poslog_find(pl, &c, 1, "ab", 2, &hit, &eb), 0);
    assert_int_equal(hit.npos, 4);
    assert_int_equal(ks_poslog_decode(&hit, got, &eb), 0);
    uint32_t want[] = { 1, 3, 9, 300000 };
    assert_memory_equal(got, want, sizeof want);
    assert_int_equal(ks_poslog_find(pl, &c, 1, "abc", 3, &hit, &eb), 0);
    assert_int_equal(hit.npos, 1);
    assert_int_equal(ks_poslog_find(pl, &c, 2, "ab", 2, &hit, &eb), 0);
    assert_int_equal(hit.npos, 0);
    assert_int_equal(ks_poslog_find(pl, &c, 3, "ab", 2, &hit, &eb), KS_ECORRUPT); /* no such document */
    ks_poslog_cursor_free(&c);
    /* a walk that starts after "ab" passes it over; one that starts before
     * it and meets "abc" first has missed "ab": the log does not match */
    assert_int_equal(ks_poslog_cursor_init(&c, pl, "abb", 3, &eb), 0);
    assert_int_equal(ks_poslog_find(pl, &c, 1, "abc", 3, &hit, &eb), 0);
    assert_int_equal(hit.npos, 1);
    ks_poslog_cursor_free(&c);
    assert_int_equal(ks_poslog_cursor_init(&c, pl, "aa", 2, &eb), 0);
    assert_int_equal(ks_poslog_find(pl, &c, 1, "abc", 3, &hit, &eb), KS_ECORRUPT);
    ks_poslog_cursor_free(&c);
    ks_poslog_close(pl);
    unlink(p);

    /* a failed write (the fault point stands for a full disk) */
    setenv("KOSEARCH_FAULT_FAIL_AT", "poslog-write", 1);
    assert_int_equal(ks_poslog_writer_open(p, 0, 1, &lw, &eb), 0);
    assert_int_equal(ks_poslog_put_term(lw, "ab", 2, 1, pos, 6), 0); /* buffered */
    assert_int_equal(ks_poslog_end_doc(lw, 1, &eb), 0);
    eb.msg[0] = 0;
    assert_int_equal(ks_poslog_writer_close(lw, 1, &eb), KS_EIO);
    unsetenv("KOSEARCH_FAULT_FAIL_AT");
    assert_non_null(strstr(eb.msg, "No space left on device"));
    assert_int_equal(access(p, F_OK), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_gives_the_same_segment),
        cmocka_unit_test(test_damaged_logs_fall_back),
        cmocka_unit_test(test_mismatching_logs_fall_back),
        cmocka_unit_test(test_writer),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
