/* SPDX-License-Identifier: MIT */
/* `storekeeper run`: option parsing, --check-config and --config-reference. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include "storekeeper/cli.h"
#include "storekeeper/config.h"
#include "storekeeper/ledger.h"
#include "storekeeper/rfid.h"
#include "storekeeper/runtime.h"
#include "storekeeper/services.h"
#include "storekeeper/vision.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: storekeeper run -c STORE.cfg [OPTIONS]\n\n"
            "Runs the store runtime: polls the shelf readers, watches the cameras, keeps the\n"
            "ledger and publishes events to the broker, until SIGTERM or SIGINT.\n"
            "SIGHUP reloads the configuration (kept only when valid).\n\n"
            "options:\n"
            "  -c, --config FILE     store configuration (libconfig; see docs/config.md)\n"
            "  -b, --board NAME      board profile, overriding the file's `board` key\n"
            "      --check-config    validate the configuration, print a summary, exit\n"
            "      --config-reference print every configuration key (markdown) and exit\n"
            "      --duration S      stop by itself after S seconds\n"
            "      --record FILE     write every observation and tick to FILE, and the ledger\n"
            "                        it starts from to FILE.ledger (for `storekeeper replay`)\n"
            "      --user NAME       started as root: become NAME (its groups too) before\n"
            "                        opening anything (docs/security.md)\n"
            "      --allow-root      run as root anyway (containers, tests; also\n"
            "                        STOREKEEPER_ALLOW_ROOT=1)\n"
            "  -h, --help            this help\n\n"
            "exit codes: 0 stopped cleanly or configuration valid, 1 failure at run time,\n"
            "            2 usage or configuration error (every error is printed)\n");
}

/*
 * The daemon does not run as root: it parses input from the network, the RS-485 bus and
 * files, and needs nothing root has. Under systemd the unit's User= takes care of it. Started
 * as root by hand, it either becomes --user NAME (with NAME's supplementary groups, such as
 * dialout and video for the devices) before it opens any file, device or socket, so that
 * everything it creates belongs to NAME and a reconnect can reopen a serial port; or it
 * refuses, unless --allow-root says root is intended. Returns 0 or an exit code.
 */
static int settle_privileges(const char *user, bool allow_root)
{
    const char *env = getenv("STOREKEEPER_ALLOW_ROOT");
    allow_root |= env && strcmp(env, "1") == 0;
    if (geteuid() != 0) {
        if (user) {
            struct passwd *pw = getpwnam(user);
            if (!pw || pw->pw_uid != geteuid()) {
                return sk_cli_usage_error("run", "--user %s: only root can change user", user);
            }
        }
        return 0;
    }
    if (!user) {
        if (allow_root) {
            return 0; /* said so: containers, CI */
        }
        fprintf(stderr,
                "storekeeper run: refusing to run as root. Run it as the service user "
                "(`systemctl start storekeeper` does), give --user storekeeper to become it, or "
                "--allow-root to run as root anyway.\n");
        return SK_EXIT_USAGE;
    }
    errno = 0;
    struct passwd *pw = getpwnam(user);
    if (!pw) {
        return sk_cli_usage_error("run", "--user %s: no such user", user);
    }
    if (pw->pw_uid == 0) {
        return sk_cli_usage_error("run", "--user %s: that is root; use --allow-root", user);
    }
    uid_t uid = pw->pw_uid;
    gid_t gid = pw->pw_gid;
    if (initgroups(user, gid) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
        int e = errno;
        fprintf(stderr, "storekeeper run: cannot become %s: %s\n", user, strerror(e));
        return SK_EXIT_FAILURE;
    }
    /* No way back: a process that could regain root has not dropped it. */
    if (setuid(0) == 0 || geteuid() == 0 || getegid() == 0) {
        fprintf(stderr, "storekeeper run: could not drop root for good\n");
        return SK_EXIT_FAILURE;
    }
    fprintf(stderr, "storekeeper run: dropped root: running as %s (uid %u, gid %u)\n", user,
            (unsigned)uid, (unsigned)gid);
    return 0;
}

/*
 * Imports the catalog files (products, tags, planogram, in that order, as the daemon does)
 * inside one transaction that is rolled back: into the store's ledger when it exists and can
 * be opened (rows the files name may refer to what it holds), else into a new ledger in a
 * temporary directory. Each file's problems go to diag. Returns 0 or -EINVAL.
 */
static int check_catalog(const struct sk_config *cfg, struct sk_diag *diag)
{
    const char *files[3] = {cfg->products_file, cfg->tags_file, cfg->planogram_file};
    if (!files[0][0] && !files[1][0] && !files[2][0]) {
        return 0;
    }
    char path[SK_PATH_MAX * 2], msg[SK_LEDGER_ERRMSG_MAX], tmpdir[] = "/tmp/sk-check-XXXXXX";
    char tmpdb[sizeof(tmpdir) + 16] = "";
    sk_config_resolve_path(cfg, cfg->ledger.path, path, sizeof(path));
    struct sk_ledger_opts lo = {.path = path, .busy_timeout_ms = 2000};
    struct sk_ledger *l = NULL;
    if (sk_ledger_open(&lo, msg, sizeof(msg), &l) < 0) {
        l = NULL;
        if (!mkdtemp(tmpdir)) {
            sk_diag_add(diag, "cannot check the catalog files: no temporary directory: %s",
                        strerror(errno));
            return -EINVAL;
        }
        snprintf(tmpdb, sizeof(tmpdb), "%s/ledger.db", tmpdir);
        struct sk_ledger_opts to = {.path = tmpdb,
                                    .store_id = cfg->store_id,
                                    .device_id = cfg->device_id,
                                    .flags = SK_LEDGER_CREATE | SK_LEDGER_MIGRATE};
        if (sk_ledger_open(&to, msg, sizeof(msg), &l) < 0) {
            sk_diag_add(diag, "cannot check the catalog files: %s", msg);
            l = NULL;
        }
    }
    int rc = 0;
    if (l && sk_ledger_begin(l) >= 0) {
        for (int kind = SK_IMPORT_PRODUCTS; kind <= SK_IMPORT_PLANOGRAM; kind++) {
            if (!files[kind][0]) {
                continue;
            }
            char fpath[SK_PATH_MAX * 2];
            sk_config_resolve_path(cfg, files[kind], fpath, sizeof(fpath));
            struct sk_import_result res;
            struct sk_import_opts io = {.kind = kind, .cfg = cfg, .diag = diag};
            if (sk_ledger_import(l, fpath, &io, &res) < 0) {
                rc = -EINVAL;
            }
        }
        sk_ledger_rollback(l);
    } else if (l) {
        sk_diag_add(diag, "cannot check the catalog files: %s", sk_ledger_errmsg(l));
        rc = -EINVAL;
    } else {
        rc = -EINVAL;
    }
    sk_ledger_close(l);
    if (tmpdb[0]) {
        static const char *const ext[] = {"", "-wal", "-shm", "-journal"};
        for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
            char p[sizeof(tmpdb) + 16];
            snprintf(p, sizeof(p), "%s%s", tmpdb, ext[i]);
            unlink(p);
        }
        rmdir(tmpdir);
    }
    return rc;
}

int sk_cmd_run(int argc, char **argv)
{
    struct sk_runtime_opts opts = {.services = sk_services};
    bool check = false, reference = false, allow_root = false;
    const char *record = NULL, *user = NULL;
    const struct sk_opt table[] = {
            SK_OPT_STRING("config", 'c', &opts.config_path),
            SK_OPT_STRING("board", 'b', &opts.board),
            SK_OPT_FLAG("check-config", 0, &check),
            SK_OPT_FLAG("config-reference", 0, &reference),
            SK_OPT_POSITIVE("duration", 0, &opts.duration_s, 1e7),
            SK_OPT_STRING("record", 0, &record),
            SK_OPT_STRING("user", 0, &user),
            SK_OPT_FLAG("allow-root", 0, &allow_root),
            SK_OPT_TABLE_END,
    };
    const struct sk_args args = {.cmd = "run", .opts = table, .usage = usage};
    int first = sk_args_parse(&args, argc, argv);
    if (first < 0) {
        return sk_args_exit(first);
    }
    if (reference) {
        sk_config_write_reference(stdout);
        return SK_EXIT_OK;
    }
    if (!opts.config_path) {
        return sk_cli_usage_error("run", "a store configuration is needed: -c STORE.cfg");
    }
    opts.record_path = record;
    if (check) {
        struct sk_diag diag;
        sk_diag_init(&diag);
        struct sk_config *cfg = NULL;
        /* Every reader's profile must load too: checked with the file, so one run lists the
         * profile problems (at the reader's line) with all the others. */
        struct sk_config_opts copts = {.board_override = opts.board,
                                       .check_reader = sk_rfid_check_reader};
        int r = sk_config_load(opts.config_path, &copts, &diag, &cfg);
        if (r == 0) {
            /* the catalog files must import as the daemon will import them at start */
            if (check_catalog(cfg, &diag) < 0) {
                r = -EINVAL;
            }
            /* every camera's backend must be in this binary, a clip must exist */
            if (sk_vision_check_cameras(cfg, &diag) < 0) {
                r = -EINVAL;
            }
            /* the status page's module, when the page is on */
            if (sk_services_check(cfg, &diag) < 0) {
                r = -EINVAL;
            }
            if (r < 0) {
                sk_config_free(cfg);
            }
        }
        if (r < 0) {
            sk_diag_print(&diag, stderr);
            fprintf(stderr, "%zu error(s); configuration not valid\n", diag.n);
            sk_diag_free(&diag);
            return SK_EXIT_USAGE;
        }
        sk_diag_free(&diag);
        for (size_t i = 0; i < cfg->warnings.n; i++) {
            fprintf(stderr, "warning: %s\n", cfg->warnings.lines[i]);
        }
        sk_config_write_summary(cfg, stdout);
        sk_config_free(cfg);
        return SK_EXIT_OK;
    }
    int r = settle_privileges(user, allow_root);
    if (r != 0) {
        return r;
    }
    /* What the daemon writes (the ledger holds account tokens, a recording holds commands) is
     * not for other users, whatever the caller's umask; systemd's UMask= says the same. */
    umask(umask(0) | 027);
    return sk_runtime_main(&opts);
}
