/* libFuzzer target for the query parser: parse, check the tree's documented
 * invariants, describe (full and truncated), write the tree back as query
 * text and check that it parses to the same tree; then free. Built by
 * `make fuzz-query`; tests/fuzz/fuzz_query_replay.c replays the seeds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unicode/uchar.h>
#include <unicode/utf8.h>

#include "ks_query.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whitespace-separated words in s[0..n), and whether s has whitespace at
 * either end. */
static size_t count_words(const char *s, size_t n, int *edge_ws /* OUT */)
{
    const uint8_t *u = (const uint8_t *)s;
    int32_t i = 0, len = (int32_t)n;
    size_t words = 0;
    int in_word = 0, first = 1, last_ws = 0;
    *edge_ws = 0;
    while (i < len) {
        UChar32 c;
        U8_NEXT(u, i, len, c);
        CHECK(c > 0);  /* valid UTF-8, no NUL */
        int ws = u_isUWhiteSpace(c);
        if (first && ws)
            *edge_ws = 1;
        first = 0;
        if (!ws && !in_word)
            words++;
        in_word = !ws;
        last_ws = ws;
    }
    if (last_ws)
        *edge_ws = 1;
    return words;
}

static void check_tree(const ks_query *q)
{
    CHECK(q->n_groups >= 1);
    CHECK(q->n_items >= 1 && q->n_items <= KS_QUERY_MAX_ITEMS);
    CHECK(q->n_negated < q->n_items);
    size_t seen = 0, negated = 0;
    for (size_t g = 0; g < q->n_groups; g++) {
        const ks_query_group *grp = &q->groups[g];
        CHECK(grp->n_items >= 1 && grp->n_items <= KS_QUERY_MAX_OR_ITEMS);
        CHECK(grp->items == q->items + seen);  /* groups partition items */
        for (size_t i = 0; i < grp->n_items; i++) {
            const ks_query_item *it = &grp->items[i];
            CHECK(!it->negated || grp->n_items == 1);
            negated += it->negated;
            CHECK(it->field == KS_FIELD_ANY || it->field == KS_FIELD_TITLE);
            CHECK(it->text_len > 0 && strlen(it->text) == it->text_len);
            int edge_ws;
            size_t words = count_words(it->text, it->text_len, &edge_ws);
            CHECK(!edge_ws);
            CHECK(words == it->n_words);
            if (it->is_phrase) {
                CHECK(words >= 1 && words <= KS_QUERY_MAX_PHRASE_WORDS);
                CHECK(!strchr(it->text, '"'));
            } else {
                CHECK(words == 1);
            }
        }
        seen += grp->n_items;
    }
    CHECK(seen == q->n_items);
    CHECK(negated == q->n_negated);
}

/* Renders q, checking the snprintf contract; caller frees. */
static char *describe(const ks_query *q)
{
    int n = ks_query_describe(q, NULL, 0);
    CHECK(n > 0);
    char *buf = malloc((size_t)n + 1);
    CHECK(buf);
    CHECK(ks_query_describe(q, buf, (size_t)n + 1) == n);
    CHECK(strlen(buf) == (size_t)n);
    for (int i = 0; i < n; i++)
        CHECK((unsigned char)buf[i] >= 0x20 && buf[i] != 0x7F);  /* one line */
    char small[8];
    CHECK(ks_query_describe(q, small, sizeof small) == n);
    CHECK(strlen(small) == (n < 7 ? (size_t)n : 7));
    CHECK(memcmp(small, buf, strlen(small)) == 0);
    return buf;
}

/* Writes q back in the query language: every item is expressible, because
 * a positive unfielded word is never `OR`, never starts with `"`, and
 * starts with `-` or `title:` only when it is exactly `-` or `title:`. */
static size_t unparse(const ks_query *q, char *buf, size_t cap)
{
    size_t n = 0;
#define EMIT(str, len)                                                     \
    do {                                                                   \
        if (n + (len) <= cap)                                              \
            memcpy(buf + n, (str), (len));                                 \
        n += (len);                                                        \
    } while (0)
    for (size_t g = 0; g < q->n_groups; g++) {
        const ks_query_group *grp = &q->groups[g];
        for (size_t i = 0; i < grp->n_items; i++) {
            const ks_query_item *it = &grp->items[i];
            if (g > 0 || i > 0)
                EMIT(i > 0 ? " OR " : " ", i > 0 ? 4u : 1u);
            if (it->negated)
                EMIT("-", 1u);
            if (it->field == KS_FIELD_TITLE)
                EMIT("title:", 6u);
            if (it->is_phrase)
                EMIT("\"", 1u);
            EMIT(it->text, it->text_len);
            if (it->is_phrase)
                EMIT("\"", 1u);
        }
    }
#undef EMIT
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ks_errbuf eb;
    ks_query *q = (ks_query *)(uintptr_t)1;
    int rc = ks_query_parse((const char *)data, size, &q, &eb);
    if (rc != 0) {
        CHECK(q == NULL);
        CHECK(rc == KS_EINVAL || rc == KS_EUTF8 || rc == KS_ETOOBIG);
        CHECK(memchr(eb.msg, '\0', sizeof eb.msg) && eb.msg[0] != '\0');
        return 0;
    }
    CHECK(q != NULL);
    check_tree(q);
    char *d1 = describe(q);

    char text[KS_QUERY_MAX_BYTES];
    size_t n = unparse(q, text, sizeof text);
    if (n <= sizeof text) {
        ks_query *q2 = NULL;
        rc = ks_query_parse(text, n, &q2, &eb);
        if (rc != 0)
            fprintf(stderr, "re-parse failed: %s\n", eb.msg);
        CHECK(rc == 0);
        char *d2 = describe(q2);
        if (strcmp(d1, d2) != 0)
            fprintf(stderr, "round trip differs:\n  %s\n  %s\n", d1, d2);
        CHECK(strcmp(d1, d2) == 0);
        free(d2);
        ks_query_free(q2);
    }
    free(d1);
    ks_query_free(q);
    return 0;
}
