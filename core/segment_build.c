/* Builds a scoring segment (ks_segment.h) from a Xapian database: walks the
 * term list, each term's postings with positions and every document's
 * length through core/xdb, assembles the sections in memory and writes them
 * to a temporary name that is synced and renamed over the target. */
#include "ks_segment.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <streamvbyte.h>
#include <streamvbytedelta.h>
#include <zlib.h>

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

typedef struct builder {
    ks_xdb *db;
    buf dict, strings, blocks, postings, positions;
    uint64_t n_terms, n_blocks;
    /* the current term */
    uint32_t doc[KS_SEG_BLOCK], wdf[KS_SEG_BLOCK];
    uint32_t nblk, prev_last;
    uint32_t npost;
    uint32_t *start;     /* positions: start offsets, termfreq + 1 */
    size_t cap_start;
    buf pos;             /* uint32 positions of the current term */
    int any_pos;
    ks_errbuf *eb;
} builder;

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
    blk.off = b->postings.n;
    size_t db = streamvbyte_delta_encode(b->doc, b->nblk, tmp, blk.base);
    size_t wb = streamvbyte_encode(b->wdf, b->nblk, tmp + db);
    blk.doc_bytes = (uint32_t)db;
    blk.wdf_bytes = (uint32_t)wb;
    if (buf_put(&b->postings, tmp, db + wb) || buf_put(&b->blocks, &blk, sizeof blk))
        return KS_ENOMEM;
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
            return KS_ENOMEM;
        b->start = ns;
        b->cap_start = nc;
    }
    b->start[b->npost++] = (uint32_t)(b->pos.n / 4);
    if (npos) {
        b->any_pos = 1;
        if (buf_put(&b->pos, pos, npos * sizeof *pos))
            return KS_ENOMEM;
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
    t.str_off = b->strings.n;
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
        return rc == KS_ENOMEM ? ks_seterr(b->eb, rc, "out of memory") : rc;
    (void)termfreq; /* the postings walked are the truth (equal on a consistent database) */
    t.termfreq = b->npost;
    t.n_blocks = (uint32_t)(b->n_blocks - t.block_first);
    if (b->any_pos) {
        b->start[b->npost] = (uint32_t)(b->pos.n / 4);
        t.has_pos = 1;
        t.pos_off = b->positions.n;
        if (buf_put(&b->positions, b->start, ((size_t)b->npost + 1) * 4) ||
            buf_put(&b->positions, b->pos.p, b->pos.n))
            return ks_seterr(b->eb, KS_ENOMEM, "out of memory");
    }
    if (buf_put(&b->strings, term, len) || buf_put(&b->dict, &t, sizeof t))
        return ks_seterr(b->eb, KS_ENOMEM, "out of memory");
    b->n_terms++;
    return 0;
}

static int write_all(int fd, const void *p, size_t n)
{
    const uint8_t *q = p;
    while (n) {
        ssize_t w = write(fd, q, n);
        if (w < 0)
            return -1;
        q += w;
        n -= (size_t)w;
    }
    return 0;
}

/* crc32 per KS_SEG_CHUNK bytes of a byte stream fed in pieces (the CHUNKS
 * section over POSTINGS, its padding and POSITIONS). */
typedef struct chunker {
    uint64_t size; /* bytes a chunk */
    buf out;      /* uint32 crcs */
    uLong crc;
    uint64_t fill; /* bytes in the current chunk */
} chunker;

static int chunk_feed(chunker *c, const uint8_t *p, uint64_t n)
{
    while (n) {
        if (c->fill == 0)
            c->crc = crc32(0L, Z_NULL, 0);
        uint64_t k = c->size - c->fill;
        if (k > n)
            k = n;
        c->crc = crc32(c->crc, p, (uInt)k);
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

int ks_segment_build(const char *xapian_path, const char *out_path, ks_errbuf *eb)
{
    chunker ck;
    memset(&ck, 0, sizeof ck);
    ck.size = KS_SEG_CHUNK;
    const char *cs = getenv("KOSEARCH_SEGMENT_CHUNK");
    if (cs) {
        char *end;
        unsigned long v = strtoul(cs, &end, 10);
        if (*end || v < 64 || v > (1ul << 30) || (v & (v - 1)))
            return ks_seterr(eb, KS_EINVAL, "KOSEARCH_SEGMENT_CHUNK must be a power of two from 64 to 2^30");
        ck.size = v;
    }
    builder b;
    memset(&b, 0, sizeof b);
    b.eb = eb;
    ks_xdb_stats st;
    uint32_t *lens = NULL;
    char part[4096];
    int fd = -1, rc;
    if ((size_t)snprintf(part, sizeof part, "%s.part", out_path) >= sizeof part)
        return ks_seterr(eb, KS_EINVAL, "segment path too long");
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
    if (buf_put(&b.postings, zero, sizeof zero)) {
        rc = ks_seterr(eb, KS_ENOMEM, "out of memory");
        goto out;
    }

    ks_seg_header h;
    memset(&h, 0, sizeof h);
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
    static const uint8_t pad8[8] = { 0 };
    if (chunk_feed(&ck, b.postings.p, b.postings.n) || chunk_feed(&ck, pad8, (8 - (b.postings.n & 7)) & 7) ||
        chunk_feed(&ck, b.positions.p, b.positions.n) || chunk_end(&ck)) {
        rc = ks_seterr(eb, KS_ENOMEM, "out of memory");
        goto out;
    }
    const void *data[KS_SEG_NSECT] = { b.dict.p, b.strings.p, b.blocks.p, b.postings.p, b.positions.p, lens,
                                       ck.out.p };
    uint64_t size[KS_SEG_NSECT] = { b.dict.n, b.strings.n, b.blocks.n, b.postings.n, b.positions.n,
                                    (st.lastdocid + 1) * sizeof *lens, ck.out.n };
    uint64_t off = sizeof h;
    for (int i = 0; i < KS_SEG_NSECT; i++) {
        h.sect[i].off = off;
        h.sect[i].size = size[i];
        h.sect[i].crc = ks_segment_crc(data[i], size[i]);
        off += (size[i] + 7) & ~(uint64_t)7;
    }
    h.file_size = off;
    h.header_crc = ks_segment_crc(&h, offsetof(ks_seg_header, header_crc));

    fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = ks_seterr(eb, KS_EIO, "cannot create %s: %m", part);
        goto out;
    }
    int bad = write_all(fd, &h, sizeof h);
    for (int i = 0; i < KS_SEG_NSECT && !bad; i++) {
        bad = write_all(fd, data[i] ? data[i] : zero, size[i]);
        if (!bad && (size[i] & 7))
            bad = write_all(fd, zero, 8 - (size[i] & 7));
    }
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
    free(b.dict.p);
    free(b.strings.p);
    free(b.blocks.p);
    free(b.postings.p);
    free(b.positions.p);
    free(b.pos.p);
    free(b.start);
    free(ck.out.p);
    return rc;
}
