/* JSON Lines and text-folder readers with per-record validation (records.h). */
#include "records.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include <unicode/ustring.h>

struct ks_reader {
    int format;
    char **files;          /* every input file, expanded from folders */
    size_t nfiles, cur;
    gzFile gz;             /* current JSON Lines input */
    unsigned long line;    /* line number in the current file */
    char *buf;             /* current line */
    size_t buf_cap;
    uint64_t done_bytes;   /* bytes of finished files + position in the current one */
    uint64_t file_base;
    uint64_t total_bytes;
    uint64_t raw_bytes;    /* uncompressed bytes read */
};

static int add_file(ks_reader *r, const char *path)
{
    char **nf = realloc(r->files, (r->nfiles + 1) * sizeof *nf);
    if (!nf)
        return KS_ENOMEM;
    r->files = nf;
    if (!(r->files[r->nfiles] = strdup(path)))
        return KS_ENOMEM;
    r->nfiles++;
    return 0;
}

static int cmp_names(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int add_tree(ks_reader *r, const char *dir, ks_errbuf *eb)
{
    struct dirent **list;
    int n = scandir(dir, &list, NULL, cmp_names);
    if (n < 0)
        return ks_seterr(eb, KS_EIO, "cannot read folder %s: %s", dir, strerror(errno));
    int rc = 0;
    for (int i = 0; i < n; i++) {
        const char *name = list[i]->d_name;
        if (!rc && name[0] != '.') {
            char path[4096];
            struct stat st;
            snprintf(path, sizeof path, "%s/%s", dir, name);
            if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
                rc = add_tree(r, path, eb);
            else if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                rc = add_file(r, path);
                r->total_bytes += (uint64_t)st.st_size;
            }
        }
        free(list[i]);
    }
    free(list);
    return rc;
}

int ks_reader_open(const char *const *inputs, size_t n, int format, ks_reader **out, ks_errbuf *eb)
{
    *out = NULL;
    ks_reader *r = calloc(1, sizeof *r);
    if (!r)
        return KS_ENOMEM;
    r->format = format;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        struct stat st;
        if (strcmp(inputs[i], "-") == 0) {
            rc = format == KS_FMT_JSONL ? add_file(r, "-")
                                        : ks_seterr(eb, KS_EINVAL, "--format text reads folders or files, not stdin");
        } else if (stat(inputs[i], &st) != 0) {
            rc = ks_seterr(eb, KS_ENOTFOUND, "cannot read %s: %s", inputs[i], strerror(errno));
        } else if (S_ISDIR(st.st_mode)) {
            rc = format == KS_FMT_TEXT ? add_tree(r, inputs[i], eb)
                                       : ks_seterr(eb, KS_EINVAL, "%s is a folder: use --format text for folders of text files", inputs[i]);
        } else {
            rc = add_file(r, inputs[i]);
            r->total_bytes += (uint64_t)st.st_size;
        }
    }
    if (rc) {
        ks_reader_close(r);
        return rc;
    }
    *out = r;
    return 0;
}

void ks_reader_close(ks_reader *r)
{
    if (!r)
        return;
    if (r->gz)
        gzclose(r->gz);
    for (size_t i = 0; i < r->nfiles; i++)
        free(r->files[i]);
    free(r->files);
    free(r->buf);
    free(r);
}

void ks_record_free(ks_record *rec)
{
    free(rec->mem);
    memset(rec, 0, sizeof *rec);
}

uint64_t ks_reader_done_bytes(const ks_reader *r)
{
    return r->done_bytes;
}

uint64_t ks_reader_raw_bytes(const ks_reader *r)
{
    return r->raw_bytes;
}

uint64_t ks_reader_total_bytes(const ks_reader *r)
{
    return r->total_bytes;
}

/* Copies the strings into one block owned by rec. */
static int pack(ks_record *rec, const char *id, size_t il, const char *t, size_t tl, const char *b,
                size_t bl, const char *d, size_t dl)
{
    char *m = malloc(il + tl + bl + dl + 4);
    if (!m)
        return KS_ENOMEM;
    rec->mem = m;
    memcpy(m, id, il);
    m[il] = 0;
    rec->id = m;
    rec->id_len = il;
    m += il + 1;
    memcpy(m, t, tl);
    m[tl] = 0;
    rec->title = m;
    rec->title_len = tl;
    m += tl + 1;
    memcpy(m, b, bl);
    m[bl] = 0;
    rec->body = m;
    rec->body_len = bl;
    m += bl + 1;
    memcpy(m, d, dl);
    m[dl] = 0;
    rec->data = m;
    rec->data_len = dl;
    return 0;
}

static int is_digits(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* ISO 8601: YYYY-MM-DD, optionally THH:MM[:SS[.fff]] and Z or +HH:MM. */
static int valid_date(const char *s)
{
    size_t n = strlen(s);
    if (n < 10 || !is_digits(s, 4) || s[4] != '-' || !is_digits(s + 5, 2) || s[7] != '-' ||
        !is_digits(s + 8, 2))
        return 0;
    int mo = (s[5] - '0') * 10 + (s[6] - '0'), d = (s[8] - '0') * 10 + (s[9] - '0');
    if (mo < 1 || mo > 12 || d < 1 || d > 31)
        return 0;
    s += 10;
    if (!*s)
        return 1;
    if ((*s != 'T' && *s != ' ') || !is_digits(s + 1, 2) || s[3] != ':' || !is_digits(s + 4, 2))
        return 0;
    s += 6;
    if (*s == ':') {
        if (!is_digits(s + 1, 2))
            return 0;
        s += 3;
        if (*s == '.') {
            s++;
            if (!(*s >= '0' && *s <= '9'))
                return 0;
            while (*s >= '0' && *s <= '9')
                s++;
        }
    }
    if (!*s)
        return 1;
    if (*s == 'Z')
        return s[1] == 0;
    if ((*s == '+' || *s == '-') && is_digits(s + 1, 2) && s[3] == ':' && is_digits(s + 4, 2) && !s[6])
        return 1;
    return 0;
}

static int optional_string(json_t *o, const char *key, const char **val, size_t *len, ks_errbuf *eb)
{
    json_t *v = json_object_get(o, key);
    *val = "";
    *len = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return ks_seterr(eb, KS_EINVAL, "field '%s' must be a string", key);
    *val = json_string_value(v);
    *len = json_string_length(v);
    if (memchr(*val, 0, *len))
        return ks_seterr(eb, KS_EINVAL, "field '%s' contains a NUL character", key);
    return 0;
}

int ks_record_from_json(const char *line, size_t len, ks_record *rec, ks_errbuf *eb)
{
    memset(rec, 0, sizeof *rec);
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r' || line[i] == '\n'))
        i++;
    if (i == len)
        return 0;
    json_error_t je;
    json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (!o) {
        if (strstr(je.text, "UTF-8") || strstr(je.text, "decode byte"))
            return ks_seterr(eb, KS_EINVAL, "invalid UTF-8 (column %d)", je.column);
        return ks_seterr(eb, KS_EINVAL, "malformed JSON at column %d: %s", je.column, je.text);
    }
    int rc = 0;
    char idbuf[32];
    const char *id = NULL, *title, *body, *s;
    size_t il = 0, tl, bl, sl;
    json_t *v;
    if (!json_is_object(o)) {
        rc = ks_seterr(eb, KS_EINVAL, "a record must be a JSON object");
        goto out;
    }
    v = json_object_get(o, "id");
    if (!v || json_is_null(v)) {
        rc = ks_seterr(eb, KS_EINVAL, "missing required field 'id'");
        goto out;
    }
    int rewritten = 0;
    if (json_is_integer(v)) {
        rewritten = 1;
        il = (size_t)snprintf(idbuf, sizeof idbuf, "%lld", (long long)json_integer_value(v));
        id = idbuf;
        json_object_set_new(o, "id", json_stringn(idbuf, il)); /* stored as a string */
    } else if (json_is_string(v)) {
        id = json_string_value(v);
        il = json_string_length(v);
    } else {
        rc = ks_seterr(eb, KS_EINVAL, "field 'id' must be a string or an integer");
        goto out;
    }
    if (il == 0 || memchr(id, 0, il)) {
        rc = ks_seterr(eb, KS_EINVAL, "field 'id' must be non-empty and contain no NUL");
        goto out;
    }
    if (il > 200) {
        rc = ks_seterr(eb, KS_EINVAL, "field 'id' is longer than 200 bytes");
        goto out;
    }
    if ((rc = optional_string(o, "title", &title, &tl, eb)) || (rc = optional_string(o, "body", &body, &bl, eb)) ||
        (rc = optional_string(o, "url", &s, &sl, eb)) || (rc = optional_string(o, "date", &s, &sl, eb)))
        goto out;
    if (sl && !valid_date(s)) {
        rc = ks_seterr(eb, KS_EINVAL, "field 'date' is not an ISO 8601 date (e.g. 2024-05-01 or 2024-05-01T09:30:00+09:00)");
        goto out;
    }
    v = json_object_get(o, "tags");
    if (v && !json_is_null(v)) {
        size_t k;
        json_t *t;
        if (!json_is_array(v)) {
            rc = ks_seterr(eb, KS_EINVAL, "field 'tags' must be an array of strings");
            goto out;
        }
        json_array_foreach(v, k, t) {
            if (!json_is_string(t)) {
                rc = ks_seterr(eb, KS_EINVAL, "field 'tags' must be an array of strings");
                goto out;
            }
        }
    }
    if (rewritten) {
        char *data = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (!data) {
            rc = KS_ENOMEM;
            goto out;
        }
        rc = pack(rec, id, il, title, tl, body, bl, data, strlen(data));
        free(data);
    } else {
        /* The line is a valid JSON object already: store it as it came
         * (less the surrounding white space) rather than re-serialise it. */
        size_t e = len;
        while (e > i && (line[e - 1] == ' ' || line[e - 1] == '\t' || line[e - 1] == '\r' || line[e - 1] == '\n'))
            e--;
        rc = pack(rec, id, il, title, tl, body, bl, line + i, e - i);
    }
    if (!rc)
        rc = 1;
out:
    json_decref(o);
    return rc;
}

/* Reads one line of any length from the current gz input; 1, 0 at EOF, <0. */
static int read_line(ks_reader *r, size_t *len)
{
    size_t n = 0;
    for (;;) {
        if (r->buf_cap - n < 2) {
            size_t nc = r->buf_cap ? r->buf_cap * 2 : 65536;
            char *nb = realloc(r->buf, nc);
            if (!nb)
                return KS_ENOMEM;
            r->buf = nb;
            r->buf_cap = nc;
        }
        if (!gzgets(r->gz, r->buf + n, (int)(r->buf_cap - n))) {
            int err;
            gzerror(r->gz, &err);
            if (err != Z_OK && err != Z_STREAM_END)
                return KS_EIO;
            break;
        }
        n += strlen(r->buf + n); /* a NUL inside the line ends it early: caught as malformed JSON */
        if (n && r->buf[n - 1] == '\n')
            break;
        if (n > KS_MAX_RECORD_BYTES) {
            /* skip the rest of this line */
            int c;
            while ((c = gzgetc(r->gz)) != -1 && c != '\n')
                ;
            *len = n;
            return 2;
        }
    }
    *len = n;
    return n > 0;
}

static int next_text(ks_reader *r, ks_record *rec, const char *path, ks_errbuf *eb)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return ks_seterr(eb, KS_EINVAL, "cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || (uint64_t)st.st_size > KS_MAX_RECORD_BYTES) {
        fclose(f);
        return ks_seterr(eb, KS_EINVAL, "file larger than %u bytes", KS_MAX_RECORD_BYTES);
    }
    size_t n = (size_t)st.st_size;
    char *s = malloc(n + 1);
    if (!s) {
        fclose(f);
        return KS_ENOMEM;
    }
    size_t got = fread(s, 1, n, f);
    fclose(f);
    r->done_bytes += got;
    r->raw_bytes += got;
    UErrorCode ec = U_ZERO_ERROR;
    int32_t ulen;
    u_strFromUTF8(NULL, 0, &ulen, s, (int32_t)got, &ec);
    if (ec == U_INVALID_CHAR_FOUND || ec == U_ILLEGAL_CHAR_FOUND || memchr(s, 0, got)) {
        free(s);
        return ks_seterr(eb, KS_EINVAL, "invalid UTF-8 (or a NUL byte) in text file");
    }
    size_t skip = got >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0; /* BOM */
    const char *t = s + skip, *nl = memchr(t, '\n', got - skip);
    size_t tl = nl ? (size_t)(nl - t) : got - skip;
    const char *b = nl ? nl + 1 : s + got;
    size_t bl = (size_t)(s + got - b);
    while (tl && (t[tl - 1] == '\r' || t[tl - 1] == ' '))
        tl--;
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(path));
    json_object_set_new(o, "title", json_stringn(t, tl));
    json_object_set_new(o, "body", json_stringn(b, bl));
    char *data = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    int rc = data ? pack(rec, path, strlen(path), t, tl, b, bl, data, strlen(data)) : KS_ENOMEM;
    free(data);
    free(s);
    rec->in_bytes = got;
    if (rc == 0 && strlen(path) > 200)
        return ks_record_free(rec), ks_seterr(eb, KS_EINVAL, "path (the id) is longer than 200 bytes");
    return rc ? rc : 1;
}

int ks_reader_next(ks_reader *r, ks_record *rec, const char **file, unsigned long *line, ks_errbuf *eb)
{
    memset(rec, 0, sizeof *rec);
    for (;;) {
        if (r->cur >= r->nfiles)
            return 0;
        const char *path = r->files[r->cur];
        *file = path;
        if (r->format == KS_FMT_TEXT) {
            r->cur++;
            *line = 0;
            int rc = next_text(r, rec, path, eb);
            if (rc == 1) {
                rec->file = path;
                rec->line = 0;
            }
            return rc;
        }
        if (!r->gz) {
            r->gz = strcmp(path, "-") == 0 ? gzdopen(0, "rb") : gzopen(path, "rb");
            if (!r->gz)
                return ks_seterr(eb, KS_EIO, "cannot open %s: %s", path, strerror(errno));
            gzbuffer(r->gz, 1 << 20);
            r->line = 0;
            r->file_base = r->done_bytes;
        }
        size_t len = 0;
        int rc = read_line(r, &len);
        if (rc < 0)
            return ks_seterr(eb, rc, "read error in %s", path);
        if (rc == 0) {
            gzclose(r->gz);
            r->gz = NULL;
            r->cur++;
            continue;
        }
        r->line++;
        r->raw_bytes += len;
        *line = r->line;
        r->done_bytes = r->file_base + (uint64_t)gzoffset(r->gz);
        if (rc == 2)
            return ks_seterr(eb, KS_EINVAL, "line longer than %u bytes", KS_MAX_RECORD_BYTES);
        rc = ks_record_from_json(r->buf, len, rec, eb);
        if (rc == 0)
            continue; /* blank line */
        if (rc == 1) {
            rec->file = path;
            rec->line = r->line;
            rec->in_bytes = len;
        }
        return rc;
    }
}
