/* libFuzzer target for the document store's reader (core/docstore.c).
 * Input: one flags byte, then a document store file. Flag bit 0 (the
 * checksum-fixing mode): recompute the header's crc and the crc of every
 * record the index bounds, so that mutations get past the CRCs to the
 * structural checks behind them. The file goes to a memfd opened by its
 * /proc/self/fd path. When the open succeeds every document number (up to
 * a limit) is read: each gives fields that lie inside the record and add
 * up to its size, carry the document number asked for, or KS_ENOTFOUND /
 * KS_ECORRUPT with a message; never a crash, a hang or a read out of
 * bounds. Built by `make fuzz-docstore`; replay.c replays the seeds. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ks_crc.h"
#include "ks_docstore.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { SEAL = 1 };

static volatile uint64_t sink;

/* Recomputes the checksums of file[0..n) where its header and index make
 * them reachable. */
static void seal(uint8_t *file, size_t n)
{
    ks_docstore_header h;
    if (n < sizeof h)
        return;
    memcpy(&h, file, sizeof h);
    if (h.index_off <= n && h.lastdocid < (1u << 20) && h.index_off + 8 * (h.lastdocid + 2) <= n)
        for (uint64_t d = 1; d <= h.lastdocid; d++) {
            uint64_t o[2];
            memcpy(o, file + h.index_off + 8 * d, sizeof o);
            if (o[0] >= sizeof h && o[1] <= h.index_off && o[0] <= o[1] && o[1] - o[0] >= KS_DOCSTORE_RECORD_HEAD) {
                uint32_t crc = ks_crc32(0, file + o[0] + 4, o[1] - o[0] - 4);
                memcpy(file + o[0], &crc, 4);
            }
        }
    h.header_crc = ks_crc32(0, &h, offsetof(ks_docstore_header, header_crc));
    memcpy(file, &h, sizeof h);
}

static void check_err(int rc, const ks_errbuf *eb)
{
    if (rc != KS_ECORRUPT && rc != KS_ENOTFOUND)
        fprintf(stderr, "unexpected error %d: %s\n", rc, eb->msg);
    CHECK(rc == KS_ECORRUPT || rc == KS_ENOTFOUND);
    CHECK(memchr(eb->msg, '\0', sizeof eb->msg) && eb->msg[0] != '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t flags = data[0];
    size_t n = size - 1;
    uint8_t *file = malloc(n ? n : 1);
    CHECK(file);
    memcpy(file, data + 1, n);
    if (flags & SEAL)
        seal(file, n);
    int fd = memfd_create("fuzz-docstore", MFD_CLOEXEC);
    CHECK(fd >= 0);
    CHECK(write(fd, file, n) == (ssize_t)n);
    free(file);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);

    ks_docstore *d = (ks_docstore *)(uintptr_t)1;
    ks_errbuf eb = { "" };
    int rc = ks_docstore_open(path, &d, &eb);
    if (rc) {
        CHECK(d == NULL);
        CHECK(rc == KS_ECORRUPT);
        check_err(rc, &eb);
        close(fd);
        return 0;
    }
    const ks_docstore_header *h = ks_docstore_header_of(d);
    CHECK(h->file_size == n && h->index_off <= n && h->doccount <= h->lastdocid);
    char *buf = NULL;
    size_t cap = 0;
    /* every number, and a few past the end (a huge lastdocid: the first ones) */
    uint64_t last = h->lastdocid < 4096 ? h->lastdocid + 2 : 4096;
    for (uint64_t id = 0; id <= last; id++) {
        ks_stored f;
        eb.msg[0] = 0;
        rc = ks_docstore_get(d, (uint32_t)id, &buf, &cap, &f, &eb);
        if (rc) {
            check_err(rc, &eb);
            continue;
        }
        CHECK(id >= 1 && id <= h->lastdocid && f.json == NULL);
        /* the fields tile the record after its 20-byte head */
        CHECK(f.id == buf + KS_DOCSTORE_RECORD_HEAD && f.title == f.id + f.id_len && f.body == f.title + f.title_len);
        CHECK(KS_DOCSTORE_RECORD_HEAD + f.id_len + f.title_len + f.body_len <= cap);
        uint32_t num;
        memcpy(&num, buf + 4, 4);
        CHECK(num == id);
        for (size_t i = 0; i < f.body_len; i += 64)
            sink += (uint8_t)f.body[i];
        sink += f.id_len ? (uint8_t)f.id[f.id_len - 1] : 0;
    }
    free(buf);
    ks_docstore_close(d);
    close(fd);
    return 0;
}
