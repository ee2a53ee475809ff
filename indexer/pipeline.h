/* The indexing pipeline: the calling thread reads and validates records;
 * worker threads analyse them and write to their own Xapian writer (one
 * shard each for a build, the one live database for an add). Batches go
 * through one bounded queue that every worker takes from, so a worker in a
 * long commit never holds up the others, and memory stays bounded. */
#ifndef KS_PIPELINE_H
#define KS_PIPELINE_H

#include <stdint.h>

#include "ks_poslog.h"
#include "ks_xdb.h"
#include "records.h"

typedef struct ks_pipeline_opts {
    int nworkers;              /* worker threads = writers */
    ks_xdb_writer **writers;   /* nworkers writers, one per worker (borrowed) */
    int replace;               /* replace documents with the same id (add) rather than plain add */
    int dedupe;                /* report a repeated id within the input as a bad record (build) */
    unsigned long commit_every;/* commit each writer after this many of its documents */
    uint64_t commit_bytes;     /* ... or after this many input bytes (title, body, record) of them; 0: no limit */
    int strict;                /* stop at the first bad record */
    int progress;              /* show progress on stderr */
    int quiet;                 /* no bad-record messages beyond the count */
    int commit_at_end;         /* each worker commits its writer when done (build: shards flush in parallel) */
    ks_poslog_writer **poslogs;/* NULL, or one per worker: each document's positions go to its
                                  worker's log too (build, fresh shards: ks_poslog.h) */
} ks_pipeline_opts;

typedef struct ks_pipeline_stats {
    uint64_t docs;             /* documents written */
    uint64_t bad;              /* bad records skipped */
    uint64_t bytes;            /* input bytes read */
    uint64_t invalid_utf8;     /* invalid UTF-8 sequences replaced during analysis */
    double seconds;            /* wall time of the pipeline */
} ks_pipeline_stats;

/* Runs the pipeline over r. Returns 0 when every record was read (bad ones
 * counted in st->bad), KS_EINVAL when --strict stopped it at a bad record,
 * or another negative code for a fatal error (eb says which). */
int ks_pipeline_run(ks_reader *r, const ks_pipeline_opts *o, ks_pipeline_stats *st /* OUT */, ks_errbuf *eb);

#endif
