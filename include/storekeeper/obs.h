/* SPDX-License-Identifier: MIT */
/* Observations: the immutable facts producers hand to the core thread. */
#ifndef STOREKEEPER_OBS_H
#define STOREKEEPER_OBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Producers (bus threads, camera threads, MQTT callbacks) never touch domain state; each
 * fact they learn becomes one struct sk_obs pushed onto the core queue. An observation is a
 * fixed-size value, copied into and out of the queue, except for the optional blob (MQTT
 * command payloads), which the observation owns and sk_obs_release() frees.
 */

#define SK_NAME_MAX 32 /* names from the config: readers, shelves, cameras, zones (with NUL) */
#define SK_EPC_MAX  62 /* 496 bits: the longest EPC a PC word can announce (31 words) */
#define SK_TEXT_MAX 96 /* short human-readable detail (health reasons) */

enum sk_obs_type {
    SK_OBS_NONE = 0,
    SK_OBS_TAG_ARRIVED,   /* presence filter: tag now present at (reader, antenna) */
    SK_OBS_TAG_DEPARTED,  /* presence filter: tag gone from (reader, antenna) */
    SK_OBS_READER_HEALTH, /* reader changed state up/degraded/down */
    SK_OBS_TRACK_NEW,     /* camera: an anonymous track started */
    SK_OBS_TRACK_LOST,    /* camera: a track ended */
    SK_OBS_ZONE_ENTER,    /* camera: track entered a zone */
    SK_OBS_ZONE_LEAVE,    /* camera: track left a zone */
    SK_OBS_LINE_CROSS,    /* camera: track crossed a directional line */
    SK_OBS_FLOW,          /* camera: periodic flow figures */
    SK_OBS_CAMERA_HEALTH, /* camera changed state */
    SK_OBS_MQTT_COMMAND,  /* validated-size command from .../cmd/<name> */
    SK_OBS_MQTT_LINK,     /* MQTT connection state or delivery acknowledgement */
    SK_OBS_TIMER,         /* a tick, recorded so replay reproduces time-driven decisions */
    SK_OBS_REACH,         /* camera: a track reached into a shelf's reach band (0: nobody's) */
    SK_OBS_SATELLITE,     /* a message between a hub and its satellites (u.command: name and
                           * payload; source: the sending device) */
    SK_OBS_TRACK_MOVE,    /* camera: where a track is now (floor-calibrated cameras only) */
    SK_OBS_TYPE_COUNT
};

enum sk_health_state {
    SK_HEALTH_UNKNOWN = 0,
    SK_HEALTH_UP,
    SK_HEALTH_DEGRADED,
    SK_HEALTH_DOWN,
};

enum sk_health_reason {
    SK_REASON_NONE = 0,
    SK_REASON_TIMEOUT,      /* no reply within the response timeout */
    SK_REASON_EXCEPTION,    /* Modbus exception replies */
    SK_REASON_CRC,          /* CRC or framing errors */
    SK_REASON_READ_RATE,    /* reader answers but reads far fewer tags than before */
    SK_REASON_DISCONNECTED, /* connection lost or device missing */
    SK_REASON_BAD_REPLY,    /* replies that violate the profile */
    SK_REASON_NO_FRAMES,    /* camera delivers no frames */
    SK_REASON_BLACK_FRAMES, /* camera delivers frames without content */
    SK_REASON_OVERLOAD,     /* queue or processing budget exceeded, data dropped */
};

enum sk_line_dir {
    SK_LINE_IN = 1,  /* crossed towards the line's inside */
    SK_LINE_OUT = 2, /* crossed towards the outside */
};

enum sk_mqtt_link_event {
    SK_MQTT_CONNECTED = 1,
    SK_MQTT_DISCONNECTED,
    SK_MQTT_PUBACK, /* mid acknowledged by the broker */
    SK_MQTT_CONNECT_FAILED,
    SK_MQTT_ECHO,   /* a diagnostic round-trip message came back; detail holds its token */
    SK_MQTT_SUBACK, /* subscription answered; reason_code >= 0x80 means refused */
};

struct sk_obs_tag {
    uint8_t antenna;
    uint8_t epc_len;   /* bytes in epc */
    int16_t rssi_cdbm; /* centi-dBm; INT16_MIN when the reader reports none */
    uint8_t epc[SK_EPC_MAX];
    uint32_t reads; /* reads that supported this transition */
    /* TAG_DEPARTED: when the tag was last read (CLOCK_MONOTONIC, the clock of mono_us), so
     * fusion knows when it left instead of estimating it from the hold time; 0 unknown. */
    int64_t last_seen_us;
    /* TAG_DEPARTED: the first successful poll after last_seen_us that did not read it: the tag
     * left within [last_seen_us, first_missed_us] (wide after an outage); 0 unknown. */
    int64_t first_missed_us;
    /* TAG_ARRIVED: its first read, and the successful poll before that which did not read it:
     * the tag was put down within [absent_us, first_seen_us] (wide after an outage); 0 unknown. */
    int64_t first_seen_us, absent_us;
};

struct sk_obs_health {
    uint8_t state;            /* enum sk_health_state */
    uint8_t reason;           /* enum sk_health_reason */
    uint32_t errors;          /* errors since the previous health observation */
    uint32_t rtt_us;          /* last round-trip time, 0 if unknown */
    char detail[SK_TEXT_MAX]; /* e.g. "exception 4 from unit 3" */
};

/* Whether another shopper could have made a reach's arm: SK_REACH_SOLE when no other
 * shopper followed in the zone stood within vision.reach_width_px of the arm (along the
 * shelf's edge) at any frame of it, SK_REACH_SHARED when one did; unknown in recordings made
 * before vision said. */
enum sk_reach_sole {
    SK_REACH_SOLE_UNKNOWN = 0,
    SK_REACH_SOLE = 1,
    SK_REACH_SHARED = 2,
};

struct sk_obs_track {
    uint32_t track_id;      /* anonymous, short-lived, unique per camera while it runs */
    float x, y;             /* position in image coordinates (processing size); REACH: where the arm
                             * crossed the shelf's edge (0, 0 unknown) */
    char zone[SK_NAME_MAX]; /* zone or line name for ZONE_* and LINE_CROSS */
    uint8_t dir;            /* enum sk_line_dir for LINE_CROSS */
    uint8_t role;           /* LINE_CROSS: the line's enum sk_line_role */
    uint32_t dwell_ms;      /* ZONE_LEAVE: time the track spent in the zone; REACH: how long
                             * the reach lasted (it ended at mono_us) */
    float reach;            /* REACH: how deep into the band it reached, 0..1 */
    uint8_t sole;           /* REACH: enum sk_reach_sole */
};

struct sk_obs_flow {
    uint32_t entries, exits; /* since the previous flow observation */
    uint32_t occupancy;      /* tracks currently in view */
    float fps;
    uint32_t dropped;     /* frames dropped since the previous flow observation */
    float proc_ms;        /* mean vision time per processed frame */
    uint32_t processed;   /* frames processed since the previous flow observation */
    uint32_t obs_dropped; /* camera observations the queue refused (above its high mark) */
    uint32_t span_ms;     /* the interval these figures cover; 0 if unknown */
};

struct sk_obs_command {
    char name[SK_NAME_MAX]; /* command name from the topic */
    char *payload;          /* owned, NUL-terminated; NULL when empty */
    size_t payload_len;
    char *response_topic; /* owned, may be NULL */
    uint8_t *correlation; /* owned, may be NULL */
    size_t correlation_len;
    uint32_t generation; /* MQTT link connection it arrived on */
    uint8_t flags;       /* SK_CMD_OBS_* */
    /* Sender from the topic cmd/<name>/<identity> (SK_CMD_OBS_FROM_TOPIC): the broker's ACL
     * vouches for it (docs/security.md); empty for cmd/<name>. */
    char identity[SK_NAME_MAX];
};

/* sk_obs_command.flags: what the link thread refused to copy (the core answers with an error). */
#define SK_CMD_OBS_TOO_LARGE    0x01 /* payload above the limit: payload NULL, payload_len set */
#define SK_CMD_OBS_BAD_NAME     0x02 /* command name too long or with more topic levels */
#define SK_CMD_OBS_BAD_RESPONSE 0x04 /* response topic or correlation data too long: ignored */
#define SK_CMD_OBS_FROM_TOPIC   0x08 /* arrived on cmd/<name>/<identity>: identity is set */
#define SK_CMD_OBS_RATE_LIMITED 0x10 /* above mqtt.command_rate_max: answered busy by the link */
#define SK_CMD_OBS_BAD_IDENTITY 0x20 /* cmd/<name>/<identity>: identity too long or empty */

struct sk_obs_mqtt {
    uint8_t event;            /* enum sk_mqtt_link_event */
    int mid;                  /* message id for PUBACK */
    int reason_code;          /* MQTT reason / libmosquitto rc */
    uint32_t generation;      /* connection number since start: PUBACKs only count for their own */
    uint8_t protocol;         /* 5, or 4 for 3.1.1 */
    uint8_t flags;            /* SK_MQTT_F_* */
    int32_t retry_ms;         /* CONNECT_FAILED, DISCONNECTED: next attempt in, -1 none */
    char detail[SK_TEXT_MAX]; /* failure in words (never a secret), or the echo token */
};

#define SK_MQTT_F_SESSION_PRESENT 0x01 /* CONNECTED: the broker resumed a session */
#define SK_MQTT_F_TLS             0x02 /* CONNECTED: over TLS */
#define SK_MQTT_F_AUTH            0x04 /* CONNECT_FAILED: credentials refused */
#define SK_MQTT_F_TLS_FAILED      0x08 /* CONNECT_FAILED: TLS handshake or certificate */
#define SK_MQTT_F_UNREACHABLE     0x10 /* CONNECT_FAILED: no TCP connection */
#define SK_MQTT_F_NO_PACKET_LIMIT \
    0x20 /* CONNECTED: an MQTT 5 broker announced no max packet size */

struct sk_obs {
    uint16_t type;            /* enum sk_obs_type */
    int64_t mono_us;          /* when the producer observed it (CLOCK_MONOTONIC) */
    int64_t wall_us;          /* the same moment on the wall clock, for records */
    char source[SK_NAME_MAX]; /* reader or camera name, empty for MQTT/timer */
    /* Observed on another board of the store (a satellite): its device_id, the ledger its
     * observation stream counts in, this one's number there (1, 2, 3, ... without gaps) and
     * the seq of the message that carried it (its outbox's). The core applies them in order,
     * each once. Empty and 0 for what this board observed itself. */
    char origin[SK_NAME_MAX];
    char origin_ledger[40];
    int64_t origin_seq;
    int64_t origin_mark;

    union {
        struct sk_obs_tag tag;
        struct sk_obs_health health;
        struct sk_obs_track track;
        struct sk_obs_flow flow;
        struct sk_obs_command command;
        struct sk_obs_mqtt mqtt;
    } u;
};

/* Frees what the observation owns (command payloads) and clears those pointers. */
void sk_obs_release(struct sk_obs *obs);

/* Static names: "tag_arrived", "up", "timeout", ... ; "unknown" for out-of-range values. */
const char *sk_obs_type_name(int type);
const char *sk_health_state_name(int state);
const char *sk_health_reason_name(int reason);

/* Whether the observation is about one camera track's movement (new, lost, moved, a zone
 * entered or left, a line crossed): those carry u.track and go to fusion as they are. */
bool sk_obs_of_track(int type);

/* Whether a satellite sends observations of this type to its hub: what its buses and cameras
 * see (tags, reader and camera health, tracks, zones, lines, flow, reaches). The satellite's
 * core forwards exactly these and the hub accepts no others. */
bool sk_obs_forwarded(int type);

/* Copies src into a SK_NAME_MAX field, truncating; always NUL-terminates. */
void sk_obs_set_source(struct sk_obs *obs, const char *src);

#endif
