/* SPDX-License-Identifier: MIT */
/* The key tables: every configuration key is declared here once, and only here. */
#include <ctype.h>
#include <stddef.h>
#include <string.h>

#include "config_internal.h"
#include "storekeeper/config.h"
#include "storekeeper/log.h"

#define FIELD_SIZE(st, f) sizeof(((st *)0)->f)

/* Field macros. S = struct holding the field; F = field; R = reloadable. */
#define K_STR(P, S, F, DEF, R, DOC)                                                             \
    {                                                                                           \
        .path = (P), .type = SK_CFG_STRING, .max = (int64_t)FIELD_SIZE(S, F) - 1, .def = (DEF), \
        .reloadable = (R), .offset = offsetof(S, F), .size = FIELD_SIZE(S, F), .doc = (DOC)     \
    }
#define K_STRC(P, S, F, DEF, R, CHECK, DOC)                                                      \
    {                                                                                            \
        .path = (P), .type = SK_CFG_STRING, .max = (int64_t)FIELD_SIZE(S, F) - 1, .def = (DEF),  \
        .reloadable = (R), .offset = offsetof(S, F), .size = FIELD_SIZE(S, F), .check = (CHECK), \
        .doc = (DOC)                                                                             \
    }
#define K_INT(P, S, F, MIN, MAX, DEF, UNIT, R, DOC)                                            \
    {                                                                                          \
        .path = (P), .type = SK_CFG_INT, .min = (MIN), .max = (MAX), .def = (DEF),             \
        .reloadable = (R), .offset = offsetof(S, F), .size = FIELD_SIZE(S, F), .unit = (UNIT), \
        .doc = (DOC)                                                                           \
    }
#define K_BOOL(P, S, F, DEF, R, DOC)                                       \
    {                                                                      \
        .path = (P), .type = SK_CFG_BOOL, .def = (DEF), .reloadable = (R), \
        .offset = offsetof(S, F), .size = FIELD_SIZE(S, F), .doc = (DOC)   \
    }
#define K_ENUM(P, S, F, CHOICES, VALUES, DEF, R, DOC)                           \
    {                                                                           \
        .path = (P), .type = SK_CFG_ENUM, .def = (DEF), .choices = (CHOICES),   \
        .choice_values = (VALUES), .reloadable = (R), .offset = offsetof(S, F), \
        .size = FIELD_SIZE(S, F), .doc = (DOC)                                  \
    }
#define K_GROUP(P, DOC)                                                                \
    {                                                                                  \
        .path = (P), .type = SK_CFG_GROUP, .def = "", .reloadable = true, .doc = (DOC) \
    }
#define K_LIST(P, S, F, CF, ET, MIN, MAX, R, DOC)                                     \
    {                                                                                 \
        .path = (P), .type = SK_CFG_LIST, .min = (MIN), .max = (MAX), .def = "",      \
        .reloadable = (R), .offset = offsetof(S, F), .count_offset = offsetof(S, CF), \
        .elem_size = sizeof(ET), .doc = (DOC)                                         \
    }
#define K_FARRAY(P, S, F, CF, MIN, MAX, FMIN, FMAX, DEF, UNIT, R, DOC)                          \
    {                                                                                           \
        .path = (P), .type = SK_CFG_FLOAT_ARRAY, .min = (MIN), .max = (MAX), .fmin = (FMIN),    \
        .fmax = (FMAX), .def = (DEF), .reloadable = (R), .offset = offsetof(S, F),              \
        .size = FIELD_SIZE(S, F), .count_offset = offsetof(S, CF), .unit = (UNIT), .doc = (DOC) \
    }
#define K_FLOAT(P, S, F, MIN, MAX, DEF, UNIT, R, DOC)                                          \
    {                                                                                          \
        .path = (P), .type = SK_CFG_FLOAT, .fmin = (MIN), .fmax = (MAX), .def = (DEF),         \
        .reloadable = (R), .offset = offsetof(S, F), .size = FIELD_SIZE(S, F), .unit = (UNIT), \
        .doc = (DOC)                                                                           \
    }

#define C struct sk_config

/* Staff badge EPCs: hex digits, an even count, at most SK_EPC_MAX bytes. */
static const char *check_epc_hex(const char *value, char *buf, size_t size)
{
    (void)buf;
    (void)size;
    size_t n = strlen(value);
    if (n == 0 || n % 2 || n > 2 * SK_EPC_MAX) {
        return "an EPC needs an even count of 2..124 hex digits";
    }
    for (size_t i = 0; i < n; i++) {
        if (!isxdigit((unsigned char)value[i])) {
            return "an EPC is written in hex digits only (0-9, A-F)";
        }
    }
    return NULL;
}

static const char *const log_levels[] = {"err", "warning", "notice", "info", "debug", NULL};
static const int log_level_values[] = {SK_LOG_ERR, SK_LOG_WARNING, SK_LOG_NOTICE, SK_LOG_INFO,
                                       SK_LOG_DEBUG};
static const char *const log_formats[] = {"auto", "plain", "journal", NULL};
static const char *const reader_roles[] = {"shelf", "exit", NULL};
static const char *const line_roles[] = {"entry", "exit", "door", "count", NULL};
static const char *const line_insides[] = {"left", "right", NULL};
static const char *const mqtt_protocols[] = {"auto", "5", "3.1.1", NULL};
static const int mqtt_protocol_values[] = {0, 5, 311};
static const char *const vision_backgrounds[] = {"adaptive", "mog2", NULL};
static const char *const camera_backends[] = {"", "libcamera", "v4l2", "file", "synthetic", NULL};
static const char *const roles[] = {"hub", "satellite", NULL};

/* The key tables read best as tables, so the formatter leaves them alone. */
/* clang-format off */
static const struct sk_cfg_key store_keys[] = {
    K_STRC("store_id", C, store_id, NULL, false, config_check_name,
          "Store identifier; part of every MQTT topic. Letters, digits, '-', '_', '.'."),
    K_STRC("device_id", C, device_id, NULL, false, config_check_name,
          "This board's identifier within the store; MQTT client id and topic part."),
    K_STR("board", C, board_name, NULL, false,
          "Board profile: a name from boards/ (rpi4, rpi5, cm4, generic-x86, sim) or a path."),
    K_STR("products_file", C, products_file, "", true,
          "Product catalog CSV, relative to this file (see docs/ledger.md). Optional."),
    K_STR("tags_file", C, tags_file, "", true,
          "Explicit tag-to-sku mappings CSV, imported after products_file. Optional."),
    K_STR("planogram_file", C, planogram_file, "", true,
          "Planogram CSV (which sku on which shelf), imported after tags_file. Optional."),
    K_STR("profiles_dir", C, profiles_dir, "", false,
          "Directory of extra reader profiles, relative to this file; searched before the "
          "built-in ones (docs/profiles.md). Optional."),

    K_ENUM("role", C, role, roles, NULL, "hub", false,
          "hub: this board runs the core, fusion, the ledger and the cloud link, for its own "
          "buses and cameras and its satellites'; satellite: it runs buses and cameras only and "
          "sends their observations to the hub (docs/operator.md, \"Satellite boards\")."),

    K_GROUP("log", "Logging."),
    {.path = "log.level", .type = SK_CFG_ENUM, .def = "info", .choices = log_levels,
          .choice_values = log_level_values, .reloadable = true, .offset = offsetof(C, log.level),
          .size = FIELD_SIZE(C, log.level), .doc = "Lowest syslog level written."},
    K_ENUM("log.format", C, log.format, log_formats, NULL, "auto", true,
          "auto: journal prefixes under systemd ($JOURNAL_STREAM), plain text otherwise."),
    K_INT("log.recent_lines", C, log.recent_lines, 0, 100000, "2000", "lines", true,
          "Recent log lines kept in memory for `diag bundle` and the control socket; 0: none."),

    K_GROUP("core", "The core thread: event queue and timers."),
    K_INT("core.tick_ms", C, core.tick_ms, 10, 1000, "100", "ms", false,
          "Timer tick of the core state machine."),
    K_INT("core.queue_capacity", C, core.queue_capacity, 64, 1048576, "8192", NULL, false,
          "Observations the core queue holds."),
    K_INT("core.queue_high_pct", C, core.queue_high_pct, 10, 100, "75", "%", false,
          "Depth (percent of capacity) above which producers are held back or drop."),
    K_INT("core.queue_low_pct", C, core.queue_low_pct, 1, 99, "50", "%", false,
          "Depth (percent of capacity) under which held-back producers resume."),
    K_INT("core.status_interval_s", C, core.status_interval_s, 0, 86400, "60", "s", true,
          "Interval of the status line in the log; 0 disables it."),
    K_INT("core.watchdog_stall_s", C, core.watchdog_stall_s, 1, 3600, "20", "s", false,
          "A loop (bus, camera, core, MQTT) silent this long stops feeding the systemd watchdog."),
    K_INT("core.max_present_tags", C, core.max_present_tags, 100, 10000000, "200000", NULL, false,
          "Tags the core tracks as present on shelves at most."),

    K_LIST("buses", C, buses, n_buses, struct sk_bus_cfg, 0, 32, false,
          "Modbus buses. Each bus has one thread owning its connection."),
    K_STRC("buses.[].name", struct sk_bus_cfg, name, NULL, false, config_check_name,
          "Bus name, used by readers and in logs (thread bus:NAME)."),
    K_STRC("buses.[].url", struct sk_bus_cfg, url, NULL, false, config_check_bus_url,
          "rtu:DEVICE:BAUD:8E1 (DEVICE a path or a board serial port name) or tcp:HOST:PORT."),
    K_INT("buses.[].response_timeout_ms", struct sk_bus_cfg, response_timeout_ms, 10, 10000, "300",
          "ms", false, "Time to wait for the first byte of a reply."),
    K_INT("buses.[].byte_timeout_ms", struct sk_bus_cfg, byte_timeout_ms, 1, 5000, "50", "ms",
          false, "Longest silence inside a reply."),
    K_INT("buses.[].pause_ms", struct sk_bus_cfg, pause_ms, 0, 1000, "5", "ms", false,
          "Silence before each request (RS-485 turnaround; at least t3.5). 0 suits TCP buses."),
    K_INT("buses.[].poll_interval_ms", struct sk_bus_cfg, poll_interval_ms, 10, 60000, "200", "ms",
          false, "Cycle in which every reader's trigger blocks are read."),
    K_INT("buses.[].retries", struct sk_bus_cfg, retries, 0, 5, "1", NULL, false,
          "Retries of a failed read that has no side effects."),
    K_INT("buses.[].reconnect_min_ms", struct sk_bus_cfg, reconnect_min_ms, 10, 600000, "500", "ms",
          false, "First reconnect delay; doubles up to reconnect_max_ms, with jitter."),
    K_INT("buses.[].reconnect_max_ms", struct sk_bus_cfg, reconnect_max_ms, 10, 3600000, "30000",
          "ms", false, "Longest reconnect delay."),
    K_STRC("buses.[].device_id", struct sk_bus_cfg, device_id, "", false, config_check_name_or_empty,
          "device_id of the board the bus is wired to; empty: this board. A hub lists its "
          "satellites' buses (and their readers and shelves) with theirs and does not open them; a "
          "satellite opens only its own."),

    K_LIST("readers", C, readers, n_readers, struct sk_reader_cfg, 0, 256, false,
          "RFID readers on the buses."),
    K_STRC("readers.[].name", struct sk_reader_cfg, name, NULL, false, config_check_name,
          "Reader name."),
    K_STR("readers.[].bus", struct sk_reader_cfg, bus, NULL, false, "Name of the bus it is on."),
    K_INT("readers.[].unit", struct sk_reader_cfg, unit, 1, 255, NULL, NULL, false,
          "Modbus unit id: 1..247 on RTU buses; up to 255 on TCP (Omron readers answer on 255)."),
    K_STRC("readers.[].profile", struct sk_reader_cfg, profile, "generic-epc", false,
          config_check_name, "Register-map profile in profiles/ (docs/profiles.md)."),
    K_ENUM("readers.[].role", struct sk_reader_cfg, role, reader_roles, NULL, "shelf", false,
          "shelf: tags on shelves; exit: a portal that sees tags leave the store."),
    K_INT("readers.[].response_timeout_ms", struct sk_reader_cfg, response_timeout_ms, 0, 10000,
          "0", "ms", false, "Overrides the bus's response timeout for this reader; 0 keeps it."),
    K_INT("readers.[].max_tags", struct sk_reader_cfg, max_tags, 16, 65536, "1024", NULL, false,
          "Tags the reader's presence filter holds at most (present and candidates); reads of "
          "further tags are counted and dropped."),

    K_LIST("presence_presets", C, presence_presets, n_presence_presets,
          struct sk_presence_preset_cfg, 0, 32, true,
          "Presence filter presets besides the built-in fast, standard and slow."),
    K_STRC("presence_presets.[].name", struct sk_presence_preset_cfg, name, NULL, true,
          config_check_name, "Preset name; a built-in name overrides the built-in."),
    K_INT("presence_presets.[].arrive_k", struct sk_presence_preset_cfg, arrive_k, 1, 64, NULL,
          NULL, true, "A tag arrives after it was seen in arrive_k of the last arrive_n polls."),
    K_INT("presence_presets.[].arrive_n", struct sk_presence_preset_cfg, arrive_n, 1, 64, NULL,
          NULL, true, "Window of polls for arrive_k."),
    K_INT("presence_presets.[].hold_ms", struct sk_presence_preset_cfg, hold_ms, 100, 3600000, NULL,
          "ms", true, "A tag departs after it was unseen this long."),

    K_LIST("shelves", C, shelves, n_shelves, struct sk_shelf_cfg, 0, 1024, false,
          "Shelves: which reader antenna watches them and which camera zone is in front."),
    K_STRC("shelves.[].name", struct sk_shelf_cfg, name, NULL, false, config_check_name,
          "Shelf name (planogram and ledger use it)."),
    K_STR("shelves.[].reader", struct sk_shelf_cfg, reader, NULL, false, "Reader watching it."),
    K_INT("shelves.[].antenna", struct sk_shelf_cfg, antenna, 0, 64, "0", NULL, false,
          "Antenna of that reader; 0 means all of its antennas."),
    K_STR("shelves.[].zone", struct sk_shelf_cfg, zone, "", false,
          "Camera zone in front of the shelf, for attribution."),
    K_STRC("shelves.[].preset", struct sk_shelf_cfg, preset, "standard", true, config_check_name,
          "Presence filter preset."),

    K_LIST("cameras", C, cameras, n_cameras, struct sk_camera_cfg, 0, 16, false,
          "Overhead cameras."),
    K_STRC("cameras.[].name", struct sk_camera_cfg, name, NULL, false, config_check_name,
          "Camera name (thread cam:NAME)."),
    K_ENUM("cameras.[].backend", struct sk_camera_cfg, backend, camera_backends, NULL, "", false,
          "libcamera, v4l2, file or synthetic; empty: the board's default."),
    K_STR("cameras.[].device", struct sk_camera_cfg, device, "", false,
          "libcamera id, /dev/videoN, a clip file, or a synthetic scene file."),
    K_INT("cameras.[].width", struct sk_camera_cfg, width, 0, 4096, "0", "px", false,
          "Capture width; 0: the board's default."),
    K_INT("cameras.[].height", struct sk_camera_cfg, height, 0, 4096, "0", "px", false,
          "Capture height; 0: the board's default."),
    K_INT("cameras.[].fps", struct sk_camera_cfg, fps, 0, 120, "0", "fps", false,
          "Capture rate; 0: the board's default."),
    K_STRC("cameras.[].device_id", struct sk_camera_cfg, device_id, "", false,
          config_check_name_or_empty,
          "device_id of the board the camera is connected to; empty: this board."),
    K_FARRAY("cameras.[].floor", struct sk_camera_cfg, floor, floor_len, 16,
          4 * SK_FLOOR_POINTS_MAX, -10000, 10000, "", "px, m", false,
          "Floor calibration: u, v, x, y for each of 4 to 16 marked floor points: where the "
          "point is in the image (processing-size pixels) and on the store's floor plan "
          "(metres). Tracks of calibrated cameras are floor tracks: a shopper seen by two "
          "cameras is one shopper, and keeps the session across the handover "
          "(docs/vision.md, Floor calibration). Absent: this camera's tracks stay its own."),
    K_GROUP("cameras.[].mount",
          "Floor calibration from the mounting instead of marked points (not both): where the "
          "camera hangs over the floor plan and its lens (docs/vision.md, Floor calibration)."),
    K_FLOAT("cameras.[].mount.height_m", struct sk_camera_cfg, mount.height_m, 0.5, 30, "", "m",
          false, "Height of the lens above the floor. Required in a mount."),
    K_FLOAT("cameras.[].mount.fov_deg", struct sk_camera_cfg, mount.fov_deg, 10, 170, "",
          "degrees", false,
          "Horizontal field of view of the picture as processed (after any cropping); or give "
          "focal_mm and sensor_width_mm."),
    K_FLOAT("cameras.[].mount.focal_mm", struct sk_camera_cfg, mount.focal_mm, 0.5, 100, "",
          "mm", false, "Focal length of the lens (its data sheet), with sensor_width_mm."),
    K_FLOAT("cameras.[].mount.sensor_width_mm", struct sk_camera_cfg, mount.sensor_width_mm, 0.5,
          50, "", "mm", false, "Width of the sensor area the picture is read from."),
    K_FLOAT("cameras.[].mount.x", struct sk_camera_cfg, mount.x, -1000, 1000, "0", "m", false,
          "Floor plan x of the point straight under the lens."),
    K_FLOAT("cameras.[].mount.y", struct sk_camera_cfg, mount.y, -1000, 1000, "0", "m", false,
          "Floor plan y of the point straight under the lens (the plan seen from above: x to "
          "the right, y up)."),
    K_FLOAT("cameras.[].mount.rotation_deg", struct sk_camera_cfg, mount.rotation_deg, -360, 360,
          "0", "degrees", false,
          "Direction of the picture's x axis (left to right) on the floor plan, counter-clockwise "
          "from the plan's x axis."),
    K_FLOAT("cameras.[].mount.tilt_deg", struct sk_camera_cfg, mount.tilt_deg, 0, 60, "0",
          "degrees", false,
          "Tilt from straight down, towards the picture's top edge; 0: overhead."),

    K_LIST("zones", C, zones, n_zones, struct sk_zone_cfg, 0, 256, false,
          "Camera zones: polygons in one camera's pixels (polygon), or once on the floor plan "
          "(floor, metres) for every floor-calibrated camera."),
    K_STRC("zones.[].name", struct sk_zone_cfg, name, NULL, false, config_check_name,
          "Zone name (shelves refer to it)."),
    K_STR("zones.[].camera", struct sk_zone_cfg, camera, "", false,
          "Camera it belongs to: required with polygon; with floor, the calibrated camera that "
          "watches it (absent: the one that sees it whole nearest its picture's centre)."),
    K_FARRAY("zones.[].polygon", struct sk_zone_cfg, polygon, polygon_len, 6, 2 * SK_POLY_MAX, 0,
          4096, "", "px", false,
          "x0, y0, x1, y1, ...: at least 3 points in the camera's processing-size pixels. "
          "This or floor."),
    K_FARRAY("zones.[].reach", struct sk_zone_cfg, reach, reach_len, 4, 4, 0, 4096, "", "px",
          false,
          "x1, y1, x2, y2: the front edge of the shelf this zone stands before. The camera then "
          "measures who reaches across it (vision.reach_band_px), the strongest evidence of "
          "who took an item (docs/fusion.md). Absent: attribution by presence alone."),
    K_FARRAY("zones.[].floor", struct sk_zone_cfg, floor, floor_len, 6, 2 * SK_POLY_MAX, -1000,
          1000, "", "m", false,
          "x0, y0, x1, y1, ...: the zone on the store's floor plan, at least 3 points, instead "
          "of polygon: declared once, projected into the calibrated cameras (docs/vision.md, "
          "Floor layout)."),
    K_FARRAY("zones.[].floor_reach", struct sk_zone_cfg, floor_reach, floor_reach_len, 4, 4,
          -1000, 1000, "", "m", false,
          "x1, y1, x2, y2: the shelf's front edge on the floor plan, with floor (as reach is "
          "with polygon)."),

    K_LIST("lines", C, lines, n_lines, struct sk_line_cfg, 0, 64, false,
          "Directional lines: entry, exit, door or counting lines, in one camera's pixels "
          "(points) or once on the floor plan (floor, metres)."),
    K_STRC("lines.[].name", struct sk_line_cfg, name, NULL, false, config_check_name, "Line name."),
    K_STR("lines.[].camera", struct sk_line_cfg, camera, "", false,
          "Camera it belongs to: required with points; with floor, as zones.[].camera."),
    K_ENUM("lines.[].role", struct sk_line_cfg, role, line_roles, NULL, NULL, false,
          "entry, exit, door (entry and exit) or count."),
    K_FARRAY("lines.[].points", struct sk_line_cfg, points, points_len, 4, 4, 0, 4096, "", "px",
          false, "x1, y1, x2, y2 in the camera's processing-size pixels. This or floor."),
    K_FARRAY("lines.[].floor", struct sk_line_cfg, floor, floor_len, 4, 4, -1000, 1000, "", "m",
          false, "x1, y1, x2, y2 on the store's floor plan, instead of points."),
    K_ENUM("lines.[].inside", struct sk_line_cfg, inside, line_insides, NULL, "left", false,
          "Which side of x1,y1 -> x2,y2 is the store's inside (of a floor line: on the plan "
          "seen from above, x to the right and y up)."),

    K_GROUP("mqtt", "Connection to the broker."),
    K_BOOL("mqtt.enabled", C, mqtt.enabled, "true", false,
          "false runs the store without a broker; events wait in the outbox."),
    K_STR("mqtt.host", C, mqtt.host, "127.0.0.1", false, "Broker host name or address."),
    K_INT("mqtt.port", C, mqtt.port, 1, 65535, "1883", NULL, false, "Broker port."),
    K_ENUM("mqtt.protocol", C, mqtt.protocol, mqtt_protocols, mqtt_protocol_values, "auto", false,
          "MQTT version: auto tries 5 and falls back to 3.1.1."),
    K_INT("mqtt.keepalive_s", C, mqtt.keepalive_s, 5, 3600, "30", "s", false, "Keepalive."),
    K_STR("mqtt.credentials_file", C, mqtt.credentials_file, "", false,
          "File with 'username' and 'password' lines; must not be readable by others."),
    K_BOOL("mqtt.tls", C, mqtt.tls, "false", false, "Connect with TLS."),
    K_STR("mqtt.ca_file", C, mqtt.ca_file, "", false, "CA certificate(s) that sign the broker's."),
    K_STR("mqtt.cert_file", C, mqtt.cert_file, "", false, "Client certificate (optional)."),
    K_STR("mqtt.key_file", C, mqtt.key_file, "", false, "Client key (with cert_file)."),
    K_BOOL("mqtt.tls_insecure", C, mqtt.tls_insecure, "false", false,
          "Skip the broker hostname check. For lab brokers only."),
    K_INT("mqtt.inflight_max", C, mqtt.inflight_max, 1, 1000, "32", NULL, false,
          "QoS 1 messages awaiting PUBACK at once."),
    K_INT("mqtt.reconnect_min_ms", C, mqtt.reconnect_min_ms, 100, 600000, "1000", "ms", false,
          "First reconnect delay; doubles up to reconnect_max_ms, with jitter."),
    K_INT("mqtt.reconnect_max_ms", C, mqtt.reconnect_max_ms, 100, 3600000, "60000", "ms", false,
          "Longest reconnect delay."),
    K_STR("mqtt.cloud_identity", C, mqtt.cloud_identity, "", false,
          "Identity that may send state-changing commands (docs/security.md)."),
    K_STR("mqtt.client_id", C, mqtt.client_id, "", false,
          "MQTT client id; empty: <store_id>-<device_id>."),
    K_INT("mqtt.session_expiry_s", C, mqtt.session_expiry_s, 0, 604800, "300", "s", false,
          "How long the broker keeps the session (and commands sent meanwhile) after a "
          "disconnect; 0: a clean session on every connect."),
    K_INT("mqtt.connect_timeout_s", C, mqtt.connect_timeout_s, 1, 300, "10", "s", false,
          "Longest wait for the TCP connection, and again for the broker's CONNACK."),
    K_INT("mqtt.command_max_bytes", C, mqtt.command_max_bytes, 256, 1048576, "65536", "bytes",
          true, "Largest command payload; larger ones are answered with too_large."),
    K_INT("mqtt.command_rate_max", C, mqtt.command_rate_max, 1, 10000, "20", "msg/s", true,
          "Commands accepted per second (bursts of twice that); more are answered busy "
          "without being parsed."),
    K_INT("mqtt.replay_rate_max", C, mqtt.replay_rate_max, 0, 100000, "0", "msg/s", true,
          "Backlog (events older than the connection) sent per second at most; 0: as fast as "
          "the in-flight window allows. Live events are not limited."),
    K_INT("mqtt.hwm_interval_ms", C, mqtt.hwm_interval_ms, 100, 600000, "1000", "ms", true,
          "Shortest interval between two retained outbox high-water marks."),
    K_INT("mqtt.stats_interval_s", C, mqtt.stats_interval_s, 0, 86400, "60", "s", true,
          "Interval of the link statistics message; 0: none."),
    K_INT("mqtt.request_keep_s", C, mqtt.request_keep_s, 60, 31536000, "604800", "s", true,
          "How long the reply to a state-changing command is kept by its request_id: a command "
          "sent again within this time is answered with it and not applied again (docs/mqtt.md, "
          "\"Exactly once\"). Keep it above mqtt.session_expiry_s and the cloud's retry horizon."),
    K_INT("mqtt.request_keep_max", C, mqtt.request_keep_max, 100, 10000000, "100000", NULL, true,
          "Most replies kept by request_id (the oldest go first)."),

    K_INT("mqtt.resend_max", C, mqtt.resend_max, 1, 100000, "5000", NULL, true,
          "Most events one outbox_resend command may ask for again (to_seq - from_seq + 1)."),
    K_INT("mqtt.resend_rate_max", C, mqtt.resend_rate_max, 1, 3600, "12", "per min", true,
          "outbox_resend commands applied per minute (bursts of that many); more are answered "
          "busy. What they send again leaves as backlog, at mqtt.replay_rate_max."),

    K_GROUP("satellite", "A satellite board (role = \"satellite\"): where its observations go."),
    K_STRC("satellite.hub", C, satellite.hub, "", false, config_check_name_or_empty,
          "device_id of the store's hub; required on a satellite. Observations go to it over the "
          "store's broker (mqtt.host) at QoS 1."),
    K_INT("satellite.buffer_max", C, satellite.buffer_max, 1000, 100000000, "1000000", NULL, true,
          "Observations kept on disk (in the ledger file) while the hub or the broker is away; "
          "beyond it new ones are dropped and counted (diag all, the log)."),
    K_INT("satellite.ack_timeout_s", C, satellite.ack_timeout_s, 1, 3600, "15", "s", true,
          "Observations the broker took but the hub has not recorded this long after are sent "
          "again (the hub restarted, or the broker lost them); the hub drops repeats by seq."),

    K_GROUP("hub", "A hub's side of its satellites (docs/operator.md, \"Satellite boards\")."),
    K_INT("hub.clock_max_ms", C, hub.clock_max_ms, 10, 10000, "250", "ms", true,
          "A satellite's clock may be off the hub's this much at most: beyond it the hub takes "
          "none of its observations (they wait on the satellite) and diag all says FAIL; beyond "
          "half of it, WARN. At most half the shorter of fusion.pick_before_ms and "
          "fusion.pick_after_ms."),
    K_INT("hub.ping_interval_ms", C, hub.ping_interval_ms, 100, 60000, "2000", "ms", true,
          "How often the hub measures each satellite's clock and link."),
    K_INT("hub.silence_s", C, hub.silence_s, 1, 3600, "10", "s", true,
          "A satellite that answered nothing this long is down (diag all FAIL)."),

    K_GROUP("control", "The control socket of `storekeeper diag` (docs/technician.md)."),
    K_STR("control.socket", C, control.socket, "/run/storekeeper/control.sock", false,
          "Unix socket the daemon answers diagnostics on, mode 0660; relative to this file; "
          "empty: none (diag then refuses to touch buses and the ledger while the daemon runs)."),
    K_STR("control.group", C, control.group, "", false,
          "Group owning the control socket: its members may run `storekeeper diag`; empty: "
          "the daemon's own group."),
    K_INT("control.max_clients", C, control.max_clients, 1, 64, "8", NULL, false,
          "Control connections served at once; further ones are refused."),

    K_GROUP("http", "Local status page and Prometheus metrics (docs/technician.md)."),
    K_BOOL("http.enabled", C, http.enabled, "false", false,
          "Serve /, /status.json and /metrics over HTTP."),
    K_STR("http.address", C, http.address, "127.0.0.1", false,
          "Address to listen on (an IPv4 or IPv6 literal): loopback unless a technician's "
          "network needs more; 0.0.0.0 serves every interface (no authentication)."),
    K_INT("http.port", C, http.port, 1, 65535, "8080", NULL, false, "TCP port."),
    K_INT("http.max_connections", C, http.max_connections, 1, 256, "64", NULL, false,
          "HTTP connections open at once (a connection's memory is taken as it is used); one "
          "that sends no request within 2 s is closed."),
    K_INT("http.refresh_s", C, http.refresh_s, 0, 3600, "5", "s", true,
          "The status page reloads itself this often; 0: never."),

    K_GROUP("ledger", "The SQLite ledger and outbox."),
    K_STR("ledger.path", C, ledger.path, "ledger.db", false,
          "Database file, relative to this file."),
    K_INT("ledger.batch_max", C, ledger.batch_max, 1, 1000, "64", NULL, false,
          "Observations committed in one transaction at most."),
    K_INT("ledger.batch_delay_ms", C, ledger.batch_delay_ms, 0, 1000, "20", "ms", false,
          "Longest wait for more observations before committing a batch."),
    K_INT("ledger.busy_timeout_ms", C, ledger.busy_timeout_ms, 0, 60000, "5000", "ms", false,
          "SQLite busy timeout (for concurrent readers such as `ledger` commands)."),
    K_INT("ledger.census_interval_s", C, ledger.census_interval_s, 0, 86400, "300", "s", true,
          "Interval of the stock census against what readers see; 0 disables it."),
    K_INT("ledger.outbox_keep_delivered_s", C, ledger.outbox_keep_delivered_s, 0, 31536000,
          "604800", "s", true, "Delivered outbox rows older than this are pruned."),
    K_INT("ledger.outbox_keep_delivered_max", C, ledger.outbox_keep_delivered_max, 0, 10000000,
          "100000", NULL, true, "At most this many delivered rows are kept."),
    K_INT("ledger.outbox_max_pending", C, ledger.outbox_max_pending, 1000, 100000000, "1000000",
          NULL, true, "Undelivered rows above this raise an outbox overflow event."),
    K_INT("ledger.max_size_mb", C, ledger.max_size_mb, 0, 1048576, "0", "MiB", true,
          "Largest size of the database file; 0: until the disk is full. When reached the "
          "runtime keeps running degraded (docs/ledger.md) until space is made or this grows."),

    K_GROUP("vision", "Camera image processing, for every camera (docs/vision.md)."),
    K_ENUM("vision.background", C, vision.background, vision_backgrounds, NULL, "adaptive", false,
          "Background model: adaptive (light gain, standing shoppers stay) or mog2 (OpenCV)."),
    K_INT("vision.history", C, vision.history, 10, 10000, "300", "frames", false,
          "Memory of the background model: how fast standing things become background."),
    K_FLOAT("vision.var_threshold", C, vision.var_threshold, 4, 400, "25", NULL, false,
          "Squared distance from the background model that makes a pixel foreground."),
    K_BOOL("vision.shadows", C, vision.shadows, "false", false,
          "Detect and drop shadows. On grey frames this also drops dark clothing."),
    K_FLOAT("vision.shadow_tau", C, vision.shadow_tau, 0.1, 0.95, "0.5", NULL, false,
          "With shadows: pixels at least this fraction of the background's brightness are shadow."),
    K_FLOAT("vision.mount_height_m", C, vision.mount_height_m, 1.5, 30, "3.0", "m", false,
          "Camera height above the floor; with the lens it gives the expected person size."),
    K_FLOAT("vision.lens_fov_deg", C, vision.lens_fov_deg, 20, 180, "90", "degrees", false,
          "The camera's horizontal field of view (as used: after any cropping)."),
    K_FLOAT("vision.person_px", C, vision.person_px, 0, 1000, "0", "px", false,
          "A person's size (shoulder width seen from the camera) at the processing size; 0: "
          "from mount_height_m and lens_fov_deg. `diag camera --learn` proposes it."),
    K_INT("vision.min_blob_area", C, vision.min_blob_area, 0, 1000000, "0", "px", false,
          "Smallest blob at the processing size (smaller ones are noise); 0: processing "
          "area / 400, lowered to a quarter of a person once people are measured (people "
          "far off in an oblique view); a new track needs a fifth of a person's area."),
    K_INT("vision.max_blob_area", C, vision.max_blob_area, 0, 4000000, "0", "px", false,
          "Largest blob (a group) at the processing size; 0: processing area / 4."),
    K_FLOAT("vision.max_blob_aspect", C, vision.max_blob_aspect, 1, 50, "6", NULL, false,
          "Longest over shortest side of a blob's box: thinner ones are streaks (light, edges)."),
    K_FLOAT("vision.min_blob_fill", C, vision.min_blob_fill, 0, 1, "0.12", NULL, false,
          "Smallest fraction of its box a blob fills: sparser ones are scattered noise."),
    K_INT("vision.max_tracks", C, vision.max_tracks, 1, 64, "32", NULL, false,
          "Shoppers tracked at once per camera."),
    K_FLOAT("vision.max_missed_s", C, vision.max_missed_s, 0.1, 30, "0.8", "s", false,
          "How long a shopper may go unseen (occlusion) before the track ends."),
    K_INT("vision.flow_interval_s", C, vision.flow_interval_s, 1, 3600, "10", "s", false,
          "Interval of the flow figures (entries, exits, occupancy, fps, drops) per camera."),
    K_INT("vision.reach_band_px", C, vision.reach_band_px, 2, 200, "10", "px", false,
          "Depth of a shelf's reach band: the strip of its zone along zones.[].reach that only "
          "hands and arms enter (shoppers stand further back)."),
    K_INT("vision.reach_min_px", C, vision.reach_min_px, 1, 10000, "6", "px", false,
          "Foreground pixels of one shopper in a reach band that make a reach."),
    K_INT("vision.reach_width_px", C, vision.reach_width_px, 2, 400, "16", "px", false,
          "Band pixels this near a shopper's position (along the shelf edge) are that shopper's "
          "reach; farther from every shopper, they are motion no track explains."),

    K_GROUP("fusion", "Who took what: sessions, attribution, checkout, restock (docs/fusion.md)."),
    K_INT("fusion.pick_before_ms", C, fusion.pick_before_ms, 0, 60000, "1500", "ms", true,
          "Attribution window: a track counts if it was in the shelf's zone from this long before "
          "the item was last seen on the shelf ..."),
    K_INT("fusion.pick_after_ms", C, fusion.pick_after_ms, 0, 60000, "1000", "ms", true,
          "... until this long after it."),
    K_INT("fusion.join_defer_ms", C, fusion.join_defer_ms, 0, 60000, "600", "ms", true,
          "A track that appears without crossing the entry waits this long (for a crossing) "
          "before it is joined to a lost session."),
    K_INT("fusion.door_defer_ms", C, fusion.door_defer_ms, 0, 60000, "2500", "ms", true,
          "A track that appears at an entry or door line (within fusion.join_radius_px) waits "
          "this long for its entry crossing before it may be joined to a lost session: most "
          "likely it is somebody coming in."),
    K_INT("fusion.join_window_ms", C, fusion.join_window_ms, 0, 600000, "4000", "ms", true,
          "A session whose track vanished is joined by a new track appearing this soon after ..."),
    K_INT("fusion.join_radius_px", C, fusion.join_radius_px, 1, 4096, "80", "px", true,
          "... and this near its last position (processing-size pixels)."),
    K_FLOAT("fusion.handover_radius_m", C, fusion.handover_radius_m, 0.1, 5, "0.6", "m", true,
          "Two floor-calibrated cameras' tracks this near on the floor at the same moment are one "
          "shopper; a session whose track left one camera's view goes on with the other's. A "
          "lost session is joined across cameras by a track this near plus how far a walker "
          "gets meanwhile (1.5 m/s)."),
    K_INT("fusion.unattributed_grace_ms", C, fusion.unattributed_grace_ms, 0, 600000, "5000",
          "ms", true, "A removal without a candidate shopper waits this long for one before it "
          "is recorded as unattributed (staff or shrink suspicion)."),
    K_INT("fusion.checkout_delay_ms", C, fusion.checkout_delay_ms, 0, 600000, "1000", "ms", true,
          "Checkout waits for the longest presence hold time, the attribution window and this "
          "long after the exit crossing, so the last pickups reach the cart."),
    K_INT("fusion.exit_grace_ms", C, fusion.exit_grace_ms, 0, 600000, "6000", "ms", true,
          "A tag seen by an exit portal reader waits this long for a cart that holds it before "
          "it is reported as leaving without checkout."),
    K_INT("fusion.session_idle_s", C, fusion.session_idle_s, 10, 86400, "3600", "s", true,
          "A session with no camera activity this long is abandoned."),
    K_INT("fusion.session_lost_s", C, fusion.session_lost_s, 1, 86400, "900", "s", true,
          "A session whose track stays lost this long is abandoned."),
    K_FLOAT("fusion.review_confidence", C, fusion.review_confidence, 0.0, 1.0, "0.8", NULL, true,
          "A checkout with a line below this confidence (0..1) is flagged for review."),
    K_INT("fusion.restock_linger_s", C, fusion.restock_linger_s, 0, 86400, "120", "s", true,
          "A restock session opened by a staff badge lasts this long after the badge left the "
          "shelf."),
    K_INT("fusion.sold_memory_s", C, fusion.sold_memory_s, 0, 2592000, "86400", "s", true,
          "Sold items are remembered this long, so one brought back is recorded as a return."),
    K_INT("fusion.outage_wait_ms", C, fusion.outage_wait_ms, 0, 600000, "20000", "ms", true,
          "A checkout waits up to this long for a reader that is down (or too slow) at a shelf "
          "the shopper stood at, so an item taken meanwhile still reaches the cart; after it, "
          "the checkout goes to review (reader_outage)."),
    K_INT("fusion.max_sessions", C, fusion.max_sessions, 1, 100000, "512", NULL, false,
          "Open shopper sessions at most."),
    K_INT("fusion.max_tracks", C, fusion.max_tracks, 1, 100000, "1024", NULL, false,
          "Camera tracks remembered at most (live and recently lost)."),
    K_INT("fusion.max_cart_items", C, fusion.max_cart_items, 1, 100000, "1000", NULL, false,
          "Items in one cart at most; more go to review."),
    K_INT("fusion.max_pending", C, fusion.max_pending, 16, 1000000, "8192", NULL, false,
          "Undecided removals, exit sightings and remembered sales, each at most."),

    K_LIST("staff_badges", C, staff_badges, n_staff_badges, struct sk_badge_cfg, 0, 256, true,
          "Staff badge tags: one arriving at a shelf opens a restock session there."),
    K_STRC("staff_badges.[].name", struct sk_badge_cfg, name, NULL, true, config_check_name,
          "Who carries it (logs)."),
    K_STRC("staff_badges.[].epc", struct sk_badge_cfg, epc, NULL, true, check_epc_hex,
          "The badge tag's EPC in hex."),
};

#undef C
#define B struct sk_board_cfg

static const struct sk_cfg_key board_keys[] = {
    K_STRC("name", B, name, NULL, false, config_check_name, "Board name."),
    K_STR("description", B, description, "", false, "What the board is."),

    K_LIST("serial_ports", B, serial_ports, n_serial_ports, struct sk_serial_port_cfg, 0, 16, false,
          "Serial ports that bus URLs may name."),
    K_STRC("serial_ports.[].name", struct sk_serial_port_cfg, name, NULL, false, config_check_name,
          "Alias used in bus URLs (rtu:NAME:BAUD:8E1)."),
    K_STR("serial_ports.[].device", struct sk_serial_port_cfg, device, NULL, false, "Device node."),
    K_BOOL("serial_ports.[].rs485", struct sk_serial_port_cfg, rs485, "false", false,
          "The UART drives the RS-485 transceiver's direction (kernel RS-485 mode)."),
    K_STR("serial_ports.[].description", struct sk_serial_port_cfg, description, "", false,
          "Wiring notes for technicians."),

    K_GROUP("camera", "Camera defaults."),
    K_ENUM("camera.backend", B, camera_backend, camera_backends + 1, NULL, NULL, false,
          "Default capture backend."),
    K_INT("camera.width", B, camera_width, 16, 4096, "640", "px", false, "Default width."),
    K_INT("camera.height", B, camera_height, 16, 4096, "480", "px", false, "Default height."),
    K_INT("camera.fps", B, camera_fps, 1, 120, "15", "fps", false, "Default capture rate."),

    K_GROUP("processing", "Processing budget of this board."),
    K_INT("processing.vision_width", B, vision_width, 16, 1920, "320", "px", false,
          "Width frames are scaled to before vision."),
    K_INT("processing.vision_height", B, vision_height, 16, 1080, "240", "px", false,
          "Height frames are scaled to before vision."),
    K_INT("processing.vision_max_fps", B, vision_max_fps, 1, 120, "10", "fps", false,
          "Frames per second and camera that vision processes at most."),
    K_INT("processing.max_cameras", B, max_cameras, 0, 16, "2", NULL, false,
          "Cameras this board can process."),
    K_INT("processing.max_readers", B, max_readers, 0, 256, "64", NULL, false,
          "Readers this board can poll."),
};

#undef B

/* clang-format on */

const struct sk_cfg_table sk_store_table = {"store file", store_keys,
                                            sizeof(store_keys) / sizeof(store_keys[0])};
const struct sk_cfg_table sk_board_table = {"board profile", board_keys,
                                            sizeof(board_keys) / sizeof(board_keys[0])};
