/* The on-disk layout of an index, shared by the indexer (writes) and searchd
 * (reads):   INDEX/current -> gen-000007   (a symlink, swapped atomically)
 *            INDEX/gen-000007/xapian       (Xapian stub file listing the shards)
 *            INDEX/gen-000007/shard-N/     (Xapian glass databases, one per build thread)
 *            INDEX/gen-000007/segment      (the scoring segment, ks_segment.h)
 *            INDEX/gen-000007/manifest     (size of every Xapian file, ks_indexdir_check)
 *            INDEX/.lock                   (flock: one writer at a time)
 * A build writes gen-N.tmp beside the live generation and publishes it by
 * renaming a new symlink over `current`, so readers see the old index or the
 * new one, never half of one; a killed build leaves only a *.tmp to sweep.
 * add and delete work the same way on a copy of the live generation. */
#ifndef KS_INDEXDIR_H
#define KS_INDEXDIR_H

#include <stddef.h>

#include "ks_error.h"

#define KS_INDEX_PATH_MAX 4096

/* Resolves INDEX/current to the generation directory it names, into gen
 * (cap bytes). KS_ENOTFOUND when INDEX holds no published index. */
int ks_indexdir_current(const char *index, char *gen /* OUT */, size_t cap, ks_errbuf *eb);

/* Path of the Xapian database (a stub file naming the shards) inside a
 * generation directory. */
int ks_indexdir_xapian_path(const char *gen, char *out /* OUT */, size_t cap);

/* Takes INDEX's writer lock (creating INDEX if needed); returns an fd to pass
 * to ks_indexdir_unlock(), or KS_ELOCKED when another writer holds it. */
int ks_indexdir_lock(const char *index, int *fd /* OUT */, ks_errbuf *eb);
void ks_indexdir_unlock(int fd);

/* Creates a fresh INDEX/gen-N.tmp for a new build (N one past the highest
 * generation present) after removing stale *.tmp left by killed builds.
 * Caller holds the lock. Writes the tmp path and the final path. */
int ks_indexdir_begin(const char *index, char *tmp /* OUT */, char *final /* OUT */, size_t cap,
                      ks_errbuf *eb);

/* Publishes a finished build: writes tmp's manifest, fsyncs, renames tmp
 * to final, atomically points INDEX/current at it, then removes
 * generations older than the one it replaced (which is kept, so a reader
 * still on it can finish). */
int ks_indexdir_publish(const char *index, const char *tmp, const char *final, ks_errbuf *eb);

/* Writes the stub file that makes shards[0..n) (paths relative to gen) one
 * database, atomically (temporary name + rename). */
int ks_indexdir_write_stub(const char *gen, const char *const *shards, size_t n, ks_errbuf *eb);

/* Copies the Xapian part of generation `from` (every file and folder but
 * the scoring segment and leftover *.part / *.tmp files) into the empty
 * folder `to`: add and delete change a copy in a new generation and
 * publish it, so the live one is never changed in place and a killed or
 * failed run leaves it as it was. KS_EIO with a message naming the file
 * and the reason (e.g. no space left on device). */
int ks_indexdir_copy(const char *from, const char *to, ks_errbuf *eb);

/* Checks generation gen against the manifest its publication wrote (the
 * size of every file of the Xapian part, which is never changed after
 * that): a cheap guard against truncated, extended or missing files, not
 * against damage that keeps the sizes (Xapian's files carry no checksums).
 * 0 when it matches or there is no manifest (a generation published
 * before manifests), KS_ECORRUPT with a message naming the file. */
int ks_indexdir_check(const char *gen, ks_errbuf *eb);

/* Removes a directory tree (best effort; used on failed builds). */
void ks_indexdir_rmtree(const char *path);

/* Total size in bytes of the files under path. */
unsigned long long ks_indexdir_du(const char *path);

#endif
