/* SPDX-License-Identifier: MIT */
/* The RFID service: one thread per Modbus bus polling its readers into the core queue. */
#ifndef STOREKEEPER_RFID_H
#define STOREKEEPER_RFID_H

#include <stdint.h>

#include "storekeeper/clock.h"
#include "storekeeper/config.h"
#include "storekeeper/presence.h"
#include "storekeeper/queue.h"
#include "storekeeper/tagset.h"

/*
 * sk_rfid_start() loads every reader's profile, builds one presence filter per reader
 * (seeded from the core's present set), and starts one thread per bus (named bus:NAME). Each
 * thread owns its connection, polls its readers every poll_interval_ms, and pushes
 * SK_OBS_TAG_ARRIVED / SK_OBS_TAG_DEPARTED and SK_OBS_READER_HEALTH onto the queue with
 * SK_QUEUE_WAIT (a departure must never be dropped; waiting is counted as back-pressure).
 */
struct sk_rfid;

struct sk_rfid_opts {
    const struct sk_config *cfg;     /* borrowed during the call; what is needed is copied */
    struct sk_queue *queue;          /* borrowed; must outlive the service */
    const struct sk_tagset *present; /* borrowed during the call: seeds the filters; may be NULL */
    const struct sk_clock *clock;    /* borrowed; NULL: the system clock */
    int push_timeout_ms;             /* one wait of a blocked push; 0: 250 */
};

struct sk_rfid_stats {
    uint64_t polls, poll_errors;
    uint64_t arrivals, departures, health;
    uint64_t push_waits;  /* pushes that found the queue above its high mark and waited */
    uint64_t push_failed; /* observations not delivered (only at shutdown) */
    uint64_t requests;    /* Modbus transactions */
};

/*
 * Starts the service. Returns 0 and an owned service (stop with sk_rfid_stop), or
 * SK_EPROFILE (problems in diag, as file:line messages), -EINVAL, -ENOMEM, -errno.
 * A config without buses starts nothing and succeeds.
 */
int sk_rfid_start(const struct sk_rfid_opts *opts, struct sk_diag *diag, struct sk_rfid **ret);
/* Stops and joins every bus thread (reverse order) and frees the service. Accepts NULL. */
void sk_rfid_stop(struct sk_rfid *r);
/* Applies reloadable settings (presence presets of shelves) at the next cycle of each bus. */
int sk_rfid_reload(struct sk_rfid *r, const struct sk_config *cfg);
void sk_rfid_get_stats(struct sk_rfid *r, struct sk_rfid_stats *ret);

/* What one reader did since the service started (diagnostics, metrics). */
struct sk_rfid_reader_stats {
    uint64_t polls, poll_errors; /* polls made, polls that failed */
    uint64_t tag_reads;          /* tag reads returned by successful polls */
    uint64_t requests;           /* Modbus transactions of its polls */
    int64_t last_rtt_us;         /* round trip of its bus's last answered transaction, 0 none */
    int64_t rtt_avg_us;          /* moving average (weight 1/8) of that */
    int64_t last_ok_mono_us;     /* last successful poll, 0 never */
    uint32_t present;            /* tags its presence filter holds present */
};

/* Counters of the reader named name. Thread-safe. Returns 0 or -ENOENT. */
int sk_rfid_reader_stats(struct sk_rfid *r, const char *name, struct sk_rfid_reader_stats *ret);

/* One present tag as the reader's presence filter holds it. */
struct sk_rfid_tag_view {
    uint8_t antenna;
    uint8_t epc_len;
    uint8_t epc[SK_EPC_MAX];
    int16_t rssi_cdbm;    /* last RSSI read, INT16_MIN when the reader reports none */
    uint32_t reads;       /* reads while present */
    int64_t last_seen_us; /* CLOCK_MONOTONIC of the last read */
};

/*
 * The live tag view (`diag reader`): sk_rfid_request_tags() asks the reader's bus thread for a
 * copy of its present tags, made right after its next poll; sk_rfid_tags() returns the latest
 * copy (up to max tags into buf) with the monotonic time it was made in *ret_taken_us (0 when
 * none was made yet), and the number of tags present then (which may exceed max). Both are
 * thread-safe and never wait for the bus. Return -ENOENT for an unknown reader.
 */
int sk_rfid_request_tags(struct sk_rfid *r, const char *name);
int sk_rfid_tags(struct sk_rfid *r,
                 const char *name,
                 struct sk_rfid_tag_view *buf,
                 size_t max,
                 int64_t *ret_taken_us);

/*
 * Loads the profile of reader i of cfg and checks it suits the reader's bus and unit: an
 * sk_config_reader_check, given to sk_config_load by --check-config so a profile problem is
 * listed with the file's others at the reader's line. The profile file's own problems go to
 * diag as "FILE:LINE: ..."; returns 0 or SK_EPROFILE with why set.
 */
int sk_rfid_check_reader(
        const struct sk_config *cfg, size_t i, struct sk_diag *diag, char *why, size_t why_size);

/* The presence settings of a reader's antenna from the shelves and presets in cfg
 * (antenna 0: the reader's default). */
void sk_rfid_params_for(const struct sk_config *cfg,
                        const char *reader,
                        int antenna,
                        struct sk_presence_params *ret);

/* Resolves a bus URL for opening: a board serial port name becomes its device path. Writes
 * the URL to buf and whether the port wants RS-485 mode. Returns 0 or -ENOENT. */
int sk_rfid_bus_url(const struct sk_config *cfg,
                    const struct sk_bus_cfg *bus,
                    char *buf,
                    size_t size,
                    bool *ret_rs485);

#endif
