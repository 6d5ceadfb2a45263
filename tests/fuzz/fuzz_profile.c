/* SPDX-License-Identifier: MIT */
/* Fuzz target: the reader profile loader (drivers/profile.c): INI-like text to a register map. */
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "storekeeper/error.h"
#include "storekeeper/profile.h"

/*
 * The input is a profile file. A profile that loads is plain data the bus threads execute, so
 * every index it holds must be in range: after loading, each field is decoded from and encoded
 * into a block-sized zero buffer, which ASan checks.
 */

static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    devnull = fopen("/dev/null", "w");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sk_diag d;
    sk_diag_init(&d);
    struct sk_profile *p = NULL;
    int r = sk_profile_load_text("fuzz.prof", (const char *)data, size, &d, &p);
    if (r == 0) {
        uint8_t bytes[2 * 125 * 16 + 2];
        for (size_t i = 0; i < p->n_fields; i++) {
            const struct sk_prof_field *f = &p->fields[i];
            if (f->type == SK_FT_BYTES) {
                continue;
            }
            size_t len = sizeof(bytes);
            if (f->block >= 0) {
                if ((size_t)f->block >= p->n_blocks) {
                    abort();
                }
                len = sk_prof_block_bytes(&p->blocks[f->block]);
                if (len > sizeof(bytes)) {
                    len = sizeof(bytes);
                }
            }
            memset(bytes, 0, len);
            int64_t v = 0;
            if (sk_prof_get_int(p, f, bytes, len, &v) == 0) {
                sk_prof_put_int(p, f, bytes, len, v);
            }
            if (f->role == SK_ROLE_RSSI) {
                sk_prof_rssi_raw(f, sk_prof_rssi_cdbm(f, v));
            }
        }
        for (size_t i = 0; i < p->n_records; i++) {
            if (p->records[i].block < 0 || (size_t)p->records[i].block >= p->n_blocks) {
                abort();
            }
        }
        sk_profile_free(p);
    } else if (r == SK_EPROFILE && d.n == 0) {
        abort();
    }
    sk_diag_print(&d, devnull);
    sk_diag_free(&d);
    return 0;
}
