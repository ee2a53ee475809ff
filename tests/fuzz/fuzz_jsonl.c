/* libFuzzer target for the indexer's record validator (indexer/records.c,
 * ks_record_from_json): any bytes must give a record, a blank line or a
 * KS_EINVAL with a message, never a crash; an accepted record has a
 * non-empty id and stored data that is itself valid JSON. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "records.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ks_record rec;
    ks_errbuf eb = { "" };
    int rc = ks_record_from_json((const char *)data, size, &rec, &eb);
    if (rc == 1) {
        if (rec.id_len == 0 || strlen(rec.id) != rec.id_len)
            abort();
        /* unknown fields may hold NUL (\u0000); every reader of stored data
         * parses with JSON_ALLOW_NUL, as here */
        json_t *o = json_loadb(rec.data, rec.data_len, JSON_ALLOW_NUL, NULL);
        if (!o || !json_is_object(o))
            abort();
        json_decref(o);
        ks_record_free(&rec);
    } else if (rc != 0 && (rc != KS_EINVAL || eb.msg[0] == 0)) {
        abort();
    }
    return 0;
}
