/* Per-worker counters and a log-scale latency histogram; STATS sums them. */
#include <math.h>
#include <string.h>

#include "ksd.h"

static int bucket(uint64_t us)
{
    if (us < 1)
        return 0;
    int b = (int)(log2((double)us) * 4.0) + 1;
    return b >= KSD_HIST_BUCKETS ? KSD_HIST_BUCKETS - 1 : b;
}

uint64_t ksd_stats_bucket_top(int b)
{
    return b == 0 ? 1 : (uint64_t)ceil(pow(2.0, (double)b / 4.0));
}

void ksd_stats_latency(ksd_stats *s, uint64_t us)
{
    atomic_fetch_add(&s->hist[bucket(us)], 1);
    atomic_fetch_add(&s->latency_sum_us, us);
}

void ksd_stats_sum(const ksd_server *srv, ksd_stats *sum)
{
    memset(sum, 0, sizeof *sum);
    for (int i = 0; i < srv->nworkers; i++) {
        const ksd_stats *s = &srv->workers[i].stats;
        atomic_fetch_add(&sum->connections, atomic_load(&s->connections));
        atomic_fetch_add(&sum->commands, atomic_load(&s->commands));
        atomic_fetch_add(&sum->queries, atomic_load(&s->queries));
        atomic_fetch_add(&sum->errors, atomic_load(&s->errors));
        atomic_fetch_add(&sum->latency_sum_us, atomic_load(&s->latency_sum_us));
        for (int b = 0; b < KSD_HIST_BUCKETS; b++)
            atomic_fetch_add(&sum->hist[b], atomic_load(&s->hist[b]));
    }
}

uint64_t ksd_stats_quantile(const ksd_stats *s, double q)
{
    uint64_t n = 0;
    for (int b = 0; b < KSD_HIST_BUCKETS; b++)
        n += atomic_load(&s->hist[b]);
    if (!n)
        return 0;
    uint64_t want = (uint64_t)ceil(q * (double)n), seen = 0;
    for (int b = 0; b < KSD_HIST_BUCKETS; b++) {
        seen += atomic_load(&s->hist[b]);
        if (seen >= want)
            return ksd_stats_bucket_top(b);
    }
    return ksd_stats_bucket_top(KSD_HIST_BUCKETS - 1);
}
