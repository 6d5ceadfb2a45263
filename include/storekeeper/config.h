/* SPDX-License-Identifier: MIT */
/* Store configuration and board profile: loading, validation, reload comparison, reference. */
#ifndef STOREKEEPER_CONFIG_H
#define STOREKEEPER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "storekeeper/homography.h"
#include "storekeeper/log.h"
#include "storekeeper/obs.h"

/*
 * Two inputs make one configuration: the store file (what is in this store) and a board
 * profile from boards/ (what this hardware is). Both are libconfig files. Every key is
 * declared once in a key table (firmware/config/config_keys.c) with its type, range, default and
 * whether a SIGHUP reload may change it; the table drives validation, --check-config and
 * docs/config.md. Strings are fixed-size fields: their size is the input limit.
 */

#define SK_PATH_MAX         256
#define SK_URL_MAX          160
#define SK_HOST_MAX         128
#define SK_POLY_MAX         32                /* points in a zone polygon */
#define SK_FLOOR_POINTS_MAX 16                /* marked floor points of one camera */
#define SK_CONFIG_MAX_BYTES (4 * 1024 * 1024) /* a store file or board profile at most */

/* ---- diagnostics ------------------------------------------------------------------------ */

/* Every problem found while loading, in file order: "FILE:LINE: PATH: PROBLEM". */
struct sk_diag {
    char **lines;
    size_t n, cap;
};

void sk_diag_init(struct sk_diag *d);
void sk_diag_free(struct sk_diag *d);
void sk_diag_add(struct sk_diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sk_diag_print(const struct sk_diag *d, FILE *out);

/* ---- board profile ---------------------------------------------------------------------- */

struct sk_serial_port_cfg {
    char name[SK_NAME_MAX];   /* alias used in bus URLs: rtu:rs485-0:115200:8E1 */
    char device[SK_PATH_MAX]; /* /dev/ttyAMA0 */
    bool rs485;               /* kernel RS-485 mode (MODBUS_RTU_RS485) */
    char description[SK_TEXT_MAX];
};

struct sk_board_cfg {
    char name[SK_NAME_MAX];
    char description[SK_TEXT_MAX];
    struct sk_serial_port_cfg *serial_ports;
    size_t n_serial_ports;
    char camera_backend[16]; /* default backend: libcamera, v4l2, file, synthetic */
    int camera_width, camera_height, camera_fps;
    int vision_width, vision_height; /* processing size */
    int vision_max_fps;
    int max_cameras;
    int max_readers;
    char path[SK_PATH_MAX]; /* file it was loaded from */
};

/* ---- store file ------------------------------------------------------------------------- */

struct sk_bus_cfg {
    char name[SK_NAME_MAX];
    char url[SK_URL_MAX]; /* rtu:DEVICE_OR_PORT:BAUD:8E1 | tcp:HOST:PORT */
    int response_timeout_ms;
    int byte_timeout_ms;
    int pause_ms;         /* silence between two requests (turnaround) */
    int poll_interval_ms; /* cycle of the small trigger blocks */
    int retries;          /* for reads without side effects only */
    int reconnect_min_ms, reconnect_max_ms;
    char device_id[SK_NAME_MAX]; /* the board that runs it; empty: this one */
    bool remote;                 /* derived: another board runs it (a satellite, or the hub) */
};

struct sk_reader_cfg {
    char name[SK_NAME_MAX];
    char bus[SK_NAME_MAX];
    int unit;                  /* Modbus unit id */
    char profile[SK_NAME_MAX]; /* file name in drivers/profiles without extension */
    int role;                  /* enum sk_reader_role */
    int response_timeout_ms;   /* 0: the bus's value */
    int max_tags;              /* bound of its presence filter and of one poll's reads */
};

enum sk_reader_role {
    SK_READER_SHELF = 0,
    SK_READER_EXIT,
};

struct sk_presence_preset_cfg {
    char name[SK_NAME_MAX];
    int arrive_k, arrive_n; /* arrive after seen in k of the last n polls */
    int hold_ms;            /* depart after unseen this long */
};

struct sk_shelf_cfg {
    char name[SK_NAME_MAX];
    char reader[SK_NAME_MAX];
    int antenna;              /* 0: every antenna of the reader */
    char zone[SK_NAME_MAX];   /* camera zone in front of the shelf; may be empty */
    char preset[SK_NAME_MAX]; /* presence filter preset */
};

/*
 * A camera's mounting, from which its floor map follows without marked points: the point of the
 * floor straight under the lens, the height of the lens above it, the lens (horizontal field of
 * view as used, or focal length and sensor width), the direction of the picture's x axis on the
 * floor plan and the tilt from straight down (towards the picture's top edge).
 */
struct sk_mount_cfg {
    double height_m;
    double fov_deg;                   /* 0: from focal_mm and sensor_width_mm */
    double focal_mm, sensor_width_mm; /* the lens as its data sheet gives it */
    double x, y;                      /* metres: the floor point under the lens */
    double rotation_deg;              /* picture x on the floor, counter-clockwise from x */
    double tilt_deg;                  /* 0: straight down */
};

/* A mount's horizontal field of view in degrees: fov_deg, or from focal_mm and the sensor. */
double sk_mount_fov_deg(const struct sk_mount_cfg *m);

struct sk_camera_cfg {
    char name[SK_NAME_MAX];
    char backend[16];            /* empty: the board's default */
    char device[SK_PATH_MAX];    /* device node, camera id or file, per backend */
    int width, height, fps;      /* 0: the board's default */
    char device_id[SK_NAME_MAX]; /* the board that runs it; empty: this one */
    bool remote;                 /* derived: another board runs it */
    /* Floor calibration: u, v (processing pixels), x, y (floor metres) per marked point. */
    double floor[4 * SK_FLOOR_POINTS_MAX];
    size_t floor_len;                /* numbers, not points; 0: not calibrated */
    struct sk_mount_cfg mount;       /* the other calibration: from the mounting */
    bool has_mount;                  /* derived: cameras.[].mount was given */
    bool has_floor;                  /* derived: the points or the mount give the maps below */
    int proc_width, proc_height;     /* derived: its processing size (0: the board did not load) */
    struct sk_homography floor_map;  /* derived: image to floor */
    struct sk_homography floor_back; /* derived: floor to image */
};

/*
 * Zones and lines are given in one camera's pixels, or once on the floor plan (metres): then the
 * loader projects them into the calibrated camera that sees them best (whole, nearest its
 * picture's centre; `camera` pins one) and fills the pixel fields and `camera` from it.
 */
struct sk_zone_cfg {
    char name[SK_NAME_MAX];
    char camera[SK_NAME_MAX];        /* of a floor zone: derived (empty: no camera sees it) */
    double polygon[2 * SK_POLY_MAX]; /* x0,y0,x1,y1,... in processing-size pixels */
    size_t polygon_len;              /* numbers, not points */
    double reach[4];  /* the shelf's front edge x1,y1,x2,y2 (shoppers reach across it) */
    size_t reach_len; /* 0: no reach band (attribution by presence only), else 4 */
    double floor[2 * SK_POLY_MAX]; /* the polygon on the floor plan, metres */
    size_t floor_len;              /* 0: given in pixels */
    double floor_reach[4];         /* the shelf's front edge on the floor plan, metres */
    size_t floor_reach_len;
};

enum sk_line_role {
    SK_LINE_ENTRY = 0, /* crossing inwards opens a session */
    SK_LINE_EXIT,      /* crossing outwards closes one */
    SK_LINE_DOOR,      /* both: one line for a single door */
    SK_LINE_COUNT,     /* counted in flow figures only */
};

struct sk_line_cfg {
    char name[SK_NAME_MAX];
    char camera[SK_NAME_MAX];
    int role;         /* enum sk_line_role */
    double points[4]; /* x1,y1,x2,y2 */
    size_t points_len;
    int inside;       /* 0: left of x1,y1 -> x2,y2 is inside, 1: right */
    double floor[4];  /* x1,y1,x2,y2 on the floor plan, metres; inside as seen from above */
    size_t floor_len; /* 0: given in pixels */
    int floor_inside; /* derived: of a floor line, inside as given (on the plan) */
};

struct sk_mqtt_cfg {
    bool enabled;
    char host[SK_HOST_MAX];
    int port;
    int protocol; /* 0 auto (5 then 3.1.1), 5, 311 */
    int keepalive_s;
    char credentials_file[SK_PATH_MAX];
    bool tls;
    char ca_file[SK_PATH_MAX];
    char cert_file[SK_PATH_MAX];
    char key_file[SK_PATH_MAX];
    bool tls_insecure; /* skip hostname check: for lab brokers only */
    int inflight_max;
    int reconnect_min_ms, reconnect_max_ms;
    char cloud_identity[SK_NAME_MAX]; /* who may send state-changing commands */
    char client_id[64];               /* empty: "<store_id>-<device_id>" */
    int session_expiry_s;             /* MQTT 5 session expiry; 0: clean session */
    int connect_timeout_s;            /* TCP connect and CONNACK wait */
    int command_max_bytes;            /* largest command payload accepted */
    int command_rate_max;             /* commands per second (burst: twice that) */
    int replay_rate_max;              /* backlog messages per second; 0: window-bound only */
    int hwm_interval_ms;              /* shortest interval between outbox high-water marks */
    int stats_interval_s;             /* link statistics; 0: off */
    int request_keep_s;               /* how long replies are kept by request id */
    int request_keep_max;             /* at most this many of them */
    int resend_max;                   /* events one outbox_resend may ask for */
    int resend_rate_max;              /* outbox_resend commands per minute */
};

struct sk_ledger_cfg {
    char path[SK_PATH_MAX];
    int batch_max;      /* observations per transaction */
    int batch_delay_ms; /* longest wait to fill a batch */
    int busy_timeout_ms;
    int census_interval_s;
    int outbox_keep_delivered_s;
    int outbox_keep_delivered_max;
    int outbox_max_pending;
    int max_size_mb; /* 0: bounded by the disk only */
};

struct sk_log_cfg {
    int level;        /* enum sk_log_level */
    int format;       /* enum sk_log_format */
    int recent_lines; /* lines kept in memory for `diag bundle`; 0: none */
};

/* The control socket `storekeeper diag` talks to (docs/technician.md). */
struct sk_control_cfg {
    char socket[SK_PATH_MAX]; /* Unix socket path; empty: no control socket */
    char group[SK_NAME_MAX];  /* group owning the socket (mode 0660); empty: the daemon's */
    int max_clients;          /* connections served at once */
};

/* The local status page and metrics (off by default). */
struct sk_http_cfg {
    bool enabled;
    char address[SK_HOST_MAX]; /* IPv4 or IPv6 literal to listen on */
    int port;
    int max_connections;
    int refresh_s; /* the HTML page reloads itself this often; 0: never */
};

struct sk_core_cfg {
    int tick_ms;
    int queue_capacity;
    int queue_high_pct, queue_low_pct;
    int status_interval_s;
    int watchdog_stall_s; /* a loop silent this long stops the systemd watchdog */
    int max_present_tags; /* bound of the core's present-tag set */
};

/* Vision pipeline settings shared by every camera (docs/vision.md). Areas are in pixels at
 * the board's processing size; 0 means "scaled from the processing size". */
struct sk_vision_cfg {
    int background;       /* 0 adaptive, 1 mog2 (enum sk_vision_background) */
    int history;          /* background model memory, frames */
    double var_threshold; /* MOG2 variance threshold */
    bool shadows;         /* MOG2 shadow detection (drops dark clothing on grey frames) */
    double shadow_tau;    /* shadow brightness ratio threshold */
    /* Person size: from the mounting (height, lens) unless person_px is set; the pipeline
     * then follows the people it tracks (docs/vision.md#person-size). */
    double mount_height_m, lens_fov_deg, person_px;
    int min_blob_area, max_blob_area;
    double max_blob_aspect, min_blob_fill;
    int max_tracks;
    double max_missed_s;
    int flow_interval_s;
    int reach_band_px;  /* depth of a shelf's reach band, from its front edge into the zone */
    int reach_min_px;   /* foreground pixels in the band that make a reach */
    int reach_width_px; /* band pixels this near a track, along the edge, are its reach */
};

/* Fusion: sessions, attribution, checkout, restock (docs/fusion.md). */
struct sk_fusion_cfg {
    int pick_before_ms, pick_after_ms; /* attribution window around the estimated removal */
    int join_defer_ms;                 /* a new track waits this long before it is joined */
    int door_defer_ms;                 /* ... or this long when it appeared at the door */
    int join_window_ms;                /* a lost track is joined by a new one this soon */
    int join_radius_px;                /* ... appearing this near */
    double handover_radius_m;  /* tracks of two floor-calibrated cameras this near are one */
    int unattributed_grace_ms; /* a removal waits this long for a candidate */
    int checkout_delay_ms;     /* checkout waits this long after the exit + hold */
    int exit_grace_ms;         /* exit portal sightings wait this long for carts */
    int session_idle_s, session_lost_s; /* abandoned after */
    double review_confidence;           /* lines below it send the checkout to review */
    int restock_linger_s;               /* a staff badge's restock session outlasts it */
    int sold_memory_s;                  /* sold items are remembered (returns) */
    int outage_wait_ms; /* a checkout waits this long for a down reader of a shelf it visited */
    int max_sessions, max_tracks, max_cart_items, max_pending;
};

/* What this board is in its store (docs/operator.md, "Satellite boards"). */
enum sk_role {
    SK_ROLE_HUB = 0,   /* core, fusion, ledger, outbox, the cloud link */
    SK_ROLE_SATELLITE, /* buses and cameras only; observations go to the hub */
};

/* A satellite: where its observations go, and how many it keeps for the hub at most. */
struct sk_satellite_cfg {
    char hub[SK_NAME_MAX]; /* the hub's device_id */
    int buffer_max;        /* observations waiting for the hub; beyond: dropped and counted */
    int ack_timeout_s;     /* the hub's acknowledgement lags this long: sent again */
};

/* The hub's side of its satellites. */
struct sk_hub_cfg {
    int clock_max_ms; /* a satellite whose clock is off more is refused (its obs wait) */
    int ping_interval_ms;
    int silence_s; /* no answer this long: the link to a satellite is down */
};

/* A staff badge: an RFID tag whose arrival at a shelf opens a restock session there. */
struct sk_badge_cfg {
    char name[SK_NAME_MAX];
    char epc[2 * SK_EPC_MAX + 1]; /* hex */
};

struct sk_config {
    char store_id[SK_NAME_MAX];
    char device_id[SK_NAME_MAX];
    char board_name[SK_PATH_MAX]; /* name in boards/ or a path */
    char products_file[SK_PATH_MAX];
    char tags_file[SK_PATH_MAX];
    char planogram_file[SK_PATH_MAX];
    char profiles_dir[SK_PATH_MAX]; /* extra reader profiles; may be empty */
    struct sk_log_cfg log;
    struct sk_core_cfg core;
    int role; /* enum sk_role */
    struct sk_satellite_cfg satellite;
    struct sk_hub_cfg hub;
    struct sk_bus_cfg *buses;
    size_t n_buses;
    struct sk_reader_cfg *readers;
    size_t n_readers;
    struct sk_presence_preset_cfg *presence_presets;
    size_t n_presence_presets;
    struct sk_shelf_cfg *shelves;
    size_t n_shelves;
    struct sk_camera_cfg *cameras;
    size_t n_cameras;
    struct sk_zone_cfg *zones;
    size_t n_zones;
    struct sk_line_cfg *lines;
    size_t n_lines;
    struct sk_mqtt_cfg mqtt;
    struct sk_ledger_cfg ledger;
    struct sk_control_cfg control;
    struct sk_http_cfg http;
    struct sk_vision_cfg vision;
    struct sk_fusion_cfg fusion;
    struct sk_badge_cfg *staff_badges;
    size_t n_staff_badges;

    struct sk_board_cfg board;
    /* What loads but deserves a look ("FILE:LINE: PATH: PROBLEM"): a floor zone or line no
     * camera sees whole. --check-config prints them, the daemon logs them at start. */
    struct sk_diag warnings;
    char path[SK_PATH_MAX]; /* the store file as given */
    char dir[SK_PATH_MAX];  /* its directory: relative paths inside resolve from here */
    char hash[65];          /* SHA-256 (hex) of both files' parsed content */
};

/* ---- loading ---------------------------------------------------------------------------- */

/*
 * A check of reader i that lives above config (its profile loads, suits its bus), run while
 * the file is validated so its problem is listed with the file's own, at the reader's line,
 * even when other keys are wrong (--check-config lists everything at once). Returns 0, or < 0
 * with why set (its own file:line problems, e.g. in the profile, may go to diag).
 */
typedef int (*sk_config_reader_check)(
        const struct sk_config *cfg, size_t i, struct sk_diag *diag, char *why, size_t why_size);

struct sk_config_opts {
    const char *board_override;          /* --board: name or path; NULL to use the store file's */
    const char *data_dir;                /* where boards/ and profiles/ live; NULL: sk_data_dir() */
    sk_config_reader_check check_reader; /* NULL: none */
};

/*
 * Loads and validates store_path and its board profile. On success returns 0 and an owned
 * config in *ret_cfg (free with sk_config_free). On failure returns SK_ECONFIG (or -errno)
 * with every problem in diag, and leaves *ret_cfg untouched.
 */
int sk_config_load(const char *store_path,
                   const struct sk_config_opts *opts,
                   struct sk_diag *diag,
                   struct sk_config **ret_cfg);
void sk_config_free(struct sk_config *cfg);

/*
 * For commands: sk_config_load() (board: NULL, or the board profile overriding the file's)
 * with every problem printed on stderr, one a line, then "N error(s); configuration not
 * valid". Returns 0 with an owned config in *ret_cfg, or the error.
 */
int sk_config_load_print(const char *store_path, const char *board, struct sk_config **ret_cfg);

/*
 * The same from a store file's text already in memory (len bytes, borrowed, need not be
 * NUL-terminated; a NUL byte inside is an error). name stands for the file in messages and
 * gives the directory relative paths and @include resolve from. The board is still a file.
 */
int sk_config_load_text(const char *name,
                        const char *text,
                        size_t len,
                        const struct sk_config_opts *opts,
                        struct sk_diag *diag,
                        struct sk_config **ret_cfg);

/* Loads one board profile file (used by tests and `diag`). Same contract as above. */
int sk_board_load(const char *path, struct sk_diag *diag, struct sk_board_cfg *ret_board);
/* The same from text in memory (see sk_config_load_text). */
int sk_board_load_text(const char *name,
                       const char *text,
                       size_t len,
                       struct sk_diag *diag,
                       struct sk_board_cfg *ret_board);
void sk_board_free(struct sk_board_cfg *board);

/*
 * Compares two valid configurations key by key. Calls cb for every key whose value differs
 * (path is generic, "readers.[].unit"), with reloadable telling whether SIGHUP may change it.
 * Returns the number of differing keys that are not reloadable.
 */
typedef void (*sk_config_diff_cb)(const char *path, bool reloadable, void *ctx);
int sk_config_diff(const struct sk_config *a,
                   const struct sk_config *b,
                   sk_config_diff_cb cb,
                   void *ctx);

/* Writes the key reference (markdown) that docs/config.md must contain. */
void sk_config_write_reference(FILE *out);

/* Writes the human summary printed by --check-config. */
void sk_config_write_summary(const struct sk_config *cfg, FILE *out);

/* Resolves a path from the config against cfg->dir (absolute paths pass through). */
void sk_config_resolve_path(const struct sk_config *cfg, const char *path, char *buf, size_t size);

/*
 * A floor zone (its floor and floor_reach) or a floor line in one calibrated camera's pixels
 * at the camera's processing size (whichever camera watches it): ret_polygon holds floor_len
 * numbers, ret_reach floor_reach_len; a line's inside is turned into the picture's side.
 * Returns how many of its points (the reach edge's included) lie inside the picture, or -1 when
 * one lies beyond the horizon.
 */
int sk_zone_floor_to_px(const struct sk_camera_cfg *cam,
                        const struct sk_zone_cfg *z,
                        double *ret_polygon,
                        double *ret_reach);
int sk_line_floor_to_px(const struct sk_camera_cfg *cam,
                        const struct sk_line_cfg *ln,
                        double ret_points[4],
                        int *ret_inside);

/* The processing size of frames of fw x fh in a box_w x box_h box (the board's processing
 * size): the largest of the frame's shape inside it, even sizes, at least 16. */
void sk_config_fit(int box_w, int box_h, int fw, int fh, int *ret_w, int *ret_h);

/* Lookups by name; NULL when absent. */
const struct sk_bus_cfg *sk_config_bus(const struct sk_config *cfg, const char *name);
const struct sk_reader_cfg *sk_config_reader(const struct sk_config *cfg, const char *name);
const struct sk_camera_cfg *sk_config_camera(const struct sk_config *cfg, const char *name);
/*
 * Where floor point (x, y) metres lies in a calibrated camera's picture of width x height
 * (processing-size pixels). False for an uncalibrated camera or a point beyond the horizon (on
 * the far side of the camera); the point may lie outside the picture.
 */
bool sk_camera_floor_to_px(const struct sk_camera_cfg *cam,
                           int width,
                           int height,
                           double x,
                           double y,
                           double *ret_u,
                           double *ret_v);
/* The device_id of the board that runs a reader (through its bus) or a camera: the source of
 * an observation. NULL for a name this store does not have. */
const char *sk_config_source_device(const struct sk_config *cfg, const char *source);
/* True when some bus or camera of this store runs on device (a satellite of this hub). */
bool sk_config_has_device(const struct sk_config *cfg, const char *device);
/* The satellites of this hub, in the order they first appear (buses, then cameras): up to max
 * names into ret (each SK_NAME_MAX); returns how many there are. */
size_t sk_config_satellites(const struct sk_config *cfg, char (*ret)[SK_NAME_MAX], size_t max);
const struct sk_presence_preset_cfg *sk_config_preset(const struct sk_config *cfg,
                                                      const char *name);

/* Directory holding boards/ and profiles/: $STOREKEEPER_DATADIR, then next to the executable
 * (build tree: <exe dir>/share/storekeeper, installed: <exe dir>/../share/storekeeper), then
 * the install prefix. Returns a static string, or NULL when none exists. */
const char *sk_data_dir(void);

/* Directory of the loadable modules (the camera backends and the OpenCV part of vision:
 * storekeeper/module.h): $STOREKEEPER_MODULEDIR, then next to the executable (build tree:
 * <exe dir>/lib/storekeeper, installed: <exe dir>/../LIBDIR/storekeeper), else the install
 * path (returned even when missing, for messages). Static string; thread-safe. */
const char *sk_module_dir(void);

#endif
