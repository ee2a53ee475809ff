/* The build-time positions log (ks_poslog.h): written by the indexer's
 * shard writers, read by the segment builder. */
#include "ks_poslog.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ks_crc.h"
#include "ks_fault.h"
#include "ks_segment.h"

_Static_assert(sizeof(ks_poslog_header) == 64, "the positions log header is 64 bytes");

/* ---- writing ------------------------------------------------------------ */

struct ks_poslog_writer {
    int fd;
    char *path;
    uint8_t *buf;
    size_t n;           /* bytes in buf */
    uint64_t size;      /* data bytes written (buffered included) */
    uint32_t crc;       /* of data so far */
    uint64_t *off;      /* off[0..ndocs] */
    uint64_t ndocs, cap;
    uint32_t *scratch;  /* positions being sorted */
    size_t scratch_cap;
    unsigned shard, nshards;
    ks_errbuf eb;       /* put_term's message */
};

static int flush(ks_poslog_writer *w)
{
    if (ks_fault_fail("poslog-write"))
        errno = ENOSPC;
    else if (!w->n || !ks_write_all(w->fd, w->buf, w->n)) {
        w->n = 0;
        return 0;
    }
    return ks_seterr(&w->eb, KS_EIO, "cannot write the positions log %s: %m", w->path);
}

/* Room for more bytes in the buffer (more <= KS_POSLOG_BUFFER), or a
 * direct write for what does not fit. */
static int put(ks_poslog_writer *w, const void *d, size_t n)
{
    w->crc = ks_crc32(w->crc, d, n);
    w->size += n;
    if (w->n + n > KS_POSLOG_BUFFER && flush(w))
        return KS_EIO;
    if (n > KS_POSLOG_BUFFER) {
        if (ks_write_all(w->fd, d, n))
            return ks_seterr(&w->eb, KS_EIO, "cannot write the positions log %s: %m", w->path);
        return 0;
    }
    memcpy(w->buf + w->n, d, n);
    w->n += n;
    return 0;
}

static size_t varint(uint8_t *p, uint32_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

int ks_poslog_writer_open(const char *path, unsigned shard, unsigned nshards, ks_poslog_writer **out,
                          ks_errbuf *eb)
{
    *out = NULL;
    ks_poslog_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->buf = malloc(KS_POSLOG_BUFFER)) || !(w->path = strdup(path)) ||
        !(w->off = malloc(1024 * sizeof *w->off))) {
        if (w) {
            free(w->buf);
            free(w->path);
        }
        free(w);
        return ks_seterr(eb, KS_ENOMEM, "out of memory");
    }
    w->cap = 1024;
    w->off[0] = 0;
    w->shard = shard;
    w->nshards = nshards;
    w->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    static const ks_poslog_header zero;
    if (w->fd < 0 || ks_write_all(w->fd, &zero, sizeof zero)) { /* the header's room; written last */
        int rc = ks_seterr(eb, KS_EIO, "cannot create the positions log %s: %m", path);
        if (w->fd >= 0) {
            close(w->fd);
            unlink(path);
        }
        free(w->off);
        free(w->buf);
        free(w->path);
        free(w);
        return rc;
    }
    *out = w;
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

int ks_poslog_put_term(void *ud, const char *term, size_t len, uint32_t wdf, const uint32_t *pos, size_t npos)
{
    ks_poslog_writer *w = ud;
    (void)wdf;
    if (!npos)
        return 0;
    size_t k = 1;
    while (k < npos && pos[k] > pos[k - 1])
        k++;
    if (k < npos) { /* not ascending: sorted and made distinct, as Xapian stores them */
        if (npos > w->scratch_cap) {
            uint32_t *ns = realloc(w->scratch, npos * sizeof *ns);
            if (!ns)
                return ks_seterr(&w->eb, KS_ENOMEM, "out of memory");
            w->scratch = ns;
            w->scratch_cap = npos;
        }
        memcpy(w->scratch, pos, npos * sizeof *pos);
        qsort(w->scratch, npos, sizeof *pos, cmp_u32);
        size_t m = 1;
        for (size_t i = 1; i < npos; i++)
            if (w->scratch[i] != w->scratch[m - 1])
                w->scratch[m++] = w->scratch[i];
        pos = w->scratch;
        npos = m;
    }
    if (len == 0 || len > UINT32_MAX || npos > UINT32_MAX)
        return ks_seterr(&w->eb, KS_EINVAL, "positions log: bad term");
    uint8_t head[15], tmp[5 * 64];
    uint64_t pbytes = 0;
    for (size_t i = 0; i < npos; i++)
        pbytes += varint(tmp, i ? pos[i] - pos[i - 1] : pos[0]);
    if (pbytes > UINT32_MAX)
        return ks_seterr(&w->eb, KS_ETOOBIG, "positions log: too many positions");
    size_t h = varint(head, (uint32_t)len);
    if (put(w, head, h) || put(w, term, len))
        return KS_EIO;
    h = varint(head, (uint32_t)npos);
    h += varint(head + h, (uint32_t)pbytes);
    if (put(w, head, h))
        return KS_EIO;
    for (size_t i = 0; i < npos;) {
        size_t t = 0;
        for (; i < npos && t + 5 <= sizeof tmp; i++)
            t += varint(tmp + t, i ? pos[i] - pos[i - 1] : pos[0]);
        if (put(w, tmp, t))
            return KS_EIO;
    }
    return 0;
}

int ks_poslog_end_doc(ks_poslog_writer *w, uint32_t docid, ks_errbuf *eb)
{
    if (docid != w->ndocs + 1)
        return ks_seterr(eb, KS_EINVAL, "positions log %s: document %u where %llu was due", w->path, docid,
                         (unsigned long long)w->ndocs + 1);
    if (w->ndocs + 2 > w->cap) {
        uint64_t *no = realloc(w->off, w->cap * 2 * sizeof *no);
        if (!no)
            return ks_seterr(eb, KS_ENOMEM, "out of memory");
        w->off = no;
        w->cap *= 2;
    }
    w->off[++w->ndocs] = w->size;
    return 0;
}

const char *ks_poslog_writer_error(const ks_poslog_writer *w)
{
    return w->eb.msg;
}

int ks_poslog_writer_close(ks_poslog_writer *w, int commit, ks_errbuf *eb)
{
    int rc = 0;
    if (commit) {
        static const uint8_t zero[8];
        ks_poslog_header h;
        memset(&h, 0, sizeof h);
        memcpy(h.magic, KS_POSLOG_MAGIC, 8);
        h.version = KS_POSLOG_VERSION;
        h.shard = w->shard;
        h.nshards = w->nshards;
        h.ndocs = w->ndocs;
        h.data_size = w->size;
        h.data_crc = w->crc; /* before the padding */
        size_t pad = (8 - (w->size & 7)) & 7;
        h.table_off = sizeof h + w->size + pad;
        size_t tbytes = (w->ndocs + 1) * sizeof *w->off;
        h.table_crc = ks_crc32(0, w->off, tbytes);
        h.header_crc = ks_crc32(0, &h, offsetof(ks_poslog_header, header_crc));
        if (put(w, zero, pad) || flush(w))
            rc = ks_seterr(eb, KS_EIO, "%s", w->eb.msg);
        else if (ks_write_all(w->fd, w->off, tbytes) || pwrite(w->fd, &h, sizeof h, 0) != (ssize_t)sizeof h)
            rc = ks_seterr(eb, KS_EIO, "cannot write the positions log %s: %m", w->path);
    }
    if (close(w->fd) && commit && !rc)
        rc = ks_seterr(eb, KS_EIO, "cannot write the positions log %s: %m", w->path);
    if (!commit || rc)
        unlink(w->path);
    free(w->scratch);
    free(w->off);
    free(w->buf);
    free(w->path);
    free(w);
    return rc;
}

/* ---- reading ------------------------------------------------------------ */

typedef struct shard {
    const uint8_t *map; /* the file */
    size_t size;
    const uint8_t *data;
    const uint64_t *table; /* off[0..ndocs] */
    uint64_t ndocs;
} shard;

struct ks_poslog {
    unsigned n;
    uint64_t ndocs;     /* over every shard */
    uint64_t lastdocid; /* the highest global number */
    shard s[];
};

void ks_poslog_close(ks_poslog *pl)
{
    if (!pl)
        return;
    for (unsigned k = 0; k < pl->n; k++)
        if (pl->s[k].map)
            munmap((void *)pl->s[k].map, pl->s[k].size);
    free(pl);
}

/* Maps and checks shard k's file. */
static int open_shard(shard *s, const char *path, unsigned k, unsigned n, ks_errbuf *eb)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ks_seterr(eb, errno == ENOENT ? KS_ENOTFOUND : KS_EIO, "cannot open the positions log %s: %m",
                         path);
    struct stat st;
    if (fstat(fd, &st)) {
        int rc = ks_seterr(eb, KS_EIO, "cannot stat the positions log %s: %m", path);
        close(fd);
        return rc;
    }
    if ((uint64_t)st.st_size < sizeof(ks_poslog_header)) {
        close(fd);
        return ks_seterr(eb, KS_ECORRUPT, "positions log %s: truncated (%lld bytes)", path,
                         (long long)st.st_size);
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
        return ks_seterr(eb, KS_EIO, "cannot map the positions log %s: %m", path);
    s->map = m;
    s->size = (size_t)st.st_size;
    ks_poslog_header h;
    memcpy(&h, m, sizeof h);
    const char *why = NULL;
    if (memcmp(h.magic, KS_POSLOG_MAGIC, 8) || h.version != KS_POSLOG_VERSION)
        why = "not a positions log of this version (or never finished)";
    else if (h.header_crc != ks_crc32(0, &h, offsetof(ks_poslog_header, header_crc)))
        why = "header checksum mismatch";
    else if (h.shard != k || h.nshards != n)
        why = "written for another shard";
    else if (h.data_size > s->size || h.table_off != sizeof h + ((h.data_size + 7) & ~(uint64_t)7) ||
             h.table_off > s->size || h.ndocs >= (s->size - h.table_off) / 8 ||
             h.table_off + (h.ndocs + 1) * 8 != s->size)
        why = "sizes do not match the file's";
    else if (ks_crc32(0, (const uint8_t *)m + sizeof h, h.data_size) != h.data_crc ||
             ks_crc32(0, (const uint8_t *)m + h.table_off, (h.ndocs + 1) * 8) != h.table_crc)
        why = "checksum mismatch";
    if (!why) {
        s->data = (const uint8_t *)m + sizeof h;
        s->table = (const uint64_t *)(const void *)((const uint8_t *)m + h.table_off);
        s->ndocs = h.ndocs;
        if (s->table[0] != 0 || s->table[h.ndocs] != h.data_size)
            why = "bad record table";
        for (uint64_t i = 0; !why && i < h.ndocs; i++)
            if (s->table[i + 1] < s->table[i] || s->table[i + 1] - s->table[i] >= UINT32_MAX)
                why = "bad record table";
    }
    if (why)
        return ks_seterr(eb, KS_ECORRUPT, "positions log %s: %s", path, why);
    return 0;
}

int ks_poslog_open(const char *const *paths, unsigned n, ks_poslog **out, ks_errbuf *eb)
{
    *out = NULL;
    if (n == 0)
        return ks_seterr(eb, KS_EINVAL, "no positions log");
    ks_poslog *pl = calloc(1, sizeof *pl + n * sizeof(shard));
    if (!pl)
        return ks_seterr(eb, KS_ENOMEM, "out of memory");
    pl->n = n;
    for (unsigned k = 0; k < n; k++) {
        int rc = open_shard(&pl->s[k], paths[k], k, n, eb);
        if (rc) {
            ks_poslog_close(pl);
            return rc;
        }
        uint64_t nd = pl->s[k].ndocs;
        pl->ndocs += nd;
        if (nd && (nd - 1) * n + k + 1 > pl->lastdocid)
            pl->lastdocid = (nd - 1) * n + k + 1;
    }
    if (pl->lastdocid >= UINT32_MAX) {
        ks_poslog_close(pl);
        return ks_seterr(eb, KS_ECORRUPT, "positions log: too many documents");
    }
    *out = pl;
    return 0;
}

uint64_t ks_poslog_doccount(const ks_poslog *pl)
{
    return pl->ndocs;
}

int ks_poslog_cursor_init(ks_poslog_cursor *c, const ks_poslog *pl, const char *from, size_t from_len,
                          ks_errbuf *eb)
{
    c->n = pl->lastdocid + 1;
    c->from = from;
    c->from_len = from_len;
    if (!(c->at = calloc(c->n, sizeof *c->at)))
        return ks_seterr(eb, KS_ENOMEM, "out of memory");
    return 0;
}

void ks_poslog_cursor_free(ks_poslog_cursor *c)
{
    free(c->at);
    c->at = NULL;
}

/* A varint of at most 5 bytes below 2^32 at *p (< end): 0 and *p moved
 * past it, or -1. */
static int get_varint(const uint8_t **p, const uint8_t *end, uint32_t *v)
{
    uint32_t r = 0;
    for (int i = 0; i < 5; i++) {
        if (*p >= end)
            return -1;
        uint8_t b = *(*p)++;
        if (i == 4 && b > 0x0f)
            return -1;
        r |= (uint32_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *v = r;
            return 0;
        }
    }
    return -1;
}

/* memcmp order, shorter first on a common prefix (Xapian's). */
static int term_cmp(const uint8_t *a, size_t na, const char *b, size_t nb)
{
    int c = memcmp(a, b, na < nb ? na : nb);
    return c ? c : (na > nb) - (na < nb);
}

int ks_poslog_find(const ks_poslog *pl, ks_poslog_cursor *c, uint32_t docid, const char *term, size_t len,
                   ks_poslog_hit *hit, ks_errbuf *eb)
{
    hit->npos = 0;
    hit->p = hit->end = NULL;
    unsigned k = (unsigned)((docid - 1u) % pl->n);
    uint64_t local = (docid - 1u) / pl->n + 1;
    if (docid == 0 || docid >= c->n || local > pl->s[k].ndocs)
        return ks_seterr(eb, KS_ECORRUPT, "positions log: no record of document %u", docid);
    const shard *s = &pl->s[k];
    const uint8_t *rec = s->data + s->table[local - 1], *end = s->data + s->table[local];
    int started = c->at[docid] != 0;
    const uint8_t *p = rec + (started ? c->at[docid] - 1 : 0);
    for (;;) {
        c->at[docid] = (uint32_t)(p - rec) + 1;
        if (p == end)
            return 0;
        const uint8_t *q = p;
        uint32_t tl, npos, pb;
        if (get_varint(&q, end, &tl) || tl == 0 || tl > (size_t)(end - q))
            break;
        const uint8_t *t = q;
        q += tl;
        if (get_varint(&q, end, &npos) || get_varint(&q, end, &pb) || npos == 0 || pb < npos ||
            pb > (size_t)(end - q))
            break;
        int cmp = term_cmp(t, tl, term, len);
        if (cmp > 0)
            return 0; /* the document has no positions for term */
        p = q + pb;
        if (cmp == 0) {
            c->at[docid] = (uint32_t)(p - rec) + 1;
            hit->p = q;
            hit->end = p;
            hit->npos = npos;
            return 0;
        }
        /* before term: only terms before the walk's first may be passed over */
        if (started || !c->from || term_cmp(t, tl, c->from, c->from_len) >= 0)
            return ks_seterr(eb, KS_ECORRUPT,
                             "positions log: document %u holds a term the database does not give it", docid);
    }
    return ks_seterr(eb, KS_ECORRUPT, "positions log: damaged record of document %u", docid);
}

void ks_poslog_prefetch(const ks_poslog *pl, const ks_poslog_cursor *c, uint32_t docid)
{
    unsigned k = (unsigned)((docid - 1u) % pl->n);
    uint64_t local = (docid - 1u) / pl->n + 1;
    if (docid == 0 || docid >= c->n || local > pl->s[k].ndocs)
        return;
    uint32_t at = c->at[docid];
    __builtin_prefetch(pl->s[k].data + pl->s[k].table[local - 1] + (at ? at - 1 : 0));
}

int ks_poslog_decode(const ks_poslog_hit *hit, uint32_t *out, ks_errbuf *eb)
{
    const uint8_t *p = hit->p;
    uint64_t v = 0;
    for (uint32_t i = 0; i < hit->npos; i++) {
        uint32_t d;
        if (p < hit->end && *p < 0x80) /* most gaps are one byte */
            d = *p++;
        else if (get_varint(&p, hit->end, &d))
            return ks_seterr(eb, KS_ECORRUPT, "positions log: damaged positions");
        if ((i && d == 0) || (v += d) > UINT32_MAX)
            return ks_seterr(eb, KS_ECORRUPT, "positions log: damaged positions");
        out[i] = (uint32_t)v;
    }
    if (p != hit->end)
        return ks_seterr(eb, KS_ECORRUPT, "positions log: damaged positions");
    return 0;
}
