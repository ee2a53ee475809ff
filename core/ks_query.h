/* Query language v1: parses a user's query string into a ks_query tree
 * (an AND of OR-groups of words and phrases, with exclusions and a title:
 * field). A later stage analyzes each item's text and compiles the tree for
 * Xapian or the native engine; this module does no linguistic processing. */
#ifndef KS_QUERY_H
#define KS_QUERY_H

#include <stdbool.h>
#include <stddef.h>

#include "ks_error.h"

/* Limits; exceeding one makes ks_query_parse() fail with KS_ETOOBIG. */
#define KS_QUERY_MAX_BYTES 4096       /* bytes in the query string */
#define KS_QUERY_MAX_ITEMS 32         /* items (words and phrases, excluded ones too) */
#define KS_QUERY_MAX_PHRASE_WORDS 16  /* whitespace-separated words in one phrase */
#define KS_QUERY_MAX_OR_ITEMS 8       /* alternatives in one OR group */

/* Which part of a document an item must match. */
typedef enum ks_query_field {
    KS_FIELD_ANY = 0,   /* any indexed text (no prefix) */
    KS_FIELD_TITLE = 1  /* the title only (`title:` prefix) */
} ks_query_field;

/* One word or phrase. */
typedef struct ks_query_item {
    const char *text;      /* NUL-terminated valid UTF-8, never empty, no leading or trailing whitespace; a word has no whitespace at all, a phrase keeps its internal whitespace verbatim; owned by the ks_query */
    size_t text_len;       /* bytes in text, excluding the NUL */
    size_t n_words;        /* whitespace-separated words in text: 1 for a word, 1..KS_QUERY_MAX_PHRASE_WORDS for a phrase */
    ks_query_field field;  /* where it must match */
    bool is_phrase;        /* true: written in double quotes, words must appear consecutively; false: a single word */
    bool negated;          /* true: written with a leading `-`; documents containing it are excluded */
} ks_query_item;

/* Alternatives: a document matches the group if it matches any item. */
typedef struct ks_query_group {
    const ks_query_item *items;  /* n_items consecutive entries of ks_query.items */
    size_t n_items;              /* 1..KS_QUERY_MAX_OR_ITEMS; a group holding a negated item holds only that item */
} ks_query_group;

/* A parsed query: a document matches if it matches every group whose item
 * is not negated and contains no negated item. Read-only for callers; all
 * memory (groups, items, texts) belongs to it and is released by
 * ks_query_free(). */
typedef struct ks_query {
    const ks_query_group *groups;  /* n_groups groups, in query order */
    size_t n_groups;               /* >= 1 */
    const ks_query_item *items;    /* every item, in query order; groups partition this array */
    size_t n_items;                /* 1..KS_QUERY_MAX_ITEMS */
    size_t n_negated;              /* how many items are negated; always < n_items */
} ks_query;

/* Parses the query q[0..len) (UTF-8, need not be NUL-terminated; q may be
 * NULL when len is 0). Grammar, v1:
 *   - Items are separated by whitespace: any code point for which ICU's
 *     u_isUWhiteSpace() is true (space, tab, newline, U+00A0, U+3000 ...).
 *   - `"some words"` is a phrase. It runs to the next `"`, or to the end of
 *     the query if unterminated (not an error). Whitespace at its ends is
 *     trimmed; an empty or all-whitespace phrase is ignored as if absent.
 *     A `"` opens a phrase only at the start of an item (after the optional
 *     `-` and `title:`); elsewhere it is part of the word. After a closing
 *     `"`, a new item starts even without whitespace (`"a"b` is "a", b).
 *   - Otherwise an item is a word: everything up to the next whitespace.
 *   - A leading `-` followed by something excludes the item (`-광고`,
 *     `-"a b"`, `-title:x`). A `-` on its own, later in a word (`e-mail`),
 *     or a second one (`--x` excludes the word `-x`) is plain text.
 *   - `title:` followed by something restricts the item to the title
 *     (`title:뉴스`, `title:"a b"`). Field names are case-sensitive; any
 *     other `name:` (`http://x`, `foo:bar`, `Title:x`) is plain text, and so
 *     is a bare `title:`.
 *   - All groups must match (AND). The token `OR` (exactly these two upper
 *     case letters, standing alone) joins the items on either side into one
 *     group of alternatives: `a b OR c d` is a AND (b OR c) AND d, and
 *     `a OR b OR c` is one group. `or` is an ordinary word; so is `"OR"`
 *     (a one-word phrase).
 * Errors are checked in this order, and the first one found is returned:
 *   KS_EINVAL  out is NULL, or q is NULL with len > 0;
 *   KS_ETOOBIG len > KS_QUERY_MAX_BYTES;
 *   KS_EUTF8   q is not valid UTF-8 (ICU U8_NEXT rules: no overlongs,
 *              surrogates or truncated sequences);
 *   KS_EINVAL  q contains U+0000;
 *   then, reading left to right:
 *   KS_EINVAL  "OR needs a word on each side" (OR first, last, or doubled;
 *              an ignored empty phrase does not count as a word);
 *   KS_EINVAL  an excluded item next to OR ("... cannot be part of an OR group");
 *   KS_ETOOBIG a phrase, the item count or an OR group exceeds its limit;
 *   and finally
 *   KS_EINVAL  "query has no words to search for": no item that is not
 *              excluded (empty, all whitespace, only exclusions).
 *   KS_ENOMEM  allocation failed.
 * On success *out is a new query owned by the caller (free with
 * ks_query_free()); on failure *out is NULL and eb (if non-NULL) holds a
 * message fit to show the user. Thread-safe: no shared state. */
int ks_query_parse(const char *q, size_t len, ks_query **out /* OUT */,
                   ks_errbuf *eb);

/* Releases q and everything it owns. NULL is a no-op. */
void ks_query_free(ks_query *q);

/* Writes a canonical one-line rendering of q into buf, for debugging and
 * tests, snprintf-style: at most cap - 1 bytes plus a NUL when cap > 0
 * (buf may be NULL when cap is 0). Returns the length of the full
 * rendering, excluding the NUL, even when it did not fit; KS_EINVAL if q is
 * NULL or buf is NULL with cap > 0. Format:
 *   query := "AND(" group { ", " group } ")"
 *   group := "OR(" item { ", " item } ")"      -- positive alternatives
 *          | "NOT(" item ")"                    -- an excluded item
 *   item  := [ "title:" ] ( "word:" | "phrase:" ) '"' text '"'
 * text is the item's UTF-8 text with `"` and `\` written as `\"` and `\\`,
 * and every control, format (Cc, Cf) or whitespace code point other than
 * U+0020 written as `\u{XXXX}` (upper-case hex, at least 4 digits), so the
 * output is one line and invisible characters show. Example:
 *   카카오 "인공 지능" -광고 title:뉴스 OR 기사  ->
 *   AND(OR(word:"카카오"), OR(phrase:"인공 지능"), NOT(word:"광고"),
 *       OR(title:word:"뉴스", word:"기사"))       (on one line)
 * Thread-safe for concurrent calls on the same query. */
int ks_query_describe(const ks_query *q, char *buf, size_t cap);

#endif
