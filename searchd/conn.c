/* Connections: one bufferevent each, owned by one worker for life. Requests
 * are LF-terminated lines; at most KSD_CMDS_PER_EVENT run per wake-up (the
 * rest on the next loop turn), so one pipelining client cannot starve the
 * others. A client that does not read its replies is paused (no reading)
 * until its output drains, and no more than one request line plus
 * KSD_IN_SLACK is read ahead, so its memory stays bounded both ways. A
 * request line must be complete within --request-timeout of its first byte
 * (slowloris: the idle timeout alone never fires on a byte a second). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "ksd.h"

static void conn_free(ksd_conn *c)
{
    ksd_worker *w = c->w;
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->more)
        event_free(c->more);
    if (c->req_timer)
        event_free(c->req_timer);
    bufferevent_free(c->bev);
    free(c);
    atomic_fetch_sub(&w->srv->nconns, 1);
    if (w->draining && !w->conns)
        event_base_loopbreak(w->base);
}

/* The output has been sent: close, or, when the client has sent bytes we
 * did not read, close lingering (as refuse() in server.c does): shut our
 * write side and drop what arrives until EOF or 2 s. Closing with unread
 * input makes the kernel reset the connection, and the client could lose
 * the reply (an HTTP 413, say). Returns 1 if c was freed. */
static int finish_close(ksd_conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    if (c->lingering || (!c->unread && evbuffer_get_length(in) == 0)) {
        conn_free(c);
        return 1;
    }
    c->lingering = 1;
    evbuffer_drain(in, evbuffer_get_length(in));
    shutdown(bufferevent_getfd(c->bev), SHUT_WR);
    struct timeval tv = { 2, 0 };
    bufferevent_set_timeouts(c->bev, &tv, NULL);
    bufferevent_enable(c->bev, EV_READ);
    return 0;
}

/* Stops reading; the connection is freed once its output has been sent.
 * Returns 1 if c was freed right away (the caller must not touch it). */
static int close_after_flush(ksd_conn *c)
{
    c->closing = 1;
    evtimer_del(c->req_timer);
    bufferevent_disable(c->bev, EV_READ);
    bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        return finish_close(c);
    return 0;
}

/* Sends w->out to the client. */
static void flush_reply(ksd_conn *c)
{
    ksd_worker *w = c->w;
    if (w->out.len)
        bufferevent_write(c->bev, w->out.data, w->out.len);
    ksp_buf_reset(&w->out);
}

static void send_error(ksd_conn *c, ksp_errcode code, const char *msg)
{
    ksp_error err;
    ksp_error_set(&err, code, 1, "%s", msg);
    ksp_format_error(&c->w->out, c->mode, &err);
    flush_reply(c);
    atomic_fetch_add(&c->w->stats.errors, 1);
}

/* Takes the next complete line-protocol request out of in. Returns 1 with
 * a malloc'd *line, 0 when more input is needed, -1 when the line is over
 * the limit (the error reply has been sent; the caller closes). */
static int take_line(ksd_conn *c, struct evbuffer *in, char **line, size_t *len)
{
    size_t max_line = c->w->srv->cfg.max_line;
    struct evbuffer_ptr eol = evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_LF);
    size_t n = eol.pos < 0 ? evbuffer_get_length(in) : (size_t)eol.pos;
    if (n > max_line + 1) { /* +1: a CR before the LF does not count */
        send_error(c, KSP_ERR_LINE_TOO_LONG, "request line longer than the limit; closing");
        ksd_log("%s: line too long (%s%zu bytes): closed", c->peer, eol.pos < 0 ? "over " : "", eol.pos < 0 ? max_line : n);
        return -1;
    }
    if (eol.pos < 0)
        return 0;
    if (!(*line = malloc(n + 1)))
        return -1;
    evbuffer_remove(in, *line, n);
    evbuffer_drain(in, 1); /* the LF */
    (*line)[n] = 0;
    *len = n;
    return 1;
}

/* Runs up to `budget` complete requests. Returns 1 if c was freed. */
static int run_commands(ksd_conn *c, int budget)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    struct evbuffer *out = bufferevent_get_output(c->bev);
    while (!c->closing) {
        if (evbuffer_get_length(out) > KSD_OUT_HIGH) {
            /* back-pressure: resume in write_cb once the client has read */
            c->paused = 1;
            evtimer_del(c->req_timer); /* the client's reading is late, not its request */
            bufferevent_disable(c->bev, EV_READ);
            return 0;
        }
        if (budget-- == 0) {
            /* continue on the next loop turn: a zero timeout, not event_active(),
             * which libevent would run again in this same turn, before it polls
             * anyone else's socket (the budget would not yield to them) */
            static const struct timeval now = { 0, 0 };
            evtimer_add(c->more, &now);
            return 0;
        }
        char *req = NULL;
        size_t n = 0;
        int got = c->http ? ksd_http_take(c, in, &req, &n) : take_line(c, in, &req, &n);
        if (got < 0) {
            flush_reply(c);
            return close_after_flush(c);
        }
        if (got == 0) {
            if (c->w->draining) /* every complete request is answered */
                return close_after_flush(c);
            int timeout = c->w->srv->cfg.request_timeout;
            if (evbuffer_get_length(in) > 0 && timeout > 0 && !evtimer_pending(c->req_timer, NULL)) {
                struct timeval tv = { timeout, 0 };
                evtimer_add(c->req_timer, &tv); /* a request has begun: it has `timeout` s */
            }
            return 0;
        }
        evtimer_del(c->req_timer); /* the next request's clock starts when it is seen */
        int close = c->http ? ksd_http_execute(c, req, n) : ksd_execute(c, req, n);
        free(req);
        flush_reply(c);
        if (close)
            return close_after_flush(c);
    }
    return 0;
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    ksd_conn *c = arg;
    if (c->lingering) {
        evbuffer_drain(bufferevent_get_input(bev), evbuffer_get_length(bufferevent_get_input(bev)));
        return;
    }
    run_commands(c, KSD_CMDS_PER_EVENT);
}

static void more_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ksd_conn *c = arg;
    if (!c->paused && !c->closing)
        run_commands(c, KSD_CMDS_PER_EVENT);
}

static void req_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ksd_conn *c = arg;
    if (c->closing)
        return;
    int timeout = c->w->srv->cfg.request_timeout;
    char msg[96];
    snprintf(msg, sizeof msg, "request %s not complete within %d s; closing", c->http ? "head" : "line", timeout);
    if (c->http) {
        ksd_http_fail_close(c, KSP_ERR_TIMEOUT, msg);
        flush_reply(c);
    } else {
        send_error(c, KSP_ERR_TIMEOUT, msg);
    }
    ksd_log("%s: request %s not complete within %d s: closed", c->peer, c->http ? "head" : "line", timeout);
    close_after_flush(c);
}

static void write_cb(struct bufferevent *bev, void *arg)
{
    ksd_conn *c = arg;
    size_t left = evbuffer_get_length(bufferevent_get_output(bev));
    if (c->closing) {
        if (left == 0 && !c->lingering)
            finish_close(c);
        return;
    }
    if (c->paused && left <= KSD_OUT_LOW) {
        c->paused = 0;
        if (!c->w->draining) /* draining: the requests left are in the input buffer */
            bufferevent_enable(bev, EV_READ);
        run_commands(c, KSD_CMDS_PER_EVENT);
    }
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    ksd_conn *c = arg;
    if (c->lingering) { /* the client's EOF, an error or the 2 s are up */
        conn_free(c);
        return;
    }
    if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) && !c->closing) {
        /* The client has finished sending (e.g. `nc -N`): answer every
         * complete request it sent, then close once the replies are out. */
        if (run_commands(c, 1 << 30))
            return;
        if (!c->closing)
            close_after_flush(c);
        return;
    }
    if (what & BEV_EVENT_TIMEOUT)
        ksd_log("%s: idle for %d s: closed", c->peer, c->w->srv->cfg.idle_timeout);
    /* error, timeout, or EOF while closing: unsent replies go with the connection */
    conn_free(c);
}

void ksd_conn_adopt(ksd_worker *w, int fd, int admin, int http)
{
    ksd_conn *c = calloc(1, sizeof *c);
    struct bufferevent *bev = c ? bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE) : NULL;
    struct event *more = bev ? evtimer_new(w->base, more_cb, c) : NULL;
    struct event *req_timer = more ? evtimer_new(w->base, req_timeout_cb, c) : NULL;
    if (!c || !bev || !more || !req_timer) {
        /* drop this connection, keep serving the others */
        if (more)
            event_free(more);
        if (bev)
            bufferevent_free(bev);
        else
            close(fd);
        free(c);
        atomic_fetch_sub(&w->srv->nconns, 1);
        ksd_log("out of memory accepting a connection: dropped it");
        return;
    }
    c->w = w;
    c->bev = bev;
    c->more = more;
    c->mode = http ? KSP_MODE_JSON : KSP_MODE_TEXT; /* HTTP errors are JSON */
    c->http = http;
    c->admin = admin;
    c->req_timer = req_timer;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    snprintf(c->peer, sizeof c->peer, "fd %d", fd);
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
        char host[48] = "?";
        int port = 0;
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
            port = ntohs(a->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
            port = ntohs(a->sin6_port);
        }
        if (ss.ss_family == AF_UNIX)
            snprintf(c->peer, sizeof c->peer, "admin-socket fd %d", fd);
        else
            snprintf(c->peer, sizeof c->peer, "%s:%d", host, port);
    }
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    atomic_fetch_add(&w->stats.connections, 1);
    bufferevent_setcb(bev, read_cb, write_cb, event_cb, c);
    bufferevent_setwatermark(bev, EV_WRITE, KSD_OUT_LOW, 0);
    /* libevent writes 16 KB per loop turn by default: a big reply would take
     * dozens of turns, each running other clients' commands */
    bufferevent_set_max_single_write(bev, KSD_OUT_HIGH);
    /* +2: a line one byte over the limit must be seen to be refused */
    bufferevent_setwatermark(bev, EV_READ, 0, w->srv->cfg.max_line + 2 + KSD_IN_SLACK);
    if (w->srv->cfg.idle_timeout > 0) {
        struct timeval tv = { w->srv->cfg.idle_timeout, 0 };
        bufferevent_set_timeouts(bev, &tv, &tv);
    }
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

/* SIGTERM: answer every complete request the client sent before it (those
 * still in the socket too), then close each connection once its replies are
 * out. A connection paused for back-pressure goes on when its client reads
 * (write_cb); nothing sent after this point is read. */
static void drain_one(ksd_conn *c)
{
    if (c->closing)
        return;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    bufferevent_disable(c->bev, EV_READ);
    /* A bufferevent keeps the end of its input buffer frozen except inside
     * its own read callback, so evbuffer_read() on it fails (-1, errno
     * untouched) unless we thaw it as that callback does. Without this, the
     * requests still in the socket were never read, and closing with them
     * unread reset the connection (seen in CI under load). */
    evbuffer_unfreeze(in, 0);
    while (evbuffer_read(in, bufferevent_getfd(c->bev), 1 << 16) > 0)
        ;
    evbuffer_freeze(in, 0);
    run_commands(c, 1 << 30); /* ends paused (write_cb resumes) or closing */
}

void ksd_conn_drain_all(ksd_worker *w)
{
    ksd_conn *c = w->conns;
    while (c) {
        ksd_conn *next = c->next;
        drain_one(c);
        c = next;
    }
    if (!w->conns)
        event_base_loopbreak(w->base);
}

/* A connection handed over after SIGTERM (accepted just before it): its
 * requests are answered like everyone else's. */
void ksd_conn_adopt_draining(ksd_worker *w, int fd, int admin, int http)
{
    ksd_conn_adopt(w, fd, admin, http);
    if (w->conns && bufferevent_getfd(w->conns->bev) == fd)
        drain_one(w->conns);
    if (!w->conns)
        event_base_loopbreak(w->base);
}
