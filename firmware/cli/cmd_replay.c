/* SPDX-License-Identifier: MIT */
/* `storekeeper replay`: a recorded observation log through the same core, deterministically. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include "storekeeper/cli.h"
#include "storekeeper/clock.h"
#include "storekeeper/config.h"
#include "storekeeper/core.h"
#include "storekeeper/error.h"
#include "storekeeper/ledger.h"
#include "storekeeper/log.h"
#include "storekeeper/record.h"

/*
 * The technician's answer to "why was I charged for this?": the daemon recorded every
 * observation its core handled and every tick, with the clock's time, and kept a copy of its
 * ledger from when the recording began (`run --record`). Replay copies that copy again (the
 * recording is never changed), loads the core from it with a manual clock set to the moment
 * the daemon loaded, and feeds the lines with their times. The core cannot tell the
 * difference, so it makes the same decisions and writes the same events with the same seq;
 * only the event ids (random) and publish times (added by the link) differ.
 */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: storekeeper replay -c STORE.cfg [OPTIONS] LOG\n\n"
            "Feeds LOG, written by `storekeeper run --record LOG`, through the core, starting\n"
            "from the ledger the run started with (LOG.ledger; a copy is used, the recording\n"
            "is never changed), with the recorded times, and prints the events the store\n"
            "would have sent, in seq order: \"SEQ TOPIC PAYLOAD\" per line.\n\n"
            "options:\n"
            "  -c, --config FILE   the store configuration of the recorded run (required)\n"
            "  -b, --board NAME    board profile, overriding the file's `board` key\n"
            "      --json          print only the payloads, one JSON object per line\n"
            "      --keep DIR      keep the replayed ledger there (DIR/ledger.db) to inspect\n"
            "                      with `storekeeper ledger --db`\n"
            "  -v, --verbose       log what the core does (info)\n"
            "  -h, --help          this help\n\n"
            "exit codes: 0 replayed, 1 an observation could not be applied or the ledger\n"
            "            failed, 2 usage, configuration or recording error\n");
}

struct print_ctx {
    bool json;
    size_t n;
};

static int print_row(const struct sk_outbox_row *row, void *ctx)
{
    struct print_ctx *p = ctx;
    if (p->json) {
        printf("%s\n", row->payload);
    } else {
        printf("%lld %s %s\n", (long long)row->seq, row->topic, row->payload);
    }
    p->n++;
    return 0;
}

/* A private copy of the recording's ledger, opened (and migrated when older). */
static int open_copy(const struct sk_record_header *h,
                     const struct sk_config *cfg,
                     const char *dir,
                     const struct sk_clock *clock,
                     struct sk_ledger **ret)
{
    struct sk_ledger_opts src_opts = {.path = h->ledger, .clock = clock};
    char msg[SK_LEDGER_ERRMSG_MAX];
    struct sk_ledger *src = NULL;
    int r = sk_ledger_open(&src_opts, msg, sizeof(msg), &src);
    if (r < 0) {
        fprintf(stderr, "storekeeper replay: %s\n", msg);
        return r;
    }
    char path[SK_PATH_MAX * 2 + 16];
    snprintf(path, sizeof(path), "%s/ledger.db", dir);
    unlink(path);
    r = sk_ledger_backup(src, path);
    if (r < 0) {
        fprintf(stderr, "storekeeper replay: %s\n", sk_ledger_errmsg(src));
    }
    sk_ledger_close(src);
    if (r < 0) {
        return r;
    }
    struct sk_ledger_opts o = {.path = path,
                               .store_id = cfg->store_id,
                               .device_id = cfg->device_id,
                               .flags = SK_LEDGER_MIGRATE,
                               .clock = clock};
    r = sk_ledger_open(&o, msg, sizeof(msg), ret);
    if (r < 0) {
        fprintf(stderr, "storekeeper replay: %s\n", msg);
    }
    return r;
}

static int replay(const char *log_path, const struct sk_config *cfg, const char *dir, bool json)
{
    char err[512];
    struct sk_record_reader *rd = NULL;
    if (sk_record_reader_open(log_path, err, sizeof(err), &rd) < 0) {
        fprintf(stderr, "storekeeper replay: %s\n", err);
        return SK_EXIT_USAGE;
    }
    const struct sk_record_header *h = sk_record_header(rd);
    if (strcmp(h->store_id, cfg->store_id) != 0 || strcmp(h->device_id, cfg->device_id) != 0) {
        fprintf(stderr,
                "storekeeper replay: %s was recorded by store %s device %s, not %s %s of %s\n",
                log_path, h->store_id, h->device_id, cfg->store_id, cfg->device_id, cfg->path);
        sk_record_reader_close(rd);
        return SK_EXIT_USAGE;
    }
    if (strcmp(h->config_hash, cfg->hash) != 0) {
        fprintf(stderr,
                "storekeeper replay: warning: %s differs from the configuration the run had "
                "(hash %.12s, now %.12s): decisions may differ\n",
                cfg->path, h->config_hash, cfg->hash);
    }
    struct sk_clock_manual clk;
    sk_clock_manual_init(&clk, h->mono_us, h->wall_us);
    struct sk_ledger *ledger = NULL;
    struct sk_core *core = NULL;
    int exit = SK_EXIT_OK;
    if (open_copy(h, cfg, dir, &clk.clock, &ledger) < 0 ||
        sk_core_new(cfg, &clk.clock, &core) < 0) {
        exit = SK_EXIT_FAILURE;
        goto out;
    }
    if (sk_core_set_ledger(core, ledger) < 0) {
        fprintf(stderr, "storekeeper replay: cannot load the core from the ledger: %s\n",
                sk_ledger_errmsg(ledger));
        exit = SK_EXIT_FAILURE;
        goto out;
    }
    struct sk_record_entry e;
    int r;
    size_t obs = 0, ticks = 0;
    while ((r = sk_record_next(rd, &e, err, sizeof(err))) == 1) {
        clk.mono_us = e.mono_us;
        clk.wall_us = e.wall_us;
        if (e.kind == SK_RECORD_TICK) {
            sk_core_tick(core);
            ticks++;
            continue;
        }
        obs++;
        int a = sk_ledger_begin(ledger);
        if (a >= 0) {
            a = sk_core_handle(core, &e.obs);
            a = a < 0 ? a : sk_ledger_commit(ledger);
        }
        if (a < 0) {
            while (sk_ledger_depth(ledger) > 0) {
                sk_ledger_rollback(ledger);
            }
            sk_core_set_ledger(core, ledger);
            fprintf(stderr, "storekeeper replay: %s:%d: %s not applied: %s (%s)\n", log_path,
                    e.line, sk_obs_type_name(e.obs.type), sk_strerror(a), sk_ledger_errmsg(ledger));
            exit = SK_EXIT_FAILURE;
        }
        sk_obs_release(&e.obs);
    }
    if (r < 0) {
        fprintf(stderr, "storekeeper replay: %s\n", err);
        exit = SK_EXIT_USAGE;
        goto out;
    }
    struct print_ctx pc = {.json = json};
    int64_t after = h->last_seq;
    do {
        size_t before = pc.n;
        r = sk_ledger_outbox_rows(ledger, after, 1000, false, print_row, &pc);
        after += (int64_t)(pc.n - before);
    } while (r == 1000);
    fprintf(stderr, "storekeeper replay: %zu observation(s), %zu tick(s), %zu event(s)\n", obs,
            ticks, pc.n);
out:
    sk_core_free(core);
    sk_ledger_close(ledger);
    sk_record_reader_close(rd);
    return exit;
}

int sk_cmd_replay(int argc, char **argv)
{
    const char *config = NULL, *board = NULL, *keep = NULL;
    bool json = false, verbose = false;
    const struct sk_opt table[] = {
            SK_OPT_STRING("config", 'c', &config), SK_OPT_STRING("board", 'b', &board),
            SK_OPT_FLAG("json", 0, &json),         SK_OPT_STRING("keep", 0, &keep),
            SK_OPT_FLAG("verbose", 'v', &verbose), SK_OPT_TABLE_END,
    };
    const struct sk_args args = {
            .cmd = "replay", .opts = table, .usage = usage, .max_operands = SK_ARGS_OPERANDS_ANY};
    int first = sk_args_parse(&args, argc, argv);
    if (first < 0) {
        return sk_args_exit(first);
    }
    if (!config) {
        return sk_cli_usage_error("replay", "a store configuration is needed: -c STORE.cfg");
    }
    if (first != argc - 1) {
        return sk_cli_usage_error("replay", "one recording is needed: replay -c STORE.cfg LOG");
    }
    struct sk_config *cfg = NULL;
    if (sk_config_load_print(config, board, &cfg) < 0) {
        return SK_EXIT_USAGE;
    }
    sk_log_set_level(verbose ? SK_LOG_INFO : SK_LOG_WARNING);
    char dir[SK_PATH_MAX];
    bool temp = !keep;
    if (keep) {
        snprintf(dir, sizeof(dir), "%s", keep);
        if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
            fprintf(stderr, "storekeeper replay: cannot create %s: %s\n", dir, strerror(errno));
            sk_config_free(cfg);
            return SK_EXIT_FAILURE;
        }
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof(dir), "%s/sk-replay-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
        if (!mkdtemp(dir)) {
            fprintf(stderr, "storekeeper replay: cannot create a directory: %s\n", strerror(errno));
            sk_config_free(cfg);
            return SK_EXIT_FAILURE;
        }
    }
    int exit = replay(argv[first], cfg, dir, json);
    if (temp) {
        static const char *const files[] = {"ledger.db", "ledger.db-wal", "ledger.db-shm"};
        for (size_t i = 0; i < 3; i++) {
            char p[SK_PATH_MAX + 32];
            snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
            unlink(p);
        }
        rmdir(dir);
    }
    sk_config_free(cfg);
    return exit;
}
