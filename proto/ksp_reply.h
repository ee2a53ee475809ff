/* Protocol v1 incremental reply reader for clients and tests: feed it bytes
 * from the socket, take out complete replies. It needs no memory of the
 * requests sent: each reply's first line tells its shape (PROTOCOL.md 2.1).
 * Also parsers for the SEARCH status line and HIT lines. */
#ifndef KSP_REPLY_H
#define KSP_REPLY_H

#include <stddef.h>
#include <stdint.h>

#include "ksp_format.h"
#include "ksp_request.h"

#define KSP_DEFAULT_MAX_REPLY (64u * 1024 * 1024) /* bytes per reply */

/* Where one line of the current reply lies in the reader's buffer. */
typedef struct ksp_span {
    size_t off;  /* offset of the line from the start of the reply */
    size_t len;  /* line length without CR LF */
} ksp_span;

/* Incremental reader. Classification of a reply by its first line:
 *   starts with '{'             JSON mode: the line is the whole reply;
 *   "ERR" or "ERR <...>"        one line;
 *   exactly "OK"                multi-line (GET, INFO, STATS, HELP);
 *   "OK" and 3 numeric tokens   multi-line (SEARCH: total returned took_us);
 *   any other "OK ..."          one line (PONG, BYE, count, RELOADED, FORMAT);
 *   anything else               protocol error (KS_EINVAL).
 * A multi-line reply ends at a line holding only "END". Lines end in LF;
 * a CR before the LF is dropped. */
typedef struct ksp_reader {
    ksp_buf in;           /* unread bytes; in.data[0] starts the current reply */
    size_t consumed;      /* bytes of the last returned reply, dropped next call */
    size_t scan;          /* bytes of the current reply already split into lines */
    int in_body;          /* nonzero: status line seen, waiting for END */
    size_t status_len;    /* length of the current reply's status line */
    ksp_span *spans;      /* body lines of the current reply */
    size_t nspans;        /* entries used in spans */
    size_t capspans;      /* entries allocated in spans */
    ksp_str *lines;       /* body lines handed out with the last reply */
    size_t caplines;      /* entries allocated in lines */
    size_t max_reply;     /* largest reply accepted, in bytes */
    int broken;           /* nonzero after an error: further calls fail */
} ksp_reader;

/* One complete reply. Every pointer points into the reader and stays valid
 * until the next ksp_reader_feed/next/free call on that reader. */
typedef struct ksp_reply {
    ksp_mode mode;        /* KSP_MODE_JSON if the reply is a JSON line */
    int ok;               /* 1 for OK / "ok":true, 0 for ERR / "ok":false */
    int multiline;        /* 1 if the reply had a body ending in END */
    ksp_str raw;          /* all bytes of the reply, line ends included */
    ksp_str status;       /* first line without line end (JSON: the object) */
    ksp_str code;         /* ERR: code word (text, or JSON "error" when it is
                             the second member as ksp_format writes it);
                             empty otherwise */
    ksp_str message;      /* text ERR: message after the code; else empty */
    const ksp_str *lines; /* multi-line: body lines (without END); else NULL */
    size_t nlines;        /* number of body lines */
} ksp_reply;

/* Parsed SEARCH status line (text mode). */
typedef struct ksp_search_status {
    uint64_t total;    /* matching documents */
    uint64_t returned; /* HIT lines that follow */
    uint64_t took_us;  /* search time in microseconds */
    int estimate;      /* 1 if the "~" marker was present */
} ksp_search_status;

/* Initialises r. max_reply 0 means KSP_DEFAULT_MAX_REPLY. Returns 0. */
int ksp_reader_init(ksp_reader *r /* OUT */, size_t max_reply);

/* Frees everything r owns. */
void ksp_reader_free(ksp_reader *r);

/* Appends received bytes. Returns 0, KS_ENOMEM, or KS_EINVAL if the reader
 * is broken. Invalidates the last reply. */
int ksp_reader_feed(ksp_reader *r, const void *data, size_t len);

/* Takes the next complete reply out of the buffered bytes. Returns 0 with
 * *ready = 1 and *reply filled, 0 with *ready = 0 when more bytes are
 * needed, KS_EINVAL for a first line that is no reply (see above),
 * KS_ETOOBIG when a reply exceeds max_reply, KS_ENOMEM. After an error the
 * reader is broken. Invalidates the previous reply. */
int ksp_reader_next(ksp_reader *r, ksp_reply *reply /* OUT */,
                    int *ready /* OUT */);

/* Bytes buffered that do not yet form a complete reply (nonzero at EOF
 * means the connection closed mid-reply). */
size_t ksp_reader_pending(const ksp_reader *r);

/* Parses "OK <total> <returned> <took_us>[ ~]". Returns 0 or KS_EINVAL. */
int ksp_parse_search_status(ksp_str status, ksp_search_status *out /* OUT */);

/* Parses "HIT <rank>\t<score>\t<id>\t<title>\t<snippet>"; the slices point
 * into line. Returns 0 or KS_EINVAL. */
int ksp_parse_hit(ksp_str line, ksp_hit *hit /* OUT */);

#endif
