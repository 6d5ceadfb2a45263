/* SPDX-License-Identifier: MIT */
/* Running a scenario against the real runtime, and scoring what it reported. */
#ifndef SK_SIM_RUN_H
#define SK_SIM_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "scenario.h"

/* One event the store reported (topic suffix and payload JSON), owned by the run result. */
struct sim_event {
    char topic[64];
    char *payload;
};

struct sim_opts {
    const char *work_dir; /* keep the store, catalog, ledger and truth here; NULL: a temp dir */
    const char *broker;   /* HOST:PORT of a broker to use instead of starting one; NULL */
    bool live;            /* print checkouts (and other money events) as they arrive */
    bool verbose;         /* the runtime logs at info instead of warning */
    const char *record;   /* the runtime records its observations there (`run --record`) */
    FILE *out;            /* where live lines go */
};

struct sim_result {
    struct sim_event *events;
    size_t n_events;
    int64_t t0_wall_us;                     /* wall time of scene time 0 */
    int stock[SC_MAX_SHELVES][SC_MAX_SKUS]; /* the ledger's stock at the end */
    bool stock_read;
    int exit_code;    /* the runtime's */
    char source[16];  /* where the events came from: "mqtt" */
    size_t n_outbox;  /* events the ledger's outbox holds */
    size_t n_missing; /* of those, not received over MQTT */
    char work_dir[256];
};

/* Runs sc: virtual readers, synthetic camera, (broker,) storekeeper's runtime in-process.
 * Returns 0 and fills ret (free with sim_result_free), or < 0 with a message on stderr. */
int sim_run(const struct scenario *sc, const struct sim_opts *opts, struct sim_result *ret);
void sim_result_free(struct sim_result *r);

struct sim_score {
    int visits, exact;             /* visits (truth carts), those charged exactly */
    int truth_lines, charged;      /* items taken out, items charged */
    int true_pos, phantom, missed; /* charged and taken; charged, not taken; taken, not charged */
    int count_errors;              /* |charged - taken| summed over (visit, sku) */
    int unmatched;                 /* checkouts that match no visit */
    int token_errors;              /* bound visits whose checkout lacks the account */
    int abandoned, unpaid;         /* cart_abandoned and exit_without_checkout events */
    int stock_errors;              /* |ledger - truth| summed over (shelf, sku) */
    double precision, recall;
};

/* Compares what the store reported with the scenario's truth. */
void sim_score(const struct scenario *sc, const struct sim_result *res, struct sim_score *ret);
/* Writes the truth (visits with their carts, final stock) as JSON. Returns 0 or -errno. */
int sim_write_truth(const struct scenario *sc, const struct sim_result *res, const char *path);

#endif
