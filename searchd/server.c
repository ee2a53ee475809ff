/* The server: the main thread owns the listener and the signals; N worker
 * threads each own an event_base, a searcher and their connections. New
 * connections reach a worker round-robin through its queue and a wake-up
 * pipe. Reload swaps index handles between commands, so no query fails. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/listener.h>
#include <event2/thread.h>

#include "ks_score.h"
#include "ksd.h"

static void notify_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    ksd_worker *w = arg;
    char buf[64];
    ssize_t n = read(fd, buf, sizeof buf);
    int quit = 0;
    for (ssize_t i = 0; i < n; i++)
        quit |= buf[i] == 'q';
    /* Adopt first, drain second: connections handed over before the 'q'
     * (the main thread queues them before it writes it) must be in the list
     * when the drain starts. Draining first could free every connection the
     * worker had, break its loop while these still waited here, and close
     * them unanswered with their requests unread (a reset for the client). */
    for (;;) {
        ksd_pending p = { -1, 0, 0 };
        pthread_mutex_lock(&w->mu);
        if (w->n_pending)
            p = w->pending[--w->n_pending];
        pthread_mutex_unlock(&w->mu);
        if (p.fd < 0)
            break;
        if (w->draining)
            ksd_conn_adopt_draining(w, p.fd, p.admin, p.http);
        else
            ksd_conn_adopt(w, p.fd, p.admin, p.http);
    }
    if (quit && !w->draining) {
        w->draining = 1;
        struct timeval tv = { w->srv->cfg.drain_timeout, 0 };
        evtimer_add(w->drain_timer, &tv);
        ksd_conn_drain_all(w);
    }
}

static void drain_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ksd_worker *w = arg;
    ksd_log("worker %d: replies still unsent after %d s (--drain-timeout); closing anyway", w->id,
            w->srv->cfg.drain_timeout);
    event_base_loopbreak(w->base);
}

static void *worker_main(void *arg)
{
    ksd_worker *w = arg;
    event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

ks_searcher *ksd_worker_searcher(ksd_worker *w)
{
    unsigned gen = atomic_load(&w->srv->index_gen);
    if (w->searcher && w->searcher_gen == gen)
        return w->searcher;
    ks_searcher *s;
    ks_errbuf eb = { "" };
    if (ks_searcher_open_engine(w->srv->cfg.index, w->srv->cfg.engine, &s, &eb) == 0) {
        ks_searcher_close(w->searcher);
        w->searcher = s;
    } else {
        /* keep serving the old index; say so once per generation */
        ksd_log("worker %d: cannot open the index: %s%s", w->id, eb.msg,
                w->searcher ? " (still serving the previous one)" : "");
    }
    w->searcher_gen = gen;
    return w->searcher;
}

int ksd_reload(ksd_server *srv, ksd_worker *w, uint64_t *revision, ks_errbuf *eb)
{
    pthread_mutex_lock(&srv->reload_mu);
    ks_searcher *s;
    ks_index_info info;
    int rc = ks_searcher_open_engine(srv->cfg.index, srv->cfg.engine, &s, eb);
    if (!rc && (rc = ks_searcher_info(s, &info, eb)))
        ks_searcher_close(s);
    if (rc) {
        atomic_fetch_add(&srv->reload_failures, 1);
        ksd_log("reload failed, still serving the previous index: %s", eb->msg);
        pthread_mutex_unlock(&srv->reload_mu);
        return rc;
    }
    unsigned gen = atomic_fetch_add(&srv->index_gen, 1) + 1;
    atomic_fetch_add(&srv->reloads, 1);
    ksd_log("reloaded %s: %llu documents, revision %llu", info.generation, (unsigned long long)info.documents,
            (unsigned long long)info.revision);
    *revision = info.revision;
    ks_searcher_close(srv->keep); /* releases the previous generation's segment */
    srv->keep = NULL;
    if (w) {
        ks_searcher_close(w->searcher);
        w->searcher = s;
        w->searcher_gen = gen;
    } else {
        srv->keep = s;
    }
    pthread_mutex_unlock(&srv->reload_mu);
    return 0;
}

/* A refused connection gets its ERR line, then a lingering close: we stop
 * writing and read (and drop) what the client sends until it closes or 2 s
 * pass. Closing with unread input would make the kernel reset the
 * connection, and the client could lose the ERR line. */
static void refused_read_cb(struct bufferevent *bev, void *arg)
{
    (void)arg;
    evbuffer_drain(bufferevent_get_input(bev), evbuffer_get_length(bufferevent_get_input(bev)));
}

static void refused_write_cb(struct bufferevent *bev, void *arg)
{
    (void)arg;
    if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        shutdown(bufferevent_getfd(bev), SHUT_WR);
}

static void refused_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)what;
    (void)arg;
    bufferevent_free(bev); /* EOF, error or the 2 s timeout */
}

static void refuse(ksd_server *srv, evutil_socket_t fd, int http)
{
    static const char line[] = "ERR TOO_MANY_CONNECTIONS server is at its connection limit; try again later\n";
    const char *msg = http ? ksd_http_refusal : line;
    struct bufferevent *bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        evutil_closesocket(fd);
        return;
    }
    struct timeval tv = { 2, 0 };
    bufferevent_setcb(bev, refused_read_cb, refused_write_cb, refused_event_cb, NULL);
    bufferevent_set_timeouts(bev, &tv, &tv);
    bufferevent_write(bev, msg, strlen(msg));
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

/* Every listener: connections of any kind count toward --max-connections. */
void ksd_hand_off(ksd_server *srv, int fd, int admin, int http)
{
    /* Admin connections are counted but never refused: the operator must
     * be able to get in when the network clients have used up the limit. */
    if (atomic_fetch_add(&srv->nconns, 1) >= srv->cfg.max_connections && !admin) {
        atomic_fetch_sub(&srv->nconns, 1);
        refuse(srv, fd, http);
        return;
    }
    ksd_worker *w = &srv->workers[srv->rr];
    srv->rr = (srv->rr + 1) % srv->nworkers;
    pthread_mutex_lock(&w->mu);
    if (w->n_pending == w->cap_pending) {
        size_t nc = w->cap_pending ? w->cap_pending * 2 : 64;
        ksd_pending *np = realloc(w->pending, nc * sizeof *np);
        if (!np) {
            pthread_mutex_unlock(&w->mu);
            evutil_closesocket(fd);
            atomic_fetch_sub(&srv->nconns, 1);
            return;
        }
        w->pending = np;
        w->cap_pending = nc;
    }
    w->pending[w->n_pending++] = (ksd_pending){ fd, admin, http };
    pthread_mutex_unlock(&w->mu);
    ssize_t ignored = write(w->notify[1], "c", 1);
    (void)ignored;
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len, void *arg)
{
    (void)sa;
    (void)len;
    ksd_server *srv = arg;
    ksd_hand_off(srv, fd, l && l == srv->admin_listener, l && l == srv->http_listener);
}

static void accept_error_cb(struct evconnlistener *l, void *arg)
{
    (void)l;
    (void)arg;
    /* EMFILE and friends: log and keep listening (libevent retries) */
    ksd_log("accept failed: %s", strerror(errno));
}

static void sighup_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    uint64_t rev;
    ks_errbuf eb = { "" };
    ksd_log("SIGHUP: reloading the index");
    ksd_reload(arg, NULL, &rev, &eb);
}

/* Connections the kernel completed but we had not accepted yet may hold
 * requests sent before the signal: take them in to be drained, rather than
 * reset them by closing the listening socket. */
static void stop_listening(ksd_server *srv, struct evconnlistener **lp)
{
    if (!*lp)
        return;
    evutil_socket_t lfd = evconnlistener_get_fd(*lp);
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int cfd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0)
            break;
        accept_cb(*lp, cfd, (struct sockaddr *)&ss, (int)sl, srv);
    }
    evconnlistener_free(*lp);
    *lp = NULL;
}

static void sigterm_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    ksd_server *srv = arg;
    ksd_log("%s: no longer accepting; finishing replies in flight", sig == SIGINT ? "SIGINT" : "SIGTERM");
    stop_listening(srv, &srv->listener);
    stop_listening(srv, &srv->http_listener);
    stop_listening(srv, &srv->admin_listener); /* the socket file goes at exit */
    for (int i = 0; i < srv->nworkers; i++) {
        ssize_t ignored = write(srv->workers[i].notify[1], "q", 1);
        (void)ignored;
    }
    event_base_loopbreak(srv->base);
}

/* Parses "host:port" ("[v6]:port" too) into a bound listener. */
static struct evconnlistener *listen_on(ksd_server *srv, const char *opt, const char *spec, char *err, size_t cap)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    if (!colon || colon == spec || !colon[1]) {
        snprintf(err, cap, "%s wants HOST:PORT, got '%s'", opt, spec);
        return NULL;
    }
    size_t hl = (size_t)(colon - spec);
    if (spec[0] == '[' && hl >= 2 && spec[hl - 1] == ']') {
        spec++;
        hl -= 2;
    }
    if (hl >= sizeof host) {
        snprintf(err, cap, "%s host too long", opt);
        return NULL;
    }
    memcpy(host, spec, hl);
    host[hl] = 0;
    /* getaddrinfo() takes any number as a service and keeps its low 16 bits
     * (99999 would listen on 34463): check the range ourselves. */
    const char *port = colon + 1;
    char *end;
    errno = 0;
    long pn = strtol(port, &end, 10);
    if (port[0] < '0' || port[0] > '9' || *end || errno || pn < 1 || pn > 65535) {
        snprintf(err, cap, "%s wants a port from 1 to 65535, got '%s'", opt, port);
        return NULL;
    }
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int rc = getaddrinfo(host, colon + 1, &hints, &ai);
    if (rc) {
        snprintf(err, cap, "cannot resolve %s: %s", spec, gai_strerror(rc));
        return NULL;
    }
    struct evconnlistener *l =
        evconnlistener_new_bind(srv->base, accept_cb, srv, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 1024,
                                ai->ai_addr, (int)ai->ai_addrlen);
    if (!l)
        snprintf(err, cap, "cannot listen on %s: %s", spec, strerror(errno));
    freeaddrinfo(ai);
    return l;
}

static int write_pid_file(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "%d\n", (int)getpid());
    return fclose(f);
}

int ksd_server_run(const ksd_config *cfg)
{
    ksd_server srv;
    memset(&srv, 0, sizeof srv);
    srv.cfg = *cfg;
    srv.started = time(NULL);
    pthread_mutex_init(&srv.reload_mu, NULL);
    ksp_limits_default(&srv.limits);
    srv.limits.max_line = cfg->max_line;
    srv.limits.max_limit = cfg->max_limit;
    srv.limits.max_window = cfg->max_window;
    signal(SIGPIPE, SIG_IGN);

    evthread_use_pthreads();
    srv.base = event_base_new();
    if (!srv.base) {
        fprintf(stderr, "kosearchd: cannot create event loop\n");
        ksd_log("cannot create event loop");
        return 1;
    }
    /* Every socket and file first, then the privilege drop, then the index
     * (so it is opened, and found readable or not, as the user that will
     * reopen it on RELOAD), then the worker threads. */
    char err[KS_ERRBUF_SIZE + 256];
    int pid_written = 0;
    ks_searcher *probe = NULL;
    ks_index_info info;
    ks_errbuf eb = { "" };
    if (!(srv.listener = listen_on(&srv, "--listen", cfg->listen, err, sizeof err)))
        goto fail;
    evconnlistener_set_error_cb(srv.listener, accept_error_cb);
    if (cfg->http) {
        if (!(srv.http_listener = listen_on(&srv, "--http", cfg->http, err, sizeof err)))
            goto fail;
        evconnlistener_set_error_cb(srv.http_listener, accept_error_cb);
    }
    if (cfg->admin_socket && ksd_admin_listen(&srv, err, sizeof err))
        goto fail;
    if (cfg->pid_file) {
        if (write_pid_file(cfg->pid_file)) {
            snprintf(err, sizeof err, "cannot write pid file %s: %s", cfg->pid_file, strerror(errno));
            goto fail;
        }
        pid_written = 1;
    }
    if (ksd_priv_drop(cfg, err, sizeof err))
        goto fail;
    /* A missing or broken index is a clear message and a non-zero exit. */
    if (ks_searcher_open_engine(cfg->index, cfg->engine, &probe, &eb) || ks_searcher_info(probe, &info, &eb)) {
        snprintf(err, sizeof err, "cannot open index %s: %s", cfg->index, eb.msg);
        goto fail;
    }
    srv.keep = probe; /* the workers' first opens reuse its validated segment */

    srv.nworkers = cfg->threads;
    srv.workers = calloc((size_t)srv.nworkers, sizeof *srv.workers);
    for (int i = 0; i < srv.nworkers; i++) {
        ksd_worker *w = &srv.workers[i];
        w->id = i;
        w->srv = &srv;
        pthread_mutex_init(&w->mu, NULL);
        ksp_buf_init(&w->out);
        if (pipe2(w->notify, O_NONBLOCK | O_CLOEXEC) || !(w->base = event_base_new()) ||
            ks_searcher_open_engine(cfg->index, cfg->engine, &w->searcher, &eb)) {
            fprintf(stderr, "kosearchd: cannot start worker %d: %s\n", i, eb.msg[0] ? eb.msg : strerror(errno));
            return 1;
        }
        w->notify_ev = event_new(w->base, w->notify[0], EV_READ | EV_PERSIST, notify_cb, w);
        w->drain_timer = evtimer_new(w->base, drain_timeout_cb, w);
        event_add(w->notify_ev, NULL);
        if (pthread_create(&w->th, NULL, worker_main, w)) {
            fprintf(stderr, "kosearchd: cannot start worker thread %d\n", i);
            return 1;
        }
    }
    struct event *ev_hup = evsignal_new(srv.base, SIGHUP, sighup_cb, &srv);
    struct event *ev_term = evsignal_new(srv.base, SIGTERM, sigterm_cb, &srv);
    struct event *ev_int = evsignal_new(srv.base, SIGINT, sigterm_cb, &srv);
    event_add(ev_hup, NULL);
    event_add(ev_term, NULL);
    event_add(ev_int, NULL);
    ksd_log("started: index %s (%llu documents, revision %llu), engine %s (kernel %s), listening on %s%s%s, "
            "%d worker threads, max %d connections",
            info.generation, (unsigned long long)info.documents, (unsigned long long)info.revision,
            cfg->engine == KS_ENGINE_SIMD ? "simd" : "xapian", ks_score_name(), cfg->listen,
            cfg->http ? ", HTTP on " : "", cfg->http ? cfg->http : "", srv.nworkers, cfg->max_connections);

    event_base_dispatch(srv.base);

    for (int i = 0; i < srv.nworkers; i++)
        pthread_join(srv.workers[i].th, NULL);
    ksd_stats sum;
    ksd_stats_sum(&srv, &sum);
    ksd_log("stopped: %llu connections, %llu commands, %llu queries, %llu errors served",
            (unsigned long long)atomic_load(&sum.connections), (unsigned long long)atomic_load(&sum.commands),
            (unsigned long long)atomic_load(&sum.queries), (unsigned long long)atomic_load(&sum.errors));
    for (int i = 0; i < srv.nworkers; i++) {
        ksd_worker *w = &srv.workers[i];
        while (w->conns) { /* left only after a drain timeout */
            ksd_conn *c = w->conns;
            w->conns = c->next;
            bufferevent_free(c->bev);
            event_free(c->more);
            event_free(c->req_timer);
            free(c);
        }
        event_free(w->notify_ev);
        event_free(w->drain_timer);
        event_base_free(w->base);
        close(w->notify[0]);
        close(w->notify[1]);
        ks_searcher_close(w->searcher);
        ksp_buf_free(&w->out);
        free(w->pending);
        pthread_mutex_destroy(&w->mu);
    }
    free(srv.workers);
    event_free(ev_hup);
    event_free(ev_term);
    event_free(ev_int);
    if (srv.listener)
        evconnlistener_free(srv.listener);
    if (srv.http_listener)
        evconnlistener_free(srv.http_listener);
    ksd_admin_close(&srv);
    event_base_free(srv.base);
    ks_searcher_close(srv.keep);
    if (cfg->pid_file)
        unlink(cfg->pid_file);
    return 0;

fail:
    fprintf(stderr, "kosearchd: %s\n", err);
    ksd_log("%s", err);
    ks_searcher_close(probe);
    if (srv.listener)
        evconnlistener_free(srv.listener);
    if (srv.http_listener)
        evconnlistener_free(srv.http_listener);
    ksd_admin_close(&srv);
    if (pid_written)
        unlink(cfg->pid_file);
    event_base_free(srv.base);
    return 1;
}
