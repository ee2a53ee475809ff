/* GET /metrics: the daemon's counters in the Prometheus text exposition
 * format 0.0.4, from the same stats STATS reports. */
#include <stdio.h>

#include "ksd.h"

static void head(ksp_buf *o, const char *name, const char *type, const char *help)
{
    ksp_buf_printf(o, "# HELP kosearch_%s %s\n# TYPE kosearch_%s %s\n", name, help, name, type);
}

static void sample(ksp_buf *o, const char *name, const char *type, const char *help, uint64_t v)
{
    head(o, name, type, help);
    ksp_buf_printf(o, "kosearch_%s %llu\n", name, (unsigned long long)v);
}

/* Seconds from microseconds, exactly (no floating-point rounding). */
static void seconds(ksp_buf *o, uint64_t us)
{
    ksp_buf_printf(o, "%llu.%06llu", (unsigned long long)(us / 1000000u), (unsigned long long)(us % 1000000u));
}

void ksd_metrics(ksd_server *srv, ks_searcher *s, ksp_buf *o)
{
    ksd_stats sum;
    ksd_stats_sum(srv, &sum);
    sample(o, "queries_total", "counter", "Searches and counts answered (both protocols).",
           atomic_load(&sum.queries));
    sample(o, "requests_total", "counter", "Requests answered (line-protocol commands and HTTP requests).",
           atomic_load(&sum.commands));
    sample(o, "errors_total", "counter", "Error replies sent.", atomic_load(&sum.errors));
    /* The histogram has 4 buckets per power of two; every 4th boundary is
     * exported. A latency in bucket b is at most ksd_stats_bucket_top(b) - 1
     * microseconds (latencies are whole microseconds), hence the le values
     * 2^k - 1 us. The last internal bucket also holds everything longer, so
     * it only shows in +Inf. */
    head(o, "query_duration_seconds", "histogram", "Query latency (search and count), in seconds.");
    uint64_t cum = 0, total = 0;
    for (int b = 0; b < KSD_HIST_BUCKETS; b++)
        total += atomic_load(&sum.hist[b]);
    for (int b = 0; b < KSD_HIST_BUCKETS - 1; b++) {
        cum += atomic_load(&sum.hist[b]);
        if (b % 4 == 0) {
            ksp_buf_puts(o, "kosearch_query_duration_seconds_bucket{le=\"");
            seconds(o, ksd_stats_bucket_top(b) - 1);
            ksp_buf_printf(o, "\"} %llu\n", (unsigned long long)cum);
        }
    }
    ksp_buf_printf(o, "kosearch_query_duration_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)total);
    ksp_buf_puts(o, "kosearch_query_duration_seconds_sum ");
    seconds(o, atomic_load(&sum.latency_sum_us));
    ksp_buf_printf(o, "\nkosearch_query_duration_seconds_count %llu\n", (unsigned long long)total);
    sample(o, "open_connections", "gauge", "Connections open now (both ports).",
           (uint64_t)atomic_load(&srv->nconns));
    sample(o, "connections_total", "counter", "Connections accepted (both ports).", atomic_load(&sum.connections));
    sample(o, "reloads_total", "counter", "Successful index reloads.", atomic_load(&srv->reloads));
    sample(o, "reload_failures_total", "counter", "Failed index reloads.", atomic_load(&srv->reload_failures));
    sample(o, "uptime_seconds", "gauge", "Seconds since start.", (uint64_t)(time(NULL) - srv->started));
    ks_index_info info;
    ks_errbuf eb = { "" };
    if (s && ks_searcher_info(s, &info, &eb) == 0) {
        sample(o, "index_documents", "gauge", "Documents in the index being served.", info.documents);
        sample(o, "index_revision", "gauge", "Revision of the index being served.", info.revision);
    }
}
