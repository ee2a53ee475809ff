/* Protocol v1 commands run inline on the worker: parse (proto/), execute
 * against this worker's searcher (the bodies shared with HTTP are in
 * ops.c), format the reply into w->out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ksd.h"
#include "ksp_token.h"

static int reply_error(ksd_conn *c, ksp_errcode code, int close, const char *msg)
{
    ksp_error err;
    ksp_error_set(&err, code, close, "%s", msg);
    ksp_format_error(&c->w->out, c->mode, &err);
    atomic_fetch_add(&c->w->stats.errors, 1);
    return close;
}

/* Sends an error an ops.c body gave back (the connection stays open). */
static int reply_op_error(ksd_conn *c, const ksp_error *err)
{
    ksp_format_error(&c->w->out, c->mode, err);
    atomic_fetch_add(&c->w->stats.errors, 1);
    return 0;
}

/* The parser fills in the default markers when hl= is absent, so an empty
 * marker here was asked for: hl=, turns highlighting off. */
static void copy_marker(char *dst, ksp_str s)
{
    if (s.len)
        memcpy(dst, s.ptr, s.len);
    dst[s.len] = 0;
}

static int cmd_search(ksd_conn *c, ks_searcher *s, const ksp_request *req)
{
    ks_search_opts o;
    ks_search_opts_default(&o);
    char hl_open[KSP_HL_MAX + 1], hl_close[KSP_HL_MAX + 1];
    copy_marker(hl_open, req->hl_open);
    copy_marker(hl_close, req->hl_close);
    o.offset = req->offset;
    o.limit = req->limit;
    o.hl_open = hl_open;
    o.hl_close = hl_close;
    ks_results r;
    ksp_hit *hits;
    ksp_error err;
    uint64_t took;
    if (ksd_op_search(c->w, c->peer, s, req->arg.ptr, req->arg.len, &o, &r, &hits, &took, &err))
        return reply_op_error(c, &err);
    ksp_search_result res = { r.total, r.estimate, took, hits, r.n };
    ksp_format_search(&c->w->out, c->mode, &res);
    free(hits);
    ks_results_free(&r);
    return 0;
}

static int cmd_count(ksd_conn *c, ks_searcher *s, const ksp_request *req)
{
    ksp_error err;
    if (ksd_op_count(c->w, c->peer, s, req->arg.ptr, req->arg.len, &c->w->out, c->mode, &err))
        return reply_op_error(c, &err);
    return 0;
}

static int cmd_get(ksd_conn *c, ks_searcher *s, const ksp_request *req)
{
    ksp_error err;
    if (ksd_op_get(c->peer, s, req->arg, &c->w->out, c->mode, &err))
        return reply_op_error(c, &err);
    return 0;
}

static int cmd_info(ksd_conn *c, ks_searcher *s)
{
    ksp_error err;
    if (ksd_op_info(c->w->srv, s, &c->w->out, c->mode, &err))
        return reply_op_error(c, &err);
    return 0;
}

static int cmd_stats(ksd_conn *c)
{
    ksd_op_stats(c->w->srv, &c->w->out, c->mode);
    return 0;
}

/* Admin commands need an admin connection: the admin socket, or a TCP
 * connection after a good AUTH. Returns 0 if c may run cmd, else appends
 * ERR FORBIDDEN saying how admin commands are enabled, and returns -1. */
static int admin_only(ksd_conn *c, const char *cmd)
{
    if (c->admin)
        return 0;
    const ksd_config *cfg = &c->w->srv->cfg;
    char msg[KSP_MSG_MAX];
    if (cfg->admin_token)
        snprintf(msg, sizeof msg, "%s is an admin command: send AUTH <token> first%s", cmd,
                 cfg->admin_socket ? ", or use the admin socket" : "");
    else if (cfg->admin_socket)
        snprintf(msg, sizeof msg, "%s is an admin command: send it on the admin socket", cmd);
    else
        snprintf(msg, sizeof msg,
                 "%s is an admin command, disabled: start kosearchd with --admin-socket PATH "
                 "or --admin-token-file FILE",
                 cmd);
    reply_error(c, KSP_ERR_FORBIDDEN, 0, msg);
    return -1;
}

/* AUTH <token>: a good token makes c an admin connection. Wrong tokens
 * are counted (STATS auth_failures, the log); the KSD_AUTH_MAX_FAILURES-th
 * on one connection closes it, so guessing costs a reconnect. */
static int cmd_auth(ksd_conn *c, const ksp_request *req)
{
    ksd_server *srv = c->w->srv;
    const ksd_config *cfg = &srv->cfg;
    if (cfg->admin_token &&
        ksp_token_equal(cfg->admin_token, cfg->admin_token_len, req->arg.ptr, req->arg.len)) {
        c->admin = 1;
        c->auth_failures = 0;
        ksd_log("%s: AUTH accepted: admin commands allowed on this connection", c->peer);
        ksp_format_authenticated(&c->w->out, c->mode);
        return 0;
    }
    atomic_fetch_add(&srv->auth_failures, 1);
    int close = ++c->auth_failures >= KSD_AUTH_MAX_FAILURES;
    ksd_log("%s: AUTH refused (%s, %d on this connection)%s", c->peer,
            cfg->admin_token ? "wrong token" : "no --admin-token-file", c->auth_failures,
            close ? "; closing" : "");
    char msg[KSP_MSG_MAX];
    snprintf(msg, sizeof msg, "%s%s",
             cfg->admin_token ? "wrong token" : "AUTH is disabled (kosearchd runs without --admin-token-file)",
             close ? "; closing the connection" : "");
    return reply_error(c, KSP_ERR_FORBIDDEN, close, msg);
}

static int cmd_reload(ksd_conn *c)
{
    if (admin_only(c, "RELOAD"))
        return 0;
    uint64_t rev = 0;
    ks_errbuf eb = { "" };
    if (ksd_reload(c->w->srv, c->w, &rev, &eb)) {
        char msg[600];
        snprintf(msg, sizeof msg, "reload failed, still serving the previous index: %s", eb.msg);
        return reply_error(c, KSP_ERR_INDEX_UNAVAILABLE, 0, msg);
    }
    char r[32];
    int n = snprintf(r, sizeof r, "%llu", (unsigned long long)rev);
    ksp_format_reloaded(&c->w->out, c->mode, r, (size_t)n);
    return 0;
}

int ksd_execute(ksd_conn *c, const char *line, size_t len)
{
    ksd_worker *w = c->w;
    ksp_request req;
    ksp_error err;
    atomic_fetch_add(&w->stats.commands, 1);
    if (ksp_parse_request(line, len, &w->srv->limits, &req, &err) != 0) {
        ksp_format_error(&w->out, c->mode, &err);
        atomic_fetch_add(&w->stats.errors, 1);
        if (err.close)
            ksd_log("%s: %s: %s; closing", c->peer, err.word, err.message);
        return err.close;
    }
    ks_searcher *s = NULL;
    switch (req.cmd) {
    case KSP_CMD_SEARCH:
    case KSP_CMD_COUNT:
    case KSP_CMD_GET:
    case KSP_CMD_INFO:
        if (!(s = ksd_worker_searcher(w)))
            return reply_error(c, KSP_ERR_INDEX_UNAVAILABLE, 0, "no index is open; see the server log");
        break;
    default:
        break;
    }
    switch (req.cmd) {
    case KSP_CMD_PING: ksp_format_pong(&w->out, c->mode); return 0;
    case KSP_CMD_SEARCH: return cmd_search(c, s, &req);
    case KSP_CMD_COUNT: return cmd_count(c, s, &req);
    case KSP_CMD_GET: return cmd_get(c, s, &req);
    case KSP_CMD_INFO: return cmd_info(c, s);
    case KSP_CMD_STATS: return cmd_stats(c);
    case KSP_CMD_HELP: ksp_format_help(&w->out, c->mode, req.topic); return 0;
    case KSP_CMD_QUIT: ksp_format_bye(&w->out, c->mode); return 1;
    case KSP_CMD_RELOAD: return cmd_reload(c);
    case KSP_CMD_AUTH: return cmd_auth(c, &req);
    case KSP_CMD_FORMAT:
        c->mode = req.format;
        ksp_format_format(&w->out, c->mode);
        return 0;
    default: return reply_error(c, KSP_ERR_INTERNAL, 0, "unhandled command");
    }
}
