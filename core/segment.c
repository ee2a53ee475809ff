/* Opens a scoring segment (ks_segment.h): maps it read-only and checks the
 * header, the section bounds and the small tables every reader needs at
 * once (document lengths, chunk checksums). Everything else is checked a
 * chunk at a time the first time a reader touches it, so opening costs
 * milliseconds whatever the size: the bulk (postings, positions) in place,
 * the dictionary, term strings and block index by copying the chunk into
 * private memory and checking the copy; a dictionary entry's offsets and
 * blocks are then checked the first time it is looked up. Bitmaps remember
 * what was verified.
 *
 * The file is never changed in place by kosearch, but another program (or
 * a failing disk) may damage it under a running reader. So what was
 * validated once and is then trusted without checks (the header, the
 * dictionary, the block index: every offset the readers follow) is read
 * from private copies, validated there; the bulk is only read through
 * bounds checks made against those copies. A truncated file would raise
 * SIGBUS on access to the pages past its new end: a handler (installed at
 * the first open) maps zero pages there instead and marks the segment
 * damaged, which the searcher checks after every ranking to redo it with
 * Xapian (ks_search.h). Damage found in a dictionary entry or the block
 * index at lookup marks the segment damaged the same way (a lookup cannot
 * fail otherwise: it finds nothing), with the reason kept for the log. */
#include "ks_segment.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>


#include "ks_crc.h"
#include "ks_svb.h"

_Static_assert(sizeof(ks_seg_header) == 256, "segment header is 256 bytes");
_Static_assert(sizeof(ks_seg_term) == 40, "dictionary entry is 40 bytes");
_Static_assert(sizeof(ks_seg_block) == 32, "block entry is 32 bytes");

struct ks_segment {
    const uint8_t *map;
    size_t size;
    const ks_seg_header *h;    /* &hcopy once mapped */
    ks_seg_header hcopy;
    uint8_t *small;            /* private copies of DOCLENS and CHUNKS (small_alloc) */
    size_t small_size;         /* bytes mapped at small */
    _Atomic int damaged;       /* set by the SIGBUS handler or ks_segment_set_damaged */
    _Atomic int has_why;       /* why[] is written (before damaged is set) */
    char why[KS_ERRBUF_SIZE];  /* the first damage found by a lookup */
    int slot;                  /* index in maps[] (-1: none) */
    const ks_seg_term *dict;
    const char *strings;
    const ks_seg_block *blocks;
    const uint8_t *postings;
    uint64_t postings_size;    /* with the KS_SEG_PAD bytes */
    const uint8_t *positions;
    const uint32_t *doclens;
    /* lazily verified range [lazy_off, lazy_end) of the file: DICT to the
     * end of POSITIONS, KS_SEG_CHUNK bytes a checksum */
    uint64_t lazy_off, lazy_end, n_chunks, chunk;
    /* its first n_copy chunks (those holding DICT, STRINGS and BLOCKS) are
     * copied, on first use, to copy[0 .. n_copy * chunk): file byte
     * lazy_off + k is copy[k]; a bit per chunk in copied once the copy's
     * crc matched. copy_mu serialises the copying. */
    uint8_t *copy;
    size_t copy_size;
    uint64_t n_copy;
    _Atomic uint64_t *copied;
    pthread_mutex_t copy_mu;
    _Atomic uint64_t *term_ok; /* bit per dictionary entry, set once term_check passed */
    unsigned chunk_shift;       /* log2(chunk): verify_range runs per block and per position
                                   list, and two 64-bit divisions there cost 10% of an all-words query */
    const uint32_t *chunk_crc;
    _Atomic uint64_t *verified; /* bit per chunk, set once its crc matched */
    /* open segments are shared within the process (the daemon's workers
     * open the same file): one mapping, one validation, one bitmap */
    dev_t dev;
    ino_t ino;
    struct timespec mtime;
    unsigned refs;
    struct ks_segment *next;
};

static pthread_mutex_t open_mu = PTHREAD_MUTEX_INITIALIZER;
static struct ks_segment *open_list; /* guarded by open_mu */

/* The mappings the SIGBUS handler knows, read lock-free by the handler:
 * a slot is filled (under open_mu) before its segment is used and emptied
 * before it is unmapped. Beyond KS_SEG_MAX_MAPS open segments, the extra
 * ones are not covered (a truncation under them kills the process as
 * before); a daemon has one or two open. */
#define KS_SEG_MAX_MAPS 64
static struct ks_segment *_Atomic maps[KS_SEG_MAX_MAPS];
static struct sigaction prev_bus;
static pthread_once_t bus_once = PTHREAD_ONCE_INIT;

static void on_sigbus(int sig, siginfo_t *si, void *ctx)
{
    const uint8_t *a = si->si_addr;
    for (int i = 0; i < KS_SEG_MAX_MAPS; i++) {
        struct ks_segment *s = atomic_load(&maps[i]);
        if (!s || a < s->map || a >= s->map + s->size)
            continue;
        atomic_store(&s->damaged, 1); /* before the zeros become readable */
        long pg = sysconf(_SC_PAGESIZE);
        void *page = (void *)((uintptr_t)a & ~(uintptr_t)(pg - 1));
        if (mmap(page, (size_t)pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED)
            return; /* the read is retried and sees zeros */
        break;
    }
    /* not ours (or no way to recover): as if we had never been installed */
    if (prev_bus.sa_flags & SA_SIGINFO) {
        prev_bus.sa_sigaction(sig, si, ctx);
    } else if (prev_bus.sa_handler != SIG_IGN && prev_bus.sa_handler != SIG_DFL) {
        prev_bus.sa_handler(sig);
    } else {
        signal(SIGBUS, SIG_DFL);
        raise(SIGBUS);
    }
}

static void install_sigbus(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, &prev_bus);
}

int ks_segment_damaged(const ks_segment *s)
{
    return atomic_load(&((ks_segment *)s)->damaged);
}

void ks_segment_set_damaged(ks_segment *s)
{
    atomic_store(&s->damaged, 1);
}

uint32_t ks_segment_crc(const void *p, uint64_t n)
{
    return ks_crc32(0, p, n);
}

static int cmp_term(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    if (c)
        return c;
    return al < bl ? -1 : al > bl;
}

static const char *sect_name[KS_SEG_NSECT] = { "dictionary", "strings", "blocks",          "postings",
                                               "positions",  "document lengths", "chunk checksums" };

/* A section lies within a file of size bytes, after the header, 8-aligned. */
static int sect_ok(const ks_seg_section *c, uint64_t size)
{
    return c->off >= sizeof(ks_seg_header) && !(c->off & 7) && c->off <= size && c->size <= size - c->off;
}

static int chunk_size_ok(uint64_t chunk)
{
    return chunk >= 64 && !(chunk & (chunk - 1));
}

/* The lazily verified range of a segment whose DICT and POSITIONS sections
 * are in bounds: file bytes [*off, *end) from DICT to the end of
 * POSITIONS, in *n_chunks checksums of chunk bytes (chunk a power of two). */
static void lazy_layout(const ks_seg_header *h, uint64_t chunk, uint64_t *off, uint64_t *end, uint64_t *n_chunks)
{
    *off = h->sect[KS_SEG_DICT].off;
    *end = h->sect[KS_SEG_POSITIONS].off + h->sect[KS_SEG_POSITIONS].size;
    *n_chunks = *end > *off ? (*end - *off + chunk - 1) / chunk : 0;
}

/* The checksum of chunk c of the range [off, end) of the file at map. */
static uint32_t chunk_crc(const uint8_t *map, uint64_t off, uint64_t end, uint64_t chunk, uint64_t c)
{
    uint64_t a = off + c * chunk;
    return ks_segment_crc(map + a, end - a < chunk ? end - a : chunk);
}

/* Checks chunk c of the lazy range against its checksum: its bytes in the
 * mapping, or (in_copy) in the private copy. 0 or KS_ECORRUPT. */
static int chunk_check(const ks_segment *s, uint64_t c, int in_copy, ks_errbuf *eb)
{
    uint64_t a = s->lazy_off + c * s->chunk, n = s->lazy_end - a < s->chunk ? s->lazy_end - a : s->chunk;
    if (ks_segment_crc(in_copy ? s->copy + c * s->chunk : s->map + a, n) == s->chunk_crc[c])
        return 0;
    return ks_seterr(eb, KS_ECORRUPT, "segment damaged (checksum mismatch at bytes %llu-%llu); rebuild the index",
                     (unsigned long long)a, (unsigned long long)(a + n));
}

/* Verifies the chunks overlapping file bytes [off, off + len) that no reader
 * has verified yet. Two threads may verify one chunk at once: harmless. */
static int verify_range_slow(const ks_segment *s, uint64_t off, uint64_t len, ks_errbuf *eb)
{
    uint64_t end = off + len > s->lazy_end ? s->lazy_end : off + len;
    for (uint64_t c = (off - s->lazy_off) >> s->chunk_shift; c <= (end - 1 - s->lazy_off) >> s->chunk_shift; c++) {
        uint64_t bit = 1ull << (c & 63);
        if (atomic_load_explicit(&s->verified[c >> 6], memory_order_acquire) & bit)
            continue;
        int rc = chunk_check(s, c, 0, eb);
        if (rc)
            return rc;
        atomic_fetch_or_explicit(&s->verified[c >> 6], bit, memory_order_release);
    }
    return 0;
}

/* Checks bytes [off, off+len) of the lazily verified range (POSTINGS and
 * POSITIONS) before they are read. Inline: it runs two or three times per
 * (term, document) position lookup, and almost always finds the range
 * inside one chunk already verified; only the rest takes the call. */
static inline int verify_range(const ks_segment *s, uint64_t off, uint64_t len, ks_errbuf *eb)
{
    if (off < s->lazy_off || off >= s->lazy_end || !len)
        return 0;
    uint64_t c = (off - s->lazy_off) >> s->chunk_shift;
    if (off + len <= s->lazy_end && c == (off + len - 1 - s->lazy_off) >> s->chunk_shift &&
        (atomic_load_explicit(&s->verified[c >> 6], memory_order_acquire) & (1ull << (c & 63))))
        return 0;
    return verify_range_slow(s, off, len, eb);
}

/* Copies chunk c of the small sections into s->copy and checks the copy,
 * under copy_mu. */
static int copy_chunk_slow(ks_segment *s, uint64_t c, ks_errbuf *eb)
{
    int rc = 0;
    pthread_mutex_lock(&s->copy_mu);
    if (!(atomic_load_explicit(&s->copied[c >> 6], memory_order_relaxed) & (1ull << (c & 63)))) {
        uint64_t a = s->lazy_off + c * s->chunk, n = s->lazy_end - a < s->chunk ? s->lazy_end - a : s->chunk;
        /* a truncated file: the SIGBUS handler's zeros, then a mismatch */
        memcpy(s->copy + c * s->chunk, s->map + a, n);
        if (!(rc = chunk_check(s, c, 1, eb)))
            atomic_fetch_or_explicit(&s->copied[c >> 6], 1ull << (c & 63), memory_order_release);
    }
    pthread_mutex_unlock(&s->copy_mu);
    return rc;
}

/* Makes file bytes [off, off + len) of the copied range readable in
 * s->copy: each chunk they touch copied and checked once. The caller has
 * checked that they lie in a section of the copied range. */
static inline int copy_range(const ks_segment *cs, uint64_t off, uint64_t len, ks_errbuf *eb)
{
    ks_segment *s = (ks_segment *)cs; /* the copy is a cache: logically const */
    if (!len)
        return 0;
    uint64_t c = (off - s->lazy_off) >> s->chunk_shift, last = (off + len - 1 - s->lazy_off) >> s->chunk_shift;
    for (; c <= last; c++) {
        if (atomic_load_explicit(&s->copied[c >> 6], memory_order_acquire) & (1ull << (c & 63)))
            continue;
        int rc = copy_chunk_slow(s, c, eb);
        if (rc)
            return rc;
    }
    return 0;
}

/* Marks s damaged for the reason in eb (the first reason is kept). */
static void damage(const ks_segment *cs, const ks_errbuf *eb)
{
    ks_segment *s = (ks_segment *)cs;
    pthread_mutex_lock(&s->copy_mu);
    if (!atomic_load(&s->has_why)) {
        snprintf(s->why, sizeof s->why, "%s", eb->msg);
        atomic_store(&s->has_why, 1);
    }
    pthread_mutex_unlock(&s->copy_mu);
    atomic_store(&s->damaged, 1);
}

/* File offset of byte k of section i. */
static inline uint64_t at_sect(const ks_segment *s, int i, uint64_t k)
{
    return s->h->sect[i].off + k;
}

#define BAD(...) ks_seterr(eb, KS_ECORRUPT, __VA_ARGS__)

/* Makes dictionary entry i and its term bytes readable (copied, checked
 * against their checksums, the bytes inside STRINGS): what a binary
 * search probe reads. The rest of the entry is term_check's. */
static int term_load(const ks_segment *s, uint64_t i, ks_errbuf *eb)
{
    int rc = copy_range(s, at_sect(s, KS_SEG_DICT, i * sizeof(ks_seg_term)), sizeof(ks_seg_term), eb);
    if (rc)
        return rc;
    const ks_seg_term *t = &s->dict[i];
    uint64_t strsize = s->h->sect[KS_SEG_STRINGS].size;
    if (t->str_off > strsize || t->str_len > strsize - t->str_off)
        return BAD("segment dictionary entry %llu out of bounds; rebuild the index", (unsigned long long)i);
    return copy_range(s, at_sect(s, KS_SEG_STRINGS, t->str_off), t->str_len, eb);
}

/* Entry i of the dictionary, checked in full the first time: its bytes,
 * its order against its neighbours (so a dictionary whose every entry was
 * looked up is known sorted), its blocks and positions in bounds. A
 * reader trusts an entry (and its blocks) that passed. */
static int term_check(const ks_segment *s, uint64_t i, ks_errbuf *eb)
{
    const uint64_t bit = 1ull << (i & 63);
    if (atomic_load_explicit(&s->term_ok[i >> 6], memory_order_acquire) & bit)
        return 0;
    const ks_seg_header *h = s->h;
    int rc = term_load(s, i, eb);
    if (rc)
        return rc;
    const ks_seg_term *t = &s->dict[i];
    if (t->block_first > h->n_blocks || t->n_blocks > h->n_blocks - t->block_first || t->termfreq == 0 ||
        t->termfreq > h->doccount || (uint64_t)t->n_blocks != (t->termfreq + KS_SEG_BLOCK - 1) / KS_SEG_BLOCK)
        return BAD("segment dictionary entry %llu out of bounds; rebuild the index", (unsigned long long)i);
    for (uint64_t j = i ? i - 1 : i + 1; j <= i + 1 && j < h->n_terms; j += 2) {
        if ((rc = term_load(s, j, eb)))
            return rc;
        const ks_seg_term *a = &s->dict[j < i ? j : i], *b = &s->dict[j < i ? i : j];
        if (cmp_term(s->strings + a->str_off, a->str_len, s->strings + b->str_off, b->str_len) >= 0)
            return BAD("segment dictionary not sorted at entry %llu; rebuild the index",
                       (unsigned long long)(j < i ? i : j));
    }
    if (t->has_pos) {
        uint64_t need = ((uint64_t)t->termfreq + 1) * 4, qsize = h->sect[KS_SEG_POSITIONS].size;
        if ((t->pos_off & 3) || t->pos_off > qsize || need > qsize - t->pos_off)
            return BAD("segment positions of dictionary entry %llu out of bounds; rebuild the index",
                       (unsigned long long)i);
    }
    if ((rc = copy_range(s, at_sect(s, KS_SEG_BLOCKS, t->block_first * sizeof(ks_seg_block)),
                         (uint64_t)t->n_blocks * sizeof(ks_seg_block), eb)))
        return rc;
    uint64_t psize = s->postings_size - KS_SEG_PAD;
    uint32_t left = t->termfreq, prev = 0;
    for (uint32_t j = 0; j < t->n_blocks; j++) {
        const ks_seg_block *b = &s->blocks[t->block_first + j];
        uint32_t want = left > KS_SEG_BLOCK ? KS_SEG_BLOCK : left;
        left -= want;
        uint64_t maxbytes = (uint64_t)(want + 3) / 4 + 4ull * want;
        if (b->n != want || b->base != prev || b->last <= b->base || b->last > h->lastdocid || b->off > psize ||
            b->doc_bytes > maxbytes || b->wdf_bytes > maxbytes || (uint64_t)b->doc_bytes + b->wdf_bytes > psize - b->off)
            return BAD("segment block %u of dictionary entry %llu out of bounds; rebuild the index", j,
                       (unsigned long long)i);
        prev = b->last;
    }
    atomic_fetch_or_explicit(&((ks_segment *)s)->term_ok[i >> 6], bit, memory_order_release);
    return 0;
}

#undef BAD

void ks_segment_seal(void *file, size_t size)
{
    if (size < sizeof(ks_seg_header))
        return;
    ks_seg_header *h = file;
    uint8_t *map = file;
    ks_seg_section *S = h->sect;
    uint64_t off, end, n_chunks;
    if (sect_ok(&S[KS_SEG_DICT], size) && sect_ok(&S[KS_SEG_POSITIONS], size) && sect_ok(&S[KS_SEG_CHUNKS], size) &&
        chunk_size_ok(h->chunk_size) && !(S[KS_SEG_CHUNKS].off & 3)) {
        lazy_layout(h, h->chunk_size, &off, &end, &n_chunks);
        /* the table's room, however many chunks the header's sizes imply */
        for (uint64_t c = 0; c < n_chunks && c < S[KS_SEG_CHUNKS].size / 4; c++) {
            uint32_t v = chunk_crc(map, off, end, h->chunk_size, c);
            memcpy(map + S[KS_SEG_CHUNKS].off + c * 4, &v, 4);
        }
    }
    for (int i = 0; i < KS_SEG_NSECT; i++)
        if (sect_ok(&S[i], size))
            S[i].crc = ks_segment_crc(map + S[i].off, S[i].size);
    h->header_crc = ks_segment_crc(h, offsetof(ks_seg_header, header_crc));
}

int ks_segment_verify(const ks_segment *s, ks_errbuf *eb)
{
    /* the copied chunks checked in their copies (which the entries' checks
     * read), the rest in place: each chunk's checksum computed once */
    uint64_t copied = s->n_copy * s->chunk < s->lazy_end - s->lazy_off ? s->n_copy * s->chunk : s->lazy_end - s->lazy_off;
    int rc = copy_range(s, s->lazy_off, copied, eb);
    if (!rc)
        rc = verify_range(s, s->lazy_off + copied, s->lazy_end - s->lazy_off - copied, eb);
    for (uint64_t i = 0; !rc && i < s->h->n_terms; i++)
        rc = term_check(s, i, eb);
    return rc;
}

/* Room for the copies made at open (DOCLENS and CHUNKS: 4 bytes a
 * document and a chunk): anonymous memory in huge pages, populated up
 * front, read into with pread straight from the page cache. Measured when
 * the open still copied 200 MB (bench/RESULTS.md, "Opening a segment"):
 * populating first is what makes the first open of a process fast; huge
 * pages without it, or 4 KiB pages populated, were 5-10x slower. NULL when
 * out of memory. */
static uint8_t *small_alloc(uint64_t n, size_t *mapped)
{
    const uint64_t huge = 2u << 20;
    uint64_t len = n < huge ? (n ? n : 1) : (n + huge - 1) & ~(huge - 1);
    void *p = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    /* hints: refused (an old kernel, huge pages off) is fine */
#ifdef MADV_HUGEPAGE
    if (len >= huge)
        (void)madvise(p, (size_t)len, MADV_HUGEPAGE);
#endif
#ifdef MADV_POPULATE_WRITE
    (void)madvise(p, (size_t)len, MADV_POPULATE_WRITE);
#endif
    *mapped = (size_t)len;
    return p;
}

static void small_free(ks_segment *s)
{
    if (s->small)
        munmap(s->small, s->small_size);
    s->small = NULL;
}

/* n bytes of fd at off into p: 0, or -1 (errno set; 0 for a short file). */
static int read_at(int fd, uint8_t *p, uint64_t n, uint64_t off)
{
    while (n) {
        ssize_t r = pread(fd, p, n > (1u << 30) ? (1u << 30) : (size_t)n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0)
                errno = 0;
            return -1;
        }
        p += r;
        off += (uint64_t)r;
        n -= (uint64_t)r;
    }
    return 0;
}

/* Everything but the mapping itself; DOCLENS and CHUNKS are read from fd. */
static int validate(ks_segment *s, int fd, const char *path, ks_errbuf *eb)
{
    const ks_seg_header *h = s->h;
#define BAD(...) ks_seterr(eb, KS_ECORRUPT, __VA_ARGS__)
    if (s->size < sizeof *h)
        return BAD("%s: not a kosearch segment (%zu bytes, too short for a header); rebuild the index", path,
                   s->size);
    if (memcmp(h->magic, KS_SEG_MAGIC, 8) != 0)
        return BAD("%s: not a kosearch segment (bad magic); rebuild the index", path);
    if (h->version != KS_SEG_VERSION)
        return BAD("%s: segment format version %u, this program reads %u; rebuild the segment (kosearch-indexer "
                   "segment INDEX)", path, h->version, KS_SEG_VERSION);
    if (h->header_size != sizeof *h || h->header_crc != ks_segment_crc(h, offsetof(ks_seg_header, header_crc)))
        return BAD("%s: segment header checksum mismatch", path);
    if (h->file_size != s->size)
        return BAD("%s: segment is %zu bytes, its header says %llu (truncated?)", path, s->size,
                   (unsigned long long)h->file_size);
    const ks_seg_section *S = h->sect;
    for (int i = 0; i < KS_SEG_NSECT; i++)
        if (!sect_ok(&S[i], s->size))
            return BAD("%s: %s section out of bounds", path, sect_name[i]);
    /* DICT .. POSITIONS in file order, not overlapping: the lazy range */
    for (int i = KS_SEG_DICT; i < KS_SEG_POSITIONS; i++)
        if (S[i].off + S[i].size > S[i + 1].off)
            return BAD("%s: %s section out of order", path, sect_name[i]);
    if (h->n_terms > S[KS_SEG_DICT].size / sizeof(ks_seg_term) ||
        h->n_terms * sizeof(ks_seg_term) != S[KS_SEG_DICT].size ||
        h->n_blocks > S[KS_SEG_BLOCKS].size / sizeof(ks_seg_block) || /* (the product below must not wrap) */
        h->n_blocks * sizeof(ks_seg_block) != S[KS_SEG_BLOCKS].size || h->lastdocid >= UINT32_MAX ||
        (h->lastdocid + 1) * 4 != S[KS_SEG_DOCLENS].size || S[KS_SEG_POSTINGS].size < KS_SEG_PAD ||
        h->doccount > h->lastdocid)
        return BAD("%s: segment counts disagree with section sizes", path);
    s->chunk = h->chunk_size;
    if (!chunk_size_ok(s->chunk))
        return BAD("%s: segment chunk size %llu is not a power of two from 64", path, (unsigned long long)s->chunk);
    s->chunk_shift = (unsigned)__builtin_ctzll(s->chunk);
    lazy_layout(h, s->chunk, &s->lazy_off, &s->lazy_end, &s->n_chunks);
    if (S[KS_SEG_CHUNKS].size != s->n_chunks * 4 || (S[KS_SEG_CHUNKS].off & 3))
        return BAD("%s: segment chunk checksums disagree with its sections", path);

    /* DOCLENS and CHUNKS: copied now (see the top of the file), each at an
     * 8-byte aligned offset of s->small, and checked there */
    const int eager[2] = { KS_SEG_DOCLENS, KS_SEG_CHUNKS };
    const uint8_t *at[2];
    uint64_t small = 0;
    for (int k = 0; k < 2; k++)
        small += (S[eager[k]].size + 7) & ~(uint64_t)7;
    if (!(s->small = small_alloc(small, &s->small_size)))
        return ks_seterr(eb, KS_ENOMEM, "out of memory");
    small = 0;
    for (int k = 0; k < 2; k++) {
        const ks_seg_section *c = &S[eager[k]];
        if (read_at(fd, s->small + small, c->size, c->off))
            return errno ? ks_seterr(eb, KS_EIO, "cannot read segment %s: %m", path)
                         : BAD("%s: segment is shorter than it was a moment ago (changed under the reader?)", path);
        at[k] = s->small + small;
        small += (c->size + 7) & ~(uint64_t)7;
        if (ks_segment_crc(at[k], c->size) != c->crc)
            return BAD("%s: %s section checksum mismatch", path, sect_name[eager[k]]);
    }
    s->doclens = (const uint32_t *)at[0];
    s->chunk_crc = (const uint32_t *)at[1];

    /* the copied range: whole chunks up to the one holding BLOCKS' end,
     * reserved now and filled on first use */
    uint64_t copy_end = S[KS_SEG_BLOCKS].off + S[KS_SEG_BLOCKS].size;
    s->n_copy = copy_end > s->lazy_off ? ((copy_end - s->lazy_off - 1) >> s->chunk_shift) + 1 : 0;
    s->copy_size = (size_t)(s->n_copy ? s->n_copy * s->chunk : 1);
    void *m = mmap(NULL, s->copy_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED)
        return ks_seterr(eb, KS_ENOMEM, "out of memory (reserving %zu bytes for segment %s)", s->copy_size, path);
    s->copy = m;
#ifdef MADV_HUGEPAGE
    /* Binary search probes the dictionary and strings at random: 2 MiB
     * pages spare a TLB miss a probe (measured at 1M documents: find 1.1-1.6
     * us with them, 2.1-2.5 us without). Not the block index (70% of the
     * copy), read a term's run at a time: there they would make a query's
     * first touch of a 64 KiB chunk zero 2 MiB. A hint: refused is fine. */
    size_t dict_part = (size_t)(S[KS_SEG_BLOCKS].off - s->lazy_off) & ~(size_t)((2u << 20) - 1);
    if (dict_part)
        (void)madvise(m, dict_part, MADV_HUGEPAGE);
#endif
    s->verified = calloc(s->n_chunks / 64 + 1, sizeof *s->verified);
    s->copied = calloc(s->n_copy / 64 + 1, sizeof *s->copied);
    s->term_ok = calloc(h->n_terms / 64 + 1, sizeof *s->term_ok);
    if (!s->verified || !s->copied || !s->term_ok)
        return ks_seterr(eb, KS_ENOMEM, "out of memory");
    s->dict = (const ks_seg_term *)(s->copy + (S[KS_SEG_DICT].off - s->lazy_off));
    s->strings = (const char *)(s->copy + (S[KS_SEG_STRINGS].off - s->lazy_off));
    s->blocks = (const ks_seg_block *)(s->copy + (S[KS_SEG_BLOCKS].off - s->lazy_off));
    s->postings = s->map + S[KS_SEG_POSTINGS].off;
    s->postings_size = S[KS_SEG_POSTINGS].size;
    s->positions = s->map + S[KS_SEG_POSITIONS].off;
#undef BAD
    return 0;
}

/* Frees what validate and the open set up (s itself stays). */
static void release(ks_segment *s)
{
    if (s->map)
        munmap((void *)s->map, s->size);
    if (s->copy)
        munmap(s->copy, s->copy_size);
    free((void *)s->verified);
    free((void *)s->copied);
    free((void *)s->term_ok);
    small_free(s);
    pthread_mutex_destroy(&s->copy_mu);
}

int ks_segment_open(const char *path, ks_segment **out, ks_errbuf *eb)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ks_seterr(eb, errno == ENOENT ? KS_ENOTFOUND : KS_EIO, "cannot open segment %s: %m", path);
    struct stat sb;
    if (fstat(fd, &sb)) {
        int rc = ks_seterr(eb, KS_EIO, "cannot stat segment %s: %m", path);
        close(fd);
        return rc;
    }
    /* Held across the validation too, so that two threads opening the same
     * new file validate it once. A file is never changed in place (the
     * indexer renames a new one over it), so (device, inode, size, mtime)
     * names its contents. */
    pthread_mutex_lock(&open_mu);
    for (ks_segment *o = open_list; o; o = o->next)
        if (o->dev == sb.st_dev && o->ino == sb.st_ino && o->size == (size_t)sb.st_size &&
            o->mtime.tv_sec == sb.st_mtim.tv_sec && o->mtime.tv_nsec == sb.st_mtim.tv_nsec) {
            o->refs++;
            pthread_mutex_unlock(&open_mu);
            close(fd);
            *out = o;
            return 0;
        }
    ks_segment *s = calloc(1, sizeof *s);
    if (!s) {
        pthread_mutex_unlock(&open_mu);
        close(fd);
        return ks_seterr(eb, KS_ENOMEM, "out of memory");
    }
    s->dev = sb.st_dev;
    s->ino = sb.st_ino;
    s->mtime = sb.st_mtim;
    s->refs = 1;
    s->slot = -1;
    s->size = (size_t)sb.st_size;
    pthread_mutex_init(&s->copy_mu, NULL);
    if (s->size >= sizeof(ks_seg_header)) {
        void *m = mmap(NULL, s->size, PROT_READ, MAP_SHARED, fd, 0);
        if (m == MAP_FAILED) {
            int rc = ks_seterr(eb, KS_EIO, "cannot map segment %s: %m", path);
            pthread_mutex_unlock(&open_mu);
            close(fd);
            release(s);
            free(s);
            return rc;
        }
        s->map = m;
        memcpy(&s->hcopy, m, sizeof s->hcopy);
        s->h = &s->hcopy;
    }
    int rc = validate(s, fd, path, eb);
    close(fd);
    if (rc) {
        pthread_mutex_unlock(&open_mu);
        release(s);
        free(s);
        return rc;
    }
    pthread_once(&bus_once, install_sigbus);
    for (int i = 0; i < KS_SEG_MAX_MAPS && s->slot < 0; i++)
        if (!atomic_load(&maps[i])) {
            atomic_store(&maps[i], s);
            s->slot = i;
        }
    s->next = open_list;
    open_list = s;
    pthread_mutex_unlock(&open_mu);
    *out = s;
    return 0;
}

void ks_segment_close(ks_segment *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&open_mu);
    int last = --s->refs == 0;
    if (last) {
        for (ks_segment **pp = &open_list; *pp; pp = &(*pp)->next)
            if (*pp == s) {
                *pp = s->next;
                break;
            }
        if (s->slot >= 0)
            atomic_store(&maps[s->slot], NULL);
    }
    pthread_mutex_unlock(&open_mu);
    if (!last)
        return;
    release(s);
    free(s);
}

const ks_seg_header *ks_segment_header(const ks_segment *s)
{
    return s->h;
}

uint64_t ks_segment_size(const ks_segment *s)
{
    return s->size;
}

const uint32_t *ks_segment_doclens(const ks_segment *s)
{
    return s->doclens;
}

const ks_seg_term *ks_segment_term_at(const ks_segment *s, uint64_t i)
{
    ks_errbuf eb;
    if (i >= s->h->n_terms)
        return NULL;
    if (term_check(s, i, &eb)) {
        damage(s, &eb);
        return NULL;
    }
    return &s->dict[i];
}

const char *ks_segment_term_bytes(const ks_segment *s, const ks_seg_term *t)
{
    return s->strings + t->str_off;
}

const ks_seg_block *ks_segment_blocks(const ks_segment *s, const ks_seg_term *t)
{
    return s->blocks + t->block_first;
}

const ks_seg_term *ks_segment_find(const ks_segment *s, const char *term, size_t len)
{
    ks_errbuf eb;
    uint64_t lo = 0, hi = s->h->n_terms;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (term_load(s, mid, &eb))
            goto damaged;
        const ks_seg_term *t = &s->dict[mid];
        int c = cmp_term(s->strings + t->str_off, t->str_len, term, len);
        if (c == 0) {
            if (term_check(s, mid, &eb))
                goto damaged;
            return t;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
damaged:
    damage(s, &eb);
    return NULL;
}

const char *ks_segment_damage_reason(const ks_segment *s)
{
    return atomic_load(&((ks_segment *)s)->has_why) ? s->why : NULL;
}

int ks_segment_decode_docs(const ks_segment *s, const ks_seg_block *b, uint32_t *doc, ks_errbuf *eb)
{
    /* + 16: the SIMD decoder reads up to 16 bytes past a group */
    int rc = verify_range(s, (uint64_t)(s->postings + b->off - s->map), (uint64_t)b->doc_bytes + 16, eb);
    if (rc)
        return rc;
    if (!ks_svb_delta_decode(s->postings + b->off, doc, b->n, b->base, b->doc_bytes, s->postings_size - b->off))
        return ks_seterr(eb, KS_ECORRUPT, "segment block encoding is damaged; rebuild the index");
    /* a branch-free pass the compiler vectorises (this runs per decoded block) */
    uint32_t bad = b->n == 0 || doc[0] <= b->base;
    for (uint32_t i = 1; i < b->n; i++)
        bad |= doc[i] <= doc[i - 1];
    if (bad)
        return ks_seterr(eb, KS_ECORRUPT, "segment block docids out of order; rebuild the index");
    if (doc[b->n - 1] != b->last)
        return ks_seterr(eb, KS_ECORRUPT, "segment block docids disagree with its index; rebuild the index");
    return 0;
}

int ks_segment_decode_wdfs(const ks_segment *s, const ks_seg_block *b, uint32_t *wdf, ks_errbuf *eb)
{
    int rc = verify_range(s, (uint64_t)(s->postings + b->off + b->doc_bytes - s->map), (uint64_t)b->wdf_bytes + 16, eb);
    if (rc)
        return rc;
    if (!ks_svb_decode(s->postings + b->off + b->doc_bytes, wdf, b->n, b->wdf_bytes,
                       s->postings_size - b->off - b->doc_bytes))
        return ks_seterr(eb, KS_ECORRUPT, "segment block encoding is damaged; rebuild the index");
    return 0;
}

int ks_segment_decode(const ks_segment *s, const ks_seg_block *b, uint32_t *doc, uint32_t *wdf, ks_errbuf *eb)
{
    int rc = ks_segment_decode_docs(s, b, doc, eb);
    return rc ? rc : ks_segment_decode_wdfs(s, b, wdf, eb);
}

int ks_segment_positions_total(const ks_segment *s, const ks_seg_term *t, uint64_t *total, ks_errbuf *eb)
{
    *total = 0;
    if (!t->has_pos)
        return 0;
    const uint32_t *st = (const uint32_t *)(s->positions + t->pos_off);
    uint64_t base = (uint64_t)((const uint8_t *)st - s->map);
    int rc = verify_range(s, base + (uint64_t)t->termfreq * 4, 4, eb);
    if (!rc)
        *total = st[t->termfreq];
    return rc;
}

int ks_segment_position_starts(const ks_segment *s, const ks_seg_term *t, const uint32_t **starts, ks_errbuf *eb)
{
    *starts = NULL;
    if (!t->has_pos)
        return 0;
    const uint32_t *st = (const uint32_t *)(s->positions + t->pos_off);
    uint64_t base = (uint64_t)((const uint8_t *)st - s->map), head = ((uint64_t)t->termfreq + 1) * 4;
    int rc = verify_range(s, base, head, eb);
    if (rc)
        return rc;
    uint64_t room = s->h->sect[KS_SEG_POSITIONS].size - t->pos_off - head;
    /* a branch-free pass; the table could change under us (see the top), so
     * the caller must still not read positions past what this checked */
    uint32_t bad = (uint64_t)st[t->termfreq] * 4 > room;
    for (uint32_t i = 0; i < t->termfreq; i++)
        bad |= st[i + 1] < st[i];
    if (bad)
        return ks_seterr(eb, KS_ECORRUPT, "segment positions are damaged; rebuild the index");
    *starts = st;
    return 0;
}

int ks_segment_positions(const ks_segment *s, const ks_seg_term *t, uint32_t i, const uint32_t **pos, uint32_t *n,
                         ks_errbuf *eb)
{
    *n = 0;
    *pos = NULL;
    if (!t->has_pos)
        return 0;
    const uint32_t *st = (const uint32_t *)(s->positions + t->pos_off);
    if (i >= t->termfreq)
        return ks_seterr(eb, KS_ECORRUPT, "segment positions are damaged; rebuild the index");
    /* the start table (checked in bounds at open), then this posting's run */
    uint64_t base = (uint64_t)((const uint8_t *)st - s->map), head = ((uint64_t)t->termfreq + 1) * 4;
    int rc = verify_range(s, base + (uint64_t)i * 4, 8, eb);
    if (!rc)
        rc = verify_range(s, base + (uint64_t)t->termfreq * 4, 4, eb);
    if (rc)
        return rc;
    uint64_t room = s->h->sect[KS_SEG_POSITIONS].size - t->pos_off - head;
    /* read once: the file could change under us (see the top) */
    uint32_t a = st[i], b = st[i + 1], end = st[t->termfreq];
    if (a > b || b > end || (uint64_t)end * 4 > room)
        return ks_seterr(eb, KS_ECORRUPT, "segment positions are damaged; rebuild the index");
    if ((rc = verify_range(s, base + head + (uint64_t)a * 4, ((uint64_t)b - a) * 4, eb)))
        return rc;
    *pos = st + t->termfreq + 1 + a;
    *n = b - a;
    return 0;
}
