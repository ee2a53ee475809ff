/* Reader thread + analysis/writer workers (pipeline.h). */
#include "pipeline.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "idset.h"
#include "ks_analyze.h"
#include "ks_document.h"

#define BATCH 64        /* records per hand-off: amortises the locking */
#define QUEUE_CAP 4     /* batches waiting per worker: bounds memory */
#define MAX_REPORTED 100 /* bad records described one by one; the rest are only counted */

typedef struct batch {
    ks_record rec[BATCH];
    int n;
} batch;

typedef struct worker {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;          /* signalled on push, pop and close */
    batch *q[QUEUE_CAP];
    int head, count, closing;
    ks_xdb_writer *w;
    ks_poslog_writer *log;      /* NULL: none */
    const ks_pipeline_opts *o;
    atomic_uint_fast64_t docs;
    uint64_t invalid;
    int err;                    /* first fatal error of this worker */
    ks_errbuf eb;
    atomic_int *abort;          /* shared: set by any worker on a fatal error */
} worker;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void free_batch(batch *b)
{
    for (int i = 0; i < b->n; i++)
        ks_record_free(&b->rec[i]);
    free(b);
}

static batch *pop(worker *wk)
{
    pthread_mutex_lock(&wk->mu);
    while (!wk->count && !wk->closing)
        pthread_cond_wait(&wk->cv, &wk->mu);
    batch *b = NULL;
    if (wk->count) {
        b = wk->q[wk->head];
        wk->head = (wk->head + 1) % QUEUE_CAP;
        wk->count--;
        pthread_cond_broadcast(&wk->cv);
    }
    pthread_mutex_unlock(&wk->mu);
    return b;
}

/* Index of the worker with the fewest queued batches: a worker busy in a
 * long Xapian flush then does not hold up the reader while another idles
 * (strict round-robin did). Documents are independent in a build; an add
 * has one worker. A count may be stale by the time push() runs: that only
 * picks a less ideal worker, and push() still waits for room. */
static int least_loaded(worker *wk, int n)
{
    int best = 0, best_count = QUEUE_CAP + 1;
    for (int i = 0; i < n; i++) {
        pthread_mutex_lock(&wk[i].mu);
        int c = wk[i].count;
        pthread_mutex_unlock(&wk[i].mu);
        if (c < best_count) {
            best = i;
            best_count = c;
        }
    }
    return best;
}

static void push(worker *wk, batch *b)
{
    pthread_mutex_lock(&wk->mu);
    while (wk->count == QUEUE_CAP)
        pthread_cond_wait(&wk->cv, &wk->mu);
    wk->q[(wk->head + wk->count) % QUEUE_CAP] = b;
    wk->count++;
    pthread_cond_broadcast(&wk->cv);
    pthread_mutex_unlock(&wk->mu);
}

/* Adds d to the worker's shard and its positions to the worker's log. */
static int add_logged(worker *wk, const ks_xdoc *d)
{
    uint32_t docid = 0;
    int rc = ks_xdb_writer_add_positions(wk->w, d, &docid, ks_poslog_put_term, wk->log, &wk->eb);
    if (rc && ks_poslog_writer_error(wk->log)[0]) /* the log's failure, not Xapian's */
        return ks_seterr(&wk->eb, rc, "%s", ks_poslog_writer_error(wk->log));
    return rc ? rc : ks_poslog_end_doc(wk->log, docid, &wk->eb);
}

static void *work(void *arg)
{
    worker *wk = arg;
    ks_analyzer *an = NULL;
    ks_docbuild db;
    memset(&db, 0, sizeof db);
    wk->err = ks_analyzer_new(NULL, &an, &wk->eb);
    unsigned long since_commit = 0;
    uint64_t since_bytes = 0;
    batch *b;
    while ((b = pop(wk))) {
        for (int i = 0; i < b->n && !wk->err && !atomic_load(wk->abort); i++) {
            const ks_record *r = &b->rec[i];
            ks_xdoc d;
            int rc = ks_docbuild_make(&db, an, r->id, r->id_len, r->title, r->title_len, r->body,
                                      r->body_len, r->data, r->data_len, &d, &wk->eb);
            if (!rc && wk->log)
                rc = add_logged(wk, &d);
            else if (!rc)
                rc = wk->o->replace ? ks_xdb_writer_replace(wk->w, &d, &wk->eb)
                                    : ks_xdb_writer_add(wk->w, &d, &wk->eb);
            if (rc) {
                wk->err = rc;
                break;
            }
            wk->invalid += db.n_invalid;
            atomic_fetch_add(&wk->docs, 1);
            since_bytes += r->title_len + r->body_len + r->data_len;
            if (++since_commit >= wk->o->commit_every || (wk->o->commit_bytes && since_bytes >= wk->o->commit_bytes)) {
                since_commit = 0;
                since_bytes = 0;
                if ((rc = ks_xdb_writer_commit(wk->w, &wk->eb)))
                    wk->err = rc;
            }
        }
        if (wk->err)
            atomic_store(wk->abort, 1);
        free_batch(b); /* keep draining after an error so the reader never blocks */
    }
    /* Xapian's flush is most of an index build's work: done here, each
     * shard's runs on its own core. Only for throw-away build shards: a
     * failed build deletes them, while an add must commit only on success. */
    if (wk->o->commit_at_end && !wk->err && !atomic_load(wk->abort)) {
        int rc = ks_xdb_writer_commit(wk->w, &wk->eb);
        if (rc) {
            wk->err = rc;
            atomic_store(wk->abort, 1);
        }
    }
    ks_docbuild_free(&db);
    ks_analyzer_free(an);
    return NULL;
}

static void fmt_eta(double s, char *buf, size_t cap)
{
    if (s < 0 || s > 360000) {
        snprintf(buf, cap, "--:--");
        return;
    }
    unsigned long t = (unsigned long)s;
    snprintf(buf, cap, "%lu:%02lu:%02lu", t / 3600, t / 60 % 60, t % 60);
}

static void show_progress(const ks_reader *r, worker *wk, int n, double t0)
{
    uint64_t docs = 0;
    for (int i = 0; i < n; i++)
        docs += atomic_load(&wk[i].docs);
    double el = now() - t0;
    if (el <= 0)
        return;
    uint64_t done = ks_reader_done_bytes(r), total = ks_reader_total_bytes(r), raw = ks_reader_raw_bytes(r);
    char eta[64] = "";
    if (total && done) {
        char e[24];
        fmt_eta(el * ((double)total / (double)done - 1.0), e, sizeof e);
        snprintf(eta, sizeof eta, "%3.0f%%  ETA %s", 100.0 * (double)done / (double)total, e);
    }
    fprintf(stderr, "\r\033[K%10llu docs  %8.0f docs/s  %7.2f MB/s  %s", (unsigned long long)docs,
            (double)docs / el, (double)raw / el / 1e6, eta);
}

int ks_pipeline_run(ks_reader *r, const ks_pipeline_opts *o, ks_pipeline_stats *st, ks_errbuf *eb)
{
    memset(st, 0, sizeof *st);
    int n = o->nworkers;
    atomic_int abort_flag = 0;
    worker *wk = calloc((size_t)n, sizeof *wk);
    ks_idset *ids = o->dedupe ? ks_idset_new() : NULL;
    if (!wk || (o->dedupe && !ids)) {
        free(wk);
        ks_idset_free(ids);
        return ks_seterr(eb, KS_ENOMEM, "out of memory");
    }
    int started = 0, rc = 0;
    for (int i = 0; i < n; i++) {
        pthread_mutex_init(&wk[i].mu, NULL);
        pthread_cond_init(&wk[i].cv, NULL);
        wk[i].w = o->writers[i];
        wk[i].log = o->poslogs ? o->poslogs[i] : NULL;
        wk[i].o = o;
        wk[i].abort = &abort_flag;
        if (pthread_create(&wk[i].th, NULL, work, &wk[i]) != 0) {
            rc = ks_seterr(eb, KS_ENOMEM, "cannot start worker thread");
            break;
        }
        started++;
    }

    double t0 = now(), last = t0;
    batch *cur = NULL;
    while (!rc && !atomic_load(&abort_flag)) {
        if (!cur && !(cur = calloc(1, sizeof *cur))) {
            rc = ks_seterr(eb, KS_ENOMEM, "out of memory");
            break;
        }
        const char *file = "";
        unsigned long line = 0;
        ks_errbuf rerr = { "" };
        int got = ks_reader_next(r, &cur->rec[cur->n], &file, &line, &rerr);
        if (got == 0)
            break;
        if (got == 1 && ids) {
            ks_record *rec = &cur->rec[cur->n];
            unsigned long first = 0;
            int ins = ks_idset_insert(ids, rec->id, rec->id_len, rec->line, &first);
            if (ins < 0) {
                rc = ks_seterr(eb, KS_ENOMEM, "out of memory");
                break;
            }
            if (ins == 0) {
                ks_seterr(&rerr, KS_EINVAL, "duplicate id '%s' (first seen at line %lu): skipped", rec->id, first);
                ks_record_free(rec);
                got = KS_EINVAL;
            }
        }
        if (got == KS_EINVAL) {
            st->bad++;
            if (!o->quiet && st->bad <= MAX_REPORTED) {
                if (o->progress)
                    fputs("\r\033[K", stderr);
                if (line)
                    fprintf(stderr, "%s:%lu: bad record: %s\n", file, line, rerr.msg);
                else
                    fprintf(stderr, "%s: bad record: %s\n", file, rerr.msg);
                if (st->bad == MAX_REPORTED)
                    fprintf(stderr, "(further bad records are counted, not shown)\n");
            }
            if (o->strict) {
                rc = ks_seterr(eb, KS_EINVAL, "stopped at the first bad record (--strict): %s:%lu: %s", file, line,
                               rerr.msg);
                break;
            }
            continue;
        }
        if (got < 0) {
            rc = ks_seterr(eb, got, "%s", rerr.msg);
            break;
        }
        if (++cur->n == BATCH) {
            push(&wk[least_loaded(wk, n)], cur);
            cur = NULL;
        }
        if (o->progress) {
            double t = now();
            if (t - last >= 0.5) {
                show_progress(r, wk, n, t0);
                last = t;
            }
        }
    }
    if (cur && cur->n && !rc)
        push(&wk[least_loaded(wk, n)], cur);
    else if (cur)
        free_batch(cur);
    if (rc)
        atomic_store(&abort_flag, 1);
    for (int i = 0; i < started; i++) {
        pthread_mutex_lock(&wk[i].mu);
        wk[i].closing = 1;
        pthread_cond_broadcast(&wk[i].cv);
        pthread_mutex_unlock(&wk[i].mu);
    }
    for (int i = 0; i < started; i++)
        pthread_join(wk[i].th, NULL);
    if (o->progress) {
        show_progress(r, wk, n, t0);
        fputs("\r\033[K", stderr);
    }
    for (int i = 0; i < n; i++) {
        st->docs += atomic_load(&wk[i].docs);
        st->invalid_utf8 += wk[i].invalid;
        if (wk[i].err && !rc)
            rc = ks_seterr(eb, wk[i].err, "%s", wk[i].eb.msg);
        pthread_mutex_destroy(&wk[i].mu);
        pthread_cond_destroy(&wk[i].cv);
    }
    st->bytes = ks_reader_raw_bytes(r);
    st->seconds = now() - t0;
    free(wk);
    ks_idset_free(ids);
    return rc;
}
