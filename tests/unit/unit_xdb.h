/* A small two-shard Xapian database for the cmocka unit tests of what is
 * built from one (the segment, the document store): interleaved document
 * numbers, as an indexer build with two threads makes. Include after
 * <cmocka.h>. */
#ifndef KS_UNIT_XDB_H
#define KS_UNIT_XDB_H

#include <stdio.h>

#include "ks_indexdir.h"
#include "ks_xdb.h"

/* Fills shard `shard` (0 or 1) through w. */
typedef void (*unit_add_fn)(ks_xdb_writer *w, int shard);

/* Creates dir/shard-0 and dir/shard-1 filled by add, stamps revision as
 * kosearch.revision on shard 0, and writes the stub dir/xapian, whose path
 * goes to stub[0..cap). 0, or -1 when something failed (a setup failure). */
static inline int unit_two_shards(const char *dir, unit_add_fn add, const char *revision, char *stub, size_t cap)
{
    ks_errbuf eb;
    const char *rel[2] = { "shard-0", "shard-1" };
    for (int s = 0; s < 2; s++) {
        char p[256];
        snprintf(p, sizeof p, "%s/%s", dir, rel[s]);
        ks_xdb_writer *w;
        if (ks_xdb_writer_open(p, KS_XDB_CREATE, &w, &eb))
            return -1;
        add(w, s);
        if (s == 0 && ks_xdb_writer_set_metadata(w, "kosearch.revision", revision, &eb))
            return -1;
        if (ks_xdb_writer_close(w, 1, &eb))
            return -1;
    }
    if (ks_indexdir_write_stub(dir, rel, 2, &eb))
        return -1;
    snprintf(stub, cap, "%s/xapian", dir);
    return 0;
}

#endif
