/* bench_segment_open: what opening a scoring segment costs, and what its
 * first lookups cost after (format 3 checks the dictionary, strings and
 * block index a chunk at a time on first use: bench/RESULTS.md, "Opening a
 * segment lazily"). Prints, for one segment file:
 *   open       ks_segment_open + close, --opens times in this process
 *   first      ks_segment_term_at of --lookups random entries (fixed seed),
 *              the first touch of their chunks, in the last open
 *   find       ks_segment_find of those entries' bytes, per lookup, three
 *              passes (all chunks copied by then)
 * Run it as a fresh process for the first open's figure (the VM's first
 * touch of new memory is part of what a daemon's start-up pays). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ks_segment.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* xorshift64*: the same entries on every run */
static uint64_t next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

int main(int argc, char **argv)
{
    const char *usage = "usage: bench_segment_open SEGMENT [--opens N] [--lookups N]\n"
                        "Times ks_segment_open (N opens, default 3), then the first ks_segment_term_at of\n"
                        "--lookups random dictionary entries (default 200000) and ks_segment_find of their\n"
                        "bytes, three passes.\n";
    const char *path = NULL;
    long opens = 3, lookups = 200000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--opens") && i + 1 < argc) {
            opens = strtol(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--lookups") && i + 1 < argc) {
            lookups = strtol(argv[++i], NULL, 10);
        } else if (argv[i][0] != '-' && !path) {
            path = argv[i];
        } else {
            fputs(usage, stderr);
            return 2;
        }
    }
    if (!path || opens < 1 || opens > 10000 || lookups < 0 || lookups > 100000000) {
        fputs(usage, stderr);
        return 2;
    }
    ks_segment *s = NULL;
    ks_errbuf eb = { "" };
    for (long r = 0; r < opens; r++) {
        if (s)
            ks_segment_close(s);
        double a = now();
        if (ks_segment_open(path, &s, &eb)) {
            fprintf(stderr, "bench_segment_open: %s\n", eb.msg);
            return 1;
        }
        printf("open %ld: %.2f ms\n", r + 1, (now() - a) * 1e3);
    }
    uint64_t n = ks_segment_header(s)->n_terms;
    if (!n || !lookups) {
        ks_segment_close(s);
        return 0;
    }
    char **term = malloc((size_t)lookups * sizeof *term);
    uint32_t *len = malloc((size_t)lookups * sizeof *len);
    if (!term || !len) {
        fprintf(stderr, "bench_segment_open: out of memory\n");
        return 1;
    }
    uint64_t seed = 20261207;
    double a = now();
    for (long i = 0; i < lookups; i++) {
        const ks_seg_term *t = ks_segment_term_at(s, next(&seed) % n);
        if (!t) {
            fprintf(stderr, "bench_segment_open: damaged: %s\n", ks_segment_damage_reason(s));
            return 1;
        }
        len[i] = t->str_len;
        term[i] = (char *)ks_segment_term_bytes(s, t); /* stays valid while s is open */
    }
    printf("first term_at of %ld random entries: %.1f ms\n", lookups, (now() - a) * 1e3);
    for (int pass = 0; pass < 3; pass++) {
        long hits = 0;
        a = now();
        for (long i = 0; i < lookups; i++)
            hits += ks_segment_find(s, term[i], len[i]) != NULL;
        printf("find pass %d: %.0f ns a lookup (%ld of %ld found)\n", pass + 1, (now() - a) * 1e9 / (double)lookups,
               hits, lookups);
        if (hits != lookups)
            return 1;
    }
    free(term);
    free(len);
    ks_segment_close(s);
    return 0;
}
