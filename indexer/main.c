/* kosearch-indexer: build, add to, delete from and describe a kosearch index.
 * Subcommands are a name->function table; each parses its own options. The
 * work itself lives in pipeline.c, records.c and core/. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "ks_analyze.h"
#include "ks_document.h"
#include "ks_fault.h"
#include "ks_indexdir.h"
#include "ks_docstore.h"
#include "ks_segment.h"
#include "ks_xdb.h"
#include "pipeline.h"
#include "records.h"

#define EXIT_BAD_RECORDS 1 /* the index was written, but some records were skipped */
#define EXIT_FAILURE_ 2    /* nothing was changed */

static const char *prog = "kosearch-indexer";

static void usage_main(FILE *f)
{
    fprintf(f,
            "Usage: %s COMMAND [OPTIONS]\n"
            "Builds and maintains a kosearch index (a Xapian database plus metadata).\n\n"
            "Commands:\n"
            "  build   --input PATH... -o INDEX   build a new index (replaces the old one atomically)\n"
            "  add     --input PATH... -o INDEX   insert or replace documents by id\n"
            "  delete  --id ID... -o INDEX        delete documents by id\n"
            "  segment [-j N] INDEX               rebuild the scoring segment from the Xapian database\n"
            "  info    INDEX                      describe an index\n"
            "  get     INDEX ID                   print a stored document\n"
            "  analyze [--query] TEXT             show the terms the analyzer makes of TEXT\n\n"
            "Run '%s COMMAND --help' for a command's options.\n",
            prog, prog);
}

static void usage_build(FILE *f, const char *cmd)
{
    fprintf(f,
            "Usage: %s %s --input PATH [--input PATH...] -o INDEX [OPTIONS]\n\n"
            "Input:\n"
            "  -i, --input PATH     a JSON Lines file (.gz read too; '-' is stdin) or, with\n"
            "                       --format text, a folder of UTF-8 text files (repeatable;\n"
            "                       extra arguments are inputs too)\n"
            "  -f, --format FMT     jsonl (default): one object per line with \"id\" (required,\n"
            "                       unique), \"title\", \"body\", \"url\", \"date\" (ISO 8601), \"tags\"\n"
            "                       text: path = id, first line = title, rest = body\n"
            "  -o, --output INDEX   the index directory\n\n"
            "Options:\n"
            "  -j, --threads N      analysis threads (default: number of cores); build: the\n"
            "                       scoring segment's threads too (default: the cores, at\n"
            "                       most 8, or KOSEARCH_SEGMENT_THREADS; at most 64)\n"
            "      --batch N        commit every N documents per thread (build default 1000;\n"
            "                       add default: one commit at the end, all or nothing)\n"
            "      --memory-limit MB  build: keep the indexer's memory near MB megabytes by\n"
            "                       committing each thread's shard sooner (at least 300;\n"
            "                       default: no limit beyond --batch; the scoring segment\n"
            "                       is built in bounded memory regardless)\n"
            "      --strict         stop at the first bad record and change nothing\n"
            "      --compact        merge the per-thread shards into one (slower build,\n"
            "                       smaller index, slightly faster queries)\n"
            "  -q, --quiet          no progress, no per-record messages\n"
            "  -h, --help           this help\n\n"
            "Bad records (malformed JSON, missing id, wrong field types, invalid UTF-8,\n"
            "duplicate ids) are reported with file and line, skipped and counted.\n"
            "Exit status: 0 ok; 1 index written but some records were bad; 2 failure\n"
            "(the previous index is untouched).\n",
            prog, cmd);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void iso_now(char *buf, size_t cap)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *analyzer_settings(void)
{
    static char buf[256];
    ks_analyzer_opts o = ks_analyzer_default_opts();
    snprintf(buf, sizeof buf,
             "nfkc_casefold; cjk bigrams+unigrams=%s (positions: bigrams, one-character words); "
             "latin words (max %d bytes); title_weight=%d",
             o.unigrams == KS_UNIGRAMS_ALL ? "all" : o.unigrams == KS_UNIGRAMS_TAIL ? "tail" : "none",
             KS_MAX_WORD_BYTES, KS_TITLE_WEIGHT);
    return buf;
}

typedef struct build_args {
    const char **inputs;
    size_t ninputs;
    const char *index;
    int format, threads, strict, quiet, compact;
    int threads_set; /* -j given: the segment build uses it too */
    unsigned long batch;
    int batch_set;
    unsigned long memory_mb; /* --memory-limit; 0: none */
} build_args;

/* --memory-limit: measured on the synthetic corpus (bench/RESULTS.md,
 * "Indexing at scale"), a build holds about KS_MEM_BASE_MB of fixed memory
 * (analyzers, ICU, queues, the id set, Xapian's caches) plus about
 * KS_MEM_PER_BYTE bytes per input byte not yet committed in each shard. */
#define KS_MEM_BASE_MB 200
#define KS_MEM_PER_BYTE 16
#define KS_MEM_MIN_MB 300
#define KS_BUILD_BATCH 1000 /* build: documents per shard commit (--batch) */

static int parse_build_args(int argc, char **argv, const char *cmd, build_args *a)
{
    static const struct option lo[] = {
        { "input", required_argument, 0, 'i' }, { "format", required_argument, 0, 'f' },
        { "output", required_argument, 0, 'o' }, { "threads", required_argument, 0, 'j' },
        { "batch", required_argument, 0, 'b' }, { "strict", no_argument, 0, 's' },
        { "quiet", no_argument, 0, 'q' }, { "help", no_argument, 0, 'h' },
        { "compact", no_argument, 0, 'c' }, { "memory-limit", required_argument, 0, 'm' },
        { 0, 0, 0, 0 }
    };
    memset(a, 0, sizeof *a);
    a->inputs = calloc((size_t)argc + 1, sizeof *a->inputs);
    /* Xapian 1.4 buffers a batch's positions in a std::map per term, and
     * its lookups (cache misses in deep trees) grew to a quarter of a
     * build's CPU with batches of 10,000: at 101,000 documents the
     * Xapian phase took 64.8 s with 1,000 against 184.9 s with 10,000
     * (bench/RESULTS.md, "Indexer"). Smaller batches also hold less memory. */
    a->batch = KS_BUILD_BATCH;
    long nc = sysconf(_SC_NPROCESSORS_ONLN);
    a->threads = nc > 0 ? (int)nc : 1;
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "i:f:o:j:qh", lo, NULL)) != -1) {
        switch (c) {
        case 'i': a->inputs[a->ninputs++] = optarg; break;
        case 'f':
            if (strcmp(optarg, "jsonl") == 0)
                a->format = KS_FMT_JSONL;
            else if (strcmp(optarg, "text") == 0)
                a->format = KS_FMT_TEXT;
            else {
                fprintf(stderr, "%s %s: unknown --format '%s' (jsonl or text)\n", prog, cmd, optarg);
                return 2;
            }
            break;
        case 'o': a->index = optarg; break;
        case 'j':
            a->threads = (int)strtol(optarg, &end, 10);
            a->threads_set = 1;
            if (*end || a->threads < 1 || a->threads > 256) {
                fprintf(stderr, "%s %s: --threads wants a number from 1 to 256\n", prog, cmd);
                return 2;
            }
            break;
        case 'b':
            a->batch = strtoul(optarg, &end, 10);
            a->batch_set = 1;
            if (*end || a->batch < 1) {
                fprintf(stderr, "%s %s: --batch wants a positive number\n", prog, cmd);
                return 2;
            }
            break;
        case 'm':
            a->memory_mb = strtoul(optarg, &end, 10);
            if (*end || a->memory_mb < KS_MEM_MIN_MB || a->memory_mb > (1ul << 30)) {
                fprintf(stderr, "%s %s: --memory-limit wants megabytes, at least %d\n", prog, cmd, KS_MEM_MIN_MB);
                return 2;
            }
            if (strcmp(cmd, "build") != 0) {
                fprintf(stderr, "%s %s: --memory-limit is for build (an add commits once, or every --batch)\n",
                        prog, cmd);
                return 2;
            }
            break;
        case 's': a->strict = 1; break;
        case 'c': a->compact = 1; break;
        case 'q': a->quiet = 1; break;
        case 'h': usage_build(stdout, cmd); return 1;
        default: usage_build(stderr, cmd); return 2;
        }
    }
    while (optind < argc)
        a->inputs[a->ninputs++] = argv[optind++];
    if (!a->ninputs || !a->index) {
        fprintf(stderr, "%s %s: need --input and -o INDEX (see --help)\n", prog, cmd);
        return 2;
    }
    return 0;
}

static void summary(const char *what, const ks_pipeline_stats *st, double total_s, const char *index)
{
    fprintf(stderr,
            "%s: %llu documents indexed, %llu bad records skipped, %llu invalid UTF-8 sequences replaced\n"
            "  %.2f s (%.2f s reading+analysis+writing): %.0f docs/s, %.2f MB/s of input -> %s\n",
            what, (unsigned long long)st->docs, (unsigned long long)st->bad,
            (unsigned long long)st->invalid_utf8, total_s, st->seconds,
            total_s > 0 ? (double)st->docs / total_s : 0.0, total_s > 0 ? (double)st->bytes / total_s / 1e6 : 0.0,
            index);
    /* Issue 5 asks a build to report its memory and what it wrote: the peak
     * covers the whole run, the Xapian phase and the segment build. */
    char gen[KS_INDEX_PATH_MAX], segp[KS_INDEX_PATH_MAX + 16];
    ks_errbuf ignore;
    struct rusage ru;
    if (ks_indexdir_current(index, gen, sizeof gen, &ignore) == 0)
        index = gen; /* add: the index directory, whose live generation was just published */
    snprintf(segp, sizeof segp, "%s/segment", index);
    unsigned long long all = ks_indexdir_du(index), seg = ks_indexdir_du(segp);
    snprintf(segp, sizeof segp, "%s/docstore", index);
    unsigned long long ds = ks_indexdir_du(segp);
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        fprintf(stderr, "  peak RSS %.1f MiB; Xapian database %.1f MiB, segment %.1f MiB, document store %.1f MiB\n",
                (double)ru.ru_maxrss / 1024.0, (double)(all > seg + ds ? all - seg - ds : 0) / 1048576.0,
                (double)seg / 1048576.0, (double)ds / 1048576.0);
}

/* Builds GEN/docstore beside GEN/segment from the database at xpath
 * (GEN/xapian): every segment build is followed by one, so the pair always
 * comes from the same revision (ks_docstore.h). */
/* out = the file NAME beside the Xapian database at xpath (GEN/xapian ->
 * GEN/NAME); out holds at least KS_INDEX_PATH_MAX + 16 bytes. */
static int sibling_path(const char *xpath, const char *name, char *out, ks_errbuf *eb)
{
    size_t n = strlen(xpath);
    if (n < 6 || strcmp(xpath + n - 6, "xapian") != 0)
        return ks_seterr(eb, KS_EINVAL, "unexpected database path %s", xpath);
    snprintf(out, KS_INDEX_PATH_MAX + 16, "%.*s%s", (int)(n - 6), xpath, name);
    return 0;
}

static int build_docstore(const char *xpath, ks_errbuf *eb)
{
    char dsp[KS_INDEX_PATH_MAX + 16];
    int rc = sibling_path(xpath, "docstore", dsp, eb);
    return rc ? rc : ks_docstore_build(xpath, dsp, eb);
}

/* Revision of the index's live generation (0 if there is none). */
static uint64_t live_revision(const char *index)
{
    char gen[KS_INDEX_PATH_MAX], xp[KS_INDEX_PATH_MAX];
    ks_errbuf ignore;
    ks_xdb *db;
    ks_xdb_stats s;
    if (ks_indexdir_current(index, gen, sizeof gen, &ignore) || ks_indexdir_xapian_path(gen, xp, sizeof xp) ||
        ks_xdb_open(xp, &db, &ignore))
        return 0;
    uint64_t r = ks_xdb_stats_get(db, &s, &ignore) ? 0 : s.revision;
    ks_xdb_close(db);
    return r;
}

/* Records the analyzer settings, times and the next revision: base + 1 for
 * a build (base = the replaced generation's), stored revision + 1 otherwise. */
static int set_meta(const char *xapian_path, int built, uint64_t base, ks_errbuf *eb)
{
    ks_xdb_writer *w;
    int rc = ks_xdb_writer_open(xapian_path, KS_XDB_OPEN, &w, eb);
    if (rc)
        return rc;
    char ts[32], rev[32], *cur = NULL;
    iso_now(ts, sizeof ts);
    if (!built && !ks_xdb_writer_get_metadata(w, "kosearch.revision", &cur, eb))
        base = strtoull(cur, NULL, 10);
    free(cur);
    snprintf(rev, sizeof rev, "%llu", (unsigned long long)base + 1);
    rc = ks_xdb_writer_set_metadata(w, "kosearch.revision", rev, eb);
    if (!rc)
        rc = ks_xdb_writer_set_metadata(w, "kosearch.format", "1", eb);
    if (!rc)
        rc = ks_xdb_writer_set_metadata(w, "kosearch.analyzer", analyzer_settings(), eb);
    if (!rc)
        rc = ks_xdb_writer_set_metadata(w, built ? "kosearch.built_at" : "kosearch.updated_at", ts, eb);
    if (!rc && built)
        rc = ks_xdb_writer_set_metadata(w, "kosearch.updated_at", ts, eb);
    int rc2 = ks_xdb_writer_close(w, rc == 0, eb);
    return rc ? rc : rc2;
}

static int cmd_build(int argc, char **argv)
{
    build_args a;
    int prc = parse_build_args(argc, argv, "build", &a);
    if (prc) {
        free(a.inputs); /* --help or a bad argument: nothing else was allocated */
        return prc == 1 ? 0 : EXIT_FAILURE_;
    }
    double t0 = now();
    ks_errbuf eb = { "" };
    int lock = -1, rc;
    ks_reader *rd = NULL;
    char tmp[KS_INDEX_PATH_MAX], fin[KS_INDEX_PATH_MAX], path[KS_INDEX_PATH_MAX + 32];
    ks_xdb_writer **w = calloc((size_t)a.threads, sizeof *w);
    const char **shards = calloc((size_t)a.threads, sizeof *shards);
    char (*shard_paths)[KS_INDEX_PATH_MAX + 32] = calloc((size_t)a.threads, sizeof *shard_paths);
    /* The positions log of each shard (ks_poslog.h), for the segment build;
     * not with --compact, which renumbers the documents. */
    ks_poslog_writer **logw = calloc((size_t)a.threads, sizeof *logw);
    const char **logs = calloc((size_t)a.threads, sizeof *logs);
    char (*log_paths)[KS_INDEX_PATH_MAX + 32] = calloc((size_t)a.threads, sizeof *log_paths);
    int nlogs = 0; /* logs written (to delete before publication) */
    ks_pipeline_stats st;
    memset(&st, 0, sizeof st);
    tmp[0] = 0;
    if (!w || !shards || !shard_paths || !logw || !logs || !log_paths) {
        fprintf(stderr, "%s build: out of memory\n", prog);
        return EXIT_FAILURE_;
    }
    if ((rc = ks_reader_open(a.inputs, a.ninputs, a.format, &rd, &eb)) ||
        (rc = ks_indexdir_lock(a.index, &lock, &eb)) ||
        (rc = ks_indexdir_begin(a.index, tmp, fin, sizeof tmp, &eb)))
        goto fail;
    ks_fault_point("build-begun");
    for (int i = 0; i < a.threads; i++) {
        snprintf(shard_paths[i], sizeof shard_paths[i], "%s/shard-%d", tmp, i);
        shards[i] = shard_paths[i];
        if ((rc = ks_xdb_writer_open(shard_paths[i], KS_XDB_CREATE_BULK, &w[i], &eb)))
            goto fail;
        if (!a.compact) {
            snprintf(log_paths[i], sizeof log_paths[i], "%s/shard-%d.poslog", tmp, i);
            logs[i] = log_paths[i];
            if ((rc = ks_poslog_writer_open(log_paths[i], (unsigned)i, (unsigned)a.threads, &logw[i], &eb)))
                goto fail;
            nlogs++;
        }
    }
    /* --memory-limit: each shard may buffer its share of what the fixed part leaves */
    uint64_t commit_bytes = a.memory_mb ? ((uint64_t)(a.memory_mb - KS_MEM_BASE_MB) << 20) / KS_MEM_PER_BYTE /
                                              (uint64_t)a.threads
                                        : 0;
    ks_pipeline_opts po = { a.threads, w, 0, 1, a.batch, commit_bytes, a.strict, !a.quiet && isatty(2), a.quiet, 1,
                            a.compact ? NULL : logw };
    rc = ks_pipeline_run(rd, &po, &st, &eb);
    for (int i = 0; i < a.threads; i++) {
        ks_errbuf ceb;
        int crc = ks_xdb_writer_close(w[i], rc == 0, &ceb);
        w[i] = NULL;
        if (crc && !rc) {
            rc = crc;
            eb = ceb;
        }
        if (logw[i]) { /* a log that cannot be written fails the build, as a shard would */
            crc = ks_poslog_writer_close(logw[i], rc == 0, &ceb);
            logw[i] = NULL;
            if (crc && !rc) {
                rc = crc;
                eb = ceb;
            }
        }
    }
    if (rc)
        goto fail;
    ks_fault_point("build-written");
    /* The shards stay as they are, listed in a stub file that Xapian opens
     * as one database: merging them costs as long again as the build
     * (measured, bench/RESULTS.md). --compact merges into one shard. */
    {
        char rel[a.threads][32];
        const char *relp[a.threads];
        for (int i = 0; i < a.threads; i++) {
            snprintf(rel[i], sizeof rel[i], "shard-%d", i);
            relp[i] = rel[i];
        }
        if (a.compact) {
            if (!a.quiet && isatty(2))
                fprintf(stderr, "merging %d shard(s)...", a.threads);
            snprintf(path, sizeof path, "%s/shard-c", tmp);
            if ((rc = ks_xdb_compact(shards, (size_t)a.threads, path, &eb)))
                goto fail;
            if (!a.quiet && isatty(2))
                fputs("\r\033[K", stderr);
            for (int i = 0; i < a.threads; i++)
                ks_indexdir_rmtree(shard_paths[i]);
            relp[0] = "shard-c";
        }
        if ((rc = ks_indexdir_write_stub(tmp, relp, a.compact ? 1 : (size_t)a.threads, &eb)))
            goto fail;
    }
    ks_fault_point("build-stub");
    snprintf(path, sizeof path, "%s/xapian", tmp);
    if ((rc = set_meta(path, 1, live_revision(a.index), &eb)))
        goto fail;
    ks_fault_point("build-meta");
    {
        /* The scoring segment goes into the generation before it is
         * published: readers never see a generation without one. */
        char segp[sizeof path + 16];
        snprintf(segp, sizeof segp, "%s/segment", tmp);
        ks_errbuf note = { "" };
        ks_seg_build_opts so = { 0, a.threads_set ? (unsigned)a.threads : 0, nlogs ? logs : NULL,
                                 (unsigned)nlogs, &note };
        rc = ks_segment_build_with(path, segp, &so, &eb);
        /* the logs are a build artefact: never published */
        for (int i = 0; i < nlogs; i++)
            unlink(log_paths[i]);
        if (!rc)
            rc = build_docstore(path, &eb);
        if (rc)
            goto fail;
        if (note.msg[0] && !a.quiet)
            fprintf(stderr, "%s build: the positions log was not used (%s): the segment was built from "
                            "Xapian's position lists\n", prog, note.msg);
    }
    ks_fault_point("build-segment");
    if ((rc = ks_indexdir_publish(a.index, tmp, fin, &eb)))
        goto fail;
    ks_indexdir_unlock(lock);
    ks_reader_close(rd);
    if (!a.quiet)
        summary("build", &st, now() - t0, fin);
    free(w);
    free(shards);
    free(shard_paths);
    free(logw);
    free(logs);
    free(log_paths);
    free(a.inputs);
    return st.bad ? EXIT_BAD_RECORDS : 0;
fail:
    for (int i = 0; i < a.threads; i++) {
        ks_errbuf ignore;
        if (w && w[i])
            ks_xdb_writer_close(w[i], 0, &ignore);
        if (logw && logw[i])
            ks_poslog_writer_close(logw[i], 0, &ignore);
    }
    if (tmp[0])
        ks_indexdir_rmtree(tmp);
    ks_indexdir_unlock(lock);
    ks_reader_close(rd);
    fprintf(stderr, "%s build: %s%s\n", prog, eb.msg[0] ? eb.msg : ks_strerror(rc),
            tmp[0] ? " (the previous index, if any, is unchanged)" : "");
    free(w);
    free(shards);
    free(shard_paths);
    free(logw);
    free(logs);
    free(log_paths);
    free(a.inputs);
    return EXIT_FAILURE_;
}

/* Builds the segment of the Xapian database at xpath (GEN/xapian): for the
 * new generation of an add or delete, or the live one (`segment`). It writes
 * GEN/segment.part, syncs it and renames it over GEN/segment, so readers
 * see the old or the new segment, and the revision it records tells them
 * which database it matches. threads: 0 for the default (ks_segment.h). */
static int rebuild_segment(const char *xpath, unsigned threads, ks_errbuf *eb)
{
    char segp[KS_INDEX_PATH_MAX + 16];
    int rc = sibling_path(xpath, "segment", segp, eb);
    if (rc)
        return rc;
    ks_seg_build_opts so = { .threads = threads };
    rc = ks_segment_build_with(xpath, segp, &so, eb);
    return rc ? rc : build_docstore(xpath, eb);
}

/* An add or delete never changes the live generation: it copies the
 * generation's Xapian part into a new INDEX/gen-N.tmp, changes the copy and
 * publishes it with a fresh segment like a build (ks_indexdir_publish), so
 * the database and its segment change together, and a run that is killed
 * or fails (a full disk) leaves the live index exactly as it was. The copy
 * costs less than the segment rebuild that every change needs anyway. */
typedef struct live_change {
    const char *index;
    int lock;
    ks_xdb_writer *w;
    char tmp[KS_INDEX_PATH_MAX], fin[KS_INDEX_PATH_MAX], xpath[KS_INDEX_PATH_MAX + 16];
} live_change;

/* Takes the lock, copies the live generation and opens the copy's database
 * for writing. On failure, live_abort() cleans up. */
static int live_begin(live_change *lc, const char *index, ks_errbuf *eb)
{
    char gen[KS_INDEX_PATH_MAX];
    memset(lc, 0, sizeof *lc);
    lc->index = index;
    lc->lock = -1;
    /* checked before the lock too: taking it creates INDEX */
    int rc = ks_indexdir_current(index, gen, sizeof gen, eb);
    if (!rc)
        rc = ks_indexdir_lock(index, &lc->lock, eb);
    if (!rc) /* again under the lock: a build may have published meanwhile */
        rc = ks_indexdir_current(index, gen, sizeof gen, eb);
    if (!rc) /* no change on top of a damaged index */
        rc = ks_indexdir_check(gen, eb);
    if (!rc)
        rc = ks_indexdir_begin(index, lc->tmp, lc->fin, sizeof lc->tmp, eb);
    if (!rc)
        rc = ks_indexdir_copy(gen, lc->tmp, eb);
    if (!rc) {
        ks_fault_point("live-copied");
        snprintf(lc->xpath, sizeof lc->xpath, "%s/xapian", lc->tmp);
        rc = ks_xdb_writer_open(lc->xpath, KS_XDB_OPEN, &lc->w, eb);
    }
    return rc;
}

/* Closes the copy's writer (committing only when rc is 0), stamps the
 * metadata, builds the segment and publishes the new generation. Returns
 * rc or the first error; either way the lock is released and, on error,
 * the copy removed. */
static int live_finish(live_change *lc, int rc, ks_errbuf *eb)
{
    if (lc->w) {
        ks_errbuf ceb;
        int crc = ks_xdb_writer_close(lc->w, rc == 0, &ceb);
        lc->w = NULL;
        if (crc && !rc) {
            rc = crc;
            *eb = ceb;
        }
    }
    if (!rc) {
        ks_fault_point("live-committed");
        rc = set_meta(lc->xpath, 0, 0, eb);
    }
    if (!rc) {
        ks_fault_point("live-meta");
        rc = rebuild_segment(lc->xpath, 0, eb);
    }
    if (!rc) {
        ks_fault_point("live-segment");
        rc = ks_indexdir_publish(lc->index, lc->tmp, lc->fin, eb);
    }
    if (rc && lc->tmp[0])
        ks_indexdir_rmtree(lc->tmp);
    ks_indexdir_unlock(lc->lock);
    lc->lock = -1;
    return rc;
}

static int cmd_add(int argc, char **argv)
{
    build_args a;
    int prc = parse_build_args(argc, argv, "add", &a);
    if (prc) {
        free(a.inputs); /* --help or a bad argument: nothing else was allocated */
        return prc == 1 ? 0 : EXIT_FAILURE_;
    }
    double t0 = now();
    ks_errbuf eb = { "" };
    int rc;
    ks_reader *rd = NULL;
    live_change lc;
    ks_pipeline_stats st;
    memset(&st, 0, sizeof st);
    memset(&lc, 0, sizeof lc);
    lc.lock = -1;
    if ((rc = ks_reader_open(a.inputs, a.ninputs, a.format, &rd, &eb)) || (rc = live_begin(&lc, a.index, &eb)))
        goto out;
    /* One Xapian writer per database: the copy gets one worker. An add is
     * all or nothing, even if killed: --batch commits only bound memory,
     * as the copy is published at the end. */
    ks_pipeline_opts po = { 1, &lc.w, 1, 0, a.batch_set ? a.batch : (unsigned long)-1, 0, a.strict,
                            !a.quiet && isatty(2), a.quiet, 0, NULL };
    rc = ks_pipeline_run(rd, &po, &st, &eb);
out:
    rc = live_finish(&lc, rc, &eb);
    ks_reader_close(rd);
    free(a.inputs);
    if (rc) {
        fprintf(stderr, "%s add: %s (no change was committed)\n", prog, eb.msg[0] ? eb.msg : ks_strerror(rc));
        return EXIT_FAILURE_;
    }
    if (!a.quiet)
        summary("add", &st, now() - t0, a.index);
    return st.bad ? EXIT_BAD_RECORDS : 0;
}

static int cmd_delete(int argc, char **argv)
{
    static const struct option lo[] = { { "id", required_argument, 0, 'd' },
                                         { "output", required_argument, 0, 'o' },
                                         { "quiet", no_argument, 0, 'q' },
                                         { "help", no_argument, 0, 'h' },
                                         { 0, 0, 0, 0 } };
    const char **ids = calloc((size_t)argc + 1, sizeof *ids);
    size_t nid = 0;
    const char *index = NULL;
    int c, quiet = 0;
    while ((c = getopt_long(argc, argv, "d:o:qh", lo, NULL)) != -1) {
        switch (c) {
        case 'd': ids[nid++] = optarg; break;
        case 'o': index = optarg; break;
        case 'q': quiet = 1; break;
        case 'h':
            printf("Usage: %s delete --id ID [--id ID...] -o INDEX\n"
                   "Deletes documents by id. Exit status 1 if some id was not in the index\n"
                   "(the others are still deleted), 2 on failure (nothing deleted).\n",
                   prog);
            free(ids);
            return 0;
        default: free(ids); return EXIT_FAILURE_;
        }
    }
    while (optind < argc)
        ids[nid++] = argv[optind++];
    if (!nid || !index) {
        fprintf(stderr, "%s delete: need --id ID and -o INDEX (see --help)\n", prog);
        free(ids);
        return EXIT_FAILURE_;
    }
    ks_errbuf eb = { "" };
    int rc;
    live_change lc;
    char term[KS_MAX_ID_BYTES + 8];
    size_t deleted = 0, missing = 0;
    if ((rc = live_begin(&lc, index, &eb)))
        goto out;
    for (size_t i = 0; i < nid && !rc; i++) {
        int tl = ks_idterm(ids[i], strlen(ids[i]), term, sizeof term), found = 0;
        if (tl < 0) {
            fprintf(stderr, "%s delete: id too long: %.40s...\n", prog, ids[i]);
            missing++;
            continue;
        }
        rc = ks_xdb_writer_delete(lc.w, term, (size_t)tl, &found, &eb);
        if (!rc && !found) {
            fprintf(stderr, "%s delete: no document with id '%s'\n", prog, ids[i]);
            missing++;
        } else if (!rc) {
            deleted++;
        }
    }
out:
    rc = live_finish(&lc, rc, &eb);
    free(ids);
    if (rc) {
        fprintf(stderr, "%s delete: %s (nothing deleted)\n", prog, eb.msg[0] ? eb.msg : ks_strerror(rc));
        return EXIT_FAILURE_;
    }
    if (!quiet)
        fprintf(stderr, "delete: %zu deleted, %zu not found\n", deleted, missing);
    return missing ? 1 : 0;
}

static int cmd_info(int argc, char **argv)
{
    int json = 0;
    const char *index = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("Usage: %s info [--json] INDEX\nDescribes the index: documents, distinct terms, "
                   "average length, size on disk, analyzer settings, build time.\n", prog);
            return 0;
        } else if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else
            index = argv[i];
    }
    if (!index) {
        fprintf(stderr, "%s info: which INDEX? (see --help)\n", prog);
        return EXIT_FAILURE_;
    }
    ks_errbuf eb = { "" };
    char gen[KS_INDEX_PATH_MAX], xpath[KS_INDEX_PATH_MAX];
    ks_xdb *db = NULL;
    ks_xdb_stats s;
    uint64_t terms = 0;
    char *an = NULL, *built = NULL, *updated = NULL;
    int rc = ks_indexdir_current(index, gen, sizeof gen, &eb);
    if (!rc)
        rc = ks_indexdir_xapian_path(gen, xpath, sizeof xpath);
    if (!rc)
        rc = ks_xdb_open(xpath, &db, &eb);
    if (!rc)
        rc = ks_xdb_stats_get(db, &s, &eb);
    if (!rc)
        rc = ks_xdb_count_terms(db, NULL, &terms, &eb);
    if (!rc)
        rc = ks_xdb_get_metadata(db, "kosearch.analyzer", &an, &eb);
    if (!rc)
        rc = ks_xdb_get_metadata(db, "kosearch.built_at", &built, &eb);
    if (!rc)
        rc = ks_xdb_get_metadata(db, "kosearch.updated_at", &updated, &eb);
    if (rc) {
        fprintf(stderr, "%s info: %s\n", prog, eb.msg[0] ? eb.msg : ks_strerror(rc));
        ks_xdb_close(db);
        return EXIT_FAILURE_;
    }
    unsigned long long size = ks_indexdir_du(gen), segsize = 0;
    long long segrev = -1; /* the segment's revision; -1: missing or damaged (segerr) */
    char segerr[sizeof eb.msg] = "";
    unsigned long long dssize = 0;
    long long dsrev = -1; /* the document store's, likewise (dserr) */
    char dserr[sizeof eb.msg] = "";
    {
        char segp[KS_INDEX_PATH_MAX + 16];
        snprintf(segp, sizeof segp, "%s/docstore", gen);
        dssize = ks_indexdir_du(segp);
        ks_docstore *ds = NULL;
        ks_errbuf deb = { "" };
        if (ks_docstore_open(segp, &ds, &deb) == 0) {
            dsrev = (long long)ks_docstore_header_of(ds)->revision;
            ks_docstore_close(ds);
        } else {
            snprintf(dserr, sizeof dserr, "%s", deb.msg);
        }
        snprintf(segp, sizeof segp, "%s/segment", gen);
        segsize = ks_indexdir_du(segp);
        size = size > segsize + dssize ? size - segsize - dssize : 0; /* the Xapian part */
        ks_segment *seg = NULL;
        ks_errbuf seb = { "" };
        if (ks_segment_open(segp, &seg, &seb) == 0) {
            segrev = (long long)ks_segment_header(seg)->revision;
            ks_segment_close(seg);
        } else {
            snprintf(segerr, sizeof segerr, "%s", seb.msg);
        }
    }
    if (json) {
        json_t *o = json_pack("{s:s,s:I,s:I,s:f,s:I,s:I,s:I,s:s,s:s,s:s}", "generation", gen, "documents",
                              (json_int_t)s.doccount, "terms", (json_int_t)terms, "average_length", s.avglength,
                              "xapian_bytes", (json_int_t)size, "segment_bytes", (json_int_t)segsize, "revision",
                              (json_int_t)s.revision, "analyzer", an,
                              "built_at", built, "updated_at", updated);
        json_object_set_new(o, "segment_revision", segrev >= 0 ? json_integer(segrev) : json_null());
        json_object_set_new(o, "docstore_bytes", json_integer((json_int_t)dssize));
        json_object_set_new(o, "docstore_revision", dsrev >= 0 ? json_integer(dsrev) : json_null());
        char *out = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        puts(out);
        free(out);
        json_decref(o);
    } else {
        printf("index:          %s\n", gen);
        printf("documents:      %llu\n", (unsigned long long)s.doccount);
        printf("distinct terms: %llu\n", (unsigned long long)terms);
        printf("average length: %.1f terms\n", s.avglength);
        printf("xapian size:    %llu bytes (%.1f MiB)\n", size, (double)size / 1048576.0);
        printf("segment size:   %llu bytes (%.1f MiB)\n", segsize, (double)segsize / 1048576.0);
        if (segrev >= 0)
            printf("segment:        revision %lld%s\n", segrev,
                   (uint64_t)segrev == s.revision ? "" : " (stale: rebuild the index)");
        else
            printf("segment:        unusable: %s\n", segerr);
        printf("docstore size:  %llu bytes (%.1f MiB)\n", dssize, (double)dssize / 1048576.0);
        if (dsrev >= 0)
            printf("docstore:       revision %lld%s\n", dsrev,
                   (uint64_t)dsrev == s.revision ? "" : " (stale: rebuild the segment)");
        else
            printf("docstore:       unusable (stored fields are read from Xapian): %s\n", dserr);
        printf("revision:       %llu\n", (unsigned long long)s.revision);
        printf("analyzer:       %s\n", an);
        printf("built at:       %s\n", built);
        printf("updated at:     %s\n", updated);
    }
    free(an);
    free(built);
    free(updated);
    ks_xdb_close(db);
    return 0;
}

static int cmd_get(int argc, char **argv)
{
    if (argc != 3 || strcmp(argv[1], "--help") == 0) {
        fprintf(argc == 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr,
                "Usage: %s get INDEX ID\nPrints the stored fields of document ID as JSON.\n", prog);
        return argc == 2 ? 0 : EXIT_FAILURE_;
    }
    ks_errbuf eb = { "" };
    char gen[KS_INDEX_PATH_MAX], xpath[KS_INDEX_PATH_MAX], term[KS_MAX_ID_BYTES + 8];
    ks_xdb *db = NULL;
    char *data = NULL;
    size_t len;
    uint32_t docid;
    int tl = ks_idterm(argv[2], strlen(argv[2]), term, sizeof term);
    int rc = tl < 0 ? ks_seterr(&eb, KS_EINVAL, "id too long") : ks_indexdir_current(argv[1], gen, sizeof gen, &eb);
    if (!rc)
        rc = ks_indexdir_xapian_path(gen, xpath, sizeof xpath);
    if (!rc)
        rc = ks_xdb_open(xpath, &db, &eb);
    if (!rc)
        rc = ks_xdb_get_by_idterm(db, term, (size_t)tl, &docid, &data, &len, &eb);
    ks_xdb_close(db);
    if (rc == KS_ENOTFOUND && db) {
        fprintf(stderr, "%s get: no document with id '%s'\n", prog, argv[2]);
        return 1;
    }
    if (rc) {
        fprintf(stderr, "%s get: %s\n", prog, eb.msg[0] ? eb.msg : ks_strerror(rc));
        return EXIT_FAILURE_;
    }
    fwrite(data, 1, len, stdout);
    putchar('\n');
    free(data);
    return 0;
}

static int cmd_analyze(int argc, char **argv)
{
    ks_analyzer_opts o = ks_analyzer_default_opts();
    const char *text = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--query") == 0)
            o.query = 1;
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("Usage: %s analyze [--query] TEXT\nPrints one line per term: term, kind, position, "
                   "byte range in TEXT.\n--query analyses TEXT as a query word would be.\n", prog);
            return 0;
        } else
            text = argv[i];
    }
    if (!text) {
        fprintf(stderr, "%s analyze: which TEXT? (see --help)\n", prog);
        return EXIT_FAILURE_;
    }
    static const char *kinds[] = { "word", "unigram", "bigram", "join" };
    ks_analyzer *a;
    ks_errbuf eb;
    ks_terms t;
    memset(&t, 0, sizeof t);
    if (ks_analyzer_new(&o, &a, &eb) || ks_analyze(a, text, strlen(text), 0, &t)) {
        fprintf(stderr, "%s analyze: failed\n", prog);
        return EXIT_FAILURE_;
    }
    for (size_t i = 0; i < t.n; i++)
        printf("%.*s\t%s\t%u\t%u-%u\n", (int)t.a[i].len, ks_term_text(&t, i), kinds[t.a[i].kind], t.a[i].pos,
               t.a[i].start, t.a[i].end);
    if (t.n_invalid)
        fprintf(stderr, "%zu invalid UTF-8 sequence(s) replaced\n", t.n_invalid);
    ks_terms_free(&t);
    ks_analyzer_free(a);
    return 0;
}

/* segment INDEX: rebuilds the live generation's scoring segment (an index
 * built before segments existed, or one whose segment rebuild failed after
 * an add or delete), under the index lock so no writer runs meanwhile. */
static int cmd_segment(int argc, char **argv)
{
    static const struct option lo[] = { { "threads", required_argument, 0, 'j' },
                                         { "help", no_argument, 0, 'h' },
                                         { 0, 0, 0, 0 } };
    unsigned threads = 0;
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "j:h", lo, NULL)) != -1) {
        switch (c) {
        case 'j': {
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > KS_SEG_THREADS_MAX) {
                fprintf(stderr, "%s segment: --threads wants a number from 1 to %d\n", prog, KS_SEG_THREADS_MAX);
                return EXIT_FAILURE_;
            }
            threads = (unsigned)v;
            break;
        }
        case 'h':
            printf("Usage: %s segment [-j N] INDEX\n"
                   "Rebuilds INDEX's scoring segment from its Xapian database and replaces the old one\n"
                   "atomically (readers see the old segment or the new one).\n\n"
                   "  -j, --threads N  build it with N threads, each over a range of the terms\n"
                   "                   (default: the cores, at most 8, or KOSEARCH_SEGMENT_THREADS;\n"
                   "                   at most %d); the file is the same whatever N\n"
                   "  -h, --help       this help\n\n"
                   "Its memory is bounded whatever the index size (about 40 MiB of write buffers\n"
                   "shared by up to 8 threads, 5 MiB a thread beyond, plus 4 bytes a document);\n"
                   "the disk needs room for the segment twice while it is written. Every build,\n"
                   "add and delete builds the segment the same way.\n",
                   prog, KS_SEG_THREADS_MAX);
            return 0;
        default: return EXIT_FAILURE_;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "%s segment: need exactly one INDEX (see --help)\n", prog);
        return EXIT_FAILURE_;
    }
    const char *index = argv[optind];
    ks_errbuf eb = { "" };
    char gen[KS_INDEX_PATH_MAX], xpath[KS_INDEX_PATH_MAX];
    int lock = -1;
    double t0 = now();
    int rc = ks_indexdir_current(index, gen, sizeof gen, &eb);
    if (!rc)
        rc = ks_indexdir_lock(index, &lock, &eb);
    if (!rc)
        rc = ks_indexdir_xapian_path(gen, xpath, sizeof xpath);
    if (!rc)
        rc = rebuild_segment(xpath, threads, &eb);
    ks_indexdir_unlock(lock);
    if (rc) {
        fprintf(stderr, "%s segment: %s: %s\n", prog, index, eb.msg[0] ? eb.msg : ks_strerror(rc));
        return EXIT_FAILURE_;
    }
    printf("segment: rebuilt for %s in %.2f s\n", gen, now() - t0);
    return 0;
}

static const struct {
    const char *name;
    int (*fn)(int, char **);
} commands[] = {
    { "build", cmd_build }, { "add", cmd_add }, { "delete", cmd_delete }, { "segment", cmd_segment },
    { "info", cmd_info },   { "get", cmd_get },         { "analyze", cmd_analyze },
};

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage_main(stderr);
        return EXIT_FAILURE_;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage_main(stdout);
        return 0;
    }
    /* Over a file-size limit (ulimit -f) a write fails with EFBIG and is
     * reported like a full disk, instead of SIGXFSZ killing us mid-write. */
    signal(SIGXFSZ, SIG_IGN);
    if (strcmp(argv[1], "--version") == 0) {
        puts("kosearch-indexer " PACKAGE_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "%s: unknown command '%s'\n", prog, argv[1]);
    usage_main(stderr);
    return EXIT_FAILURE_;
}
