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
#define QUEUE_CAP 4     /* batches waiting per worker (the queue holds QUEUE_CAP * workers): bounds memory */
#define MAX_REPORTED 100 /* bad records described one by one; the rest are only counted */

typedef struct batch {
    ks_record rec[BATCH];
    int n;
} batch;

/* The one queue between the reader and every worker: whichever worker is
 * free takes the next batch. (With a queue per worker the reader waited
 * for room in one worker's queue, often one in a long Xapian commit, while
 * another worker ran dry: at 101,000 documents one shard's thread was idle
 * about a seventh of the time.) */
typedef struct queue {
    pthread_mutex_t mu;
    pthread_cond_t items;       /* signalled on push and close */
    pthread_cond_t room;        /* signalled on pop */
    batch **q;
    int cap, head, count, closing;
} queue;

typedef struct worker {
    pthread_t th;
    queue *in;                  /* shared by all workers */
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

/* The next batch, or NULL once the queue is closed and empty. */
static batch *pop(queue *qu)
{
    pthread_mutex_lock(&qu->mu);
    while (!qu->count && !qu->closing)
        pthread_cond_wait(&qu->items, &qu->mu);
    batch *b = NULL;
    if (qu->count) {
        b = qu->q[qu->head];
        qu->head = (qu->head + 1) % qu->cap;
        qu->count--;
        pthread_cond_signal(&qu->room);
    }
    pthread_mutex_unlock(&qu->mu);
    return b;
}

static void push(queue *qu, batch *b)
{
    pthread_mutex_lock(&qu->mu);
    while (qu->count == qu->cap)
        pthread_cond_wait(&qu->room, &qu->mu);
    qu->q[(qu->head + qu->count) % qu->cap] = b;
    qu->count++;
    pthread_cond_signal(&qu->items);
    pthread_mutex_unlock(&qu->mu);
}

static void close_queue(queue *qu)
{
    pthread_mutex_lock(&qu->mu);
    qu->closing = 1;
    pthread_cond_broadcast(&qu->items);
    pthread_mutex_unlock(&qu->mu);
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
    while ((b = pop(wk->in))) {
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
    queue qu = { .cap = QUEUE_CAP * n };
    qu.q = calloc((size_t)qu.cap, sizeof *qu.q);
    ks_idset *ids = o->dedupe ? ks_idset_new() : NULL;
    if (!wk || !qu.q || (o->dedupe && !ids)) {
        free(wk);
        free(qu.q);
        ks_idset_free(ids);
        return ks_seterr(eb, KS_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&qu.mu, NULL);
    pthread_cond_init(&qu.items, NULL);
    pthread_cond_init(&qu.room, NULL);
    int started = 0, rc = 0;
    for (int i = 0; i < n; i++) {
        wk[i].in = &qu;
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
            push(&qu, cur);
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
        push(&qu, cur);
    else if (cur)
        free_batch(cur);
    if (rc)
        atomic_store(&abort_flag, 1);
    close_queue(&qu);
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
    }
    pthread_mutex_destroy(&qu.mu);
    pthread_cond_destroy(&qu.items);
    pthread_cond_destroy(&qu.room);
    free(qu.q);
    st->bytes = ks_reader_raw_bytes(r);
    st->seconds = now() - t0;
    free(wk);
    ks_idset_free(ids);
    return rc;
}
