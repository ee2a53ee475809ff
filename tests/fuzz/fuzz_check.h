/* CHECK(cond) for the fuzz targets: independent of NDEBUG, a broken
 * invariant prints where and aborts, a crash libFuzzer (and replay.c under
 * `make check`) reports. */
#ifndef KS_FUZZ_CHECK_H
#define KS_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                         \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                 \
            abort();                                                        \
        }                                                                   \
    } while (0)

#endif
