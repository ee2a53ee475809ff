// The Xapian wrapper (C API in ks_xdb.h): the only C++ file of kosearch.
// Every entry point catches every exception and turns it into a KS_E* code
// plus a message, so no exception ever unwinds through C frames.
#include "ks_xdb.h"

#include <xapian.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

struct ks_xdb {
    Xapian::Database db;
};

struct ks_xdb_writer {
    Xapian::WritableDatabase db;
    std::unique_ptr<Xapian::TermGenerator> tg;  // only for the baseline
    bool in_txn;                                // changes wait in a transaction
};

namespace {

int fail(ks_errbuf *eb, int code, const std::string &what)
{
    return ks_seterr(eb, code, "%s", what.c_str());
}

// Maps the exception in flight to a code. Call only inside a catch block.
int map_exception(ks_errbuf *eb)
{
    // A write that fails in a DB_DANGEROUS (build) database makes Xapian
    // roll back, which it cannot there: the exception we get says
    // "cancel() not supported" and the cause is lost, except in errno.
    // Only out-of-room causes are named from it (they are not left behind
    // by unrelated earlier calls the way ENOENT is).
    int err = errno;
    const char *room = err == ENOSPC || err == EFBIG || err == EDQUOT ? std::strerror(err) : nullptr;
    try {
        throw;
    } catch (const Xapian::DatabaseLockError &e) {
        return fail(eb, KS_ELOCKED, "database is locked by another writer: " + e.get_msg());
    } catch (const Xapian::DatabaseCorruptError &e) {
        return fail(eb, KS_ECORRUPT, "database is corrupt: " + e.get_msg());
    } catch (const Xapian::DatabaseNotFoundError &e) {
        return fail(eb, KS_ENOTFOUND, "no database: " + e.get_msg());
    } catch (const Xapian::DatabaseOpeningError &e) {
        return fail(eb, KS_ENOTFOUND, "cannot open database: " + e.get_msg());
    } catch (const Xapian::DocNotFoundError &e) {
        return fail(eb, KS_ENOTFOUND, e.get_msg());
    } catch (const Xapian::Error &e) {
        // get_error_string() is errno's text when a system call failed
        // ("No space left on device", "File too large"): the useful part
        if (!e.get_error_string() && room)
            return fail(eb, KS_EIO, std::string("cannot write the database: ") + room + " (Xapian: " + e.get_type() +
                                        ": " + e.get_msg() + ")");
        const char *why = e.get_error_string();
        return fail(eb, KS_EXAPIAN,
                    e.get_type() + std::string(": ") + e.get_msg() + (why ? std::string(" (") + why + ")" : ""));
    } catch (const std::bad_alloc &) {
        return fail(eb, KS_ENOMEM, "out of memory");
    } catch (const std::exception &e) {
        return fail(eb, KS_EXAPIAN, e.what());
    } catch (...) {
        return fail(eb, KS_EXAPIAN, "unknown exception");
    }
}

char *dup_bytes(const std::string &s)
{
    char *p = static_cast<char *>(std::malloc(s.size() + 1));
    if (p) {
        std::memcpy(p, s.data(), s.size());
        p[s.size()] = '\0';
    }
    return p;
}

Xapian::Document make_doc(const ks_xdoc *d)
{
    Xapian::Document doc;
    for (size_t i = 0; i < d->n; i++) {
        const ks_xposting &p = d->p[i];
        std::string t(p.term, p.len);
        if (p.pos == KS_XDB_NOPOS)
            doc.add_term(t, p.wdf);
        else
            doc.add_posting(t, p.pos, p.wdf);
    }
    doc.add_boolean_term(std::string(d->idterm, d->idterm_len));
    doc.set_data(std::string(d->data, d->data_len));
    return doc;
}

Xapian::Query plan_query(const ks_plan *p, uint32_t id)
{
    const ks_plan_node &n = p->nodes[id];
    if (n.op == KS_PLAN_TERM)
        return Xapian::Query(std::string(ks_plan_term(p, &n), n.term_len));
    std::vector<Xapian::Query> kids;
    kids.reserve(n.n);
    for (uint32_t i = 0; i < n.n; i++)
        kids.push_back(plan_query(p, p->kids[n.first + i]));
    switch (n.op) {
    case KS_PLAN_AND:
        return Xapian::Query(Xapian::Query::OP_AND, kids.begin(), kids.end());
    case KS_PLAN_OR:
        return Xapian::Query(Xapian::Query::OP_OR, kids.begin(), kids.end());
    case KS_PLAN_PHRASE:
        return Xapian::Query(Xapian::Query::OP_PHRASE, kids.begin(), kids.end(), n.window);
    case KS_PLAN_AND_NOT:
        return Xapian::Query(Xapian::Query::OP_AND_NOT, kids[0], kids[1]);
    case KS_PLAN_AND_MAYBE:
        /* a + (b where b matches), over a's documents, written as
         * OR(a, FILTER(b, a)): Xapian 1.4's AndMaybePostList checks its
         * right side with check(), and when that side is an OR of phrases
         * it sometimes adds a part weighed at another document (found by
         * tests/integration/test_parity; OR + FILTER scores as specified). */
        return Xapian::Query(Xapian::Query::OP_OR, kids[0],
                             Xapian::Query(Xapian::Query::OP_FILTER, kids[1], kids[0]));
    }
    throw Xapian::InvalidArgumentError("bad plan node");
}

}  // namespace

#define KS_TRY try {
#define KS_CATCH \
    } catch (...) { return map_exception(eb); }

extern "C" {

int ks_xdb_open(const char *path, ks_xdb **out, ks_errbuf *eb)
{
    *out = nullptr;
    KS_TRY
    // path is a glass directory or a stub file listing shards (a build makes
    // one shard per thread and lists them in a stub): Xapian detects which.
    std::unique_ptr<ks_xdb> h(new ks_xdb{ Xapian::Database(path) });
    *out = h.release();
    return 0;
    KS_CATCH
}

void ks_xdb_close(ks_xdb *db)
{
    try {
        delete db;
    } catch (...) {
    }
}

int ks_xdb_stats_get(ks_xdb *db, ks_xdb_stats *o, ks_errbuf *eb)
{
    KS_TRY
    o->doccount = db->db.get_doccount();
    o->lastdocid = db->db.get_lastdocid();
    o->avglength = db->db.get_avlength();
    o->total_length = static_cast<uint64_t>(db->db.get_total_length());
    // kosearch counts its own revisions (every build, add and delete adds
    // one) because Xapian's get_revision() refuses a sharded database.
    std::string r = db->db.get_metadata("kosearch.revision");
    o->revision = r.empty() ? 0 : std::strtoull(r.c_str(), nullptr, 10);
    return 0;
    KS_CATCH
}

int ks_xdb_count_terms(ks_xdb *db, const char *prefix, uint64_t *out, ks_errbuf *eb)
{
    KS_TRY
    uint64_t n = 0;
    std::string pfx = prefix ? prefix : "";
    for (Xapian::TermIterator t = db->db.allterms_begin(pfx); t != db->db.allterms_end(pfx); ++t)
        n++;
    *out = n;
    return 0;
    KS_CATCH
}

int ks_xdb_get_metadata(ks_xdb *db, const char *key, char **val, ks_errbuf *eb)
{
    *val = nullptr;
    KS_TRY
    *val = dup_bytes(db->db.get_metadata(key));
    return *val ? 0 : KS_ENOMEM;
    KS_CATCH
}

int ks_xdb_get_by_idterm(ks_xdb *db, const char *idterm, size_t idterm_len, uint32_t *docid, char **data,
                         size_t *len, ks_errbuf *eb)
{
    *data = nullptr;
    KS_TRY
    std::string t(idterm, idterm_len);
    Xapian::PostingIterator p = db->db.postlist_begin(t);
    if (p == db->db.postlist_end(t))
        return ks_seterr(eb, KS_ENOTFOUND, "no document with that id");
    *docid = *p;
    std::string d = db->db.get_document(*p).get_data();
    *data = dup_bytes(d);
    if (!*data)
        return KS_ENOMEM;
    *len = d.size();
    return 0;
    KS_CATCH
}

int ks_xdb_doc_terms(ks_xdb *db, uint32_t docid, ks_xdb_term_fn fn, void *ud, ks_errbuf *eb)
{
    KS_TRY
    std::vector<uint32_t> pos;
    for (Xapian::TermIterator t = db->db.termlist_begin(docid); t != db->db.termlist_end(docid); ++t) {
        pos.clear();
        for (Xapian::PositionIterator p = t.positionlist_begin(); p != t.positionlist_end(); ++p)
            pos.push_back(*p);
        std::string term = *t;
        int rc = fn(ud, term.data(), term.size(), t.get_wdf(), pos.data(), pos.size());
        if (rc)
            return rc;
    }
    return 0;
    KS_CATCH
}

int ks_xdb_all_terms(ks_xdb *db, ks_xdb_allterm_fn fn, void *ud, ks_errbuf *eb)
{
    KS_TRY
    for (Xapian::TermIterator t = db->db.allterms_begin(); t != db->db.allterms_end(); ++t) {
        std::string term = *t;
        int rc = fn(ud, term.data(), term.size(), t.get_termfreq());
        if (rc)
            return rc;
    }
    return 0;
    KS_CATCH
}

int ks_xdb_terms_range(ks_xdb *db, const char *from, size_t from_len, const char *to, size_t to_len,
                       ks_xdb_allterm_fn fn, void *ud, ks_errbuf *eb)
{
    KS_TRY
    Xapian::TermIterator t = db->db.allterms_begin();
    if (from)
        t.skip_to(std::string(from, from_len));
    std::string end = to ? std::string(to, to_len) : std::string();
    for (; t != db->db.allterms_end(); ++t) {
        std::string term = *t;
        // std::string compares as memcmp, shorter first: Xapian's term order
        if (to && term >= end)
            break;
        int rc = fn(ud, term.data(), term.size(), t.get_termfreq());
        if (rc)
            return rc;
    }
    return 0;
    KS_CATCH
}

int ks_xdb_postings(ks_xdb *db, const char *term, size_t len, int want_pos, ks_xdb_posting_fn fn, void *ud,
                    ks_errbuf *eb)
{
    KS_TRY
    std::string t(term, len);
    std::vector<uint32_t> pos;
    for (Xapian::PostingIterator p = db->db.postlist_begin(t); p != db->db.postlist_end(t); ++p) {
        pos.clear();
        if (want_pos)
            for (Xapian::PositionIterator q = p.positionlist_begin(); q != p.positionlist_end(); ++q)
                pos.push_back(*q);
        int rc = fn(ud, *p, p.get_wdf(), pos.data(), pos.size());
        if (rc)
            return rc;
    }
    return 0;
    KS_CATCH
}

int ks_xdb_doclengths(ks_xdb *db, uint32_t *len, size_t n, ks_errbuf *eb)
{
    KS_TRY
    std::memset(len, 0, n * sizeof *len);
    for (Xapian::PostingIterator p = db->db.postlist_begin(""); p != db->db.postlist_end(""); ++p) {
        if (*p >= n)
            return ks_seterr(eb, KS_ECORRUPT, "document %u beyond the last document number", *p);
        len[*p] = p.get_doclength();
    }
    return 0;
    KS_CATCH
}

int ks_xdb_all_docs(ks_xdb *db, ks_xdb_doc_fn fn, void *ud, ks_errbuf *eb)
{
    KS_TRY
    for (Xapian::PostingIterator p = db->db.postlist_begin(""); p != db->db.postlist_end(""); ++p) {
        // the number comes from the database itself: no existence check needed
        std::string d = db->db.get_document(*p, Xapian::DOC_ASSUME_VALID).get_data();
        int rc = fn(ud, *p, d.data(), d.size());
        if (rc)
            return rc;
    }
    return 0;
    KS_CATCH
}

/* Enquire + BM25Weight on plan: the MSet of ks_xdb_search and ks_xdb_rank,
 * with the total (exact, or Xapian's estimate with *exact = 0). Throws. */
static Xapian::MSet run_plan(ks_xdb *db, const ks_plan *plan, const ks_bm25 *bm25, uint32_t offset,
                             uint32_t limit, uint64_t check_at_least, uint64_t *total, int *exact)
{
    Xapian::Enquire enq(db->db);
    enq.set_query(plan_query(plan, plan->root));
    enq.set_weighting_scheme(Xapian::BM25Weight(bm25->k1, bm25->k2, bm25->k3, bm25->b, bm25->min_normlen));
    Xapian::doccount cal = check_at_least > UINT32_MAX ? UINT32_MAX : static_cast<Xapian::doccount>(check_at_least);
    Xapian::MSet m = enq.get_mset(offset, limit, cal);
    *exact = m.get_matches_lower_bound() == m.get_matches_upper_bound();
    *total = *exact ? m.get_matches_lower_bound() : m.get_matches_estimated();
    return m;
}

int ks_xdb_search(ks_xdb *db, const ks_plan *plan, const ks_bm25 *bm25, uint32_t offset, uint32_t limit,
                  uint64_t check_at_least, uint64_t *total, int *exact, ks_xdb_hit_fn fn, void *ud, ks_errbuf *eb)
{
    KS_TRY
    Xapian::MSet m = run_plan(db, plan, bm25, offset, limit, check_at_least, total, exact);
    for (Xapian::MSetIterator i = m.begin(); i != m.end(); ++i) {
        std::string data = i.get_document().get_data();
        int rc = fn(ud, *i, i.get_weight(), data.data(), data.size());
        if (rc)
            return rc;
    }
    return 0;
    KS_CATCH
}

int ks_xdb_rank(ks_xdb *db, const ks_plan *plan, const ks_bm25 *bm25, uint32_t offset, uint32_t limit,
                uint64_t check_at_least, uint32_t *docid, double *score, size_t *n, uint64_t *total, int *exact,
                ks_errbuf *eb)
{
    *n = 0;
    KS_TRY
    Xapian::MSet m = run_plan(db, plan, bm25, offset, limit, check_at_least, total, exact);
    for (Xapian::MSetIterator i = m.begin(); i != m.end() && *n < limit; ++i) {
        docid[*n] = *i;
        score[(*n)++] = i.get_weight();
    }
    return 0;
    KS_CATCH
}

int ks_xdb_get_data(ks_xdb *db, uint32_t docid, char **data, size_t *len, ks_errbuf *eb)
{
    *data = nullptr;
    KS_TRY
    std::string d = db->db.get_document(docid).get_data();
    *data = dup_bytes(d);
    if (!*data)
        return ks_seterr(eb, KS_ENOMEM, "out of memory");
    *len = d.size();
    return 0;
    KS_CATCH
}

int ks_xdb_describe_plan(const ks_plan *plan, char **out, ks_errbuf *eb)
{
    *out = nullptr;
    KS_TRY
    *out = dup_bytes(plan_query(plan, plan->root).get_description());
    return *out ? 0 : KS_ENOMEM;
    KS_CATCH
}

int ks_xdb_writer_open(const char *path, int mode, ks_xdb_writer **out, ks_errbuf *eb)
{
    *out = nullptr;
    KS_TRY
    // New databases are glass directories; an existing one may be a stub
    // listing several shards (Xapian spreads new documents over them).
    int flags = mode == KS_XDB_OPEN ? Xapian::DB_OPEN : Xapian::DB_CREATE | Xapian::DB_BACKEND_GLASS;
    bool bulk = mode == KS_XDB_CREATE_BULK;
    if (bulk) // measured: in-place updates and no fsync per commit (bench/RESULTS.md)
        flags |= Xapian::DB_DANGEROUS | Xapian::DB_NO_SYNC;
    std::unique_ptr<ks_xdb_writer> w(new ks_xdb_writer{ Xapian::WritableDatabase(path, flags), nullptr, !bulk });
    // Otherwise inside a transaction: Xapian commits on its own (at its flush
    // threshold and on close), and "close without commit" must discard.
    if (w->in_txn)
        w->db.begin_transaction(true);
    *out = w.release();
    return 0;
    KS_CATCH
}

int ks_xdb_writer_add(ks_xdb_writer *w, const ks_xdoc *doc, ks_errbuf *eb)
{
    KS_TRY
    w->db.add_document(make_doc(doc));
    return 0;
    KS_CATCH
}

int ks_xdb_writer_add_positions(ks_xdb_writer *w, const ks_xdoc *doc, uint32_t *docid, ks_xdb_term_fn fn, void *ud,
                                ks_errbuf *eb)
{
    KS_TRY
    Xapian::Document d = make_doc(doc);
    *docid = w->db.add_document(d);
    // The document's own term list: the terms in Xapian's order with the
    // positions as Xapian keeps them (ascending, each once), in memory.
    std::vector<uint32_t> pos;
    for (Xapian::TermIterator t = d.termlist_begin(); t != d.termlist_end(); ++t) {
        pos.clear();
        for (Xapian::PositionIterator p = t.positionlist_begin(); p != t.positionlist_end(); ++p)
            pos.push_back(*p);
        if (pos.empty())
            continue;
        // Glass (1.4) packs a list as its last position, then the first,
        // the count and the rest in bits, each coded in as many bits as its
        // range needs: for exactly {0, 1} that is zero bits, and the list
        // reads back as the one-entry list {1}. The log gives what the
        // database reads back (tests/unit/test_poslog checks it against
        // Xapian's own lists).
        if (pos.size() == 2 && pos[0] == 0 && pos[1] == 1)
            pos.erase(pos.begin());
        const std::string &term = *t;
        int rc = fn(ud, term.data(), term.size(), t.get_wdf(), pos.data(), pos.size());
        if (rc)
            return rc;
    }
    return 0;
    KS_CATCH
}

int ks_xdb_writer_replace(ks_xdb_writer *w, const ks_xdoc *doc, ks_errbuf *eb)
{
    KS_TRY
    w->db.replace_document(std::string(doc->idterm, doc->idterm_len), make_doc(doc));
    return 0;
    KS_CATCH
}

int ks_xdb_writer_has_idterm(ks_xdb_writer *w, const char *idterm, size_t idterm_len, int *found, ks_errbuf *eb)
{
    KS_TRY
    *found = w->db.term_exists(std::string(idterm, idterm_len)) ? 1 : 0;
    return 0;
    KS_CATCH
}

int ks_xdb_writer_delete(ks_xdb_writer *w, const char *idterm, size_t idterm_len, int *found, ks_errbuf *eb)
{
    KS_TRY
    std::string t(idterm, idterm_len);
    *found = w->db.term_exists(t) ? 1 : 0;
    if (*found)
        w->db.delete_document(t);
    return 0;
    KS_CATCH
}

int ks_xdb_writer_get_metadata(ks_xdb_writer *w, const char *key, char **val, ks_errbuf *eb)
{
    *val = nullptr;
    KS_TRY
    *val = dup_bytes(w->db.get_metadata(key));
    return *val ? 0 : KS_ENOMEM;
    KS_CATCH
}

int ks_xdb_writer_set_metadata(ks_xdb_writer *w, const char *key, const char *val, ks_errbuf *eb)
{
    KS_TRY
    w->db.set_metadata(key, val);
    return 0;
    KS_CATCH
}

int ks_xdb_writer_commit(ks_xdb_writer *w, ks_errbuf *eb)
{
    KS_TRY
    if (w->in_txn) {
        w->db.commit_transaction();
        w->db.begin_transaction(true);
    } else {
        w->db.commit();
    }
    return 0;
    KS_CATCH
}

int ks_xdb_writer_close(ks_xdb_writer *w, int commit, ks_errbuf *eb)
{
    int rc = 0;
    try {
        if (w->in_txn && commit)
            w->db.commit_transaction();
        else if (w->in_txn)
            w->db.cancel_transaction();
        else if (commit)
            w->db.commit();
        w->db.close();
    } catch (...) {
        rc = map_exception(eb);
    }
    try {
        delete w;
    } catch (...) {
    }
    return rc;
}

int ks_xdb_compact(const char *const *src, size_t n, const char *dst, ks_errbuf *eb)
{
    KS_TRY
    Xapian::Database all;
    for (size_t i = 0; i < n; i++)
        all.add_database(Xapian::Database(src[i]));
    all.compact(dst, Xapian::DBCOMPACT_MULTIPASS);
    return 0;
    KS_CATCH
}

int ks_xdb_writer_add_termgen(ks_xdb_writer *w, const char *idterm, size_t idterm_len, const char *title,
                              size_t title_len, const char *body, size_t body_len, const char *data,
                              size_t data_len, unsigned title_weight, ks_errbuf *eb)
{
    KS_TRY
    if (!w->tg) {
        w->tg.reset(new Xapian::TermGenerator());
        w->tg->set_flags(Xapian::TermGenerator::FLAG_CJK_NGRAM);
    }
    Xapian::Document doc;
    Xapian::TermGenerator &tg = *w->tg;
    tg.set_document(doc);
    std::string t(title, title_len);
    tg.index_text(t, 1, "S");
    tg.index_text(t, title_weight);
    tg.increase_termpos(100);
    tg.index_text(std::string(body, body_len));
    doc.add_boolean_term(std::string(idterm, idterm_len));
    doc.set_data(std::string(data, data_len));
    w->db.add_document(doc);
    return 0;
    KS_CATCH
}

int ks_xdb_termgen_text(const char *text, size_t len, uint64_t *nterms, ks_errbuf *eb)
{
    KS_TRY
    static thread_local std::unique_ptr<Xapian::TermGenerator> tg;
    if (!tg) {
        tg.reset(new Xapian::TermGenerator());
        tg->set_flags(Xapian::TermGenerator::FLAG_CJK_NGRAM);
    }
    Xapian::Document doc;
    tg->set_document(doc);
    tg->index_text(std::string(text, len));
    *nterms = doc.termlist_count();
    return 0;
    KS_CATCH
}

}  // extern "C"
