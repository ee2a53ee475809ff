/* Admin token file loading and constant-time comparison (see ksp_token.h). */
#include "ksp_token.h"

#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Fills eb and returns code. (ks_seterr() is in core/error.c, which
 * libksproto and the kosearch client do not link.) */
#define FAIL(code, ...)                                                      \
    do {                                                                     \
        snprintf(eb->msg, sizeof eb->msg, __VA_ARGS__);                      \
        return (code);                                                       \
    } while (0)

int ksp_token_load(const char *path, char tok[KSP_TOKEN_MAX + 1], size_t *len,
                   ks_errbuf *eb)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        FAIL(KS_EIO, "cannot open token file %s: %s", path,
             strerror(errno));
    /* fstat on the open file: the mode checked is the mode of what is read */
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        FAIL(KS_EINVAL, "token file %s is not a regular file",
             path);
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        close(fd);
        FAIL(KS_EINVAL,
             "token file %s has mode %04o: group or others may "
             "read it, and whoever reads the token gets the admin "
             "commands; run chmod 600 %s",
             path, (unsigned)(st.st_mode & 07777), path);
    }
    /* Read one byte more than the longest token so that a longer first
     * line is seen and refused rather than cut. */
    char buf[KSP_TOKEN_MAX + 2];
    size_t n = 0;
    while (n < sizeof buf) {
        ssize_t r = read(fd, buf + n, sizeof buf - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            FAIL(KS_EIO, "cannot read token file %s: %s",
                 path, strerror(e));
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    char *nl = memchr(buf, '\n', n);
    size_t l = nl ? (size_t)(nl - buf) : n;
    if (l > 0 && buf[l - 1] == '\r')
        l--;
    if (l > KSP_TOKEN_MAX)
        FAIL(KS_EINVAL,
             "the token in %s is longer than %d bytes", path,
             KSP_TOKEN_MAX);
    if (l < KSP_TOKEN_MIN)
        FAIL(KS_EINVAL,
             "the token in %s is %zu bytes long; at least %d are "
             "needed (e.g. head -c 32 /dev/urandom | base64 > FILE)",
             path, l, KSP_TOKEN_MIN);
    for (size_t i = 0; i < l; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c <= 0x20 || c >= 0x7f)
            FAIL(KS_EINVAL,
                 "the token in %s has a byte other than printable "
                 "ASCII at %zu (blanks are not allowed either: it "
                 "is sent as one word)",
                 path, i);
    }
    memcpy(tok, buf, l);
    tok[l] = '\0';
    *len = l;
    memset(buf, 0, sizeof buf);
    return 0;
}

int ksp_token_equal(const char *want, size_t want_len, const char *got,
                    size_t got_len)
{
    /* Walk want whole whatever got holds; reading got stops at its end. */
    volatile unsigned char diff = (unsigned char)(want_len != got_len);
    for (size_t i = 0; i < want_len; i++) {
        unsigned char g = i < got_len ? (unsigned char)got[i] : 0;
        diff |= (unsigned char)(g ^ (unsigned char)want[i]);
    }
    return diff == 0;
}
