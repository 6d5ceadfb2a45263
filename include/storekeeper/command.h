/* SPDX-License-Identifier: MIT */
/* Cloud commands: parsing and validation of `.../cmd/<name>` payloads, and their results. */
#ifndef STOREKEEPER_COMMAND_H
#define STOREKEEPER_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storekeeper/config.h"
#include "storekeeper/obs.h"

/*
 * A command arrives as an MQTT message on storekeeper/v1/<store>/<device>/cmd/<name> with a
 * JSON object as payload (docs/mqtt.md lists every command and field). This module turns
 * (name, payload) into a validated struct sk_cmd or a precise error naming the field, with
 * size limits on everything. It does no I/O: the MQTT link parses on the core thread, answers
 * read-only commands itself and hands state-changing ones to the core (sk_core_command()).
 */

#define SK_CMD_ID_MAX      65  /* request_id, restock_id, session_id (with NUL) */
#define SK_CMD_TOKEN_MAX   129 /* account token (with NUL) */
#define SK_CMD_PARTY_MAX   8   /* persons one session bind may cover */
#define SK_CMD_SKU_MAX     33
#define SK_CMD_PNAME_MAX   97     /* product name (UTF-8 bytes, with NUL) */
#define SK_CMD_PRODUCTS    500    /* products in one catalog_upsert */
#define SK_CMD_SHELVES     64     /* shelves in one restock_done */
#define SK_CMD_PAYLOAD_MIN 256    /* smallest mqtt.command_max_bytes */
#define SK_CMD_RESEND_MAX  100000 /* events one outbox_resend may name (mqtt.resend_max's top) */

enum sk_cmd_kind {
    SK_CMD_NONE = 0,
    SK_CMD_PING,           /* liveness: answered by the link */
    SK_CMD_DIAG,           /* run a named diagnostic: answered by the link */
    SK_CMD_REBIRTH,        /* publish status and every health topic again */
    SK_CMD_CATALOG_UPSERT, /* insert or update products in the ledger */
    SK_CMD_SESSION_BIND,   /* attach an account token to a shopper session */
    SK_CMD_RESTOCK_DONE,   /* a stocker finished restocking shelves */
    SK_CMD_CONFIG_RELOAD,  /* reload the store file, as SIGHUP does */
    SK_CMD_OUTBOX_RESEND,  /* publish a range of events again (the cloud lost them) */
    SK_CMD_KIND_COUNT
};

enum sk_cmd_diag_test {
    SK_CMD_DIAG_PING = 0, /* the same as the ping command */
    SK_CMD_DIAG_MQTT,     /* round trip through the broker */
    SK_CMD_DIAG_CORE,     /* queue and core counters */
    SK_CMD_DIAG_HEALTH,   /* last health of every reader and camera */
    SK_CMD_DIAG_LEDGER,   /* outbox counters */
};

struct sk_cmd_product {
    char sku[SK_CMD_SKU_MAX]; /* [A-Za-z0-9._-] */
    char name[SK_CMD_PNAME_MAX];
    int64_t price_minor;   /* price in minor units (cents); -1 when not given */
    char currency[4];      /* ISO 4217, empty when not given */
    char gtin[15];         /* GTIN-8/12/13/14 digits (check digit verified), empty when not given */
    int restock_threshold; /* total stock at or below this: event/low_stock; -1 when not given */
    int restock_target;    /* what a restock should bring the stock to; -1 when not given */
};

struct sk_cmd {
    enum sk_cmd_kind kind;
    char request_id[SK_CMD_ID_MAX]; /* echoed in the reply; may be empty */
    char identity[SK_NAME_MAX];     /* who sends it (checked against mqtt.cloud_identity) */

    union {
        struct {
            enum sk_cmd_diag_test test;
        } diag;

        struct {
            struct sk_cmd_product *products; /* owned; sk_cmd_clear frees */
            size_t n;
        } catalog;

        struct {
            char token[SK_CMD_TOKEN_MAX];
            char session_id[SK_CMD_ID_MAX]; /* empty when next_entry */
            bool next_entry;                /* the next shopper who enters */
            int expires_s;                  /* how long the bind waits */
            int persons; /* next_entry: for this many shoppers entering (a party paying on one
                          * account), 1..SK_CMD_PARTY_MAX */
        } bind;

        struct {
            char shelves[SK_CMD_SHELVES][SK_NAME_MAX];
            size_t n_shelves; /* 0 with all */
            bool all;
            char restock_id[SK_CMD_ID_MAX];
        } restock;

        struct {
            int64_t from_seq, to_seq;      /* inclusive; to_seq - from_seq < mqtt.resend_max */
            char ledger_id[SK_CMD_ID_MAX]; /* the ledger the seqs count in; empty: this one */
        } resend;
    } u;
};

/* Error codes of replies (docs/mqtt.md); the string forms are in sk_cmd_error_name(). */
enum sk_cmd_error_code {
    SK_CMD_ERR_NONE = 0,
    SK_CMD_ERR_MALFORMED,   /* not JSON, or not a JSON object */
    SK_CMD_ERR_TOO_LARGE,   /* payload above mqtt.command_max_bytes */
    SK_CMD_ERR_UNKNOWN,     /* no such command */
    SK_CMD_ERR_INVALID,     /* a field is missing, of the wrong type or out of range */
    SK_CMD_ERR_FORBIDDEN,   /* identity does not match mqtt.cloud_identity */
    SK_CMD_ERR_BUSY,        /* a bounded list or the queue is full: try again later */
    SK_CMD_ERR_UNAVAILABLE, /* the feature is not available in this build or state */
    SK_CMD_ERR_FAILED,      /* valid, but applying it failed */
    SK_CMD_ERR_TIMEOUT,     /* a diagnostic did not finish in time */
};

struct sk_cmd_error {
    enum sk_cmd_error_code code;
    char field[64];    /* JSON path of the offending field ("products[3].sku"), or empty */
    char message[192]; /* one sentence for a person */
};

/*
 * Parses and validates one command. name is the last topic level; payload (borrowed, need not
 * be NUL-terminated) may be NULL for an empty message, which counts as {}. cfg (borrowed, may
 * be NULL) provides shelf names for restock_done. Returns 0 with *ret_cmd filled (owned:
 * release with sk_cmd_clear), or SK_EMQTT_COMMAND with *ret_err filled and *ret_cmd cleared
 * but for its kind and request_id (when they could be read), so the error reply can echo them.
 */
int sk_cmd_parse(const char *name,
                 const char *payload,
                 size_t len,
                 size_t max_len,
                 const struct sk_config *cfg,
                 struct sk_cmd *ret_cmd,
                 struct sk_cmd_error *ret_err);
/* Frees what cmd owns and zeroes it. Accepts NULL. */
void sk_cmd_clear(struct sk_cmd *cmd);

/* Fills err; returns SK_EMQTT_COMMAND so callers can `return sk_cmd_fail(...)`. */
int sk_cmd_fail(struct sk_cmd_error *err,
                enum sk_cmd_error_code code,
                const char *field,
                const char *fmt,
                ...) __attribute__((format(printf, 4, 5)));

/* True for commands that change state and go through the core (and the identity check). */
bool sk_cmd_changes_state(enum sk_cmd_kind kind);
/* "ping", "catalog_upsert", ...; NULL for out-of-range values. */
const char *sk_cmd_name(enum sk_cmd_kind kind);
/* Every command name, ", "-separated, for messages that list them. */
const char *sk_cmd_names(void);
/* The kind for a topic name, or SK_CMD_NONE. */
enum sk_cmd_kind sk_cmd_kind_from_name(const char *name);
const char *sk_cmd_diag_test_name(enum sk_cmd_diag_test test);
/* "malformed_json", "too_large", ... */
const char *sk_cmd_error_name(enum sk_cmd_error_code code);

/* Results of commands the core applies (sk_core_command() in core.h). */
enum sk_cmd_status {
    SK_CMD_DONE = 0, /* applied */
    SK_CMD_QUEUED,   /* accepted and held until the logic that uses it acts (e.g. a bind) */
    SK_CMD_REJECTED, /* not applied: see the error */
};

struct sk_cmd_result {
    enum sk_cmd_status status;
    struct sk_cmd_error error; /* when REJECTED */
    char detail[192];          /* for people: what happened */
    int64_t count;             /* products written, binds pending, ...; -1 when not used */
    int64_t missing;           /* outbox_resend: seqs no longer kept; -1 when not used */
    int64_t expires_wall_us;   /* when a queued item expires; 0 when not used */
    /* The request was applied before (same sender and request_id): this is the outcome it had
     * then, recorded at first_wall_us, and nothing was applied now. */
    bool repeat;
    int64_t first_wall_us;
};

const char *sk_cmd_status_name(enum sk_cmd_status status);

/*
 * The outcome as JSON text, for the ledger's record of replies (status, detail, count,
 * expires_wall_us, missing when used, error); malloc'd, NULL without memory. parse fills *ret from
 * such a text (repeat and first_wall_us are left as they were) and returns 0, or -EINVAL.
 */
char *sk_cmd_result_to_json(const struct sk_cmd_result *r);
int sk_cmd_result_from_json(const char *text, struct sk_cmd_result *ret);

/*
 * A fingerprint of a command: its name and payload with object keys sorted and white space,
 * request_id and identity left out, so the same request sent again (even re-serialised) has the
 * same one and another command under a reused request_id has another. Not a security hash.
 */
uint64_t sk_cmd_fingerprint(const char *name, const char *payload, size_t len);

#endif
