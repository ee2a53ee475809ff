/* The positions log: a temporary artefact of `kosearch-indexer build`.
 * Each shard's writer thread appends, for every document it hands to
 * Xapian, the positions Xapian stores for it (per term with positions: the
 * ascending, distinct positions), so that the segment builder
 * (core/segment_build.c) can take a posting's positions from here instead
 * of Xapian's position lists: Xapian 1.4 opens a fresh B-tree cursor for
 * every (term, document) position list, two 8 KiB preads each, which was
 * most of the segment build's time. The log lives in the generation being
 * built (GEN/shard-K.poslog), is deleted once the segment is written, and
 * is never published; a killed build leaves it in gen-N.tmp, which the
 * next run sweeps.
 *
 * ---- file format (version 1), integers little-endian ---------------------
 *   header   ks_poslog_header, 64 bytes at offset 0, written last (a file
 *            whose writer did not finish has none that validates)
 *   data     one record per document of the shard, in local document
 *            number order (1, 2, ...): for each term with positions, in
 *            term byte order (memcmp, shorter first): varint term length
 *            (>= 1), the term bytes, varint npos (>= 1), varint byte length
 *            of the positions that follow, then the positions as varints:
 *            the first, then the gaps (each >= 1). Varints are LEB128, at
 *            most 5 bytes, values below 2^32.
 *   zeros    to an 8-byte boundary
 *   table    uint64 off[ndocs + 1]: document k's record is
 *            data[off[k-1] .. off[k]), off[0] = 0, off[ndocs] = data_size
 *   Opening checks the header (magic, version, its crc, the sizes against
 *   the file's), the crc32 of data and table and that the table ascends;
 *   reading checks every record's bounds and varints, and that its terms
 *   come in the order the builder walks them. Anything wrong is
 *   KS_ECORRUPT with a message, and the builder falls back to Xapian.
 *
 * Document numbers: shard K of N (0-based) numbers its documents 1, 2, ...
 * and Xapian's stub database interleaves them: global = (local - 1) * N +
 * K + 1. */
#ifndef KS_POSLOG_H
#define KS_POSLOG_H

#include <stddef.h>
#include <stdint.h>

#include "ks_error.h"

#define KS_POSLOG_MAGIC "KSPOSLG\0"
#define KS_POSLOG_VERSION 1u
#define KS_POSLOG_BUFFER (256u << 10) /* write buffer per shard */

typedef struct ks_poslog_header {
    char magic[8];       /* KS_POSLOG_MAGIC */
    uint32_t version;    /* KS_POSLOG_VERSION */
    uint32_t shard;      /* K */
    uint32_t nshards;    /* N */
    uint32_t data_crc;   /* crc32 of data */
    uint64_t ndocs;      /* documents (records) */
    uint64_t data_size;  /* bytes of data, which starts at 64 */
    uint64_t table_off;  /* offset of the table: 64 + data_size rounded up to 8 */
    uint32_t table_crc;  /* crc32 of the table */
    uint32_t pad;
    uint32_t pad2;
    uint32_t header_crc; /* crc32 of the header's bytes before this field */
} ks_poslog_header;

/* ---- writing (one writer per shard, used by one thread) ----------------- */

typedef struct ks_poslog_writer ks_poslog_writer;

/* Creates path (which must not exist) for shard of nshards. */
int ks_poslog_writer_open(const char *path, unsigned shard, unsigned nshards, ks_poslog_writer **out /* OUT */,
                          ks_errbuf *eb);

/* Appends a term of the current document with its positions (npos >= 1;
 * sorted and made distinct here if they are not). Terms must come in term
 * order. The signature is ks_xdb_term_fn's (ud is the writer; wdf unused),
 * so ks_xdb_writer_add_positions can call it directly. KS_EIO with a
 * message in the writer's errbuf (ks_poslog_writer_error) on a failed
 * write. */
int ks_poslog_put_term(void *w, const char *term, size_t len, uint32_t wdf, const uint32_t *pos, size_t npos);

/* Ends the current document, which Xapian numbered docid in this shard: it
 * must be the next number (1, 2, ...); KS_EINVAL otherwise. */
int ks_poslog_end_doc(ks_poslog_writer *w, uint32_t docid, ks_errbuf *eb);

/* The message of the last failed ks_poslog_put_term. */
const char *ks_poslog_writer_error(const ks_poslog_writer *w);

/* Writes the table and the header (commit non-zero; no fsync: the file is
 * a throw-away) or removes the file (commit 0), then frees w. */
int ks_poslog_writer_close(ks_poslog_writer *w, int commit, ks_errbuf *eb);

/* ---- reading (the segment builder) ------------------------------------ */

typedef struct ks_poslog ks_poslog;

/* Maps and validates the logs of shards 0 .. n-1 (paths[k] is shard k's).
 * KS_ENOTFOUND when a file is missing, KS_ECORRUPT with a message when one
 * fails validation, KS_EIO. Thread-safe to read once opened. */
int ks_poslog_open(const char *const *paths, unsigned n, ks_poslog **out /* OUT */, ks_errbuf *eb);
void ks_poslog_close(ks_poslog *pl);

/* Documents over every shard. */
uint64_t ks_poslog_doccount(const ks_poslog *pl);

/* A reader's walk: terms in byte order from `from` (NULL: the first), each
 * term's documents in ascending order, as the segment builder walks them.
 * It keeps where it is in every document's record (4 bytes a document). */
typedef struct ks_poslog_cursor {
    uint32_t *at;        /* per global docid: 1 + offset in its record; 0: not started */
    uint64_t n;          /* entries of at */
    const char *from;    /* the walk's first term */
    size_t from_len;
} ks_poslog_cursor;

int ks_poslog_cursor_init(ks_poslog_cursor *c, const ks_poslog *pl, const char *from, size_t from_len,
                          ks_errbuf *eb);
void ks_poslog_cursor_free(ks_poslog_cursor *c);

/* The positions of term in global document docid: *npos of them (0: the
 * document has none for it), decoded by ks_poslog_decode into room the
 * caller provides. 0, or KS_ECORRUPT with a message when the record is
 * damaged or holds a term the walk has passed (the log does not match the
 * database). */
typedef struct ks_poslog_hit {
    const uint8_t *p, *end; /* the encoded positions */
    uint32_t npos;
} ks_poslog_hit;
int ks_poslog_find(const ks_poslog *pl, ks_poslog_cursor *c, uint32_t docid, const char *term, size_t len,
                   ks_poslog_hit *hit /* OUT */, ks_errbuf *eb);
int ks_poslog_decode(const ks_poslog_hit *hit, uint32_t *out /* npos */, ks_errbuf *eb);

/* A hint: fetch into the cache where ks_poslog_find will next read docid's
 * record (a walk reads the records in a random order). Reads nothing past
 * the offset table; does nothing for a document the log does not hold. */
void ks_poslog_prefetch(const ks_poslog *pl, const ks_poslog_cursor *c, uint32_t docid);

#endif
