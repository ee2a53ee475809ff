/* How a record becomes a Xapian document: which terms, at which positions,
 * with which weights. One definition shared by the indexer (writing) and the
 * tests that check what was written, so the two cannot drift apart. */
#ifndef KS_DOCUMENT_H
#define KS_DOCUMENT_H

#include <stddef.h>

#include "ks_analyze.h"
#include "ks_xdb.h"

#define KS_PREFIX_ID "Q"        /* unique id term: "Q" + external id */
#define KS_TITLE_WEIGHT 3       /* wdf of an unprefixed title term (a body term has 1) */
#define KS_TITLE_POS_BASE 1     /* first title position */
#define KS_BODY_POS_GAP 100     /* body positions start this far after the title's, so no phrase spans both */
#define KS_MAX_ID_BYTES 200     /* Xapian terms are at most 245 bytes */

/* Reusable scratch for building one document's postings; zero-initialise,
 * free with ks_docbuild_free(). One per thread. */
typedef struct ks_docbuild {
    ks_terms title;          /* analysed title */
    ks_terms body;           /* analysed body */
    ks_xposting *p;          /* the postings handed to Xapian */
    size_t n, cap;           /* postings used / allocated */
    char *aux;               /* "S"-prefixed title terms and the id term */
    size_t aux_len, aux_cap; /* bytes used / allocated in aux */
    size_t n_invalid;        /* invalid UTF-8 sequences replaced in this document */
    uint32_t *slot;          /* hash slots (posting index or UINT32_MAX) counting unpositioned terms */
    size_t cap_slot;         /* slots allocated */
} ks_docbuild;

/* Analyses title and body with a and fills b's postings; doc is then ready
 * for ks_xdb_writer_add/replace with data as stored fields. Pointers in *doc
 * point into b and the arguments: valid until the next call. Returns 0,
 * KS_EINVAL (empty or over-long id), KS_ETOOBIG or KS_ENOMEM. */
int ks_docbuild_make(ks_docbuild *b, ks_analyzer *a, const char *id, size_t id_len, const char *title,
                     size_t title_len, const char *body, size_t body_len, const char *data,
                     size_t data_len, ks_xdoc *doc /* OUT */, ks_errbuf *eb);

/* Writes the id term of id into buf (cap bytes); returns its length, or -1
 * if it does not fit. */
int ks_idterm(const char *id, size_t id_len, char *buf, size_t cap);

void ks_docbuild_free(ks_docbuild *b);

#endif
