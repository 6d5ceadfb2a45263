/* SPDX-License-Identifier: MIT */
/* Observation logs: what `run --record` writes and `replay` reads. */
#ifndef STOREKEEPER_RECORD_H
#define STOREKEEPER_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storekeeper/config.h"
#include "storekeeper/ledger.h"
#include "storekeeper/obs.h"

struct cJSON;

/*
 * A recording is two files: FILE, JSON lines (a header, then one line per observation the
 * core handled and per core tick, each with the clock's time when it happened), and
 * FILE.ledger, a copy of the ledger taken when the recording began. Replaying FILE against a
 * copy of FILE.ledger with a manual clock set to each line's time reproduces what the core
 * did: the same movements, the same events with the same seq (docs/replay.md). No image is
 * ever in it: cameras only hand anonymous tracks to the core.
 *
 * Lines are at most SK_RECORD_LINE_MAX bytes; a recording stops (and says so) at
 * SK_RECORD_MAX_BYTES.
 */

#define SK_RECORD_VERSION   1
#define SK_RECORD_LINE_MAX  (128 * 1024)
#define SK_RECORD_MAX_BYTES (1024LL * 1024 * 1024)

struct sk_record;

/*
 * Creates FILE and FILE.ledger (both must not exist) and writes the header: store, device,
 * config hash, the clock's time the core loaded its state at, and the ledger's last seq.
 * ledger is borrowed (used only here). Returns 0 and an owned writer, or < 0 with a
 * message in err.
 */
int sk_record_open(const char *path,
                   const struct sk_config *cfg,
                   struct sk_ledger *ledger,
                   int64_t loaded_mono_us,
                   int64_t loaded_wall_us,
                   char *err,
                   size_t err_size,
                   struct sk_record **ret);
/* One observation the core is about to handle, at the clock's (mono, wall). Returns 0, or
 * -EFBIG once the size bound is reached (nothing more is written), or -errno. */
int sk_record_obs(struct sk_record *r, int64_t mono_us, int64_t wall_us, const struct sk_obs *obs);
/*
 * One observation as the JSON object a recording's line holds, without the line's clock: the
 * one format of observations outside the process (a satellite's go to its hub in it). Owned by
 * the caller; NULL without memory.
 */
struct cJSON *sk_record_obs_json(const struct sk_obs *obs);
/* Reads such an object back into *ret (owning a command's payload: sk_obs_release), checking
 * every field's range as for a recording. Returns 0, or SK_ERECORD with the problem in err
 * ("observation:0: missing or out-of-range number: m"). */
int sk_record_obs_parse(const struct cJSON *o, struct sk_obs *ret, char *err, size_t err_size);
/* A core tick at the clock's (mono, wall); also flushes the file. */
int sk_record_tick(struct sk_record *r, int64_t mono_us, int64_t wall_us);
/* Flushes and closes. Accepts NULL. */
void sk_record_close(struct sk_record *r);

/* ---- reading ------------------------------------------------------------------------------ */

struct sk_record_header {
    int version;
    char store_id[SK_NAME_MAX], device_id[SK_NAME_MAX];
    char config_hash[65];
    int64_t mono_us, wall_us;     /* when the core loaded its state from the ledger */
    int64_t last_seq;             /* the ledger's last event seq then */
    char ledger[SK_PATH_MAX * 2]; /* path of the ledger copy */
};

enum sk_record_kind {
    SK_RECORD_OBS = 1,
    SK_RECORD_TICK,
};

struct sk_record_entry {
    int kind;
    int64_t mono_us, wall_us; /* the clock when the core got it */
    struct sk_obs obs;        /* OBS; owns command payloads: sk_obs_release */
    int line;
};

struct sk_record_reader;

/* Opens FILE and reads its header. Returns 0, or < 0 with "FILE:LINE: problem" in err. */
int sk_record_reader_open(const char *path,
                          char *err,
                          size_t err_size,
                          struct sk_record_reader **ret);
const struct sk_record_header *sk_record_header(const struct sk_record_reader *rd);
/* The next entry: 1, 0 at the end, < 0 for a malformed line (described in err). */
int sk_record_next(struct sk_record_reader *rd,
                   struct sk_record_entry *ret,
                   char *err,
                   size_t err_size);
void sk_record_reader_close(struct sk_record_reader *rd);

#endif
