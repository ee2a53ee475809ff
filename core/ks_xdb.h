/* The Xapian wrapper: the only C++ in kosearch (core/xdb.cc) behind a C API.
 * No C++ exception crosses this boundary: every call returns 0 or a negative
 * KS_E* code and puts Xapian's message in the caller's ks_errbuf.
 * Handles are not thread-safe (Xapian objects are not): one per thread. */
#ifndef KS_XDB_H
#define KS_XDB_H

#include <stddef.h>
#include <stdint.h>

#include "ks_bm25.h"
#include "ks_error.h"
#include "ks_plan.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ks_xdb ks_xdb;               /* a read-only database */
typedef struct ks_xdb_writer ks_xdb_writer; /* a writable database */

/* One posting of a document being indexed: a term at a position (or a term
 * without positions when pos == KS_XDB_NOPOS) with a wdf increment. */
#define KS_XDB_NOPOS UINT32_MAX
typedef struct ks_xposting {
    const char *term;   /* term bytes, not NUL-terminated (borrowed) */
    uint32_t len;       /* term length in bytes */
    uint32_t pos;       /* position, or KS_XDB_NOPOS */
    uint32_t wdf;       /* wdf increment */
} ks_xposting;

/* A document to add or replace. All pointers are borrowed for the call. */
typedef struct ks_xdoc {
    const char *idterm;       /* unique id term ("Q" + external id) */
    size_t idterm_len;
    const char *data;         /* stored fields (the indexer stores a JSON object) */
    size_t data_len;
    const ks_xposting *p;     /* postings */
    size_t n;                 /* number of postings */
} ks_xdoc;

/* Statistics of an open database. */
typedef struct ks_xdb_stats {
    uint64_t doccount;        /* documents */
    uint64_t lastdocid;       /* highest document number in use */
    uint64_t total_length;    /* sum of document lengths (wdf) */
    double avglength;         /* average document length */
    uint64_t revision;        /* kosearch revision: +1 for every build, add and delete (metadata) */
} ks_xdb_stats;

/* ---- reading ---------------------------------------------------------- */

/* Opens the database at path read-only: a glass directory or a Xapian stub
 * file listing shards, searched as one. 0, KS_ENOTFOUND (no database
 * there), KS_ECORRUPT or KS_EXAPIAN. Free with ks_xdb_close(). */
int ks_xdb_open(const char *path, ks_xdb **out /* OUT */, ks_errbuf *eb);
void ks_xdb_close(ks_xdb *db);

int ks_xdb_stats_get(ks_xdb *db, ks_xdb_stats *out /* OUT */, ks_errbuf *eb);

/* Counts distinct terms, optionally only those with a prefix (NULL: all);
 * walks the term list, so it costs time proportional to the vocabulary. */
int ks_xdb_count_terms(ks_xdb *db, const char *prefix, uint64_t *out /* OUT */, ks_errbuf *eb);

/* User metadata value of key into a malloc'd NUL-terminated *val (caller
 * frees); an absent key gives an empty string. */
int ks_xdb_get_metadata(ks_xdb *db, const char *key, char **val /* OUT */, ks_errbuf *eb);

/* Looks up the document whose unique term is idterm. On success *docid is
 * its number and *data a malloc'd copy of its stored data (caller frees;
 * NUL-terminated, length in *len). KS_ENOTFOUND if there is none. */
int ks_xdb_get_by_idterm(ks_xdb *db, const char *idterm, size_t idterm_len, uint32_t *docid /* OUT */,
                         char **data /* OUT */, size_t *len /* OUT */, ks_errbuf *eb);

/* Calls fn for every term of document docid in term order, with its wdf and
 * positions (npos may be 0). A non-zero return from fn stops the walk and is
 * returned. */
typedef int (*ks_xdb_term_fn)(void *ud, const char *term, size_t len, uint32_t wdf,
                              const uint32_t *pos, size_t npos);
int ks_xdb_doc_terms(ks_xdb *db, uint32_t docid, ks_xdb_term_fn fn, void *ud, ks_errbuf *eb);

/* ---- walking the whole database (the segment builder) ------------------ */

/* Calls fn for every term of the database in byte order with its document
 * frequency. A non-zero return from fn stops the walk and is returned. */
typedef int (*ks_xdb_allterm_fn)(void *ud, const char *term, size_t len, uint32_t termfreq);
int ks_xdb_all_terms(ks_xdb *db, ks_xdb_allterm_fn fn, void *ud, ks_errbuf *eb);

/* As ks_xdb_all_terms over the terms t with from <= t < to in byte order
 * (from NULL: from the first term; to NULL: to the last one included), so
 * threads can walk disjoint ranges of one database, each through its own
 * handle. */
int ks_xdb_terms_range(ks_xdb *db, const char *from, size_t from_len, const char *to, size_t to_len,
                       ks_xdb_allterm_fn fn, void *ud, ks_errbuf *eb);

/* Calls fn for every posting of term in ascending docid order (docids as
 * the database numbers them, interleaved across shards) with its wdf and,
 * when want_pos, its positions (npos may be 0: the term has no positions in
 * that document). A non-zero return from fn stops and is returned. */
typedef int (*ks_xdb_posting_fn)(void *ud, uint32_t docid, uint32_t wdf, const uint32_t *pos, size_t npos);
int ks_xdb_postings(ks_xdb *db, const char *term, size_t len, int want_pos, ks_xdb_posting_fn fn, void *ud,
                    ks_errbuf *eb);

/* Fills len[0..n) with every document's length (get_doclength), 0 for
 * document numbers not in use; n is normally lastdocid + 1. */
int ks_xdb_doclengths(ks_xdb *db, uint32_t *len /* OUT */, size_t n, ks_errbuf *eb);

/* Calls fn for every document in ascending docid order with its stored
 * data (borrowed for the call). A non-zero return from fn stops the walk and
 * is returned. */
typedef int (*ks_xdb_doc_fn)(void *ud, uint32_t docid, const char *data, size_t len);
int ks_xdb_all_docs(ks_xdb *db, ks_xdb_doc_fn fn, void *ud, ks_errbuf *eb);

/* ---- searching -------------------------------------------------------- */

/* Called for each hit in rank order with its stored data (borrowed). A
 * non-zero return stops and is returned by ks_xdb_search. */
typedef int (*ks_xdb_hit_fn)(void *ud, uint32_t docid, double score, const char *data, size_t len);

/* Runs plan with Xapian's Enquire and BM25Weight(bm25) and reports hits
 * offset .. offset+limit-1 (ties broken by ascending document number).
 * *total is the number of matching documents: exact (*exact = 1) when
 * Xapian's bounds meet, which they do once check_at_least >= the true count;
 * otherwise Xapian's estimate (*exact = 0). */
int ks_xdb_search(ks_xdb *db, const ks_plan *plan, const ks_bm25 *bm25, uint32_t offset, uint32_t limit,
                  uint64_t check_at_least, uint64_t *total /* OUT */, int *exact /* OUT */, ks_xdb_hit_fn fn,
                  void *ud, ks_errbuf *eb);

/* As ks_xdb_search without stored data: the hits' document numbers and
 * scores into docid[0..*n) and score[0..*n) (room for limit each), for the
 * parity test and benchmarks. */
int ks_xdb_rank(ks_xdb *db, const ks_plan *plan, const ks_bm25 *bm25, uint32_t offset, uint32_t limit,
                uint64_t check_at_least, uint32_t *docid /* OUT */, double *score /* OUT */, size_t *n /* OUT */,
                uint64_t *total /* OUT */, int *exact /* OUT */, ks_errbuf *eb);

/* Stored data of document docid (malloc'd, NUL-terminated, length in *len;
 * caller frees). KS_ENOTFOUND if there is no such document. */
int ks_xdb_get_data(ks_xdb *db, uint32_t docid, char **data /* OUT */, size_t *len /* OUT */, ks_errbuf *eb);

/* Renders the Xapian query built from plan (Query::get_description()) into
 * a malloc'd string (caller frees), for debugging and tests. */
int ks_xdb_describe_plan(const ks_plan *plan, char **out /* OUT */, ks_errbuf *eb);

/* ---- writing ---------------------------------------------------------- */

enum {
    KS_XDB_CREATE = 1,     /* create a new database; fail if one exists */
    KS_XDB_OPEN = 2,       /* open an existing database; fail if none */
    KS_XDB_CREATE_BULK = 3 /* create a throw-away build shard: updated in place, no fsync, no
                              transaction (close always commits); only for databases that are
                              discarded if the process dies, and synced before they are published */
};

/* Opens a writer. Xapian allows one writer per database: KS_ELOCKED if
 * another process holds it. Close with ks_xdb_writer_close(). */
int ks_xdb_writer_open(const char *path, int mode, ks_xdb_writer **out /* OUT */, ks_errbuf *eb);

/* Adds doc as a new document (no check for an existing id: for fresh shards). */
int ks_xdb_writer_add(ks_xdb_writer *w, const ks_xdoc *doc, ks_errbuf *eb);
/* As ks_xdb_writer_add, and then: *docid is the number the database gave
 * the document, and fn is called for every term of it that has positions,
 * in term order, with the positions Xapian stores (ascending, distinct;
 * npos >= 1): the build's positions log (ks_poslog.h). A non-zero return
 * from fn stops and is returned (the document stays added). */
int ks_xdb_writer_add_positions(ks_xdb_writer *w, const ks_xdoc *doc, uint32_t *docid /* OUT */, ks_xdb_term_fn fn,
                                void *ud, ks_errbuf *eb);
/* Adds doc, or replaces the document carrying the same id term. */
int ks_xdb_writer_replace(ks_xdb_writer *w, const ks_xdoc *doc, ks_errbuf *eb);
/* Deletes the document with idterm; *found tells whether one existed. */
int ks_xdb_writer_delete(ks_xdb_writer *w, const char *idterm, size_t idterm_len, int *found /* OUT */,
                         ks_errbuf *eb);
int ks_xdb_writer_set_metadata(ks_xdb_writer *w, const char *key, const char *val, ks_errbuf *eb);
/* As ks_xdb_get_metadata, through a writer. */
int ks_xdb_writer_get_metadata(ks_xdb_writer *w, const char *key, char **val /* OUT */, ks_errbuf *eb);
/* Makes everything written so far durable (an atomic Xapian commit).
 * Nothing is committed except by this call or ks_xdb_writer_close(w, 1):
 * changes accumulate in memory in between. */
int ks_xdb_writer_commit(ks_xdb_writer *w, ks_errbuf *eb);
/* Does the database already hold idterm? (uncommitted changes included) */
int ks_xdb_writer_has_idterm(ks_xdb_writer *w, const char *idterm, size_t idterm_len, int *found /* OUT */,
                             ks_errbuf *eb);
/* Commits if commit is non-zero (else discards everything since the last
 * commit), then closes and frees w (also on error). */
int ks_xdb_writer_close(ks_xdb_writer *w, int commit, ks_errbuf *eb);

/* Merges the databases at src[0..n) into a new compacted database at dst,
 * renumbering documents shard after shard. dst must not exist. */
int ks_xdb_compact(const char *const *src, size_t n, const char *dst, ks_errbuf *eb);

/* ---- Xapian's own TermGenerator: the baseline for benchmarks ---------- */

/* Indexes title and body with Xapian's TermGenerator (FLAG_CJK_NGRAM, no
 * stemmer; title under prefix "S" and unprefixed with wdf weight
 * title_weight, as kosearch does) and adds the document to w. */
int ks_xdb_writer_add_termgen(ks_xdb_writer *w, const char *idterm, size_t idterm_len, const char *title,
                              size_t title_len, const char *body, size_t body_len, const char *data,
                              size_t data_len, unsigned title_weight, ks_errbuf *eb);

/* Runs TermGenerator (FLAG_CJK_NGRAM) over text into a scratch document and
 * returns the number of distinct terms in *nterms (analyzer benchmark). */
int ks_xdb_termgen_text(const char *text, size_t len, uint64_t *nterms /* OUT */, ks_errbuf *eb);

#ifdef __cplusplus
}
#endif
#endif
