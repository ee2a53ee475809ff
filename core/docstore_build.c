/* The document store's builder (ks_docstore.h): one walk over Xapian's
 * documents in number order, each record appended through a write buffer,
 * then the offsets table and the header. */
#include "ks_docstore.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ks_crc.h"
#include "ks_fault.h"
#include "ks_segment.h" /* ks_write_all */
#include "ks_xdb.h"

#define WBUF (1u << 20)

typedef struct writer {
    int fd;
    char *buf;
    size_t used;
    uint64_t at;       /* file offset of buf[0] + used: where the next byte goes */
    uint64_t *off;     /* off[d]: start of document d's record (lastdocid + 2 entries) */
    uint32_t next;     /* the next document number without an offset yet */
    uint32_t lastdocid;
    uint64_t docs;
    const char *path;  /* the .part file, for messages */
    ks_errbuf *eb;
} writer;

static int put(writer *w, const void *p, size_t n)
{
    while (n) {
        if (w->used == WBUF) {
            if (ks_write_all(w->fd, w->buf, w->used))
                return ks_seterr(w->eb, KS_EIO, "cannot write %s: %m", w->path);
            w->used = 0;
        }
        size_t k = n < WBUF - w->used ? n : WBUF - w->used;
        memcpy(w->buf + w->used, p, k);
        w->used += k;
        w->at += k;
        p = (const char *)p + k;
        n -= k;
    }
    return 0;
}

static int on_doc(void *ud, uint32_t docid, const char *data, size_t len)
{
    writer *w = ud;
    if (docid < w->next || docid > w->lastdocid)
        return ks_seterr(w->eb, KS_ECORRUPT, "document %u out of order or beyond the last document number",
                         docid);
    while (w->next <= docid) /* numbers not in use get empty records */
        w->off[w->next++] = w->at;
    ks_stored f;
    int rc = ks_stored_parse(data, len, docid, &f, w->eb);
    if (rc)
        return rc;
    if (f.id_len > UINT32_MAX || f.title_len > UINT32_MAX || f.body_len > UINT32_MAX - f.id_len - f.title_len) {
        ks_stored_free(&f);
        return ks_seterr(w->eb, KS_ETOOBIG, "document %u is too large for the document store", docid);
    }
    uint32_t head[5] = { 0, docid, (uint32_t)f.id_len, (uint32_t)f.title_len, (uint32_t)f.body_len };
    uint32_t crc = ks_crc32(0, head + 1, sizeof head - 4);
    crc = ks_crc32(crc, f.id, f.id_len);
    crc = ks_crc32(crc, f.title, f.title_len);
    head[0] = ks_crc32(crc, f.body, f.body_len);
    rc = put(w, head, sizeof head);
    if (!rc)
        rc = put(w, f.id, f.id_len);
    if (!rc)
        rc = put(w, f.title, f.title_len);
    if (!rc)
        rc = put(w, f.body, f.body_len);
    ks_stored_free(&f);
    w->docs++;
    return rc;
}

int ks_docstore_build(const char *xapian_path, const char *out_path, ks_errbuf *eb)
{
    char part[4096];
    if ((size_t)snprintf(part, sizeof part, "%s.part", out_path) >= sizeof part)
        return ks_seterr(eb, KS_EINVAL, "document store path too long");
    ks_xdb *db = NULL;
    ks_xdb_stats st;
    writer w = { .fd = -1, .path = part, .eb = eb };
    int rc = ks_xdb_open(xapian_path, &db, eb);
    if (!rc)
        rc = ks_xdb_stats_get(db, &st, eb);
    if (!rc && st.lastdocid >= UINT32_MAX)
        rc = ks_seterr(eb, KS_ETOOBIG, "too many document numbers for a document store");
    if (rc)
        goto out;
    w.lastdocid = (uint32_t)st.lastdocid;
    w.buf = malloc(WBUF);
    w.off = malloc(((size_t)w.lastdocid + 2) * sizeof *w.off);
    if (!w.buf || !w.off) {
        rc = ks_seterr(eb, KS_ENOMEM, "out of memory");
        goto out;
    }
    w.fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w.fd < 0) {
        rc = ks_seterr(eb, KS_EIO, "cannot create %s: %m", part);
        goto out;
    }
    ks_docstore_header h;
    memset(&h, 0, sizeof h);
    if ((rc = put(&w, &h, sizeof h)))
        goto out;
    w.off[0] = w.at;
    w.next = 1;
    if ((rc = ks_xdb_all_docs(db, on_doc, &w, eb)))
        goto out;
    if (w.docs != st.doccount) {
        rc = ks_seterr(eb, KS_ECORRUPT, "the database lists %llu documents but says it holds %llu",
                       (unsigned long long)w.docs, (unsigned long long)st.doccount);
        goto out;
    }
    while (w.next <= w.lastdocid + 1)
        w.off[w.next++] = w.at;
    memcpy(h.magic, KS_DOCSTORE_MAGIC, sizeof h.magic);
    h.version = KS_DOCSTORE_VERSION;
    h.header_size = sizeof h;
    h.revision = st.revision;
    h.doccount = w.docs;
    h.lastdocid = w.lastdocid;
    h.index_off = w.at;
    h.file_size = w.at + ((uint64_t)w.lastdocid + 2) * 8;
    h.header_crc = ks_crc32(0, &h, offsetof(ks_docstore_header, header_crc));
    if ((rc = put(&w, w.off, ((size_t)w.lastdocid + 2) * sizeof *w.off)))
        goto out;
    if (ks_write_all(w.fd, w.buf, w.used) || pwrite(w.fd, &h, sizeof h, 0) != (ssize_t)sizeof h ||
        fsync(w.fd)) {
        rc = ks_seterr(eb, KS_EIO, "cannot write %s: %m", part);
        goto out;
    }
    int fd = w.fd;
    w.fd = -1;
    if (close(fd)) {
        rc = ks_seterr(eb, KS_EIO, "cannot write %s: %m", part);
        goto out;
    }
    ks_fault_point("docstore-part");
    if (rename(part, out_path))
        rc = ks_seterr(eb, KS_EIO, "cannot rename %s to %s: %m", part, out_path);
out:
    if (w.fd >= 0)
        close(w.fd);
    if (rc)
        unlink(part);
    free(w.buf);
    free(w.off);
    ks_xdb_close(db);
    return rc;
}
