/* SPDX-License-Identifier: MIT */
/* `storekeeper ledger`: the operator's and technician's view of the ledger file. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "storekeeper/buf.h"
#include "storekeeper/cli.h"
#include "storekeeper/clock.h"
#include "storekeeper/config.h"
#include "storekeeper/epc.h"
#include "storekeeper/error.h"
#include "storekeeper/ledger.h"
#include "storekeeper/progress.h"
#include "storekeeper/tagset.h"

/*
 * DESIGN
 * Every subcommand opens the ledger the store file names (-c) or a file given directly
 * (--db, for a copy a technician brought home), does one thing and closes it. They may run
 * while the daemon runs: SQLite's WAL lets them read alongside it, and the writes (imports,
 * restock, adjust, shrink, stocktake) wait for the daemon's transaction (busy timeout) and
 * go into the same hash chain and outbox. Nothing here migrates a ledger except `migrate`.
 * Human output is a table; --json prints one JSON document instead.
 */

#define CMD "ledger"

struct ctx {
    const char *config_path;
    const char *db_path;
    bool json;
    struct sk_config *cfg;
    struct sk_ledger *l;
    char path[SK_PATH_MAX * 2];
    struct sk_progress progress; /* verify, import, export: on stderr */
    const char *progress_what;
};

static void on_progress(const char *what, int64_t done, int64_t total, void *ctx);

struct subcommand {
    const char *name;
    int (*fn)(struct ctx *c, int argc, char **argv);
    const char *args;
    const char *summary;
};

static const struct subcommand subcommands[];

static void usage(FILE *out);

/* ---- helpers --------------------------------------------------------------------------- */

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "storekeeper " CMD ": ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return SK_EXIT_FAILURE;
}

static int ledger_error(struct ctx *c, int err)
{
    const char *why = c->l ? sk_ledger_errmsg(c->l) : "";
    if (why[0] && strncmp(why, c->path, strlen(c->path)) == 0) {
        return fail("%s", why); /* it names the file already */
    }
    if (why[0]) {
        return fail("%s: %s", c->path, why);
    }
    return fail("%s: %s", c->path, sk_strerror(err));
}

/* Before a write: the shelves table follows the configuration (as the daemon does at start),
 * so a ledger the daemon never opened knows the shelves movements name. */
static int sync_shelves(struct ctx *c)
{
    if (!c->cfg) {
        return 0;
    }
    int r = sk_ledger_sync_shelves(c->l, c->cfg);
    return r < 0 ? ledger_error(c, r) : 0;
}

static void print_json(cJSON *j)
{
    char *t = j ? cJSON_Print(j) : NULL;
    if (t) {
        puts(t);
        cJSON_free(t);
    }
    cJSON_Delete(j);
}

static const char *when(int64_t us, char *buf, size_t size)
{
    if (us <= 0) {
        snprintf(buf, size, "-");
        return buf;
    }
    return sk_format_time_utc(us, buf, size);
}

#define TIME_FORMS "a time (2026-11-21, 2026-11-21T10:00:00Z, 30m, 2h, 7d)"

/* RFC 3339 UTC ("2026-11-21T10:00:00Z", with .mmm), a date ("2026-11-21"), "2026-11-21
 * 10:00[:00]", or an age: "90s", "30m", "2h", "7d". ret_us: int64_t *. */
static int parse_time(const char *s, void *ret_us)
{
    char *end;
    long long n = strtoll(s, &end, 10);
    if (end != s && n >= 0 && end[0] && !end[1] && strchr("smhd", end[0])) {
        int64_t unit = end[0] == 's' ? 1 : end[0] == 'm' ? 60 : end[0] == 'h' ? 3600 : 86400;
        *(int64_t *)ret_us = sk_now_wall_us() - (int64_t)n * unit * 1000000;
        return 0;
    }
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    int ms = 0;
    const char *p = strptime(s, "%Y-%m-%d", &tm);
    if (!p) {
        return -EINVAL;
    }
    if (*p == 'T' || *p == ' ') {
        const char *q = strptime(p + 1, "%H:%M:%S", &tm);
        if (!q) {
            q = strptime(p + 1, "%H:%M", &tm);
        }
        if (!q) {
            return -EINVAL;
        }
        p = q;
        if (*p == '.') {
            int digits = 0;
            for (p++; *p >= '0' && *p <= '9'; p++, digits++) {
                if (digits < 3) {
                    ms = ms * 10 + (*p - '0');
                }
            }
            for (; digits < 3; digits++) {
                ms *= 10;
            }
        }
    }
    if (*p == 'Z') {
        p++;
    }
    if (*p) {
        return -EINVAL;
    }
    time_t t = timegm(&tm);
    if (t == (time_t)-1) {
        return -EINVAL;
    }
    *(int64_t *)ret_us = (int64_t)t * 1000000 + ms * 1000;
    return 0;
}

/* Opens the ledger: -c (config: path, store and device) or --db. */
static int open_ledger(struct ctx *c, unsigned flags)
{
    if (!c->config_path && !c->db_path) {
        return sk_cli_usage_error(CMD, "which ledger? -c STORE.cfg or --db FILE");
    }
    if (c->config_path && c->db_path) {
        return sk_cli_usage_error(CMD, "-c and --db exclude each other");
    }
    const char *store = NULL, *device = NULL;
    if (c->config_path) {
        if (sk_config_load_print(c->config_path, NULL, &c->cfg) < 0) {
            return SK_EXIT_USAGE;
        }
        sk_config_resolve_path(c->cfg, c->cfg->ledger.path, c->path, sizeof(c->path));
        store = c->cfg->store_id;
        device = c->cfg->device_id;
    } else {
        snprintf(c->path, sizeof(c->path), "%s", c->db_path);
        flags &= ~(unsigned)SK_LEDGER_CREATE; /* a new ledger needs its store and device */
    }
    if (c->config_path) {
        /* The store's own ledger is checked against its anchor (a copy under --db is not):
         * behind it, it can be read but not written (docs/ledger.md, "Rollback"). */
        flags |= SK_LEDGER_ANCHOR;
    }
    struct sk_ledger_opts o = {.path = c->path,
                               .store_id = store,
                               .device_id = device,
                               .busy_timeout_ms = c->cfg ? c->cfg->ledger.busy_timeout_ms : 5000,
                               .flags = flags,
                               .config_path = c->config_path};
    char msg[SK_LEDGER_ERRMSG_MAX];
    int r = sk_ledger_open(&o, msg, sizeof(msg), &c->l);
    if (r < 0) {
        fprintf(stderr, "storekeeper " CMD ": %s\n", msg);
        return SK_EXIT_FAILURE;
    }
    sk_ledger_set_progress(c->l, on_progress, c);
    return 0;
}

/* The ledger's long operations, shown on stderr (a terminal, or JSON lines with --json). */
static void on_progress(const char *what, int64_t done, int64_t total, void *ctx)
{
    struct ctx *c = ctx;
    if (!c->progress_what || strcmp(c->progress_what, what) != 0) {
        sk_progress_init(&c->progress, stderr, what,
                         strcmp(what, "verify") == 0 ? "movements" : "rows", c->json);
        c->progress_what = what;
    }
    sk_progress_update(&c->progress, done, total);
}

static void progress_end(struct ctx *c, int64_t done, int64_t total)
{
    if (c->progress_what) {
        sk_progress_done(&c->progress, done, total);
        c->progress_what = NULL;
    }
}

static int need_config(struct ctx *c, const char *what)
{
    if (!c->config_path) {
        return sk_cli_usage_error(CMD,
                                  "%s needs the store configuration (-c STORE.cfg): it "
                                  "maps readers and antennas to shelves",
                                  what);
    }
    return 0;
}

static void sub_usage(const char *name)
{
    for (size_t i = 0; subcommands[i].name; i++) {
        if (strcmp(subcommands[i].name, name) == 0) {
            printf("usage: storekeeper ledger (-c STORE.cfg | --db FILE) [--json] %s %s\n\n%s\n",
                   name, subcommands[i].args, subcommands[i].summary);
        }
    }
}

/* Parses a subcommand's options (argv[0] is its name) by its table. Returns the index of the
 * first operand, or SK_ARGS_HELP (its usage printed) or SK_ARGS_ERROR. */
static int
parse_sub(const char *sub, const struct sk_opt *table, int max_operands, int argc, char **argv)
{
    const struct sk_args a = {.cmd = CMD, .sub = sub, .opts = table, .max_operands = max_operands};
    int first = sk_args_parse(&a, argc, argv);
    if (first == SK_ARGS_HELP) {
        sub_usage(sub);
    }
    return first;
}

/* The start of a subcommand that takes options and no operand and reads the ledger as it is:
 * parses, then opens the ledger. True when the subcommand may go on; false with *ret_exit its
 * exit code (usage printed, a usage error, or a ledger that does not open). */
static bool begin_sub(struct ctx *c,
                      const char *sub,
                      const struct sk_opt *table,
                      int argc,
                      char **argv,
                      int *ret_exit)
{
    int first = parse_sub(sub, table, 0, argc, argv);
    if (first < 0) {
        *ret_exit = sk_args_exit(first);
        return false;
    }
    *ret_exit = open_ledger(c, 0);
    return *ret_exit == 0;
}

/* ---- info ------------------------------------------------------------------------------ */

static int64_t file_size(const char *path, const char *suffix)
{
    char p[SK_PATH_MAX * 2 + 8];
    snprintf(p, sizeof(p), "%s%s", path, suffix);
    struct stat st;
    return stat(p, &st) == 0 ? (int64_t)st.st_size : 0;
}

/* The anchor beside the store's ledger, and why writes are refused (if they are). */
static void add_anchor_json(struct ctx *c, cJSON *j)
{
    struct sk_ledger_head a;
    int err = 0;
    const char *refusal = sk_ledger_refusal(c->l, &err);
    cJSON *o = cJSON_AddObjectToObject(j, "anchor");
    if (sk_ledger_anchor(c->l, &a) == 1) {
        cJSON_AddStringToObject(o, "ledger_id", a.ledger_id);
        cJSON_AddNumberToObject(o, "seq", (double)a.seq);
        cJSON_AddNumberToObject(o, "movement_id", (double)a.movement_id);
        cJSON_AddStringToObject(o, "head", a.hash);
    }
    if (refusal) {
        cJSON_AddStringToObject(o, "refused", refusal);
    }
}

static void print_anchor(struct ctx *c)
{
    struct sk_ledger_head a;
    const char *refusal = sk_ledger_refusal(c->l, NULL);
    if (sk_ledger_anchor(c->l, &a) == 1) {
        printf("anchor         %s.anchor: seq %" PRId64 ", movement %" PRId64 "%s%.16s\n", c->path,
               a.seq, a.movement_id, a.hash[0] ? ", head " : "", a.hash);
    } else if (c->config_path) {
        printf("anchor         none\n");
    }
    if (refusal) {
        printf("REFUSED        %s\n", refusal);
    }
}

static int cmd_info(struct ctx *c, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    int r = open_ledger(c, 0);
    if (r) {
        return r;
    }
    struct sk_ledger_info info;
    struct sk_ledger_counts n;
    struct sk_outbox_stats os;
    if ((r = sk_ledger_get_info(c->l, &info)) < 0 || (r = sk_ledger_counts(c->l, &n)) < 0 ||
        (r = sk_ledger_outbox_stats(c->l, &os)) < 0) {
        return ledger_error(c, r);
    }
    int64_t wal = file_size(c->path, "-wal");
    char t1[40], t2[40];
    if (c->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "path", c->path);
        cJSON_AddNumberToObject(j, "schema_version", info.schema_version);
        cJSON_AddNumberToObject(j, "schema_version_supported", SK_LEDGER_SCHEMA_VERSION);
        cJSON_AddStringToObject(j, "ledger_id", info.ledger_id);
        cJSON_AddStringToObject(j, "store_id", info.store_id);
        cJSON_AddStringToObject(j, "device_id", info.device_id);
        cJSON_AddStringToObject(j, "created", when(info.created_us, t1, sizeof(t1)));
        cJSON_AddNumberToObject(j, "file_bytes", (double)n.file_bytes);
        cJSON_AddNumberToObject(j, "free_bytes", (double)n.free_bytes);
        cJSON_AddNumberToObject(j, "wal_bytes", (double)wal);
        cJSON_AddNumberToObject(j, "products", (double)n.products);
        cJSON_AddNumberToObject(j, "tags", (double)n.tags);
        cJSON_AddNumberToObject(j, "shelves", (double)n.shelves);
        cJSON_AddNumberToObject(j, "shelves_active", (double)n.shelves_active);
        cJSON_AddNumberToObject(j, "planogram", (double)n.planogram);
        cJSON_AddNumberToObject(j, "movements", (double)n.movements);
        cJSON_AddNumberToObject(j, "sessions", (double)n.sessions);
        cJSON_AddNumberToObject(j, "stock_total", (double)n.stock_total);
        cJSON_AddNumberToObject(j, "present_tags", (double)n.present);
        cJSON_AddNumberToObject(j, "discrepancies_open", (double)n.discrepancies_open);
        cJSON_AddStringToObject(j, "last_census", when(n.last_census_us, t2, sizeof(t2)));
        cJSON *o = cJSON_AddObjectToObject(j, "outbox");
        cJSON_AddNumberToObject(o, "pending", (double)os.pending);
        cJSON_AddNumberToObject(o, "delivered", (double)os.delivered);
        cJSON_AddNumberToObject(o, "last_seq", (double)os.last_seq);
        cJSON_AddBoolToObject(o, "overflow", os.overflow);
        add_anchor_json(c, j);
        print_json(j);
        return SK_EXIT_OK;
    }
    printf("ledger         %s\n", c->path);
    printf("schema         version %d (this storekeeper writes %d)\n", info.schema_version,
           SK_LEDGER_SCHEMA_VERSION);
    printf("identity       ledger %s, store %s, device %s, created %s\n", info.ledger_id,
           info.store_id, info.device_id, when(info.created_us, t1, sizeof(t1)));
    printf("size           %" PRId64 " KiB (%" PRId64 " KiB free inside), WAL %" PRId64 " KiB\n",
           n.file_bytes / 1024, n.free_bytes / 1024, wal / 1024);
    printf("catalog        %" PRId64 " products, %" PRId64 " tag mappings, %" PRId64
           " planogram rows\n",
           n.products, n.tags, n.planogram);
    printf("shelves        %" PRId64 " (%" PRId64 " in the configuration)\n", n.shelves,
           n.shelves_active);
    printf("movements      %" PRId64 " (stock %" PRId64 " items in all), %" PRId64 " sessions\n",
           n.movements, n.stock_total, n.sessions);
    printf("present        %" PRId64 " tags\n", n.present);
    printf("discrepancies  %" PRId64 " open (last census %s)\n", n.discrepancies_open,
           when(n.last_census_us, t2, sizeof(t2)));
    printf("outbox         %" PRId64 " pending, %" PRId64 " delivered kept, last seq %" PRId64
           "%s\n",
           os.pending, os.delivered, os.last_seq, os.overflow ? ", OVERFLOW" : "");
    print_anchor(c);
    return SK_EXIT_OK;
}

/* ---- import ---------------------------------------------------------------------------- */

static int cmd_import(struct ctx *c, int argc, char **argv)
{
    bool replace = false, dry_run = false;
    const struct sk_opt table[] = {
            SK_OPT_FLAG("replace", 0, &replace),
            SK_OPT_FLAG("dry-run", 0, &dry_run),
            SK_OPT_TABLE_END,
    };
    int first = parse_sub("import", table, 2, argc, argv);
    if (first < 0) {
        return sk_args_exit(first);
    }
    unsigned flags = (replace ? SK_IMPORT_REPLACE : 0) | (dry_run ? SK_IMPORT_DRY_RUN : 0);
    if (argc - first != 2) {
        return sk_cli_usage_error(CMD, "import: KIND FILE expected (KIND: products, tags, "
                                       "planogram)");
    }
    int kind = -1;
    for (int k = SK_IMPORT_PRODUCTS; k <= SK_IMPORT_PLANOGRAM; k++) {
        if (strcmp(argv[first], sk_import_kind_name(k)) == 0) {
            kind = k;
        }
    }
    if (kind < 0) {
        return sk_cli_usage_error(CMD, "import: \"%s\" is not products, tags or planogram",
                                  argv[first]);
    }
    const char *file = argv[first + 1];
    int r = open_ledger(c, SK_LEDGER_CREATE);
    if (r || (!(flags & SK_IMPORT_DRY_RUN) && (r = sync_shelves(c)))) {
        return r;
    }
    struct sk_diag diag;
    sk_diag_init(&diag);
    struct sk_import_result res;
    struct sk_import_opts io = {.kind = kind, .flags = flags, .cfg = c->cfg, .diag = &diag};
    r = sk_ledger_import(c->l, file, &io, &res);
    progress_end(c, res.rows, res.rows);
    sk_diag_print(&diag, stderr);
    sk_diag_free(&diag);
    bool dry = flags & SK_IMPORT_DRY_RUN;
    if (c->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "file", file);
        cJSON_AddStringToObject(j, "kind", sk_import_kind_name(kind));
        cJSON_AddBoolToObject(j, "imported", r == 0 && !dry);
        cJSON_AddNumberToObject(j, "rows", (double)res.rows);
        cJSON_AddNumberToObject(j, "new", (double)res.inserted);
        cJSON_AddNumberToObject(j, "updated", (double)res.updated);
        cJSON_AddNumberToObject(j, "removed", (double)res.removed);
        cJSON_AddNumberToObject(j, "problems", (double)res.errors);
        print_json(j);
    }
    if (r < 0) {
        fprintf(stderr, "storekeeper " CMD ": %s: %s; nothing imported\n", file,
                res.errors ? "the file has problems" : sk_strerror(r));
        return SK_EXIT_FAILURE;
    }
    if (!c->json) {
        printf("%s: %" PRId64 " row(s): %" PRId64 " new, %" PRId64 " updated, %" PRId64
               " removed%s\n",
               file, res.rows, res.inserted, res.updated, res.removed,
               dry ? " (dry run: nothing written)" : "");
    }
    return SK_EXIT_OK;
}

/* ---- stock ----------------------------------------------------------------------------- */

struct out {
    struct ctx *c;
    cJSON *arr;
    int rows;
};

/* The end of a listing: the JSON array, or a line saying there was nothing (printf-style); or
 * the ledger's error r. */
__attribute__((format(printf, 4, 5))) static int
list_done(struct ctx *c, struct out *o, int r, const char *none, ...)
{
    if (r < 0) {
        cJSON_Delete(o->arr);
        return ledger_error(c, r);
    }
    if (o->arr) {
        print_json(o->arr);
    } else if (o->rows == 0) {
        va_list ap;
        va_start(ap, none);
        vprintf(none, ap);
        va_end(ap);
        putchar('\n');
    }
    return SK_EXIT_OK;
}

/* The next row of a listing: a new object in its JSON array (NULL when out of memory: the row
 * is left out), or NULL when the listing is a table, whose header line (printf-style) goes
 * before the first row. */
__attribute__((format(printf, 2, 3))) static cJSON *next_row(struct out *o, const char *header, ...)
{
    if (o->rows++ == 0 && !o->arr) {
        va_list ap;
        va_start(ap, header);
        vprintf(header, ap);
        va_end(ap);
    }
    cJSON *j = o->arr ? cJSON_CreateObject() : NULL;
    if (j) {
        cJSON_AddItemToArray(o->arr, j);
    }
    return j;
}

static int stock_row(const struct sk_stock_row *r, void *ctx)
{
    struct out *o = ctx;
    char t[40];
    cJSON *j = next_row(o, "%-8s %-20s %-28s %8s %8s %-7s %s\n", "SHELF", "SKU", "NAME", "QUANTITY",
                        "CAPACITY", "PLANNED", "UPDATED");
    if (j) {
        cJSON_AddStringToObject(j, "shelf", r->shelf);
        cJSON_AddStringToObject(j, "sku", r->sku);
        cJSON_AddStringToObject(j, "name", r->name);
        cJSON_AddNumberToObject(j, "quantity", (double)r->quantity);
        cJSON_AddNumberToObject(j, "capacity", r->capacity);
        cJSON_AddBoolToObject(j, "planned", r->planned);
        cJSON_AddStringToObject(j, "updated", when(r->updated_us, t, sizeof(t)));
    } else if (!o->arr) {
        printf("%-8s %-20s %-28.28s %8" PRId64 " %8d %-7s %s\n", r->shelf, r->sku, r->name,
               r->quantity, r->capacity, r->planned ? "yes" : "no",
               when(r->updated_us, t, sizeof(t)));
    }
    return 0;
}

static int cmd_stock(struct ctx *c, int argc, char **argv)
{
    const char *shelf = NULL, *sku = NULL;
    const struct sk_opt table[] = {
            SK_OPT_STRING("shelf", 0, &shelf),
            SK_OPT_STRING("sku", 0, &sku),
            SK_OPT_TABLE_END,
    };
    int r;
    if (!begin_sub(c, "stock", table, argc, argv, &r)) {
        return r;
    }
    struct out o = {.c = c, .arr = c->json ? cJSON_CreateArray() : NULL};
    r = sk_ledger_stock(c->l, shelf, sku, stock_row, &o);
    return list_done(c, &o, r, "no stock recorded%s", shelf || sku ? " for that shelf or sku" : "");
}

/* ---- movements ---------------------------------------------------------------------------- */

static int movement_row(const struct sk_movement_row *m, void *ctx)
{
    struct out *o = ctx;
    char t[40];
    cJSON *j = next_row(o, "%6s %-24s %-10s %-20s %5s %-6s %-6s %-12s %s\n", "ID", "TIME", "TYPE",
                        "SKU", "QTY", "SHELF", "TO", "SESSION", "EPC");
    if (j) {
        cJSON_AddNumberToObject(j, "id", (double)m->id);
        cJSON_AddStringToObject(j, "time", when(m->time_us, t, sizeof(t)));
        cJSON_AddStringToObject(j, "type", m->type);
        cJSON_AddStringToObject(j, "sku", m->sku);
        cJSON_AddNumberToObject(j, "quantity", (double)m->quantity);
        cJSON_AddStringToObject(j, "shelf", m->shelf);
        cJSON_AddStringToObject(j, "to_shelf", m->to_shelf);
        cJSON_AddStringToObject(j, "session", m->session);
        cJSON_AddStringToObject(j, "epc", m->epc);
        cJSON *ev = m->evidence[0] ? cJSON_Parse(m->evidence) : NULL;
        cJSON_AddItemToObject(j, "evidence", ev ? ev : cJSON_CreateNull());
        if (m->event_seq) {
            cJSON_AddNumberToObject(j, "event_seq", (double)m->event_seq);
        } else {
            cJSON_AddNullToObject(j, "event_seq");
        }
        cJSON_AddStringToObject(j, "hash", m->hash);
    } else if (!o->arr) {
        printf("%6" PRId64 " %-24s %-10s %-20s %5" PRId64 " %-6s %-6s %-12s %s\n", m->id,
               when(m->time_us, t, sizeof(t)), m->type, m->sku, m->quantity,
               m->shelf[0] ? m->shelf : "-", m->to_shelf[0] ? m->to_shelf : "-",
               m->session[0] ? m->session : "-", m->epc[0] ? m->epc : "-");
    }
    return 0;
}

static int cmd_movements(struct ctx *c, int argc, char **argv)
{
    struct sk_movement_filter f = {0};
    int limit = 0;
    const struct sk_opt table[] = {
            SK_OPT_CUSTOM("since", 0, &f.since_us, parse_time, TIME_FORMS),
            SK_OPT_STRING("session", 0, &f.session),
            SK_OPT_STRING("sku", 0, &f.sku),
            SK_OPT_STRING("shelf", 0, &f.shelf),
            SK_OPT_INT64("after", 0, &f.after_id, 0, INT64_MAX),
            SK_OPT_INT("limit", 0, &limit, 1, 100000000),
            SK_OPT_TABLE_END,
    };
    int r;
    if (!begin_sub(c, "movements", table, argc, argv, &r)) {
        return r;
    }
    f.limit = (size_t)limit;
    struct out o = {.c = c, .arr = c->json ? cJSON_CreateArray() : NULL};
    r = sk_ledger_movements(c->l, &f, movement_row, &o);
    return list_done(c, &o, r, "no movements");
}

/* ---- outbox ---------------------------------------------------------------------------- */

static int outbox_row(const struct sk_outbox_row *row, void *ctx)
{
    struct out *o = ctx;
    char t1[40], t2[40];
    cJSON *j =
            next_row(o, "%8s %-24s %-24s %-24s %s\n", "SEQ", "CREATED", "DELIVERED", "TOPIC", "ID");
    if (j) {
        cJSON_AddNumberToObject(j, "seq", (double)row->seq);
        cJSON_AddStringToObject(j, "id", row->id);
        cJSON_AddStringToObject(j, "topic", row->topic);
        cJSON_AddStringToObject(j, "created", when(row->created_us, t1, sizeof(t1)));
        if (row->delivered_us) {
            cJSON_AddStringToObject(j, "delivered", when(row->delivered_us, t2, sizeof(t2)));
        } else {
            cJSON_AddNullToObject(j, "delivered");
        }
        cJSON *p = cJSON_Parse(row->payload);
        cJSON_AddItemToObject(j, "payload", p ? p : cJSON_CreateString(row->payload));
    } else if (!o->arr) {
        printf("%8" PRId64 " %-24s %-24s %-24s %s\n", row->seq,
               when(row->created_us, t1, sizeof(t1)), when(row->delivered_us, t2, sizeof(t2)),
               row->topic, row->id);
    }
    return 0;
}

static int cmd_outbox(struct ctx *c, int argc, char **argv)
{
    bool list = false, all = false;
    int64_t after = 0, limit = 50;
    const struct sk_opt table[] = {
            SK_OPT_FLAG("list", 0, &list),
            SK_OPT_FLAG("all", 0, &all),
            SK_OPT_INT64("after", 0, &after, 0, INT64_MAX),
            SK_OPT_INT64("limit", 0, &limit, 1, 100000000),
            SK_OPT_TABLE_END,
    };
    int r;
    if (!begin_sub(c, "outbox", table, argc, argv, &r)) {
        return r;
    }
    list |= all;
    struct sk_outbox_stats st;
    if ((r = sk_ledger_outbox_stats(c->l, &st)) < 0) {
        return ledger_error(c, r);
    }
    char t[40];
    cJSON *j = NULL;
    if (c->json) {
        j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "pending", (double)st.pending);
        cJSON_AddStringToObject(j, "oldest_pending", when(st.oldest_pending_us, t, sizeof(t)));
        cJSON_AddNumberToObject(j, "first_pending_seq", (double)st.first_pending_seq);
        cJSON_AddNumberToObject(j, "delivered", (double)st.delivered);
        cJSON_AddNumberToObject(j, "last_seq", (double)st.last_seq);
        cJSON_AddNumberToObject(j, "last_delivered_seq", (double)st.last_delivered_seq);
        cJSON_AddBoolToObject(j, "overflow", st.overflow);
    } else {
        printf("pending    %" PRId64 " (oldest %s, seq %" PRId64 ")\n", st.pending,
               when(st.oldest_pending_us, t, sizeof(t)), st.first_pending_seq);
        printf("delivered  %" PRId64 " kept (last delivered seq %" PRId64 ")\n", st.delivered,
               st.last_delivered_seq);
        printf("last seq   %" PRId64 "%s\n", st.last_seq,
               st.overflow ? " (OVERFLOW: above ledger.outbox_max_pending)" : "");
    }
    if (list) {
        struct out o = {.c = c, .arr = j ? cJSON_AddArrayToObject(j, "rows") : NULL};
        if (!c->json) {
            putchar('\n');
        }
        r = sk_ledger_outbox_rows(c->l, after, (size_t)limit, !all, outbox_row, &o);
        if (r < 0) {
            cJSON_Delete(j);
            return ledger_error(c, r);
        }
    }
    if (j) {
        print_json(j);
    }
    return SK_EXIT_OK;
}

/* ---- discrepancies and census ---------------------------------------------------------------- */

static int discrepancy_row(const struct sk_discrepancy *d, void *ctx)
{
    struct out *o = ctx;
    char t[40];
    cJSON *j = next_row(o, "%6s %-9s %-10s %-8s %-20s %8s %8s %8s %s\n", "ID", "STATE", "KIND",
                        "SHELF", "SKU", "QUANTITY", "EXPECTED", "SEEN", "OPENED");
    if (j) {
        if (d->id) {
            cJSON_AddNumberToObject(j, "id", (double)d->id);
        }
        cJSON_AddStringToObject(j, "state", d->state);
        cJSON_AddStringToObject(j, "kind", d->kind);
        cJSON_AddStringToObject(j, "shelf", d->shelf);
        cJSON_AddStringToObject(j, "sku", d->sku);
        cJSON_AddNumberToObject(j, "quantity", (double)d->quantity);
        cJSON_AddNumberToObject(j, "expected", (double)d->expected);
        cJSON_AddNumberToObject(j, "seen", (double)d->seen);
        if (d->opened_us) {
            cJSON_AddStringToObject(j, "opened", when(d->opened_us, t, sizeof(t)));
        }
    } else if (!o->arr) {
        printf("%6" PRId64 " %-9s %-10s %-8s %-20s %8" PRId64 " %8" PRId64 " %8" PRId64 " %s\n",
               d->id, d->state, d->kind, d->shelf, d->sku[0] ? d->sku : "(unknown tags)",
               d->quantity, d->expected, d->seen, when(d->opened_us, t, sizeof(t)));
    }
    return 0;
}

static int cmd_discrepancies(struct ctx *c, int argc, char **argv)
{
    bool all = false;
    const struct sk_opt table[] = {SK_OPT_FLAG("all", 0, &all), SK_OPT_TABLE_END};
    int r;
    if (!begin_sub(c, "discrepancies", table, argc, argv, &r)) {
        return r;
    }
    struct out o = {.c = c, .arr = c->json ? cJSON_CreateArray() : NULL};
    r = sk_ledger_discrepancies(c->l, all, discrepancy_row, &o);
    return list_done(c, &o, r, "no %sdiscrepancies", all ? "" : "open ");
}

/* Loads the present tags the daemon stored into a set sized by the configuration. */
static int load_present(struct ctx *c, struct sk_tagset **ret)
{
    size_t max =
            (size_t)(c->cfg->core.max_present_tags > 0 ? c->cfg->core.max_present_tags : 200000);
    int r = sk_tagset_new(max, ret);
    if (r < 0) {
        return fail("out of memory");
    }
    r = sk_ledger_present_load(c->l, *ret);
    if (r < 0) {
        return ledger_error(c, r);
    }
    return 0;
}

static int cmd_census(struct ctx *c, int argc, char **argv)
{
    const struct sk_opt table[] = {SK_OPT_TABLE_END};
    int first = parse_sub("census", table, 0, argc, argv);
    if (first < 0) {
        return sk_args_exit(first);
    }
    int r = need_config(c, "census");
    if (r || (r = open_ledger(c, 0))) {
        return r;
    }
    struct sk_tagset *set = NULL;
    if ((r = load_present(c, &set))) {
        sk_tagset_free(set);
        return r;
    }
    struct sk_census_result res;
    struct out o = {.c = c, .arr = c->json ? cJSON_CreateArray() : NULL};
    struct sk_census_opts opts = {.seen = discrepancy_row, .seen_ctx = &o, .dry_run = true};
    r = sk_ledger_census(c->l, c->cfg, set, &opts, &res);
    sk_tagset_free(set);
    if (r < 0) {
        cJSON_Delete(o.arr);
        return ledger_error(c, r);
    }
    if (c->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "shelves", (double)res.shelves);
        cJSON_AddNumberToObject(j, "tags", (double)res.tags);
        cJSON_AddNumberToObject(j, "tags_elsewhere", (double)res.tags_elsewhere);
        cJSON_AddNumberToObject(j, "unknown_tags", (double)res.unknown_tags);
        cJSON_AddNumberToObject(j, "would_open", (double)res.opened);
        cJSON_AddNumberToObject(j, "would_change", (double)res.changed);
        cJSON_AddNumberToObject(j, "would_resolve", (double)res.resolved);
        cJSON_AddItemToObject(j, "findings", o.arr);
        print_json(j);
        return SK_EXIT_OK;
    }
    printf("%sdry run over the present tags the daemon stored (every shelf counts: this command "
           "cannot see reader health)\n%zu shelves, %zu tags (%zu at no shelf, %zu unknown): "
           "would open %zu, change %zu, resolve %zu\n",
           o.rows ? "\n" : "", res.shelves, res.tags, res.tags_elsewhere, res.unknown_tags,
           res.opened, res.changed, res.resolved);
    return SK_EXIT_OK;
}

/* ---- operator movements -------------------------------------------------------------------- */

struct plan {
    struct {
        char shelf[64], sku[SK_LEDGER_SKU_MAX];
        int64_t expected, seen;
    } * v;

    size_t n, cap;
    const char *shelf; /* filter */
};

static int plan_add(const struct sk_discrepancy *d, void *ctx)
{
    struct plan *p = ctx;
    if (!d->sku[0] || strcmp(d->state, "resolved") == 0 ||
        (p->shelf && strcmp(p->shelf, d->shelf) != 0) || d->seen == d->expected) {
        return 0;
    }
    void *v = sk_grow(p->v, &p->cap, p->n + 1, sizeof(*p->v), 10000000);
    if (!v) {
        return -errno;
    }
    p->v = v;
    snprintf(p->v[p->n].shelf, sizeof(p->v[0].shelf), "%s", d->shelf);
    snprintf(p->v[p->n].sku, sizeof(p->v[0].sku), "%s", d->sku);
    p->v[p->n].expected = d->expected;
    p->v[p->n].seen = d->seen;
    p->n++;
    return 0;
}

static int cmd_stocktake(struct ctx *c, int argc, char **argv)
{
    struct plan plan = {0};
    bool apply = false;
    const struct sk_opt table[] = {
            SK_OPT_STRING("shelf", 0, &plan.shelf),
            SK_OPT_FLAG("apply", 0, &apply),
            SK_OPT_TABLE_END,
    };
    int first = parse_sub("stocktake", table, 0, argc, argv);
    if (first < 0) {
        return sk_args_exit(first);
    }
    int r = need_config(c, "stocktake");
    if (r || (r = open_ledger(c, 0)) || (apply && (r = sync_shelves(c)))) {
        return r;
    }
    struct sk_tagset *set = NULL;
    if ((r = load_present(c, &set))) {
        sk_tagset_free(set);
        return r;
    }
    struct sk_census_opts opts = {.seen = plan_add, .seen_ctx = &plan, .dry_run = true};
    r = sk_ledger_census(c->l, c->cfg, set, &opts, NULL);
    sk_tagset_free(set);
    if (r < 0) {
        free(plan.v);
        return ledger_error(c, r);
    }
    cJSON *arr = c->json ? cJSON_CreateArray() : NULL;
    if (apply && plan.n > 0 && (r = sk_ledger_begin(c->l)) < 0) {
        free(plan.v);
        cJSON_Delete(arr);
        return ledger_error(c, r);
    }
    for (size_t i = 0; i < plan.n; i++) {
        int64_t delta = plan.v[i].seen - plan.v[i].expected;
        if (arr) {
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "shelf", plan.v[i].shelf);
            cJSON_AddStringToObject(j, "sku", plan.v[i].sku);
            cJSON_AddNumberToObject(j, "expected", (double)plan.v[i].expected);
            cJSON_AddNumberToObject(j, "seen", (double)plan.v[i].seen);
            cJSON_AddNumberToObject(j, "adjustment", (double)delta);
            cJSON_AddItemToArray(arr, j);
        } else {
            printf("%-8s %-20s expected %6" PRId64 ", seen %6" PRId64 ": adjust by %+" PRId64 "\n",
                   plan.v[i].shelf, plan.v[i].sku, plan.v[i].expected, plan.v[i].seen, delta);
        }
        if (apply) {
            cJSON *ev = cJSON_CreateObject();
            cJSON_AddStringToObject(ev, "reason", "stocktake");
            cJSON_AddNumberToObject(ev, "expected", (double)plan.v[i].expected);
            cJSON_AddNumberToObject(ev, "seen", (double)plan.v[i].seen);
            struct sk_movement m = {.type = SK_MOVE_ADJUSTMENT,
                                    .sku = plan.v[i].sku,
                                    .shelf = plan.v[i].shelf,
                                    .quantity = (int)delta,
                                    .evidence = ev};
            /* one transaction for the whole stocktake, rolled back on any failure */
            r = sk_ledger_move(c->l, &m, SK_MOVE_EVENT | SK_MOVE_IN_BATCH, NULL);
            cJSON_Delete(ev);
            if (r < 0) {
                int e = ledger_error(c, r);
                sk_ledger_rollback(c->l);
                free(plan.v);
                cJSON_Delete(arr);
                return e;
            }
        }
    }
    if (apply && plan.n > 0 && (r = sk_ledger_commit(c->l)) < 0) {
        free(plan.v);
        cJSON_Delete(arr);
        return ledger_error(c, r);
    }
    if (arr) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddBoolToObject(j, "applied", apply);
        cJSON_AddItemToObject(j, "adjustments", arr);
        print_json(j);
    } else if (plan.n == 0) {
        printf("expected stock matches what the readers see: nothing to adjust\n");
    } else {
        printf("%zu adjustment(s) %s\n", plan.n,
               apply ? "written" : "planned (dry run: --apply writes them)");
    }
    free(plan.v);
    return SK_EXIT_OK;
}

static int operator_move(struct ctx *c, int type, const char *sub, int argc, char **argv)
{
    struct sk_movement m = {.type = type};
    const char *note = NULL, *epc_hex = NULL;
    uint8_t epc[SK_EPC_MAX];
    int64_t q = 0;
    const struct sk_opt table[] = {
            SK_OPT_STRING("shelf", 0, &m.shelf),
            SK_OPT_STRING("sku", 0, &m.sku),
            SK_OPT_STRING("epc", 0, &epc_hex),
            SK_OPT_INT64("quantity", 0, &q, type == SK_MOVE_ADJUSTMENT ? -1000000 : 1, 1000000),
            SK_OPT_STRING("note", 0, &note),
            SK_OPT_TABLE_END,
    };
    int first = parse_sub(sub, table, 0, argc, argv);
    if (first < 0) {
        return sk_args_exit(first);
    }
    if (epc_hex) {
        int n = sk_epc_from_hex(epc_hex, epc, sizeof(epc));
        if (n <= 0) {
            return sk_cli_usage_error(CMD, "%s: --epc \"%s\" is not hex", sub, epc_hex);
        }
        m.epc = epc;
        m.epc_len = (size_t)n;
    }
    if (note && strlen(note) > 200) {
        return sk_cli_usage_error(CMD, "%s: --note longer than 200 characters", sub);
    }
    if (!m.shelf || (!m.sku && !m.epc) || q == 0) {
        return sk_cli_usage_error(CMD,
                                  "%s: --shelf, --sku (or --epc) and a non-zero --quantity "
                                  "are needed",
                                  sub);
    }
    m.quantity = (int)q;
    int r = open_ledger(c, SK_LEDGER_CREATE);
    if (r || (r = sync_shelves(c))) {
        return r;
    }
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "source", "storekeeper ledger");
    if (note) {
        cJSON_AddStringToObject(ev, "note", note);
    }
    m.evidence = ev;
    struct sk_movement_result res;
    r = sk_ledger_move(c->l, &m, SK_MOVE_EVENT, &res);
    cJSON_Delete(ev);
    if (r < 0) {
        return ledger_error(c, r);
    }
    if (c->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "movement_id", (double)res.id);
        cJSON_AddStringToObject(j, "type", sub);
        cJSON_AddStringToObject(j, "sku", res.sku);
        cJSON_AddStringToObject(j, "shelf", m.shelf);
        cJSON_AddNumberToObject(j, "quantity", m.quantity);
        cJSON_AddNumberToObject(j, "shelf_stock", (double)res.shelf_stock);
        cJSON_AddNumberToObject(j, "event_seq", (double)res.event_seq);
        cJSON_AddStringToObject(j, "hash", res.hash);
        print_json(j);
    } else {
        printf("movement %" PRId64 ": %s %+d %s on %s; stock there now %" PRId64
               "; event seq %" PRId64 "\n",
               res.id, sub, m.quantity, res.sku, m.shelf, res.shelf_stock, res.event_seq);
    }
    return SK_EXIT_OK;
}

static int cmd_restock(struct ctx *c, int argc, char **argv)
{
    return operator_move(c, SK_MOVE_RESTOCK, "restock", argc, argv);
}

static int cmd_adjust(struct ctx *c, int argc, char **argv)
{
    return operator_move(c, SK_MOVE_ADJUSTMENT, "adjust", argc, argv);
}

static int cmd_shrink(struct ctx *c, int argc, char **argv)
{
    return operator_move(c, SK_MOVE_SHRINK, "shrink", argc, argv);
}

/* ---- export, verify, migrate ----------------------------------------------------------------- */

static bool known_table(const char *table)
{
    const char *p = sk_ledger_export_tables();
    size_t n = strlen(table);
    while (n && (p = strstr(p, table)) != NULL) {
        bool start = p == sk_ledger_export_tables() || p[-1] == ' ';
        bool end = p[n] == '\0' || p[n] == ',';
        if (start && end) {
            return true;
        }
        p += n;
    }
    return false;
}

static int cmd_export(struct ctx *c, int argc, char **argv)
{
    const char *format_name = c->json ? "json" : "csv", *table = "movements", *output = NULL;
    int64_t since = 0;
    const struct sk_opt opts[] = {
            SK_OPT_STRING("format", 0, &format_name),
            SK_OPT_STRING("table", 0, &table),
            SK_OPT_CUSTOM("since", 0, &since, parse_time, TIME_FORMS),
            SK_OPT_STRING("output", 'o', &output),
            SK_OPT_TABLE_END,
    };
    int first = parse_sub("export", opts, 0, argc, argv);
    if (first < 0) {
        return sk_args_exit(first);
    }
    enum sk_export_format format;
    if (strcmp(format_name, "csv") == 0) {
        format = SK_EXPORT_CSV;
    } else if (strcmp(format_name, "json") == 0) {
        format = SK_EXPORT_JSON;
    } else {
        return sk_cli_usage_error(CMD, "export: --format is csv or json, not \"%s\"", format_name);
    }
    if (!known_table(table)) {
        return sk_cli_usage_error(CMD, "export: --table is one of %s", sk_ledger_export_tables());
    }
    int r = open_ledger(c, 0);
    if (r) {
        return r;
    }
    FILE *out = stdout;
    char tmp[SK_PATH_MAX * 2 + 16];
    if (output) {
        /* Written beside the target and renamed: a reader never sees half a file. */
        snprintf(tmp, sizeof(tmp), "%s.tmp", output);
        out = fopen(tmp, "w");
        if (!out) {
            return fail("%s: %s", tmp, strerror(errno));
        }
    }
    r = sk_ledger_export(c->l, table, format, since, out);
    progress_end(c, r > 0 ? r : 0, r > 0 ? r : 0);
    if (output) {
        bool bad = fclose(out) != 0;
        if (r < 0 || bad || rename(tmp, output) < 0) {
            int e = errno;
            remove(tmp);
            return r < 0 ? ledger_error(c, r) : fail("%s: %s", output, strerror(e));
        }
        fprintf(stderr, "%s: %d row(s) of %s\n", output, r, table);
    } else if (r < 0) {
        return ledger_error(c, r);
    }
    return SK_EXIT_OK;
}

/* --anchor ID:HASH: the cloud's record of a movement (checkout ledger_hash, event/movement
 * hash, the retained outbox head) against this ledger's. NULL when it matches, else why. */
struct anchor_probe {
    int64_t id;
    char hash[SK_LEDGER_HASH_HEX];
};

static int anchor_probe_cb(const struct sk_movement_row *row, void *ctx)
{
    struct anchor_probe *p = ctx;
    if (row->id == p->id) {
        snprintf(p->hash, sizeof(p->hash), "%s", row->hash);
    }
    return 1;
}

static int check_anchor_arg(struct ctx *c, const char *arg, char *why, size_t size)
{
    struct anchor_probe p = {0};
    char want[SK_LEDGER_HASH_HEX + 1] = "";
    char *end = NULL;
    errno = 0;
    long long id = strtoll(arg, &end, 10);
    size_t hash_len = end && *end == ':' ? strlen(end + 1) : 0;
    if (errno || end == arg || !end || *end != ':' || id <= 0 || hash_len != 64 ||
        strspn(end + 1, "0123456789abcdefABCDEF") != 64) {
        return sk_cli_usage_error(CMD, "verify: --anchor \"%s\" is not MOVEMENT_ID:HASH (64 hex)",
                                  arg);
    }
    p.id = id;
    memcpy(want, end + 1, 64);
    want[64] = '\0';
    struct sk_movement_filter f = {.after_id = p.id - 1, .limit = 1};
    int r = sk_ledger_movements(c->l, &f, anchor_probe_cb, &p);
    if (r < 0) {
        return ledger_error(c, r);
    }
    if (!p.hash[0]) {
        snprintf(why, size, "movement %" PRId64 " is not in this ledger", p.id);
    } else if (strcasecmp(p.hash, want) != 0) {
        snprintf(why, size, "movement %" PRId64 " has hash %.16s..., the anchor says %.16s...",
                 p.id, p.hash, want);
    } else {
        why[0] = '\0';
    }
    return 0;
}

static int cmd_verify(struct ctx *c, int argc, char **argv)
{
    const char *anchor = NULL;
    const struct sk_opt table[] = {SK_OPT_STRING("anchor", 0, &anchor), SK_OPT_TABLE_END};
    int r;
    if (!begin_sub(c, "verify", table, argc, argv, &r)) {
        return r;
    }
    char integrity[512];
    int ri = sk_ledger_integrity_check(c->l, integrity, sizeof(integrity));
    if (ri < 0 && ri != SK_ELEDGER_CORRUPT) {
        return ledger_error(c, ri);
    }
    struct sk_verify_result v = {0};
    int rv = sk_ledger_verify(c->l, &v);
    progress_end(c, v.movements, v.movements);
    if (rv < 0 && rv != SK_ELEDGER_CHAIN && rv != SK_ELEDGER_ROLLBACK) {
        return ledger_error(c, rv);
    }
    char anchor_why[160] = "";
    if (anchor && (r = check_anchor_arg(c, anchor, anchor_why, sizeof(anchor_why))) != 0) {
        return r;
    }
    bool ok = ri == 0 && rv == 0 && !anchor_why[0];
    if (c->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddBoolToObject(j, "ok", ok);
        cJSON_AddStringToObject(j, "integrity_check", integrity);
        cJSON *ch = cJSON_AddObjectToObject(j, "chain");
        cJSON_AddBoolToObject(ch, "ok", rv == 0);
        cJSON_AddNumberToObject(ch, "movements_checked", (double)v.movements);
        cJSON_AddNumberToObject(ch, "legacy_movements", (double)v.legacy_movements);
        cJSON_AddNumberToObject(ch, "stock_rows", (double)v.stock_rows);
        cJSON_AddNumberToObject(ch, "events_compared", (double)v.events);
        cJSON_AddNumberToObject(ch, "events_pruned", (double)v.events_pruned);
        cJSON_AddNumberToObject(ch, "outbox_digests", (double)v.digests);
        cJSON_AddNumberToObject(ch, "legacy_events", (double)v.legacy_events);
        cJSON_AddBoolToObject(ch, "anchored", v.anchored);
        if (v.head[0]) {
            cJSON_AddStringToObject(ch, "head", v.head);
        }
        if (rv != 0) {
            cJSON_AddStringToObject(ch, "check", v.check);
            if (v.first_bad_id) {
                cJSON_AddNumberToObject(ch, "first_bad_movement", (double)v.first_bad_id);
            }
            cJSON_AddStringToObject(ch, "reason", v.reason);
        }
        if (anchor) {
            cJSON *a = cJSON_AddObjectToObject(j, "anchor_given");
            cJSON_AddBoolToObject(a, "ok", !anchor_why[0]);
            if (anchor_why[0]) {
                cJSON_AddStringToObject(a, "reason", anchor_why);
            }
        }
        print_json(j);
    } else {
        printf("integrity  %s\n", ri == 0 ? "ok" : integrity);
        if (rv == 0) {
            printf("chain      ok: %" PRId64 " movement(s)%s%s\n", v.movements,
                   v.head[0] ? ", head " : "", v.head);
            if (v.legacy_movements) {
                printf("           %" PRId64 " written before schema 4: their recorded_us and "
                       "event_seq are not under the hash\n",
                       v.legacy_movements);
            }
            printf("stock      ok: %" PRId64 " shelf/sku total(s) add up\n", v.stock_rows);
            printf("events     ok: %" PRId64 " movement event(s) match their movement (%" PRId64
                   " pruned)\n",
                   v.events, v.events_pruned);
            printf("outbox     ok: %" PRId64 " digest(s)%s\n", v.digests,
                   v.legacy_events ? ", older rows without one" : "");
            printf("anchor     %s\n", v.anchored ? "ok: the book ends where it did" : "none");
        } else {
            if (v.first_bad_id) {
                printf("%-10s BROKEN at movement %" PRId64 ": %s (%" PRId64 " checked up to it)\n",
                       v.check, v.first_bad_id, v.reason, v.movements);
            } else {
                printf("%-10s BROKEN: %s\n", v.check, v.reason);
            }
        }
        if (anchor) {
            printf("given      %s\n",
                   anchor_why[0] ? anchor_why : "ok: the movement has that hash");
        }
        printf("%s\n", ok ? "PASS" : "FAIL");
    }
    return ok ? SK_EXIT_OK : SK_EXIT_FAILURE;
}

static int cmd_accept_rollback(struct ctx *c, int argc, char **argv)
{
    const char *note = NULL;
    const struct sk_opt table[] = {SK_OPT_STRING("note", 0, &note), SK_OPT_TABLE_END};
    int first = parse_sub("accept-rollback", table, 0, argc, argv);
    if (first < 0) {
        return sk_args_exit(first);
    }
    int r = need_config(c, "accept-rollback");
    if (r) {
        return r;
    }
    if (note && strlen(note) > 200) {
        return sk_cli_usage_error(CMD, "accept-rollback: --note longer than 200 characters");
    }
    if ((r = open_ledger(c, SK_LEDGER_CREATE | SK_LEDGER_ACCEPT_ROLLBACK)) != 0) {
        return r;
    }
    const char *why = sk_ledger_refusal(c->l, NULL);
    char refusal[1024];
    snprintf(refusal, sizeof(refusal), "%s", why ? why : "");
    struct sk_rollback_result res;
    if ((r = sk_ledger_accept_rollback(c->l, note, &res)) < 0) {
        return ledger_error(c, r);
    }
    if (c->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddBoolToObject(j, "accepted", res.accepted);
        if (res.accepted) {
            cJSON_AddStringToObject(j, "refusal", refusal);
            cJSON_AddNumberToObject(j, "movement_id", (double)res.movement_id);
            cJSON_AddNumberToObject(j, "event_seq", (double)res.event_seq);
            cJSON_AddNumberToObject(j, "lost_from_seq", (double)res.lost_from);
            cJSON_AddNumberToObject(j, "lost_to_seq", (double)res.lost_to);
        }
        print_json(j);
    } else if (!res.accepted) {
        printf("%s: at its last known state: nothing to accept\n", c->path);
    } else {
        printf("%s: accepted: %s\n", c->path, refusal);
        printf("recorded as movement %" PRId64 " (rollback) and event seq %" PRId64
               " (event/rollback)\n",
               res.movement_id, res.event_seq);
        if (res.lost_to) {
            printf("seqs %" PRId64 "..%" PRId64 " are never used again; new events continue "
                   "after them\n",
                   res.lost_from, res.lost_to);
        }
    }
    return SK_EXIT_OK;
}

static int cmd_migrate(struct ctx *c, int argc, char **argv)
{
    const struct sk_opt table[] = {SK_OPT_TABLE_END};
    int first = parse_sub("migrate", table, 0, argc, argv);
    if (first < 0) {
        return sk_args_exit(first);
    }
    int r = open_ledger(c, SK_LEDGER_MIGRATE);
    if (r) {
        return r;
    }
    struct sk_ledger_info info;
    if ((r = sk_ledger_get_info(c->l, &info)) < 0) {
        return ledger_error(c, r);
    }
    if (info.migrated_from) {
        printf("%s: schema version %d -> %d (the old file is kept as %s.v%d.bak)\n", c->path,
               info.migrated_from, info.schema_version, c->path, info.migrated_from);
    } else {
        printf("%s: schema version %d, nothing to do\n", c->path, info.schema_version);
    }
    return SK_EXIT_OK;
}

/* ---- dispatch ------------------------------------------------------------------------------ */

static const struct subcommand subcommands[] = {
        {"info", cmd_info, "", "The file: schema, identity, size, counts, outbox."},
        {"import", cmd_import, "products|tags|planogram FILE [--replace] [--dry-run]",
         "Imports a CSV file (docs/ledger.md, \"CSV formats\"). Every row is checked first; a\n"
         "file with any problem imports nothing and each problem is printed as\n"
         "FILE:LINE:COLUMN: NAME: PROBLEM. Rows update what exists (by sku, epc, shelf+sku).\n"
         "  --replace   also remove the rows the file does not name\n"
         "  --dry-run   check only, write nothing"},
        {"stock", cmd_stock, "[--shelf S] [--sku X]",
         "Expected stock per shelf and sku, with planned but empty planogram slots."},
        {"movements", cmd_movements,
         "[--since TIME] [--session ID] [--sku X] [--shelf S] [--after ID] [--limit N]",
         "Movements in chain order. TIME: 2026-11-21, 2026-11-21T10:00:00Z, or an age like\n"
         "30m, 2h, 7d."},
        {"outbox", cmd_outbox, "[--list | --all] [--after SEQ] [--limit N]",
         "Outbox counts: pending, oldest pending, delivered, last seq.\n"
         "  --list      also list pending events (at most --limit, default 50)\n"
         "  --all       list delivered ones too"},
        {"discrepancies", cmd_discrepancies, "[--all]",
         "Open census discrepancies (--all: resolved ones too)."},
        {"census", cmd_census, "",
         "What a census would find now, from the present tags the daemon stored. Writes\n"
         "nothing. Needs -c."},
        {"stocktake", cmd_stocktake, "[--shelf S] [--apply]",
         "Plans adjustments that make the expected stock what the readers see (from the\n"
         "present tags the daemon stored); --apply writes them as adjustment movements with\n"
         "events. Needs -c."},
        {"restock", cmd_restock, "--shelf S (--sku X | --epc HEX) --quantity N [--note TEXT]",
         "Records items added to a shelf (movement and event/movement)."},
        {"adjust", cmd_adjust, "--shelf S (--sku X | --epc HEX) --quantity +-N [--note TEXT]",
         "Records a correction of a shelf's stock (signed quantity)."},
        {"shrink", cmd_shrink, "--shelf S (--sku X | --epc HEX) --quantity N [--note TEXT]",
         "Writes items off as lost."},
        {"export", cmd_export, "[--format csv|json] [--table T] [--since TIME] [-o FILE]",
         "Writes a table (default: movements) as CSV (default; products, tags and planogram\n"
         "re-import as they are) or JSON (also with --json). Tables: products, tags, planogram,\n"
         "shelves, stock, movements, sessions, discrepancies, census, outbox, present."},
        {"verify", cmd_verify, "[--anchor MOVEMENT_ID:HASH]",
         "The whole book: PRAGMA integrity_check, the movements' hash chain, stock against the\n"
         "movements, each movement's outbox event against the movement, the outbox digests,\n"
         "and (with -c) the end of the book against its anchor file. Exit 1 and the first\n"
         "problem when it does not hold.\n"
         "  --anchor    also check that movement MOVEMENT_ID has HASH (what the cloud received\n"
         "              in a checkout's ledger_hash, an event/movement or the outbox message)"},
        {"accept-rollback", cmd_accept_rollback, "[--note TEXT]",
         "For a ledger behind its anchor (lost -wal file, an older copy, a truncated or\n"
         "replaced file) that the daemon refuses: accepts the loss, records it as a rollback\n"
         "movement and an event/rollback, and moves the seq past every seq ever used. Needs -c."},
        {"migrate", cmd_migrate, "",
         "Upgrades an older ledger to this storekeeper's schema (the daemon does it at start);\n"
         "the old file is kept as FILE.vN.bak."},
        {NULL, NULL, NULL, NULL},
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: storekeeper ledger (-c STORE.cfg | --db FILE) [--json] COMMAND "
            "[OPTIONS]\n\n"
            "The inventory ledger: catalog imports, stock, movements, the outbox, census\n"
            "discrepancies, exports and the hash-chain check. Commands may run while the\n"
            "daemon runs.\n\n"
            "options:\n"
            "  -c, --config FILE  the store configuration: the ledger it names (ledger.path),\n"
            "                     its store, device and shelves\n"
            "      --db FILE      a ledger file directly (no configuration; cannot create)\n"
            "      --json         one JSON document instead of tables\n"
            "  -h, --help         this help (COMMAND --help: that command's)\n\n"
            "commands:\n");
    for (size_t i = 0; subcommands[i].name; i++) {
        fprintf(out, "  %s %s\n", subcommands[i].name, subcommands[i].args);
        const char *s = subcommands[i].summary;
        while (*s) {
            const char *nl = strchr(s, '\n');
            size_t n = nl ? (size_t)(nl - s) : strlen(s);
            fprintf(out, "      %.*s\n", (int)n, s);
            s += n + (nl ? 1 : 0);
        }
    }
    fprintf(out, "\nexit codes: 0 ok, 1 failure (ledger refused or not writable, import with\n"
                 "            problems, verify FAIL), 2 usage or configuration error\n"
                 "See docs/ledger.md.\n");
}

int sk_cmd_ledger(int argc, char **argv)
{
    struct ctx c = {0};
    const struct sk_opt table[] = {
            SK_OPT_STRING("config", 'c', &c.config_path),
            SK_OPT_STRING("db", 0, &c.db_path),
            SK_OPT_FLAG("json", 0, &c.json),
            SK_OPT_TABLE_END,
    };
    const struct sk_args args = {.cmd = CMD,
                                 .opts = table,
                                 .usage = usage,
                                 .max_operands = SK_ARGS_OPERANDS_ANY,
                                 .stop_at_operand = true};
    int i = sk_args_parse(&args, argc, argv);
    if (i < 0) {
        return sk_args_exit(i);
    }
    if (i >= argc) {
        return sk_cli_usage_error(CMD, "a command is needed (info, import, stock, movements, "
                                       "outbox, export, verify, ...)");
    }
    const struct subcommand *sub = NULL;
    for (size_t k = 0; subcommands[k].name; k++) {
        if (strcmp(argv[i], subcommands[k].name) == 0) {
            sub = &subcommands[k];
        }
    }
    if (!sub) {
        return sk_cli_usage_error(CMD, "unknown command \"%s\"", argv[i]);
    }
    /* The subcommand sees its own name as argv[0]. */
    int r = sub->fn(&c, argc - i, argv + i);
    sk_ledger_close(c.l);
    sk_config_free(c.cfg);
    return r;
}
