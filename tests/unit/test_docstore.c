/* Unit tests of the document store (core/docstore*.c): built from a small
 * two-shard Xapian database with a gap in its document numbers, it gives
 * every document's id, title and body exactly as Xapian's stored data does
 * (the oracle); a damaged, truncated or foreign file is an error with a
 * message, and no damaged byte ever comes back as a field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ks_crc.h"
#include "ks_docstore.h"
#include "ks_document.h"
#include "ks_indexdir.h"
#include "ks_xdb.h"
#include "unit_files.h"
#include "unit_xdb.h"

#define NDOCS 60

static char dir[64], stub[128], dspath[128];

/* Xapian's stored fields of every document number 0..NDOCS + 1 (the
 * oracle), read once: have[id] 0 when no document has the number. */
static ks_stored want[NDOCS + 2];
static char *want_data[NDOCS + 2];
static int have[NDOCS + 2];


/* Document i's stored JSON: some without a title, one with a NUL in its
 * body, one long, the rest short Korean and Latin text. */
static char *doc_json(int i)
{
    json_t *o = json_object();
    char id[32], title[64];
    snprintf(id, sizeof id, "doc-%d", i);
    json_object_set_new(o, "id", json_string(id));
    if (i % 4 != 1) {
        snprintf(title, sizeof title, "제목 %d Title", i);
        json_object_set_new(o, "title", json_string(title));
    }
    if (i == 7) {
        json_object_set_new(o, "body", json_stringn("앞\0뒤", 7));
    } else if (i == 11) {
        size_t n = 100000;
        char *b = malloc(n + 1);
        assert_non_null(b);
        for (size_t k = 0; k < n; k++)
            b[k] = (char)('a' + k % 26);
        b[n] = 0;
        json_object_set_new(o, "body", json_string(b));
        free(b);
    } else {
        char body[128];
        snprintf(body, sizeof body, "본문 %d: 검색 엔진의 문서 저장소 body text", i);
        json_object_set_new(o, "body", json_string(body));
    }
    json_object_set_new(o, "source", json_string("test"));
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

static void add_docs(ks_xdb_writer *w, int shard)
{
    ks_errbuf eb;
    for (int i = shard; i < NDOCS; i += 2) {
        char id[40];
        snprintf(id, sizeof id, "Qdoc-%d", i);
        ks_xposting p[1] = { { "a", 1, 1, 1 } };
        char *data = doc_json(i);
        ks_xdoc d = { id, strlen(id), data, strlen(data), p, 1 };
        assert_int_equal(ks_xdb_writer_add(w, &d, &eb), 0);
        free(data);
    }
    /* a gap: docs 20 and 21 of this shard deleted (numbers 41-44 unused) */
    for (int i = 40 + shard; i < 44; i += 2) {
        char id[40];
        int found = 0;
        snprintf(id, sizeof id, "Qdoc-%d", i);
        assert_int_equal(ks_xdb_writer_delete(w, id, strlen(id), &found, &eb), 0);
        assert_true(found);
    }
}

static int setup(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/ks-test-ds-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    ks_errbuf eb;
    if (unit_two_shards(dir, add_docs, "42", stub, sizeof stub))
        return -1;
    snprintf(dspath, sizeof dspath, "%s/docstore", dir);
    if (ks_docstore_build(stub, dspath, &eb)) {
        fprintf(stderr, "# build: %s\n", eb.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ks_indexdir_rmtree(dir);
    for (int i = 0; i < NDOCS + 2; i++) {
        ks_stored_free(&want[i]);
        free(want_data[i]);
    }
    return 0;
}

static void load_want(void)
{
    static int loaded;
    if (loaded++)
        return;
    ks_errbuf eb;
    ks_xdb *db;
    assert_int_equal(ks_xdb_open(stub, &db, &eb), 0);
    for (uint32_t id = 1; id <= NDOCS; id++) {
        size_t len;
        if (ks_xdb_get_data(db, id, &want_data[id], &len, &eb) == 0) {
            assert_int_equal(ks_stored_parse(want_data[id], len, id, &want[id], &eb), 0);
            have[id] = 1;
        }
    }
    ks_xdb_close(db);
}

/* Opens path; for every document number (and the ones around the range),
 * compares ks_docstore_get with Xapian's stored data. Returns the number of
 * documents it gave correctly; counts the damage it reported (KS_ECORRUPT,
 * or KS_ENOTFOUND for a document that exists) in *bad. Any field that
 * differs from Xapian's, or an unexpected code, fails the test. */
static int compare_all(const char *path, int *bad, int *open_rc)
{
    ks_errbuf eb;
    ks_docstore *d = NULL;
    *bad = 0;
    *open_rc = ks_docstore_open(path, &d, &eb);
    if (*open_rc) {
        assert_int_equal(*open_rc, KS_ECORRUPT);
        assert_true(eb.msg[0] != 0);
        return 0;
    }
    char *buf = NULL;
    size_t cap = 0;
    int good = 0;
    for (uint32_t id = 0; id <= NDOCS + 1; id++) {
        ks_stored f;
        int rc = ks_docstore_get(d, id, &buf, &cap, &f, &eb);
        if (rc == KS_ECORRUPT) {
            assert_non_null(strstr(eb.msg, "rebuild the segment"));
            (*bad)++;
        } else if (!have[id]) {
            assert_int_equal(rc, KS_ENOTFOUND);
        } else if (rc == KS_ENOTFOUND) {
            (*bad)++; /* a damaged offset made the record empty: the searcher treats it as damage */
        } else {
            assert_int_equal(rc, 0);
            assert_int_equal(f.id_len, want[id].id_len);
            assert_memory_equal(f.id, want[id].id, want[id].id_len);
            assert_int_equal(f.title_len, want[id].title_len);
            assert_memory_equal(f.title, want[id].title, want[id].title_len);
            assert_int_equal(f.body_len, want[id].body_len);
            assert_memory_equal(f.body, want[id].body, want[id].body_len);
            good++;
        }
    }
    free(buf);
    ks_docstore_close(d);
    return good;
}

static void test_round_trip(void **state)
{
    (void)state;
    load_want();
    assert_int_equal(have[41] + have[42] + have[43] + have[44], 0);
    int bad, orc;
    assert_int_equal(compare_all(dspath, &bad, &orc), NDOCS - 4);
    assert_int_equal(bad, 0);
    ks_docstore *d;
    ks_errbuf eb;
    assert_int_equal(ks_docstore_open(dspath, &d, &eb), 0);
    const ks_docstore_header *h = ks_docstore_header_of(d);
    assert_int_equal(h->revision, 42);
    assert_int_equal(h->doccount, NDOCS - 4);
    assert_int_equal(h->lastdocid, NDOCS);
    /* the fields that were checked above against Xapian, by hand too */
    char *buf = NULL;
    size_t cap = 0;
    ks_stored f;
    assert_int_equal(ks_docstore_get(d, 8, &buf, &cap, &f, &eb), 0); /* doc-7: shard 1's 4th, number 8 */
    assert_int_equal(f.id_len, 5);
    assert_memory_equal(f.id, "doc-7", 5);
    assert_int_equal(f.body_len, 7);
    assert_memory_equal(f.body, "앞\0뒤", 7);
    assert_int_equal(ks_docstore_get(d, 3, &buf, &cap, &f, &eb), 0); /* doc-2 */
    assert_memory_equal(f.title, "제목 2 Title", f.title_len);
    assert_int_equal(ks_docstore_get(d, 41, &buf, &cap, &f, &eb), KS_ENOTFOUND); /* deleted */
    free(buf);
    ks_docstore_close(d);
    /* the build leaves no .part behind */
    char part[160];
    snprintf(part, sizeof part, "%s.part", dspath);
    assert_int_equal(access(part, F_OK), -1);
}

static void write_copy(const uint8_t *p, size_t n, char *path, size_t cap)
{
    snprintf(path, cap, "%s/damaged", dir);
    unit_spit(path, p, n);
}

/* Every byte of the file flipped in turn (the long body sampled): never a
 * wrong field; a flip inside a record is found when that record is read. */
static void test_flipped_bytes(void **state)
{
    (void)state;
    size_t n;
    uint8_t *orig = unit_slurp(dspath, &n);
    ks_docstore_header h;
    memcpy(&h, orig, sizeof h);
    char path[160];
    size_t tried = 0, found = 0;
    for (size_t at = 0; at < n; at += (at > 4096 && at + 4096 < h.index_off) ? 977 : 1) {
        orig[at] ^= 0x5A;
        write_copy(orig, n, path, sizeof path);
        orig[at] ^= 0x5A;
        int bad, orc;
        int good = compare_all(path, &bad, &orc);
        tried++;
        if (orc || bad)
            found++;
        if (at >= sizeof h && at < h.index_off)
            assert_true(bad == 1 && good == NDOCS - 5); /* the record it lies in, and only that one */
        else if (at < sizeof h)
            assert_int_not_equal(orc, 0);
        (void)good;
    }
    /* the only bytes nobody reads: document number 0's offset */
    assert_int_equal(tried - found, 8);
    free(orig);
}

static void test_truncated(void **state)
{
    (void)state;
    size_t n;
    uint8_t *orig = unit_slurp(dspath, &n);
    char path[160];
    size_t cuts[] = { 0, 1, 63, 64, 65, n / 2, n - 8, n - 1 };
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        write_copy(orig, cuts[i], path, sizeof path);
        ks_docstore *d = NULL;
        ks_errbuf eb;
        assert_int_equal(ks_docstore_open(path, &d, &eb), KS_ECORRUPT);
        assert_non_null(strstr(eb.msg, "rebuild the segment"));
    }
    /* a file cut under an open reader: reads past the end are KS_ECORRUPT */
    write_copy(orig, n, path, sizeof path);
    ks_docstore *d;
    ks_errbuf eb;
    assert_int_equal(ks_docstore_open(path, &d, &eb), 0);
    assert_int_equal(truncate(path, (off_t)(n / 2)), 0);
    char *buf = NULL;
    size_t cap = 0;
    ks_stored f;
    int corrupt = 0;
    for (uint32_t id = 1; id <= NDOCS; id++) {
        int rc = ks_docstore_get(d, id, &buf, &cap, &f, &eb);
        assert_true(rc == 0 || rc == KS_ECORRUPT || rc == KS_ENOTFOUND);
        corrupt += rc == KS_ECORRUPT;
    }
    assert_true(corrupt > 0);
    free(buf);
    ks_docstore_close(d);
    free(orig);
}

static void test_magic_version_missing(void **state)
{
    (void)state;
    size_t n;
    uint8_t *orig = unit_slurp(dspath, &n);
    ks_docstore_header h;
    memcpy(&h, orig, sizeof h);
    h.version = 2;
    h.header_crc = ks_crc32(0, &h, offsetof(ks_docstore_header, header_crc));
    memcpy(orig, &h, sizeof h);
    char path[160];
    write_copy(orig, n, path, sizeof path);
    ks_docstore *d = NULL;
    ks_errbuf eb;
    assert_int_equal(ks_docstore_open(path, &d, &eb), KS_ECORRUPT);
    assert_non_null(strstr(eb.msg, "version 2, this program reads 1"));
    memcpy(orig, "KSSEGMT", 8);
    write_copy(orig, n, path, sizeof path);
    assert_int_equal(ks_docstore_open(path, &d, &eb), KS_ECORRUPT);
    assert_non_null(strstr(eb.msg, "not a kosearch document store"));
    snprintf(path, sizeof path, "%s/none", dir);
    assert_int_equal(ks_docstore_open(path, &d, &eb), KS_ENOTFOUND);
    free(orig);
}

/* Two index entries swapped: each points at a sound record of another
 * document, which the document number in the record catches. */
static void test_swapped_entries(void **state)
{
    (void)state;
    size_t n;
    uint8_t *orig = unit_slurp(dspath, &n);
    ks_docstore_header h;
    memcpy(&h, orig, sizeof h);
    /* records 3 and 5 have the same length (doc-2 and doc-4): point 3 at 5 */
    uint64_t o3, o4, o5, o6;
    memcpy(&o3, orig + h.index_off + 8 * 3, 8);
    memcpy(&o4, orig + h.index_off + 8 * 4, 8);
    memcpy(&o5, orig + h.index_off + 8 * 5, 8);
    memcpy(&o6, orig + h.index_off + 8 * 6, 8);
    assert_int_equal(o4 - o3, o6 - o5);
    memcpy(orig + h.index_off + 8 * 3, &o5, 8);
    memcpy(orig + h.index_off + 8 * 4, &o6, 8);
    char path[160];
    write_copy(orig, n, path, sizeof path);
    int bad, orc;
    /* record 3 now holds document 5's: refused on its number; records 2
     * (now 2, 3 and 4 together) and 4 (ends before it starts) on their bounds */
    assert_int_equal(compare_all(path, &bad, &orc), NDOCS - 7);
    assert_int_equal(bad, 3);
    free(orig);
}

static void test_build_errors(void **state)
{
    (void)state;
    ks_errbuf eb;
    /* a directory that does not exist: KS_EIO, nothing left behind */
    char bad[160];
    snprintf(bad, sizeof bad, "%s/no/such/dir/docstore", dir);
    assert_int_equal(ks_docstore_build(stub, bad, &eb), KS_EIO);
    assert_non_null(strstr(eb.msg, "cannot create"));
    /* stored data that is not a JSON object with an id: the document named */
    char p[128];
    snprintf(p, sizeof p, "%s/broken", dir);
    ks_xdb_writer *w;
    assert_int_equal(ks_xdb_writer_open(p, KS_XDB_CREATE, &w, &eb), 0);
    ks_xposting ps[1] = { { "a", 1, 1, 1 } };
    ks_xdoc good = { "Qok", 3, "{\"id\":\"ok\"}", 11, ps, 1 }, broken = { "Qx", 2, "{\"title\":\"x\"}", 13, ps, 1 };
    assert_int_equal(ks_xdb_writer_add(w, &good, &eb), 0);
    assert_int_equal(ks_xdb_writer_add(w, &broken, &eb), 0);
    assert_int_equal(ks_xdb_writer_close(w, 1, &eb), 0);
    snprintf(bad, sizeof bad, "%s/broken-docstore", dir);
    assert_int_equal(ks_docstore_build(p, bad, &eb), KS_ECORRUPT);
    assert_non_null(strstr(eb.msg, "document 2"));
    char part[200];
    snprintf(part, sizeof part, "%s.part", bad);
    assert_int_equal(access(part, F_OK), -1);
    assert_int_equal(access(bad, F_OK), -1);
}

/* The same checks with the offsets read from the file a pair at a time,
 * as for a store whose offsets table is over the in-memory limit. */
static void test_offsets_from_file(void **state)
{
    setenv("KOSEARCH_DOCSTORE_INDEX_INLINE", "0", 1);
    test_round_trip(state);
    test_flipped_bytes(state);
    test_truncated(state);
    test_swapped_entries(state);
    unsetenv("KOSEARCH_DOCSTORE_INDEX_INLINE");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_flipped_bytes),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_magic_version_missing),
        cmocka_unit_test(test_swapped_entries),
        cmocka_unit_test(test_build_errors),
        cmocka_unit_test(test_offsets_from_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
