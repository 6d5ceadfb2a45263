/* SPDX-License-Identifier: MIT */
/* Internal to the fusion engine: its state, shared by fusion*.c. */
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
#define NEVER         INT64_MAX

/* One stay of a track in a zone. */
struct zone_visit {
    int zone;         /* index in cfg->zones */
    int64_t enter_us; /* monotonic */
    int64_t leave_us; /* NEVER while inside */
    float x, y;       /* latest position inside */
    bool has_pos;
    bool by_loss; /* the track vanished inside the zone */
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
    struct zone_visit visits[VISITS_MAX];
    unsigned n_visits; /* total; the last VISITS_MAX are kept */
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
    int64_t removed_us;  /* estimated removal (last seen), monotonic */
    int64_t departed_us; /* the departure observation, monotonic */
    bool restock;        /* the shelf was being restocked when it left */
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
};

struct shelf_info {
    int reader;                   /* index in cfg->readers */
    int antenna;                  /* 0: all */
    int zone;                     /* index in cfg->zones, -1 none */
    int64_t hold_us;              /* presence filter hold of its preset */
    int64_t poll_us;              /* poll interval of its reader's bus */
    int64_t restock_until_us;     /* restock session until (NEVER: badge present); 0 none */
    int64_t restock_start_us;     /* wall time it began */
    bool restock_implicit;        /* opened by unannounced arrivals: removals stay shrink */
    char restock_id[SK_NAME_MAX]; /* who opened it (badge name), or empty */
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
    size_t restart_lost_n; /* how many sessions were restored so */

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
    int err; /* first emit error of the current call */
};

/* fusion.c */
int64_t sk_fusion_now(const struct sk_fusion *f);
int64_t sk_fusion_wall(const struct sk_fusion *f);
/* Mono to wall time through the clock's current offset. */
int64_t sk_fusion_to_wall(const struct sk_fusion *f, int64_t mono_us);
int sk_fusion_emit(struct sk_fusion *f, struct sk_fusion_event *ev);
struct track *sk_fusion_track(struct sk_fusion *f, const char *camera, uint32_t id, bool create);
int sk_fusion_shelf_of(const struct sk_fusion *f, const char *reader, int antenna);
bool sk_fusion_epc_equal(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);
void sk_fusion_lookup_product(struct sk_fusion *f, struct sk_fusion_line *line);
/* 1 home, 0 not home, < 0 unknown. */
int sk_fusion_home(struct sk_fusion *f, int shelf, const char *sku);

static inline void sk_fusion_session_dirty(struct sk_fusion *f, struct session *s)
{
    s->dirty = true;
    f->parts_dirty = true;
}

/* fusion_state.c */
void sk_fusion_session_gone(struct sk_fusion *f, const struct session *s);

/* fusion_sessions.c */
struct session *sk_fusion_session_no(const struct sk_fusion *f, uint64_t no);
struct session *sk_fusion_session_open(struct sk_fusion *f,
                                       struct track *t,
                                       const char *entry_line,
                                       int64_t mono_us,
                                       int64_t wall_us);
int sk_fusion_cart_add(struct sk_fusion *f, struct session *s, const struct sk_fusion_line *line);
/* Removes the line holding epc from whichever open cart has it; copies it to ret_line. */
struct session *sk_fusion_cart_take(struct sk_fusion *f,
                                    const uint8_t *epc,
                                    size_t len,
                                    struct sk_fusion_line *ret_line);
struct sk_fusion_line *sk_fusion_cart_find(struct sk_fusion *f,
                                           const uint8_t *epc,
                                           size_t len,
                                           struct session **ret_session);
void sk_fusion_session_exit(
        struct sk_fusion *f, struct session *s, int64_t mono_us, int64_t wall_us, const char *line);
int sk_fusion_try_join(struct sk_fusion *f, struct track *t, bool force);
/* A track joined to s crossed the entry inwards soon after: it was somebody coming in. Undoes
 * the join (s is lost again) and returns true; false when t is not s's recent join. */
bool sk_fusion_unjoin(struct sk_fusion *f, struct session *s, struct track *t, int64_t mono);
int sk_fusion_sessions_tick(struct sk_fusion *f);
void sk_fusion_session_free(struct session *s);
void sk_fusion_make_id(const struct sk_fusion *f, uint64_t no, int64_t wall_us, char *out);

/* fusion_tags.c */
int sk_fusion_tag_departed(struct sk_fusion *f, const struct sk_obs *obs, int shelf);
int sk_fusion_tag_arrived(struct sk_fusion *f, const struct sk_obs *obs, int shelf);
int sk_fusion_exit_seen(struct sk_fusion *f, const struct sk_obs *obs);
int sk_fusion_decide_all(struct sk_fusion *f);
int sk_fusion_sightings_tick(struct sk_fusion *f);
void sk_fusion_memo_add(struct sk_fusion *f,
                        int kind,
                        const uint8_t *epc,
                        size_t len,
                        const char *session,
                        const char *shelf,
                        int64_t mono_us,
                        int64_t wall_us);
void sk_fusion_memos_expire(struct sk_fusion *f);
void sk_fusion_memo_forget(struct sk_fusion *f, const uint8_t *epc, size_t len);

/* fusion_stock.c */
struct place *sk_fusion_place(struct sk_fusion *f, const uint8_t *epc, size_t len);
int sk_fusion_place_set(struct sk_fusion *f, const uint8_t *epc, size_t len, int shelf, int count);
void sk_fusion_place_del(struct sk_fusion *f, struct place *p);
void sk_fusion_places_clear(struct sk_fusion *f);
struct stock *sk_fusion_stock_entry(struct sk_fusion *f, int shelf, const char *sku, bool create);
void sk_fusion_stock_clear(struct sk_fusion *f);
/* Adds delta to the stock of line's sku on shelf. */
int sk_fusion_stock_change(struct sk_fusion *f,
                           int shelf,
                           const struct sk_fusion_line *line,
                           int delta);
/* A staff restock (badge or command, not an implicit one) is going on at shelf. */
bool sk_fusion_staff_at(const struct sk_fusion *f, int shelf);
/* Unannounced stock arrived at shelf: opens or extends its implicit restock. */
void sk_fusion_restock_touch(struct sk_fusion *f, int shelf, int64_t mono_us, int64_t wall_us);
int sk_fusion_restock_tick(struct sk_fusion *f);
int sk_fusion_restock_summary(struct sk_fusion *f, const int *shelves, size_t n, const char *id);
/* Index of the staff badge with this EPC, or -1. */
int sk_fusion_badge(const struct sk_fusion *f, const uint8_t *epc, size_t len);

#endif
