/* SPDX-License-Identifier: MIT */
/* Judging and rendering the status document: checks with advice, Prometheus text, the page. */
#include "storekeeper/report.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/statvfs.h>

#include <cjson/cJSON.h>

#include "storekeeper/buf.h"
#include "storekeeper/error.h"
#include "storekeeper/mbconn.h"
#include "storekeeper/names.h"

/*
 * DESIGN
 * Each rule reads a few fields of the status document and says PASS, WARN or FAIL with one
 * line of advice for a technician standing in front of the hardware: name the part, the
 * address (bus device, baud and frame, unit id, host and port) and the first thing to check.
 * Missing fields are treated as unknown, never as healthy: a document from an older daemon
 * gives WARNs, not false PASSes.
 */

/* ---- small helpers ------------------------------------------------------------------------- */

static const cJSON *get(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

static const char *str(const cJSON *o, const char *key, const char *def)
{
    const cJSON *v = get(o, key);
    return cJSON_IsString(v) && v->valuestring ? v->valuestring : def;
}

static double num(const cJSON *o, const char *key, double def)
{
    const cJSON *v = get(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : def;
}

static bool flag(const cJSON *o, const char *key)
{
    return cJSON_IsTrue(get(o, key));
}

const char *sk_check_level_name(int level)
{
    static const char *const names[] = {[SK_CHECK_PASS] = "PASS", [SK_CHECK_WARN] = "WARN"};
    return SK_NAME_OF(names, level, "FAIL");
}

int sk_checks_add(struct sk_checks *c,
                  int level,
                  const char *subject,
                  const char *advice,
                  const char *fmt,
                  ...)
{
    struct sk_check *v = sk_grow(c->v, &c->cap, c->n + 1, sizeof(*v), SK_CHECKS_MAX);
    if (!v) {
        return -errno;
    }
    c->v = v;
    struct sk_check *k = &c->v[c->n++];
    k->level = level;
    snprintf(k->subject, sizeof(k->subject), "%s", subject);
    snprintf(k->advice, sizeof(k->advice), "%s", level == SK_CHECK_PASS || !advice ? "" : advice);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(k->message, sizeof(k->message), fmt, ap);
    va_end(ap);
    return 0;
}

void sk_checks_free(struct sk_checks *c)
{
    if (c) {
        free(c->v);
        memset(c, 0, sizeof(*c));
    }
}

cJSON *sk_checks_json(const struct sk_checks *c)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < c->n; i++) {
        cJSON *o = cJSON_CreateObject();
        if (!o) {
            break;
        }
        cJSON_AddStringToObject(o, "level", sk_check_level_name(c->v[i].level));
        cJSON_AddStringToObject(o, "subject", c->v[i].subject);
        cJSON_AddStringToObject(o, "message", c->v[i].message);
        if (c->v[i].advice[0]) {
            cJSON_AddStringToObject(o, "advice", c->v[i].advice);
        }
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

void sk_checks_print(const struct sk_checks *c, FILE *out)
{
    for (size_t i = 0; i < c->n; i++) {
        const struct sk_check *k = &c->v[i];
        fprintf(out, "%s  %s: %s%s%s\n", sk_check_level_name(k->level), k->subject, k->message,
                k->advice[0] ? " — " : "", k->advice);
    }
}

/* "on /dev/ttyAMA0 at 115200 8E1" or "at 10.0.0.5:502" for a bus URL. */
static void bus_where(const char *url, char *buf, size_t size)
{
    if (strncmp(url, "rtu:", 4) == 0) {
        char dev[160] = "", baud[16] = "", frame[8] = "";
        const char *p = url + 4;
        size_t n = strcspn(p, ":");
        snprintf(dev, sizeof(dev), "%.*s", (int)n, p);
        p += n;
        if (*p == ':') {
            p++;
            n = strcspn(p, ":");
            snprintf(baud, sizeof(baud), "%.*s", (int)n, p);
            p += n;
            if (*p == ':') {
                snprintf(frame, sizeof(frame), "%s", p + 1);
            }
        }
        snprintf(buf, size, "on %s at %s %s", dev, baud, frame);
    } else if (strncmp(url, "tcp:", 4) == 0) {
        snprintf(buf, size, "at %s", url + 4);
    } else {
        snprintf(buf, size, "on %s", url);
    }
}

/* ---- checks -------------------------------------------------------------------------------- */

static int check_reader(struct sk_checks *c, const cJSON *r, double uptime_s)
{
    char subject[80], where[200];
    snprintf(subject, sizeof(subject), "reader %s", str(r, "name", "?"));
    const char *url = str(r, "bus_url", "");
    bool rtu = strncmp(url, "rtu:", 4) == 0;
    bus_where(url, where, sizeof(where));
    int unit = (int)num(r, "unit", 0);
    const char *state = str(r, "state", "unknown");
    const char *reason = str(r, "reason", "");
    const char *detail = str(r, "detail", "");
    if (strcmp(state, "up") == 0) {
        return sk_checks_add(c, SK_CHECK_PASS, subject, NULL,
                             "up, unit %d %s, %.0f tag(s) present, %.0f poll(s), %.0f error(s)",
                             unit, where, num(r, "present", 0), num(r, "polls", 0),
                             num(r, "poll_errors", 0));
    }
    if (strcmp(state, "unknown") == 0) {
        /* a reader reports after its first polls; a young daemon gets the benefit of doubt */
        return sk_checks_add(c, uptime_s < 15 ? SK_CHECK_WARN : SK_CHECK_FAIL, subject,
                             "check that bus thread's log lines (diag bundle) and that the "
                             "reader is in the running configuration",
                             "no health report yet (unit %d %s)", unit, where);
    }
    int level = strcmp(state, "down") == 0 ? SK_CHECK_FAIL : SK_CHECK_WARN;
    char msg[256];
    const char *advice;
    if (strcmp(reason, "timeout") == 0) {
        snprintf(msg, sizeof(msg), "%s: no reply from unit %d %s", state, unit, where);
        advice = rtu ? "check termination, A/B wiring, the baud rate and the unit id"
                     : "check the reader's power and network, and its unit id";
    } else if (strcmp(reason, "disconnected") == 0) {
        snprintf(msg, sizeof(msg), "%s: bus not reachable %s (%s)", state, where, detail);
        advice = rtu ? "check the RS-485 adapter is plugged in and the serial port in the board "
                       "profile"
                     : "check the reader or gateway is powered and reachable at that address";
        if (rtu && strstr(detail, "Permission denied")) {
            advice = sk_mbconn_open_hint(-EACCES, true);
        } else if (rtu && strstr(detail, "Device or resource busy")) {
            advice = sk_mbconn_open_hint(-EBUSY, true);
        }
    } else if (strcmp(reason, "exception") == 0) {
        snprintf(msg, sizeof(msg), "%s: unit %d %s answers with an exception (%s)", state, unit,
                 where, detail);
        advice = "check that readers.[].profile matches the reader's model and firmware";
    } else if (strcmp(reason, "crc") == 0) {
        snprintf(msg, sizeof(msg), "%s: corrupted replies (CRC) from unit %d %s", state, unit,
                 where);
        advice = "check termination resistors, cable shielding, and that only one master "
                 "drives the bus";
    } else if (strcmp(reason, "bad_reply") == 0) {
        snprintf(msg, sizeof(msg), "%s: unit %d %s answers outside its profile %s (%s)", state,
                 unit, where, str(r, "profile", "?"), detail);
        advice = "check that readers.[].profile matches the reader's model";
    } else if (strcmp(reason, "read_rate") == 0) {
        snprintf(msg, sizeof(msg), "%s: reads collapsed (%s)", state, detail);
        advice = "check the antenna cable and connector, and for metal or liquid in front of "
                 "the antenna";
    } else {
        snprintf(msg, sizeof(msg), "%s (%s%s%s) unit %d %s", state, reason[0] ? reason : "?",
                 detail[0] ? ": " : "", detail, unit, where);
        advice = "look at the reader's log lines (diag bundle)";
    }
    return sk_checks_add(c, level, subject, advice, "%s", msg);
}

static int check_camera(struct sk_checks *c, const cJSON *k, double uptime_s)
{
    char subject[80];
    snprintf(subject, sizeof(subject), "camera %s", str(k, "name", "?"));
    const char *state = str(k, "state", "unknown");
    const char *reason = str(k, "reason", "");
    const char *detail = str(k, "detail", "");
    if (strcmp(state, "up") == 0) {
        return sk_checks_add(c, SK_CHECK_PASS, subject, NULL,
                             "up, %.1f fps processed, %.0f in view, %.0f frame(s) dropped",
                             num(k, "fps", 0), num(k, "occupancy", 0), num(k, "frames_dropped", 0));
    }
    if (strcmp(state, "unknown") == 0) {
        return sk_checks_add(c, uptime_s < 15 ? SK_CHECK_WARN : SK_CHECK_FAIL, subject,
                             "check cameras.[].device and the camera's log lines (diag bundle)",
                             "no frame report yet (%s %s)", str(k, "backend", "?"),
                             str(k, "device", ""));
    }
    int level = strcmp(state, "down") == 0 ? SK_CHECK_FAIL : SK_CHECK_WARN;
    const char *advice = "look at the camera's log lines (diag bundle)";
    if (strcmp(reason, "no_frames") == 0) {
        advice = "check the camera's cable and power, and that no other program uses it";
    } else if (strcmp(reason, "disconnected") == 0) {
        advice = "check the camera is connected and cameras.[].device names it";
    } else if (strcmp(reason, "black_frames") == 0) {
        advice = "check the lens is not covered and the lights are on";
    } else if (strcmp(reason, "overload") == 0) {
        advice = "lower cameras.[].fps or the board's processing.vision_max_fps";
    }
    return sk_checks_add(c, level, subject, advice, "%s (%s%s%s)", state, reason,
                         detail[0] ? ": " : "", detail);
}

static int check_mqtt(struct sk_checks *c, const cJSON *m, const cJSON *outbox)
{
    if (!m) {
        return sk_checks_add(c, SK_CHECK_WARN, "mqtt", "upgrade the daemon",
                             "the daemon does not report its broker connection");
    }
    const char *broker = str(m, "broker", "?");
    const char *state = str(m, "state", "unknown");
    double pending = num(outbox, "pending", 0);
    if (!flag(m, "enabled")) {
        return sk_checks_add(c, SK_CHECK_WARN, "mqtt",
                             "set mqtt.enabled = true once the store's broker is there",
                             "disabled in the configuration: %.0f event(s) wait in the outbox",
                             pending);
    }
    if (strcmp(state, "connected") == 0) {
        return sk_checks_add(c, SK_CHECK_PASS, "mqtt", NULL, "connected to %s (MQTT %s)", broker,
                             str(m, "protocol", "?"));
    }
    if (strcmp(state, "unavailable") == 0) {
        return sk_checks_add(
                c, SK_CHECK_WARN, "mqtt",
                "events wait in the outbox until a storekeeper with the MQTT link runs",
                "this storekeeper has no MQTT link");
    }
    const char *detail = str(m, "detail", "");
    return sk_checks_add(c, SK_CHECK_FAIL, "mqtt",
                         "check the broker runs (systemctl status mosquitto), mqtt.host and "
                         "mqtt.port, then `storekeeper diag mqtt`",
                         "broker %s not connected%s%s; %.0f event(s) wait in the outbox", broker,
                         detail[0] ? ": " : "", detail, pending);
}

static int check_ledger(struct sk_checks *c, const cJSON *l)
{
    if (!l) {
        return 0;
    }
    int r = 0;
    const char *open_err = str(l, "error", NULL);
    if (open_err) {
        return sk_checks_add(c, SK_CHECK_FAIL, "ledger",
                             "keep a copy of the file and call support before anything else",
                             "cannot be examined: %s", open_err);
    }
    const char *integ = str(l, "integrity", "?");
    if (strcmp(integ, "ok") != 0) {
        r |= sk_checks_add(c, SK_CHECK_FAIL, "ledger integrity",
                           "stop storekeeper, keep a copy of the file, restore the last backup "
                           "and call support",
                           "%s reports: %s", str(l, "integrity_check", "integrity_check"), integ);
    } else {
        r |= sk_checks_add(c, SK_CHECK_PASS, "ledger integrity", NULL, "%s ok",
                           str(l, "integrity_check", "quick_check"));
    }
    const cJSON *ch = get(l, "chain");
    if (flag(ch, "ok")) {
        r |= sk_checks_add(c, SK_CHECK_PASS, "ledger chain", NULL,
                           "%.0f movement(s), hash chain holds", num(ch, "movements", 0));
    } else {
        r |= sk_checks_add(c, SK_CHECK_FAIL, "ledger chain",
                           "the file was changed outside storekeeper: keep a copy for the audit "
                           "and call support",
                           "hash chain broken at movement %.0f: %s", num(ch, "first_bad_id", 0),
                           str(ch, "reason", "?"));
    }
    const cJSON *counts = get(l, "counts");
    double open = num(counts, "discrepancies_open", 0);
    if (open > 0) {
        r |= sk_checks_add(c, SK_CHECK_WARN, "stock",
                           "count the shelves named (storekeeper ledger discrepancies; ledger "
                           "stocktake)",
                           "%.0f open stock discrepancies", open);
    }
    double free_b = num(l, "disk_free_bytes", -1);
    if (free_b >= 0 && free_b < 100.0 * 1024 * 1024) {
        r |= sk_checks_add(c, SK_CHECK_WARN, "disk",
                           "free space on the ledger's file system before the store stops "
                           "recording",
                           "%.0f MiB free where the ledger lives", free_b / 1048576.0);
    }
    return r;
}

/* A hub's satellite: its link, how far behind it is, its clock, its buffer. */
static int check_satellite(struct sk_checks *c, const cJSON *p, double uptime_s)
{
    char subject[80];
    snprintf(subject, sizeof(subject), "satellite %s", str(p, "device_id", "?"));
    char sources[160] = "";
    const cJSON *it;
    size_t off = 0;
    cJSON_ArrayForEach(it, get(p, "sources"))
    {
        if (cJSON_IsString(it) && off < sizeof(sources)) {
            int n = snprintf(sources + off, sizeof(sources) - off, "%s%s", off ? ", " : "",
                             it->valuestring);
            off += n > 0 ? (size_t)n : 0;
        }
    }
    const cJSON *offset = get(p, "clock_offset_ms");
    double off_ms = cJSON_IsNumber(offset) ? offset->valuedouble : 0;
    double max_ms = num(p, "clock_max_ms", 250);
    if (strcmp(str(p, "link", "down"), "up") != 0) {
        return sk_checks_add(
                c, uptime_s < 15 ? SK_CHECK_WARN : SK_CHECK_FAIL, subject,
                "on the satellite: systemctl status storekeeper, then storekeeper diag mqtt (its "
                "broker is this store's); nothing it sees is lost, it waits there",
                "link down: no answer for %.0f s; %.0f observation(s) waiting there (sources %s)",
                num(p, "heard_age_s", -1), num(p, "pending", 0), sources[0] ? sources : "none");
    }
    if (flag(p, "refused")) {
        return sk_checks_add(c, SK_CHECK_FAIL, subject,
                             "synchronise the clocks: chrony on both boards, the satellite "
                             "following the hub (docs/operator.md, Satellite boards); its "
                             "observations wait on it meanwhile",
                             "clock %.0f ms off this hub's, beyond hub.clock_max_ms (%.0f): its "
                             "observations are refused",
                             off_ms, max_ms);
    }
    double lag = num(p, "lag_ms", 0), pending = num(p, "pending", 0);
    double dropped = num(p, "dropped", 0);
    if (dropped > 0) {
        return sk_checks_add(c, SK_CHECK_FAIL, subject,
                             "its buffer was full (satellite.buffer_max): restore the link to "
                             "this hub, then check what the shelves of its readers hold",
                             "%.0f observation(s) dropped on the satellite; link up, lag %.0f ms",
                             dropped, lag);
    }
    if (!cJSON_IsNumber(offset) || fabs(off_ms) > max_ms / 2 || pending > 1000) {
        return sk_checks_add(c, SK_CHECK_WARN, subject,
                             cJSON_IsNumber(offset) && fabs(off_ms) > max_ms / 2
                                     ? "check chrony on the satellite (chronyc tracking)"
                                     : "wait a few seconds; it catches up",
                             "link up, clock %s%.0f ms (max %.0f), lag %.0f ms, %.0f waiting "
                             "there; sources %s",
                             cJSON_IsNumber(offset) ? "" : "not measured yet ", off_ms, max_ms, lag,
                             pending, sources[0] ? sources : "none");
    }
    return sk_checks_add(c, SK_CHECK_PASS, subject, NULL,
                         "link up, clock %+.1f ms (round trip %.1f ms), lag %.0f ms, %.0f "
                         "waiting there; sources %s",
                         off_ms, num(p, "clock_rtt_ms", 0), lag, pending,
                         sources[0] ? sources : "none");
}

/* A satellite's hub. */
static int check_hub(struct sk_checks *c, const cJSON *h)
{
    char subject[80];
    snprintf(subject, sizeof(subject), "hub %s", str(h, "hub", "?"));
    if (strcmp(str(h, "link", "down"), "up") != 0) {
        return sk_checks_add(c, SK_CHECK_FAIL, subject,
                             "check the hub runs and both reach the store's broker (storekeeper "
                             "diag mqtt on each); observations wait here meanwhile",
                             "no word from the hub for %.0f s; %.0f observation(s) waiting here",
                             num(h, "heard_age_s", -1), num(h, "pending", 0));
    }
    if (num(h, "dropped", 0) > 0) {
        return sk_checks_add(c, SK_CHECK_FAIL, subject,
                             "the buffer was full (satellite.buffer_max) while the hub was away",
                             "%.0f observation(s) dropped", num(h, "dropped", 0));
    }
    return sk_checks_add(c, SK_CHECK_PASS, subject, NULL,
                         "reachable, %.0f observation(s) waiting here, recorded up to seq %.0f "
                         "of %.0f",
                         num(h, "pending", 0), num(h, "hub_recorded_seq", 0),
                         num(h, "last_seq", 0));
}

int sk_report_checks(const cJSON *s, const cJSON *ledger, struct sk_checks *c)
{
    int r = 0;
    size_t first = c->n;
    double uptime = num(s, "uptime_s", 0);
    const char *mode = str(s, "mode", "daemon");
    if (strcmp(mode, "daemon") == 0) {
        r |= sk_checks_add(c, SK_CHECK_PASS, "daemon", NULL,
                           "running for %.0f s (pid %.0f, storekeeper %s)", uptime,
                           num(s, "pid", 0), str(s, "version", "?"));
        const cJSON *cfg = get(s, "config");
        const char *disk = str(cfg, "hash_on_disk", NULL);
        const char *running = str(cfg, "hash", "");
        const char *disk_error = str(cfg, "disk_error", NULL);
        if (disk_error) {
            r |= sk_checks_add(c, SK_CHECK_WARN, "config",
                               "`storekeeper run -c FILE --check-config` lists every problem; "
                               "fix them before the next reload or restart",
                               "%s on disk does not load (%s); the daemon runs on its last good "
                               "configuration",
                               str(cfg, "path", "?"), disk_error);
        } else if (disk && strcmp(disk, running) != 0) {
            r |= sk_checks_add(c, SK_CHECK_WARN, "config",
                               "apply it with `systemctl reload storekeeper` (restart for keys "
                               "that need one)",
                               "%s changed since the daemon loaded it", str(cfg, "path", "?"));
        } else {
            r |= sk_checks_add(c, SK_CHECK_PASS, "config", NULL, "%s, hash %.12s",
                               str(cfg, "path", "?"), running);
        }
    } else {
        r |= sk_checks_add(c, SK_CHECK_FAIL, "daemon",
                           "start it (systemctl start storekeeper) and read why it stopped "
                           "(journalctl -u storekeeper -n 50)",
                           "not running: %s", str(s, "daemon_detail", "no control socket"));
    }
    const cJSON *rt = get(s, "runtime");
    if (rt) {
        if (strcmp(str(rt, "state", "?"), "running") == 0) {
            r |= sk_checks_add(c, SK_CHECK_PASS, "recording", NULL,
                               "ledger writable, %.0f batch(es) committed", num(rt, "batches", 0));
        } else {
            r |= sk_checks_add(c, SK_CHECK_FAIL, "recording",
                               "free disk space where the ledger lives or raise "
                               "ledger.max_size_mb; nothing is lost while it waits",
                               "ledger not writable for %.0f s (%s); %.0f observation(s) held",
                               num(rt, "degraded_for_s", 0), str(rt, "degraded_reason", "?"),
                               num(rt, "batch_held", 0));
        }
    }
    const char *catalog = rt ? str(rt, "catalog_error", NULL) : NULL;
    if (catalog) {
        r |= sk_checks_add(c, SK_CHECK_FAIL, "catalog",
                           "fix the file (every problem: storekeeper ledger -c FILE import KIND "
                           "PATH --dry-run), then systemctl reload storekeeper",
                           "a catalog file was not imported: %s; the ledger keeps its catalog "
                           "as it was",
                           catalog);
    }
    const cJSON *q = get(s, "queue");
    if (q) {
        double depth = num(q, "depth", 0), high = num(q, "high_mark", 1);
        double dropped = num(q, "dropped", 0);
        if (depth >= high) {
            r |= sk_checks_add(c, SK_CHECK_WARN, "queue",
                               "the core cannot keep up: look at the disk and the CPU load",
                               "%.0f of %.0f observations waiting (above the high mark %.0f)",
                               depth, num(q, "capacity", 0), high);
        } else if (dropped > 0) {
            r |= sk_checks_add(c, SK_CHECK_WARN, "queue",
                               "camera observations are dropped while the core lags: check "
                               "the CPU load",
                               "%.0f observation(s) dropped since start (depth now %.0f)", dropped,
                               depth);
        } else {
            r |= sk_checks_add(c, SK_CHECK_PASS, "queue", NULL,
                               "%.0f waiting of %.0f, highest %.0f, none dropped", depth,
                               num(q, "capacity", 0), num(q, "max_depth", 0));
        }
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, get(s, "loops"))
    {
        if (flag(it, "stale")) {
            char subject[80];
            snprintf(subject, sizeof(subject), "loop %s", str(it, "name", "?"));
            r |= sk_checks_add(c, SK_CHECK_FAIL, subject,
                               "systemd's watchdog restarts the daemon; collect a bundle first "
                               "(storekeeper diag bundle)",
                               "no progress for %.1f s (limit %.0f s)",
                               num(it, "age_ms", 0) / 1000.0, num(it, "limit_ms", 0) / 1000.0);
        }
    }
    cJSON_ArrayForEach(it, get(s, "readers"))
    {
        r |= check_reader(c, it, uptime);
    }
    cJSON_ArrayForEach(it, get(s, "cameras"))
    {
        r |= check_camera(c, it, uptime);
    }
    cJSON_ArrayForEach(it, get(s, "satellites"))
    {
        r |= check_satellite(c, it, uptime);
    }
    if (get(s, "satellite")) {
        r |= check_hub(c, get(s, "satellite"));
    }
    const cJSON *led = get(s, "ledger");
    const cJSON *outbox = get(led, "outbox");
    if (strcmp(mode, "daemon") == 0) {
        r |= check_mqtt(c, get(s, "mqtt"), outbox);
    }
    if (outbox) {
        double pending = num(outbox, "pending", 0);
        double age = num(outbox, "oldest_pending_age_s", 0);
        if (flag(outbox, "overflow")) {
            r |= sk_checks_add(c, SK_CHECK_FAIL, "outbox",
                               "restore the broker connection; no event is dropped meanwhile",
                               "%.0f undelivered events, above ledger.outbox_max_pending", pending);
        } else if (pending > 0 && age > 300) {
            r |= sk_checks_add(c, SK_CHECK_WARN, "outbox",
                               "check the broker connection (storekeeper diag mqtt)",
                               "%.0f event(s) waiting, the oldest for %.0f min", pending, age / 60);
        } else {
            r |= sk_checks_add(c, SK_CHECK_PASS, "outbox", NULL,
                               "%.0f event(s) waiting, last seq %.0f", pending,
                               num(outbox, "last_seq", 0));
        }
    }
    r |= check_ledger(c, ledger);
    if (r < 0) {
        return -ENOMEM;
    }
    int worst = SK_CHECK_PASS;
    for (size_t i = first; i < c->n; i++) {
        worst = c->v[i].level > worst ? c->v[i].level : worst;
    }
    return worst;
}

/* ---- ledger report ------------------------------------------------------------------------- */

struct stock_ctx {
    cJSON *rows;
    size_t n, max;
    int64_t total;
};

static int stock_row(const struct sk_stock_row *row, void *ctx)
{
    struct stock_ctx *s = ctx;
    s->total += row->quantity;
    if (s->n++ >= s->max) {
        return 0;
    }
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        return -ENOMEM;
    }
    cJSON_AddStringToObject(o, "shelf", row->shelf);
    cJSON_AddStringToObject(o, "sku", row->sku);
    cJSON_AddStringToObject(o, "name", row->name ? row->name : "");
    cJSON_AddNumberToObject(o, "quantity", (double)row->quantity);
    cJSON_AddNumberToObject(o, "capacity", row->capacity);
    cJSON_AddItemToArray(s->rows, o);
    return 0;
}

cJSON *sk_report_ledger(struct sk_ledger *l, bool full, size_t max_stock)
{
    cJSON *j = cJSON_CreateObject();
    if (!j) {
        return NULL;
    }
    struct sk_ledger_info info;
    if (sk_ledger_get_info(l, &info) == 0) {
        cJSON_AddStringToObject(j, "path", info.path);
        cJSON_AddStringToObject(j, "ledger_id", info.ledger_id);
        cJSON_AddNumberToObject(j, "schema_version", info.schema_version);
    }
    if (sk_ledger_get_info(l, &info) == 0) {
        /* room left for the ledger to grow: the file system it lives on */
        char dir[sizeof(info.path)];
        snprintf(dir, sizeof(dir), "%s", info.path);
        char *slash = strrchr(dir, '/');
        if (slash) {
            *slash = '\0';
        }
        struct statvfs vfs;
        if (statvfs(slash && dir[0] ? dir : slash ? "/" : ".", &vfs) == 0) {
            cJSON_AddNumberToObject(j, "disk_free_bytes", (double)vfs.f_bavail * vfs.f_frsize);
        }
    }
    char integ[512];
    int ri = sk_ledger_integrity_check(l, integ, sizeof(integ));
    cJSON_AddStringToObject(j, "integrity_check", full ? "integrity_check" : "quick_check");
    cJSON_AddStringToObject(j, "integrity",
                            ri == 0                    ? "ok"
                            : ri == SK_ELEDGER_CORRUPT ? integ
                                                       : sk_strerror(ri));
    struct sk_verify_result v;
    memset(&v, 0, sizeof(v));
    int rv = sk_ledger_verify(l, &v);
    cJSON *ch = cJSON_AddObjectToObject(j, "chain");
    if (ch) {
        cJSON_AddBoolToObject(ch, "ok", rv == 0);
        cJSON_AddNumberToObject(ch, "movements", (double)v.movements);
        cJSON_AddStringToObject(ch, "head", v.head);
        if (rv != 0) {
            cJSON_AddNumberToObject(ch, "first_bad_id", (double)v.first_bad_id);
            cJSON_AddStringToObject(ch, "reason",
                                    rv == SK_ELEDGER_CHAIN ? v.reason : sk_ledger_errmsg(l));
        }
    }
    struct sk_ledger_counts cnt;
    if (sk_ledger_counts(l, &cnt) == 0) {
        cJSON *c = cJSON_AddObjectToObject(j, "counts");
        if (c) {
            cJSON_AddNumberToObject(c, "products", (double)cnt.products);
            cJSON_AddNumberToObject(c, "tags", (double)cnt.tags);
            cJSON_AddNumberToObject(c, "shelves", (double)cnt.shelves_active);
            cJSON_AddNumberToObject(c, "planogram", (double)cnt.planogram);
            cJSON_AddNumberToObject(c, "movements", (double)cnt.movements);
            cJSON_AddNumberToObject(c, "sessions", (double)cnt.sessions);
            cJSON_AddNumberToObject(c, "present", (double)cnt.present);
            cJSON_AddNumberToObject(c, "discrepancies_open", (double)cnt.discrepancies_open);
            cJSON_AddNumberToObject(c, "stock_total", (double)cnt.stock_total);
            cJSON_AddNumberToObject(c, "file_bytes", (double)cnt.file_bytes);
            cJSON_AddNumberToObject(c, "free_pages_bytes", (double)cnt.free_bytes);
        }
    }
    struct sk_outbox_stats os;
    if (sk_ledger_outbox_stats(l, &os) == 0) {
        cJSON *o = cJSON_AddObjectToObject(j, "outbox");
        if (o) {
            cJSON_AddNumberToObject(o, "pending", (double)os.pending);
            cJSON_AddNumberToObject(o, "last_seq", (double)os.last_seq);
            cJSON_AddNumberToObject(o, "last_delivered_seq", (double)os.last_delivered_seq);
            cJSON_AddBoolToObject(o, "overflow", os.overflow);
        }
    }
    struct stock_ctx sc = {cJSON_CreateArray(), 0, max_stock, 0};
    if (sc.rows) {
        sk_ledger_stock(l, NULL, NULL, stock_row, &sc);
        cJSON *st = cJSON_AddObjectToObject(j, "stock");
        if (st) {
            cJSON_AddNumberToObject(st, "rows", (double)sc.n);
            cJSON_AddNumberToObject(st, "total", (double)sc.total);
            cJSON_AddItemToObject(st, "shown", sc.rows);
        } else {
            cJSON_Delete(sc.rows);
        }
    }
    return j;
}

/* The metrics and the page are built in one bounded buffer each (a store of hundreds of
 * readers and cameras stays far below it). */
#define TEXT_MAX (4u << 20)

static void label(struct sk_buf *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"') {
            sk_buf_printf(b, "\\%c", *v);
        } else if (*v == '\n') {
            sk_buf_printf(b, "\\n");
        } else {
            sk_buf_printf(b, "%c", *v);
        }
    }
}

static void help(struct sk_buf *b, const char *name, const char *type, const char *text)
{
    sk_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}

static int health_value(const char *state)
{
    if (strcmp(state, "up") == 0) {
        return 1;
    }
    if (strcmp(state, "degraded") == 0) {
        return 2;
    }
    return strcmp(state, "down") == 0 ? 3 : 0;
}

/* One metric per element of an array, labelled by its "name". */
/* One metric per reader or camera: a field of each entry of the document's array. */
struct item_metric {
    const char *metric, *type, *text;
    const char *field; /* "state": the health as a number */
    double scale;
};

static const struct item_metric reader_metrics[] = {
        {"storekeeper_reader_health", "gauge",
         "Reader health: 0 unknown, 1 up, 2 degraded, 3 down.", "state", 1},
        {"storekeeper_reader_polls_total", "counter", "Polls made.", "polls", 1},
        {"storekeeper_reader_poll_errors_total", "counter", "Polls that failed.", "poll_errors", 1},
        {"storekeeper_reader_tag_reads_total", "counter", "Tag reads returned by successful polls.",
         "tag_reads", 1},
        {"storekeeper_reader_requests_total", "counter", "Modbus transactions.", "requests", 1},
        {"storekeeper_reader_rtt_seconds", "gauge", "Round trip of the last answered transaction.",
         "rtt_ms", 0.001},
        {"storekeeper_reader_rtt_avg_seconds", "gauge", "Moving average of the round trip.",
         "rtt_avg_ms", 0.001},
        {"storekeeper_reader_present_tags", "gauge", "Tags present at the reader.", "present", 1},
        {"storekeeper_reader_arrivals_total", "counter", "Tag arrivals reported.", "arrivals", 1},
        {"storekeeper_reader_departures_total", "counter", "Tag departures reported.", "departures",
         1},
        {NULL},
};

static const struct item_metric camera_metrics[] = {
        {"storekeeper_camera_health", "gauge",
         "Camera health: 0 unknown, 1 up, 2 degraded, 3 down.", "state", 1},
        {"storekeeper_camera_fps", "gauge", "Frames processed per second.", "fps", 1},
        {"storekeeper_camera_occupancy", "gauge", "Shoppers in view.", "occupancy", 1},
        {"storekeeper_camera_processing_seconds", "gauge", "Mean vision time per processed frame.",
         "proc_ms", 0.001},
        {"storekeeper_camera_frames_processed_total", "counter", "Frames processed.",
         "frames_processed", 1},
        {"storekeeper_camera_frames_dropped_total", "counter",
         "Frames dropped (processing too slow).", "frames_dropped", 1},
        {"storekeeper_camera_observations_dropped_total", "counter",
         "Camera observations the full queue refused.", "observations_dropped", 1},
        {"storekeeper_camera_entries_total", "counter", "Line crossings inwards.", "entries", 1},
        {"storekeeper_camera_exits_total", "counter", "Line crossings outwards.", "exits", 1},
        {NULL},
};

static void
per_item(struct sk_buf *b, const cJSON *arr, const char *lname, const struct item_metric *m)
{
    for (; m->metric; m++) {
        help(b, m->metric, m->type, m->text);
        const cJSON *it;
        cJSON_ArrayForEach(it, arr)
        {
            double v;
            if (strcmp(m->field, "state") == 0) {
                v = health_value(str(it, "state", ""));
            } else if (cJSON_IsNumber(get(it, m->field))) {
                v = num(it, m->field, 0) * m->scale;
            } else {
                continue;
            }
            sk_buf_printf(b, "%s{%s=\"", m->metric, lname);
            label(b, str(it, "name", "?"));
            sk_buf_printf(b, "\"} %.6g\n", v);
        }
    }
}

/* One metric per member of an object ({"key": count, ...}): metric{lname="key"} count. */
static void
by_key(struct sk_buf *b, const cJSON *obj, const char *metric, const char *lname, const char *text)
{
    if (!obj) {
        return;
    }
    help(b, metric, "counter", text);
    const cJSON *it;
    cJSON_ArrayForEach(it, obj)
    {
        sk_buf_printf(b, "%s{%s=\"", metric, lname);
        label(b, it->string);
        sk_buf_printf(b, "\"} %.0f\n", it->valuedouble);
    }
}

/* One metric with one value: its help, its type, its line (with that many decimals). */
static void one(struct sk_buf *b,
                const char *metric,
                const char *type,
                const char *text,
                int decimals,
                double v)
{
    help(b, metric, type, text);
    sk_buf_printf(b, "%s %.*f\n", metric, decimals, v);
}

char *sk_report_metrics(const cJSON *s)
{
    struct sk_buf b = SK_BUF_INIT(TEXT_MAX);
    help(&b, "storekeeper_info", "gauge", "Build and identity of this device (always 1).");
    sk_buf_printf(&b, "storekeeper_info{version=\"");
    label(&b, str(s, "version", ""));
    sk_buf_printf(&b, "\",store_id=\"");
    label(&b, str(s, "store_id", ""));
    sk_buf_printf(&b, "\",device_id=\"");
    label(&b, str(s, "device_id", ""));
    sk_buf_printf(&b, "\",board=\"");
    label(&b, str(s, "board", ""));
    sk_buf_printf(&b, "\"} 1\n");
    one(&b, "storekeeper_uptime_seconds", "gauge", "Seconds since the daemon started.", 3,
        num(s, "uptime_s", 0));

    const cJSON *q = get(s, "queue");

    static const struct {
        const char *field, *metric, *type, *text;
    } qm[] = {
            {"depth", "storekeeper_queue_depth", "gauge", "Observations waiting for the core."},
            {"capacity", "storekeeper_queue_capacity", "gauge", "Capacity of the core queue."},
            {"high_mark", "storekeeper_queue_high_mark", "gauge", "Back-pressure mark."},
            {"max_depth", "storekeeper_queue_max_depth", "gauge", "Highest depth seen."},
            {"pushed", "storekeeper_queue_pushed_total", "counter", "Observations accepted."},
            {"dropped", "storekeeper_queue_dropped_total", "counter", "Observations refused."},
            {"waits", "storekeeper_queue_waits_total", "counter",
             "Pushes that waited for the low mark (RFID back-pressure)."},
    };

    for (size_t i = 0; q && i < sizeof(qm) / sizeof(qm[0]); i++) {
        one(&b, qm[i].metric, qm[i].type, qm[i].text, 0, num(q, qm[i].field, 0));
    }
    by_key(&b, get(s, "observations"), "storekeeper_observations_total", "type",
           "Observations the core handled, by type.");
    const cJSON *rt = get(s, "runtime");
    if (rt) {
        one(&b, "storekeeper_ledger_degraded", "gauge",
            "1 while the ledger cannot be written and observations wait.", 0,
            strcmp(str(rt, "state", "running"), "running") != 0);
        one(&b, "storekeeper_ledger_batches_total", "counter", "Ledger transactions committed.", 0,
            num(rt, "batches", 0));
    }
    per_item(&b, get(s, "readers"), "reader", reader_metrics);
    per_item(&b, get(s, "cameras"), "camera", camera_metrics);
    const cJSON *outbox = get(get(s, "ledger"), "outbox");
    if (outbox) {
        one(&b, "storekeeper_outbox_pending", "gauge", "Events not yet delivered (backlog).", 0,
            num(outbox, "pending", 0));
        one(&b, "storekeeper_outbox_oldest_pending_age_seconds", "gauge",
            "Age of the oldest undelivered event.", 3, num(outbox, "oldest_pending_age_s", 0));
        one(&b, "storekeeper_outbox_last_seq", "gauge", "Highest event seq written.", 0,
            num(outbox, "last_seq", 0));
        one(&b, "storekeeper_outbox_last_delivered_seq", "gauge", "Highest event seq delivered.", 0,
            num(outbox, "last_delivered_seq", 0));
    }
    by_key(&b, get(get(s, "events"), "by_type"), "storekeeper_events_total", "topic",
           "Events written to the outbox since start, by topic.");
    const cJSON *m = get(s, "mqtt");
    if (m) {
        one(&b, "storekeeper_mqtt_connected", "gauge", "1 while connected to the broker.", 0,
            strcmp(str(m, "state", ""), "connected") == 0);
        one(&b, "storekeeper_mqtt_connects_total", "counter", "Successful connections.", 0,
            num(m, "connects", 0));
        one(&b, "storekeeper_mqtt_connect_failures_total", "counter", "Failed connections.", 0,
            num(m, "failures", 0));
    }
    const cJSON *loops = get(s, "loops");
    if (loops) {
        help(&b, "storekeeper_loop_age_seconds", "gauge",
             "Seconds since each loop (core, bus, camera, mqtt) last made progress.");
        const cJSON *it;
        cJSON_ArrayForEach(it, loops)
        {
            sk_buf_printf(&b, "storekeeper_loop_age_seconds{loop=\"");
            label(&b, str(it, "name", "?"));
            sk_buf_printf(&b, "\"} %.3f\n", num(it, "age_ms", 0) / 1000.0);
        }
    }
    const cJSON *ctl = get(s, "control");
    if (ctl) {
        one(&b, "storekeeper_control_requests_total", "counter",
            "Requests answered on the control socket.", 0, num(ctl, "requests", 0));
    }
    return sk_buf_take(&b);
}

/* ---- the status page ----------------------------------------------------------------------- */

static void html_text(struct sk_buf *b, const char *v)
{
    static const char specials[] = "<>&\"'";
    static const char *const entities[] = {"&lt;", "&gt;", "&amp;", "&quot;", "&#39;"};
    for (; v && *v; v++) {
        const char *at = strchr(specials, *v);
        if (at) {
            sk_buf_puts(b, entities[at - specials]);
        } else {
            sk_buf_put(b, v, 1);
        }
    }
}

static void badge(struct sk_buf *b, const char *state)
{
    sk_buf_printf(b, "<span class=\"st st-");
    html_text(b, state);
    sk_buf_printf(b, "\">");
    html_text(b, state);
    sk_buf_printf(b, "</span>");
}

/* A reader's or camera's row up to its figures: <tr id="KIND-NAME" data-state> name, badge. */
static void device_row(struct sk_buf *b, const char *kind, const cJSON *it)
{
    const char *name = str(it, "name", "?");
    const char *state = str(it, "state", "unknown");
    sk_buf_printf(b, "<tr id=\"%s-", kind);
    html_text(b, name);
    sk_buf_printf(b, "\" data-state=\"");
    html_text(b, state);
    sk_buf_printf(b, "\"><td>");
    html_text(b, name);
    sk_buf_printf(b, "</td><td>");
    badge(b, state);
    sk_buf_printf(b, "</td>");
}

/* The row's last cell, "reason: detail", and its end. */
static void why(struct sk_buf *b, const cJSON *it)
{
    const char *reason = str(it, "reason", ""), *detail = str(it, "detail", "");
    html_text(b, reason);
    if (reason[0] && detail[0]) {
        sk_buf_printf(b, ": ");
    }
    html_text(b, detail);
    sk_buf_printf(b, "</td></tr>\n");
}

static const char page_style[] =
        "body{font-family:system-ui,sans-serif;margin:0;padding:0 1em 2em;color:#222;"
        "background:#fafafa}h1{font-size:1.3em;margin:.6em 0 .2em}h2{font-size:1.1em;"
        "margin:1.2em 0 .4em;border-bottom:1px solid #ccc}table{border-collapse:collapse;"
        "width:100%;font-size:.92em}th,td{text-align:left;padding:.25em .5em;border-bottom:"
        "1px solid #e4e4e4;vertical-align:top}th{background:#eee}.st{display:inline-block;"
        "padding:0 .5em;border-radius:.7em;font-weight:600;color:#fff;background:#888}"
        ".st-up,.st-PASS,.st-connected{background:#2e7d32}.st-degraded,.st-WARN{background:"
        "#e69500}.st-down,.st-FAIL,.st-disconnected{background:#c62828}.meta{color:#555;"
        "font-size:.9em}.num{text-align:right}.advice{color:#555}img{max-width:100%;"
        "border:1px solid #ccc}.scroll{overflow-x:auto}";

char *sk_report_html(const cJSON *s, const struct sk_checks *checks, int refresh_s)
{
    struct sk_buf b = SK_BUF_INIT(TEXT_MAX);
    int worst = SK_CHECK_PASS;
    for (size_t i = 0; checks && i < checks->n; i++) {
        worst = checks->v[i].level > worst ? checks->v[i].level : worst;
    }
    sk_buf_printf(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
                      "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n");
    if (refresh_s > 0) {
        sk_buf_printf(&b, "<meta http-equiv=\"refresh\" content=\"%d\">\n", refresh_s);
    }
    sk_buf_printf(&b, "<title>storekeeper ");
    html_text(&b, str(s, "store_id", ""));
    sk_buf_printf(&b, "/");
    html_text(&b, str(s, "device_id", ""));
    sk_buf_printf(&b, "</title>\n<style>%s</style></head><body>\n", page_style);
    sk_buf_printf(&b, "<h1>storekeeper ");
    html_text(&b, str(s, "store_id", ""));
    sk_buf_printf(&b, " / ");
    html_text(&b, str(s, "device_id", ""));
    sk_buf_printf(&b, " <span id=\"overall\" data-level=\"%s\">", sk_check_level_name(worst));
    badge(&b, sk_check_level_name(worst));
    sk_buf_printf(&b, "</span></h1>\n<p class=\"meta\">up %.0f s · storekeeper ",
                  num(s, "uptime_s", 0));
    html_text(&b, str(s, "version", ""));
    sk_buf_printf(&b, " · board ");
    html_text(&b, str(s, "board", ""));
    sk_buf_printf(&b, " · config %.12s · as of ", str(get(s, "config"), "hash", ""));
    html_text(&b, str(s, "time", ""));
    sk_buf_printf(&b, "</p>\n");

    /* checks */
    sk_buf_printf(&b, "<h2>Checks</h2>\n<table id=\"checks\"><tr><th>result</th><th>what</th>"
                      "<th>found</th></tr>\n");
    for (size_t i = 0; checks && i < checks->n; i++) {
        const struct sk_check *k = &checks->v[i];
        sk_buf_printf(&b, "<tr data-level=\"%s\"><td>", sk_check_level_name(k->level));
        badge(&b, sk_check_level_name(k->level));
        sk_buf_printf(&b, "</td><td>");
        html_text(&b, k->subject);
        sk_buf_printf(&b, "</td><td>");
        html_text(&b, k->message);
        if (k->advice[0]) {
            sk_buf_printf(&b, "<br><span class=\"advice\">→ ");
            html_text(&b, k->advice);
            sk_buf_printf(&b, "</span>");
        }
        sk_buf_printf(&b, "</td></tr>\n");
    }
    sk_buf_printf(&b, "</table>\n");

    /* readers */
    sk_buf_printf(
            &b, "<h2>Readers</h2>\n<div class=\"scroll\"><table id=\"readers\"><tr><th>reader</th>"
                "<th>state</th><th>bus / unit</th><th class=\"num\">tags</th>"
                "<th class=\"num\">polls</th><th class=\"num\">errors</th>"
                "<th class=\"num\">RTT ms</th><th>detail</th></tr>\n");
    const cJSON *it;
    cJSON_ArrayForEach(it, get(s, "readers"))
    {
        device_row(&b, "reader", it);
        sk_buf_printf(&b, "<td>");
        html_text(&b, str(it, "bus", ""));
        sk_buf_printf(&b,
                      " / %.0f</td><td class=\"num\">%.0f</td><td class=\"num\">%.0f</td>"
                      "<td class=\"num\">%.0f</td><td class=\"num\">%.1f</td><td>",
                      num(it, "unit", 0), num(it, "present", 0), num(it, "polls", 0),
                      num(it, "poll_errors", 0), num(it, "rtt_avg_ms", 0));
        why(&b, it);
    }
    sk_buf_printf(&b, "</table></div>\n");

    /* cameras and occupancy */
    sk_buf_printf(&b,
                  "<h2>Cameras</h2>\n<p>Shoppers in view now: <b id=\"occupancy\">%.0f</b></p>\n"
                  "<div class=\"scroll\"><table id=\"cameras\"><tr><th>camera</th><th>state</th>"
                  "<th class=\"num\">fps</th><th class=\"num\">in view</th>"
                  "<th class=\"num\">in / out</th><th class=\"num\">dropped</th><th>detail</th>"
                  "</tr>\n",
                  num(s, "occupancy", 0));
    cJSON_ArrayForEach(it, get(s, "cameras"))
    {
        device_row(&b, "camera", it);
        sk_buf_printf(&b,
                      "<td class=\"num\">%.1f</td><td class=\"num\">%.0f</td>"
                      "<td class=\"num\">%.0f / %.0f</td><td class=\"num\">%.0f</td><td>",
                      num(it, "fps", 0), num(it, "occupancy", 0), num(it, "entries", 0),
                      num(it, "exits", 0), num(it, "frames_dropped", 0));
        why(&b, it);
    }
    sk_buf_printf(&b, "</table></div>\n");

    /* broker and outbox */
    const cJSON *m = get(s, "mqtt");
    const cJSON *outbox = get(get(s, "ledger"), "outbox");
    sk_buf_printf(&b, "<h2>Broker and outbox</h2>\n<p id=\"mqtt\">MQTT ");
    badge(&b, str(m, "state", "unknown"));
    sk_buf_printf(&b, " ");
    html_text(&b, str(m, "broker", ""));
    sk_buf_printf(&b, " · outbox: %.0f waiting, last seq %.0f, delivered up to %.0f</p>\n",
                  num(outbox, "pending", 0), num(outbox, "last_seq", 0),
                  num(outbox, "last_delivered_seq", 0));

    /* last events */
    sk_buf_printf(&b, "<h2>Last events</h2>\n<div class=\"scroll\"><table id=\"events\"><tr>"
                      "<th class=\"num\">seq</th><th>time</th><th>event</th><th>what</th></tr>\n");
    const cJSON *recent = get(get(s, "events"), "recent");
    int n = cJSON_GetArraySize(recent);
    for (int i = n - 1; i >= 0; i--) {
        const cJSON *e = cJSON_GetArrayItem(recent, i);
        sk_buf_printf(&b, "<tr><td class=\"num\">%.0f</td><td>", num(e, "seq", 0));
        html_text(&b, str(e, "time", ""));
        sk_buf_printf(&b, "</td><td>");
        html_text(&b, str(e, "topic", ""));
        sk_buf_printf(&b, "</td><td>");
        html_text(&b, str(e, "summary", ""));
        sk_buf_printf(&b, "</td></tr>\n");
    }
    if (n == 0) {
        sk_buf_printf(&b, "<tr><td colspan=\"4\">no events since the daemon started</td></tr>\n");
    }
    sk_buf_printf(&b, "</table></div>\n");

    /* the technician's snapshot, if one was taken */
    const cJSON *snap = get(s, "snapshot");
    if (cJSON_IsObject(snap)) {
        sk_buf_printf(&b, "<h2>Technician snapshot</h2>\n<p class=\"meta\">camera ");
        html_text(&b, str(snap, "camera", ""));
        sk_buf_printf(&b, ", taken ");
        html_text(&b, str(snap, "time", ""));
        sk_buf_printf(&b,
                      " (kept in memory only; gone after %.0f s)</p>\n"
                      "<img id=\"snapshot\" src=\"/snapshot.png\" alt=\"technician snapshot\">\n",
                      num(snap, "expires_in_s", 0));
    }
    sk_buf_printf(&b, "<p class=\"meta\"><a href=\"/status.json\">status.json</a> · "
                      "<a href=\"/metrics\">metrics</a></p>\n</body></html>\n");
    return sk_buf_take(&b);
}
