/* SPDX-License-Identifier: MIT */
/* Fusion: who took what. Shopper sessions, attribution of pickups, carts, checkout, restock. */
#ifndef STOREKEEPER_FUSION_H
#define STOREKEEPER_FUSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storekeeper/clock.h"
#include "storekeeper/config.h"
#include "storekeeper/obs.h"
#include "storekeeper/tagset.h"

/*
 * The fusion engine turns observations (tags leaving and arriving on shelves, anonymous camera
 * tracks entering zones and crossing lines) into the facts the store is paid by: a shopper
 * session opened at the entry, items picked into its cart, put back, and a checkout at the
 * exit. It is a plain state machine owned by the core: sk_fusion_handle() for each
 * observation, sk_fusion_tick() for the passage of time, with an injected clock, so tests
 * and `replay` drive it deterministically. The rules are documented in docs/fusion.md.
 *
 * It does no I/O. What it needs to know about products comes through a catalog (callbacks,
 * normally the ledger's products, tags and planogram); every fact it establishes leaves
 * through the emit callback as a struct sk_fusion_event, which the core turns into ledger
 * movements and outbox events in the transaction of the observation that caused it. When
 * emit fails, the call that emitted returns the error; the caller then rolls back and
 * restores the engine's state (sk_fusion_export/sk_fusion_import).
 */
struct sk_fusion;

#define SK_FUSION_ID_LEN      36  /* session ids: UUID text, without NUL */
#define SK_FUSION_ACCOUNT_MAX 129 /* account token of a bound session, with NUL */
#define SK_FUSION_JOINS_MAX   8   /* track joins kept per session (all are counted) */
#define SK_SKU_MAX            64  /* as the ledger: 63 characters and NUL */
#define SK_GTIN_MAX           15
#define SK_PRODUCT_NAME_MAX   128

/* What the engine knows about a product; from the catalog. */
struct sk_fusion_product {
    char sku[SK_SKU_MAX];
    char gtin[SK_GTIN_MAX]; /* GTIN-14 or empty */
    char name[SK_PRODUCT_NAME_MAX];
    int64_t price_minor;   /* unit price in minor units (cents) */
    char currency[4];      /* ISO 4217 */
    int restock_threshold; /* informative (the ledger raises low-stock events) */
    int restock_target;
};

/*
 * The catalog, borrowed by the engine. product() fills *ret for an EPC and returns 0, or
 * -ENOENT for a tag the catalog does not know (the item is still tracked, with its EPC as
 * its sku and a price of 0, and its checkout goes to review). planogram() says whether sku
 * belongs on shelf: 1 yes, 0 no, < 0 unknown (no planogram: never misplaced). Either callback
 * may be NULL.
 */
struct sk_fusion_catalog {
    int (*product)(void *ctx,
                   const uint8_t *epc,
                   size_t epc_len,
                   struct sk_fusion_product *ret_product);
    int (*planogram)(void *ctx, const char *shelf, const char *sku);
    /* The expected stock of sku on shelf as booked (tagged and untagged items), or < 0 when
     * not known (NULL: never known). A tag that arrives while what is booked there already
     * covers every present tag of its sku is booked stock becoming visible (a hand count,
     * an adjustment), not new stock: no second restock (docs/fusion.md, "Restock"). */
    int (*expected)(void *ctx, const char *shelf, const char *sku);
    void *ctx;
};

/* How an attribution was decided (docs/fusion.md, "Attribution"). */
enum sk_fusion_rule {
    SK_RULE_NONE = 0,
    SK_RULE_ONLY,    /* one candidate session */
    SK_RULE_DWELL,   /* several: clearly the longest presence in the zone around the removal */
    SK_RULE_NEAREST, /* several with equal presence: the one nearest the zone's centre */
    SK_RULE_LONGEST, /* equal presence and distance: the one there longest before it */
    SK_RULE_REACH,   /* the one the camera saw reach into the shelf around the removal */
};

/* Why a session's checkout should be reviewed by a person (bit mask). */
enum sk_fusion_review {
    SK_REVIEW_LOW_CONFIDENCE = 1 << 0,  /* a line's confidence is below the threshold */
    SK_REVIEW_NO_ENTRY = 1 << 1,        /* no entry crossing was seen for this shopper */
    SK_REVIEW_UNKNOWN_PRODUCT = 1 << 2, /* a line's tag is not in the catalog */
    SK_REVIEW_LATE_JOIN = 1 << 3,       /* the track was joined after a long loss */
    SK_REVIEW_CART_FULL = 1 << 4,       /* fusion.max_cart_items was reached */
    SK_REVIEW_PORTAL_EXIT = 1 << 5,     /* closed by the exit portal, no exit crossing seen */
    SK_REVIEW_LATE_ITEM = 1 << 6,       /* an item was attributed while it was exiting late */
    SK_REVIEW_CONTESTED = 1 << 7,       /* another shopper could have taken a line (or this one) */
    SK_REVIEW_UNSEEN = 1 << 8,          /* someone the camera does not follow may have taken it */
    SK_REVIEW_CAMERA_GAP = 1 << 9,      /* the camera's view of the shelf was not whole meanwhile */
    SK_REVIEW_READER_OUTAGE = 1 << 10,  /* a reader of a shelf it stood at was down at checkout */
    SK_REVIEW_REENTERED = 1 << 11,      /* crossed back in right after leaving: the same
                                         * shopper, or one coming in taken for them */
};

/* Why one line is in doubt (bit mask, sk_fusion_evidence.doubt): what sends it to review. */
enum sk_fusion_doubt {
    SK_DOUBT_CONTESTED = 1 << 0, /* another present shopper could not be ruled out */
    SK_DOUBT_UNSEEN = 1 << 1,    /* motion no track explains, or the one there did not reach */
    SK_DOUBT_CAMERA = 1 << 2,    /* the camera was not up for the whole interval (or restart) */
    SK_DOUBT_OUTAGE = 1 << 3,    /* the reader was down or slow: a wide removal interval */
};

#define SK_FUSION_CANDS_MAX 4 /* candidates listed per line (all are counted) */

enum sk_fusion_cand_flags {
    SK_CAND_CHARGED = 1 << 0,   /* the line went to this one */
    SK_CAND_PRESENT = 1 << 1,   /* in the shelf's zone while the item could have left */
    SK_CAND_REACHED = 1 << 2,   /* the camera saw it reach into the shelf then */
    SK_CAND_RULED_OUT = 1 << 3, /* the evidence rules it out (present, did not reach) */
    SK_CAND_ALIKE = 1 << 4,     /* reached once and took one of the line's interchangeable tags */
};

/* One shopper who could have taken a line. */
struct sk_fusion_candidate {
    char session[SK_FUSION_ID_LEN + 1]; /* empty: a track without a session */
    uint32_t track;
    float score;   /* rank of its presence, 0..1 */
    float reach;   /* how far it reached into the shelf around the removal, 0..1 */
    uint8_t flags; /* enum sk_fusion_cand_flags */
};

/* Evidence behind one cart line. Times are wall clock (records); 0 when unknown. */
struct sk_fusion_evidence {
    char shelf[SK_NAME_MAX];  /* where the item was taken from */
    char reader[SK_NAME_MAX]; /* which reader saw it leave */
    uint8_t antenna;
    char camera[SK_NAME_MAX]; /* whose track took it */
    uint32_t track_id;        /* 0: no track (no candidate) */
    int64_t removed_wall_us;  /* the removal interval: from the last read on the shelf ... */
    int64_t missed_wall_us;   /* ... to the first poll that missed it; 0 unknown */
    int64_t departed_wall_us; /* when the reader reported it gone */
    float score;              /* presence of the chosen track around the removal, 0..1 */
    float confidence;         /* 0..1 */
    uint8_t rule;             /* enum sk_fusion_rule */
    uint8_t candidates;       /* sessions that were candidates */
    bool lost_track;          /* the chosen track was lost (occluded) around the removal */
    char runner_session[SK_FUSION_ID_LEN + 1]; /* second best, or empty */
    uint32_t runner_track;
    float runner_score;
    uint32_t reads;            /* reads that supported the departure */
    int64_t exit_seen_wall_us; /* the exit portal saw the item leave; 0: not seen */
    float reach;               /* the chosen one's reach into the shelf then, 0..1; -1 unmeasured */
    uint8_t doubt;             /* enum sk_fusion_doubt bits */
    uint8_t alike;             /* >= 2: one of that many tags of one product and price gone while
                                * as many shoppers each reached once: the charge is certain,
                                * which of those tags is whose is not (docs/fusion.md); 0 none */
    uint8_t n_cands;           /* the first SK_FUSION_CANDS_MAX candidates, the charged first */
    struct sk_fusion_candidate cands[SK_FUSION_CANDS_MAX];
};

/* One item (one tag) in a cart, or the item an event is about. */
struct sk_fusion_line {
    uint8_t epc[SK_EPC_MAX];
    uint8_t epc_len;
    bool known; /* product comes from the catalog */
    struct sk_fusion_product product;
    struct sk_fusion_evidence ev;
};

enum sk_fusion_session_state {
    SK_SESSION_ACTIVE = 1, /* its track is followed */
    SK_SESSION_LOST,       /* its track vanished; a new track nearby may be joined to it */
    SK_SESSION_EXITING,    /* crossed the exit outwards; checkout once late pickups settled */
    SK_SESSION_CLOSED,     /* checked out */
    SK_SESSION_ABANDONED,  /* timed out (idle or lost too long) */
};

struct sk_fusion_join {
    char camera[SK_NAME_MAX];
    uint32_t old_track, new_track;
    int64_t gap_ms; /* between the loss and the new track */
    float distance; /* pixels between last and first position; < 0 unknown */
    bool late;      /* joined beyond fusion.join_window_ms (the only lost session) */
    int64_t wall_us;
    /* A handover between floor-calibrated cameras: the old track's camera (camera is the new
     * one's) and the floor distance in metres (< 0 unknown); empty and -1 on one camera. */
    char old_camera[SK_NAME_MAX];
    float distance_m;
};

/* A shopper session as the engine holds it; borrowed from the engine, read only. */
struct sk_fusion_session {
    char id[SK_FUSION_ID_LEN + 1];
    char account[SK_FUSION_ACCOUNT_MAX]; /* from a session bind; empty when anonymous */
    int state;                           /* enum sk_fusion_session_state */
    unsigned review;                     /* enum sk_fusion_review bits */
    char camera[SK_NAME_MAX];            /* current track */
    uint32_t track_id;
    char entry_line[SK_NAME_MAX]; /* empty when opened without an entry crossing */
    char exit_line[SK_NAME_MAX];
    int64_t opened_wall_us, exit_wall_us, closed_wall_us;
    int64_t opened_mono_us, exit_mono_us, lost_mono_us, last_mono_us;
    float x, y; /* last known position of its track */
    bool has_pos;
    uint32_t n_joins; /* joins so far; the first SK_FUSION_JOINS_MAX are in joins */
    struct sk_fusion_join joins[SK_FUSION_JOINS_MAX];
    struct sk_fusion_line *lines; /* the cart */
    size_t n_lines, cap_lines;
    /* Lines charged to another session for which this one was a candidate that could not be
     * ruled out: shown on its checkout, not charged, and its checkout goes to review. */
    struct sk_fusion_line *contested;
    size_t n_contested, cap_contested;
};

enum sk_fusion_event_type {
    SK_FEV_SESSION = 1, /* lifecycle; what: enum sk_fusion_session_what */
    SK_FEV_PICKUP,      /* line entered session's cart */
    SK_FEV_PUTBACK,     /* line arrived on shelf; what: enum sk_fusion_putback_what */
    SK_FEV_REMOVAL,     /* line left shelf, nobody took it; what: enum sk_fusion_removal */
    SK_FEV_MISPLACED,   /* line arrived on shelf, which is not its planogram home */
    SK_FEV_CHECKOUT,    /* session left with its cart */
    SK_FEV_EXIT_WITHOUT_CHECKOUT, /* items (n_items) left through the exit portal unpaid */
    SK_FEV_CART_ABANDONED,        /* session timed out holding items */
    SK_FEV_RESTOCK,               /* line arrived on shelf as new stock; what 1: announced */
    SK_FEV_RESTOCK_SESSION,       /* a restock on shelves ended: counts in restock */
    /* Low stock is not a fusion event: the ledger writes event/low_stock when the pickups
     * fusion records take a sku's stock to its threshold. */
};

enum sk_fusion_session_what {
    SK_SESSION_OPENED = 1,
    SK_SESSION_JOINED, /* join: the new track */
    SK_SESSION_BOUND,  /* an account was attached */
    SK_SESSION_CHECKED_OUT,
    SK_SESSION_TIMED_OUT, /* abandoned */
};

enum sk_fusion_putback_what {
    SK_PUTBACK_FROM_CART = 1,  /* the session's cart held it */
    SK_PUTBACK_AFTER_CHECKOUT, /* sold to ref_session, now back on a shelf: a return */
    SK_PUTBACK_AFTER_REMOVAL,  /* an unattributed removal (or abandoned cart) came back */
    SK_PUTBACK_MOVED,          /* moved from one shelf to another without entering a cart */
};

enum sk_fusion_removal {
    SK_REMOVAL_UNATTRIBUTED = 1, /* no shopper around: staff or shrink suspicion */
    SK_REMOVAL_STAFF,            /* during a restock on that shelf */
    SK_REMOVAL_ABANDONED,        /* held by a cart that was abandoned */
};

struct sk_fusion_restock_count {
    char shelf[SK_NAME_MAX];
    char sku[SK_SKU_MAX];
    int added;               /* items that arrived as stock since the last restock event */
    int stock;               /* items on the shelf now */
    int64_t started_wall_us; /* when the restock on that shelf began */
};

/* One fact. Everything pointed to is borrowed, valid during the emit callback only. */
struct sk_fusion_event {
    int type;                                /* enum sk_fusion_event_type */
    int what;                                /* subtype, per type (see above); 0 when none */
    int64_t mono_us, wall_us;                /* when the fact happened */
    const struct sk_fusion_session *session; /* may be NULL */
    const struct sk_fusion_line *line;       /* the item, or NULL */
    const char *shelf;                       /* where it happened, or NULL */
    const char *from_shelf;                  /* PUTBACK, MISPLACED: origin, or NULL */
    const char *ref_session;                 /* PUTBACK after checkout: sold in, or NULL */
    bool misplaced;                          /* PUTBACK, RESTOCK: shelf is not its home */
    const struct sk_fusion_join *join;       /* SESSION joined */
    /* EXIT_WITHOUT_CHECKOUT: the items; CART_ABANDONED: session->lines */
    const struct sk_fusion_line *items;
    size_t n_items;
    /* RESTOCK_SESSION */
    const char *restock_id; /* from restock_done, a badge's name, or "" (unannounced) */
    const struct sk_fusion_restock_count *restock;
    size_t n_restock;
};

/* Returns 0 to go on, or a negative error that the engine passes back to its caller. */
typedef int (*sk_fusion_emit_cb)(void *ctx, const struct sk_fusion_event *ev);

/*
 * cfg, clock and catalog are borrowed and must outlive the engine (see set_config). emit may
 * be NULL (facts are then only counted). Returns 0 and an owned engine, -ENOMEM.
 */
int sk_fusion_new(const struct sk_config *cfg,
                  const struct sk_clock *clock,
                  const struct sk_fusion_catalog *catalog,
                  sk_fusion_emit_cb emit,
                  void *emit_ctx,
                  struct sk_fusion **ret_fusion);
void sk_fusion_free(struct sk_fusion *f);
/* A reloaded configuration (borrowed). Shelves, zones and lines cannot change on reload. */
void sk_fusion_set_config(struct sk_fusion *f, const struct sk_config *cfg);

/*
 * Handles one observation (borrowed). Tag observations must come after the core updated
 * its present-tag set. Returns 0, or the first negative error of emit (the state already
 * changed: the caller restores it, see sk_fusion_import).
 */
int sk_fusion_handle(struct sk_fusion *f, const struct sk_obs *obs);
/* Applies the time-driven rules at the clock's current time. Same return as handle. */
int sk_fusion_tick(struct sk_fusion *f);

/*
 * Rebuilds the engine's picture of what lies on which shelf (and the stock per shelf and
 * sku) from the core's present-tag set. Call after the set was loaded. Returns the number of
 * tags on shelves.
 */
int sk_fusion_load_present(struct sk_fusion *f, const struct sk_tagset *present);

/*
 * A session bind (the gate app's `session bind` command): attaches an account token to the
 * open session session_id, or with session_id NULL or empty to the next persons (>= 1)
 * sessions that open before expires_mono_us (a party paying on one account). A bind of a token
 * already waiting is the same bind sent again: its expiry is renewed, the persons it still
 * waits for are not. Returns 0 (applied or held), -ENOENT for an unknown session, -ENOSPC
 * when fusion.max_pending_binds binds wait.
 */
int sk_fusion_bind(struct sk_fusion *f,
                   const char *token,
                   const char *session_id,
                   int persons,
                   int64_t expires_mono_us);

/*
 * A restock session on shelves (n == 0: every shelf) until until_mono_us: tags that arrive
 * there count as restock, removals nobody took as staff removals. Returns 0 or -ENOENT for
 * an unknown shelf name (nothing changed).
 */
int sk_fusion_restock_begin(struct sk_fusion *f,
                            const char *const *shelves,
                            size_t n,
                            int64_t until_mono_us);
/*
 * A restock finished (the `restock done` command): ends the restock session on shelves
 * (n == 0: every shelf) and emits one restock-session event with what arrived there since
 * the last one. Returns 0, -ENOENT for an unknown shelf, or emit's error.
 */
int sk_fusion_restock_done(struct sk_fusion *f,
                           const char *const *shelves,
                           size_t n,
                           const char *restock_id);

/* ---- state ----------------------------------------------------------------------------- */

/*
 * The engine's durable state (sessions with their carts, undecided departures, exit
 * sightings, recent sales and removals, restock sessions, pending binds, the session serial,
 * and the recent camera tracks an undecided departure may need) as one JSON object: what
 * must survive a restart or be restored after a rolled-back transaction. Returns an owned
 * cJSON (cJSON_Delete) or NULL for lack of memory.
 */
struct cJSON *sk_fusion_export(const struct sk_fusion *f);
/*
 * Replaces the durable state with state (borrowed), as exported by sk_fusion_export (of this
 * engine or of an earlier process: monotonic times are then shifted by the wall-clock time
 * that passed, and the tracks it carries count as lost). Returns 0, or -EINVAL for a
 * malformed state (the engine is then empty).
 */
int sk_fusion_import(struct sk_fusion *f, const struct cJSON *state);

/*
 * The same state in parts, so storage writes only what changed: "core" (everything but the
 * sessions and the remembered sales) and one "session/<id>" per open session. put is called
 * for every part that changed since the last persist (all of them with all), with state NULL
 * for a session that closed; a negative return stops and is returned (the parts stay dirty).
 */
typedef int (*sk_fusion_put_cb)(void *ctx, const char *key, const struct cJSON *state);
int sk_fusion_persist(struct sk_fusion *f, bool all, sk_fusion_put_cb put, void *ctx);
/* True when some part changed since the last persist. */
bool sk_fusion_dirty(const struct sk_fusion *f);
/*
 * Replaces the durable state with persisted parts (borrowed; core may be NULL: an empty
 * engine). Remembered sales are not part of them: feed them with sk_fusion_remember (the
 * ledger's movements). Same return as sk_fusion_import.
 */
int sk_fusion_restore(struct sk_fusion *f,
                      const struct cJSON *core,
                      const struct cJSON *const *sessions,
                      size_t n_sessions);

struct sk_movement_row;

/* Remembers what a ledger movement (fed oldest first) says happened to its tag: a sale or a
 * shrink took it off the shelves, so its return is recognised; any other movement of the tag
 * (it came back) forgets it. Returns 1 when remembered, 0 when not (forgotten, or no tag). */
int sk_fusion_remember(struct sk_fusion *f, const struct sk_movement_row *row);

/* Replaces the catalog (copied; its ctx borrowed). */
void sk_fusion_set_catalog(struct sk_fusion *f, const struct sk_fusion_catalog *catalog);

/* ---- the ledger (firmware/fusion/fusion_ledger.c)
 * ------------------------------------------------ */

struct sk_ledger;

/* A catalog that reads products, tag mappings and the planogram from the ledger (borrowed). */
struct sk_fusion_catalog sk_fusion_ledger_catalog(struct sk_ledger *l);
/*
 * Records one fact in the ledger, inside the caller's transaction: its movements, its outbox
 * event, the sessions table (docs/fusion.md, "In the ledger"). Returns 0 or the ledger's
 * error (movements the ledger refuses for their content are logged and skipped).
 */
int sk_fusion_ledger_record(struct sk_ledger *l, const struct sk_fusion_event *ev);
/* Writes the parts of the engine's state that changed (all: every part) into the ledger. */
int sk_fusion_ledger_save(struct sk_fusion *f, struct sk_ledger *l, bool all);
/* Restores the engine's state from the ledger (and the sales of the last
 * fusion.sold_memory_s from its movements). Returns the open sessions restored or < 0. */
int sk_fusion_ledger_load(struct sk_fusion *f,
                          struct sk_ledger *l,
                          const struct sk_config *cfg,
                          const struct sk_clock *clock);

/* ---- queries (tests, diagnostics) ------------------------------------------------------ */

/* Sessions not yet closed, in opening order; borrowed until the next call that changes state. */
size_t sk_fusion_session_count(const struct sk_fusion *f);
const struct sk_fusion_session *sk_fusion_session_at(const struct sk_fusion *f, size_t i);
const struct sk_fusion_session *sk_fusion_session_by_id(const struct sk_fusion *f, const char *id);
/* The open session the track (camera, track_id) belongs to, or NULL. */
const struct sk_fusion_session *
sk_fusion_session_of_track(const struct sk_fusion *f, const char *camera, uint32_t track_id);
/* Items of sku on shelf as the readers see them. */
int sk_fusion_stock(const struct sk_fusion *f, const char *shelf, const char *sku);

struct sk_fusion_stats {
    uint64_t sessions_opened, sessions_closed, sessions_abandoned, joins, late_joins;
    uint64_t pickups, putbacks, removals, misplaced, restocks, exits_unpaid;
    uint64_t arrivals_booked;    /* tags arriving that the expected stock already held */
    uint64_t pending_departures; /* undecided now */
    uint64_t dropped;            /* facts lost to a bound (logged) */
    uint64_t tracks;             /* tracks held now */
};

void sk_fusion_get_stats(const struct sk_fusion *f, struct sk_fusion_stats *ret_stats);

/* Static names for payloads and logs. */
const char *sk_fusion_rule_name(int rule);
const char *sk_fusion_state_name(int state);
/* Writes the review reasons as a comma-separated list ("low_confidence,no_entry"). */
void sk_fusion_review_text(unsigned review, char *buf, size_t size);

#endif
