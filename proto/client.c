/* kosearch: command-line client of kosearchd protocol v1. One-shot search
 * with readable (or --json raw) output, or an interactive prompt where
 * "/CMD" sends a raw protocol command. Plain POSIX sockets; replies are
 * split by libksproto's reader. Exit: 0 ok, 1 server ERR, 2 usage/connection. */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#include "ksp_format.h"
#include "ksp_reply.h"
#include "ksp_request.h"
#include "ksp_token.h"

#define EXIT_SERVER_ERR 1
#define EXIT_USAGE 2

/* One connection to the daemon. */
typedef struct conn {
    int fd;            /* connected socket */
    ksp_reader rd;     /* reply reader over the socket */
    ksp_buf out;       /* request being built */
} conn;

/* Command-line settings. */
typedef struct options {
    const char *host;  /* -H */
    const char *port;  /* -p */
    const char *unix_path;  /* -s: Unix socket instead of host/port */
    const char *token_file; /* --token-file: send AUTH first */
    int json;          /* --json */
    unsigned long limit; /* --limit */
    int bold;          /* highlight with ANSI bold */
} options;

static void usage(FILE *f)
{
    fputs("usage: kosearch [-H host] [-p port | -s PATH] [--token-file FILE] [--json]\n"
          "                [--limit N] [query...]\n"
          "\n"
          "Searches a kosearchd server (default 127.0.0.1 port 7700).\n"
          "With a query: prints rank, score, title, id and snippet of each hit,\n"
          "then the total and the time taken. Options end at the first query\n"
          "word, so `kosearch 카카오 -뉴스` excludes a word; `--` also ends them.\n"
          "Without a query: reads queries from stdin, one per line (prompt\n"
          "`kosearch> ` when stdin is a terminal); a line starting with / is\n"
          "sent as a raw protocol command, e.g. /STATS or /GET doc-1.\n"
          "\n"
          "  -H, --host HOST   server host name or address (127.0.0.1)\n"
          "  -p, --port PORT   server port (7700)\n"
          "  -s, --unix PATH   connect to the Unix socket PATH instead, e.g. kosearchd's\n"
          "                    --admin-socket (admin commands such as /RELOAD allowed)\n"
          "      --token-file FILE  send AUTH with the token in FILE's first line before\n"
          "                    anything else (kosearchd --admin-token-file); FILE must\n"
          "                    not be group- or world-accessible\n"
          "      --json        ask for JSON replies and print them unchanged\n"
          "      --limit N     hits to show (10)\n"
          "  -h, --help        this text\n"
          "\n"
          "Highlights ([...]) are shown bold on a terminal unless NO_COLOR is set.\n"
          "Exit status: 0 ok, 1 the server answered ERR, 2 usage or connection error.\n",
          f);
}

/* ---- connection ---------------------------------------------------------- */

static int conn_open(conn *c, const char *host, const char *port)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0) {
        fprintf(stderr, "kosearch: cannot resolve %s port %s: %s\n", host, port,
                gai_strerror(gai));
        return KS_EIO;
    }
    int fd = -1, saved = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        fprintf(stderr, "kosearch: cannot connect to %s port %s: %s\n", host, port,
                strerror(saved));
        return KS_EIO;
    }
    c->fd = fd;
    ksp_reader_init(&c->rd, 0);
    ksp_buf_init(&c->out);
    return 0;
}

static int conn_open_unix(conn *c, const char *path)
{
    struct sockaddr_un sun;
    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sun.sun_path) {
        fprintf(stderr, "kosearch: socket path too long (at most %zu bytes): %s\n",
                sizeof sun.sun_path - 1, path);
        return KS_EINVAL;
    }
    memcpy(sun.sun_path, path, strlen(path));
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof sun) != 0) {
        fprintf(stderr, "kosearch: cannot connect to %s: %s\n", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return KS_EIO;
    }
    c->fd = fd;
    ksp_reader_init(&c->rd, 0);
    ksp_buf_init(&c->out);
    return 0;
}

static void conn_close(conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    ksp_reader_free(&c->rd);
    ksp_buf_free(&c->out);
}

/* Sends c->out followed by LF. */
static int conn_send(conn *c)
{
    if (ksp_buf_append(&c->out, "\n", 1) != 0) {
        fputs("kosearch: out of memory\n", stderr);
        return KS_ENOMEM;
    }
    size_t off = 0;
    while (off < c->out.len) {
        ssize_t n = send(c->fd, c->out.data + off, c->out.len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            fprintf(stderr, "kosearch: send failed: %s\n", strerror(errno));
            return KS_EIO;
        }
        off += (size_t)n;
    }
    ksp_buf_reset(&c->out);
    return 0;
}

/* Waits for the next complete reply; valid until the next call. */
static int conn_reply(conn *c, ksp_reply *rep)
{
    for (;;) {
        int ready = 0;
        int rc = ksp_reader_next(&c->rd, rep, &ready);
        if (rc) {
            fprintf(stderr, "kosearch: malformed reply from server (%s)\n",
                    rc == KS_ETOOBIG ? "too large" : "not protocol v1");
            return rc;
        }
        if (ready)
            return 0;
        char buf[65536];
        ssize_t n = recv(c->fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fprintf(stderr, "kosearch: receive failed: %s\n", strerror(errno));
            return KS_EIO;
        }
        if (n == 0) {
            fprintf(stderr, "kosearch: connection closed by server%s\n",
                    ksp_reader_pending(&c->rd) ? " in the middle of a reply" : "");
            return KS_EIO;
        }
        if (ksp_reader_feed(&c->rd, buf, (size_t)n) != 0) {
            fputs("kosearch: out of memory\n", stderr);
            return KS_ENOMEM;
        }
    }
}

/* ---- output -------------------------------------------------------------- */

/* Writes s with control bytes replaced by '?'; with bold, "[" and "]"
 * become ANSI bold on/off. */
static void put_clean(ksp_str s, int bold)
{
    for (size_t i = 0; i < s.len; i++) {
        unsigned char ch = (unsigned char)s.ptr[i];
        if (bold && ch == '[')
            fputs("\033[1m", stdout);
        else if (bold && ch == ']')
            fputs("\033[0m", stdout);
        else if (ch < 0x20 || ch == 0x7f)
            putchar('?');
        else
            putchar(ch);
    }
}

static void print_server_error(const ksp_reply *rep)
{
    if (rep->mode == KSP_MODE_JSON) {
        fprintf(stderr, "kosearch: server error: %.*s\n", (int)rep->status.len,
                rep->status.ptr);
    } else if (rep->message.len) {
        fprintf(stderr, "kosearch: server error %.*s: %.*s\n", (int)rep->code.len,
                rep->code.ptr, (int)rep->message.len, rep->message.ptr);
    } else {
        fprintf(stderr, "kosearch: server error %.*s\n", (int)rep->code.len,
                rep->code.ptr);
    }
}

/* Prints a text-mode SEARCH reply readably. Returns 0, or KS_EINVAL for a
 * reply that does not look like a search result. */
static int print_search(const ksp_reply *rep, int bold)
{
    ksp_search_status st;
    if (!rep->multiline || ksp_parse_search_status(rep->status, &st) != 0) {
        fprintf(stderr, "kosearch: unexpected reply to SEARCH: %.*s\n",
                (int)rep->status.len, rep->status.ptr);
        return KS_EINVAL;
    }
    for (size_t i = 0; i < rep->nlines; i++) {
        ksp_hit h;
        if (ksp_parse_hit(rep->lines[i], &h) != 0) {
            fprintf(stderr, "kosearch: unexpected line in reply: %.*s\n",
                    (int)rep->lines[i].len, rep->lines[i].ptr);
            return KS_EINVAL;
        }
        printf("%llu. %.3f  ", (unsigned long long)h.rank, h.score);
        if (h.title.len)
            put_clean(h.title, 0);
        else
            fputs("(untitled)", stdout);
        fputs("  (", stdout);
        put_clean(h.id, 0);
        fputs(")\n", stdout);
        if (h.snippet.len) {
            fputs("    ", stdout);
            put_clean(h.snippet, bold);
            putchar('\n');
        }
    }
    double ms = (double)st.took_us / 1000.0;
    if (st.total == 0 && rep->nlines == 0)
        printf("no results (%.3f ms)\n", ms);
    else
        printf("%zu of %s%llu results (%.3f ms)\n", rep->nlines,
               st.estimate ? "about " : "", (unsigned long long)st.total, ms);
    return 0;
}

static void put_raw(const ksp_reply *rep)
{
    fwrite(rep->raw.ptr, 1, rep->raw.len, stdout);
}

/* ---- requests ------------------------------------------------------------ */

/* Appends the query with control bytes turned into spaces (a query is one
 * line of the protocol). */
static int append_query(ksp_buf *b, const char *q, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)q[i];
        char out = (ch < 0x20 || ch == 0x7f) ? ' ' : (char)ch;
        if (ksp_buf_append(b, &out, 1) != 0)
            return KS_ENOMEM;
    }
    return 0;
}

/* Sends SEARCH and prints the reply. Returns 0, EXIT_SERVER_ERR, or
 * EXIT_USAGE for connection/protocol failures. */
static int do_search(conn *c, const options *o, const char *q, size_t len)
{
    ksp_buf_reset(&c->out);
    if (ksp_buf_printf(&c->out, "SEARCH limit=%lu -- ", o->limit) != 0 ||
        append_query(&c->out, q, len) != 0 || conn_send(c) != 0)
        return EXIT_USAGE;
    ksp_reply rep;
    if (conn_reply(c, &rep) != 0)
        return EXIT_USAGE;
    if (rep.mode == KSP_MODE_JSON) {
        put_raw(&rep);
        return rep.ok ? 0 : EXIT_SERVER_ERR;
    }
    if (!rep.ok) {
        print_server_error(&rep);
        return EXIT_SERVER_ERR;
    }
    return print_search(&rep, o->bold) == 0 ? 0 : EXIT_USAGE;
}

/* Sends a raw command line and prints the reply as received. */
static int do_raw(conn *c, const char *cmd, size_t len, int *quit)
{
    ksp_buf_reset(&c->out);
    if (ksp_buf_append(&c->out, cmd, len) != 0 || conn_send(c) != 0)
        return EXIT_USAGE;
    ksp_reply rep;
    if (conn_reply(c, &rep) != 0)
        return EXIT_USAGE;
    put_raw(&rep);
    size_t w = 0;
    while (w < len && cmd[w] == ' ')
        w++;
    if (rep.ok && len - w >= 4 && strncasecmp(cmd + w, "QUIT", 4) == 0)
        *quit = 1;
    return rep.ok ? 0 : EXIT_SERVER_ERR;
}

/* Sends the request built in c->out and wants OK back; an ERR reply is
 * shown by show. Returns 0, EXIT_SERVER_ERR or EXIT_USAGE. */
static int expect_ok(conn *c, void (*show)(const ksp_reply *))
{
    if (conn_send(c) != 0) /* fails too if building the request failed */
        return EXIT_USAGE;
    ksp_reply rep;
    if (conn_reply(c, &rep) != 0)
        return EXIT_USAGE;
    if (!rep.ok) {
        show(&rep);
        return EXIT_SERVER_ERR;
    }
    return 0;
}

/* AUTH <tok>: a refusal is reported on stderr. */
static int authenticate(conn *c, const char *tok, size_t len)
{
    ksp_buf_reset(&c->out);
    ksp_buf_puts(&c->out, "AUTH ");
    ksp_buf_append(&c->out, tok, len);
    return expect_ok(c, print_server_error);
}

static int switch_to_json(conn *c)
{
    ksp_buf_reset(&c->out);
    ksp_buf_puts(&c->out, "FORMAT json");
    return expect_ok(c, put_raw);
}

/* Reads queries and /commands from stdin until EOF. Returns the exit
 * status: 1 if any reply was ERR, 2 if the connection failed. */
static int interactive(conn *c, const options *o)
{
    int prompt = isatty(STDIN_FILENO);
    int status = 0;
    char *line = NULL;
    size_t cap = 0;
    for (;;) {
        if (prompt) {
            fputs("kosearch> ", stdout);
            fflush(stdout);
        }
        ssize_t n = getline(&line, &cap, stdin);
        if (n < 0)
            break;
        size_t len = (size_t)n;
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        size_t s = 0;
        while (s < len && (line[s] == ' ' || line[s] == '\t'))
            s++;
        if (s == len)
            continue;
        int rc, quit = 0;
        if (line[s] == '/') {
            if (s + 1 == len)
                continue;
            rc = do_raw(c, line + s + 1, len - s - 1, &quit);
        } else {
            rc = do_search(c, o, line + s, len - s);
        }
        fflush(stdout);
        if (rc == EXIT_USAGE) {
            status = EXIT_USAGE;
            break;
        }
        if (rc)
            status = rc;
        if (quit)
            break;
    }
    if (prompt && status != EXIT_USAGE)
        putchar('\n');
    free(line);
    return status;
}

int main(int argc, char **argv)
{
    options o = { "127.0.0.1", "7700", NULL, NULL, 0, KSP_DEFAULT_LIMIT, 0 };
    static const struct option longopts[] = {
        { "host", required_argument, NULL, 'H' },
        { "port", required_argument, NULL, 'p' },
        { "unix", required_argument, NULL, 's' },
        { "token-file", required_argument, NULL, 't' },
        { "json", no_argument, NULL, 'j' },
        { "limit", required_argument, NULL, 'l' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "+H:p:s:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'H': o.host = optarg; break;
        case 'p':
            /* getaddrinfo() silently wraps numeric ports above 65535 */
            if (optarg[strspn(optarg, "0123456789")] == '\0' &&
                (strlen(optarg) > 5 || atol(optarg) < 1 || atol(optarg) > 65535)) {
                fprintf(stderr, "kosearch: bad port '%s' (1-65535 or a service name)\n",
                        optarg);
                return EXIT_USAGE;
            }
            o.port = optarg;
            break;
        case 's': o.unix_path = optarg; break;
        case 't': o.token_file = optarg; break;
        case 'j': o.json = 1; break;
        case 'l': {
            char *end;
            errno = 0;
            unsigned long v = strtoul(optarg, &end, 10);
            if (optarg[0] < '0' || optarg[0] > '9' || *end || errno || v > UINT32_MAX) {
                fprintf(stderr, "kosearch: --limit needs a number, got '%s'\n", optarg);
                return EXIT_USAGE;
            }
            o.limit = v;
            break;
        }
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    const char *nc = getenv("NO_COLOR"), *term = getenv("TERM");
    o.bold = isatty(STDOUT_FILENO) && !(nc && *nc) && !(term && strcmp(term, "dumb") == 0);

    /* The token first: a bad token file is reported before any connection. */
    char tok[KSP_TOKEN_MAX + 1];
    size_t tok_len = 0;
    if (o.token_file) {
        ks_errbuf eb = { "" };
        if (ksp_token_load(o.token_file, tok, &tok_len, &eb) != 0) {
            fprintf(stderr, "kosearch: --token-file: %s\n", eb.msg);
            return EXIT_USAGE;
        }
    }
    conn c;
    if ((o.unix_path ? conn_open_unix(&c, o.unix_path) : conn_open(&c, o.host, o.port)) != 0)
        return EXIT_USAGE;
    int status = 0;
    if (o.token_file)
        status = authenticate(&c, tok, tok_len);
    if (status == 0 && o.json)
        status = switch_to_json(&c);
    if (status == 0) {
        if (optind < argc) {
            ksp_buf q;
            ksp_buf_init(&q);
            for (int i = optind; i < argc; i++) {
                if (i > optind)
                    ksp_buf_append(&q, " ", 1);
                ksp_buf_puts(&q, argv[i]);
            }
            status = q.failed ? EXIT_USAGE : do_search(&c, &o, q.data, q.len);
            ksp_buf_free(&q);
        } else {
            status = interactive(&c, &o);
        }
    }
    fflush(stdout);
    conn_close(&c);
    return status;
}
