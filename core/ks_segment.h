/* The scoring segment: a read-only, memory-mapped snapshot of the Xapian
 * database (terms, postings in blocks, positions, document lengths) built
 * after every change of the index and read by the native query engine
 * (ks_engine.h). Validated when opened: a damaged file is KS_ECORRUPT.
 * A build's segment takes its positions from the positions log the shard
 * writers kept (ks_poslog.h) instead of Xapian's position lists, which cost
 * two 8 KiB preads a posting: the same file, byte for byte. */
#ifndef KS_SEGMENT_H
#define KS_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "ks_error.h"

/* ---- file format (version 3), all integers little-endian -----------------
 *
 *   header      ks_seg_header, 256 bytes at offset 0
 *   sections    each at an 8-byte aligned offset given in the header, in
 *               this order, with its size and zlib crc32 in the header:
 *     DICT      n_terms ks_seg_term entries sorted by term bytes (memcmp,
 *               shorter first on a common prefix): binary search
 *     STRINGS   the term bytes, referenced by (str_off, str_len)
 *     BLOCKS    n_blocks ks_seg_block entries; a term's blocks are
 *               blocks[block_first .. block_first + n_blocks)
 *     POSTINGS  per block: docids as streamvbyte_delta_encode(docids,
 *               n, prev = block.base), then wdfs as streamvbyte_encode;
 *               followed by KS_SEG_PAD zero bytes (the SIMD decoder reads
 *               up to 16 bytes ahead)
 *     POSITIONS for a term with positions, at its pos_off: uint32
 *               start[termfreq + 1], then uint32 pos[start[termfreq]]:
 *               the positions of the term's i-th posting are
 *               pos[start[i] .. start[i+1]), ascending (empty when the
 *               document has none for it)
 *     DOCLENS   uint32 length[lastdocid + 1], indexed by document number
 *               (0 for numbers not in use)
 *     CHUNKS    uint32 crc32 of each chunk_size bytes of the file from
 *               DICT's offset to the end of POSITIONS (the padding
 *               between sections included; the last chunk shorter)
 *   Opening checks the header, every section's bounds and order, and the
 *   checksums of DOCLENS and CHUNKS (4 bytes a document and a chunk): it
 *   takes milliseconds and never reads the rest. Everything else is checked
 *   a chunk at a time the first time a reader touches the chunk, and a
 *   dictionary entry's offsets, order and blocks the first time it is
 *   looked up, so no damaged byte is ever used: a bad chunk of POSTINGS or
 *   POSITIONS makes the query touching it fail with KS_ECORRUPT; a bad
 *   dictionary entry or block index marks the segment damaged (see
 *   ks_segment_damaged). ks_segment_verify checks everything at once.
 *   Version 2 (until 2026-12) covered only POSTINGS and POSITIONS with
 *   CHUNKS and checked the rest at open.
 *   Document numbers are Xapian's (interleaved across shards). A block
 *   holds KS_SEG_BLOCK postings except the term's last one. */

#define KS_SEG_MAGIC "KSSEGMT\0"
#define KS_SEG_VERSION 3u
#define KS_SEG_BLOCK 128
#define KS_SEG_PAD 32
#define KS_SEG_CHUNK (1u << 16) /* bytes per lazily verified checksum; the
                                   builder takes KOSEARCH_SEGMENT_CHUNK from
                                   the environment instead (tests: tiny chunks) */

enum {
    KS_SEG_DICT, KS_SEG_STRINGS, KS_SEG_BLOCKS, KS_SEG_POSTINGS, KS_SEG_POSITIONS, KS_SEG_DOCLENS, KS_SEG_CHUNKS,
    KS_SEG_NSECT
};

typedef struct ks_seg_section {
    uint64_t off, size;
    uint32_t crc, pad;
} ks_seg_section;

typedef struct ks_seg_header {
    char magic[8];             /* KS_SEG_MAGIC */
    uint32_t version;          /* KS_SEG_VERSION */
    uint32_t header_size;      /* sizeof(ks_seg_header) */
    uint64_t doccount;         /* documents */
    uint64_t lastdocid;        /* highest document number */
    uint64_t total_length;     /* sum of document lengths */
    double avglength;          /* Xapian's average length (total / doccount) */
    uint64_t revision;         /* kosearch.revision of the database it was built from */
    uint64_t n_terms, n_blocks;
    uint64_t file_size;        /* the whole file */
    ks_seg_section sect[KS_SEG_NSECT];
    uint32_t chunk_size;       /* bytes per CHUNKS checksum: KS_SEG_CHUNK (a power of two >= 64) */
    uint32_t header_crc;       /* crc32 of the header's bytes before this field */
} ks_seg_header;

typedef struct ks_seg_term {
    uint64_t str_off;          /* term bytes in STRINGS */
    uint32_t str_len;
    uint32_t termfreq;         /* postings (documents) */
    uint64_t block_first;      /* first block in BLOCKS */
    uint32_t n_blocks;
    uint32_t has_pos;          /* 1: positions at pos_off in POSITIONS */
    uint64_t pos_off;
} ks_seg_term;

typedef struct ks_seg_block {
    uint32_t base;             /* docid before the first one (previous block's last, or 0) */
    uint32_t last;             /* last docid of the block */
    uint32_t n;                /* postings, 1..KS_SEG_BLOCK */
    uint32_t max_wdf;          /* the largest wdf in the block */
    uint64_t off;              /* offset in POSTINGS */
    uint32_t doc_bytes;        /* encoded docids; the wdfs follow */
    uint32_t wdf_bytes;
} ks_seg_block;

typedef struct ks_segment ks_segment;

#define KS_SEG_BUFFER (8u << 20) /* default write buffer per streamed section */
#define KS_SEG_BUFFER_MIN 64

/* Builds the segment of the Xapian database at xapian_path (a glass
 * directory or a stub) into out_path: written to out_path + ".part",
 * synced, then renamed. 0, or KS_E* with a message (KS_EIO for a full disk
 * or an unwritable directory: then neither the .part file nor a temporary
 * file is left behind).
 * Memory is bounded whatever the index size: DICT, STRINGS, BLOCKS,
 * POSTINGS and POSITIONS are each streamed through a write buffer into
 * anonymous temporary files in out_path's directory, then copied into
 * place; only one term's positions (per thread), the document lengths (4
 * bytes a document), with a positions log a cursor per thread (4 bytes a
 * document each), and the CHUNKS table stay in memory. The disk needs
 * room for the segment twice during the copy (the temporary files are
 * released section by section).
 * Threads: the vocabulary is split into term ranges of about equal work
 * (sums of termfreq), each built by its own thread through its own
 * database handle into its own temporary files, and the ranges are joined
 * section by section (the offsets in DICT and BLOCKS rebased). The file is
 * byte for byte the same whatever the thread count; a tiny vocabulary may
 * use fewer threads than asked. Any thread's failure fails the build with
 * that thread's message, after every thread has stopped. */
typedef struct ks_seg_build_opts {
    size_t buffer_bytes; /* write buffer per section stream; 0: the environment's
                            KOSEARCH_SEGMENT_BUFFER (tests), else KS_SEG_BUFFER
                            shared by the threads (at least KS_SEG_BUFFER_SHARED_MIN
                            each); at least KS_SEG_BUFFER_MIN */
    unsigned threads;    /* 0: the environment's KOSEARCH_SEGMENT_THREADS, else the
                            online CPUs up to KS_SEG_THREADS_DEFAULT_MAX; 1: the
                            single-threaded build; at most KS_SEG_THREADS_MAX */
    const char *const *poslogs; /* the build's positions logs (ks_poslog.h), shard 0's
                            first, or NULL: the positions come from Xapian's position
                            lists. Only for the database they were written with, before
                            any change (the stub of fresh shards: not compacted, added
                            to or deleted from). A log that fails validation or does
                            not match the database is not used: the build starts over
                            from Xapian's lists and says why in *poslog_note */
    unsigned nposlogs;   /* entries of poslogs: the shard count */
    ks_errbuf *poslog_note; /* OUT, optional: empty, or why the logs were not used */
} ks_seg_build_opts;

#define KS_SEG_BUFFER_SHARED_MIN (1u << 20)
#define KS_SEG_THREADS_DEFAULT_MAX 8
#define KS_SEG_THREADS_MAX 64

/* opts NULL: every default. KS_EINVAL with a message for a bad environment
 * variable. */
int ks_segment_build_with(const char *xapian_path, const char *out_path, const ks_seg_build_opts *opts,
                          ks_errbuf *eb);
/* ks_segment_build_with(..., NULL, ...) and (..., { buffer_bytes, 0 }, ...). */
int ks_segment_build(const char *xapian_path, const char *out_path, ks_errbuf *eb);
int ks_segment_build_buffered(const char *xapian_path, const char *out_path, size_t buffer_bytes,
                              ks_errbuf *eb);

/* Maps path read-only and validates it (magic, version, every section's
 * bounds, the checksums of DOCLENS and CHUNKS; the rest is verified
 * lazily, see the format). KS_ENOTFOUND when there is no file, KS_ECORRUPT with a
 * message when it is damaged, KS_EIO. Thread-safe to read once opened. */
int ks_segment_open(const char *path, ks_segment **out /* OUT */, ks_errbuf *eb);
void ks_segment_close(ks_segment *s);

/* CRC-32 (zlib's polynomial and values, computed by ks_crc32) of p[0..n),
 * for the section checksums; any n. */
uint32_t ks_segment_crc(const void *p, uint64_t n);

/* Writes p[0..n) to fd whole, retrying interrupted and short writes: 0, or
 * -1 with errno (the builders' files: the segment's, the positions log's). */
int ks_write_all(int fd, const void *p, size_t n);

/* Recomputes every checksum of the segment image file[0..size) in place
 * (8-byte aligned), as the builder would: the CHUNKS table, then each
 * section's crc, then the header's; whatever the header's fields make
 * unreachable (a section out of bounds, a bad chunk size) is left as it is.
 * For tests and the fuzzer, which damage a segment's structure behind valid
 * checksums to reach the checks that follow them. */
void ks_segment_seal(void *file, size_t size);

/* Verifies every lazily checked chunk and dictionary entry now (the
 * indexer after a build, or a reader that wants to know at once). 0 or
 * KS_ECORRUPT with a message. */
int ks_segment_verify(const ks_segment *s, ks_errbuf *eb);

/* The validated header. */
const ks_seg_header *ks_segment_header(const ks_segment *s);

/* Finds term; NULL when the segment does not hold it, or when the lookup
 * met damage in the dictionary or the term's blocks: then the segment is
 * marked damaged (ks_segment_damaged, ks_segment_damage_reason). An entry
 * returned was checked in full (offsets, order, blocks): a reader may
 * trust it and its blocks without further checks. */
const ks_seg_term *ks_segment_find(const ks_segment *s, const char *term, size_t len);

/* The i-th dictionary entry (i < n_terms) and its bytes, checked as
 * ks_segment_find's; NULL for i >= n_terms, or when damaged (marked). */
const ks_seg_term *ks_segment_term_at(const ks_segment *s, uint64_t i);
const char *ks_segment_term_bytes(const ks_segment *s, const ks_seg_term *t);

/* The blocks of t. */
const ks_seg_block *ks_segment_blocks(const ks_segment *s, const ks_seg_term *t);

/* Decodes block b into doc[0..b->n) and wdf[0..b->n) (KS_SEG_BLOCK room
 * each). KS_ECORRUPT if the docids are not ascending within (base, last]. */
int ks_segment_decode(const ks_segment *s, const ks_seg_block *b, uint32_t *doc, uint32_t *wdf, ks_errbuf *eb);

/* The two halves of ks_segment_decode, for a reader that needs a block's
 * wdfs only when one of its documents matches. */
int ks_segment_decode_docs(const ks_segment *s, const ks_seg_block *b, uint32_t *doc, ks_errbuf *eb);
int ks_segment_decode_wdfs(const ks_segment *s, const ks_seg_block *b, uint32_t *wdf, ks_errbuf *eb);

/* Positions of t's posting number i (0-based over the term's postings):
 * *n positions at *pos (may be 0: none). KS_ECORRUPT on bad offsets. */
int ks_segment_positions(const ks_segment *s, const ks_seg_term *t, uint32_t i, const uint32_t **pos,
                         uint32_t *n, ks_errbuf *eb);

/* All of t's positions, over every posting, into *total (0 for a term
 * without positions). KS_ECORRUPT on a bad offset. */
int ks_segment_positions_total(const ks_segment *s, const ks_seg_term *t, uint64_t *total, ks_errbuf *eb);

/* The start table of t's positions: *starts (NULL for a term without
 * positions) has termfreq + 1 entries, and posting i holds
 * (*starts)[i + 1] - (*starts)[i] positions (0: none). Checked: verified,
 * ascending and inside the section, so KS_ECORRUPT otherwise. The scan is
 * linear in the term's postings: for a reader that wants the postings that
 * hold positions, not for one lookup (ks_segment_positions). */
int ks_segment_position_starts(const ks_segment *s, const ks_seg_term *t, const uint32_t **starts, ks_errbuf *eb);

/* Document lengths, indexed by docid (lastdocid + 1 entries). */
const uint32_t *ks_segment_doclens(const ks_segment *s);

/* 1 once the file was found changed under the reader (a read past its end
 * after a truncation: the SIGBUS handler put zero pages there) or marked
 * with ks_segment_set_damaged(); results ranked from it since may be
 * wrong, and a reader should rank elsewhere (ks_search.h falls back to
 * Xapian). Shared by every reader of the file in the process. Note the
 * handler: opening a segment installs a process-wide SIGBUS handler that
 * passes faults outside segment mappings on to the previous one. */
int ks_segment_damaged(const ks_segment *s);
void ks_segment_set_damaged(ks_segment *s);

/* Why a lookup marked the segment damaged (the first damage it met), or
 * NULL (not damaged, or damaged by a truncation or set_damaged). Owned by
 * the segment, valid while it is open. */
const char *ks_segment_damage_reason(const ks_segment *s);

/* Size of the file in bytes. */
uint64_t ks_segment_size(const ks_segment *s);

#endif
