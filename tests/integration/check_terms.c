/* check_terms INDEX CORPUS.jsonl[.gz] STEP: for every STEP-th record of the
 * corpus, the terms Xapian holds for that document (term, wdf, positions)
 * must equal what the analyzer makes of its title and body, composed by the
 * rules of ks_document.h restated here independently (title terms weighted
 * KS_TITLE_WEIGHT and again under "S", body after a gap, the "Q" id term,
 * no positions for a unigram inside a longer run).
 * Prints one line per mismatch and "checked N documents"; exit 1 on any. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "ks_analyze.h"
#include "ks_document.h"
#include "ks_indexdir.h"
#include "ks_xdb.h"

typedef struct entry {
    char term[80];
    unsigned wdf;
    char pos[4096];
} entry;

typedef struct list {
    entry *e;
    size_t n, cap;
} list;

static entry *find_or_add(list *l, const char *t, size_t len)
{
    for (size_t i = 0; i < l->n; i++)
        if (strlen(l->e[i].term) == len && memcmp(l->e[i].term, t, len) == 0)
            return &l->e[i];
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        l->e = realloc(l->e, l->cap * sizeof *l->e);
    }
    entry *e = &l->e[l->n++];
    memset(e, 0, sizeof *e);
    memcpy(e->term, t, len < 79 ? len : 79);
    return e;
}

static void add_pos(entry *e, unsigned p)
{
    size_t k = strlen(e->pos);
    if (k < sizeof e->pos - 16)
        snprintf(e->pos + k, sizeof e->pos - k, "%u,", p);
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const entry *)a)->term, ((const entry *)b)->term);
}

static int cmp_uint(const void *a, const void *b)
{
    unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
    return x < y ? -1 : x > y;
}

/* Positions collected out of order: sort them in place. */
static void sort_pos(entry *e)
{
    unsigned v[2048];
    size_t n = 0;
    for (char *p = e->pos; *p && n < 2048;) {
        v[n++] = (unsigned)strtoul(p, &p, 10);
        if (*p == ',')
            p++;
    }
    qsort(v, n, sizeof *v, cmp_uint);
    e->pos[0] = 0;
    for (size_t i = 0; i < n; i++)
        add_pos(e, v[i]);
}

static int collect(void *ud, const char *term, size_t len, uint32_t wdf, const uint32_t *pos, size_t npos)
{
    entry *e = find_or_add(ud, term, len);
    e->wdf = wdf;
    for (size_t i = 0; i < npos; i++)
        add_pos(e, pos[i]);
    return 0;
}

static void expect_terms(list *l, const ks_terms *t, const char *prefix, unsigned wdf)
{
    char buf[128];
    for (size_t i = 0; i < t->n; i++) {
        int n = snprintf(buf, sizeof buf, "%s%.*s", prefix, (int)t->a[i].len, ks_term_text(t, i));
        entry *e = find_or_add(l, buf, (size_t)n);
        e->wdf += wdf;
        if (t->a[i].kind != KS_TERM_UNIGRAM || t->a[i].run_len_1)
            add_pos(e, t->a[i].pos);
    }
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: check_terms INDEX CORPUS STEP\n");
        return 2;
    }
    ks_errbuf eb = { "" };
    char gen[KS_INDEX_PATH_MAX], xp[KS_INDEX_PATH_MAX];
    ks_xdb *db;
    ks_analyzer *an;
    if (ks_indexdir_current(argv[1], gen, sizeof gen, &eb) || ks_indexdir_xapian_path(gen, xp, sizeof xp) ||
        ks_xdb_open(xp, &db, &eb) || ks_analyzer_new(NULL, &an, &eb)) {
        fprintf(stderr, "check_terms: %s\n", eb.msg);
        return 2;
    }
    gzFile f = gzopen(argv[2], "rb");
    if (!f) {
        fprintf(stderr, "check_terms: cannot open %s\n", argv[2]);
        return 2;
    }
    long step = atol(argv[3]);
    static char line[1 << 22];
    long n = 0, checked = 0, bad = 0;
    while (gzgets(f, line, sizeof line)) {
        if (n++ % step)
            continue;
        json_t *o = json_loads(line, 0, NULL);
        const char *id = json_string_value(json_object_get(o, "id"));
        const char *title = json_string_value(json_object_get(o, "title"));
        const char *body = json_string_value(json_object_get(o, "body"));
        title = title ? title : "";
        body = body ? body : "";
        ks_terms tt, bt;
        memset(&tt, 0, sizeof tt);
        memset(&bt, 0, sizeof bt);
        ks_analyze(an, title, strlen(title), 1, &tt);
        ks_analyze(an, body, strlen(body), tt.next_pos + 100, &bt);
        list want = { 0 }, got = { 0 };
        expect_terms(&want, &tt, "", 3);
        expect_terms(&want, &tt, "S", 1);
        expect_terms(&want, &bt, "", 1);
        char idt[256];
        snprintf(idt, sizeof idt, "Q%s", id);
        find_or_add(&want, idt, strlen(idt));
        char qt[256];
        int ql = ks_idterm(id, strlen(id), qt, sizeof qt);
        uint32_t docid;
        char *data;
        size_t len;
        if (ks_xdb_get_by_idterm(db, qt, (size_t)ql, &docid, &data, &len, &eb) != 0) {
            printf("%s: not in the index\n", id);
            bad++;
        } else {
            free(data);
            ks_xdb_doc_terms(db, docid, collect, &got, &eb);
            for (size_t i = 0; i < want.n; i++)
                sort_pos(&want.e[i]);
            qsort(want.e, want.n, sizeof *want.e, cmp_entry);
            qsort(got.e, got.n, sizeof *got.e, cmp_entry);
            int same = want.n == got.n;
            for (size_t i = 0; same && i < want.n; i++)
                same = strcmp(want.e[i].term, got.e[i].term) == 0 && want.e[i].wdf == got.e[i].wdf &&
                       strcmp(want.e[i].pos, got.e[i].pos) == 0;
            if (!same) {
                printf("%s: terms differ (analyzer %zu, xapian %zu)\n", id, want.n, got.n);
                for (size_t i = 0; i < want.n && i < got.n; i++)
                    if (strcmp(want.e[i].term, got.e[i].term) || want.e[i].wdf != got.e[i].wdf ||
                        strcmp(want.e[i].pos, got.e[i].pos)) {
                        printf("  first difference: want %s wdf %u @%s / got %s wdf %u @%s\n", want.e[i].term,
                               want.e[i].wdf, want.e[i].pos, got.e[i].term, got.e[i].wdf, got.e[i].pos);
                        break;
                    }
                bad++;
            }
        }
        checked++;
        free(want.e);
        free(got.e);
        ks_terms_free(&tt);
        ks_terms_free(&bt);
        json_decref(o);
    }
    gzclose(f);
    ks_analyzer_free(an);
    ks_xdb_close(db);
    printf("checked %ld documents, %ld mismatched\n", checked, bad);
    return bad || !checked ? 1 : 0;
}
