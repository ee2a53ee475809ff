/* ks_crc.h over ISA-L. */
#include "ks_crc.h"

#include <isa-l/crc.h>

uint32_t ks_crc32(uint32_t crc, const void *p, uint64_t n)
{
    return n ? crc32_gzip_refl(crc, p, n) : crc;
}
