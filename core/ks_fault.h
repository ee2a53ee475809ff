/* Crash points for the fault-injection tests (tests/integration/
 * test_kill_indexer.sh): ks_fault_point(NAME) raises SIGKILL when the
 * environment variable KOSEARCH_FAULT_KILL_AT equals NAME, so a test can
 * kill a writer at an exact step instead of at a guessed moment. Without
 * the variable it is one getenv() per call (a handful per indexer run).
 *
 * The points, in the order a run passes them:
 *   build-begun       build: gen-N.tmp created, nothing written yet
 *   build-written     build: every shard committed and closed
 *   build-stub        build: the stub file naming the shards written
 *   build-meta        build: the index metadata (revision) stamped
 *   segment-part      any segment build: GEN/segment.part written and
 *                     synced, not yet renamed over GEN/segment (a build's
 *                     positions logs, GEN/shard-K.poslog, still there)
 *   docstore-part     any segment build, after the segment: GEN/docstore.part
 *                     written and synced, not yet renamed over GEN/docstore
 *   build-segment     build: the new generation's segment in place
 *   publish-renamed   build: gen-N.tmp renamed to gen-N, `current` not
 *                     yet pointing at it
 *   publish-linked    build: `current` points at gen-N, old generations
 *                     not yet removed
 *   live-committed    add/delete: the Xapian changes committed, metadata
 *                     not yet stamped
 *   live-meta         add/delete: metadata stamped, segment not rebuilt
 *
 * Failure points: ks_fault_fail(NAME) is 1 when KOSEARCH_FAULT_FAIL_AT
 * equals NAME, and the caller then fails as it would on a full disk, for
 * error paths no outside condition can pick out (tests/unit/test_segment.c):
 *   segment-thread-K  a segment build with several threads: thread K
 *                     (0-based, in term order) after walking its range, its
 *                     temporary files written
 *   poslog-write      a build's positions log (ks_poslog.h): every flush of
 *                     its write buffer fails with ENOSPC */
#ifndef KS_FAULT_H
#define KS_FAULT_H

#ifdef __cplusplus
extern "C" {
#endif

void ks_fault_point(const char *name);
int ks_fault_fail(const char *name);

#ifdef __cplusplus
}
#endif
#endif
