/* The open-file limit: every connection is a descriptor, so the daemon
 * raises its soft RLIMIT_NOFILE to the hard limit at start-up and checks
 * that --max-connections fits under it, rather than failing accept() with
 * EMFILE once it is busy. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "ksd.h"

/* Descriptors besides connections: listener, log, each worker's wake-up
 * pipe, epoll and index files (Xapian tables, the segment), a reload's
 * second searcher, refused connections lingering for 2 s. */
static long fd_overhead(int threads)
{
    return 64 + 16L * threads;
}

int ksd_fd_limit(int *max_connections, int given, int threads)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl)) {
        fprintf(stderr, "kosearchd: getrlimit(RLIMIT_NOFILE): %s\n", strerror(errno));
        return -1;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t old = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
            ksd_log("open-file limit raised from %llu to %llu", (unsigned long long)old,
                    (unsigned long long)rl.rlim_cur);
        else
            rl.rlim_cur = old;
    }
    long need = *max_connections + fd_overhead(threads);
    if (rl.rlim_cur == RLIM_INFINITY || (rlim_t)need <= rl.rlim_cur)
        return 0;
    long fit = (long)rl.rlim_cur - fd_overhead(threads);
    if (given || fit < 1) {
        fprintf(stderr,
                "kosearchd: --max-connections %d needs about %ld open files, but the limit (ulimit -n, "
                "hard limit included) is %llu; lower --max-connections or raise the limit\n",
                *max_connections, need, (unsigned long long)rl.rlim_cur);
        return -1;
    }
    ksd_log("open-file limit %llu: max connections lowered from the default %d to %ld",
            (unsigned long long)rl.rlim_cur, *max_connections, fit);
    *max_connections = (int)fit;
    return 0;
}
