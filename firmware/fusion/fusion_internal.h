/* SPDX-License-Identifier: MIT */
/* Internal to the fusion engine: its state, and the calls between its layers (README.md). */
#ifndef SK_FUSION_INTERNAL_H
#define SK_FUSION_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storekeeper/fusion.h"

#define VISITS_MAX    24                /* zone stays remembered per track (a ring) */
#define BINDS_MAX     64                /* session binds waiting for their shopper */
#define LOST_WEIGHT   0.85f             /* presence inferred across a track loss counts this much */
#define TIE_BAND      0.10f             /* ranks closer than this are a tie for the dwell rule */
#define TRACK_KEEP_US (300LL * 1000000) /* lost tracks are forgotten after this */
#define COAST_US      1500000LL         /* a track coasts unseen about this long before it ends */
#define NEVER         INT64_MAX
#define REACHES_MAX   8   /* reach episodes remembered per track, and unexplained ones per shelf */
#define ARRIVALS_MAX  8   /* recent arrivals remembered per shelf (puts explain reaches) */
#define WALK_MPS      1.5 /* how fast a shopper may have walked between two floor sightings */

/* One stay of a track in a zone. */
struct zone_visit {
    int zone;         /* index in cfg->zones */
    int64_t enter_us; /* monotonic */
    int64_t leave_us; /* NEVER while inside */
    float x, y;       /* latest position inside */
    bool has_pos;
    bool by_loss; /* the track vanished inside the zone */
};

/* One reach into a shelf's reach band, seen by the camera (SK_OBS_REACH). */
struct reach_rec {
    int zone;                 /* index in cfg->zones */
    int64_t start_us, end_us; /* monotonic */
    float depth;              /* 0..1 */
    uint8_t sole;             /* enum sk_reach_sole: could another's arm have been there */
    uint8_t used;             /* departures it was taken to explain (charged by reach) */
};

struct track {
    bool used;
    char camera[SK_NAME_MAX];
    uint32_t id;
    int64_t born_us, last_us, lost_us; /* lost_us 0 while the track lives */
    float x, y, born_x, born_y;
    bool has_pos, born_pos;
    uint64_t session;  /* serial of the session it belongs (or belonged) to; 0 none */
    bool join_pending; /* appeared away from the entry: may be a lost session's shopper */
    bool at_door;      /* appeared near an entry or door line: most likely someone coming in */
    /* On the floor (its camera calibrated): where it was last seen, in metres, and when. */
    double fx, fy;
    int64_t floor_us; /* 0: never placed on the floor */
    /* The same shopper as the track session follows on another camera (views overlap): its
     * stays and reaches count for that session, and it takes over when the other ends. */
    bool twin;
    struct zone_visit visits[VISITS_MAX];
    unsigned n_visits; /* total; the last VISITS_MAX are kept */
    struct reach_rec reaches[REACHES_MAX];
    unsigned n_reaches; /* total; the last REACHES_MAX are kept */
};

struct session {
    struct sk_fusion_session pub;
    uint64_t no; /* serial, never reused */
    bool dirty;  /* changed since the last sk_fusion_persist */
};

/* A tag that left a shelf and is not yet attributed. */
struct pending {
    struct sk_fusion_line line; /* epc, product, evidence so far */
    int shelf;
    int64_t removed_us;  /* the removal interval, monotonic: from the last read ... */
    int64_t missed_us;   /* ... to the first poll that missed it */
    int64_t departed_us; /* the departure observation, monotonic */
    bool restock;        /* the shelf was being restocked when it left */
    uint8_t alike;       /* one of a group of this many interchangeable tags (settle_alike) */
};

/* A tag the exit portal saw. */
struct sighting {
    uint8_t epc[SK_EPC_MAX];
    uint8_t epc_len;
    char reader[SK_NAME_MAX];
    int64_t mono_us, wall_us;
};

enum memo_kind {
    MEMO_SOLD = 1, /* checked out in session */
    MEMO_REMOVED,  /* unattributed removal or abandoned cart */
    MEMO_UNPAID,   /* reported leaving without checkout */
};

/* A remembered fate of a tag that is off the shelves. */
struct memo {
    uint8_t epc[SK_EPC_MAX];
    uint8_t epc_len;
    uint8_t kind;
    char session[SK_FUSION_ID_LEN + 1];
    char shelf[SK_NAME_MAX];
    int64_t mono_us, wall_us;
    /* The tag maps to no product: no movement of the ledger records this fate, so the memo is
     * kept in the durable state itself (the others are rebuilt from the movements). */
    bool unknown;
};

/* Where a tag lies: the presence picture by EPC (open addressing). */
struct place {
    uint8_t epc[SK_EPC_MAX];
    uint8_t epc_len; /* 0: free slot */
    uint8_t count;   /* antennas of the shelf that see it */
    bool tomb;       /* deleted (keeps probe chains intact) */
    int shelf;
};

/* Stock of one sku on one shelf. */
struct stock {
    struct stock *next; /* hash chain */
    int shelf;
    char sku[SK_SKU_MAX];
    int count;
    int added; /* arrivals as stock since the last restock event */
};

#define STOCK_BUCKETS 1024

struct bind {
    char token[SK_FUSION_ACCOUNT_MAX];
    char session[SK_FUSION_ID_LEN + 1]; /* empty: the next entry */
    int64_t expires_us;
    uint8_t persons; /* entries it still waits for (0 in older state: 1) */
};

struct shelf_info {
    int reader;                   /* index in cfg->readers */
    int camera;                   /* index in cfg->cameras of its zone's camera, -1 none */
    int antenna;                  /* 0: all */
    int zone;                     /* index in cfg->zones, -1 none */
    int64_t hold_us;              /* presence filter hold of its preset */
    int64_t poll_us;              /* poll interval of its reader's bus */
    int64_t restock_until_us;     /* restock session until (NEVER: badge present); 0 none */
    int64_t restock_start_us;     /* wall time it began */
    bool restock_implicit;        /* opened by unannounced arrivals: removals stay shrink */
    char restock_id[SK_NAME_MAX]; /* who opened it (badge name), or empty */
    /* Motion in its reach band that no track explains (a reach ring, track-less). */
    struct reach_rec unexplained[REACHES_MAX];
    unsigned n_unexplained;
    int64_t arrivals[ARRIVALS_MAX];      /* monotonic times of recent arrivals (a ring) */
    int64_t arrival_lo[ARRIVALS_MAX];    /* the earliest each may have been put down */
    uint64_t arrival_from[ARRIVALS_MAX]; /* the session whose cart each came from, 0 none */
    unsigned n_arrivals;
};

#define HEALTH_MARKS 16 /* health changes remembered per reader and camera */

struct health_mark {
    int64_t t;     /* monotonic */
    uint8_t state; /* enum sk_health_state */
};

/* A source's recent health changes, oldest first (a ring). */
struct health_log {
    struct health_mark marks[HEALTH_MARKS];
    size_t head, n;
};

struct sk_fusion {
    const struct sk_config *cfg;
    const struct sk_clock *clock;
    struct sk_fusion_catalog catalog;
    sk_fusion_emit_cb emit;
    void *emit_ctx;

    /* derived from the config */
    struct shelf_info *shelves; /* cfg->n_shelves */
    float *zone_cx, *zone_cy;   /* zone centroids */
    int64_t max_hold_us;
    /* Stalls: the time of the previous tick, and when this process last resumed after going
     * unscheduled (or restarted); checkouts give the readers a settle time from then. */
    int64_t last_tick_us, resumed_us;
    uint64_t instance; /* tells this engine's exports from a restarted process's */
    /* When sessions of an earlier process were restored with their tracks ended by its death
     * (lost at this moment); 0 when none were. A track joined to one of them cannot be told
     * from a neighbour's: the cameras saw nothing while the runtime was down. */
    int64_t restart_lost_mono_us;
    size_t restart_lost_n;            /* how many sessions were restored so */
    int64_t restarted_us;             /* when state of an earlier process was restored; 0 never */
    struct health_log *reader_health; /* cfg->n_readers */
    struct health_log *camera_health; /* cfg->n_cameras */
    size_t n_reader_health, n_camera_health;

    /* camera picture (not durable) */
    struct track *tracks;
    size_t max_tracks;

    /* durable state */
    struct session **sessions; /* open sessions, in opening order */
    size_t n_sessions, max_sessions;
    uint64_t next_session_no;
    struct pending *pending;
    size_t n_pending;
    struct sighting *sightings;
    size_t n_sightings;
    struct memo *memos; /* ring of max_pending */
    size_t memo_head, n_memos;
    size_t max_pending;
    struct bind binds[BINDS_MAX];
    size_t n_binds;
    bool dirty;                         /* the core part of the durable state changed */
    bool parts_dirty;                   /* a session changed or went */
    char (*gone)[SK_FUSION_ID_LEN + 1]; /* sessions closed since the last persist */
    size_t n_gone;

    /* presence and stock (rebuilt from the present-tag set) */
    struct place *places;
    size_t places_cap, places_used, places_tombs;
    struct stock *stock[STOCK_BUCKETS];

    struct sk_fusion_stats stats;
};

/*
 * The engine's layers, bottom up (README.md): each file calls only functions of the layers
 * below it (scripts/check-modules.py checks it). Everything here is internal: the prefix
 * fusion__ says so; the API is include/storekeeper/fusion.h.
 *
 * Errors: every function that can fail returns 0 (or a count) or a negative errno, and every
 * caller handles it; the first failure of emit ends the call that emitted, which returns it
 * (the core then rolls back and restores the engine's state).
 */

/* ---- layer 0: fusion_base.c: clock, emit, catalog, shelves ----------------------------- */

int64_t fusion__now(const struct sk_fusion *f);
int64_t fusion__wall(const struct sk_fusion *f);
/* Mono to wall time through the clock's current offset. */
int64_t fusion__to_wall(const struct sk_fusion *f, int64_t mono_us);
/* When obs happened: its own times, else now. */
int64_t fusion__obs_mono(const struct sk_fusion *f, const struct sk_obs *obs);
int64_t fusion__obs_wall(const struct sk_fusion *f, const struct sk_obs *obs);
/* Hands one fact to the emit callback (filling its wall time). Returns 0 or emit's error. */
int fusion__emit(struct sk_fusion *f, struct sk_fusion_event *ev);
bool fusion__epc_equal(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);
/* Fills line's product from the catalog (its EPC stands in for an unknown tag's sku). */
void fusion__lookup_product(struct sk_fusion *f, struct sk_fusion_line *line);
/* 1 home, 0 not home, < 0 unknown. */
int fusion__home(struct sk_fusion *f, int shelf, const char *sku);
/* The catalog's expected stock of sku on shelf, or < 0 when not known. */
int fusion__expected(struct sk_fusion *f, int shelf, const char *sku);
/* The shelf a reader's antenna watches, or -1. */
int fusion__shelf_of(const struct sk_fusion *f, const char *reader, int antenna);
/* The shelf of that name, or -1. */
int fusion__shelf_named(const struct sk_fusion *f, const char *name);
/* Index of the staff badge with this EPC, or -1. */
int fusion__badge(const struct sk_fusion *f, const uint8_t *epc, size_t len);

/* ---- layer 1: fusion_tracks.c: the camera picture ------------------------------------ */

/* Lookup: the live track (camera, id), else the last one lost under that id (trackers reuse
 * ids, and a restarted camera starts again at 1); NULL when none. */
struct track *fusion__track_find(struct sk_fusion *f, const char *camera, uint32_t id);
/* Create: a new, empty record for (camera, id); when the table is full the record of the
 * longest-lost track, or of the one silent longest, is evicted for it. Never NULL. */
struct track *fusion__track_create(struct sk_fusion *f, const char *camera, uint32_t id);
/* Forgets tracks lost longer than TRACK_KEEP_US. */
void fusion__tracks_expire(struct sk_fusion *f, int64_t now);
/* Takes a finite, non-origin position from an observation, seen at mono (its floor position
 * too when its camera is floor-calibrated). */
void fusion__track_set_pos(
        const struct sk_fusion *f, struct track *t, float x, float y, int64_t mono);
/* Where (x, y) of camera lies on the floor, in metres; false when the camera has no floor
 * calibration (or the point is beyond its horizon). */
bool fusion__floor_of(const struct sk_fusion *f,
                      const char *camera,
                      float x,
                      float y,
                      double *ret_x,
                      double *ret_y);
/* The stay in zone still open (open_only) or the latest one; NULL when none is kept. */
struct zone_visit *fusion__track_visit(struct track *t, int zone, bool open_only);
/* A new stay in zone entered at enter_us (the oldest kept one makes room). */
struct zone_visit *fusion__track_visit_add(struct track *t, int zone, int64_t enter_us);
/* A reach of the track into zone, [start_us, end_us], depth 0..1 (the oldest makes room). */
void fusion__track_reach(
        struct track *t, int zone, int64_t start_us, int64_t end_us, float depth, uint8_t sole);
/* The track vanished at mono: open stays end there, by loss. */
void fusion__track_end(struct track *t, int64_t mono);
/* Whether the track was born within the join radius of one of its camera's entry lines. */
bool fusion__track_near_entry(const struct sk_fusion *f, const struct track *t);
/* The exit or door line of camera that (x, y) lies beyond, on the outside; NULL when none. */
const struct sk_line_cfg *
fusion__outside_exit(const struct sk_fusion *f, const char *camera, float x, float y);

/* ---- layer 1: fusion_health.c: readers and cameras over time -------------------------- */

void fusion__health_note(struct health_log *h, int64_t t, int state);
/* True when the source was up (or never reported) throughout [t0, t1]. */
bool fusion__health_up_over(const struct health_log *h, int64_t t0, int64_t t1);
/* Since when it has been down or degraded without a break; 0 when it is up now. */
int64_t fusion__health_down_since(const struct health_log *h);

/* ---- layer 1: fusion_places.c: where tags are ---------------------------------------- */

/* On a shelf: the presence picture by EPC. */
struct place *fusion__place(struct sk_fusion *f, const uint8_t *epc, size_t len);
int fusion__place_set(struct sk_fusion *f, const uint8_t *epc, size_t len, int shelf, int count);
void fusion__place_del(struct sk_fusion *f, struct place *p);
void fusion__places_clear(struct sk_fusion *f);
/* Left a shelf, not decided yet. */
struct pending *fusion__pending_find(struct sk_fusion *f, const uint8_t *epc, size_t len);
/* A new record at the end (the caller made room: n_pending < max_pending). */
struct pending *fusion__pending_add(struct sk_fusion *f);
void fusion__pending_drop(struct sk_fusion *f, struct pending *p);
/* True while a departure removed at or before t is undecided. */
bool fusion__pending_before(const struct sk_fusion *f, int64_t t);
/* Seen by the exit portal, no cart claimed it yet. */
struct sighting *fusion__sighting_find(struct sk_fusion *f, const uint8_t *epc, size_t len);
/* A new record at the end; when full the oldest is forgotten (counted in dropped). */
struct sighting *fusion__sighting_add(struct sk_fusion *f);
void fusion__sighting_drop(struct sk_fusion *f, struct sighting *g);
/* Off the shelves: the newest remembered fate of epc with a kind in mask (1 << kind). */
struct memo *fusion__memo_find(struct sk_fusion *f, const uint8_t *epc, size_t len, unsigned mask);
/* Remembers a fate of epc; from_ledger: a movement the ledger recorded (the state load), no
 * catalog lookup. */
void fusion__memo_add(struct sk_fusion *f,
                      bool from_ledger,
                      int kind,
                      const uint8_t *epc,
                      size_t len,
                      const char *session,
                      const char *shelf,
                      int64_t mono_us,
                      int64_t wall_us);
void fusion__memo_forget(struct sk_fusion *f, const uint8_t *epc, size_t len);
void fusion__memos_expire(struct sk_fusion *f);

/* ---- layer 2: fusion_stock.c: stock per shelf and sku, restock sessions --------------- */

struct stock *fusion__stock_entry(struct sk_fusion *f, int shelf, const char *sku, bool create);
void fusion__stock_clear(struct sk_fusion *f);
/* Adds delta to the stock of line's sku on shelf (a bounded table: an entry that cannot be
 * made is counted in dropped). */
void fusion__stock_change(struct sk_fusion *f,
                          int shelf,
                          const struct sk_fusion_line *line,
                          int delta);
/* A staff restock (badge or command, not an implicit one) is going on at shelf. */
bool fusion__staff_at(const struct sk_fusion *f, int shelf);
/* Unannounced stock arrived at shelf: opens or extends its implicit restock. */
void fusion__restock_touch(struct sk_fusion *f, int shelf, int64_t mono_us, int64_t wall_us);
/* A staff badge arrived on (or left) shelf at mono_us, wall_us. */
void fusion__badge_arrived(struct sk_fusion *f, int shelf, int badge, int64_t wall_us);
void fusion__badge_departed(struct sk_fusion *f, int shelf, int64_t mono_us);
/* Restock sessions whose time ran out end with their summary. Returns 0 or emit's error. */
int fusion__restock_tick(struct sk_fusion *f);

/* ---- layer 2: fusion_sessions.c: sessions, carts, joins, checkout -------------------- */

struct session *fusion__session_no(const struct sk_fusion *f, uint64_t no);
/* The session t currently follows (not one it was joined away from), or NULL. */
struct session *fusion__session_of(const struct sk_fusion *f, const struct track *t);
void fusion__session_dirty(struct sk_fusion *f, struct session *s);
void fusion__session_free(struct session *s);
/* Opens a session following t (may be NULL); NULL when fusion.max_sessions are open or
 * memory ran out (logged, counted in dropped). A waiting bind for the next entry is applied
 * when entry_line is set. */
struct session *fusion__session_open(struct sk_fusion *f,
                                     struct track *t,
                                     const char *entry_line,
                                     int64_t mono_us,
                                     int64_t wall_us);
/* Adds line to s's cart. Returns 0, or -ENOSPC / -ENOMEM when the cart cannot take it: the
 * line is then left out, counted in dropped, and the checkout flagged cart_full. */
int fusion__cart_add(struct sk_fusion *f, struct session *s, const struct sk_fusion_line *line);
/* The line holding epc in whichever open cart has it, or NULL. */
struct sk_fusion_line *fusion__cart_find(struct sk_fusion *f,
                                         const uint8_t *epc,
                                         size_t len,
                                         struct session **ret_session);
/* Removes the line holding epc from whichever open cart has it; copies it to ret_line. */
struct session *fusion__cart_take(struct sk_fusion *f,
                                  const uint8_t *epc,
                                  size_t len,
                                  struct sk_fusion_line *ret_line);
/* Lists line (charged to another session) on s's checkout as contested. Returns 0, or
 * -ENOSPC / -ENOMEM (left out, counted in dropped, the checkout flagged cart_full). */
int fusion__session_contest(struct sk_fusion *f,
                            struct session *s,
                            const struct sk_fusion_line *line);
void fusion__session_exit(
        struct sk_fusion *f, struct session *s, int64_t mono_us, int64_t wall_us, const char *line);
/* Decides whether the new track t continues a lost session (force: an exit crossing needs
 * the answer now). Returns 0 or emit's error. */
int fusion__try_join(struct sk_fusion *f, struct track *t, bool force);
/* Floor cameras: whether t, seen at mono, is the shopper an active session follows on another
 * camera (their views overlap): t then becomes that session's twin. A twin that moved away
 * from the session's track is released (join pending again). */
void fusion__twin_check(struct sk_fusion *f, struct track *t, int64_t mono);
/* s's track gone ended (or t, a twin of s, crossed the exit while gone lives): another floor
 * camera's track of the same shopper continues s (to, when given, else the best near gone).
 * Returns 1 when handed over, 0 when no track qualifies, or emit's error. */
int fusion__handover(struct sk_fusion *f, struct session *s, struct track *gone, struct track *to);
/* A track joined to s crossed the entry inwards soon after: it was somebody coming in. Undoes
 * the join (s is lost again) and returns true; false when t is not s's recent join. */
bool fusion__unjoin(struct sk_fusion *f, struct session *s, struct track *t, int64_t mono);
/* Binds for the next entry that expired by now are dropped. */
void fusion__binds_expire(struct sk_fusion *f, int64_t now);
/* Checkouts and abandoned sessions that are due. Returns 0 or emit's error. */
int fusion__sessions_tick(struct sk_fusion *f);

/* ---- layer 3: fusion_attribution.c: who took a tag that left ---------------------------- */

/* Decides p when its picture is complete (force: now, with what is known). Returns 1 when p
 * was decided (the caller drops it), 0 when it waits, < 0 emit's error. */
int fusion__decide(struct sk_fusion *f, struct pending *p, int64_t now, bool force);
/* Decides every departure that can be. Returns 0 or emit's error. */
int fusion__decide_all(struct sk_fusion *f);

/* ---- layer 4: fusion_tags.c: tags leaving and arriving, the exit portal ------------------ */

int fusion__tag_departed(struct sk_fusion *f, const struct sk_obs *obs, int shelf);
int fusion__tag_arrived(struct sk_fusion *f, const struct sk_obs *obs, int shelf);
int fusion__exit_seen(struct sk_fusion *f, const struct sk_obs *obs);
/* Exit sightings no cart claimed in time become exit-without-checkout. */
int fusion__sightings_tick(struct sk_fusion *f);

/* ---- layer 5: fusion_state.c: the durable state (API only) ------------------------------ */
/* ---- layer 6: fusion.c: the dispatcher (API only) --------------------------------------- */
/* ---- layer 7: fusion_ledger.c: the engine meets the ledger (API only) -------------------- */

#endif
