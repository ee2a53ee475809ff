/* Index directory layout, generations and atomic publication (ks_indexdir.h). */
#include "ks_indexdir.h"
#include "ks_fault.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int ks_indexdir_xapian_path(const char *gen, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/xapian", gen);
    return n < 0 || (size_t)n >= cap ? KS_ETOOBIG : 0;
}

int ks_indexdir_current(const char *index, char *gen, size_t cap, ks_errbuf *eb)
{
    char link[KS_INDEX_PATH_MAX], target[KS_INDEX_PATH_MAX];
    struct stat st;
    if (stat(index, &st) != 0)
        return ks_seterr(eb, KS_ENOTFOUND, "index %s: %s", index, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return ks_seterr(eb, KS_ENOTFOUND, "index %s: not a directory", index);
    snprintf(link, sizeof link, "%s/current", index);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n < 0)
        return ks_seterr(eb, KS_ENOTFOUND, "%s holds no published index (no 'current' link): "
                         "build one with kosearch-indexer build", index);
    target[n] = '\0';
    int m = target[0] == '/' ? snprintf(gen, cap, "%s", target)
                             : snprintf(gen, cap, "%s/%s", index, target);
    if (m < 0 || (size_t)m >= cap)
        return ks_seterr(eb, KS_ETOOBIG, "index path too long");
    if (stat(gen, &st) != 0 || !S_ISDIR(st.st_mode))
        return ks_seterr(eb, KS_ECORRUPT, "%s: 'current' points to missing %s", index, target);
    return 0;
}

/* mkdir -p */
static int make_dirs(const char *path)
{
    char p[KS_INDEX_PATH_MAX];
    if (snprintf(p, sizeof p, "%s", path) >= (int)sizeof p) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = 0;
        if (mkdir(p, 0755) != 0 && errno != EEXIST)
            return -1;
        *s = '/';
    }
    return mkdir(p, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

int ks_indexdir_lock(const char *index, int *fd, ks_errbuf *eb)
{
    char path[KS_INDEX_PATH_MAX];
    if (make_dirs(index) != 0)
        return ks_seterr(eb, KS_EIO, "cannot create %s: %s", index, strerror(errno));
    snprintf(path, sizeof path, "%s/.lock", index);
    int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (f < 0)
        return ks_seterr(eb, KS_EIO, "cannot open %s: %s", path, strerror(errno));
    if (flock(f, LOCK_EX | LOCK_NB) != 0) {
        close(f);
        return ks_seterr(eb, KS_ELOCKED, "%s is being written by another kosearch-indexer", index);
    }
    *fd = f;
    return 0;
}

int ks_indexdir_write_stub(const char *gen, const char *const *shards, size_t n, ks_errbuf *eb)
{
    char path[KS_INDEX_PATH_MAX], tmp[KS_INDEX_PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/xapian", gen);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return ks_seterr(eb, KS_EIO, "cannot write %s: %s", tmp, strerror(errno));
    for (size_t i = 0; i < n; i++)
        fprintf(f, "glass %s\n", shards[i]); /* relative to the stub's folder */
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
        fclose(f);
        return ks_seterr(eb, KS_EIO, "cannot write %s: %s", tmp, strerror(errno));
    }
    fclose(f);
    if (rename(tmp, path) != 0)
        return ks_seterr(eb, KS_EIO, "cannot rename %s: %s", tmp, strerror(errno));
    return 0;
}

void ks_indexdir_unlock(int fd)
{
    if (fd >= 0)
        close(fd);
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(p);
    return 0;
}

void ks_indexdir_rmtree(const char *path)
{
    nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static unsigned long long du_total;
static int du_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)p;
    (void)ftw;
    if (flag == FTW_F)
        du_total += (unsigned long long)sb->st_size;
    return 0;
}

unsigned long long ks_indexdir_du(const char *path)
{
    du_total = 0; /* nftw has no user pointer; callers are single-threaded tools */
    nftw(path, du_cb, 16, FTW_PHYS);
    return du_total;
}

/* Parses "gen-NNNNNN" (optionally ".tmp"); returns N or -1. */
static long gen_number(const char *name, int *is_tmp)
{
    if (strncmp(name, "gen-", 4) != 0)
        return -1;
    char *end;
    long n = strtol(name + 4, &end, 10);
    if (end == name + 4 || n < 0)
        return -1;
    *is_tmp = strcmp(end, ".tmp") == 0;
    if (*end && !*is_tmp)
        return -1;
    return n;
}

int ks_indexdir_begin(const char *index, char *tmp, char *final, size_t cap, ks_errbuf *eb)
{
    DIR *d = opendir(index);
    if (!d)
        return ks_seterr(eb, KS_EIO, "cannot read %s: %s", index, strerror(errno));
    long max = 0;
    struct dirent *e;
    char path[KS_INDEX_PATH_MAX];
    while ((e = readdir(d))) {
        int is_tmp = 0;
        long n = gen_number(e->d_name, &is_tmp);
        if (n < 0)
            continue;
        if (is_tmp) {
            snprintf(path, sizeof path, "%s/%s", index, e->d_name);
            ks_indexdir_rmtree(path); /* left by a killed build: never published */
        }
        if (n > max)
            max = n;
    }
    closedir(d);
    int a = snprintf(final, cap, "%s/gen-%06ld", index, max + 1);
    int b = snprintf(tmp, cap, "%s/gen-%06ld.tmp", index, max + 1);
    if (a < 0 || b < 0 || (size_t)a >= cap || (size_t)b >= cap)
        return ks_seterr(eb, KS_ETOOBIG, "index path too long");
    if (mkdir(tmp, 0755) != 0)
        return ks_seterr(eb, KS_EIO, "cannot create %s: %s", tmp, strerror(errno));
    return 0;
}


static int write_manifest(const char *gen, ks_errbuf *eb);

static void fsync_path(const char *p)
{
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

static int fsync_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    if (flag == FTW_F || flag == FTW_D || flag == FTW_DP)
        fsync_path(p);
    return 0;
}

int ks_indexdir_publish(const char *index, const char *tmp, const char *final, ks_errbuf *eb)
{
    char prev[KS_INDEX_PATH_MAX] = "", link[KS_INDEX_PATH_MAX], newlink[KS_INDEX_PATH_MAX];
    ks_errbuf ignore;
    if (ks_indexdir_current(index, prev, sizeof prev, &ignore) != 0)
        prev[0] = '\0';
    int rc = write_manifest(tmp, eb);
    if (rc)
        return rc;
    /* Build shards are written without fsync (KS_XDB_CREATE_BULK): make every
     * file durable before the generation can become the live one. */
    nftw(tmp, fsync_cb, 16, FTW_PHYS | FTW_DEPTH);
    if (rename(tmp, final) != 0)
        return ks_seterr(eb, KS_EIO, "cannot rename %s: %s", tmp, strerror(errno));
    ks_fault_point("publish-renamed");
    const char *base = strrchr(final, '/');
    base = base ? base + 1 : final;
    snprintf(link, sizeof link, "%s/current", index);
    snprintf(newlink, sizeof newlink, "%s/current.new", index);
    unlink(newlink);
    if (symlink(base, newlink) != 0)
        return ks_seterr(eb, KS_EIO, "cannot create %s: %s", newlink, strerror(errno));
    if (rename(newlink, link) != 0)
        return ks_seterr(eb, KS_EIO, "cannot publish %s: %s", link, strerror(errno));
    fsync_path(index);
    ks_fault_point("publish-linked");

    /* Keep the new generation and the one it replaced; remove the rest. */
    const char *prev_base = strrchr(prev, '/');
    prev_base = prev_base ? prev_base + 1 : prev;
    DIR *d = opendir(index);
    if (!d)
        return 0;
    struct dirent *e;
    char path[KS_INDEX_PATH_MAX];
    while ((e = readdir(d))) {
        int is_tmp = 0;
        if (gen_number(e->d_name, &is_tmp) < 0 || is_tmp)
            continue;
        if (strcmp(e->d_name, base) == 0 || (prev[0] && strcmp(e->d_name, prev_base) == 0))
            continue;
        snprintf(path, sizeof path, "%s/%s", index, e->d_name);
        ks_indexdir_rmtree(path);
    }
    closedir(d);
    return 0;
}

static int copy_file(const char *from, const char *to, ks_errbuf *eb)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return ks_seterr(eb, KS_EIO, "cannot read %s: %s", from, strerror(errno));
    int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (out < 0) {
        int rc = ks_seterr(eb, KS_EIO, "cannot create %s: %s", to, strerror(errno));
        close(in);
        return rc;
    }
    char buf[1 << 16];
    ssize_t n;
    int rc = 0;
    /* copy_file_range: in the kernel, and a shared-extent copy where the
     * file system can; plain read/write where it cannot */
    for (;;) {
        ssize_t k = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
        if (k > 0)
            continue;
        if (k == 0)
            goto done;
        if (errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP)
            goto werr;
        break;
    }
    while ((n = read(in, buf, sizeof buf)) > 0)
        for (ssize_t off = 0; off < n;) {
            ssize_t k = write(out, buf + off, (size_t)(n - off));
            if (k < 0)
                goto werr;
            off += k;
        }
    if (n < 0) {
        rc = ks_seterr(eb, KS_EIO, "cannot read %s: %s", from, strerror(errno));
        goto out;
    }
done:
    if (close(out) != 0) {
        out = -1;
        goto werr;
    }
    close(in);
    return 0;
werr:
    rc = ks_seterr(eb, KS_EIO, "cannot write %s: %s", to, strerror(errno));
out:
    if (out >= 0)
        close(out);
    close(in);
    return rc;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Calls fn for every file and folder (folders first) of generation gen that
 * belongs to its Xapian part: all but the segment, the document store, the manifest and
 * leftover *.part / *.tmp; rel is the path inside gen. The layout is two
 * levels deep (the stub, shard folders of glass files); any depth works. */
typedef int (*walk_fn)(const char *full, const char *rel, const struct stat *st, void *ud, ks_errbuf *eb);

static int walk(const char *gen, const char *rel, walk_fn fn, void *ud, ks_errbuf *eb)
{
    char dir[KS_INDEX_PATH_MAX], full[KS_INDEX_PATH_MAX], sub[KS_INDEX_PATH_MAX];
    snprintf(dir, sizeof dir, "%s%s%s", gen, rel[0] ? "/" : "", rel);
    DIR *d = opendir(dir);
    if (!d)
        return ks_seterr(eb, KS_EIO, "cannot read %s: %s", dir, strerror(errno));
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 || ends_with(e->d_name, ".part") ||
            ends_with(e->d_name, ".tmp") ||
            (!rel[0] && (strcmp(e->d_name, "segment") == 0 || strcmp(e->d_name, "docstore") == 0 ||
                         strcmp(e->d_name, "manifest") == 0)))
            continue;
        if ((size_t)snprintf(full, sizeof full, "%s/%s", dir, e->d_name) >= sizeof full ||
            (size_t)snprintf(sub, sizeof sub, "%s%s%s", rel, rel[0] ? "/" : "", e->d_name) >= sizeof sub) {
            rc = ks_seterr(eb, KS_ETOOBIG, "index path too long");
            break;
        }
        struct stat st;
        if (lstat(full, &st) != 0)
            rc = ks_seterr(eb, KS_EIO, "cannot stat %s: %s", full, strerror(errno));
        else if (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode))
            rc = fn(full, sub, &st, ud, eb);
        if (!rc && S_ISDIR(st.st_mode))
            rc = walk(gen, sub, fn, ud, eb);
    }
    closedir(d);
    return rc;
}

static int copy_cb(const char *full, const char *rel, const struct stat *st, void *ud, ks_errbuf *eb)
{
    char dst[KS_INDEX_PATH_MAX];
    if ((size_t)snprintf(dst, sizeof dst, "%s/%s", (const char *)ud, rel) >= sizeof dst)
        return ks_seterr(eb, KS_ETOOBIG, "index path too long");
    if (S_ISDIR(st->st_mode))
        return mkdir(dst, 0755) != 0 ? ks_seterr(eb, KS_EIO, "cannot create %s: %s", dst, strerror(errno)) : 0;
    return copy_file(full, dst, eb);
}

int ks_indexdir_copy(const char *from, const char *to, ks_errbuf *eb)
{
    return walk(from, "", copy_cb, (void *)to, eb);
}

static int manifest_cb(const char *full, const char *rel, const struct stat *st, void *ud, ks_errbuf *eb)
{
    (void)full;
    if (S_ISREG(st->st_mode) && fprintf(ud, "%llu %s\n", (unsigned long long)st->st_size, rel) < 0)
        return ks_seterr(eb, KS_EIO, "cannot write the manifest: %s", strerror(errno));
    return 0;
}

/* Writes GEN/manifest: "SIZE PATH" per file of the Xapian part, which is
 * never changed once published (add and delete work on a copy). */
static int write_manifest(const char *gen, ks_errbuf *eb)
{
    char path[KS_INDEX_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/manifest", gen);
    FILE *f = fopen(path, "w");
    if (!f)
        return ks_seterr(eb, KS_EIO, "cannot write %s: %s", path, strerror(errno));
    int rc = walk(gen, "", manifest_cb, f, eb);
    if (fclose(f) != 0 && !rc)
        rc = ks_seterr(eb, KS_EIO, "cannot write %s: %s", path, strerror(errno));
    return rc;
}

int ks_indexdir_check(const char *gen, ks_errbuf *eb)
{
    char path[KS_INDEX_PATH_MAX + 16], line[KS_INDEX_PATH_MAX + 32], file[KS_INDEX_PATH_MAX * 2 + 2];
    snprintf(path, sizeof path, "%s/manifest", gen);
    FILE *f = fopen(path, "r");
    if (!f)
        return errno == ENOENT ? 0 : ks_seterr(eb, KS_EIO, "cannot read %s: %s", path, strerror(errno));
    int rc = 0;
    while (!rc && fgets(line, sizeof line, f)) {
        char *sp = strchr(line, ' '), *nl = strchr(line, '\n'), *end;
        unsigned long long want = strtoull(line, &end, 10);
        struct stat st;
        if (!sp || !nl || end != sp || sp[1] == '\n') {
            rc = ks_seterr(eb, KS_ECORRUPT, "%s: malformed line; rebuild the index", path);
            break;
        }
        *nl = 0;
        snprintf(file, sizeof file, "%s/%s", gen, sp + 1);
        if (stat(file, &st) != 0)
            rc = ks_seterr(eb, KS_ECORRUPT, "%s is missing (%s); the index is damaged: rebuild it", file,
                           strerror(errno));
        else if ((unsigned long long)st.st_size != want)
            rc = ks_seterr(eb, KS_ECORRUPT, "%s is %llu bytes but was published with %llu (truncated or "
                           "overwritten); the index is damaged: rebuild it", file,
                           (unsigned long long)st.st_size, want);
    }
    fclose(f);
    return rc;
}
