/* Turns an analysed record into postings (see ks_document.h): title terms
 * unprefixed with weight KS_TITLE_WEIGHT and again under KS_PREFIX_TITLE for
 * title: queries; body terms unprefixed after a position gap; the id term.
 * A unigram inside a longer run is stored without positions: no query
 * phrase needs one (a query's unigrams come from one-character words), and
 * leaving them out saves a fifth of the build time (bench/RESULTS.md). */
#include "ks_grow.h"
#include "ks_document.h"

#include <stdlib.h>
#include <string.h>

/* Position to store for term t: none for unigrams inside a longer run. */
static uint32_t stored_pos(const ks_term *t)
{
    return t->kind == KS_TERM_UNIGRAM && !t->run_len_1 ? KS_XDB_NOPOS : t->pos;
}

int ks_idterm(const char *id, size_t id_len, char *buf, size_t cap)
{
    size_t pl = strlen(KS_PREFIX_ID);
    if (pl + id_len > cap)
        return -1;
    memcpy(buf, KS_PREFIX_ID, pl);
    memcpy(buf + pl, id, id_len);
    return (int)(pl + id_len);
}

int ks_docbuild_make(ks_docbuild *b, ks_analyzer *a, const char *id, size_t id_len, const char *title,
                     size_t title_len, const char *body, size_t body_len, const char *data,
                     size_t data_len, ks_xdoc *doc, ks_errbuf *eb)
{
    if (id_len == 0)
        return ks_seterr(eb, KS_EINVAL, "empty id");
    if (id_len > KS_MAX_ID_BYTES)
        return ks_seterr(eb, KS_EINVAL, "id longer than %d bytes", KS_MAX_ID_BYTES);
    ks_terms_reset(&b->title);
    ks_terms_reset(&b->body);
    int rc = ks_analyze(a, title, title_len, KS_TITLE_POS_BASE, &b->title);
    if (!rc)
        rc = ks_analyze(a, body, body_len, b->title.next_pos + KS_BODY_POS_GAP, &b->body);
    if (rc)
        return ks_seterr(eb, rc, "analysis failed: %s", ks_strerror(rc));
    b->n_invalid = b->title.n_invalid + b->body.n_invalid;

    size_t nt = b->title.n, nb = b->body.n;
    size_t plen = strlen(KS_PREFIX_TITLE);
    if (ks_grow((void **)&b->p, &b->cap, 2 * nt + nb, sizeof *b->p) ||
        ks_grow((void **)&b->aux, &b->aux_cap, b->title.text_len + nt * plen + id_len + 8, 1))
        return ks_seterr(eb, KS_ENOMEM, "out of memory");
    b->n = 0;
    b->aux_len = 0;
    for (size_t i = 0; i < nt; i++) {
        const ks_term *t = &b->title.a[i];
        b->p[b->n++] = (ks_xposting){ ks_term_text(&b->title, i), t->len, stored_pos(t), KS_TITLE_WEIGHT };
    }
    /* The prefixed copies go into aux after all the unprefixed ones are set,
     * so aux is not reallocated under pointers already handed out. */
    for (size_t i = 0; i < nt; i++) {
        const ks_term *t = &b->title.a[i];
        char *dst = b->aux + b->aux_len;
        memcpy(dst, KS_PREFIX_TITLE, plen);
        memcpy(dst + plen, ks_term_text(&b->title, i), t->len);
        b->aux_len += plen + t->len;
        b->p[b->n++] = (ks_xposting){ dst, (uint32_t)(plen + t->len), stored_pos(t), 1 };
    }
    /* Body terms with positions go one per occurrence; terms without
     * (unigrams inside longer runs, most of a Korean text's unigrams) once
     * per distinct term with their count, which Xapian stores identically
     * but with a fraction of the per-call map work (bench/RESULTS.md). */
    if (ks_grow((void **)&b->slot, &b->cap_slot, 2 * nb + 16, sizeof *b->slot))
        return ks_seterr(eb, KS_ENOMEM, "out of memory");
    size_t mask = 16;
    while (mask < 2 * nb)
        mask *= 2;
    memset(b->slot, 0xff, mask * sizeof *b->slot);
    mask--;
    for (size_t i = 0; i < nb; i++) {
        const ks_term *t = &b->body.a[i];
        const char *tx = ks_term_text(&b->body, i);
        uint32_t pos = stored_pos(t);
        if (pos != KS_XDB_NOPOS) {
            b->p[b->n++] = (ks_xposting){ tx, t->len, pos, 1 };
            continue;
        }
        uint32_t h = 2166136261u;
        for (uint16_t k = 0; k < t->len; k++)
            h = (h ^ (uint8_t)tx[k]) * 16777619u;
        size_t j = h & mask;
        while (b->slot[j] != UINT32_MAX) {
            ks_xposting *q = &b->p[b->slot[j]];
            if (q->len == t->len && memcmp(q->term, tx, t->len) == 0)
                break;
            j = (j + 1) & mask;
        }
        if (b->slot[j] != UINT32_MAX) {
            b->p[b->slot[j]].wdf++;
        } else {
            b->slot[j] = (uint32_t)b->n;
            b->p[b->n++] = (ks_xposting){ tx, t->len, KS_XDB_NOPOS, 1 };
        }
    }
    char *idt = b->aux + b->aux_len;
    int il = ks_idterm(id, id_len, idt, b->aux_cap - b->aux_len);
    if (il < 0)
        return ks_seterr(eb, KS_EINVAL, "id too long");
    b->aux_len += (size_t)il;

    doc->idterm = idt;
    doc->idterm_len = (size_t)il;
    doc->data = data;
    doc->data_len = data_len;
    doc->p = b->p;
    doc->n = b->n;
    return 0;
}

void ks_docbuild_free(ks_docbuild *b)
{
    ks_terms_free(&b->title);
    ks_terms_free(&b->body);
    free(b->p);
    free(b->aux);
    free(b->slot);
    memset(b, 0, sizeof *b);
}
