/* kosearchd: option parsing and start-up; the server lives in server.c. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "ks_score.h"
#include "ksd.h"
#include "ksp_token.h"

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: kosearchd --index DIR [OPTIONS]\n"
            "Serves a kosearch index over a line protocol (see proto/PROTOCOL.md) and,\n"
            "with --http, an HTTP/JSON API and search page (proto/HTTP.md); runs in the\n"
            "foreground and logs one line per start, stop, reload and error.\n\n"
            "  -i, --index DIR          index built by kosearch-indexer (required)\n"
            "  -l, --listen HOST:PORT   address to listen on (default 127.0.0.1:7700;\n"
            "                           a non-loopback address must be given explicitly)\n"
            "      --http HOST:PORT     also serve HTTP there (off by default; e.g.\n"
            "                           127.0.0.1:8080; same workers, limits and stats)\n"
            "      --cors-origin ORIGIN let pages from ORIGIN (e.g. https://example.org) call\n"
            "                           the HTTP API; repeatable (default: none)\n"
            "  -t, --threads N          worker threads (default: number of cores)\n"
            "      --max-connections N  open connections at most (default 1024, lowered to fit\n"
            "                           the open-file limit, which is raised to its hard limit)\n"
            "      --idle-timeout S     close a connection idle this long (default 300; 0: never)\n"
            "      --request-timeout S  a request line must be complete S seconds after its\n"
            "                           first byte, else ERR TIMEOUT and close (default 10; 0: never)\n"
            "      --drain-timeout S    on SIGTERM, finish the replies in flight for at most S\n"
            "                           seconds, then close what is left (default 10)\n"
            "      --max-line BYTES     longest request line (default 8192)\n"
            "      --max-limit N        largest SEARCH limit= (default 1000)\n"
            "      --max-window N       largest SEARCH offset+limit (default 10000)\n"
            "      --snippet-chars N    snippet length in characters (default 160)\n"
            "      --engine simd|xapian who ranks: the native engine over the index's scoring\n"
            "                           segment (default) or Xapian's Enquire; same results\n"
            "      --bm25 K1,K2,K3,B,MIN_NORMLEN  ranking parameters (default 1,0,1,0.5,0.5:\n"
            "                           Xapian's BM25Weight defaults)\n"
            "      --log FILE           append the log to FILE (default: stderr)\n"
            "      --log-queries        one log line per query with its latency\n"
            "      --pid-file FILE      write the process id to FILE\n"
            "      --admin-socket PATH  also listen on a Unix socket at PATH (mode 0600, owned by\n"
            "                           the --user) where admin commands (RELOAD) are allowed\n"
            "      --admin-token-file FILE  allow admin commands on TCP connections that send\n"
            "                           AUTH <token>; the token is FILE's first line (16 to 256\n"
            "                           printable ASCII bytes) and FILE must not be group- or\n"
            "                           world-accessible (chmod 600)\n"
            "      --no-admin           no effect, kept for old scripts: admin commands are\n"
            "                           refused unless one of the two options above is given\n"
            "  -u, --user NAME          when started as root: after listening and opening the\n"
            "                           log, pid file and admin socket, run as NAME (the index\n"
            "                           must be readable by NAME)\n"
            "  -h, --help               this help\n"
            "      --version            print the version\n\n"
            "Admin commands (RELOAD) are refused (ERR FORBIDDEN) on other connections.\n"
            "Signals: SIGHUP reloads the index (queries in flight finish on the old one);\n"
            "SIGTERM/SIGINT stop accepting, finish replies in flight, exit 0.\n"
            "Environment: KOSEARCH_SIMD=scalar|sse4|avx2|avx512 forces a scoring kernel\n"
            "(default: the widest the CPU and OS support; an unsupported one is an error).\n");
}

static int num(const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi) {
        fprintf(stderr, "kosearchd: %s wants a number from %ld to %ld, got '%s'\n", opt, lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        { "index", required_argument, 0, 'i' },       { "listen", required_argument, 0, 'l' },
        { "threads", required_argument, 0, 't' },     { "max-connections", required_argument, 0, 'C' },
        { "idle-timeout", required_argument, 0, 'T' }, { "max-line", required_argument, 0, 'L' },
        { "max-limit", required_argument, 0, 'M' },   { "max-window", required_argument, 0, 'W' },
        { "snippet-chars", required_argument, 0, 'S' }, { "bm25", required_argument, 0, 'B' },
        { "log", required_argument, 0, 'g' },         { "log-queries", no_argument, 0, 'Q' },
        { "pid-file", required_argument, 0, 'p' },    { "no-admin", no_argument, 0, 'N' },
        { "help", no_argument, 0, 'h' },              { "version", no_argument, 0, 'V' },
        { "engine", required_argument, 0, 'E' },      { "request-timeout", required_argument, 0, 'R' },
        { "admin-socket", required_argument, 0, 'A' }, { "admin-token-file", required_argument, 0, 'K' },
        { "user", required_argument, 0, 'u' },        { "drain-timeout", required_argument, 0, 'D' },
        { "http", required_argument, 0, 'H' },        { "cors-origin", required_argument, 0, 'O' },
        { 0, 0, 0, 0 }
    };
    ksd_config cfg;
    memset(&cfg, 0, sizeof cfg);
    ks_bm25 bm = KS_BM25_DEFAULTS;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    cfg.listen = "127.0.0.1:7700";
    cfg.threads = ncpu > 0 ? (int)ncpu : 1;
    cfg.max_connections = 1024;
    cfg.idle_timeout = 300;
    cfg.request_timeout = 10;
    cfg.drain_timeout = KSD_DRAIN_SECONDS;
    int conn_given = 0;
    cfg.max_line = 8192;
    cfg.max_limit = 1000;
    cfg.max_window = 10000;
    cfg.snippet_chars = 160;
    cfg.bm25 = bm;
    const char *token_file = NULL;
    int c;
    long v;
    while ((c = getopt_long(argc, argv, "i:l:t:u:h", lo, NULL)) != -1) {
        switch (c) {
        case 'i': cfg.index = optarg; break;
        case 'l': cfg.listen = optarg; break;
        case 't': if (num("--threads", optarg, 1, 256, &v)) return 2; cfg.threads = (int)v; break;
        case 'C': if (num("--max-connections", optarg, 1, 1000000, &v)) return 2; cfg.max_connections = (int)v; conn_given = 1; break;
        case 'T': if (num("--idle-timeout", optarg, 0, 86400, &v)) return 2; cfg.idle_timeout = (int)v; break;
        case 'R': if (num("--request-timeout", optarg, 0, 86400, &v)) return 2; cfg.request_timeout = (int)v; break;
        case 'D': if (num("--drain-timeout", optarg, 1, 3600, &v)) return 2; cfg.drain_timeout = (int)v; break;
        case 'L': if (num("--max-line", optarg, 64, 1 << 24, &v)) return 2; cfg.max_line = (size_t)v; break;
        case 'M': if (num("--max-limit", optarg, 1, 100000, &v)) return 2; cfg.max_limit = (uint32_t)v; break;
        case 'W': if (num("--max-window", optarg, 1, 10000000, &v)) return 2; cfg.max_window = (uint32_t)v; break;
        case 'S': if (num("--snippet-chars", optarg, 16, 10000, &v)) return 2; cfg.snippet_chars = (uint32_t)v; break;
        case 'B':
            if (sscanf(optarg, "%lf,%lf,%lf,%lf,%lf", &cfg.bm25.k1, &cfg.bm25.k2, &cfg.bm25.k3, &cfg.bm25.b,
                       &cfg.bm25.min_normlen) != 5 || cfg.bm25.k1 < 0 || cfg.bm25.k2 < 0 || cfg.bm25.k3 < 0 ||
                cfg.bm25.b < 0 || cfg.bm25.b > 1 || cfg.bm25.min_normlen < 0) {
                fprintf(stderr, "kosearchd: --bm25 wants K1,K2,K3,B,MIN_NORMLEN (non-negative, B at most 1)\n");
                return 2;
            }
            break;
        case 'E':
            if (strcmp(optarg, "simd") == 0)
                cfg.engine = KS_ENGINE_SIMD;
            else if (strcmp(optarg, "xapian") == 0)
                cfg.engine = KS_ENGINE_XAPIAN;
            else {
                fprintf(stderr, "kosearchd: --engine wants simd or xapian\n");
                return 2;
            }
            break;
        case 'H': cfg.http = optarg; break;
        case 'O': {
            const char **nc = realloc(cfg.cors, (size_t)(cfg.ncors + 1) * sizeof *nc);
            if (!nc || !*optarg || strpbrk(optarg, "\r\n ,")) {
                fprintf(stderr, "kosearchd: --cors-origin wants one origin such as https://example.org\n");
                free(nc ? nc : cfg.cors);
                return 2;
            }
            cfg.cors = nc;
            cfg.cors[cfg.ncors++] = optarg;
            break;
        }
        case 'g': cfg.log_path = optarg; break;
        case 'Q': cfg.log_queries = 1; break;
        case 'p': cfg.pid_file = optarg; break;
        case 'N': break; /* the default now */
        case 'A': cfg.admin_socket = optarg; break;
        case 'K': token_file = optarg; break;
        case 'u': cfg.user = optarg; break;
        case 'h': usage(stdout); return 0;
        case 'V': puts("kosearchd " PACKAGE_VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "kosearchd: unexpected argument '%s' (see --help)\n", argv[optind]);
        return 2;
    }
    if (!cfg.index) {
        fprintf(stderr, "kosearchd: --index DIR is required (see --help)\n");
        return 2;
    }
    char err[KS_ERRBUF_SIZE + 128];
    if (ksd_priv_resolve(&cfg, err, sizeof err)) {
        fprintf(stderr, "kosearchd: %s\n", err);
        return 2;
    }
    /* Read now, as the starting user (the file may be readable by root
     * only); never taken from the command line, which ps shows. */
    static char token[KSP_TOKEN_MAX + 1];
    if (token_file) {
        ks_errbuf teb = { "" };
        if (ksp_token_load(token_file, token, &cfg.admin_token_len, &teb)) {
            fprintf(stderr, "kosearchd: --admin-token-file: %s\n", teb.msg);
            return 2;
        }
        cfg.admin_token = token;
    }
    /* Once, before any worker thread exists: the selection is not thread-safe. */
    ks_errbuf seb = { "" };
    if (ks_score_select(ks_score_env(), &seb)) {
        fprintf(stderr, "kosearchd: KOSEARCH_SIMD: %s\n", seb.msg);
        return 2;
    }
    if (ksd_log_open(cfg.log_path)) {
        fprintf(stderr, "kosearchd: cannot open log %s: %s\n", cfg.log_path, strerror(errno));
        return 2;
    }
    if (ksd_fd_limit(&cfg.max_connections, conn_given, cfg.threads))
        return 1;
    int rc = ksd_server_run(&cfg) ? 1 : 0;
    free(cfg.cors);
    return rc;
}
