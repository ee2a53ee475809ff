/* bench_crc: GB/s of the segment's CRC-32 (ks_crc32, ISA-L) against zlib's
 * crc32() on the same buffer, alternating, median of the runs; the two must
 * agree (the format's checksums are zlib's). Why it matters: readers verify
 * each chunk of a segment on first touch and the daemon checks the small
 * sections at start-up (bench/RESULTS.md, "Segment checksums"). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zlib.h>

#include "ks_crc.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        printf("usage: bench_crc [MiB [runs]]\n"
               "CRC-32 speed, ks_crc32 (ISA-L) against zlib, over a buffer of MiB mebibytes\n"
               "(default 256) in cache-cold 1 MiB chunks as a segment's are, runs times (default 7).\n");
        return 0;
    }
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 256;
    int runs = argc > 2 ? atoi(argv[2]) : 7;
    if (mib < 1 || mib > 65536 || runs < 1 || runs > 1000) {
        fprintf(stderr, "bench_crc: MiB from 1 to 65536, runs from 1 to 1000 (see --help)\n");
        return 2;
    }
    size_t n = mib << 20;
    uint8_t *b = malloc(n);
    if (!b) {
        fprintf(stderr, "bench_crc: out of memory\n");
        return 1;
    }
    uint64_t s = 1;
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        b[i] = (uint8_t)(s >> 56);
    }
    double *tk = malloc(sizeof *tk * (size_t)runs), *tz = malloc(sizeof *tz * (size_t)runs);
    if (!tk || !tz)
        return 1;
    int bad = 0;
    for (int r = 0; r < runs; r++) {
        uint32_t ck = 0, cz = 0;
        double a = now();
        for (size_t o = 0; o < n; o += 1u << 20)
            ck ^= ks_crc32(0, b + o, 1u << 20);
        double m = now();
        for (size_t o = 0; o < n; o += 1u << 20)
            cz ^= (uint32_t)crc32(0, b + o, 1u << 20);
        double e = now();
        tk[r] = m - a;
        tz[r] = e - m;
        bad |= ck != cz;
    }
    qsort(tk, (size_t)runs, sizeof *tk, cmp_dbl);
    qsort(tz, (size_t)runs, sizeof *tz, cmp_dbl);
    double gk = (double)n / tk[runs / 2] / 1e9, gz = (double)n / tz[runs / 2] / 1e9;
    printf("crc32 over %zu MiB in 1 MiB chunks, median of %d runs: ks_crc32 (ISA-L) %.2f GB/s, zlib %.2f GB/s, "
           "ratio %.2fx, %s\n", mib, runs, gk, gz, gk / gz, bad ? "VALUES DIFFER" : "same values");
    free(b);
    free(tk);
    free(tz);
    return bad;
}
