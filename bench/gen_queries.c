/* ks-gen-queries: benchmark queries drawn from a JSON Lines corpus (a
 * generated one or the training text), reproducibly for a seed: all-words,
 * phrase, OR, one-syllable, rare-term and mixed Hangul/Latin queries in fixed
 * shares, all valid in kosearch's query language (proto/PROTOCOL.md §7). */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>

#include "gen_util.h"

enum { K_WORDS, K_PHRASE, K_OR, K_SYLLABLE, K_RARE, K_MIXED, NKINDS };
static const char *const KIND_NAME[NKINDS] = {"words", "phrase", "or", "syllable", "rare", "mixed"};
static const int KIND_PERCENT[NKINDS] = {40, 15, 10, 10, 15, 10};

/* A query word: trimmed of punctuation, ids into the table; class bits. */
enum { C_HANGUL = 1, C_LATIN = 2 };
typedef struct {
    uint32_t id;   /* UINT32_MAX: not usable in a query */
    uint32_t line; /* line number inside the document (phrases stay on one line) */
} tok_t;

typedef struct {
    tok_t *tok;
    size_t n;
} doc_t;

static strtab words;
static uint32_t *df, *last_doc;
static unsigned char *wclass;
static size_t df_cap, lastdoc_cap, class_cap;

static int is_punct_cp(uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= 0x21 && cp <= 0x2f) || (cp >= 0x3a && cp <= 0x40) || (cp >= 0x5b && cp <= 0x60) ||
               (cp >= 0x7b && cp <= 0x7e);
    return (cp >= 0xa0 && cp <= 0xbf) || (cp >= 0x2000 && cp <= 0x206f) || (cp >= 0x3000 && cp <= 0x303f) ||
           (cp >= 0xff01 && cp <= 0xff0f) || cp == 0xfeff;
}

/* Trims punctuation off w[0..n); returns the word id or UINT32_MAX when the
 * rest is empty, too long or holds ASCII punctuation, controls or 'OR'. */
static uint32_t clean_word(const char *w, size_t n)
{
    const unsigned char *s = (const unsigned char *)w;
    size_t b = 0, e = n;
    uint32_t cp;
    while (b < e) {
        int l = utf8_dec(s + b, &cp);
        if (!is_punct_cp(cp))
            break;
        b += (size_t)l;
    }
    while (e > b) {
        size_t k = e - 1;
        while (k > b && (s[k] & 0xc0) == 0x80)
            k--;
        utf8_dec(s + k, &cp);
        if (!is_punct_cp(cp))
            break;
        e = k;
    }
    if (e == b || e - b > 60 || (e - b == 2 && memcmp(s + b, "OR", 2) == 0))
        return UINT32_MAX;
    int cls = 0, latin = 1;
    for (size_t i = b; i < e;) {
        int l = utf8_dec(s + i, &cp);
        if (cp < 0x20 || cp == 0x7f || (cp < 0x80 && is_punct_cp(cp)) || (cp >= 0x80 && cp < 0xa0) ||
            cp == 0x2028 || cp == 0x2029)
            return UINT32_MAX;
        if (is_hangul_syllable(cp))
            cls |= C_HANGUL;
        if (!((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9')))
            latin = 0;
        i += (size_t)l;
    }
    if (latin && e - b >= 2) {
        for (size_t i = b; i < e; i++)
            if ((s[i] | 0x20) >= 'a' && (s[i] | 0x20) <= 'z')
                cls |= C_LATIN;
    }
    int added;
    uint32_t id = st_lookup(&words, w + b, e - b, 1, &added);
    if (added) {
        df = grow(df, &df_cap, (size_t)id + 1, sizeof *df);
        last_doc = grow(last_doc, &lastdoc_cap, (size_t)id + 1, sizeof *last_doc);
        wclass = grow(wclass, &class_cap, (size_t)id + 1, 1);
        df[id] = 0;
        last_doc[id] = UINT32_MAX;
        wclass[id] = (unsigned char)cls;
    }
    return id;
}

static int is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

/* Tokenises a text into t (appending); counts document frequencies. */
static void tokenise(const char *s, size_t n, uint32_t docno, uint32_t *line, tok_t **t, size_t *nt,
                     size_t *cap)
{
    for (size_t i = 0; i < n;) {
        if (s[i] == '\n') {
            (*line)++;
            i++;
            continue;
        }
        if (is_space((unsigned char)s[i])) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && s[j] != '\n' && !is_space((unsigned char)s[j]))
            j++;
        uint32_t id = clean_word(s + i, j - i);
        if (id != UINT32_MAX && last_doc[id] != docno) {
            last_doc[id] = docno;
            df[id]++;
        }
        *t = grow(*t, cap, *nt + 1, sizeof **t);
        (*t)[(*nt)++] = (tok_t){id, *line};
        i = j;
    }
}

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: ks-gen-queries (--corpus FILE | --train FILE)... -n N [options]\n"
            "Writes N benchmark queries, one per line, drawn from a JSON Lines corpus\n"
            "(.gz or plain; --train is a synonym of --corpus). Kinds and shares:\n"
            "  words 40%%  1-4 words of one document (all-words query)\n"
            "  phrase 15%% \"2-3 adjacent words\" of one line\n"
            "  or 10%%     a OR b, words of two documents\n"
            "  syllable 10%% one Hangul syllable (e.g. 책)\n"
            "  rare 15%%   a word with a document frequency <= --rare-df\n"
            "  mixed 10%%  a Hangul and a Latin word of one document\n"
            "The same corpus and seed give the same queries (xoshiro256**).\n"
            "\n"
            "  -n, --queries N  number of queries\n"
            "  --seed S         PRNG seed (default 1)\n"
            "  --tagged         write kind<TAB>query\n"
            "  --sample K       documents kept (reservoir sample) to draw from (default 4000)\n"
            "  --rare-df D      document frequency limit of rare terms (default 2)\n"
            "  -o, --output F   output file, '-' for stdout (default)\n"
            "  -q, --quiet      do not print the shares on stderr\n"
            "  -h, --help       this help\n"
            "Exit status: 0 ok, 1 runtime error, 2 bad arguments.\n");
}

static const tok_t *pick_tok(rng_t *r, const doc_t *d, int cls)
{
    if (d->n == 0)
        return NULL;
    for (int tries = 0; tries < 32; tries++) {
        const tok_t *t = &d->tok[rng_below(r, d->n)];
        if (t->id != UINT32_MAX && (!cls || (wclass[t->id] & cls)))
            return t;
    }
    return NULL;
}

static void put_word(outbuf *o, uint32_t id)
{
    size_t l;
    const char *w = st_word(&words, id, &l);
    ob_put(o, w, l);
}

/* One query of a kind into o; 0 if this document cannot give one. */
static int make_query(int kind, rng_t *r, const doc_t *docs, size_t ndocs, const uint32_t *rare,
                      size_t nrare, outbuf *o)
{
    const doc_t *d = &docs[rng_below(r, ndocs)];
    const tok_t *a, *b;
    switch (kind) {
    case K_WORDS: {
        int k = 1 + (int)rng_below(r, 4), got = 0, hangul = 0;
        uint32_t ids[4];
        for (int tries = 0; got < k && tries < 64; tries++) {
            if (!(a = pick_tok(r, d, 0)))
                return 0;
            int dup = 0;
            for (int i = 0; i < got; i++)
                dup |= ids[i] == a->id;
            if (!dup) {
                ids[got++] = a->id;
                hangul |= wclass[a->id] & C_HANGUL;
            }
        }
        if (got == 0 || !hangul)
            return 0;
        for (int i = 0; i < got; i++) {
            if (i)
                ob_put(o, " ", 1);
            put_word(o, ids[i]);
        }
        return 1;
    }
    case K_PHRASE: {
        size_t k = 2 + rng_below(r, 2);
        if (d->n < k)
            return 0;
        size_t s = rng_below(r, d->n - k + 1);
        int hangul = 0;
        for (size_t i = s; i < s + k; i++) {
            if (d->tok[i].id == UINT32_MAX || d->tok[i].line != d->tok[s].line)
                return 0;
            hangul |= wclass[d->tok[i].id] & C_HANGUL;
        }
        if (!hangul)
            return 0;
        ob_put(o, "\"", 1);
        for (size_t i = s; i < s + k; i++) {
            if (i > s)
                ob_put(o, " ", 1);
            put_word(o, d->tok[i].id);
        }
        ob_put(o, "\"", 1);
        return 1;
    }
    case K_OR: {
        const doc_t *d2 = &docs[rng_below(r, ndocs)];
        if (!(a = pick_tok(r, d, C_HANGUL)) || !(b = pick_tok(r, d2, C_HANGUL)) || a->id == b->id)
            return 0;
        put_word(o, a->id);
        ob_puts(o, " OR ");
        put_word(o, b->id);
        return 1;
    }
    case K_SYLLABLE: {
        if (!(a = pick_tok(r, d, C_HANGUL)))
            return 0;
        size_t l;
        const unsigned char *w = (const unsigned char *)st_word(&words, a->id, &l);
        const unsigned char *syl[64];
        size_t ns = 0;
        for (size_t i = 0; i < l && ns < 64;) {
            uint32_t cp;
            int n = utf8_dec(w + i, &cp);
            if (is_hangul_syllable(cp))
                syl[ns++] = w + i;
            i += (size_t)n;
        }
        ob_put(o, (const char *)syl[rng_below(r, ns)], 3);
        return 1;
    }
    case K_RARE:
        if (nrare == 0)
            return 0;
        put_word(o, rare[rng_below(r, nrare)]);
        return 1;
    default: /* K_MIXED */
        if (!(a = pick_tok(r, d, C_HANGUL)) || !(b = pick_tok(r, d, C_LATIN)))
            return 0;
        if (rng_below(r, 2)) {
            const tok_t *t = a;
            a = b;
            b = t;
        }
        put_word(o, a->id);
        ob_put(o, " ", 1);
        put_word(o, b->id);
        return 1;
    }
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"corpus", required_argument, 0, 'c'}, {"train", required_argument, 0, 'c'},
        {"queries", required_argument, 0, 'n'}, {"seed", required_argument, 0, 's'},
        {"tagged", no_argument, 0, 't'},       {"sample", required_argument, 0, 'k'},
        {"rare-df", required_argument, 0, 'r'}, {"output", required_argument, 0, 'o'},
        {"quiet", no_argument, 0, 'q'},        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    /* static: still reachable (not a leak) when an argument error returns early */
    static char **files;
    files = xmalloc((size_t)argc * sizeof *files);
    int nfiles = 0, tagged = 0, quiet = 0, have_n = 0, c;
    uint64_t nq = 0, seed = 1, sample = 4000, rare_df = 2;
    const char *out_path = "-";
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":n:o:qh", opts, NULL)) != -1) {
        uint64_t *dst = NULL;
        const char *what = NULL;
        switch (c) {
        case 'c': files[nfiles++] = optarg; break;
        case 'n': dst = &nq; what = "-n"; have_n = 1; break;
        case 's': dst = &seed; what = "--seed"; break;
        case 'k': dst = &sample; what = "--sample"; break;
        case 'r': dst = &rare_df; what = "--rare-df"; break;
        case 't': tagged = 1; break;
        case 'o': out_path = optarg; break;
        case 'q': quiet = 1; break;
        case 'h': usage(stdout); return 0;
        case ':':
            fprintf(stderr, "ks-gen-queries: option '%s' needs a value (see --help)\n", argv[optind - 1]);
            return GEN_EXIT_USAGE;
        default:
            fprintf(stderr, "ks-gen-queries: unknown option '%s' (see --help)\n", argv[optind - 1]);
            return GEN_EXIT_USAGE;
        }
        if (dst && (parse_u64(optarg, dst) < 0 || (dst != &seed && *dst > 100000000) ||
                    (dst == &sample && *dst == 0))) {
            fprintf(stderr, "ks-gen-queries: %s wants a %s number, not '%s'\n", what,
                    dst == &sample ? "positive" : "non-negative", optarg);
            return GEN_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ks-gen-queries: unexpected argument '%s' (see --help)\n", argv[optind]);
        return GEN_EXIT_USAGE;
    }
    if (nfiles == 0 || !have_n) {
        fprintf(stderr, "ks-gen-queries: --corpus FILE and -n N are required (see --help)\n");
        return GEN_EXIT_USAGE;
    }

    rng_t rng;
    rng_seed(&rng, seed);
    int rc = 0;
    uint32_t *rare = NULL;
    unsigned char *kinds = NULL;
    outbuf o = {.cap = 1 << 16};
    tok_t *tmp = NULL;
    doc_t *docs = calloc(sample, sizeof *docs);
    if (!docs) {
        fprintf(stderr, "ks-gen-queries: out of memory\n");
        rc = 1;
        goto done;
    }
    size_t kept = 0;
    uint32_t docno = 0;
    size_t ntmp = 0, tmpcap = 0;
    for (int f = 0; f < nfiles; f++) {
        line_reader lr;
        if (lr_open(&lr, files[f]) < 0) {
            fprintf(stderr, "ks-gen-queries: cannot open '%s': %s\n", files[f], strerror(errno));
            rc = 1;
            goto done;
        }
        size_t len;
        for (char *line; (line = lr_next(&lr, &len));) {
            json_error_t je;
            json_t *obj = json_loadb(line, len, 0, &je);
            json_t *t = json_object_get(obj, "title"), *b = json_object_get(obj, "body");
            if (json_is_object(obj)) {
                uint32_t ln = 0;
                ntmp = 0;
                if (json_is_string(t))
                    tokenise(json_string_value(t), json_string_length(t), docno, &ln, &tmp, &ntmp, &tmpcap);
                ln++;
                if (json_is_string(b))
                    tokenise(json_string_value(b), json_string_length(b), docno, &ln, &tmp, &ntmp, &tmpcap);
                /* reservoir sampling (Algorithm R) of the documents kept */
                uint64_t slot = docno < sample ? docno : rng_below(&rng, (uint64_t)docno + 1);
                if (slot < sample) {
                    doc_t *d = &docs[slot];
                    free(d->tok);
                    d->tok = xmalloc(ntmp * sizeof *d->tok);
                    if (ntmp)
                        memcpy(d->tok, tmp, ntmp * sizeof *tmp);
                    d->n = ntmp;
                    if (slot >= kept)
                        kept = slot + 1;
                }
                docno++;
            }
            json_decref(obj);
        }
        if (lr_close(&lr) < 0) {
            rc = 1;
            goto done;
        }
    }
    if (nq > 0 && kept == 0) {
        fprintf(stderr, "ks-gen-queries: the corpus has no documents\n");
        rc = 1;
        goto done;
    }
    /* rare terms: Hangul words with df <= rare_df, in first-seen order */
    rare = xmalloc((words.n + 1) * sizeof *rare);
    size_t nrare = 0;
    for (size_t i = 0; i < words.n; i++)
        if (df[i] <= rare_df && (wclass[i] & C_HANGUL))
            rare[nrare++] = (uint32_t)i;

    /* exact shares (largest remainder), shuffled */
    kinds = xmalloc(nq ? nq : 1);
    uint64_t want[NKINDS], done = 0;
    for (int k = 0; k < NKINDS; k++)
        done += want[k] = nq * (uint64_t)KIND_PERCENT[k] / 100;
    for (int k = 0; done < nq; k = (k + 1) % NKINDS, done++)
        want[k]++;
    for (uint64_t i = 0, k = 0; k < NKINDS; k++)
        for (uint64_t j = 0; j < want[k]; j++)
            kinds[i++] = (unsigned char)k;
    for (uint64_t i = nq; i > 1; i--) {
        uint64_t j = rng_below(&rng, i);
        unsigned char t = kinds[i - 1];
        kinds[i - 1] = kinds[j];
        kinds[j] = t;
    }

    FILE *out = strcmp(out_path, "-") == 0 ? stdout : fopen(out_path, "w");
    if (!out) {
        fprintf(stderr, "ks-gen-queries: cannot write '%s': %s\n", out_path, strerror(errno));
        rc = 1;
        goto done;
    }
    o.f = out;
    o.b = xmalloc(o.cap);
    uint64_t got[NKINDS] = {0};
    for (uint64_t i = 0; i < nq; i++) {
        int kind = kinds[i];
        size_t mark = o.n;
        if (tagged) {
            ob_puts(&o, KIND_NAME[kind]);
            ob_put(&o, "\t", 1);
        }
        size_t start = o.n;
        int ok = 0;
        for (int tries = 0; tries < 1000 && !ok; tries++) {
            o.n = start;
            ok = make_query(kind, &rng, docs, kept, rare, nrare, &o);
        }
        if (!ok) { /* the corpus has no such query (e.g. no Latin words) */
            o.n = mark;
            kind = K_WORDS;
            if (tagged) {
                ob_puts(&o, KIND_NAME[kind]);
                ob_put(&o, "\t", 1);
            }
            start = o.n;
            for (int tries = 0; tries < 1000 && !ok; tries++) {
                o.n = start;
                ok = make_query(kind, &rng, docs, kept, rare, nrare, &o);
            }
            if (!ok) {
                fprintf(stderr, "ks-gen-queries: the corpus has no usable Korean words\n");
                if (out != stdout)
                    fclose(out);
                rc = 1;
                goto done;
            }
        }
        got[kind]++;
        ob_put(&o, "\n", 1);
    }
    ob_flush(&o);
    if (out != stdout ? fclose(out) != 0 : fflush(out) != 0) {
        fprintf(stderr, "ks-gen-queries: write error: %s\n", strerror(errno));
        rc = 1;
    }
    if (!quiet) {
        fprintf(stderr, "ks-gen-queries: %" PRIu64 " queries from %" PRIu32 " documents (%zu sampled, %zu rare terms):",
                nq, docno, kept, nrare);
        for (int k = 0; k < NKINDS; k++)
            fprintf(stderr, " %s %.1f%%", KIND_NAME[k], nq ? 100.0 * (double)got[k] / (double)nq : 0.0);
        fputc('\n', stderr);
    }
done:
    free(tmp);
    for (size_t i = 0; docs && i < sample; i++)
        free(docs[i].tok);
    free(docs);
    free(rare);
    free(kinds);
    free(o.b);
    free(files);
    free(df);
    free(last_doc);
    free(wclass);
    st_free(&words);
    return rc;
}
