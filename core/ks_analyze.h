/* The analyzer: UTF-8 text in, index terms with positions and source byte
 * offsets out. One code path serves documents (indexer) and queries (searchd),
 * so both always agree on what a term is. See analyze.c for the design and
 * the measurements behind it. */
#ifndef KS_ANALYZE_H
#define KS_ANALYZE_H

#include <stddef.h>
#include <stdint.h>

#include "ks_error.h"

/* Kinds of term the analyzer emits. */
enum ks_term_kind {
    KS_TERM_WORD = 0,    /* a whole lower-cased Latin/digit (or other alphabetic script) word */
    KS_TERM_UNIGRAM = 1, /* one Hangul/Han/Kana character */
    KS_TERM_BIGRAM = 2   /* two consecutive characters of one Hangul/Han/Kana run */
};

/* Which unigrams a document run yields (queries never need more than the
 * one-character runs). */
enum ks_unigram_mode {
    KS_UNIGRAMS_ALL = 0,  /* every character: a one-syllable query is one exact term (default) */
    KS_UNIGRAMS_TAIL = 1, /* only a run's last character (a one-syllable query would need prefix expansion) */
    KS_UNIGRAMS_NONE = 2  /* only one-character runs (one-syllable queries miss words containing them) */
};

#define KS_PREFIX_TITLE "S"    /* Xapian prefix of title-field terms */
#define KS_MAX_WORD_BYTES 64   /* longer words are cut at a character boundary */
#define KS_MAX_INPUT_BYTES (64u << 20) /* one text field at most; larger is KS_ETOOBIG */

typedef struct ks_analyzer_opts {
    int unigrams;      /* enum ks_unigram_mode */
    int query;         /* query mode: no unigrams inside runs of two or more */
    int icu_only;      /* tests: every character through ICU's normaliser and script lookup
                          (no shortcut for ASCII and Hangul syllables); the same terms, slower */
} ks_analyzer_opts;

/* Default options for documents: all unigrams. */
ks_analyzer_opts ks_analyzer_default_opts(void);

typedef struct ks_term {
    uint32_t off;    /* offset of the term's UTF-8 bytes in ks_terms.text (not NUL-terminated) */
    uint16_t len;    /* length of the term in bytes */
    uint8_t kind;    /* enum ks_term_kind */
    uint8_t run_len_1; /* 1 when the term is a one-character run (a unigram standing alone) */
    uint32_t pos;    /* position: character offset, spaces and punctuation not counted */
    uint32_t start;  /* byte offset in the original input where the term's source text starts */
    uint32_t end;    /* byte offset just past its source text */
} ks_term;

/* Growable output of ks_analyze(). Zero-initialise, reuse across calls with
 * ks_terms_reset(), release with ks_terms_free(). Owned by the caller. */
typedef struct ks_terms {
    ks_term *a;          /* the terms, in order of position */
    size_t n;            /* number of terms */
    size_t cap;          /* allocated slots in a */
    char *text;          /* term bytes arena */
    size_t text_len;     /* bytes used in text */
    size_t text_cap;     /* bytes allocated in text */
    size_t n_invalid;    /* invalid UTF-8 sequences replaced by U+FFFD so far */
    uint32_t next_pos;   /* first position after the last token of the last call */
    const uint64_t *keep; /* optional filter, set by the caller (not owned; NULL: every term):
                             KS_TERMS_KEEP_BITS bits; a term is stored only when the bit of its
                             first code point (mod KS_TERMS_KEEP_BITS) is set. Positions count as
                             without it. Snippets keep only what can match a query term. */
} ks_terms;

#define KS_TERMS_KEEP_BITS 1024

/* Sets c's bit in keep[KS_TERMS_KEEP_BITS / 64]. */
static inline void ks_terms_keep_set(uint64_t *keep, uint32_t c)
{
    c %= KS_TERMS_KEEP_BITS;
    keep[c / 64] |= 1ull << (c % 64);
}

void ks_terms_reset(ks_terms *t);
void ks_terms_free(ks_terms *t);

/* Term i's bytes (not NUL-terminated; length t->a[i].len). */
static inline const char *ks_term_text(const ks_terms *t, size_t i)
{
    return t->text + t->a[i].off;
}

/* An analyzer holds ICU handles and scratch buffers: one per thread. */
typedef struct ks_analyzer ks_analyzer;

/* Creates an analyzer with opts (NULL: defaults). Returns 0 or KS_ENOMEM /
 * KS_EUNSUPPORTED (ICU data missing) with detail in eb. Caller frees with
 * ks_analyzer_free(). */
int ks_analyzer_new(const ks_analyzer_opts *opts, ks_analyzer **out /* OUT */, ks_errbuf *eb);
void ks_analyzer_free(ks_analyzer *a);

/* Analyses len bytes of UTF-8 at s and APPENDS the terms to out, positions
 * starting at pos_base; byte offsets are relative to s. Invalid UTF-8 is
 * replaced by U+FFFD (a separator) and counted in out->n_invalid; it is not
 * an error. Sets out->next_pos. Returns 0, KS_ENOMEM, or KS_ETOOBIG when
 * len > KS_MAX_INPUT_BYTES. Not thread-safe for one analyzer. */
int ks_analyze(ks_analyzer *a, const char *s, size_t len, uint32_t pos_base, ks_terms *out);

#endif
