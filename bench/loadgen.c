/* ks-loadgen: load generator for kosearchd. One libevent event_base drives
 * N pipelined connections (bufferevents); replies are split by libksproto's
 * ksp_reader. Latencies (send -> complete reply) go into a log-linear
 * histogram; the summary excludes the warm-up. Used by bench/daemon_bench.sh. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>

#include "ks_error.h"
#include "ksp_format.h"
#include "ksp_reply.h"

#define EXIT_RUN_FAILED 1        /* every connection was lost before the end */
#define EXIT_USAGE 2             /* bad arguments, unreadable query file, cannot connect */

#define LG_MAX_CONNS 10000       /* -c upper bound */
#define LG_MAX_DEPTH 1024        /* -d upper bound */
#define LG_MAX_OUTSTANDING (1u << 20) /* connections x depth upper bound */
#define LG_MAX_SECONDS 86400.0   /* -t / -w upper bound */
#define LG_MAX_QUERY_FILE (64u << 20) /* bytes */
#define LG_MAX_QUERY_LINE 8000   /* bytes per query (request line limit is 8192) */
#define LG_CONNECT_TIMEOUT 10    /* seconds for every connection to be established */
#define LG_FD_SLACK 64           /* descriptors beyond one per connection */

/* Latency histogram, HdrHistogram-style log-linear buckets over
 * nanoseconds: values below 2*HSUB are exact, above that every power of two
 * is cut into HSUB buckets, so a bucket's width is under 1/HSUB (0.1%) of
 * its value. Values beyond 2^HMAX_BITS ns (about 18 minutes) are clamped. */
#define HSUB_BITS 10
#define HSUB (1u << HSUB_BITS)
#define HMAX_BITS 40
#define HBUCKETS (2 * HSUB + (HMAX_BITS - HSUB_BITS) * HSUB)

typedef struct hist {
    uint64_t count[HBUCKETS]; /* samples per bucket */
    uint64_t n;               /* samples */
    uint64_t max;             /* largest sample, exact */
    double sum;               /* sum of samples (for the mean) */
} hist;

/* Phases of a run; requests completing in PH_MEASURE are the figures. */
enum { PH_CONNECT, PH_WARMUP, PH_MEASURE, PH_DONE };

typedef struct loadgen loadgen;

/* One connection: up to depth requests in flight, replies in order. */
typedef struct lg_conn {
    loadgen *lg;
    int idx;                  /* position in lg->conns */
    struct bufferevent *bev;
    ksp_reader rd;            /* splits the byte stream into replies */
    uint64_t *sent_ns;        /* ring of send times, depth entries */
    unsigned head, inflight;  /* oldest entry in sent_ns; entries used */
    size_t next_query;        /* index of the next query to send */
    int connected;
    int dead;                 /* broken: freed, counted as an error */
    uint64_t done;            /* replies completed in the measured window */
} lg_conn;

/* Command-line settings. */
typedef struct options {
    const char *host;         /* -H */
    const char *port;         /* -p, as given */
    long portnum;             /* -p, as a number */
    long conns;               /* -c */
    long depth;               /* -d */
    double seconds;           /* -t: measured window */
    double warmup;            /* -w: excluded from the figures */
    const char *query_file;   /* -q; NULL with --ping */
    int json;                 /* --json */
} options;

struct loadgen {
    options opt;
    struct event_base *base;
    struct event *phase_timer; /* connect timeout, end of warm-up, end of run */
    struct event *sigint_ev;
    lg_conn *conns;
    int nconnected, nalive;   /* connections established; of those, still open */
    int nsettled;             /* connected, or lost before the connect event */
    int phase;
    int connect_failed;       /* errno of the first failed connect, or -1 */
    char *qbuf;               /* every request line, LF-terminated, back to back */
    size_t *qoff;             /* start of request i in qbuf (nq + 1 entries) */
    size_t nq;
    uint64_t t_start_ns, t_measure_ns, t_end_ns;
    uint64_t warm_requests;   /* replies completed during the warm-up */
    uint64_t warm_err_replies;
    uint64_t requests;        /* replies completed in the window */
    uint64_t err_replies;     /* ERR replies in the window */
    uint64_t broken;          /* connections lost (at any time before the end) */
    uint64_t sent;            /* requests written, all phases */
    char first_error[256];    /* first ERR reply or break, for the report */
    hist h;
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ks-loadgen [-H host] [-p port] [-c CONNECTIONS] [-d PIPELINE_DEPTH]\n"
            "                  [-t SECONDS] [-w WARMUP_SECONDS] [-q QUERY_FILE | --ping] [--json]\n"
            "\n"
            "Load generator for kosearchd (protocol v1, proto/PROTOCOL.md). Opens\n"
            "CONNECTIONS connections, keeps PIPELINE_DEPTH requests in flight on each,\n"
            "and measures every request's latency from send to complete reply.\n"
            "Requests are PING (--ping, the default) or `SEARCH <line>` cycling through\n"
            "the lines of QUERY_FILE (empty lines skipped; each connection starts at a\n"
            "different line; a line may begin with SEARCH options such as limit=5).\n"
            "\n"
            "  -H, --host HOST        server host name or address (127.0.0.1)\n"
            "  -p, --port PORT        server port (7700)\n"
            "  -c, --connections N    connections, 1 to %d (16)\n"
            "  -d, --depth N          requests in flight per connection, 1 to %d (1)\n"
            "  -t, --time SECONDS     measured duration, may be fractional (10)\n"
            "  -w, --warmup SECONDS   warm-up before measuring, not counted (2)\n"
            "  -q, --queries FILE     send SEARCH with each line of FILE\n"
            "      --ping             send PING (default)\n"
            "      --json             print one JSON object instead of text\n"
            "  -h, --help             this text\n"
            "\n"
            "Reports requests completed in the window, errors (ERR replies in the\n"
            "window plus connections lost at any time), QPS and latency percentiles\n"
            "p50/p90/p99/p99.9/max in microseconds (buckets within 0.1%%), and the\n"
            "spread of completed requests between connections (fairness).\n"
            "Ctrl-C ends the run early and prints what was measured.\n"
            "Exit status: 0 run completed, 1 every connection was lost,\n"
            "2 usage error, unreadable query file or cannot connect.\n",
            LG_MAX_CONNS, LG_MAX_DEPTH);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- histogram ----------------------------------------------------------- */

static unsigned hist_index(uint64_t v)
{
    if (v >= (1ull << HMAX_BITS))
        v = (1ull << HMAX_BITS) - 1;
    if (v < 2 * HSUB)
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - HSUB_BITS; /* v >> shift is in [HSUB, 2*HSUB) */
    return 2 * HSUB + (shift - 1) * HSUB + (unsigned)((v >> shift) - HSUB);
}

/* Largest value that falls in bucket i (what HdrHistogram reports). */
static uint64_t hist_top(unsigned i)
{
    if (i < 2 * HSUB)
        return i;
    unsigned shift = (i - 2 * HSUB) / HSUB + 1;
    uint64_t sub = (i - 2 * HSUB) % HSUB + HSUB;
    return ((sub + 1) << shift) - 1;
}

static void hist_add(hist *h, uint64_t v)
{
    h->count[hist_index(v)]++;
    h->n++;
    h->sum += (double)v;
    if (v > h->max)
        h->max = v;
}

/* Value at quantile q (0..1]: the top of the bucket holding the
 * ceil(q*n)-th smallest sample, never above the exact maximum. */
static uint64_t hist_quantile(const hist *h, double q)
{
    if (!h->n)
        return 0;
    uint64_t want = (uint64_t)ceil(q * (double)h->n);
    if (want < 1)
        want = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HBUCKETS; i++) {
        seen += h->count[i];
        if (seen >= want) {
            uint64_t t = hist_top(i);
            return t < h->max ? t : h->max;
        }
    }
    return h->max;
}

/* ---- query file ---------------------------------------------------------- */

/* Builds the request lines: "PING\n", or "SEARCH <line>\n" per non-empty
 * line of path. Returns 0 or a KS_E* code after printing the reason. */
static int load_requests(loadgen *lg, const char *path)
{
    if (!path) {
        lg->qbuf = strdup("PING\n");
        lg->qoff = malloc(2 * sizeof *lg->qoff);
        if (!lg->qbuf || !lg->qoff)
            return KS_ENOMEM;
        lg->qoff[0] = 0;
        lg->qoff[1] = 5;
        lg->nq = 1;
        return 0;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "ks-loadgen: cannot open query file %s: %s\n", path, strerror(errno));
        return KS_EIO;
    }
    struct stat st;
    if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > LG_MAX_QUERY_FILE) {
        fprintf(stderr, "ks-loadgen: query file %s must be a regular file of at most %u MiB\n", path,
                LG_MAX_QUERY_FILE >> 20);
        fclose(f);
        return KS_ETOOBIG;
    }
    size_t size = (size_t)st.st_size;
    char *raw = malloc(size + 1);
    if (!raw || fread(raw, 1, size, f) != size) {
        fprintf(stderr, "ks-loadgen: cannot read query file %s\n", path);
        free(raw);
        fclose(f);
        return KS_EIO;
    }
    fclose(f);
    raw[size] = '\n';
    size_t maxlines = 1;
    for (size_t i = 0; i < size; i++)
        maxlines += raw[i] == '\n';
    /* every line grows by "SEARCH " at most */
    lg->qbuf = malloc(size + 1 + maxlines * 7);
    lg->qoff = malloc((maxlines + 1) * sizeof *lg->qoff);
    if (!lg->qbuf || !lg->qoff) {
        free(raw);
        return KS_ENOMEM;
    }
    size_t out = 0, lineno = 0;
    for (size_t s = 0; s < size;) {
        char *nl = memchr(raw + s, '\n', size + 1 - s);
        size_t e = (size_t)(nl - raw), len = e - s;
        lineno++;
        if (len && raw[s + len - 1] == '\r')
            len--;
        if (memchr(raw + s, '\0', len)) {
            fprintf(stderr, "ks-loadgen: %s line %zu contains a NUL byte\n", path, lineno);
            free(raw);
            return KS_EINVAL;
        }
        if (len > LG_MAX_QUERY_LINE) {
            fprintf(stderr, "ks-loadgen: %s line %zu is longer than %d bytes\n", path, lineno,
                    LG_MAX_QUERY_LINE);
            free(raw);
            return KS_ETOOBIG;
        }
        if (len) {
            lg->qoff[lg->nq++] = out;
            memcpy(lg->qbuf + out, "SEARCH ", 7);
            memcpy(lg->qbuf + out + 7, raw + s, len);
            out += 7 + len;
            lg->qbuf[out++] = '\n';
        }
        s = e + 1;
    }
    lg->qoff[lg->nq] = out;
    free(raw);
    if (!lg->nq) {
        fprintf(stderr, "ks-loadgen: query file %s has no queries\n", path);
        return KS_EINVAL;
    }
    return 0;
}

/* ---- connections --------------------------------------------------------- */

static void note_error(loadgen *lg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note_error(loadgen *lg, const char *fmt, ...)
{
    if (lg->first_error[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(lg->first_error, sizeof lg->first_error, fmt, ap);
    va_end(ap);
}

static void finish(loadgen *lg)
{
    if (lg->phase == PH_DONE)
        return;
    if (lg->phase == PH_MEASURE)
        lg->t_end_ns = now_ns();
    else
        lg->t_measure_ns = lg->t_end_ns = now_ns(); /* ended early: empty window */
    lg->phase = PH_DONE;
    event_base_loopbreak(lg->base);
}

/* Writes one request and remembers when. Returns 0 or KS_ENOMEM. */
static int send_one(lg_conn *c)
{
    loadgen *lg = c->lg;
    size_t q = c->next_query;
    if (bufferevent_write(c->bev, lg->qbuf + lg->qoff[q], lg->qoff[q + 1] - lg->qoff[q]))
        return KS_ENOMEM;
    c->next_query = q + 1 == lg->nq ? 0 : q + 1;
    unsigned slot = (c->head + c->inflight) % (unsigned)lg->opt.depth;
    c->sent_ns[slot] = now_ns();
    c->inflight++;
    lg->sent++;
    return 0;
}

static void fill_pipeline(lg_conn *c)
{
    while (c->inflight < (unsigned)c->lg->opt.depth)
        if (send_one(c))
            break;
}

static void start_sending(loadgen *lg);

/* One more connection is established or already lost; once every one is,
 * the run starts (or ends at once if none is left). */
static void settle(loadgen *lg)
{
    if (++lg->nsettled < (int)lg->opt.conns || lg->phase != PH_CONNECT)
        return;
    if (lg->nalive)
        start_sending(lg);
    else
        finish(lg);
}

/* Drops a broken connection: counted once as an error. */
static void conn_break(lg_conn *c, const char *why)
{
    loadgen *lg = c->lg;
    if (c->dead)
        return;
    c->dead = 1;
    lg->broken++;
    note_error(lg, "connection %d: %s", c->idx, why);
    bufferevent_free(c->bev);
    c->bev = NULL;
    ksp_reader_free(&c->rd);
    if (!c->connected) {
        /* data and a close (ERR TOO_MANY_CONNECTIONS) can be read before
         * libevent reports the connect itself */
        settle(lg);
        return;
    }
    lg->nalive--;
    if (lg->phase != PH_CONNECT && lg->nalive == 0)
        finish(lg);
}

/* Counts one complete reply; t is the time it completed. */
static void reply_done(lg_conn *c, const ksp_reply *r, uint64_t t)
{
    loadgen *lg = c->lg;
    uint64_t sent = c->sent_ns[c->head];
    c->head = (c->head + 1) % (unsigned)lg->opt.depth;
    c->inflight--;
    if (lg->phase == PH_MEASURE) {
        lg->requests++;
        c->done++;
        hist_add(&lg->h, t - sent);
        if (!r->ok) {
            lg->err_replies++;
            note_error(lg, "%.*s", (int)(r->status.len > 200 ? 200 : r->status.len), r->status.ptr);
        }
    } else {
        lg->warm_requests++;
        if (!r->ok) {
            lg->warm_err_replies++;
            note_error(lg, "%.*s (during the warm-up)", (int)(r->status.len > 200 ? 200 : r->status.len),
                       r->status.ptr);
        }
    }
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    lg_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t n;
    while ((n = evbuffer_get_contiguous_space(in)) > 0) {
        if (ksp_reader_feed(&c->rd, evbuffer_pullup(in, (ev_ssize_t)n), n)) {
            conn_break(c, "out of memory buffering a reply");
            return;
        }
        evbuffer_drain(in, n);
    }
    uint64_t t = now_ns();
    for (;;) {
        ksp_reply r;
        int ready = 0;
        int rc = ksp_reader_next(&c->rd, &r, &ready);
        if (rc) {
            conn_break(c, rc == KS_ETOOBIG ? "reply too large" : "malformed reply (protocol error)");
            return;
        }
        if (!ready)
            break;
        if (!c->inflight) {
            /* e.g. ERR TOO_MANY_CONNECTIONS right after accept */
            char why[240];
            snprintf(why, sizeof why, "unexpected reply: %.*s", (int)(r.status.len > 200 ? 200 : r.status.len),
                     r.status.ptr);
            conn_break(c, why);
            return;
        }
        reply_done(c, &r, t);
    }
    if (c->lg->phase == PH_WARMUP || c->lg->phase == PH_MEASURE)
        fill_pipeline(c);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    lg_conn *c = arg;
    loadgen *lg = c->lg;
    if (what & BEV_EVENT_CONNECTED) {
        c->connected = 1;
        lg->nalive++;
        lg->nconnected++;
        settle(lg);
        return;
    }
    if (!c->connected) {
        int e = EVUTIL_SOCKET_ERROR();
        /* libevent reports an immediate refusal without setting errno */
        if (e == 0 || e == EINPROGRESS || e == EAGAIN)
            e = ECONNREFUSED;
        if (lg->connect_failed < 0)
            lg->connect_failed = e;
        c->dead = 1;
        bufferevent_free(c->bev);
        c->bev = NULL;
        event_base_loopbreak(lg->base);
        return;
    }
    if (what & BEV_EVENT_EOF)
        conn_break(c, ksp_reader_pending(&c->rd) ? "closed by the server in the middle of a reply"
                                                 : "closed by the server");
    else
        conn_break(c, evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

static void phase_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    loadgen *lg = arg;
    if (lg->phase == PH_CONNECT) {
        fprintf(stderr, "ks-loadgen: only %d of %ld connections to %s port %s established after %d s\n",
                lg->nconnected, lg->opt.conns, lg->opt.host, lg->opt.port, LG_CONNECT_TIMEOUT);
        lg->connect_failed = ETIMEDOUT;
        event_base_loopbreak(lg->base);
    } else if (lg->phase == PH_WARMUP) {
        lg->phase = PH_MEASURE;
        lg->t_measure_ns = now_ns();
        struct timeval tv = { (time_t)lg->opt.seconds,
                              (suseconds_t)((lg->opt.seconds - floor(lg->opt.seconds)) * 1e6) };
        evtimer_add(lg->phase_timer, &tv);
    } else {
        finish(lg);
    }
}

static void sigint_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    loadgen *lg = arg;
    if (lg->phase == PH_CONNECT)
        event_base_loopbreak(lg->base); /* reported as interrupted */
    else
        finish(lg);
}

/* Every connection is up: the warm-up (or the window) starts now. */
static void start_sending(loadgen *lg)
{
    lg->t_start_ns = now_ns();
    evtimer_del(lg->phase_timer);
    lg->phase = PH_WARMUP;
    struct timeval tv = { (time_t)lg->opt.warmup, (suseconds_t)((lg->opt.warmup - floor(lg->opt.warmup)) * 1e6) };
    evtimer_add(lg->phase_timer, &tv); /* 0 s: fires at once and starts the window */
    for (long i = 0; i < lg->opt.conns; i++)
        if (!lg->conns[i].dead)
            fill_pipeline(&lg->conns[i]);
}

/* Makes room for n descriptors. Returns 0 or KS_EINVAL after a message. */
static int raise_fd_limit(rlim_t n)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl))
        return 0;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur >= n)
        return 0;
    if (rl.rlim_cur == RLIM_INFINITY)
        return 0;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < n) {
        fprintf(stderr, "ks-loadgen: need %llu open files but the hard limit is %llu (raise it with ulimit -Hn)\n",
                (unsigned long long)n, (unsigned long long)rl.rlim_max);
        return KS_EINVAL;
    }
    rl.rlim_cur = n;
    if (setrlimit(RLIMIT_NOFILE, &rl)) {
        fprintf(stderr, "ks-loadgen: cannot raise the open-file limit to %llu: %s\n", (unsigned long long)n,
                strerror(errno));
        return KS_EINVAL;
    }
    return 0;
}

/* Starts every connection (non-blocking). Returns 0 or a KS_E* code. */
static int open_conns(loadgen *lg, const struct addrinfo *ai)
{
    long n = lg->opt.conns;
    for (long i = 0; i < n; i++) {
        lg_conn *c = &lg->conns[i];
        c->lg = lg;
        c->idx = (int)i;
        /* spread the starting lines evenly over the query file */
        c->next_query = (size_t)n <= lg->nq ? (size_t)((uint64_t)i * lg->nq / (uint64_t)n) : (size_t)i % lg->nq;
        c->sent_ns = calloc((size_t)lg->opt.depth, sizeof *c->sent_ns);
        if (!c->sent_ns)
            return KS_ENOMEM;
        ksp_reader_init(&c->rd, 0);
        evutil_socket_t fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) {
            fprintf(stderr, "ks-loadgen: cannot create socket %ld: %s\n", i + 1, strerror(errno));
            return KS_EIO;
        }
        int one = 1;
        /* pipelined requests must not wait for Nagle */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        evutil_make_socket_nonblocking(fd);
        evutil_make_socket_closeonexec(fd);
        c->bev = bufferevent_socket_new(lg->base, fd, BEV_OPT_CLOSE_ON_FREE);
        if (!c->bev) {
            evutil_closesocket(fd);
            return KS_ENOMEM;
        }
        bufferevent_setcb(c->bev, read_cb, NULL, event_cb, c);
        if (bufferevent_socket_connect(c->bev, ai->ai_addr, (int)ai->ai_addrlen)) {
            /* immediate failure (e.g. no route): event_cb is not called */
            fprintf(stderr, "ks-loadgen: cannot connect to %s port %s: %s\n", lg->opt.host, lg->opt.port,
                    strerror(errno ? errno : ECONNREFUSED));
            return KS_EIO;
        }
        bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    }
    return 0;
}

/* ---- report -------------------------------------------------------------- */

static double us(uint64_t ns)
{
    return (double)ns / 1000.0;
}

static void report(const loadgen *lg)
{
    const options *o = &lg->opt;
    double window = (double)(lg->t_end_ns - lg->t_measure_ns) / 1e9;
    double qps = window > 0 ? (double)lg->requests / window : 0;
    uint64_t errors = lg->err_replies + lg->broken;
    /* fairness among the connections that lasted the whole run */
    uint64_t cmin = UINT64_MAX, cmax = 0;
    for (long i = 0; i < o->conns; i++) {
        if (lg->conns[i].dead)
            continue;
        uint64_t d = lg->conns[i].done;
        cmin = d < cmin ? d : cmin;
        cmax = d > cmax ? d : cmax;
    }
    double mean = lg->h.n ? lg->h.sum / (double)lg->h.n / 1000.0 : 0;
    const double qs[] = { 0.50, 0.90, 0.99, 0.999 };
    double p[4];
    for (int i = 0; i < 4; i++)
        p[i] = us(hist_quantile(&lg->h, qs[i]));
    const char *mode = o->query_file ? "search" : "ping";
    if (o->json) {
        ksp_buf b;
        ksp_buf_init(&b);
        ksp_buf_printf(&b, "{\"mode\":\"%s\",\"host\":", mode);
        ksp_json_string(&b, o->host, strlen(o->host));
        ksp_buf_printf(&b, ",\"port\":%ld,\"connections\":%ld,\"depth\":%ld,\"queries\":%zu", o->portnum, o->conns,
                       o->depth, o->query_file ? lg->nq : (size_t)0);
        ksp_buf_printf(&b, ",\"warmup_s\":%.3f,\"duration_s\":%.3f", o->warmup, window);
        ksp_buf_printf(&b, ",\"requests\":%llu,\"errors\":%llu,\"err_replies\":%llu,\"broken_connections\":%llu",
                       (unsigned long long)lg->requests, (unsigned long long)errors,
                       (unsigned long long)lg->err_replies, (unsigned long long)lg->broken);
        ksp_buf_printf(&b, ",\"qps\":%.1f", qps);
        ksp_buf_printf(&b,
                       ",\"latency_us\":{\"mean\":%.1f,\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"p99.9\":%.1f,"
                       "\"max\":%.1f}",
                       mean, p[0], p[1], p[2], p[3], us(lg->h.max));
        ksp_buf_printf(&b, ",\"per_connection\":{\"min\":%llu,\"max\":%llu}", (unsigned long long)(cmin == UINT64_MAX ? 0 : cmin),
                       (unsigned long long)cmax);
        ksp_buf_printf(&b, ",\"warmup_requests\":%llu,\"warmup_err_replies\":%llu,\"sent\":%llu",
                       (unsigned long long)lg->warm_requests, (unsigned long long)lg->warm_err_replies,
                       (unsigned long long)lg->sent);
        if (lg->first_error[0]) {
            ksp_buf_puts(&b, ",\"first_error\":");
            ksp_json_string(&b, lg->first_error, strlen(lg->first_error));
        }
        ksp_buf_puts(&b, "}\n");
        fwrite(b.data, 1, b.len, stdout);
        ksp_buf_free(&b);
        return;
    }
    printf("ks-loadgen: %s port %s, %s", o->host, o->port, o->query_file ? "SEARCH" : "PING");
    if (o->query_file)
        printf(" (%zu queries from %s)", lg->nq, o->query_file);
    printf(", %ld connection%s x depth %ld, %.1f s measured after %.1f s warm-up\n", o->conns,
           o->conns == 1 ? "" : "s", o->depth, window, o->warmup);
    printf("requests        %llu\n", (unsigned long long)lg->requests);
    printf("errors          %llu (%llu ERR replies, %llu connections lost)\n", (unsigned long long)errors,
           (unsigned long long)lg->err_replies, (unsigned long long)lg->broken);
    printf("qps             %.1f\n", qps);
    printf("latency (us)    p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  (mean %.1f)\n", p[0], p[1], p[2],
           p[3], us(lg->h.max), mean);
    printf("per connection  min %llu  max %llu requests (connections still open at the end)\n", (unsigned long long)(cmin == UINT64_MAX ? 0 : cmin),
           (unsigned long long)cmax);
    if (lg->warm_err_replies)
        printf("warm-up         %llu requests, %llu ERR replies (not counted above)\n",
               (unsigned long long)lg->warm_requests, (unsigned long long)lg->warm_err_replies);
    if (lg->first_error[0])
        printf("first error     %s\n", lg->first_error);
}

/* ---- main ---------------------------------------------------------------- */

static int parse_long(const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "ks-loadgen: %s must be a whole number from %ld to %ld, got '%s'\n", opt, lo, hi, s);
        return KS_EINVAL;
    }
    *out = v;
    return 0;
}

static int parse_seconds(const char *opt, const char *s, double lo, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo) || v > LG_MAX_SECONDS) {
        fprintf(stderr, "ks-loadgen: %s must be a number of seconds from %g to %g, got '%s'\n", opt, lo,
                LG_MAX_SECONDS, s);
        return KS_EINVAL;
    }
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, options *o)
{
    static const struct option lo[] = {
        { "host", required_argument, 0, 'H' },    { "port", required_argument, 0, 'p' },
        { "connections", required_argument, 0, 'c' }, { "depth", required_argument, 0, 'd' },
        { "time", required_argument, 0, 't' },    { "warmup", required_argument, 0, 'w' },
        { "queries", required_argument, 0, 'q' }, { "ping", no_argument, 0, 'P' },
        { "json", no_argument, 0, 'J' },          { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 }
    };
    int ping = 0, c;
    long port;
    while ((c = getopt_long(argc, argv, "H:p:c:d:t:w:q:h", lo, NULL)) != -1) {
        switch (c) {
        case 'H': o->host = optarg; break;
        case 'p':
            if (parse_long("-p (port)", optarg, 1, 65535, &port))
                return KS_EINVAL;
            o->port = optarg;
            o->portnum = port;
            break;
        case 'c':
            if (parse_long("-c (connections)", optarg, 1, LG_MAX_CONNS, &o->conns))
                return KS_EINVAL;
            break;
        case 'd':
            if (parse_long("-d (pipeline depth)", optarg, 1, LG_MAX_DEPTH, &o->depth))
                return KS_EINVAL;
            break;
        case 't':
            if (parse_seconds("-t (duration)", optarg, 0.1, &o->seconds))
                return KS_EINVAL;
            break;
        case 'w':
            if (parse_seconds("-w (warm-up)", optarg, 0, &o->warmup))
                return KS_EINVAL;
            break;
        case 'q': o->query_file = optarg; break;
        case 'P': ping = 1; break;
        case 'J': o->json = 1; break;
        case 'h': usage(stdout); return 1;
        default:
            fprintf(stderr, "ks-loadgen: see --help for usage\n");
            return KS_EINVAL;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ks-loadgen: unexpected argument '%s' (see --help)\n", argv[optind]);
        return KS_EINVAL;
    }
    if (ping && o->query_file) {
        fprintf(stderr, "ks-loadgen: give either -q QUERY_FILE or --ping, not both\n");
        return KS_EINVAL;
    }
    if ((unsigned long)o->conns * (unsigned long)o->depth > LG_MAX_OUTSTANDING) {
        fprintf(stderr, "ks-loadgen: connections x depth must be at most %u, got %ld x %ld\n", LG_MAX_OUTSTANDING,
                o->conns, o->depth);
        return KS_EINVAL;
    }
    return 0;
}

static void cleanup(loadgen *lg)
{
    if (lg->conns) {
        for (long i = 0; i < lg->opt.conns; i++) {
            lg_conn *c = &lg->conns[i];
            if (c->bev)
                bufferevent_free(c->bev);
            ksp_reader_free(&c->rd);
            free(c->sent_ns);
        }
    }
    free(lg->conns);
    if (lg->phase_timer)
        event_free(lg->phase_timer);
    if (lg->sigint_ev)
        event_free(lg->sigint_ev);
    if (lg->base)
        event_base_free(lg->base);
    free(lg->qbuf);
    free(lg->qoff);
}

int main(int argc, char **argv)
{
    static loadgen lg; /* the histogram is large: keep it off the stack */
    lg.opt = (options){ "127.0.0.1", "7700", 7700, 16, 1, 10.0, 2.0, NULL, 0 };
    lg.connect_failed = -1;
    int rc = parse_args(argc, argv, &lg.opt);
    if (rc)
        return rc > 0 ? 0 : EXIT_USAGE;
    if (load_requests(&lg, lg.opt.query_file)) {
        cleanup(&lg);
        return EXIT_USAGE;
    }
    if (raise_fd_limit((rlim_t)lg.opt.conns + LG_FD_SLACK)) {
        cleanup(&lg);
        return EXIT_USAGE;
    }
    signal(SIGPIPE, SIG_IGN);

    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(lg.opt.host, lg.opt.port, &hints, &ai);
    if (gai) {
        fprintf(stderr, "ks-loadgen: cannot resolve %s port %s: %s\n", lg.opt.host, lg.opt.port, gai_strerror(gai));
        cleanup(&lg);
        return EXIT_USAGE;
    }
    lg.base = event_base_new();
    lg.conns = calloc((size_t)lg.opt.conns, sizeof *lg.conns);
    lg.phase_timer = lg.base ? evtimer_new(lg.base, phase_cb, &lg) : NULL;
    lg.sigint_ev = lg.base ? evsignal_new(lg.base, SIGINT, sigint_cb, &lg) : NULL;
    if (!lg.base || !lg.conns || !lg.phase_timer || !lg.sigint_ev) {
        fprintf(stderr, "ks-loadgen: out of memory setting up the event loop\n");
        freeaddrinfo(ai);
        cleanup(&lg);
        return EXIT_USAGE;
    }
    event_add(lg.sigint_ev, NULL);
    struct timeval ct = { LG_CONNECT_TIMEOUT, 0 };
    evtimer_add(lg.phase_timer, &ct);
    lg.phase = PH_CONNECT;
    rc = open_conns(&lg, ai);
    freeaddrinfo(ai);
    if (rc) {
        if (rc == KS_ENOMEM)
            fprintf(stderr, "ks-loadgen: out of memory opening connections\n");
        cleanup(&lg);
        return EXIT_USAGE;
    }

    event_base_dispatch(lg.base);

    if (lg.phase == PH_CONNECT) {
        if (lg.connect_failed >= 0 && lg.connect_failed != ETIMEDOUT)
            fprintf(stderr, "ks-loadgen: cannot connect to %s port %s: %s\n", lg.opt.host, lg.opt.port,
                    strerror(lg.connect_failed));
        else if (lg.connect_failed < 0)
            fprintf(stderr, "ks-loadgen: interrupted while connecting\n");
        cleanup(&lg);
        return EXIT_USAGE;
    }
    finish(&lg); /* in case the loop ended for another reason */
    report(&lg);
    int all_lost = lg.nalive == 0;
    if (all_lost)
        fprintf(stderr, "ks-loadgen: every connection was lost before the end (%s)\n", lg.first_error);
    cleanup(&lg);
    return all_lost ? EXIT_RUN_FAILED : 0;
}
