/* kosearchd internals shared by its files: configuration, the server (main
 * thread: listener, signals, reload), workers (one event_base and one
 * searcher each) and connections (bufferevents owned by one worker). */
#ifndef KSD_H
#define KSD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <event2/event.h>
#include <event2/bufferevent.h>

struct evbuffer;

#include "ks_bm25.h"
#include "ks_search.h"
#include "ksp_format.h"
#include "ksp_request.h"

#define KSD_CMDS_PER_EVENT 8          /* commands run per read event: a pipelining client cannot starve others */
#define KSD_OUT_HIGH (1u << 20)       /* stop reading a client whose unsent replies exceed this */
#define KSD_OUT_LOW (256u << 10)      /* ... and resume when they drain below this */
#define KSD_IN_SLACK (64u << 10)      /* input read ahead beyond one max_line request */
#define KSD_HIST_BUCKETS 128          /* latency histogram: 4 buckets per power of two of microseconds */
#define KSD_DRAIN_SECONDS 10          /* SIGTERM: default longest wait for replies in flight */
#define KSD_AUTH_MAX_FAILURES 3       /* wrong AUTHs on one connection before it is closed */

typedef struct ksd_config {
    const char *index;          /* index directory */
    const char *listen;         /* host:port */
    int threads;                /* worker threads */
    int max_connections;        /* refused beyond this with TOO_MANY_CONNECTIONS */
    int idle_timeout;           /* seconds without a request (or without reading replies) before a close */
    int request_timeout;        /* seconds from a request line's first byte to its LF (0: no limit) */
    int drain_timeout;          /* SIGTERM: seconds to finish the replies in flight before closing anyway */
    size_t max_line;            /* longest request line */
    const char *log_path;       /* NULL: stderr */
    const char *pid_file;       /* NULL: none */
    int log_queries;            /* one log line per query with its latency */
    const char *admin_socket;   /* --admin-socket: Unix socket path, admin commands allowed; NULL: none */
    const char *admin_token;    /* --admin-token-file's token (read at start-up); NULL: AUTH refused */
    size_t admin_token_len;
    const char *user;           /* --user: drop to this user after binding; NULL: stay */
    uid_t uid;                  /* --user's ids, looked up by ksd_priv_resolve() */
    gid_t gid;
    uint32_t max_limit;         /* largest SEARCH limit */
    uint32_t max_window;        /* largest SEARCH offset+limit */
    uint32_t snippet_chars;     /* snippet window */
    ks_bm25 bm25;               /* ranking parameters */
    int engine;                 /* who ranks: KS_ENGINE_SIMD (default) or KS_ENGINE_XAPIAN */
    const char *http;           /* host:port of the HTTP API (proto/HTTP.md); NULL: none */
    const char **cors;          /* origins answered with CORS headers (ncors of them) */
    int ncors;
} ksd_config;

typedef struct ksd_stats {
    atomic_uint_fast64_t connections;  /* accepted over the lifetime */
    atomic_uint_fast64_t commands;     /* requests answered */
    atomic_uint_fast64_t queries;      /* SEARCH and COUNT answered */
    atomic_uint_fast64_t errors;       /* ERR replies */
    atomic_uint_fast64_t hist[KSD_HIST_BUCKETS]; /* query latency histogram */
    atomic_uint_fast64_t latency_sum_us;         /* sum of the latencies in hist */
} ksd_stats;

typedef struct ksd_server ksd_server;
typedef struct ksd_conn ksd_conn;

/* An accepted connection on its way from the main thread to a worker, and
 * which listener it came in on. */
typedef struct ksd_pending {
    int fd;
    int admin;                   /* came through the admin socket */
    int http;                    /* 1: the HTTP port, 0: the line protocol */
} ksd_pending;

typedef struct ksd_worker {
    int id;
    pthread_t th;
    ksd_server *srv;
    struct event_base *base;
    int notify[2];               /* pipe: main -> worker wake-ups ('c' new connection, 'q' drain) */
    struct event *notify_ev;
    struct event *drain_timer;
    pthread_mutex_t mu;          /* guards pending */
    ksd_pending *pending;        /* accepted connections waiting to be adopted */
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
    struct evconnlistener *admin_listener; /* --admin-socket, or NULL */
    dev_t admin_dev;             /* the socket file we bound (0/0: none): only it is removed at exit */
    ino_t admin_ino;
    struct evconnlistener *http_listener; /* NULL without --http */
    ksd_worker *workers;
    int nworkers, rr;
    atomic_uint index_gen;       /* bumped by a successful reload */
    atomic_int nconns;           /* open connections */
    atomic_uint_fast64_t reloads, reload_failures;
    atomic_uint_fast64_t auth_failures; /* wrong AUTH tokens */
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
    int http;                    /* speaks HTTP (http.c) rather than the line protocol */
    int closing;                 /* close once the output has drained */
    int unread;                  /* the client may have sent bytes we will not read: linger at close */
    int lingering;               /* output sent, write side shut: reading and dropping until EOF */
    int paused;                  /* reading stopped for back-pressure */
    int admin;                   /* admin commands allowed: admin socket, or a good AUTH */
    int auth_failures;           /* wrong AUTHs on this connection */
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

/* Hands an accepted connection to the next worker (round-robin); admin:
 * it came through the admin socket; http: through the --http port. Main
 * thread only. */
void ksd_hand_off(ksd_server *srv, int fd, int admin, int http);

/* admin.c: the --admin-socket listener. */
/* Binds cfg.admin_socket (mode 0600, owned by cfg.uid/gid when --user is
 * given) into srv->admin_listener. Removes a stale socket left by a daemon
 * that died; refuses a path that is not a socket or that a live daemon
 * answers on. Returns 0, or -1 with a message in err. */
int ksd_admin_listen(ksd_server *srv, char *err, size_t cap);
/* Frees the listener (if still open) and removes the socket file. */
void ksd_admin_close(ksd_server *srv);

/* privdrop.c: --user. */
/* Looks up cfg->user into cfg->uid/gid. Refuses an unknown user, and
 * --user when not running as root (unless already that user). Returns 0, or
 * -1 with a message in err. Call before anything is opened. */
int ksd_priv_resolve(ksd_config *cfg, char *err, size_t cap);
/* After every socket and file is open and before any thread starts: drops
 * to cfg->user (groups, gid, uid: real, effective and saved) and checks that
 * root cannot be regained; logs it. Without --user, warns when running as
 * root. Returns 0, or -1 with a message in err. */
int ksd_priv_drop(const ksd_config *cfg, char *err, size_t cap);

/* conn.c: admin allows admin commands from the start (admin socket); http
 * says which protocol the connection speaks. */
void ksd_conn_adopt(ksd_worker *w, int fd, int admin, int http);
void ksd_conn_drain_all(ksd_worker *w);
void ksd_conn_adopt_draining(ksd_worker *w, int fd, int admin, int http);

/* http.c: the HTTP API over the same connections (proto/HTTP.md). */
#define KSD_HTTP_MAX_HEAD (64u << 10) /* request line and headers together, at most (or --max-line + 8 KiB) */
/* Takes the next complete request head (request line and headers, up to
 * the blank line) out of in into a malloc'd NUL-terminated *head. Returns 1
 * with *head, 0 when more input is needed, or -1 when the head is over a
 * limit: then the 413 reply is in c->w->out and the connection must close. */
int ksd_http_take(ksd_conn *c, struct evbuffer *in, char **head /* OUT */, size_t *len /* OUT */);
/* Answers one request head; appends the response to c->w->out. Returns 1
 * when the connection must be closed after it. */
int ksd_http_execute(ksd_conn *c, char *head, size_t len);
/* Appends a complete error response for code (its HTTP status, a JSON
 * body, Connection: close) to c->w->out and counts the error; the caller
 * sends it and closes. */
void ksd_http_fail_close(ksd_conn *c, ksp_errcode code, const char *msg);
/* The 429 response for a connection over --max-connections (static). */
extern const char ksd_http_refusal[];

/* ops.c: the query bodies both front ends share. Each runs against s,
 * counts in w's stats and appends its reply in mode m to out, or returns -1
 * with *err set (the caller sends it and counts it). peer names the client
 * in log lines. */
/* Runs a search page: o's offset, limit and markers are the caller's, the
 * rest comes from the configuration. On success *r and *hits (a malloc'd
 * view of r for the formatters; free it, then ks_results_free(r)). */
int ksd_op_search(ksd_worker *w, const char *peer, ks_searcher *s, const char *q, size_t ql, ks_search_opts *o,
                  ks_results *r /* OUT */, ksp_hit **hits /* OUT */, uint64_t *took_us /* OUT */, ksp_error *err);
int ksd_op_count(ksd_worker *w, const char *peer, ks_searcher *s, const char *q, size_t ql, ksp_buf *out,
                 ksp_mode m, ksp_error *err);
int ksd_op_get(const char *peer, ks_searcher *s, ksp_str id, ksp_buf *out, ksp_mode m, ksp_error *err);
int ksd_op_info(ksd_server *srv, ks_searcher *s, ksp_buf *out, ksp_mode m, ksp_error *err);
void ksd_op_stats(ksd_server *srv, ksp_buf *out, ksp_mode m);

/* commands.c: runs one request line; appends the reply to w->out. Returns 1
 * when the connection must be closed after the reply. */
int ksd_execute(ksd_conn *c, const char *line, size_t len);

/* metrics.c: appends GET /metrics (Prometheus text format 0.0.4); s (may
 * be NULL) gives the index gauges. */
void ksd_metrics(ksd_server *srv, ks_searcher *s, ksp_buf *out);

/* web_files.c (generated by scripts/embed.sh from searchd/web/): the
 * static files of the search page, name relative to web/ ("index.html"). */
typedef struct ksd_web_file {
    const char *name;
    const char *type;            /* Content-Type */
    const unsigned char *data;
    size_t len;
} ksd_web_file;
extern const ksd_web_file ksd_web_files[];
extern const size_t ksd_web_nfiles;

/* stats.c */
/* Upper bound of histogram bucket b in microseconds (exclusive: a latency
 * in bucket b is below it). */
uint64_t ksd_stats_bucket_top(int b);
void ksd_stats_latency(ksd_stats *s, uint64_t us);
/* Sums every worker's stats into *sum. */
void ksd_stats_sum(const ksd_server *srv, ksd_stats *sum /* OUT */);
/* Latency at quantile q (0..1) from a histogram, in microseconds. */
uint64_t ksd_stats_quantile(const ksd_stats *s, double q);

#endif
