/* ks_strerror() and ks_seterr(): the error helpers every module uses. */
#include "ks_error.h"

#include <stdarg.h>
#include <stdio.h>

const char *ks_strerror(int code)
{
    switch (code) {
    case KS_OK: return "success";
    case KS_ENOMEM: return "out of memory";
    case KS_EINVAL: return "invalid argument or input";
    case KS_EIO: return "input/output error";
    case KS_ENOTFOUND: return "not found";
    case KS_EXAPIAN: return "Xapian error";
    case KS_ECORRUPT: return "corrupt data";
    case KS_EUTF8: return "invalid UTF-8";
    case KS_ETOOBIG: return "limit exceeded";
    case KS_EEXIST: return "already exists";
    case KS_ELOCKED: return "database locked";
    case KS_EUNSUPPORTED: return "not supported";
    default: return "unknown error";
    }
}

int ks_seterr(ks_errbuf *eb, int code, const char *fmt, ...)
{
    if (eb) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(eb->msg, sizeof eb->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}
