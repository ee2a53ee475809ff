/* Snippets and highlighting: finds where a plan's words and phrases occur in
 * a stored text (by the analyzer's positions and byte offsets, so a match is
 * exactly what the engine matched: 카카오 in 카카오는, 인공지능 across
 * "인공 지능"), picks the window with the densest cluster of matches and marks
 * them. Called by the searcher for every hit on a result page. */
#ifndef KS_SNIPPET_H
#define KS_SNIPPET_H

#include <stddef.h>
#include <stdint.h>

#include "ks_analyze.h"
#include "ks_plan.h"

typedef struct ks_snippet_opts {
    const char *open;       /* marker before a match, e.g. "[" */
    const char *close;      /* marker after a match, e.g. "]" */
    size_t max_chars;       /* window length in characters; 0: the whole text */
    int title;              /* the text is a title: title: items highlight too */
    uint32_t **ranges;      /* if not NULL: gets a malloc'd array (caller frees) of start,end byte
                             * offset pairs into *out, one pair per marked match, between its markers;
                             * exact whatever bytes the text or the markers hold (NULL when none) */
    size_t *n_ranges;       /* if ranges: number of pairs */
    ks_analyzer *lean;      /* optional: a query-mode analyzer, used instead of the document-mode
                             * one when no highlight term is a single non-ASCII character (the
                             * only terms a query-mode analysis drops are the unigrams inside
                             * CJK runs): the same matches from half the terms */
} ks_snippet_opts;

/* Writes the snippet of text[0..len) into a malloc'd NUL-terminated *out
 * (caller frees; length in *out_len): at most max_chars characters (plus
 * markers and an ellipsis where it was cut), newlines and tabs turned into
 * spaces, cut only at character boundaries. *n_matches says how many
 * matches it found in the whole text. an is a document-mode analyzer.
 * Returns 0 or KS_ENOMEM. */
int ks_snippet_make(ks_analyzer *an, const ks_plan *plan, const char *text, size_t len, const ks_snippet_opts *o,
                    char **out /* OUT */, size_t *out_len /* OUT */, size_t *n_matches /* OUT */);

#endif
