/* Error codes shared by every kosearch module.
 * Convention: functions return int, 0 on success and a negative KS_E* code
 * on failure; ks_strerror() names the code. Where a human-readable detail
 * matters, the function also fills a caller-owned ks_errbuf. Only main() exits. */
#ifndef KS_ERROR_H
#define KS_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    KS_OK = 0,
    KS_ENOMEM = -1,      /* allocation failed */
    KS_EINVAL = -2,      /* bad argument or malformed input */
    KS_EIO = -3,         /* read/write/system call failed */
    KS_ENOTFOUND = -4,   /* no such document, term, file */
    KS_EXAPIAN = -5,     /* Xapian raised an exception (message in errbuf) */
    KS_ECORRUPT = -6,    /* on-disk data failed validation */
    KS_EUTF8 = -7,       /* invalid UTF-8 */
    KS_ETOOBIG = -8,     /* input exceeds a documented limit */
    KS_EEXIST = -9,      /* already exists (e.g. duplicate id) */
    KS_ELOCKED = -10,    /* database locked by another writer */
    KS_EUNSUPPORTED = -11 /* not available on this machine or build */
};

#define KS_ERRBUF_SIZE 512

/* A caller-owned buffer for the detail of the last error. */
typedef struct ks_errbuf {
    char msg[KS_ERRBUF_SIZE];   /* NUL-terminated; empty when no detail */
} ks_errbuf;

/* Static string naming a KS_E* code; never NULL. */
const char *ks_strerror(int code);

/* printf into eb (if non-NULL), truncating; returns code so callers can
 * write `return ks_seterr(eb, KS_EINVAL, "bad %s", x);`. */
int ks_seterr(ks_errbuf *eb, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#ifdef __cplusplus
}
#endif
#endif
