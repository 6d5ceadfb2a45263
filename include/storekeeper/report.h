/* SPDX-License-Identifier: MIT */
/* Diagnostic reports from a status document: PASS/WARN/FAIL checks, metrics text, status page. */
#ifndef STOREKEEPER_REPORT_H
#define STOREKEEPER_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "storekeeper/ledger.h"

/*
 * The daemon describes itself in one JSON "status document" (docs/technician.md lists every
 * field); `storekeeper diag status` prints it, `diag all` judges it, and the status page and
 * /metrics render it. Everything here is a pure function of that document (plus the ledger
 * report), so the same rules judge a running store and one examined without its daemon, and
 * unit tests drive them with hand-written documents.
 */
struct cJSON;
struct sk_config;
struct sk_reader_cfg;
struct sk_camera_cfg;
struct sk_rfid_reader_stats;

/* ---- building the status document (status_doc.c) ---------------------------------------- */

/* A reader's or camera's health as the document shows it. */
struct sk_status_health {
    int state;             /* SK_HEALTH_* */
    int reason;            /* SK_REASON_*, 0: none */
    const char *detail;    /* shown while not up; NULL or "": none */
    int64_t since_wall_us; /* of the state; 0: unknown */
};

/* "0.9.0-g1234abc": this build's version as the document and the control socket say it. */
const char *sk_status_version(void);
/* Adds key: the RFC 3339 UTC form of wall_us, unless wall_us is 0. */
void sk_status_add_time(struct cJSON *o, const char *key, int64_t wall_us);
/* A new document with what every way of making it has: schema, mode ("daemon" or "direct"),
 * version, store, device, board, time, config {path, hash}. Owned; NULL when out of memory. */
struct cJSON *
sk_status_doc_new(const struct sk_config *cfg, const char *mode, const char *config_path);
/* One entry of "readers": the reader's configuration (bus, unit, profile, role, shelves), its
 * health, and the bus thread's counters (rs NULL: none). Owned; NULL when out of memory. */
struct cJSON *sk_status_reader_new(const struct sk_config *cfg,
                                   const struct sk_reader_cfg *rc,
                                   const struct sk_status_health *h,
                                   const struct sk_rfid_reader_stats *rs);
/* One entry of "cameras": name, backend, device and health; the caller adds its figures. */
struct cJSON *sk_status_camera_new(const struct sk_config *cfg,
                                   const struct sk_camera_cfg *cc,
                                   const struct sk_status_health *h);
/* Adds the ledger's "outbox" object to ledger. */
void sk_status_add_outbox(struct cJSON *ledger,
                          const struct sk_outbox_stats *os,
                          int64_t now_wall_us);

/* ---- judging and rendering it -------------------------------------------------------------- */

enum sk_check_level {
    SK_CHECK_PASS = 0,
    SK_CHECK_WARN,
    SK_CHECK_FAIL,
};

struct sk_check {
    int level;         /* enum sk_check_level */
    char subject[80];  /* "reader shelf-3", "ledger", "mqtt" */
    char message[256]; /* what was found */
    char advice[256];  /* one line of what to do; empty for PASS */
};

#define SK_CHECKS_MAX 10000 /* checks in one report: one per reader and camera, and a few */

struct sk_checks {
    struct sk_check *v;
    size_t n, cap;
};

/* "PASS", "WARN", "FAIL". */
const char *sk_check_level_name(int level);

/*
 * Judges a status document and (may be NULL) a ledger report from sk_report_ledger(), and
 * appends one check per subject to ret (which must be zeroed or hold earlier checks).
 * Returns the worst level found, or -ENOMEM.
 */
int sk_report_checks(const struct cJSON *status, const struct cJSON *ledger, struct sk_checks *ret);
/* Appends one check. Returns 0, -ENOMEM, or -E2BIG past SK_CHECKS_MAX. */
int sk_checks_add(struct sk_checks *c,
                  int level,
                  const char *subject,
                  const char *advice,
                  const char *fmt,
                  ...) __attribute__((format(printf, 5, 6)));
void sk_checks_free(struct sk_checks *c);
/* [{"level":"FAIL","subject":...,"message":...,"advice":...}, ...]; owned. */
struct cJSON *sk_checks_json(const struct sk_checks *c);
/* Writes one line per check: "FAIL  reader r1: no reply ... — check ...". */
void sk_checks_print(const struct sk_checks *c, FILE *out);

/*
 * The ledger report of `diag ledger`: integrity (PRAGMA quick_check, or integrity_check when
 * full), the movements' hash chain, counts, outbox, open discrepancies, and the stock summary
 * (at most max_stock rows, by shelf then sku). Returns an owned object or NULL (no memory);
 * SQLite failures are reported inside it.
 */
struct cJSON *sk_report_ledger(struct sk_ledger *l, bool full, size_t max_stock);

/* Prometheus text format (version 0.0.4) of a status document. Owned (free()); NULL: no memory. */
char *sk_report_metrics(const struct cJSON *status);

/* The status page: one self-contained HTML document (no scripts, no external resources),
 * reloading itself every refresh_s seconds (0: never). Owned (free()); NULL: no memory. */
char *sk_report_html(const struct cJSON *status, const struct sk_checks *checks, int refresh_s);

#endif
