/* Unit tests of the Xapian wrapper (core/xdb.cc): documents in and out,
 * replace and delete by id, metadata, compaction, and that Xapian's errors
 * come back as codes with messages (never as exceptions). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ks_indexdir.h"
#include "ks_xdb.h"

static char tmpl[64];

static int setup(void **state)
{
    (void)state;
    strcpy(tmpl, "/tmp/ks-test-xdb-XXXXXX");
    return mkdtemp(tmpl) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    ks_indexdir_rmtree(tmpl);
    return 0;
}

static void path(char *out, const char *name)
{
    snprintf(out, 256, "%s/%s", tmpl, name);
}

static ks_xdoc doc(const char *idterm, const char *data, ks_xposting *p, size_t n)
{
    ks_xdoc d = { idterm, strlen(idterm), data, strlen(data), p, n };
    return d;
}

typedef struct seen {
    char terms[512];
    size_t n;
} seen;

static int collect(void *ud, const char *term, size_t len, uint32_t wdf, const uint32_t *pos, size_t npos)
{
    seen *s = ud;
    char buf[128];
    int k = snprintf(buf, sizeof buf, "%s%.*s:%u", s->n ? " " : "", (int)len, term, wdf);
    for (size_t i = 0; i < npos; i++)
        k += snprintf(buf + k, sizeof buf - (size_t)k, "@%u", pos[i]);
    strncat(s->terms, buf, sizeof s->terms - strlen(s->terms) - 1);
    s->n++;
    return 0;
}

static void test_add_get_replace_delete(void **state)
{
    (void)state;
    char p[256];
    path(p, "db1");
    ks_errbuf eb;
    ks_xdb_writer *w;
    assert_int_equal(ks_xdb_writer_open(p, KS_XDB_CREATE, &w, &eb), 0);
    ks_xposting ps[] = { { "가나", 6, 1, 1 }, { "가나", 6, 4, 1 }, { "Stitle", 6, 1, 1 }, { "nopos", 5, KS_XDB_NOPOS, 2 } };
    ks_xdoc d = doc("Qdoc1", "{\"id\":\"doc1\"}", ps, 4);
    assert_int_equal(ks_xdb_writer_add(w, &d, &eb), 0);
    ks_xdoc d2 = doc("Qdoc2", "{\"id\":\"doc2\"}", ps, 1);
    assert_int_equal(ks_xdb_writer_add(w, &d2, &eb), 0);
    assert_int_equal(ks_xdb_writer_set_metadata(w, "k", "v", &eb), 0);
    assert_int_equal(ks_xdb_writer_close(w, 1, &eb), 0);

    ks_xdb *db;
    assert_int_equal(ks_xdb_open(p, &db, &eb), 0);
    ks_xdb_stats st;
    assert_int_equal(ks_xdb_stats_get(db, &st, &eb), 0);
    assert_int_equal(st.doccount, 2);
    /* lengths: doc1 = 1+1+1+2 = 5, doc2 = 1 */
    assert_int_equal(st.total_length, 6);
    uint64_t nt;
    assert_int_equal(ks_xdb_count_terms(db, NULL, &nt, &eb), 0);
    assert_int_equal(nt, 5); /* 가나, Stitle, nopos, Qdoc1, Qdoc2 */
    assert_int_equal(ks_xdb_count_terms(db, "Q", &nt, &eb), 0);
    assert_int_equal(nt, 2);
    char *data;
    size_t len;
    uint32_t docid;
    assert_int_equal(ks_xdb_get_by_idterm(db, "Qdoc1", 5, &docid, &data, &len, &eb), 0);
    assert_string_equal(data, "{\"id\":\"doc1\"}");
    assert_int_equal(len, strlen(data));
    free(data);
    seen s;
    memset(&s, 0, sizeof s);
    assert_int_equal(ks_xdb_doc_terms(db, docid, collect, &s, &eb), 0);
    /* term order is byte order: "Qdoc1" < "Stitle" < "nopos" < "가나" */
    assert_string_equal(s.terms, "Qdoc1:0 Stitle:1@1 nopos:2 가나:2@1@4");
    assert_int_equal(ks_xdb_get_by_idterm(db, "Qnone", 5, &docid, &data, &len, &eb), KS_ENOTFOUND);
    char *v;
    assert_int_equal(ks_xdb_get_metadata(db, "k", &v, &eb), 0);
    assert_string_equal(v, "v");
    free(v);
    assert_int_equal(ks_xdb_get_metadata(db, "absent", &v, &eb), 0);
    assert_string_equal(v, "");
    free(v);
    ks_xdb_close(db);

    /* replace doc1, delete doc2, delete a missing id */
    assert_int_equal(ks_xdb_writer_open(p, KS_XDB_OPEN, &w, &eb), 0);
    ks_xdoc d3 = doc("Qdoc1", "{\"id\":\"doc1\",\"v\":2}", ps + 3, 1);
    assert_int_equal(ks_xdb_writer_replace(w, &d3, &eb), 0);
    int found = -1;
    assert_int_equal(ks_xdb_writer_delete(w, "Qdoc2", 5, &found, &eb), 0);
    assert_int_equal(found, 1);
    assert_int_equal(ks_xdb_writer_delete(w, "Qdoc9", 5, &found, &eb), 0);
    assert_int_equal(found, 0);
    assert_int_equal(ks_xdb_writer_close(w, 1, &eb), 0);
    assert_int_equal(ks_xdb_open(p, &db, &eb), 0);
    assert_int_equal(ks_xdb_stats_get(db, &st, &eb), 0);
    assert_int_equal(st.doccount, 1);
    assert_int_equal(ks_xdb_get_by_idterm(db, "Qdoc1", 5, &docid, &data, &len, &eb), 0);
    assert_string_equal(data, "{\"id\":\"doc1\",\"v\":2}");
    free(data);
    ks_xdb_close(db);
}

static void test_uncommitted_is_lost(void **state)
{
    (void)state;
    char p[256];
    path(p, "db2");
    ks_errbuf eb;
    ks_xdb_writer *w;
    ks_xposting ps[] = { { "a", 1, 1, 1 } };
    assert_int_equal(ks_xdb_writer_open(p, KS_XDB_CREATE, &w, &eb), 0);
    ks_xdoc d = doc("Qa", "{}", ps, 1);
    assert_int_equal(ks_xdb_writer_add(w, &d, &eb), 0);
    assert_int_equal(ks_xdb_writer_commit(w, &eb), 0);
    ks_xdoc d2 = doc("Qb", "{}", ps, 1);
    assert_int_equal(ks_xdb_writer_add(w, &d2, &eb), 0);
    assert_int_equal(ks_xdb_writer_close(w, 0, &eb), 0); /* no commit: Qb is dropped */
    ks_xdb *db;
    ks_xdb_stats st;
    assert_int_equal(ks_xdb_open(p, &db, &eb), 0);
    assert_int_equal(ks_xdb_stats_get(db, &st, &eb), 0);
    assert_int_equal(st.doccount, 1);
    ks_xdb_close(db);
}

static void test_errors_are_codes(void **state)
{
    (void)state;
    char p[256];
    ks_errbuf eb = { "" };
    ks_xdb *db = NULL;
    path(p, "missing");
    assert_int_equal(ks_xdb_open(p, &db, &eb), KS_ENOTFOUND);
    assert_null(db);
    assert_true(strlen(eb.msg) > 0);

    /* a second writer on the same database is refused with KS_ELOCKED */
    path(p, "db3");
    ks_xdb_writer *w1, *w2 = NULL;
    assert_int_equal(ks_xdb_writer_open(p, KS_XDB_CREATE, &w1, &eb), 0);
    assert_int_equal(ks_xdb_writer_open(p, KS_XDB_OPEN, &w2, &eb), KS_ELOCKED);
    assert_null(w2);
    assert_int_equal(ks_xdb_writer_close(w1, 1, &eb), 0);
    /* KS_XDB_CREATE on an existing database fails */
    assert_true(ks_xdb_writer_open(p, KS_XDB_CREATE, &w2, &eb) < 0);

    /* a database whose files are garbage is an error, not a crash */
    path(p, "garbage");
    char f[300];
    assert_int_equal(ks_xdb_writer_open(p, KS_XDB_CREATE, &w1, &eb), 0);
    ks_xposting ps[] = { { "a", 1, 1, 1 } };
    ks_xdoc d = doc("Qa", "{}", ps, 1);
    assert_int_equal(ks_xdb_writer_add(w1, &d, &eb), 0);
    assert_int_equal(ks_xdb_writer_close(w1, 1, &eb), 0);
    snprintf(f, sizeof f, "%s/iamglass", p);
    int fd = open(f, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "garbage!", 8), 8);
    close(fd);
    int rc = ks_xdb_open(p, &db, &eb);
    assert_true(rc == KS_ECORRUPT || rc == KS_EXAPIAN || rc == KS_ENOTFOUND);
    assert_true(strlen(eb.msg) > 0);
}

static void test_compact_merges_shards(void **state)
{
    (void)state;
    char a[256], b[256], out[256];
    path(a, "sa");
    path(b, "sb");
    path(out, "merged");
    ks_errbuf eb;
    ks_xposting ps[] = { { "x", 1, 1, 1 } };
    const char *ids[] = { "Q1", "Q2", "Q3" };
    ks_xdb_writer *w;
    assert_int_equal(ks_xdb_writer_open(a, KS_XDB_CREATE, &w, &eb), 0);
    for (int i = 0; i < 2; i++) {
        ks_xdoc d = doc(ids[i], ids[i], ps, 1);
        assert_int_equal(ks_xdb_writer_add(w, &d, &eb), 0);
    }
    assert_int_equal(ks_xdb_writer_close(w, 1, &eb), 0);
    assert_int_equal(ks_xdb_writer_open(b, KS_XDB_CREATE, &w, &eb), 0);
    ks_xdoc d = doc(ids[2], ids[2], ps, 1);
    assert_int_equal(ks_xdb_writer_add(w, &d, &eb), 0);
    assert_int_equal(ks_xdb_writer_close(w, 1, &eb), 0);
    const char *src[] = { a, b };
    assert_int_equal(ks_xdb_compact(src, 2, out, &eb), 0);
    ks_xdb *db;
    ks_xdb_stats st;
    assert_int_equal(ks_xdb_open(out, &db, &eb), 0);
    assert_int_equal(ks_xdb_stats_get(db, &st, &eb), 0);
    assert_int_equal(st.doccount, 3);
    assert_int_equal(st.lastdocid, 3); /* renumbered shard after shard */
    for (int i = 0; i < 3; i++) {
        char *data;
        size_t len;
        uint32_t id;
        assert_int_equal(ks_xdb_get_by_idterm(db, ids[i], 2, &id, &data, &len, &eb), 0);
        assert_int_equal(id, (uint32_t)i + 1);
        assert_string_equal(data, ids[i]);
        free(data);
    }
    ks_xdb_close(db);
}

static void test_termgen_baseline(void **state)
{
    (void)state;
    uint64_t n = 0;
    ks_errbuf eb;
    /* FLAG_CJK_NGRAM: 카, 카카, 오 ... at least the unigrams and bigrams of 카카오 */
    assert_int_equal(ks_xdb_termgen_text("카카오", strlen("카카오"), &n, &eb), 0);
    assert_true(n >= 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_get_replace_delete), cmocka_unit_test(test_uncommitted_is_lost),
        cmocka_unit_test(test_errors_are_codes),       cmocka_unit_test(test_compact_merges_shards),
        cmocka_unit_test(test_termgen_baseline),
    };
    return cmocka_run_group_tests_name("xdb", tests, setup, teardown);
}
