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
 * (copy_file_range), the CHUNKS table computed by a read pass over them
 * (DICT to POSITIONS), and the header written last at offset 0. What stays in
 * memory: one term's positions and start offsets (the largest term's
 * scratch), DOCLENS (4 bytes a document) and CHUNKS (4 bytes a chunk).
 *
 * Positions: with a build's positions logs (ks_poslog.h, opts->poslogs),
 * the postings, wdfs and lengths still come from Xapian but each posting's
 * positions from the log: mapped read-only, shared by the threads, each
 * thread keeping a cursor in every document's record (4 bytes a document),
 * which advances one entry per posting because the walk and the records
 * are both in term order. The log's checksums are checked before the
 * build; a record that is damaged or holds a term the walk passes by
 * fails that build, which starts over from Xapian's position lists (so
 * does a log of another document count); either way the file is the same.
 * Without a log (`segment`, add, delete, a --compact build) the positions
 * come from Xapian's lists.
 *
 * Threads: most of the build is the kernel's, reading position lists
 * (Xapian 1.4 opens a fresh position-table cursor for every posting's list:
 * two 8 KiB preads each), which parallelises. With several threads a cheap
 * pass over the term list (termfreqs only) splits the vocabulary into term
 * ranges of about equal sums of termfreq; each thread opens its own
 * database handle and builds its range into its own set of section
 * streams, offsets relative to the range, while the calling thread reads
 * the document lengths. The assembly concatenates each section range by
 * range, rebasing DICT's and BLOCKS' offsets by the sizes of the ranges
 * before, and computes the section checksums over the final bytes: the
 * file is the one-thread file byte for byte. */
#include "ks_segment.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <streamvbyte.h>
#include <streamvbytedelta.h>

#include "ks_crc.h"
#include "ks_fault.h"
#include "ks_poslog.h"
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

int ks_write_all(int fd, const void *p, size_t n)
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
    if (s->n && !s->err && ks_write_all(s->fd, s->p, s->n))
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
        if (ks_write_all(s->fd, d, n))
            s->err = errno;
        return s->err;
    }
    memcpy(s->p + s->n, d, n);
    s->n += n;
    return 0;
}

/* on_term's return once another thread has failed: this range stops, and
 * the build fails with the other thread's error. Positive, so no KS_E*. */
#define STOPPED 1

/* The build of one term range: the whole vocabulary with one thread, else
 * one thread's share, written to its own temporary files with offsets
 * relative to the range (the assembly rebases them). */
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
    const char *term;    /* the current term (borrowed for on_posting) */
    size_t term_len;
    const char *dir;     /* for messages */
    ks_errbuf *eb;
    /* a thread's range: from <= term < to (NULL: open at that end) */
    const char *xapian_path;
    char *from, *to;
    size_t from_len, to_len;
    int index;           /* the range's number, for the failure point */
    const ks_poslog *pl; /* the build's positions log, or NULL: Xapian's position lists */
    ks_poslog_cursor cur;/* where this range's walk is in each document's record */
    int log_failed;      /* the log did not match or was damaged: build again without it */
    atomic_int *stop;    /* set by the first thread that fails */
    int rc;              /* the thread's result */
    ks_errbuf own_eb;    /* the thread's messages (ks_errbuf is not shared) */
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

/* How many postings ahead the log's records are prefetched: each lookup
 * lands at a random place in a log far larger than the caches. */
#define LOG_PREFETCH 8

/* The positions of the pending block's postings, from the log (on_posting
 * only queues them): each posting's start offset and decoded positions,
 * in posting order, with the records of the postings LOG_PREFETCH ahead
 * prefetched. */
static int log_block(builder *b)
{
    uint32_t n = b->nblk;
    for (uint32_t i = 0; i < n && i < LOG_PREFETCH; i++)
        ks_poslog_prefetch(b->pl, &b->cur, b->doc[i]);
    for (uint32_t i = 0; i < n; i++) {
        if (i + LOG_PREFETCH < n)
            ks_poslog_prefetch(b->pl, &b->cur, b->doc[i + LOG_PREFETCH]);
        b->start[b->npost++] = (uint32_t)(b->pos.n / 4);
        ks_poslog_hit hit;
        int rc = ks_poslog_find(b->pl, &b->cur, b->doc[i], b->term, b->term_len, &hit, b->eb);
        if (!rc && hit.npos) {
            if (buf_reserve(&b->pos, (size_t)hit.npos * 4))
                return ks_seterr(b->eb, KS_ENOMEM, "out of memory");
            if (!(rc = ks_poslog_decode(&hit, (uint32_t *)(void *)(b->pos.p + b->pos.n), b->eb))) {
                b->pos.n += (size_t)hit.npos * 4;
                b->any_pos = 1;
            }
        }
        if (rc) {
            b->log_failed = 1;
            return rc;
        }
    }
    return 0;
}

/* Encodes the pending block of the current term. */
static int flush_block(builder *b)
{
    if (!b->nblk)
        return 0;
    if (b->pl) {
        int rc = log_block(b);
        if (rc)
            return rc;
    }
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
    /* postings so far, those queued for log_block included */
    if (b->npost + (b->pl ? b->nblk : 0) + 1 >= b->cap_start) {
        size_t nc = b->cap_start ? b->cap_start * 2 : 1024;
        uint32_t *ns = realloc(b->start, nc * sizeof *ns);
        if (!ns)
            return ks_seterr(b->eb, KS_ENOMEM, "out of memory");
        b->start = ns;
        b->cap_start = nc;
    }
    /* With the log, Xapian gave no positions (want_pos 0): the block's
     * are looked up together when it is flushed (log_block). */
    if (!b->pl)
        b->start[b->npost++] = (uint32_t)(b->pos.n / 4);
    if (!b->pl && npos) {
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
    if (b->stop && atomic_load_explicit(b->stop, memory_order_relaxed))
        return STOPPED;
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
    b->term = term;
    b->term_len = len;
    int rc = ks_xdb_postings(b->db, term, len, !b->pl, on_posting, b, b->eb);
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


/* Reads up to max bytes (at most s's buffer) of s's temporary file at
 * offset at into the buffer: the bytes read (> 0), or 0 with the error set
 * in b->eb. */
static size_t read_back(builder *b, stream *s, uint64_t at, size_t max)
{
    size_t want = s->size - at < max ? (size_t)(s->size - at) : max;
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

/* Where a range's entries move in the whole file: the sizes of the ranges
 * before it (all 0 for the first). */
typedef struct rebase {
    uint64_t str, blocks, post, pos; /* STRINGS bytes, BLOCKS entries, POSTINGS and POSITIONS bytes */
} rebase;

/* Rebases the entries of section sect (DICT or BLOCKS) in p[0..n). */
static void rebase_entries(int sect, uint8_t *p, size_t n, const rebase *rb)
{
    if (sect == KS_SEG_DICT)
        for (size_t at = 0; at < n; at += sizeof(ks_seg_term)) {
            ks_seg_term t;
            memcpy(&t, p + at, sizeof t);
            t.str_off += rb->str;
            t.block_first += rb->blocks;
            if (t.has_pos) /* pos_off stays 0 without positions */
                t.pos_off += rb->pos;
            memcpy(p + at, &t, sizeof t);
        }
    else
        for (size_t at = 0; at < n; at += sizeof(ks_seg_block)) {
            ks_seg_block k;
            memcpy(&k, p + at, sizeof k);
            k.off += rb->post;
            memcpy(p + at, &k, sizeof k);
        }
}

/* Appends DICT or BLOCKS entries of s to fd, rebased by rb, through the
 * chunker ck and the section's checksum *crc (either may be NULL). */
static int copy_rebased(builder *b, stream *s, int sect, const rebase *rb, int fd, chunker *ck, uint32_t *crc,
                        const char *part)
{
    size_t ent = sect == KS_SEG_DICT ? sizeof(ks_seg_term) : sizeof(ks_seg_block);
    for (uint64_t at = 0, r; at < s->size; at += r) {
        if (!(r = read_back(b, s, at, s->cap - s->cap % ent)))
            return KS_EIO;
        r -= r % ent;
        if (!r) {
            errno = EIO; /* a short read inside an entry */
            return ks_seterr(b->eb, KS_EIO, "cannot read back a temporary file in %s: %m", b->dir);
        }
        rebase_entries(sect, s->p, r, rb);
        if (ck && chunk_feed(ck, s->p, r))
            return ks_seterr(b->eb, KS_ENOMEM, "out of memory");
        if (crc)
            *crc = ks_crc32(*crc, s->p, r);
        if (ks_write_all(fd, s->p, r))
            return ks_seterr(b->eb, KS_EIO, "cannot write %s: %m", part);
    }
    return 0;
}

/* Appends s to fd as it is, after a read pass when its bytes go to the
 * chunker ck or to the section's checksum *crc (either may be NULL). The
 * copy is copy_file_range, in the kernel (measured 2.5x faster than read
 * and write at 100k documents, bench/RESULTS.md), or read and write where
 * the kernel cannot. */
static int copy_raw(builder *b, stream *s, int fd, chunker *ck, uint32_t *crc, const char *part)
{
    for (uint64_t at = 0, r; (ck || crc) && at < s->size; at += r) {
        if (!(r = read_back(b, s, at, s->cap)))
            return KS_EIO;
        if (ck && chunk_feed(ck, s->p, r))
            return ks_seterr(b->eb, KS_ENOMEM, "out of memory");
        if (crc)
            *crc = ks_crc32(*crc, s->p, r);
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
        if (!(r = read_back(b, s, at, s->cap)))
            return KS_EIO;
        if (ks_write_all(fd, s->p, r))
            return ks_seterr(b->eb, KS_EIO, "cannot write %s: %m", part);
    }
    return 0;
}

/* Appends section sect of range b (its temporary file) to fd: DICT and
 * BLOCKS rebased by rb when it is not NULL (a range after the first), the
 * rest as they are, all through the chunker ck. With
 * several ranges the section's checksum is computed over the final bytes
 * into *crc; crc NULL: one range, whose stream's checksum is the section's.
 * The stream's buffer is the read buffer; the temporary file is closed
 * after, so its disk space goes back before the next copy. */
static int copy_range(builder *b, int sect, const rebase *rb, int fd, chunker *ck, uint32_t *crc, const char *part)
{
    stream *s = &b->sect[sect];
    if (stream_flush(s))
        return stream_error(b, s->err);
    int rc = rb && (sect == KS_SEG_DICT || sect == KS_SEG_BLOCKS) ? copy_rebased(b, s, sect, rb, fd, ck, crc, part)
                                                                    : copy_raw(b, s, fd, ck, crc, part);
    if (rc)
        return rc;
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

/* buffer_bytes, else KOSEARCH_SEGMENT_BUFFER, else KS_SEG_BUFFER shared by
 * the ranges' streams (at least KS_SEG_BUFFER_SHARED_MIN each); 0 after
 * setting eb when the variable is bad. */
static size_t buffer_size(size_t buffer_bytes, size_t ranges, ks_errbuf *eb)
{
    if (buffer_bytes)
        return buffer_bytes < KS_SEG_BUFFER_MIN ? KS_SEG_BUFFER_MIN : buffer_bytes;
    const char *bs = getenv("KOSEARCH_SEGMENT_BUFFER");
    if (!bs) {
        size_t share = KS_SEG_BUFFER / ranges;
        return share < KS_SEG_BUFFER_SHARED_MIN ? KS_SEG_BUFFER_SHARED_MIN : share;
    }
    char *end;
    unsigned long v = strtoul(bs, &end, 10);
    if (!*bs || *end || v < KS_SEG_BUFFER_MIN || v > (1ul << 30)) {
        ks_seterr(eb, KS_EINVAL, "KOSEARCH_SEGMENT_BUFFER must be a number of bytes from %d to 2^30",
                  KS_SEG_BUFFER_MIN);
        return 0;
    }
    return v;
}

/* threads, else KOSEARCH_SEGMENT_THREADS, else the online CPUs (at most
 * KS_SEG_THREADS_DEFAULT_MAX); never above KS_SEG_THREADS_MAX. 0 after
 * setting eb when the variable is bad. */
static unsigned thread_count(unsigned threads, ks_errbuf *eb)
{
    if (threads)
        return threads > KS_SEG_THREADS_MAX ? KS_SEG_THREADS_MAX : threads;
    const char *ts = getenv("KOSEARCH_SEGMENT_THREADS");
    if (ts) {
        char *end;
        unsigned long v = strtoul(ts, &end, 10);
        if (!*ts || *end || v < 1 || v > KS_SEG_THREADS_MAX) {
            ks_seterr(eb, KS_EINVAL, "KOSEARCH_SEGMENT_THREADS must be a number from 1 to %d", KS_SEG_THREADS_MAX);
            return 0;
        }
        return (unsigned)v;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > KS_SEG_THREADS_DEFAULT_MAX ? KS_SEG_THREADS_DEFAULT_MAX : (unsigned)n;
}

/* The split of the vocabulary into ranges of about equal work: one
 * position-list read per posting, so about equal sums of termfreq. Range k
 * (1 <= k < want) starts at the first term with at least k/want of the
 * total before it; a term that starts several is one split, so there may
 * be fewer ranges than wanted (a tiny vocabulary). */
typedef struct splitter {
    unsigned want, next;   /* ranges wanted; the next range to start */
    uint64_t total, cum;   /* sum of every term's termfreq; of those before the current one */
    unsigned n;            /* splits found */
    char *term[KS_SEG_THREADS_MAX];
    size_t len[KS_SEG_THREADS_MAX];
} splitter;

static int sum_termfreq(void *ud, const char *term, size_t len, uint32_t termfreq)
{
    (void)term;
    (void)len;
    ((splitter *)ud)->total += termfreq;
    return 0;
}

static int pick_split(void *ud, const char *term, size_t len, uint32_t termfreq)
{
    splitter *sp = ud;
    int here = 0;
    while (sp->next < sp->want && sp->cum * sp->want >= (uint64_t)sp->next * sp->total) {
        here = 1;
        sp->next++;
    }
    if (here) {
        if (!(sp->term[sp->n] = malloc(len ? len : 1)))
            return KS_ENOMEM;
        memcpy(sp->term[sp->n], term, len);
        sp->len[sp->n++] = len;
    }
    sp->cum += termfreq;
    return sp->next == sp->want ? STOPPED : 0; /* all found: the rest need not be read */
}

/* Two passes over the term list (termfreqs only, no postings): the total,
 * then the splits. */
static int split_terms(ks_xdb *db, splitter *sp, ks_errbuf *eb)
{
    int rc = ks_xdb_all_terms(db, sum_termfreq, sp, eb);
    if (!rc)
        rc = ks_xdb_all_terms(db, pick_split, sp, eb);
    if (rc == KS_ENOMEM)
        return ks_seterr(eb, KS_ENOMEM, "out of memory");
    return rc == STOPPED ? 0 : rc;
}

/* A thread: builds its range through its own database handle (Xapian
 * objects are not shared between threads). */
static void *range_thread(void *arg)
{
    builder *b = arg;
    int rc = ks_xdb_open(b->xapian_path, &b->db, b->eb);
    if (!rc)
        rc = ks_xdb_terms_range(b->db, b->from, b->from_len, b->to, b->to_len, on_term, b, b->eb);
    char name[32];
    snprintf(name, sizeof name, "segment-thread-%d", b->index);
    if (!rc && ks_fault_fail(name))
        rc = stream_error(b, ENOSPC);
    ks_xdb_close(b->db);
    b->db = NULL;
    if (rc && rc != STOPPED)
        atomic_store(b->stop, 1);
    b->rc = rc;
    return NULL;
}

/* Allocates b's stream buffers (cap bytes) and temporary files in dir. */
static int builder_init(builder *b, size_t cap, const char *dir, ks_errbuf *eb)
{
    memset(b, 0, sizeof *b);
    b->dir = dir;
    b->eb = eb;
    for (int i = 0; i <= KS_SEG_POSITIONS; i++)
        b->sect[i].fd = -1;
    for (int i = 0; i <= KS_SEG_POSITIONS; i++) {
        stream *s = &b->sect[i];
        s->cap = cap;
        if (!(s->p = malloc(cap)))
            return ks_seterr(eb, KS_ENOMEM, "out of memory");
        if ((s->fd = tmpfile_in(dir)) < 0)
            return ks_seterr(eb, KS_EIO, "cannot create a temporary file in %s: %m", dir);
    }
    return 0;
}

static void builder_free(builder *b)
{
    ks_xdb_close(b->db);
    for (int i = 0; i <= KS_SEG_POSITIONS; i++) {
        if (b->sect[i].fd >= 0)
            close(b->sect[i].fd);
        free(b->sect[i].p);
    }
    free(b->pos.p);
    free(b->start);
    ks_poslog_cursor_free(&b->cur);
}

/* Builds ranges b[0..nr) with one thread each while this one reads the
 * document lengths; the first failure (the lengths', else the first
 * range's in term order) goes to eb. */
static int build_ranges(builder *b, size_t nr, ks_xdb *db, uint32_t *lens, size_t nlens, ks_errbuf *eb)
{
    atomic_int stop;
    atomic_init(&stop, 0);
    pthread_t *tid = calloc(nr, sizeof *tid);
    if (!tid)
        return ks_seterr(eb, KS_ENOMEM, "out of memory");
    size_t started = 0;
    int rc = 0;
    /* ISA-L picks its crc routine on the first call and stores the choice:
     * made here, before the threads race to it */
    (void)ks_crc32(0, "", 1);
    for (; started < nr; started++) {
        b[started].eb = &b[started].own_eb;
        b[started].stop = &stop;
        int err = pthread_create(&tid[started], NULL, range_thread, &b[started]);
        if (err) {
            errno = err;
            rc = ks_seterr(eb, KS_ENOMEM, "cannot start a segment build thread: %m");
            break;
        }
    }
    if (!rc)
        rc = ks_xdb_doclengths(db, lens, nlens, eb);
    if (rc)
        atomic_store(&stop, 1);
    for (size_t k = 0; k < started; k++) {
        pthread_join(tid[k], NULL);
        if (!rc && b[k].rc && b[k].rc != STOPPED) {
            rc = b[k].rc;
            memcpy(eb->msg, b[k].own_eb.msg, sizeof eb->msg);
        }
    }
    for (size_t k = 0; k < nr; k++)
        b[k].eb = eb; /* the assembly's messages */
    free(tid);
    return rc;
}

int ks_segment_build(const char *xapian_path, const char *out_path, ks_errbuf *eb)
{
    return ks_segment_build_with(xapian_path, out_path, NULL, eb);
}

int ks_segment_build_buffered(const char *xapian_path, const char *out_path, size_t buffer_bytes, ks_errbuf *eb)
{
    ks_seg_build_opts o = { .buffer_bytes = buffer_bytes };
    return ks_segment_build_with(xapian_path, out_path, &o, eb);
}

/* One build, with positions from pl (NULL: Xapian's). *log_failed is set
 * when it failed because of the log. */
static int build_once(const char *xapian_path, const char *out_path, const ks_seg_build_opts *opts,
                      const ks_poslog *pl, int *log_failed, ks_errbuf *eb)
{
    chunker ck;
    memset(&ck, 0, sizeof ck);
    splitter sp;
    memset(&sp, 0, sizeof sp);
    builder *b = NULL;
    size_t nr = 0; /* ranges, each with its builder */
    ks_xdb *db = NULL;
    ks_xdb_stats st;
    uint32_t *lens = NULL;
    char part[4096], dirbuf[4096];
    int fd = -1, rc = KS_EINVAL;
    unsigned threads = thread_count(opts ? opts->threads : 0, eb);
    if (!(ck.size = chunk_size(eb)) || !threads)
        return KS_EINVAL;
    if ((size_t)snprintf(part, sizeof part, "%s.part", out_path) >= sizeof part)
        return ks_seterr(eb, KS_EINVAL, "segment path too long");
    snprintf(dirbuf, sizeof dirbuf, "%s", out_path);
    const char *dir = dirname(dirbuf);
    if ((rc = ks_xdb_open(xapian_path, &db, eb)) || (rc = ks_xdb_stats_get(db, &st, eb)))
        goto out;
    if (st.lastdocid >= UINT32_MAX) {
        rc = ks_seterr(eb, KS_ETOOBIG, "too many document numbers for a segment");
        goto out;
    }
    if (pl && ks_poslog_doccount(pl) != st.doccount) {
        *log_failed = 1;
        rc = ks_seterr(eb, KS_ECORRUPT, "the positions log holds %llu documents, the database %llu",
                       (unsigned long long)ks_poslog_doccount(pl), (unsigned long long)st.doccount);
        goto out;
    }
    sp.want = threads;
    if (threads > 1 && (rc = split_terms(db, &sp, eb)))
        goto out;
    size_t cap = buffer_size(opts ? opts->buffer_bytes : 0, sp.n + 1, eb);
    if (!cap) {
        rc = KS_EINVAL;
        goto out;
    }
    if (!(b = calloc(sp.n + 1, sizeof *b))) {
        rc = ks_seterr(eb, KS_ENOMEM, "out of memory");
        goto out;
    }
    for (; nr < sp.n + 1; nr++) {
        builder *r = &b[nr];
        if ((rc = builder_init(r, cap, dir, eb))) {
            nr++; /* freed at out */
            goto out;
        }
        r->xapian_path = xapian_path;
        r->index = (int)nr;
        if (nr > 0) {
            r->from = sp.term[nr - 1];
            r->from_len = sp.len[nr - 1];
        }
        if (nr < sp.n) {
            r->to = sp.term[nr];
            r->to_len = sp.len[nr];
        }
        r->pl = pl;
        if (pl && (rc = ks_poslog_cursor_init(&r->cur, pl, r->from, r->from_len, eb))) {
            nr++;
            goto out;
        }
    }
    lens = calloc(st.lastdocid + 1, sizeof *lens);
    if (!lens) {
        rc = ks_seterr(eb, KS_ENOMEM, "out of memory");
        goto out;
    }
    if (nr == 1) { /* one range: this thread, through db */
        b[0].db = db;
        rc = ks_xdb_doclengths(db, lens, st.lastdocid + 1, eb);
        if (!rc)
            rc = ks_xdb_all_terms(db, on_term, &b[0], eb);
        b[0].db = NULL;
    } else {
        rc = build_ranges(b, nr, db, lens, st.lastdocid + 1, eb);
    }
    static const uint8_t zero[KS_SEG_PAD] = { 0 };
    if (rc || (rc = put(&b[nr - 1], KS_SEG_POSTINGS, zero, sizeof zero)))
        goto out;
    ks_xdb_close(db);
    db = NULL;

    fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = ks_seterr(eb, KS_EIO, "cannot create %s: %m", part);
        goto out;
    }
    /* the header goes last, when the CHUNKS table is known */
    ks_seg_header h;
    memset(&h, 0, sizeof h);
    if (ks_write_all(fd, &h, sizeof h)) {
        rc = ks_seterr(eb, KS_EIO, "cannot write %s: %m", part);
        goto out;
    }
    /* each section is its ranges' in term order, then zeros to 8 bytes,
     * through the chunker: CHUNKS covers DICT to the end of POSITIONS, the
     * padding between them included, not the padding after */
    uint64_t size[KS_SEG_NSECT] = { 0 };
    for (int i = 0; i <= KS_SEG_POSITIONS; i++) {
        rebase rb = { 0, 0, 0, 0 };
        uint32_t crc = 0;
        chunker *c = &ck;
        for (size_t k = 0; k < nr; k++) {
            if ((rc = copy_range(&b[k], i, k ? &rb : NULL, fd, c, nr > 1 ? &crc : NULL, part)))
                goto out;
            size[i] += b[k].sect[i].size;
            rb.str += b[k].sect[KS_SEG_STRINGS].size;
            rb.blocks += b[k].n_blocks;
            rb.post += b[k].sect[KS_SEG_POSTINGS].size;
            rb.pos += b[k].sect[KS_SEG_POSITIONS].size;
        }
        h.sect[i].crc = nr > 1 ? crc : b[0].sect[i].crc;
        size_t pad = (8 - (size[i] & 7)) & 7;
        if (i < KS_SEG_POSITIONS && chunk_feed(&ck, zero, pad)) {
            rc = ks_seterr(eb, KS_ENOMEM, "out of memory");
            goto out;
        }
        if (ks_write_all(fd, zero, pad)) {
            rc = ks_seterr(eb, KS_EIO, "cannot write %s: %m", part);
            goto out;
        }
    }
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
    for (size_t k = 0; k < nr; k++) {
        h.n_terms += b[k].n_terms;
        h.n_blocks += b[k].n_blocks;
    }
    h.chunk_size = (uint32_t)ck.size;
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
        bad = ks_write_all(fd, tail[i - KS_SEG_DOCLENS] ? tail[i - KS_SEG_DOCLENS] : zero, n);
        if (!bad && (n & 7))
            bad = ks_write_all(fd, zero, 8 - (n & 7));
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
    for (size_t k = 0; rc && k < nr; k++)
        *log_failed |= b[k].log_failed;
    ks_xdb_close(db);
    free(lens);
    for (size_t k = 0; k < nr; k++)
        builder_free(&b[k]);
    free(b);
    for (unsigned k = 0; k < sp.n; k++)
        free(sp.term[k]);
    free(ck.out.p);
    return rc;
}

int ks_segment_build_with(const char *xapian_path, const char *out_path, const ks_seg_build_opts *opts,
                          ks_errbuf *eb)
{
    ks_errbuf ignore, *note = opts && opts->poslog_note ? opts->poslog_note : &ignore;
    note->msg[0] = 0;
    if (!opts || !opts->nposlogs)
        return build_once(xapian_path, out_path, opts, NULL, &(int){ 0 }, eb);
    /* with the log, unless it fails validation: then from Xapian, as always */
    ks_poslog *pl = NULL;
    int log_failed = 0;
    int rc = ks_poslog_open(opts->poslogs, opts->nposlogs, &pl, note);
    if (!rc) {
        rc = build_once(xapian_path, out_path, opts, pl, &log_failed, eb);
        ks_poslog_close(pl);
        if (!rc || !log_failed)
            return rc;
        memcpy(note->msg, eb->msg, sizeof note->msg);
        eb->msg[0] = 0;
    }
    return build_once(xapian_path, out_path, opts, NULL, &(int){ 0 }, eb);
}
