/* SPDX-License-Identifier: MIT */
/* `diag modbus scan` (who answers on a bus) and `diag reader` (tags, RSSI, read rate, errors). */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/signalfd.h>

#include <cjson/cJSON.h>

#include "cmd_diag.h"
#include "storekeeper/buf.h"
#include "storekeeper/cli.h"
#include "storekeeper/clock.h"
#include "storekeeper/config.h"
#include "storekeeper/epc.h"
#include "storekeeper/error.h"
#include "storekeeper/loop.h"
#include "storekeeper/mbconn.h"
#include "storekeeper/presence.h"
#include "storekeeper/profile.h"
#include "storekeeper/progress.h"
#include "storekeeper/reader.h"
#include "storekeeper/rfid.h"

/*
 * Both commands open the bus themselves, as a technician's laptop would: on RS-485 only one
 * master may talk, so stop the service first (systemctl stop storekeeper); a Modbus/TCP
 * reader usually accepts a second connection while the daemon polls it.
 */

static struct sk_config *load_store(const char *path)
{
    struct sk_config *cfg = NULL;
    return sk_config_load_print(path, NULL, &cfg) < 0 ? NULL : cfg;
}

static struct sk_profile *load_profile(const struct sk_config *cfg, const char *name)
{
    char dir[SK_PATH_MAX * 2] = "";
    if (cfg && cfg->profiles_dir[0]) {
        sk_config_resolve_path(cfg, cfg->profiles_dir, dir, sizeof(dir));
    }
    struct sk_profile *p = NULL;
    return sk_profile_load_print("storekeeper diag", name, dir, &p) < 0 ? NULL : p;
}

static void print_json(cJSON *root)
{
    char *text = cJSON_PrintUnformatted(root);
    if (text) {
        printf("%s\n", text);
        fflush(stdout);
        free(text);
    }
}

/* ---- diag modbus scan ------------------------------------------------------------------- */

static void modbus_usage(FILE *out)
{
    fprintf(out,
            "usage: storekeeper diag modbus scan BUS [--units A-B] [-c STORE.cfg] [OPTIONS]\n\n"
            "Asks every unit id in a range for one register and lists who answers (with a value\n"
            "or an exception: both mean a device is there). BUS is a bus name from the store\n"
            "file (-c), whose readers are then checked against their profiles' identity, or an\n"
            "endpoint: tcp:HOST:PORT or rtu:DEVICE:BAUD:FRAME. On RS-485 stop the service first:\n"
            "only one master may use the line.\n\n"
            "options:\n"
            "  -c, --config FILE     store configuration (names buses and readers; default\n"
            "                        $STOREKEEPER_CONFIG or /etc/storekeeper/store.cfg;\n"
            "                        none needed for a tcp:/rtu: endpoint)\n"
            "  -u, --units A-B       unit ids to ask (default 1-247)\n"
            "      --address N       register to read (default 0)\n"
            "      --input           read an input register (FC04) instead of a holding one\n"
            "      --timeout-ms MS   wait per unit (default 100)\n"
            "      --json            one JSON object instead of the table\n"
            "  -h, --help            this help\n\n"
            "exit codes: 0 PASS (every configured reader of the bus answers, or without a store\n"
            "            file at least one unit does), 1 FAIL, 2 usage or configuration error\n");
}

static const char *exception_meaning(int code)
{
    switch (code) {
    case 1:
        return "illegal function";
    case 2:
        return "illegal address";
    case 3:
        return "illegal value";
    case 4:
        return "device failure";
    case 6:
        return "busy";
    case 10:
    case 11:
        return "gateway: no device";
    default:
        return "vendor code";
    }
}

/* --units A-B or A within 1-255: dest is int[2]. */
static int parse_range(const char *s, void *dest)
{
    int *lohi = dest;
    int64_t a, b;
    const char *dash = strchr(s, '-');
    char first[16];
    snprintf(first, sizeof(first), "%.*s", dash ? (int)(dash - s) : (int)strlen(s), s);
    if (sk_parse_int64(first, 10, 1, 255, &a) < 0 ||
        sk_parse_int64(dash ? dash + 1 : first, 10, a, 255, &b) < 0) {
        return -EINVAL;
    }
    lohi[0] = (int)a;
    lohi[1] = (int)b;
    return 0;
}

static int modbus_scan(int argc, char **argv)
{
    const char *config = NULL;
    int unit_range[2] = {1, 247}, address = 0, timeout = 100;
    bool input = false, json = false;
    const struct sk_opt table[] = {
            SK_OPT_STRING("config", 'c', &config),
            SK_OPT_CUSTOM("units", 'u', unit_range, parse_range, "A-B or A within 1-255"),
            {.name = "address",
             .kind = SK_OPT_INT,
             .dest = &address,
             .max = 65535,
             .any_base = true},
            SK_OPT_FLAG("input", 0, &input),
            SK_OPT_INT("timeout-ms", 0, &timeout, 10, 10000),
            SK_OPT_FLAG("json", 0, &json),
            SK_OPT_TABLE_END,
    };
    const struct sk_args args = {.cmd = "diag modbus",
                                 .opts = table,
                                 .usage = modbus_usage,
                                 .max_operands = SK_ARGS_OPERANDS_ANY};
    int first = sk_args_parse(&args, argc, argv);
    if (first < 0) {
        return sk_args_exit(first);
    }
    if (first + 1 != argc) {
        return sk_cli_usage_error("diag modbus", "scan needs one BUS (a bus name or an endpoint)");
    }
    int lo = unit_range[0], hi = unit_range[1];
    const char *bus_arg = argv[first];
    struct sk_config *cfg = NULL;
    const struct sk_bus_cfg *bus = NULL;
    char url[SK_URL_MAX + SK_PATH_MAX];
    bool rs485 = false;
    if (config) {
        if (!(cfg = load_store(config))) {
            return SK_EXIT_USAGE;
        }
        bus = sk_config_bus(cfg, bus_arg);
    }
    if (bus) {
        if (sk_rfid_bus_url(cfg, bus, url, sizeof(url), &rs485) < 0) {
            fprintf(stderr, "storekeeper diag modbus: bus %s: no serial port for %s\n", bus->name,
                    bus->url);
            sk_config_free(cfg);
            return SK_EXIT_USAGE;
        }
    } else if (strncmp(bus_arg, "tcp:", 4) == 0 || strncmp(bus_arg, "rtu:", 4) == 0) {
        snprintf(url, sizeof(url), "%s", bus_arg);
    } else {
        sk_config_free(cfg);
        return sk_cli_usage_error("diag modbus",
                                  "\"%s\" is not a bus of the store file%s nor an "
                                  "endpoint (tcp:HOST:PORT, rtu:DEVICE:BAUD:FRAME)",
                                  bus_arg, config ? "" : " (give -c STORE.cfg)");
    }
    struct sk_mbconn_opts mo = {.url = url,
                                .rs485 = rs485,
                                .response_timeout_ms = timeout,
                                .byte_timeout_ms = 50,
                                .pause_ms = bus ? bus->pause_ms : 5};
    struct sk_mbconn *conn = NULL;
    if (sk_mbconn_new(&mo, &conn) < 0) {
        sk_config_free(cfg);
        return sk_cli_usage_error("diag modbus", "cannot use endpoint \"%s\"", url);
    }
    bool tcp = sk_mbconn_is_tcp(conn);
    if (!tcp && hi > 247) {
        hi = 247; /* 248..255 are reserved on a serial line */
    }
    int r = sk_mbconn_connect(conn);
    cJSON *root = cJSON_CreateObject(), *units = cJSON_CreateArray();
    cJSON_AddStringToObject(root, "bus", bus ? bus->name : "");
    cJSON_AddStringToObject(root, "url", url);
    cJSON_AddItemToObject(root, "units", units);
    if (r < 0) {
        const char *why = sk_mbconn_last_error(conn);
        if (json) {
            cJSON_AddStringToObject(root, "error", why);
            const char *hint = sk_mbconn_open_hint(r, strncmp(url, "rtu:", 4) == 0);
            if (hint) {
                cJSON_AddStringToObject(root, "hint", hint);
            }
            cJSON_AddStringToObject(root, "result", "FAIL");
            print_json(root);
        } else {
            const char *hint = sk_mbconn_open_hint(r, strncmp(url, "rtu:", 4) == 0);
            printf("cannot open %s: %s%s%s\nFAIL\n", url, why, hint ? " — " : "", hint ? hint : "");
        }
        cJSON_Delete(root);
        sk_mbconn_free(conn);
        sk_config_free(cfg);
        return SK_EXIT_FAILURE;
    }
    if (!json) {
        printf("bus %s (%s), units %d-%d, %s register %d, timeout %d ms\n", bus ? bus->name : "-",
               url, lo, hi, input ? "input" : "holding", address, timeout);
        printf("%5s  %-26s %9s  %-14s %-20s %s\n", "unit", "reply", "rtt", "reader", "profile",
               "identity");
    }
    int answering = 0, configured = 0, configured_ok = 0;
    /* A silent unit costs a whole timeout: 247 of them take a while; show that it moves. */
    struct sk_progress prog;
    sk_progress_init(&prog, stderr, "scan", "units", json);
    fflush(stdout);
    for (int u = lo; u <= hi; u++) {
        sk_progress_update(&prog, u - lo, hi - lo + 1);
        const struct sk_reader_cfg *rc = NULL;
        for (size_t i = 0; cfg && bus && i < cfg->n_readers; i++) {
            if (strcmp(cfg->readers[i].bus, bus->name) == 0 && cfg->readers[i].unit == u) {
                rc = &cfg->readers[i];
            }
        }
        configured += rc != NULL;
        if (!sk_mbconn_is_open(conn) && sk_mbconn_connect(conn) < 0) {
            break;
        }
        sk_mbconn_set_unit(conn, u);
        uint16_t v;
        int64_t t0 = sk_now_mono_us();
        int e = sk_mbconn_read(conn, input ? SK_TABLE_INPUT : SK_TABLE_HOLDING, (uint16_t)address,
                               1, &v, false);
        double rtt_ms = (double)(sk_now_mono_us() - t0) / 1000.0;
        char reply[64];
        bool there = false;
        if (e == 0) {
            snprintf(reply, sizeof(reply), "answers (0x%04X)", v);
            there = true;
        } else if (sk_is_modbus_exception(e)) {
            int code = sk_modbus_exception(e);
            there = code != 10 && code != 11;
            snprintf(reply, sizeof(reply), "exception %d (%s)", code, exception_meaning(code));
        } else if (e == -ETIMEDOUT) {
            snprintf(reply, sizeof(reply), "no reply");
        } else {
            snprintf(reply, sizeof(reply), "%.40s", sk_strerror(e));
            there = e == SK_EMODBUS_CRC || e == SK_EMODBUS_FRAME;
        }
        const char *identity = "";
        struct sk_profile *prof = NULL;
        if (there && rc && (prof = load_profile(cfg, rc->profile))) {
            struct sk_reader *rd = NULL;
            if (sk_reader_new(prof, u, rc->response_timeout_ms, 16, &rd) == 0) {
                int id = sk_reader_identify(rd, conn);
                identity = id == 1 ? "ok" : id == 0 ? "n/a" : "MISMATCH";
                sk_reader_free(rd);
            }
        }
        answering += there;
        if (rc && there && strcmp(identity, "MISMATCH") != 0) {
            configured_ok++;
        }
        if (there || rc) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "unit", u);
            cJSON_AddBoolToObject(o, "answers", there);
            cJSON_AddStringToObject(o, "reply", reply);
            if (there) {
                cJSON_AddNumberToObject(o, "rtt_ms", rtt_ms);
            }
            if (rc) {
                cJSON_AddStringToObject(o, "reader", rc->name);
                cJSON_AddStringToObject(o, "profile", rc->profile);
                cJSON_AddStringToObject(o, "identity", there ? identity : "");
            }
            cJSON_AddItemToArray(units, o);
            if (!json) {
                char rtt[16] = "";
                if (there) {
                    snprintf(rtt, sizeof(rtt), "%.1f ms", rtt_ms);
                }
                if (prog.tty && prog.shown) {
                    fputs("\r\033[K", stderr); /* the row goes where the progress line was */
                }
                printf("%5d  %-26s %9s  %-14s %-20s %s\n", u, reply, rtt, rc ? rc->name : "-",
                       rc ? rc->profile : "-", there ? identity : "-");
                fflush(stdout);
                if (prog.shown) {
                    prog.last_us = 0; /* and the progress line comes back below it */
                }
            }
        }
        sk_profile_free(prof);
    }
    sk_progress_done(&prog, hi - lo + 1, hi - lo + 1);
    bool pass = bus && configured ? configured_ok == configured : answering > 0;
    cJSON_AddNumberToObject(root, "answering", answering);
    cJSON_AddNumberToObject(root, "configured", configured);
    cJSON_AddNumberToObject(root, "configured_ok", configured_ok);
    cJSON_AddStringToObject(root, "result", pass ? "PASS" : "FAIL");
    if (json) {
        print_json(root);
    } else {
        printf("%d unit(s) answer", answering);
        if (configured) {
            printf("; %d of %d configured reader(s) answer as their profile says", configured_ok,
                   configured);
        }
        printf("\n%s\n", pass ? "PASS" : "FAIL");
    }
    cJSON_Delete(root);
    sk_mbconn_free(conn);
    sk_config_free(cfg);
    return pass ? SK_EXIT_OK : SK_EXIT_FAILURE;
}

int cli_diag_modbus_direct(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        modbus_usage(stdout);
        return SK_EXIT_OK;
    }
    if (argc < 2 || strcmp(argv[1], "scan") != 0) {
        return sk_cli_usage_error("diag modbus", "the subcommand is scan: diag modbus scan BUS");
    }
    return modbus_scan(argc - 1, argv + 1);
}

/* ---- diag reader ---------------------------------------------------------------------- */

static void reader_usage(FILE *out)
{
    fprintf(out,
            "usage: storekeeper diag reader -c STORE.cfg NAME [--watch] [--json] [OPTIONS]\n\n"
            "Polls one reader of the store file through its profile, as the daemon does, and\n"
            "reports the tags per antenna (EPC, GTIN, RSSI, age, share of polls that saw it),\n"
            "the poll and request rates, round-trip times and errors by kind. On RS-485 stop\n"
            "the service first: only one master may use the line.\n\n"
            "options:\n"
            "  -c, --config FILE     store configuration (required)\n"
            "  -d, --duration S      poll this long before the report (default 3)\n"
            "  -w, --watch           refresh the report every second until Ctrl-C\n"
            "      --json            JSON instead of the table (one object per refresh)\n"
            "  -h, --help            this help\n\n"
            "exit codes: 0 PASS (the reader answered at least 90 %% of the polls as its profile\n"
            "            says), 1 FAIL, 2 usage or configuration error\n");
}

struct tag_row {
    struct sk_tag_read t;
    int64_t first_us, last_us;
    uint64_t polls_seen, reads;
};

struct reader_report {
    uint64_t polls, ok, cached, requests, errors[16];
    int64_t rtt_sum_us, rtt_max_us;
    uint64_t rtt_n;
    char last_error[SK_TEXT_MAX];
    struct tag_row *rows;
    size_t n_rows, cap;
    int64_t start_us;
};

static void
note_tags(struct reader_report *rep, const struct sk_tag_read *tags, size_t n, int64_t now)
{
    for (size_t i = 0; i < n; i++) {
        struct tag_row *row = NULL;
        for (size_t k = 0; k < rep->n_rows && !row; k++) {
            const struct sk_tag_read *o = &rep->rows[k].t;
            if (o->antenna == tags[i].antenna && o->epc_len == tags[i].epc_len &&
                memcmp(o->epc, tags[i].epc, o->epc_len) == 0) {
                row = &rep->rows[k];
            }
        }
        if (!row) {
            struct tag_row *nr = sk_grow(rep->rows, &rep->cap, rep->n_rows + 1, sizeof(*nr), 65536);
            if (!nr) {
                continue;
            }
            rep->rows = nr;
            row = &rep->rows[rep->n_rows++];
            memset(row, 0, sizeof(*row));
            row->t = tags[i];
            row->first_us = now;
        }
        row->last_us = now;
        row->polls_seen++;
        row->reads += tags[i].reads;
        if (tags[i].rssi_cdbm != INT16_MIN) {
            row->t.rssi_cdbm = tags[i].rssi_cdbm;
        }
    }
}

static int row_cmp(const void *a, const void *b)
{
    const struct tag_row *x = a, *y = b;
    if (x->t.antenna != y->t.antenna) {
        return x->t.antenna - y->t.antenna;
    }
    return memcmp(x->t.epc, y->t.epc, SK_EPC_MAX);
}

static bool report_pass(const struct reader_report *rep)
{
    return rep->polls > 0 && rep->ok * 10 >= rep->polls * 9;
}

static void print_reader_report(const struct sk_reader_cfg *rc,
                                const char *url,
                                const struct sk_profile *prof,
                                struct reader_report *rep,
                                bool json,
                                bool clear)
{
    int64_t now = sk_now_mono_us();
    double secs = (double)(now - rep->start_us) / 1e6;
    if (rep->n_rows > 1) {
        qsort(rep->rows, rep->n_rows, sizeof(*rep->rows), row_cmp);
    }
    bool pass = report_pass(rep);
    if (json) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "reader", rc->name);
        cJSON_AddStringToObject(root, "bus", rc->bus);
        cJSON_AddStringToObject(root, "url", url);
        cJSON_AddNumberToObject(root, "unit", rc->unit);
        cJSON_AddStringToObject(root, "profile", prof->id);
        cJSON_AddStringToObject(root, "profile_status", sk_prof_status_name(prof->status));
        cJSON_AddNumberToObject(root, "seconds", secs);
        cJSON_AddNumberToObject(root, "polls", (double)rep->polls);
        cJSON_AddNumberToObject(root, "polls_ok", (double)rep->ok);
        cJSON_AddNumberToObject(root, "polls_cached", (double)rep->cached);
        cJSON_AddNumberToObject(root, "requests", (double)rep->requests);
        cJSON_AddNumberToObject(root, "polls_per_s", secs > 0 ? (double)rep->polls / secs : 0);
        cJSON_AddNumberToObject(root, "rtt_avg_ms",
                                rep->rtt_n ? (double)rep->rtt_sum_us / (double)rep->rtt_n / 1000
                                           : 0);
        cJSON_AddNumberToObject(root, "rtt_max_ms", (double)rep->rtt_max_us / 1000);
        cJSON *errs = cJSON_CreateObject();
        static const int kinds[] = {SK_REASON_TIMEOUT, SK_REASON_EXCEPTION, SK_REASON_CRC,
                                    SK_REASON_BAD_REPLY, SK_REASON_DISCONNECTED};
        for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
            cJSON_AddNumberToObject(errs, sk_health_reason_name(kinds[i]),
                                    (double)rep->errors[kinds[i]]);
        }
        cJSON_AddItemToObject(root, "errors", errs);
        cJSON_AddStringToObject(root, "last_error", rep->last_error);
        cJSON *tags = cJSON_AddArrayToObject(root, "tags");
        for (size_t i = 0; i < rep->n_rows; i++) {
            const struct tag_row *row = &rep->rows[i];
            struct sk_epc e;
            sk_epc_decode(row->t.epc, row->t.epc_len, &e);
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "antenna", row->t.antenna);
            cJSON_AddStringToObject(o, "epc", e.hex);
            if (e.scheme == SK_EPC_SGTIN96) {
                cJSON_AddStringToObject(o, "gtin", e.gtin14);
                cJSON_AddNumberToObject(o, "serial", (double)e.serial);
            }
            if (row->t.rssi_cdbm != INT16_MIN) {
                cJSON_AddNumberToObject(o, "rssi_dbm", row->t.rssi_cdbm / 100.0);
            }
            cJSON_AddNumberToObject(o, "first_seen_s_ago", (double)(now - row->first_us) / 1e6);
            cJSON_AddNumberToObject(o, "last_seen_s_ago", (double)(now - row->last_us) / 1e6);
            cJSON_AddNumberToObject(
                    o, "seen_pct", rep->ok ? 100.0 * (double)row->polls_seen / (double)rep->ok : 0);
            cJSON_AddNumberToObject(o, "reads", (double)row->reads);
            cJSON_AddItemToArray(tags, o);
        }
        cJSON_AddStringToObject(root, "result", pass ? "PASS" : "FAIL");
        print_json(root);
        cJSON_Delete(root);
        return;
    }
    if (clear) {
        printf("\033[H\033[2J");
    }
    printf("reader %s: unit %d on bus %s (%s), profile %s (%s)\n", rc->name, rc->unit, rc->bus, url,
           prof->id,
           prof->status == SK_PROF_UNVERIFIED ? "from the manual, not yet verified on hardware"
                                              : sk_prof_status_name(prof->status));
    printf("%.1f s: %" PRIu64 " polls (%.1f/s), %" PRIu64 " answered, %" PRIu64
           " unchanged, %" PRIu64 " requests; rtt avg %.1f ms, max %.1f ms\n",
           secs, rep->polls, secs > 0 ? (double)rep->polls / secs : 0.0, rep->ok, rep->cached,
           rep->requests, rep->rtt_n ? (double)rep->rtt_sum_us / (double)rep->rtt_n / 1000 : 0.0,
           (double)rep->rtt_max_us / 1000);
    printf("errors: timeout %" PRIu64 ", exception %" PRIu64 ", crc %" PRIu64 ", bad reply %" PRIu64
           ", disconnected %" PRIu64 "%s%s\n",
           rep->errors[SK_REASON_TIMEOUT], rep->errors[SK_REASON_EXCEPTION],
           rep->errors[SK_REASON_CRC], rep->errors[SK_REASON_BAD_REPLY],
           rep->errors[SK_REASON_DISCONNECTED], rep->last_error[0] ? "; last: " : "",
           rep->last_error);
    printf("%3s  %-26s %-16s %9s %9s %9s %6s\n", "ant", "EPC", "GTIN", "RSSI", "first", "last",
           "seen");
    for (size_t i = 0; i < rep->n_rows; i++) {
        const struct tag_row *row = &rep->rows[i];
        struct sk_epc e;
        sk_epc_decode(row->t.epc, row->t.epc_len, &e);
        char rssi[16] = "-";
        if (row->t.rssi_cdbm != INT16_MIN) {
            snprintf(rssi, sizeof(rssi), "%.1f dBm", row->t.rssi_cdbm / 100.0);
        }
        printf("%3u  %-26s %-16s %9s %7.1f s %7.1f s %5.0f%%\n", row->t.antenna, e.hex,
               e.scheme == SK_EPC_SGTIN96 ? e.gtin14 : "-", rssi,
               (double)(now - row->first_us) / 1e6, (double)(now - row->last_us) / 1e6,
               rep->ok ? 100.0 * (double)row->polls_seen / (double)rep->ok : 0.0);
    }
    printf("%zu tag(s)\n%s\n", rep->n_rows, pass ? "PASS" : "FAIL");
    fflush(stdout);
}

int cli_diag_reader_direct(int argc, char **argv)
{
    const char *config = NULL;
    double duration = 3;
    bool watch = false, json = false;
    const struct sk_opt table[] = {
            SK_OPT_STRING("config", 'c', &config),
            SK_OPT_POSITIVE("duration", 'd', &duration, 86400),
            SK_OPT_FLAG("watch", 'w', &watch),
            SK_OPT_FLAG("json", 0, &json),
            SK_OPT_TABLE_END,
    };
    const struct sk_args args = {.cmd = "diag reader",
                                 .opts = table,
                                 .usage = reader_usage,
                                 .max_operands = SK_ARGS_OPERANDS_ANY};
    int first = sk_args_parse(&args, argc, argv);
    if (first < 0) {
        return sk_args_exit(first);
    }
    if (!config) {
        return sk_cli_usage_error("diag reader", "a store configuration is needed: -c STORE.cfg");
    }
    if (first + 1 != argc) {
        return sk_cli_usage_error("diag reader", "name one reader of the store file");
    }
    return cli_diag_reader_poll(config, argv[first], duration, watch, json);
}

int cli_diag_reader_poll(
        const char *config, const char *name, double duration, bool watch, bool json)
{
    struct sk_config *cfg = load_store(config);
    if (!cfg) {
        return SK_EXIT_USAGE;
    }
    const struct sk_reader_cfg *rc = sk_config_reader(cfg, name);
    if (!rc) {
        fprintf(stderr, "storekeeper diag reader: no reader \"%s\" in %s\n", name, config);
        sk_config_free(cfg);
        return SK_EXIT_USAGE;
    }
    const struct sk_bus_cfg *bus = sk_config_bus(cfg, rc->bus);
    char url[SK_URL_MAX + SK_PATH_MAX];
    bool rs485 = false;
    struct sk_profile *prof = load_profile(cfg, rc->profile);
    if (!prof || sk_rfid_bus_url(cfg, bus, url, sizeof(url), &rs485) < 0) {
        sk_profile_free(prof);
        sk_config_free(cfg);
        return SK_EXIT_USAGE;
    }
    struct sk_mbconn_opts mo = {.url = url,
                                .rs485 = rs485,
                                .response_timeout_ms = bus->response_timeout_ms,
                                .byte_timeout_ms = bus->byte_timeout_ms,
                                .pause_ms = bus->pause_ms,
                                .retries = bus->retries};
    struct sk_mbconn *conn = NULL;
    struct sk_reader *reader = NULL;
    int rcode = SK_EXIT_FAILURE;
    struct reader_report rep;
    memset(&rep, 0, sizeof(rep));
    if (sk_mbconn_new(&mo, &conn) < 0 ||
        sk_reader_new(prof, rc->unit, rc->response_timeout_ms, (size_t)rc->max_tags, &reader) < 0) {
        fprintf(stderr, "storekeeper diag reader: cannot use %s\n", url);
        goto out;
    }
    int sfd = sk_signal_fd(false, SFD_CLOEXEC | SFD_NONBLOCK);
    rep.start_us = sk_now_mono_us();
    int64_t end = watch ? INT64_MAX : rep.start_us + (int64_t)(duration * 1e6);
    int64_t next_report = rep.start_us + 1000000;
    bool stop = false;
    while (!stop && sk_now_mono_us() < end) {
        int64_t cycle = sk_now_mono_us();
        if (!sk_mbconn_is_open(conn)) {
            int e = sk_mbconn_connect(conn);
            if (e < 0) {
                rep.polls++;
                rep.errors[SK_REASON_DISCONNECTED]++;
                snprintf(rep.last_error, sizeof(rep.last_error), "cannot open %.40s: %.40s", url,
                         sk_mbconn_last_error(conn));
            } else {
                sk_reader_resync(reader);
            }
        }
        if (sk_mbconn_is_open(conn)) {
            const struct sk_tag_read *tags = NULL;
            int n = sk_reader_poll(reader, conn, &tags);
            int64_t now = sk_now_mono_us();
            rep.polls++;
            rep.requests += sk_reader_requests(reader);
            if (n >= 0) {
                rep.ok++;
                rep.cached += sk_reader_cached(reader);
                struct sk_mbconn_stats st;
                sk_mbconn_get_stats(conn, &st);
                rep.rtt_sum_us += st.last_rtt_us;
                rep.rtt_n++;
                if (st.last_rtt_us > rep.rtt_max_us) {
                    rep.rtt_max_us = st.last_rtt_us;
                }
                note_tags(&rep, tags, (size_t)n, now);
            } else {
                rep.errors[sk_mbconn_health_reason(n)]++;
                snprintf(rep.last_error, sizeof(rep.last_error), "%s", sk_reader_detail(reader));
            }
        }
        if (watch && sk_now_mono_us() >= next_report) {
            print_reader_report(rc, url, prof, &rep, json, isatty(STDOUT_FILENO));
            next_report += 1000000;
        }
        int64_t wait_ms = (cycle + (int64_t)bus->poll_interval_ms * 1000 - sk_now_mono_us()) / 1000;
        struct pollfd pf = {sfd, POLLIN, 0};
        if (poll(&pf, 1, wait_ms > 0 ? (int)wait_ms : 0) > 0) {
            stop = true;
        }
    }
    if (sfd >= 0) {
        close(sfd);
    }
    print_reader_report(rc, url, prof, &rep, json, false);
    rcode = report_pass(&rep) ? SK_EXIT_OK : SK_EXIT_FAILURE;
out:
    free(rep.rows);
    sk_reader_free(reader);
    sk_mbconn_free(conn);
    sk_profile_free(prof);
    sk_config_free(cfg);
    return rcode;
}
