/* The document store's reader, and the parser of Xapian's stored data that
 * both the store's builder and the searcher's Xapian path use (ks_docstore.h). */
#include "ks_docstore.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ks_crc.h"
#include "ks_grow.h"

_Static_assert(sizeof(ks_docstore_header) == 64, "the docstore header is 64 bytes on disk");

int ks_stored_parse(const char *data, size_t len, uint32_t docid, ks_stored *f, ks_errbuf *eb)
{
    memset(f, 0, sizeof *f);
    json_t *o = json_loadb(data, len, JSON_ALLOW_NUL, NULL);
    json_t *iv = json_object_get(o, "id"), *tv = json_object_get(o, "title"), *bv = json_object_get(o, "body");
    if (!json_is_string(iv)) { /* every stored document has its id (no object: out of memory too, rarer) */
        json_decref(o);
        return ks_seterr(eb, KS_ECORRUPT, "the stored data of document %u is damaged (not a JSON object with an "
                         "id); rebuild the index", docid);
    }
    f->json = o;
    f->id = json_string_value(iv);
    f->id_len = json_string_length(iv);
    f->title = json_is_string(tv) ? json_string_value(tv) : "";
    f->title_len = json_is_string(tv) ? json_string_length(tv) : 0;
    f->body = json_is_string(bv) ? json_string_value(bv) : "";
    f->body_len = json_is_string(bv) ? json_string_length(bv) : 0;
    return 0;
}

void ks_stored_free(ks_stored *f)
{
    json_decref(f->json);
    memset(f, 0, sizeof *f);
}

/* Offsets tables up to this size are read once at open: a hit then costs
 * one pread instead of two (larger ones are read an entry pair at a time,
 * so that opening stays as fast at any size). */
#define KS_DOCSTORE_INDEX_INLINE (1u << 20)

struct ks_docstore {
    int fd;
    ks_docstore_header h;
    uint64_t *off;   /* the whole offsets table when small enough, else NULL */
    char path[4096];
};

static uint32_t rd32(const char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Reads exactly n bytes at off: 0, KS_ECORRUPT (the file ends first) or KS_EIO. */
static int read_at(const ks_docstore *d, void *p, size_t n, uint64_t off, ks_errbuf *eb)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(d->fd, (char *)p + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return ks_seterr(eb, KS_EIO, "cannot read %s: %m", d->path);
        if (r == 0)
            return ks_seterr(eb, KS_ECORRUPT, "%s is shorter than its header says (truncated?); rebuild the "
                             "segment (kosearch-indexer segment INDEX)", d->path);
        got += (size_t)r;
    }
    return 0;
}

static int check_header(const ks_docstore_header *h, uint64_t size, const char *path, ks_errbuf *eb)
{
    const char *fix = "rebuild the segment (kosearch-indexer segment INDEX)";
    if (memcmp(h->magic, KS_DOCSTORE_MAGIC, sizeof h->magic) != 0)
        return ks_seterr(eb, KS_ECORRUPT, "%s is not a kosearch document store (bad magic); %s", path, fix);
    if (h->version != KS_DOCSTORE_VERSION)
        return ks_seterr(eb, KS_ECORRUPT, "%s: document store format version %u, this program reads %u; %s", path,
                         h->version, KS_DOCSTORE_VERSION, fix);
    if (h->header_crc != ks_crc32(0, h, offsetof(ks_docstore_header, header_crc)) ||
        h->header_size != sizeof *h || h->reserved != 0)
        return ks_seterr(eb, KS_ECORRUPT, "%s: the header is damaged (checksum); %s", path, fix);
    if (h->lastdocid > UINT32_MAX || h->doccount > h->lastdocid || h->index_off < sizeof *h ||
        h->index_off > h->file_size || (h->file_size - h->index_off) / 8 != h->lastdocid + 2 ||
        (h->file_size - h->index_off) % 8 != 0)
        return ks_seterr(eb, KS_ECORRUPT, "%s: the header's sizes do not add up; %s", path, fix);
    if (h->file_size != size)
        return ks_seterr(eb, KS_ECORRUPT, "%s is %llu bytes but its header says %llu (truncated?); %s", path,
                         (unsigned long long)size, (unsigned long long)h->file_size, fix);
    return 0;
}

int ks_docstore_open(const char *path, ks_docstore **out, ks_errbuf *eb)
{
    *out = NULL;
    ks_docstore *d = calloc(1, sizeof *d);
    if (!d)
        return ks_seterr(eb, KS_ENOMEM, "out of memory");
    snprintf(d->path, sizeof d->path, "%s", path);
    d->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (d->fd < 0) {
        int rc = ks_seterr(eb, errno == ENOENT ? KS_ENOTFOUND : KS_EIO, "cannot open document store %s: %m", path);
        free(d);
        return rc;
    }
    struct stat sb;
    int rc = fstat(d->fd, &sb) ? ks_seterr(eb, KS_EIO, "cannot stat %s: %m", path) : 0;
    if (!rc && (size_t)sb.st_size < sizeof d->h)
        rc = ks_seterr(eb, KS_ECORRUPT, "%s is too short to be a document store (%lld bytes); rebuild the segment "
                       "(kosearch-indexer segment INDEX)", path, (long long)sb.st_size);
    if (!rc)
        rc = read_at(d, &d->h, sizeof d->h, 0, eb);
    if (!rc)
        rc = check_header(&d->h, (uint64_t)sb.st_size, path, eb);
    size_t isz = rc ? 0 : (size_t)(d->h.file_size - d->h.index_off);
    const char *lim = getenv("KOSEARCH_DOCSTORE_INDEX_INLINE"); /* tests: the other path */
    if (!rc && isz <= (lim ? strtoull(lim, NULL, 10) : KS_DOCSTORE_INDEX_INLINE)) {
        if (!(d->off = malloc(isz)))
            rc = ks_seterr(eb, KS_ENOMEM, "out of memory");
        else
            rc = read_at(d, d->off, isz, d->h.index_off, eb);
    }
    if (rc) {
        ks_docstore_close(d);
        return rc;
    }
    *out = d;
    return 0;
}

void ks_docstore_close(ks_docstore *d)
{
    if (!d)
        return;
    close(d->fd);
    free(d->off);
    free(d);
}

const ks_docstore_header *ks_docstore_header_of(const ks_docstore *d)
{
    return &d->h;
}

int ks_docstore_get(const ks_docstore *d, uint32_t docid, char **buf, size_t *cap, ks_stored *f, ks_errbuf *eb)
{
    memset(f, 0, sizeof *f);
    if (docid == 0 || docid > d->h.lastdocid)
        return ks_seterr(eb, KS_ENOTFOUND, "no document %u in %s", docid, d->path);
    uint64_t off[2];
    int rc = 0;
    if (d->off)
        memcpy(off, d->off + docid, sizeof off);
    else if ((rc = read_at(d, off, sizeof off, d->h.index_off + 8 * (uint64_t)docid, eb)))
        return rc;
    if (off[0] == off[1])
        return ks_seterr(eb, KS_ENOTFOUND, "no document %u in %s", docid, d->path);
    const char *fix = "rebuild the segment (kosearch-indexer segment INDEX)";
    if (off[0] < sizeof d->h || off[1] < off[0] || off[1] > d->h.index_off ||
        off[1] - off[0] < KS_DOCSTORE_RECORD_HEAD)
        return ks_seterr(eb, KS_ECORRUPT, "%s: the index entry of document %u is damaged; %s", d->path, docid, fix);
    size_t n = (size_t)(off[1] - off[0]);
    if (ks_grow((void **)buf, cap, n, 1))
        return ks_seterr(eb, KS_ENOMEM, "out of memory");
    if ((rc = read_at(d, *buf, n, off[0], eb)))
        return rc;
    const char *r = *buf;
    uint64_t il = rd32(r + 8), tl = rd32(r + 12), bl = rd32(r + 16);
    if (rd32(r + 4) != docid || KS_DOCSTORE_RECORD_HEAD + il + tl + bl != n ||
        rd32(r) != ks_crc32(0, r + 4, n - 4))
        return ks_seterr(eb, KS_ECORRUPT, "%s: the record of document %u is damaged (checksum); %s", d->path, docid,
                         fix);
    f->id = r + KS_DOCSTORE_RECORD_HEAD;
    f->id_len = (size_t)il;
    f->title = f->id + il;
    f->title_len = (size_t)tl;
    f->body = f->title + tl;
    f->body_len = (size_t)bl;
    return 0;
}
