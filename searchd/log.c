/* One-line log records: "2026-01-02T03:04:05Z kosearchd[pid]: message", to
 * stderr or an append-only file; safe from any thread. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ksd.h"

static FILE *log_fp;
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

int ksd_log_open(const char *path)
{
    if (!path) {
        log_fp = stderr;
        return 0;
    }
    FILE *f = fopen(path, "a");
    if (!f)
        return -1;
    setvbuf(f, NULL, _IOLBF, 0);
    log_fp = f;
    return 0;
}

void ksd_log(const char *fmt, ...)
{
    char ts[32], msg[1024];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&log_mu);
    fprintf(log_fp ? log_fp : stderr, "%s kosearchd[%d]: %s\n", ts, (int)getpid(), msg);
    fflush(log_fp ? log_fp : stderr);
    pthread_mutex_unlock(&log_mu);
}
