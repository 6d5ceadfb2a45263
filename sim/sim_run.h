/* SPDX-License-Identifier: MIT */
/* Running a scenario against the real runtime, and scoring what it reported. */
#ifndef SK_SIM_RUN_H
#define SK_SIM_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "scenario.h"

/* The store's boards: the hub (the one of a one-board store) and, with `satellite` shelves, a
 * satellite polling their readers. */
#define SIM_HUB       "sim-01"
#define SIM_SATELLITE "sim-02"

/* One event the store reported (topic suffix and payload JSON), owned by the run result. */
struct sim_event {
    char topic[64];
    char *payload;
    int64_t created_us; /* when it entered the ledger's outbox (read back), else 0 */
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
    int exit_code;        /* the runtime's */
    char source[16];      /* where the events came from: "mqtt" */
    size_t n_outbox;      /* events the ledger's outbox holds */
    size_t n_missing;     /* of those, not received over MQTT (written before the run's end) */
    int64_t stop_wall_us; /* when the run was told to end; 0 not yet */
    char work_dir[256];
};

/* Runs sc: virtual readers, synthetic camera, (broker,) storekeeper's runtime in-process.
 * Returns 0 and fills ret (free with sim_result_free), or < 0 with a message on stderr. */
int sim_run(const struct scenario *sc, const struct sim_opts *opts, struct sim_result *ret);
void sim_result_free(struct sim_result *r);

struct cJSON;

struct sim_score {
    int visits, exact;             /* visits (truth carts), those charged exactly (products) */
    int exact_tags;                /* visits charged exactly the tags they took */
    int tag_swaps;                 /* right products charged with another visit's tag of it */
    int truth_lines, charged;      /* items taken out, items charged */
    int true_pos, phantom, missed; /* charged and taken; charged, not taken; taken, not charged */
    int phantom_unreviewed; /* of the phantom charges, those in checkouts not sent to review */
    int count_errors;       /* |charged - taken| summed over (visit, sku) */
    int unmatched;          /* checkouts that match no visit */
    int token_errors;       /* bound visits whose checkout lacks the account */
    int abandoned, unpaid;  /* cart_abandoned and exit_without_checkout events */
    int stock_errors;       /* |ledger - truth| summed over (shelf, sku) */
    double precision, recall;
    /* What review would see (docs/simulator.md, "Scores"): */
    int checkouts, reviewed; /* checkouts, those sent to review */
    int misattributed;       /* items one visit took that were charged to another */
    int wrong_unreviewed;    /* phantom charges and misattributed items whose checkout (the
                              * charged one, or the taker's) went out without review */
    int taker_flagged;       /* misattributed items whose taker's checkout went to review listing
                              * them (or that name an unseen taker when it had no checkout) */
    int taker_named;         /* phantom charges whose line names the true taker as a candidate */
    int contested_lines;     /* charged lines marked contested */
    struct cJSON *detail;    /* per checkout (sim_score_free); NULL when not asked */
};

/* Compares what the store reported with the scenario's truth (detail: also per checkout). */
void sim_score(const struct scenario *sc, const struct sim_result *res, struct sim_score *ret);
void sim_score_detailed(const struct scenario *sc,
                        const struct sim_result *res,
                        struct sim_score *ret);
void sim_score_free(struct sim_score *s);
/* The same, and per visit (arrays of sc->n_visits, each may be NULL): whether its cart was
 * charged exactly, items charged it did not take, items it took that were not charged. */
void sim_score_visits(const struct scenario *sc,
                      const struct sim_result *res,
                      struct sim_score *ret,
                      bool *ret_exact,
                      int *ret_phantom,
                      int *ret_missed);
/* Writes dir/truth.json (visits with their carts, final stock) and dir/events.jsonl (every
 * event received, one payload a line). Returns 0 or -errno. */
int sim_write_files(const struct scenario *sc, const struct sim_result *res, const char *dir);

/* ---- pieces of a run, shared with the crash loop (sim_crash.c) ---------------------------- */

struct sk_vreader;
struct sim_cloud;
struct sim_broker;

/* The work directory: opts->work_dir (its old ledger removed) or a new one under $TMPDIR. */
int sim_prepare_dir(const struct sim_opts *opts, char *dir, size_t size);
/* opts->broker, or a mosquitto of our own started in dir (stop it with sim_broker_stop). */
int sim_connect_broker(const struct sim_opts *opts,
                       const char *dir,
                       struct sim_broker *broker,
                       char *host,
                       size_t host_size,
                       int *ret_port);
/* The virtual readers with the scenario's shelves stocked, started. */
int sim_start_readers(const struct scenario *sc, struct sk_vreader **ret);
/* store.cfg, products.csv, planogram.csv in dir. scene_file: the camera renders that file
 * (the runtime in its own process); NULL: a scene attached in this process. */
int sim_write_store(const struct scenario *sc,
                    const char *dir,
                    int port,
                    const char *mqtt_host,
                    int mqtt_port,
                    bool verbose,
                    const char *scene_file);
/* The scenario's shoppers as a scene file (docs/vision.md) for the synthetic camera; of two
 * cameras, one file each, named by sim_scene_file(). */
int sim_write_scene(const struct scenario *sc, const char *path);
/* The scene file of camera cam for base (base itself with one camera; base's stem, a dash and
 * the camera's name with two). */
void sim_scene_file(const struct scenario *sc, const char *base, int cam, char *out, size_t size);
/* Applies timeline event number index to the readers (and binds through the cloud). */
void sim_apply(const struct scenario *sc,
               struct sk_vreader *vr,
               struct sim_cloud *cloud,
               size_t index,
               const struct sc_event *e);
/* After the runtime stopped: the ledger's outbox against the events received, its stock. */
int sim_read_back(const char *dir, struct sim_result *res);

#endif
