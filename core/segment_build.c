/* Builds a scoring segment (ks_segment.h) from a Xapian database: walks the
 * term list, each term's postings with positions and every document's
 * length through core/xdb, and writes the result to a temporary name that
 * is synced and renamed over the target.
 *
 * Memory is bounded: the sections that grow with the index (DICT, STRINGS,
 * BLOCKS, POSTINGS, POSITIONS) are each streamed through a write buffer of
 * buffer_bytes into an anonymous temporary file in the target's directory
 * (O_TMPFILE, or a name unlinked at once where the filesystem refuses it,
 * so a killed build leaves nothing behind), their crc32 computed on the way.
 * At the end the sections are copied into the .part file in order
 * (copy_file_range), the CHUNKS table computed by a read pass over POSTINGS
 * and POSITIONS, and the header written last at offset 0. What stays in
 * memory: one term's positions and start offsets (the largest term's
 * scratch), DOCLENS (4 bytes a document) and CHUNKS (4 bytes a chunk). */
#include "ks_segment.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <streamvbyte.h>
#include <streamvbytedelta.h>

#include "ks_crc.h"
#include "ks_fault.h"
#include "ks_xdb.h"

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static int buf_reserve(buf *b, size_t more)
{
    if (b->n + more <= b->cap)
        return 0;
    size_t nc = b->cap ? b->cap : 4096;
    while (nc < b->n + more)
        nc *= 2;
    uint8_t *np = realloc(b->p, nc);
    if (!np)
        return KS_ENOMEM;
    b->p = np;
    b->cap = nc;
    return 0;
}

static int buf_put(buf *b, const void *d, size_t n)
{
    if (buf_reserve(b, n))
        return KS_ENOMEM;
    if (n)
        memcpy(b->p + b->n, d, n);
    b->n += n;
    return 0;
}

/* A section streamed to an anonymous temporary file through a bounded
 * write buffer; its crc32 and size are kept as it is written. */
typedef struct stream {
    int fd;
    uint8_t *p;
    size_t n, cap;
    uint64_t size;
    uint32_t crc;
    int err; /* errno of the first failed write; later puts do nothing */
} stream;

static int write_all(int fd, const void *p, size_t n)
{
    const uint8_t *q = p;
    while (n) {
        ssize_t w = write(fd, q, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        q += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Opens an anonymous file in dir: O_TMPFILE, or where the filesystem
 * refuses it a fresh name that is unlinked at once. -1 with errno. */
static int tmpfile_in(const char *dir)
{
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
        return fd;
    char name[4096];
    if ((size_t)snprintf(name, sizeof name, "%s/.segment-tmp-XXXXXX", dir) >= sizeof name) {
        errno = ENAMETOOLONG;
        return -1;
    }
    fd = mkostemp(name, O_CLOEXEC);
    if (fd >= 0)
        unlink(name);
    return fd;
}

static int stream_flush(stream *s)
{
    if (s->n && !s->err && write_all(s->fd, s->p, s->n))
        s->err = errno;
    s->n = 0;
    return s->err;
}

static int stream_put(stream *s, const void *d, size_t n)
{
    if (s->err || !n)
        return s->err;
    s->crc = ks_crc32(s->crc, d, n);
    s->size += n;
    if (s->n + n > s->cap && stream_flush(s))
        return s->err;
    if (n >= s->cap) { /* larger than the buffer: straight to the file */
        if (write_all(s->fd, d, n))
            s->err = errno;
        return s->err;
    }
    memcpy(s->p + s->n, d, n);
    s->n += n;
    return 0;
}

typedef struct builder {
    ks_xdb *db;
    stream sect[KS_SEG_POSITIONS + 1]; /* DICT .. POSITIONS */
    uint64_t n_terms, n_blocks;
    /* the current term */
    uint32_t doc[KS_SEG_BLOCK], wdf[KS_SEG_BLOCK];
    uint32_t nblk, prev_last;
    uint32_t npost;
    uint32_t *start;     /* positions: start offsets, termfreq + 1 */
    size_t cap_start;
    buf pos;             /* uint32 positions of the current term */
    int any_pos;
    const char *dir;     /* for messages */
    ks_errbuf *eb;
} builder;

/* The error of a failed stream, as KS_EIO with a message. */
static int stream_error(builder *b, int err)
{
    errno = err;
    return ks_seterr(b->eb, KS_EIO, "cannot write a temporary file in %s: %m", b->dir);
}

static int put(builder *b, int sect, const void *d, size_t n)
{
    int err = stream_put(&b->sect[sect], d, n);
    return err ? stream_error(b, err) : 0;
}

/* Encodes the pending block of the current term. */
static int flush_block(builder *b)
{
    if (!b->nblk)
        return 0;
    uint8_t tmp[2 * (KS_SEG_BLOCK * 4 + KS_SEG_BLOCK / 4 + 16)];
    ks_seg_block blk;
    memset(&blk, 0, sizeof blk);
    blk.base = b->prev_last;
    blk.last = b->doc[b->nblk - 1];
    blk.n = b->nblk;
    for (uint32_t i = 0; i < b->nblk; i++)
        if (b->wdf[i] > blk.max_wdf)
            blk.max_wdf = b->wdf[i];
    blk.off = b->sect[KS_SEG_POSTINGS].size;
    size_t db = streamvbyte_delta_encode(b->doc, b->nblk, tmp, blk.base);
    size_t wb = streamvbyte_encode(b->wdf, b->nblk, tmp + db);
    blk.doc_bytes = (uint32_t)db;
    blk.wdf_bytes = (uint32_t)wb;
    int rc = put(b, KS_SEG_POSTINGS, tmp, db + wb);
    if (!rc)
        rc = put(b, KS_SEG_BLOCKS, &blk, sizeof blk);
    if (rc)
        return rc;
    b->n_blocks++;
    b->prev_last = blk.last;
    b->nblk = 0;
    return 0;
}

static int on_posting(void *ud, uint32_t docid, uint32_t wdf, const uint32_t *pos, size_t npos)
{
    builder *b = ud;
    if (b->npost + 1 >= b->cap_start) {
        size_t nc = b->cap_start ? b->cap_start * 2 : 1024;
        uint32_t *ns = realloc(b->start, nc * sizeof *ns);
        if (!ns)
            return ks_seterr(b->eb, KS_ENOMEM, "out of memory");
        b->start = ns;
        b->cap_start = nc;
    }
    b->start[b->npost++] = (uint32_t)(b->pos.n / 4);
    if (npos) {
        b->any_pos = 1;
        if (buf_put(&b->pos, pos, npos * sizeof *pos))
            return ks_seterr(b->eb, KS_ENOMEM, "out of memory");
    }
    b->doc[b->nblk] = docid;
    b->wdf[b->nblk] = wdf;
    if (++b->nblk == KS_SEG_BLOCK)
        return flush_block(b);
    return 0;
}

static int on_term(void *ud, const char *term, size_t len, uint32_t termfreq)
{
    builder *b = ud;
    ks_seg_term t;
    memset(&t, 0, sizeof t);
    t.str_off = b->sect[KS_SEG_STRINGS].size;
    t.str_len = (uint32_t)len;
    t.block_first = b->n_blocks;
    b->nblk = 0;
    b->prev_last = 0;
    b->npost = 0;
    b->pos.n = 0;
    b->any_pos = 0;
    int rc = ks_xdb_postings(b->db, term, len, 1, on_posting, b, b->eb);
    if (!rc)
        rc = flush_block(b);
    if (rc)
        return rc;
    (void)termfreq; /* the postings walked are the truth (equal on a consistent database) */
    t.termfreq = b->npost;
    t.n_blocks = (uint32_t)(b->n_blocks - t.block_first);
    if (b->any_pos) {
        b->start[b->npost] = (uint32_t)(b->pos.n / 4);
        t.has_pos = 1;
        t.pos_off = b->sect[KS_SEG_POSITIONS].size;
        if ((rc = put(b, KS_SEG_POSITIONS, b->start, ((size_t)b->npost + 1) * 4)) ||
            (rc = put(b, KS_SEG_POSITIONS, b->pos.p, b->pos.n)))
            return rc;
    }
    if ((rc = put(b, KS_SEG_STRINGS, term, len)) || (rc = put(b, KS_SEG_DICT, &t, sizeof t)))
        return rc;
    b->n_terms++;
    return 0;
}

/* crc32 per KS_SEG_CHUNK bytes of a byte stream fed in pieces (the CHUNKS
 * section over POSTINGS, its padding and POSITIONS). */
typedef struct chunker {
    uint64_t size; /* bytes a chunk */
    buf out;      /* uint32 crcs */
    uint32_t crc;
    uint64_t fill; /* bytes in the current chunk */
} chunker;

static int chunk_feed(chunker *c, const uint8_t *p, uint64_t n)
{
    while (n) {
        if (c->fill == 0)
            c->crc = 0;
        uint64_t k = c->size - c->fill;
        if (k > n)
            k = n;
        c->crc = ks_crc32(c->crc, p, k);
        c->fill += k;
        p += k;
        n -= k;
        if (c->fill == c->size) {
            uint32_t v = (uint32_t)c->crc;
            if (buf_put(&c->out, &v, sizeof v))
                return KS_ENOMEM;
            c->fill = 0;
        }
    }
    return 0;
}

static int chunk_end(chunker *c)
{
    if (!c->fill)
        return 0;
    uint32_t v = (uint32_t)c->crc;
    c->fill = 0;
    return buf_put(&c->out, &v, sizeof v) ? KS_ENOMEM : 0;
}


/* Reads what fits in s's buffer of its temporary file at offset at: the
 * bytes read (> 0), or 0 with the error set in b->eb. */
static size_t read_back(builder *b, stream *s, uint64_t at)
{
    size_t want = s->size - at < s->cap ? (size_t)(s->size - at) : s->cap;
    for (;;) {
        ssize_t r = pread(s->fd, s->p, want, (off_t)at);
        if (r > 0)
            return (size_t)r;
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0)
            errno = EIO; /* shorter than written */
        ks_seterr(b->eb, KS_EIO, "cannot read back a temporary file in %s: %m", b->dir);
        return 0;
    }
}

/* Copies section s (its temporary file) to fd and pads it to 8 bytes. The
 * section's bytes also go through the chunker when ck is not NULL, and its
 * padding when pad_ck is (the CHUNKS table covers POSTINGS, its padding
 * and POSITIONS, not the padding after). The chunk checksums take a read
 * pass; the copy itself is copy_file_range, in the kernel (measured 2.5x
 * faster than read and write at 100k documents, bench/RESULTS.md), or
 * read and write where the kernel cannot. The stream's buffer is the read
 * buffer. */
static int copy_section(builder *b, stream *s, int fd, chunker *ck, chunker *pad_ck, const char *part)
{
    static const uint8_t zero[8] = { 0 };
    if (stream_flush(s))
        return stream_error(b, s->err);
    for (uint64_t at = 0, r; ck && at < s->size; at += r) {
        if (!(r = read_back(b, s, at)))
            return KS_EIO;
        if (chunk_feed(ck, s->p, r))
            return ks_seterr(b->eb, KS_ENOMEM, "out of memory");
    }
    loff_t in = 0;
    while ((uint64_t)in < s->size) {
        ssize_t k = copy_file_range(s->fd, &in, fd, NULL, (size_t)(s->size - (uint64_t)in), 0);
        if (k > 0 || (k < 0 && errno == EINTR))
            continue;
        if (k == 0) {
            errno = EIO; /* shorter than written */
            return ks_seterr(b->eb, KS_EIO, "cannot read back a temporary file in %s: %m", b->dir);
        }
        if (errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP)
            return ks_seterr(b->eb, KS_EIO, "cannot write %s: %m", part);
        break; /* the rest by read and write */
    }
    for (uint64_t at = (uint64_t)in, r; at < s->size; at += r) {
        if (!(r = read_back(b, s, at)))
            return KS_EIO;
        if (write_all(fd, s->p, r))
            return ks_seterr(b->eb, KS_EIO, "cannot write %s: %m", part);
    }
    size_t pad = (8 - (s->size & 7)) & 7;
    if (pad_ck && chunk_feed(pad_ck, zero, pad))
        return ks_seterr(b->eb, KS_ENOMEM, "out of memory");
    if (write_all(fd, zero, pad))
        return ks_seterr(b->eb, KS_EIO, "cannot write %s: %m", part);
    /* done with it: its disk space goes back before the next copy */
    close(s->fd);
    s->fd = -1;
    return 0;
}

/* KOSEARCH_SEGMENT_CHUNK or KS_SEG_CHUNK; 0 after setting eb when bad. */
static uint64_t chunk_size(ks_errbuf *eb)
{
    const char *cs = getenv("KOSEARCH_SEGMENT_CHUNK");
    if (!cs)
        return KS_SEG_CHUNK;
    char *end;
    unsigned long v = strtoul(cs, &end, 10);
    if (*end || v < 64 || v > (1ul << 30) || (v & (v - 1))) {
        ks_seterr(eb, KS_EINVAL, "KOSEARCH_SEGMENT_CHUNK must be a power of two from 64 to 2^30");
        return 0;
    }
    return v;
}

/* buffer_bytes, else KOSEARCH_SEGMENT_BUFFER, else KS_SEG_BUFFER; 0 after
 * setting eb when the variable is bad. */
static size_t buffer_size(size_t buffer_bytes, ks_errbuf *eb)
{
    if (buffer_bytes)
        return buffer_bytes < KS_SEG_BUFFER_MIN ? KS_SEG_BUFFER_MIN : buffer_bytes;
    const char *bs = getenv("KOSEARCH_SEGMENT_BUFFER");
    if (!bs)
        return KS_SEG_BUFFER;
    char *end;
    unsigned long v = strtoul(bs, &end, 10);
    if (!*bs || *end || v < KS_SEG_BUFFER_MIN || v > (1ul << 30)) {
        ks_seterr(eb, KS_EINVAL, "KOSEARCH_SEGMENT_BUFFER must be a number of bytes from %d to 2^30",
                  KS_SEG_BUFFER_MIN);
        return 0;
    }
    return v;
}

int ks_segment_build(const char *xapian_path, const char *out_path, ks_errbuf *eb)
{
    return ks_segment_build_buffered(xapian_path, out_path, 0, eb);
}

int ks_segment_build_buffered(const char *xapian_path, const char *out_path, size_t buffer_bytes, ks_errbuf *eb)
{
    chunker ck;
    memset(&ck, 0, sizeof ck);
    builder b;
    memset(&b, 0, sizeof b);
    for (int i = 0; i <= KS_SEG_POSITIONS; i++)
        b.sect[i].fd = -1;
    b.eb = eb;
    ks_xdb_stats st;
    uint32_t *lens = NULL;
    char part[4096], dir[4096];
    int fd = -1, rc = KS_EINVAL;
    size_t cap = buffer_size(buffer_bytes, eb);
    if (!(ck.size = chunk_size(eb)) || !cap)
        return KS_EINVAL;
    if ((size_t)snprintf(part, sizeof part, "%s.part", out_path) >= sizeof part)
        return ks_seterr(eb, KS_EINVAL, "segment path too long");
    snprintf(dir, sizeof dir, "%s", out_path);
    b.dir = dirname(dir);
    for (int i = 0; i <= KS_SEG_POSITIONS; i++) {
        stream *s = &b.sect[i];
        s->crc = 0;
        s->cap = cap;
        if (!(s->p = malloc(cap))) {
            rc = ks_seterr(eb, KS_ENOMEM, "out of memory");
            goto out;
        }
        if ((s->fd = tmpfile_in(b.dir)) < 0) {
            rc = ks_seterr(eb, KS_EIO, "cannot create a temporary file in %s: %m", b.dir);
            goto out;
        }
    }
    if ((rc = ks_xdb_open(xapian_path, &b.db, eb)) || (rc = ks_xdb_stats_get(b.db, &st, eb)))
        goto out;
    if (st.lastdocid >= UINT32_MAX) {
        rc = ks_seterr(eb, KS_ETOOBIG, "too many document numbers for a segment");
        goto out;
    }
    lens = calloc(st.lastdocid + 1, sizeof *lens);
    if (!lens) {
        rc = ks_seterr(eb, KS_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = ks_xdb_doclengths(b.db, lens, st.lastdocid + 1, eb)) || (rc = ks_xdb_all_terms(b.db, on_term, &b, eb)))
        goto out;
    static const uint8_t zero[KS_SEG_PAD] = { 0 };
    if ((rc = put(&b, KS_SEG_POSTINGS, zero, sizeof zero)))
        goto out;
    ks_xdb_close(b.db);
    b.db = NULL;

    fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = ks_seterr(eb, KS_EIO, "cannot create %s: %m", part);
        goto out;
    }
    /* the header goes last, when the CHUNKS table is known */
    ks_seg_header h;
    memset(&h, 0, sizeof h);
    if (write_all(fd, &h, sizeof h)) {
        rc = ks_seterr(eb, KS_EIO, "cannot write %s: %m", part);
        goto out;
    }
    for (int i = 0; i <= KS_SEG_POSITIONS; i++)
        if ((rc = copy_section(&b, &b.sect[i], fd, i >= KS_SEG_POSTINGS ? &ck : NULL,
                                i == KS_SEG_POSTINGS ? &ck : NULL, part)))
            goto out;
    if (chunk_end(&ck)) {
        rc = ks_seterr(eb, KS_ENOMEM, "out of memory");
        goto out;
    }

    memcpy(h.magic, KS_SEG_MAGIC, 8);
    h.version = KS_SEG_VERSION;
    h.header_size = sizeof h;
    h.doccount = st.doccount;
    h.lastdocid = st.lastdocid;
    h.total_length = st.total_length;
    h.avglength = st.doccount ? (double)st.total_length / (double)st.doccount : 0;
    h.revision = st.revision;
    h.n_terms = b.n_terms;
    h.n_blocks = b.n_blocks;
    h.chunk_size = (uint32_t)ck.size;
    uint64_t size[KS_SEG_NSECT] = { 0 };
    for (int i = 0; i <= KS_SEG_POSITIONS; i++) {
        size[i] = b.sect[i].size;
        h.sect[i].crc = (uint32_t)b.sect[i].crc;
    }
    size[KS_SEG_DOCLENS] = (st.lastdocid + 1) * sizeof *lens;
    size[KS_SEG_CHUNKS] = ck.out.n;
    h.sect[KS_SEG_DOCLENS].crc = ks_segment_crc(lens, size[KS_SEG_DOCLENS]);
    h.sect[KS_SEG_CHUNKS].crc = ks_segment_crc(ck.out.p, size[KS_SEG_CHUNKS]);
    uint64_t off = sizeof h;
    for (int i = 0; i < KS_SEG_NSECT; i++) {
        h.sect[i].off = off;
        h.sect[i].size = size[i];
        off += (size[i] + 7) & ~(uint64_t)7;
    }
    h.file_size = off;
    h.header_crc = ks_segment_crc(&h, offsetof(ks_seg_header, header_crc));

    const void *tail[2] = { lens, ck.out.p };
    int bad = 0;
    for (int i = KS_SEG_DOCLENS; i < KS_SEG_NSECT && !bad; i++) {
        uint64_t n = size[i];
        bad = write_all(fd, tail[i - KS_SEG_DOCLENS] ? tail[i - KS_SEG_DOCLENS] : zero, n);
        if (!bad && (n & 7))
            bad = write_all(fd, zero, 8 - (n & 7));
    }
    if (!bad)
        bad = pwrite(fd, &h, sizeof h, 0) != (ssize_t)sizeof h;
    if (bad || fsync(fd) || close(fd)) {
        fd = -1;
        rc = ks_seterr(eb, KS_EIO, "cannot write %s: %m", part);
        goto out;
    }
    fd = -1;
    ks_fault_point("segment-part");
    if (rename(part, out_path)) {
        rc = ks_seterr(eb, KS_EIO, "cannot rename %s to %s: %m", part, out_path);
        goto out;
    }
out:
    if (fd >= 0)
        close(fd);
    if (rc)
        unlink(part);
    ks_xdb_close(b.db);
    free(lens);
    for (int i = 0; i <= KS_SEG_POSITIONS; i++) {
        if (b.sect[i].fd >= 0)
            close(b.sect[i].fd);
        free(b.sect[i].p);
    }
    free(b.pos.p);
    free(b.start);
    free(ck.out.p);
    return rc;
}
