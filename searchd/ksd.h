/* kosearchd internals shared by its files: configuration, the server (main
 * thread: listener, signals, reload), workers (one event_base and one
 * searcher each) and connections (bufferevents owned by one worker). */
#ifndef KSD_H
#define KSD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <event2/event.h>
#include <event2/bufferevent.h>

#include "ks_bm25.h"
#include "ks_search.h"
#include "ksp_format.h"
#include "ksp_request.h"

#define KSD_CMDS_PER_EVENT 8          /* commands run per read event: a pipelining client cannot starve others */
#define KSD_OUT_HIGH (1u << 20)       /* stop reading a client whose unsent replies exceed this */
#define KSD_OUT_LOW (256u << 10)      /* ... and resume when they drain below this */
#define KSD_IN_SLACK (64u << 10)      /* input read ahead beyond one max_line request */
#define KSD_HIST_BUCKETS 128          /* latency histogram: 4 buckets per power of two of microseconds */
#define KSD_DRAIN_SECONDS 10          /* SIGTERM: longest wait for replies in flight */

typedef struct ksd_config {
    const char *index;          /* index directory */
    const char *listen;         /* host:port */
    int threads;                /* worker threads */
    int max_connections;        /* refused beyond this with TOO_MANY_CONNECTIONS */
    int idle_timeout;           /* seconds without a request (or without reading replies) before a close */
    int request_timeout;        /* seconds from a request line's first byte to its LF (0: no limit) */
    size_t max_line;            /* longest request line */
    const char *log_path;       /* NULL: stderr */
    const char *pid_file;       /* NULL: none */
    int log_queries;            /* one log line per query with its latency */
    int admin;                  /* RELOAD allowed (from loopback peers only) */
    uint32_t max_limit;         /* largest SEARCH limit */
    uint32_t max_window;        /* largest SEARCH offset+limit */
    uint32_t snippet_chars;     /* snippet window */
    ks_bm25 bm25;               /* ranking parameters */
    int engine;                 /* who ranks: KS_ENGINE_SIMD (default) or KS_ENGINE_XAPIAN */
} ksd_config;

typedef struct ksd_stats {
    atomic_uint_fast64_t connections;  /* accepted over the lifetime */
    atomic_uint_fast64_t commands;     /* requests answered */
    atomic_uint_fast64_t queries;      /* SEARCH and COUNT answered */
    atomic_uint_fast64_t errors;       /* ERR replies */
    atomic_uint_fast64_t hist[KSD_HIST_BUCKETS]; /* query latency histogram */
} ksd_stats;

typedef struct ksd_server ksd_server;
typedef struct ksd_conn ksd_conn;

typedef struct ksd_worker {
    int id;
    pthread_t th;
    ksd_server *srv;
    struct event_base *base;
    int notify[2];               /* pipe: main -> worker wake-ups ('c' new connection, 'q' drain) */
    struct event *notify_ev;
    struct event *drain_timer;
    pthread_mutex_t mu;          /* guards pending */
    int *pending;                /* accepted fds waiting to be adopted */
    size_t n_pending, cap_pending;
    ks_searcher *searcher;       /* this thread's own index handle */
    unsigned searcher_gen;       /* index generation it was opened at */
    ksd_conn *conns;             /* live connections (doubly linked) */
    int draining;
    ksp_buf out;                 /* reply scratch */
    ksd_stats stats;
} ksd_worker;

struct ksd_server {
    ksd_config cfg;
    ksp_limits limits;
    struct event_base *base;     /* main thread */
    struct evconnlistener *listener;
    ksd_worker *workers;
    int nworkers, rr;
    atomic_uint index_gen;       /* bumped by a successful reload */
    atomic_int nconns;           /* open connections */
    atomic_uint_fast64_t reloads, reload_failures;
    pthread_mutex_t reload_mu;   /* one reload at a time */
    ks_searcher *keep;           /* the last searcher opened to check the index (guarded by
                                  * reload_mu): held so that the workers' own opens find its
                                  * segment already mapped and validated (ks_segment_open
                                  * shares a file's mapping within the process) */
    time_t started;
};

struct ksd_conn {
    ksd_worker *w;
    struct bufferevent *bev;
    struct event *more;          /* re-runs the command loop when input is left over */
    struct event *req_timer;     /* armed while a partial request line waits (--request-timeout) */
    ksp_mode mode;
    int closing;                 /* close once the output has drained */
    int paused;                  /* reading stopped for back-pressure */
    int loopback;                /* peer is on the loopback interface */
    char peer[64];
    ksd_conn *prev, *next;
};

/* log.c */
int ksd_log_open(const char *path);
void ksd_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* fdlimit.c: raises the soft open-file limit to the hard one (logged), then
 * checks *max_connections fits under it. If it does not: when `given` (the
 * user asked for it) prints why on stderr and returns -1; otherwise lowers
 * *max_connections to what fits (logged) and returns 0. */
int ksd_fd_limit(int *max_connections, int given, int threads);

/* server.c */
int ksd_server_run(const ksd_config *cfg);
/* Opens the index afresh and, if that works, makes every worker switch to it
 * before its next command. w (may be NULL) takes the new searcher at once.
 * Returns 0 and the new revision, or an error (old index stays in service). */
int ksd_reload(ksd_server *srv, ksd_worker *w, uint64_t *revision /* OUT */, ks_errbuf *eb);
/* Makes sure w's searcher is the current generation; NULL if none is open. */
ks_searcher *ksd_worker_searcher(ksd_worker *w);

/* conn.c */
void ksd_conn_adopt(ksd_worker *w, int fd);
void ksd_conn_drain_all(ksd_worker *w);
void ksd_conn_adopt_draining(ksd_worker *w, int fd);

/* commands.c: runs one request line; appends the reply to w->out. Returns 1
 * when the connection must be closed after the reply. */
int ksd_execute(ksd_conn *c, const char *line, size_t len);

/* stats.c */
void ksd_stats_latency(ksd_stats *s, uint64_t us);
/* Sums every worker's stats into *sum. */
void ksd_stats_sum(const ksd_server *srv, ksd_stats *sum /* OUT */);
/* Latency at quantile q (0..1) from a histogram, in microseconds. */
uint64_t ksd_stats_quantile(const ksd_stats *s, double q);

#endif
