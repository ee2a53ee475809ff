/* The document store: each document's id, title and body, laid out for the
 * searcher to copy out with two preads, built beside the scoring segment from
 * the stored data Xapian keeps (the system of record). A SEARCH reply needs
 * the title and body of every hit for its highlights and snippet; taking them
 * from Xapian costs a zlib inflate and a JSON parse of the whole record a
 * hit, most of a reply's time on a small index (bench/RESULTS.md, "Stored
 * fields beside the segment"). --engine xapian, and a searcher whose store is
 * missing or damaged, still read Xapian's data: same fields, slower.
 *
 * File format (version 1), integers little-endian:
 *   header   ks_docstore_header, 64 bytes at offset 0
 *   RECORDS  from offset 64: per document, in document number order,
 *              uint32 crc32 of the rest of the record
 *              uint32 docid, id_len, title_len, body_len
 *              the id, title and body bytes (UTF-8 as stored, not
 *              NUL-terminated)
 *   INDEX    at index_off: uint64 off[lastdocid + 2]; document d's record
 *            is file[off[d] .. off[d + 1]), empty when no document has
 *            that number; off[lastdocid + 1] == index_off.
 * Nothing is checked in bulk at open (the header only; an offsets table of
 * up to 1 MiB (KOSEARCH_DOCSTORE_INDEX_INLINE bytes from the environment:
 * tests) is read into memory, so opening takes milliseconds whatever
 * the size): a record is checked each time it is read,
 * on the caller's copy (its bounds, length fields, document number and
 * crc), so a damaged file gives KS_ECORRUPT for the damaged documents and
 * never a wrong field, and a file is read with pread, never mapped, so a
 * truncated one is a short read, not a SIGBUS. */
#ifndef KS_DOCSTORE_H
#define KS_DOCSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "ks_error.h"

#define KS_DOCSTORE_MAGIC "KSDOCST\0"
#define KS_DOCSTORE_VERSION 1u
#define KS_DOCSTORE_RECORD_HEAD 20u /* crc, docid and the three lengths */

typedef struct ks_docstore_header {
    char magic[8];          /* KS_DOCSTORE_MAGIC */
    uint32_t version;       /* KS_DOCSTORE_VERSION */
    uint32_t header_size;   /* sizeof(ks_docstore_header) */
    uint64_t revision;      /* kosearch.revision of the database it was built from */
    uint64_t doccount;      /* documents (records that are not empty) */
    uint64_t lastdocid;     /* highest document number */
    uint64_t index_off;     /* offset of INDEX (= end of RECORDS) */
    uint64_t file_size;     /* the whole file: index_off + 8 * (lastdocid + 2) */
    uint32_t reserved;      /* 0 */
    uint32_t header_crc;    /* crc32 of the header's bytes before this field */
} ks_docstore_header;

/* A document's stored fields. The pointers are borrowed: from the parsed
 * JSON (ks_stored_parse; release with ks_stored_free) or from the caller's
 * buffer (ks_docstore_get). None is NUL-terminated by contract; lengths
 * count bytes, and a field may hold NUL bytes. */
typedef struct ks_stored {
    const char *id, *title, *body;
    size_t id_len, title_len, body_len;
    void *json; /* the parsed object behind the pointers, or NULL */
} ks_stored;

/* Parses Xapian's stored data of document docid (the JSON object the
 * indexer writes: "id" a string, "title" and "body" strings or absent). 0,
 * or KS_ECORRUPT with a message naming docid when it is not such an object
 * (no string id). */
int ks_stored_parse(const char *data, size_t len, uint32_t docid, ks_stored *out /* OUT */, ks_errbuf *eb);
void ks_stored_free(ks_stored *f);

/* Builds the store of the Xapian database at xapian_path into out_path:
 * written to out_path + ".part", synced, then renamed over out_path, so a
 * reader opening out_path sees the old file or the new one. Memory: 8 bytes
 * a document number plus one document. 0, or KS_E* with a message (a
 * document whose stored data does not parse: KS_ECORRUPT naming it); on
 * failure no .part file is left behind. */
int ks_docstore_build(const char *xapian_path, const char *out_path, ks_errbuf *eb);

typedef struct ks_docstore ks_docstore;

/* Opens path and checks its header (magic, version, crc, sizes against the
 * file's). KS_ENOTFOUND when there is no file, KS_ECORRUPT with a message
 * when the header is damaged or of another version, KS_EIO. */
int ks_docstore_open(const char *path, ks_docstore **out /* OUT */, ks_errbuf *eb);
void ks_docstore_close(ks_docstore *d);

/* The validated header. */
const ks_docstore_header *ks_docstore_header_of(const ks_docstore *d);

/* Reads document docid's record into *buf (malloc'd and grown as needed,
 * *cap its size: owned by the caller and reusable across calls; free it
 * when done) and points *f into it (f->json NULL). 0; KS_ENOTFOUND when no
 * document has that number; KS_ECORRUPT with a message when its record is
 * damaged or cut short; KS_EIO; KS_ENOMEM. Thread-safe (pread). */
int ks_docstore_get(const ks_docstore *d, uint32_t docid, char **buf, size_t *cap, ks_stored *f /* OUT */,
                    ks_errbuf *eb);

#endif
