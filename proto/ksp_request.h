/* Protocol v1 of kosearchd: request parsing and the shared protocol types
 * (byte slices, reply modes, error codes, limits). Parsing never allocates:
 * every slice in a parsed request points into the caller's line.
 * The wire format is specified in proto/PROTOCOL.md. */
#ifndef KSP_REQUEST_H
#define KSP_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "ks_error.h"

/* Returned by ksp_parse_request() for a line that looks like HTTP. Outside
 * the KS_E* range (ks_strerror() calls it "unknown error"): the caller sends
 * the reply in err (ERR BAD_REQUEST) and closes the connection. */
#define KSP_EHTTP (-64)

#define KSP_DEFAULT_MAX_LINE 8192      /* bytes per request, without CR LF */
#define KSP_DEFAULT_LIMIT 10           /* SEARCH limit when none is given */
#define KSP_DEFAULT_MAX_LIMIT 1000     /* largest SEARCH limit= */
#define KSP_DEFAULT_MAX_WINDOW 10000   /* largest SEARCH offset+limit */
#define KSP_HL_MAX 32                  /* bytes per highlight marker */
#define KSP_MSG_MAX 256                /* bytes of an error message + NUL */

/* A byte slice; not NUL-terminated unless stated. */
typedef struct ksp_str {
    const char *ptr;   /* first byte; may be NULL when len == 0 */
    size_t len;        /* number of bytes */
} ksp_str;

/* Reply format of a connection (changed by FORMAT). */
typedef enum ksp_mode {
    KSP_MODE_TEXT = 0, /* status line + body lines + END */
    KSP_MODE_JSON = 1  /* exactly one JSON object per line per reply */
} ksp_mode;

/* The commands of protocol v1. */
typedef enum ksp_cmd {
    KSP_CMD_NONE = 0,  /* no command (parse failed) */
    KSP_CMD_PING,      /* PING -> OK PONG */
    KSP_CMD_SEARCH,    /* SEARCH [options] [--] <query> */
    KSP_CMD_COUNT,     /* COUNT [--] <query> */
    KSP_CMD_GET,       /* GET <id> */
    KSP_CMD_INFO,      /* INFO */
    KSP_CMD_STATS,     /* STATS */
    KSP_CMD_HELP,      /* HELP [command] */
    KSP_CMD_QUIT,      /* QUIT -> OK BYE, then close */
    KSP_CMD_RELOAD,    /* RELOAD (admin) */
    KSP_CMD_FORMAT,    /* FORMAT text|json */
    KSP_CMD_AUTH       /* AUTH <token>: enables admin commands (daemon) */
} ksp_cmd;

#define KSP_CMD_COUNT_ALL 12 /* number of ksp_cmd values including NONE */

/* Error codes sent on the wire as `ERR <WORD> <message>`. */
typedef enum ksp_errcode {
    KSP_ERR_NONE = 0,              /* no error */
    KSP_ERR_BAD_REQUEST,           /* malformed request (also: HTTP, closes) */
    KSP_ERR_UNKNOWN_COMMAND,       /* first word is not a command */
    KSP_ERR_LINE_TOO_LONG,         /* request over max_line bytes; closes */
    KSP_ERR_BAD_UTF8,              /* request is not valid UTF-8 */
    KSP_ERR_TOO_MANY_CONNECTIONS,  /* sent by the daemon on accept; closes */
    KSP_ERR_INDEX_UNAVAILABLE,     /* no index open (daemon) */
    KSP_ERR_INTERNAL,              /* daemon-side failure */
    KSP_ERR_NOT_FOUND,             /* GET of an unknown id (daemon) */
    KSP_ERR_LIMIT_EXCEEDED,        /* limit/offset over the configured max */
    KSP_ERR_FORBIDDEN,             /* admin command not allowed on this
                                      connection, or a failed AUTH (daemon) */
    KSP_ERR_TIMEOUT                /* a request line arrived too slowly (daemon); closes */
} ksp_errcode;

#define KSP_ERR_COUNT_ALL 12 /* number of ksp_errcode values including NONE */

/* A protocol error ready to be sent with ksp_format_error(). */
typedef struct ksp_error {
    ksp_errcode code;          /* KSP_ERR_* (KSP_ERR_NONE when no error) */
    const char *word;          /* static code word, e.g. "BAD_REQUEST"; "" for NONE */
    int close;                 /* nonzero: close the connection after the reply */
    char message[KSP_MSG_MAX]; /* NUL-terminated, one line, valid UTF-8 */
} ksp_error;

/* Limits the daemon configures; pass NULL to the parser for the defaults. */
typedef struct ksp_limits {
    size_t max_line;           /* max request bytes without CR LF (8192) */
    uint32_t default_limit;    /* SEARCH limit when not given (10) */
    uint32_t max_limit;        /* max SEARCH limit= (1000) */
    uint32_t max_window;       /* max SEARCH offset + limit (10000) */
} ksp_limits;

/* One parsed request. Slices point into the line given to the parser and
 * are valid as long as that line is. */
typedef struct ksp_request {
    ksp_cmd cmd;               /* the command */
    ksp_str arg;               /* SEARCH/COUNT: query; GET: id; FORMAT: mode
                                  word; HELP: topic word (may be empty);
                                  AUTH: the token (never quoted in errors) */
    ksp_mode format;           /* FORMAT: the requested mode */
    ksp_cmd topic;             /* HELP: command asked about, or KSP_CMD_NONE */
    uint32_t limit;            /* SEARCH: hits wanted (default_limit if absent) */
    uint32_t offset;           /* SEARCH: hits to skip (0 if absent) */
    ksp_str hl_open;           /* SEARCH: highlight start marker ("[" default) */
    ksp_str hl_close;          /* SEARCH: highlight end marker ("]" default) */
} ksp_request;

/* Fills lim with the documented defaults. Returns 0. */
int ksp_limits_default(ksp_limits *lim /* OUT */);

/* Parses one request line (the bytes before LF; a trailing LF, CR LF or CR
 * is tolerated and stripped). lim may be NULL (defaults). Nothing is
 * allocated; req's slices point into line.
 * Returns 0 and fills req, or fills err and returns:
 *   KS_ETOOBIG  LINE_TOO_LONG (err->close set) or LIMIT_EXCEEDED,
 *   KS_EUTF8    BAD_UTF8 (connection stays open),
 *   KSP_EHTTP   the line looks like HTTP: BAD_REQUEST, err->close set,
 *   KS_EINVAL   BAD_REQUEST (also for control characters other than TAB:
 *               U+0000-U+001F, U+007F-U+009F) or UNKNOWN_COMMAND
 *               (connection stays open).
 * On error the caller sends ksp_format_error(err) and closes if err->close.
 * req is zeroed first, so req->cmd is KSP_CMD_NONE on error. */
int ksp_parse_request(const char *line, size_t len, const ksp_limits *lim,
                      ksp_request *req /* OUT */, ksp_error *err /* OUT */);

/* 1 if the line (with or without its CR/LF) is an HTTP request line: it
 * starts with an upper-case HTTP method and a space and either the method
 * is not a kosearch command (POST, HEAD, PUT, DELETE, OPTIONS, PATCH,
 * CONNECT, TRACE, PRI) or the line ends in " HTTP/<digit>[.<digit>]"
 * (so "GET / HTTP/1.1" is HTTP and "GET doc-1" is not). 0 otherwise. */
int ksp_looks_like_http(const char *line, size_t len);

/* Fills err with code, close flag and a printf-style message (truncated to
 * KSP_MSG_MAX-1 bytes at a UTF-8 boundary; control characters, C1
 * included, become one space each). For daemon-side errors such as NOT_FOUND or TOO_MANY_CONNECTIONS.
 * Returns 0, or KS_EINVAL for an unknown code (err then holds INTERNAL). */
int ksp_error_set(ksp_error *err /* OUT */, ksp_errcode code, int close,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Parses n > 0 ASCII digits (no sign, no blanks) into *out, saturating at
 * UINT64_MAX. Returns 0, or KS_EINVAL for anything else. */
int ksp_parse_number(const char *p, size_t n, uint64_t *out /* OUT */);

/* Checks a SEARCH page against lim (limit at most max_limit, offset+limit
 * at most max_window). Returns 0, or KS_ETOOBIG with err set to
 * LIMIT_EXCEEDED. */
int ksp_check_page(const ksp_limits *lim, uint64_t limit, uint64_t offset,
                   ksp_error *err /* OUT */);

/* Static code word for code ("BAD_REQUEST"...); "" for KSP_ERR_NONE and
 * "INTERNAL" for values outside the enum. Never NULL. */
const char *ksp_errcode_word(ksp_errcode code);

/* Looks up a code word (exact, upper-case). Returns 0 and sets *code, or
 * KS_ENOTFOUND when the word is not a v1 code. */
int ksp_errcode_from_word(const char *word, size_t len,
                          ksp_errcode *code /* OUT */);

/* Static upper-case name of a command ("SEARCH"); "" for KSP_CMD_NONE. */
const char *ksp_cmd_name(ksp_cmd cmd);

#endif
