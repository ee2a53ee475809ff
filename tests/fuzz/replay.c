/* Runs a fuzz target once on every file of its seed corpus
 * (tests/fuzz/corpus/KS_FUZZ_CORPUS, found via $KS_SRCDIR) so `make check`
 * keeps the target compiling and replays the seeds and crash regressions
 * under the sanitizers, without libFuzzer. Prints TAP: one test per file.
 * Linked with one target; KS_FUZZ_CORPUS names its corpus folder. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads a whole file; returns a malloc'd buffer or NULL. */
static uint8_t *slurp(const char *path, size_t *len /* OUT */)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        uint8_t *bigger = realloc(buf, cap * 2);
        if (!bigger) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    if (buf && ferror(f)) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = n;
    return buf;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void)
{
    const char *src = getenv("KS_SRCDIR");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/" KS_FUZZ_CORPUS, src ? src : ".");
    DIR *d = opendir(dir);
    if (!d) {
        printf("Bail out! cannot open %s\n", dir);
        return 1;
    }
    char *names[1024];
    size_t count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && count < sizeof names / sizeof names[0]) {
        if (e->d_name[0] == '.')
            continue;
        names[count] = strdup(e->d_name);
        if (!names[count]) {
            printf("Bail out! out of memory\n");
            return 1;
        }
        count++;
    }
    closedir(d);
    qsort(names, count, sizeof names[0], by_name);

    printf("1..%zu\n", count);
    int failed = 0;
    for (size_t i = 0; i < count; i++) {
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        size_t len = 0;
        uint8_t *data = slurp(path, &len);
        if (!data) {
            printf("not ok %zu - %s (cannot read)\n", i + 1, names[i]);
            failed = 1;
        } else {
            /* A broken invariant aborts, which the TAP driver reports. */
            LLVMFuzzerTestOneInput(data, len);
            printf("ok %zu - %s\n", i + 1, names[i]);
            free(data);
        }
        fflush(stdout);
        free(names[i]);
    }
    return failed;
}
