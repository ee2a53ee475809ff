/* libFuzzer target (`make fuzz-http`): the HTTP API's request-head parser
 * (proto/ksp_http_parse.c) on arbitrary bytes, the way searchd/http.c uses
 * it: parse the head; split the target into path and query; percent-decode
 * the path; read the q, limit, offset and highlight parameters and check
 * numbers like the daemon does. Checks the parser's invariants: slices lie
 * inside the input, decoded lengths never exceed the encoded ones. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "ksp_http_parse.h"
#include "ksp_request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int inside(ksp_str s, const char *buf, size_t n)
{
    return s.len == 0 || (s.ptr >= buf && s.ptr + s.len <= buf + n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy, so that ASan sees any read past the end */
    char *h = malloc(size ? size : 1);
    if (!h)
        return 0;
    if (size)
        memcpy(h, data, size);
    ksp_http_req r;
    if (ksp_http_parse_head(h, size, &r) == 0) {
        CHECK(r.method.len > 0 && r.target.len > 0);
        CHECK(inside(r.method, h, size) && inside(r.target, h, size) && inside(r.origin, h, size));
        CHECK(!r.head || (r.method.len == 4 && memcmp(r.method.ptr, "HEAD", 4) == 0));
        ksp_str raw_path, qs;
        ksp_http_split_target(r.target, &raw_path, &qs);
        CHECK(inside(raw_path, h, size) && inside(qs, h, size));
        size_t plen = raw_path.len;
        char *path = malloc(plen + 1);
        if (path) {
            long pl = ksp_http_pct_decode(raw_path.ptr, plen, 0, path);
            CHECK(pl <= (long)plen);
            free(path);
        }
        static const char *const names[] = { "q", "limit", "offset", "highlight", "" };
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            char *v = NULL;
            size_t vl = 0;
            int got = ksp_http_query_param(qs, names[i], &v, &vl);
            CHECK(got >= -1 && got <= 1);
            if (got == 1) {
                CHECK(v && vl <= qs.len && v[vl] == 0);
                uint64_t n;
                (void)ksp_parse_number(v, vl, &n);
                free(v);
            } else {
                CHECK(v == NULL);
            }
        }
    }
    free(h);
    return 0;
}
