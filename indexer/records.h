/* Record readers for kosearch-indexer: JSON Lines (plain or gzip) and folders
 * of UTF-8 text files. Each record is validated here, in the reading thread,
 * so a bad record is reported with its file and line and never reaches a
 * worker. */
#ifndef KS_RECORDS_H
#define KS_RECORDS_H

#include <stddef.h>
#include <stdint.h>

#include "ks_error.h"

enum ks_input_format { KS_FMT_JSONL = 0, KS_FMT_TEXT = 1 };

#define KS_MAX_RECORD_BYTES (64u << 20) /* a longer line or file is a bad record */

/* One document. All strings live in one malloc'd block (mem) that the record
 * owns; ks_record_free() releases it. */
typedef struct ks_record {
    char *mem;           /* owner of every string below */
    const char *id;      /* external id (UTF-8, non-empty) */
    size_t id_len;
    const char *title;   /* may be empty */
    size_t title_len;
    const char *body;    /* may be empty */
    size_t body_len;
    const char *data;    /* stored fields: one JSON object */
    size_t data_len;
    const char *file;    /* input it came from (borrowed from the reader) */
    unsigned long line;  /* line number (JSON Lines) or 0 (text files) */
    size_t in_bytes;     /* input bytes this record took */
} ks_record;

typedef struct ks_reader ks_reader;

/* Opens inputs (files; "-" is stdin; for KS_FMT_TEXT, folders, read
 * recursively in name order). .gz files are decompressed. */
int ks_reader_open(const char *const *inputs, size_t n, int format, ks_reader **out /* OUT */,
                   ks_errbuf *eb);

/* Reads the next record into *rec. Returns 1 for a record, 0 at the end,
 * KS_EINVAL for a bad record (eb says why; *file and *line say where; the
 * reader has moved past it), or another negative code for a fatal error. */
int ks_reader_next(ks_reader *r, ks_record *rec /* OUT */, const char **file /* OUT */,
                   unsigned long *line /* OUT */, ks_errbuf *eb);

/* Input file bytes consumed so far, and their total when known (else 0):
 * compressed bytes for .gz inputs, so they measure progress, not volume. */
uint64_t ks_reader_done_bytes(const ks_reader *r);
uint64_t ks_reader_total_bytes(const ks_reader *r);
/* Uncompressed input bytes read so far (for MB/s). */
uint64_t ks_reader_raw_bytes(const ks_reader *r);

void ks_reader_close(ks_reader *r);
void ks_record_free(ks_record *rec);

/* Validates one JSON Lines record (exposed for tests and fuzzing): 1 with a
 * record, 0 for a blank line, KS_EINVAL (eb says why) for a bad one. */
int ks_record_from_json(const char *line, size_t len, ks_record *rec /* OUT */, ks_errbuf *eb);

#endif
