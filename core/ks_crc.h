/* CRC-32 as zlib computes it (the gzip/IEEE reflected polynomial 0xEDB88320),
 * for the segment's checksums, through ISA-L's crc32_gzip_refl: bit for bit
 * zlib's crc32() and about 5 times as fast (PCLMULQDQ folding, chosen at run
 * time, with a table fallback on CPUs without it). Readers verify each chunk
 * of a segment the first time a query touches it, so the checksum's speed is
 * query latency: 33.7 against 6.8 GB/s on the development machine
 * (bench/bench_crc; bench/RESULTS.md, "Segment checksums"). */
#ifndef KS_CRC_H
#define KS_CRC_H

#include <stdint.h>

/* The CRC-32 of p[0..n) continuing crc (0 to start): ks_crc32(ks_crc32(0, a,
 * na), b, nb) is the CRC of a followed by b, as zlib's crc32(crc, p, n). */
uint32_t ks_crc32(uint32_t crc, const void *p, uint64_t n);

#endif
