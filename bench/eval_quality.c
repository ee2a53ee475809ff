/* eval_quality INDEX|HOST:PORT QUERIES.jsonl [--show-misses]: runs every
 * query of an eval file (shared/eval format: qid, kind, query, relevant[],
 * target) through the searcher directly (INDEX) or through a running
 * kosearchd over the line protocol (HOST:PORT), and prints MRR@10,
 * Recall@10, Success@10 and the number of empty or failed queries, per kind
 * and overall. */
#include <arpa/inet.h>
#include <jansson.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ks_search.h"

#define MAX_KINDS 8

typedef struct agg {
    char kind[32];
    int n, empty, errors;
    double mrr, recall, success;
} agg;

static agg *kind_agg(agg *a, int *na, const char *k)
{
    for (int i = 0; i < *na; i++)
        if (strcmp(a[i].kind, k) == 0)
            return &a[i];
    if (*na == MAX_KINDS)
        return &a[0];
    snprintf(a[*na].kind, sizeof a[*na].kind, "%s", k);
    return &a[(*na)++];
}

static void print_row(const agg *a)
{
    printf("%-12s %5d  %.3f     %.3f       %.3f        %d / %d\n", a->kind, a->n, a->n ? a->mrr / a->n : 0,
           a->n ? a->recall / a->n : 0, a->n ? a->success / a->n : 0, a->empty, a->errors);
}

/* Protocol mode: one connection, one SEARCH per query; ids from HIT lines. */
static FILE *net_in, *net_out;

static int net_open(const char *spec)
{
    char host[256];
    const char *c = strrchr(spec, ':');
    snprintf(host, sizeof host, "%.*s", (int)(c - spec), spec);
    struct addrinfo hints = { 0 }, *ai;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, c + 1, &hints, &ai))
        return -1;
    int fd = socket(ai->ai_family, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen)) {
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    net_in = fdopen(fd, "r");
    net_out = fdopen(dup(fd), "w");
    return net_in && net_out ? 0 : -1;
}

/* Sends SEARCH for text; fills ids[0..*n) (caller frees each). 0 or -1 (ERR). */
static int net_search(const char *text, char **ids, size_t *n, char *err, size_t cap)
{
    static char line[1 << 20];
    fprintf(net_out, "SEARCH limit=10 -- %s\n", text);
    fflush(net_out);
    *n = 0;
    if (!fgets(line, sizeof line, net_in))
        return snprintf(err, cap, "connection closed"), -1;
    if (strncmp(line, "OK ", 3) != 0)
        return snprintf(err, cap, "%.200s", line), -1;
    while (fgets(line, sizeof line, net_in) && strcmp(line, "END\n") != 0) {
        /* HIT <rank>\t<score>\t<id>\t<title>\t<snippet> */
        char *a = strchr(line, '\t'), *b = a ? strchr(a + 1, '\t') : NULL, *e = b ? strchr(b + 1, '\t') : NULL;
        if (e && *n < 10)
            ids[(*n)++] = strndup(b + 1, (size_t)(e - b - 1));
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: eval_quality INDEX QUERIES.jsonl [--show-misses]\n");
        return 2;
    }
    int show = argc > 3 && strcmp(argv[3], "--show-misses") == 0;
    ks_errbuf eb = { "" };
    ks_searcher *s = NULL;
    int net = strchr(argv[1], ':') != NULL;
    if (net ? net_open(argv[1]) != 0 : ks_searcher_open(argv[1], &s, &eb) != 0) {
        fprintf(stderr, "eval_quality: %s\n", net ? "cannot connect" : eb.msg);
        return 2;
    }
    FILE *f = fopen(argv[2], "r");
    if (!f) {
        perror(argv[2]);
        return 2;
    }
    ks_search_opts o;
    ks_search_opts_default(&o);
    agg a[MAX_KINDS], all = { "all", 0, 0, 0, 0, 0, 0 };
    int na = 0;
    memset(a, 0, sizeof a);
    char line[65536];
    while (fgets(line, sizeof line, f)) {
        json_t *q = json_loads(line, 0, NULL);
        if (!q)
            continue;
        const char *kind = json_string_value(json_object_get(q, "kind"));
        const char *text = json_string_value(json_object_get(q, "query"));
        json_t *rel = json_object_get(q, "relevant");
        agg *k = kind_agg(a, &na, kind ? kind : "?");
        ks_results r;
        memset(&r, 0, sizeof r);
        double rr = 0, rec = 0, suc = 0;
        char *ids[10];
        size_t nids = 0;
        int err;
        if (net) {
            err = net_search(text, ids, &nids, eb.msg, sizeof eb.msg);
        } else {
            err = ks_search(s, text, strlen(text), &o, &r, &eb);
            for (size_t i = 0; !err && i < r.n && i < 10; i++)
                ids[nids++] = strdup(r.hits[i].id);
        }
        if (err) {
            k->errors++;
            all.errors++;
            if (show)
                printf("ERROR %s: %s\n", text, eb.msg);
        } else {
            size_t nrel = json_array_size(rel), found = 0;
            for (size_t i = 0; i < nids; i++) {
                for (size_t j = 0; j < nrel; j++)
                    if (strcmp(ids[i], json_string_value(json_array_get(rel, j))) == 0) {
                        found++;
                        if (rr == 0)
                            rr = 1.0 / (double)(i + 1);
                        break;
                    }
            }
            rec = nrel ? (double)found / (double)nrel : 0;
            suc = found > 0;
            if (nids == 0) {
                k->empty++;
                all.empty++;
            }
            if (show && rr == 0)
                printf("MISS [%s] %s  (total %llu) plan=%s\n", kind, text, (unsigned long long)r.total,
                       r.plan ? r.plan : "-");
            for (size_t i = 0; i < nids; i++)
                free(ids[i]);
            ks_results_free(&r);
        }
        k->n++;
        all.n++;
        k->mrr += rr;
        all.mrr += rr;
        k->recall += rec;
        all.recall += rec;
        k->success += suc;
        all.success += suc;
        json_decref(q);
    }
    fclose(f);
    printf("kind         queries  MRR@10    Recall@10   Success@10   empty / errors\n");
    for (int i = 0; i < na; i++)
        print_row(&a[i]);
    print_row(&all);
    if (s)
        ks_searcher_close(s);
    return 0;
}
