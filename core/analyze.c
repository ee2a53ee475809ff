/* The analyzer: ICU normalisation (NFKC + case folding) and script-based
 * tokenisation into Korean/CJK character n-grams and whole Latin words.
 * Called by the indexer for every field and by searchd for every query word.
 *
 * Design (measured; figures and commands in bench/RESULTS.md, "Analyzer"):
 * - Positions are character offsets in which spaces and punctuation do not
 *   count: a bigram at character i has position i, a Latin word takes one
 *   position. So "인공지능" (인공@0 공지@1 지능@2) and "인공 지능" (인공@0
 *   지능@2) hold 인공 and 지능 at the same relative positions, and a query
 *   can meet either spacing with position checks alone (core/plan.c).
 * - Every CJK character is also a unigram (KS_UNIGRAMS_ALL): a one-syllable
 *   query (책) is one exact term that finds 책을 and 교과서책 alike, and both
 *   engines score it identically (prefix expansion, the alternative, would
 *   make the score depend on an estimated synonym frequency). The index
 *   stores positions only for unigrams that are words of their own (ks_term
 *   .run_len_1), the only ones a phrase can need (core/document.c).
 * - Measured and dropped: "join" bigrams spanning the space between two
 *   Hangul words (indexed 공지 for "인공 지능"). They made spacing variants one
 *   term lookup but cost 25% of build time and 34% of index size (every
 *   distinct pair across a space is a new term); the query side does it now.
 * - The hot path avoids normalising: unorm2_spanQuickCheckYes() lets runs that
 *   are already NFKC_Casefold (almost all Korean text) through untouched; only
 *   the segments between normalisation boundaries around other characters are
 *   normalised, so every output character still maps to its source bytes. */
#include "ks_grow.h"
#include "ks_analyze.h"

#include <stdlib.h>
#include <string.h>

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/uscript.h>
#include <unicode/utf16.h>
#include <unicode/utf8.h>

enum { CLS_SPACE, CLS_PUNCT, CLS_MARK, CLS_WORD, CLS_CJK };

typedef struct run_char {
    UChar32 c;       /* normalised code point */
    uint32_t start;  /* source byte range */
    uint32_t end;
} run_char;

struct ks_analyzer {
    ks_analyzer_opts o;
    const UNormalizer2 *nfkc_cf;
    /* source as UTF-16, with the source byte range of each unit */
    UChar *u16;
    uint32_t *u16_start, *u16_end;
    size_t u16_cap;
    /* normalised text, with the source byte range of each unit */
    UChar *nrm;
    uint32_t *nrm_start, *nrm_end;
    size_t nrm_len, nrm_cap;
    UChar *tmp;           /* one normalised segment */
    size_t tmp_cap;
    run_char *run;        /* the current CJK run or word */
    size_t run_cap;
    /* ICU's answers for recently seen code points (direct-mapped): Korean
     * text repeats a few hundred syllables, so most lookups stop here */
    struct {
        UChar32 c;        /* -1: empty */
        int8_t cls;       /* CLS_* */
        int16_t script;   /* UScriptCode */
    } memo[1024];
};

ks_analyzer_opts ks_analyzer_default_opts(void)
{
    ks_analyzer_opts o = { KS_UNIGRAMS_ALL, 0, 0 };
    return o;
}

int ks_analyzer_new(const ks_analyzer_opts *opts, ks_analyzer **out, ks_errbuf *eb)
{
    *out = NULL;
    ks_analyzer *a = calloc(1, sizeof *a);
    if (!a)
        return ks_seterr(eb, KS_ENOMEM, "out of memory creating analyzer");
    a->o = opts ? *opts : ks_analyzer_default_opts();
    for (size_t i = 0; i < sizeof a->memo / sizeof a->memo[0]; i++)
        a->memo[i].c = -1;
    UErrorCode ec = U_ZERO_ERROR;
    a->nfkc_cf = unorm2_getNFKCCasefoldInstance(&ec);
    if (U_FAILURE(ec)) {
        free(a);
        return ks_seterr(eb, KS_EUNSUPPORTED, "ICU NFKC_Casefold data unavailable: %s", u_errorName(ec));
    }
    *out = a;
    return 0;
}

void ks_analyzer_free(ks_analyzer *a)
{
    if (!a)
        return;
    free(a->u16);
    free(a->u16_start);
    free(a->u16_end);
    free(a->nrm);
    free(a->nrm_start);
    free(a->nrm_end);
    free(a->tmp);
    free(a->run);
    free(a);
}

void ks_terms_reset(ks_terms *t)
{
    t->n = 0;
    t->text_len = 0;
    t->n_invalid = 0;
    t->next_pos = 0;
}

void ks_terms_free(ks_terms *t)
{
    free(t->a);
    free(t->text);
    memset(t, 0, sizeof *t);
}

static int grow3(UChar **u, uint32_t **s, uint32_t **e, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 256;
    while (ncap < need)
        ncap *= 2;
    UChar *nu = realloc(*u, ncap * sizeof **u);
    if (nu)
        *u = nu;
    uint32_t *ns = realloc(*s, ncap * sizeof **s);
    if (ns)
        *s = ns;
    uint32_t *ne = realloc(*e, ncap * sizeof **e);
    if (ne)
        *e = ne;
    if (!nu || !ns || !ne)
        return KS_ENOMEM;
    *cap = ncap;
    return 0;
}

/* UTF-8 -> UTF-16 with per-unit source ranges; invalid sequences -> U+FFFD. */
static int decode(ks_analyzer *a, const char *s, size_t len, size_t *n16, size_t *n_invalid)
{
    if (grow3(&a->u16, &a->u16_start, &a->u16_end, &a->u16_cap, len + 1))
        return KS_ENOMEM;
    const uint8_t *u = (const uint8_t *)s;
    int32_t i = 0, n = (int32_t)len;
    size_t k = 0;
    while (i < n) {
        int32_t st = i;
        UChar32 c;
        U8_NEXT(u, i, n, c);
        if (c < 0) {
            c = 0xFFFD;
            (*n_invalid)++;
        }
        if (c <= 0xFFFF) {
            a->u16[k] = (UChar)c;
            a->u16_start[k] = (uint32_t)st;
            a->u16_end[k++] = (uint32_t)i;
        } else {
            a->u16[k] = U16_LEAD(c);
            a->u16_start[k] = (uint32_t)st;
            a->u16_end[k++] = (uint32_t)i;
            a->u16[k] = U16_TRAIL(c);
            a->u16_start[k] = (uint32_t)st;
            a->u16_end[k++] = (uint32_t)i;
        }
    }
    *n16 = k;
    return 0;
}

static int nrm_append(ks_analyzer *a, const UChar *src, size_t n, const uint32_t *st,
                      const uint32_t *en, uint32_t seg_start, uint32_t seg_end)
{
    if (n == 0)
        return 0;
    if (grow3(&a->nrm, &a->nrm_start, &a->nrm_end, &a->nrm_cap, a->nrm_len + n))
        return KS_ENOMEM;
    memcpy(a->nrm + a->nrm_len, src, n * sizeof *src);
    if (st) {
        memcpy(a->nrm_start + a->nrm_len, st, n * sizeof *st);
        memcpy(a->nrm_end + a->nrm_len, en, n * sizeof *en);
    } else {
        for (size_t k = 0; k < n; k++) {
            a->nrm_start[a->nrm_len + k] = seg_start;
            a->nrm_end[a->nrm_len + k] = seg_end;
        }
    }
    a->nrm_len += n;
    return 0;
}

/* ASCII and precomposed Hangul syllables: NFKC_Casefold maps each to itself
 * (A-Z to a-z), and none combines with the character before it
 * (test_analyze checks both against ICU for every one of them). */
static inline int simple_unit(UChar c)
{
    return c < 0x80 || (c >= 0xAC00 && c <= 0xD7A3);
}

/* Swaps the decoded and the normalised buffers (both grown by grow3). */
static void swap_buffers(ks_analyzer *a)
{
    UChar *u = a->u16;
    uint32_t *st = a->u16_start, *en = a->u16_end;
    size_t cap = a->u16_cap;
    a->u16 = a->nrm;
    a->u16_start = a->nrm_start;
    a->u16_end = a->nrm_end;
    a->u16_cap = a->nrm_cap;
    a->nrm = u;
    a->nrm_start = st;
    a->nrm_end = en;
    a->nrm_cap = cap;
}

static void lower_ascii(UChar *u, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (u[k] >= 'A' && u[k] <= 'Z')
            u[k] = (UChar)(u[k] + 32);
}

/* NFKC_Casefold of u16[from..to) into nrm through ICU, keeping source
 * ranges; u16[to] (if any) starts a normalisation segment. Spans that pass
 * the quick check are copied; the rest is normalised one boundary-delimited
 * segment at a time (each output unit maps to its whole segment). */
static int normalize_icu(ks_analyzer *a, size_t i, size_t n)
{
    const UNormalizer2 *N = a->nfkc_cf;
    while (i < n) {
        UErrorCode ec = U_ZERO_ERROR;
        int32_t sp = unorm2_spanQuickCheckYes(N, a->u16 + i, (int32_t)(n - i), &ec);
        if (U_FAILURE(ec))
            sp = 0;
        if (sp > 0 &&
            nrm_append(a, a->u16 + i, (size_t)sp, a->u16_start + i, a->u16_end + i, 0, 0))
            return KS_ENOMEM;
        i += (size_t)sp;
        if (i >= n)
            break;
        size_t j = i;
        U16_FWD_1(a->u16, j, n);
        while (j < n) {
            size_t k = j;
            UChar32 c;
            U16_NEXT(a->u16, k, n, c);
            if (unorm2_hasBoundaryBefore(N, c))
                break;
            j = k;
        }
        for (;;) {
            ec = U_ZERO_ERROR;
            int32_t m = unorm2_normalize(N, a->u16 + i, (int32_t)(j - i), a->tmp,
                                         (int32_t)a->tmp_cap, &ec);
            if (ec == U_BUFFER_OVERFLOW_ERROR) {
                if (ks_grow((void **)&a->tmp, &a->tmp_cap, (size_t)m + 1, sizeof *a->tmp))
                    return KS_ENOMEM;
                continue;
            }
            if (U_FAILURE(ec))
                m = 0; /* cannot happen for valid UTF-16; drop the segment rather than fail */
            if (nrm_append(a, a->tmp, (size_t)m, NULL, NULL, a->u16_start[i], a->u16_end[j - 1]))
                return KS_ENOMEM;
            break;
        }
        i = j;
    }
    return 0;
}

/* NFKC_Casefold of u16[0..n) into nrm, keeping source ranges. Runs of ASCII
 * and Hangul syllables (almost all Korean text) are copied with A-Z lowered,
 * without asking ICU; a text of nothing else is not even copied (the
 * buffers are swapped). The last unit of a run before anything else goes
 * to ICU with what follows, which may combine with it (e + U+0301). */
static int normalize(ks_analyzer *a, size_t n)
{
    a->nrm_len = 0;
    if (a->o.icu_only)
        return normalize_icu(a, 0, n);
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && simple_unit(a->u16[j]))
            j++;
        if (i == 0 && j == n) {
            swap_buffers(a);
            lower_ascii(a->nrm, n);
            a->nrm_len = n;
            return 0;
        }
        if (j < n && j > i)
            j--;
        if (j > i) {
            if (nrm_append(a, a->u16 + i, j - i, a->u16_start + i, a->u16_end + i, 0, 0))
                return KS_ENOMEM;
            lower_ascii(a->nrm + a->nrm_len - (j - i), j - i);
            i = j;
        }
        if (i >= n)
            break;
        /* ICU up to the next simple unit after the others: a segment boundary */
        size_t lim = i + 1;
        while (lim < n && !simple_unit(a->u16[lim]))
            lim++;
        if (normalize_icu(a, i, lim))
            return KS_ENOMEM;
        i = lim;
    }
    return 0;
}

static int classify_icu(UChar32 c, UScriptCode *script)
{
    UErrorCode ec = U_ZERO_ERROR;
    UScriptCode s = uscript_getScript(c, &ec);
    /* Kana marks such as U+30FC are script Common with Kana in their script
     * extensions; checking only from the CJK blocks on keeps digits and ASCII
     * punctuation off this slower call. */
    if (s == USCRIPT_COMMON && c >= 0x2E80 && uscript_hasScript(c, USCRIPT_KATAKANA))
        s = USCRIPT_KATAKANA;
    switch (s) {
    case USCRIPT_HANGUL:
    case USCRIPT_HAN:
    case USCRIPT_HIRAGANA:
    case USCRIPT_KATAKANA:
        *script = s;
        return CLS_CJK;
    case USCRIPT_INHERITED:
        return CLS_MARK;
    default:
        break;
    }
    if (u_isalnum(c)) {
        *script = s;
        return CLS_WORD;
    }
    int8_t gc = u_charType(c);
    if (gc == U_NON_SPACING_MARK || gc == U_COMBINING_SPACING_MARK || gc == U_ENCLOSING_MARK)
        return CLS_MARK;
    return u_isUWhiteSpace(c) ? CLS_SPACE : CLS_PUNCT;
}

static int classify(ks_analyzer *a, UChar32 c, UScriptCode *script)
{
    /* Hangul syllables, most of the text: 11,172 of them would crowd the
     * memo (test_shortcut_matches_icu checks this against ICU) */
    if (c >= 0xAC00 && c <= 0xD7A3 && !a->o.icu_only) {
        *script = USCRIPT_HANGUL;
        return CLS_CJK;
    }
    size_t k = (size_t)c & (sizeof a->memo / sizeof a->memo[0] - 1);
    if (a->memo[k].c != c) {
        UScriptCode s = USCRIPT_COMMON;
        a->memo[k].cls = (int8_t)classify_icu(c, &s);
        a->memo[k].script = (int16_t)s;
        a->memo[k].c = c;
    }
    *script = (UScriptCode)a->memo[k].script;
    return a->memo[k].cls;
}

/* Appends one term whose text is the UTF-8 of chars[0..nc). */
static int push_term(ks_terms *out, int kind, uint32_t pos, const run_char *chars, size_t nc,
                     size_t max_bytes, int alone)
{
    uint32_t k = (uint32_t)chars[0].c % KS_TERMS_KEEP_BITS;
    if (out->keep && !(out->keep[k / 64] >> (k % 64) & 1))
        return 0;
    if (ks_grow((void **)&out->a, &out->cap, out->n + 1, sizeof *out->a))
        return KS_ENOMEM;
    if (ks_grow((void **)&out->text, &out->text_cap, out->text_len + nc * 4, 1))
        return KS_ENOMEM;
    uint8_t *dst = (uint8_t *)out->text + out->text_len;
    int32_t w = 0;
    size_t used = 0;
    for (; used < nc; used++) {
        if ((size_t)w + (size_t)U8_LENGTH(chars[used].c) > max_bytes)
            break;
        U8_APPEND_UNSAFE(dst, w, chars[used].c);
    }
    ks_term *t = &out->a[out->n++];
    t->off = (uint32_t)out->text_len;
    t->len = (uint16_t)w;
    t->kind = (uint8_t)kind;
    t->run_len_1 = (uint8_t)alone;
    t->pos = pos;
    t->start = chars[0].start;
    t->end = chars[used ? used - 1 : 0].end;
    out->text_len += (size_t)w;
    return 0;
}

/* Emits the n-grams of one CJK run starting at position pos. */
static int emit_run(const ks_analyzer *a, const run_char *r, size_t n, uint32_t pos, ks_terms *out)
{
    int uni = a->o.query ? 0 : a->o.unigrams;
    for (size_t i = 0; i < n; i++) {
        uint32_t k = (uint32_t)r[i].c % KS_TERMS_KEEP_BITS;
        if (out->keep && !(out->keep[k / 64] >> (k % 64) & 1))
            continue; /* both terms at i begin with r[i] (push_term would drop them) */
        int want_uni = n == 1 || (!a->o.query && (uni == KS_UNIGRAMS_ALL ||
                                                  (uni == KS_UNIGRAMS_TAIL && i == n - 1)));
        if (want_uni && push_term(out, KS_TERM_UNIGRAM, pos + (uint32_t)i, r + i, 1, 4, n == 1))
            return KS_ENOMEM;
        if (i + 1 < n && push_term(out, KS_TERM_BIGRAM, pos + (uint32_t)i, r + i, 2, 8, 0))
            return KS_ENOMEM;
    }
    return 0;
}

int ks_analyze(ks_analyzer *a, const char *s, size_t len, uint32_t pos_base, ks_terms *out)
{
    if (len > KS_MAX_INPUT_BYTES)
        return KS_ETOOBIG;
    size_t n16 = 0;
    if (decode(a, s, len, &n16, &out->n_invalid) || normalize(a, n16))
        return KS_ENOMEM;

    const UChar *u = a->nrm;
    size_t n = a->nrm_len;
    uint32_t pos = pos_base;
    int cur = CLS_SPACE;           /* class of the token being collected */
    UScriptCode cur_script = USCRIPT_COMMON;
    size_t rn = 0;                 /* chars collected in a->run */

    size_t i = 0;
    for (;;) {
        UChar32 c = 0;
        size_t k = i;
        int cls = CLS_SPACE;
        UScriptCode sc = USCRIPT_COMMON;
        int at_end = i >= n;
        if (!at_end) {
            U16_NEXT(u, i, n, c);
            cls = classify(a, c, &sc);
        }
        /* Does this character continue the current token? */
        int cont = 0;
        if (!at_end && cur == CLS_CJK && cls == CLS_CJK && sc == cur_script)
            cont = 1;
        else if (!at_end && cur == CLS_CJK && cls == CLS_MARK)
            continue; /* a combining mark on a CJK character adds nothing */
        else if (!at_end && cur == CLS_WORD && cls == CLS_MARK)
            cont = 1;
        else if (!at_end && cur == CLS_WORD && cls == CLS_WORD &&
                 (sc == cur_script || sc == USCRIPT_COMMON || cur_script == USCRIPT_COMMON)) {
            cont = 1;
            if (cur_script == USCRIPT_COMMON)
                cur_script = sc;
        }
        if (cont) {
            if (ks_grow((void **)&a->run, &a->run_cap, rn + 1, sizeof *a->run))
                return KS_ENOMEM;
            a->run[rn++] = (run_char){ c, a->nrm_start[k], a->nrm_end[k] };
            continue;
        }
        /* The current token (if any) ends here. */
        if (cur == CLS_CJK && rn) {
            if (emit_run(a, a->run, rn, pos, out))
                return KS_ENOMEM;
            pos += (uint32_t)rn;
        } else if (cur == CLS_WORD && rn) {
            if (push_term(out, KS_TERM_WORD, pos, a->run, rn, KS_MAX_WORD_BYTES, 0))
                return KS_ENOMEM;
            pos++;
        }
        rn = 0;
        if (at_end)
            break;
        if (cls == CLS_CJK || cls == CLS_WORD) {
            if (ks_grow((void **)&a->run, &a->run_cap, 1, sizeof *a->run))
                return KS_ENOMEM;
            a->run[rn++] = (run_char){ c, a->nrm_start[k], a->nrm_end[k] };
            cur = cls;
            cur_script = sc;
        } else {
            cur = CLS_SPACE;
        }
    }
    out->next_pos = pos;
    return 0;
}
