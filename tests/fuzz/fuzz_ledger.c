/* SPDX-License-Identifier: MIT */
/* Fuzz target: damaged ledger files (header fields, pages, truncation) opened and read. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "fuzz.h"
#include "storekeeper/epc.h"
#include "storekeeper/ledger.h"
#include "storekeeper/tagset.h"

/*
 * A ledger file is outside input: a card that lost power mid-write, a flipped bit, a file
 * restored from somewhere, a technician's copy. Opening one must refuse it with a sentence
 * naming the file, or open it and then read, verify and (when asked) write it without a crash,
 * a leak or undefined behaviour: the issue that added this target found a negative
 * user_version indexing the migrations out of bounds.
 *
 * The input does not carry a whole database: it edits one. LLVMFuzzerInitialize builds a real
 * ledger (catalog, shelves, movements with their events, present tags, a command record) and
 * keeps its bytes and its anchor file. An input is then
 *   byte 0   mode: bit 0 open as the daemon does (create, migrate, owner), bit 1 keep the
 *            anchor file beside it, bit 2 write after a successful open (an event, a movement)
 *   then     up to 64 edits of 5 bytes: page (mod the page count; page 0 below offset 100 is
 *            the header: page size, counters, user_version at 60, application_id at 68),
 *            offset in the page (2 bytes, big endian, mod the page size), op (low 2 bits:
 *            0 set, 1 xor, 2 add, 3 truncate the file there), value.
 */

#define MAX_EDITS 64

static char dir[] = "/tmp/sk-fuzz-ledger-XXXXXX";
static char run_dir[sizeof(dir) + 8];
static char db[sizeof(dir) + 32];
static uint8_t *base;
static size_t base_len, page_size = 4096;
static uint8_t anchor[4096];
static size_t anchor_len;

static void die(const char *what)
{
    fprintf(stderr, "fuzz_ledger: %s\n", what);
    abort();
}

static void clear_run_dir(void)
{
    DIR *d = opendir(run_dir);
    if (!d) {
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.') {
            char p[sizeof(run_dir) + 300];
            snprintf(p, sizeof(p), "%s/%s", run_dir, e->d_name);
            unlink(p);
        }
    }
    closedir(d);
}

static void cleanup(void)
{
    clear_run_dir();
    rmdir(run_dir);
    rmdir(dir);
    free(base);
}

static bool read_file(const char *path, uint8_t **ret, size_t *ret_len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return false;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc(n > 0 ? (size_t)n : 1);
    bool ok = p && n >= 0 && fread(p, 1, (size_t)n, f) == (size_t)n;
    fclose(f);
    if (!ok) {
        free(p);
        return false;
    }
    *ret = p;
    *ret_len = (size_t)n;
    return true;
}

static void build_base(void)
{
    struct sk_ledger_opts o = {.path = db,
                               .store_id = "fz",
                               .device_id = "fz-1",
                               .flags = SK_LEDGER_CREATE | SK_LEDGER_OWNER | SK_LEDGER_ANCHOR};
    struct sk_ledger *l;
    char msg[SK_LEDGER_ERRMSG_MAX];
    if (sk_ledger_open(&o, msg, sizeof(msg), &l) < 0) {
        die(msg);
    }
    static const char *const skus[] = {"COLA", "CHIPS", "WATER"};
    for (int i = 0; i < 3; i++) {
        struct sk_product p = {.price_minor = 100 + i,
                               .currency = "EUR",
                               .restock_threshold = 2,
                               .restock_target = 10};
        snprintf(p.sku, sizeof(p.sku), "%s", skus[i]);
        snprintf(p.name, sizeof(p.name), "Product %d", i);
        if (sk_ledger_product_put(l, &p) < 0) {
            die(sk_ledger_errmsg(l));
        }
    }
    /* The shelves as the daemon records them from a configuration. */
    struct sk_shelf_cfg shelves[2] = {{.name = "A1", .reader = "r1", .antenna = 1},
                                      {.name = "B2", .reader = "r1", .antenna = 2}};
    struct sk_config cfg = {.shelves = shelves, .n_shelves = 2};
    if (sk_ledger_sync_shelves(l, &cfg) < 0) {
        die(sk_ledger_errmsg(l));
    }
    for (int i = 0; i < 12; i++) {
        cJSON *ev = cJSON_CreateObject();
        cJSON_AddStringToObject(ev, "note", "fuzz base");
        struct sk_movement m = {.type = i % 3 == 2 ? SK_MOVE_PICKUP : SK_MOVE_RESTOCK,
                                .sku = skus[i % 3],
                                .shelf = i % 2 ? "A1" : "B2",
                                .quantity = 1 + i % 4,
                                .evidence = ev};
        int r = sk_ledger_move(l, &m, SK_MOVE_EVENT, NULL);
        cJSON_Delete(ev);
        if (r < 0) {
            die(sk_ledger_errmsg(l));
        }
    }
    struct sk_tag_key k;
    uint8_t epc[12] = {0x30, 0x14, 0x25, 0x7b, 0xf4, 0, 0, 0x40, 0, 0, 0, 1};
    sk_tag_key_set(&k, "r1", 1, epc, sizeof(epc));
    struct sk_ledger_request req = {.command = "restock_done", .fingerprint = 7};
    snprintf(req.result, sizeof(req.result), "{\"status\":\"done\"}");
    if (sk_ledger_present_add(l, &k, 5) < 0 ||
        sk_ledger_request_put(l, "billing", "r-1", &req, 0) < 0 ||
        sk_ledger_state_put(l, "fusion/core", "{\"sessions\":[]}") < 0 ||
        sk_ledger_outbox_delivered(l, 1, 0) < 0) {
        die(sk_ledger_errmsg(l));
    }
    sk_ledger_close(l); /* the last connection: the WAL goes into the file */
    char p[sizeof(db) + 16];
    snprintf(p, sizeof(p), "%s.anchor", db);
    uint8_t *a = NULL;
    if (!read_file(db, &base, &base_len) || !read_file(p, &a, &anchor_len) ||
        anchor_len > sizeof(anchor) || base_len < 512) {
        die("cannot read the base ledger back");
    }
    memcpy(anchor, a, anchor_len);
    free(a);
    page_size = ((size_t)base[16] << 8) | base[17];
    if (page_size == 1) {
        page_size = 65536;
    }
    if (page_size < 512 || base_len % page_size != 0) {
        die("unexpected page size");
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (!mkdtemp(dir)) {
        die("mkdtemp");
    }
    snprintf(run_dir, sizeof(run_dir), "%s/run", dir);
    snprintf(db, sizeof(db), "%s/ledger.db", run_dir);
    if (mkdir(run_dir, 0700) < 0) {
        die("mkdir");
    }
    build_base();
    clear_run_dir();
    atexit(cleanup);
    return 0;
}

static bool write_file(const char *path, const uint8_t *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        return false;
    }
    bool ok = write(fd, p, n) == (ssize_t)n;
    close(fd);
    return ok;
}

static int count_cb(const void *row, void *ctx)
{
    (void)row;
    (*(int *)ctx)++;
    return 0;
}

static int outbox_cb(const struct sk_outbox_row *row, void *ctx)
{
    return count_cb(row, ctx) + (row->payload[row->payload_len] != '\0');
}

static int move_cb(const struct sk_movement_row *row, void *ctx)
{
    return count_cb(row, ctx) + (strlen(row->hash) > 64);
}

static int stock_cb(const struct sk_stock_row *row, void *ctx)
{
    return count_cb(row, ctx);
}

static int disc_cb(const struct sk_discrepancy *d, void *ctx)
{
    return count_cb(d, ctx);
}

static int state_cb(const char *key, const char *text, void *ctx)
{
    (void)key;
    (void)text;
    return count_cb(NULL, ctx);
}

/* Everything a reader does with a ledger; no result is checked, only that it holds up. */
static void read_all(struct sk_ledger *l)
{
    int n = 0;
    struct sk_ledger_info info;
    struct sk_ledger_counts counts;
    struct sk_outbox_stats st;
    struct sk_verify_result v;
    struct sk_ledger_head h;
    struct sk_ledger_request req;
    char buf[512];
    sk_ledger_get_info(l, &info);
    sk_ledger_counts(l, &counts);
    sk_ledger_outbox_stats(l, &st);
    sk_ledger_outbox_rows(l, 0, 200, false, outbox_cb, &n);
    sk_ledger_outbox_pending(l, 0, 200, outbox_cb, &n);
    struct sk_movement_filter f = {.limit = 200};
    sk_ledger_movements(l, &f, move_cb, &n);
    sk_ledger_stock(l, NULL, NULL, stock_cb, &n);
    sk_ledger_discrepancies(l, true, disc_cb, &n);
    sk_ledger_state_list(l, "", state_cb, &n);
    sk_ledger_request_get(l, "billing", "r-1", &req);
    sk_ledger_head(l, &h);
    sk_ledger_integrity_check(l, buf, sizeof(buf));
    sk_ledger_verify(l, &v);
    struct sk_tagset *set = NULL;
    if (sk_tagset_new(1000, &set) == 0) {
        sk_ledger_present_load(l, set);
        sk_tagset_free(set);
    }
    FILE *out = fopen("/dev/null", "w");
    if (out) {
        static const char *const tables[] = {"products", "movements", "outbox", "stock", "present"};
        for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
            sk_ledger_export(l, tables[i], SK_EXPORT_JSON, 0, out);
        }
        fclose(out);
    }
}

static void write_some(struct sk_ledger *l)
{
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "what", "fuzz");
    sk_ledger_event(l, "event/fuzz", NULL, f, 0, NULL);
    struct sk_movement m = {
            .type = SK_MOVE_RESTOCK, .sku = "COLA", .shelf = "A1", .quantity = 1, .evidence = f};
    sk_ledger_move(l, &m, SK_MOVE_EVENT, NULL);
    struct sk_outbox_policy p = {.keep_delivered_s = 0, .keep_delivered_max = 1, .max_pending = 2};
    sk_ledger_outbox_maintain(l, &p);
    sk_ledger_request_expire(l, 60);
    cJSON_Delete(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    uint8_t mode = data[0];
    uint8_t *img = malloc(base_len);
    if (!img) {
        return 0;
    }
    memcpy(img, base, base_len);
    size_t len = base_len, pages = base_len / page_size;
    size_t edits = (size - 1) / 5;
    for (size_t i = 0; i < edits && i < MAX_EDITS; i++) {
        const uint8_t *e = data + 1 + 5 * i;
        size_t at = (e[0] % pages) * page_size + (((size_t)e[1] << 8 | e[2]) % page_size);
        switch (e[3] & 3) {
        case 0:
            img[at] = e[4];
            break;
        case 1:
            img[at] ^= e[4];
            break;
        case 2:
            img[at] = (uint8_t)(img[at] + e[4]);
            break;
        default:
            if (at < len) {
                len = at;
            }
            break;
        }
    }
    clear_run_dir();
    char ap[sizeof(db) + 16];
    snprintf(ap, sizeof(ap), "%s.anchor", db);
    if (!write_file(db, img, len) || ((mode & 2) && !write_file(ap, anchor, anchor_len))) {
        die("cannot write the input");
    }
    free(img);
    unsigned flags = (mode & 1) ? SK_LEDGER_CREATE | SK_LEDGER_MIGRATE | SK_LEDGER_OWNER : 0;
    if (mode & 2) {
        flags |= SK_LEDGER_ANCHOR;
    }
    struct sk_ledger_opts o = {.path = db, .store_id = "fz", .device_id = "fz-1", .flags = flags};
    struct sk_ledger *l = NULL;
    char msg[SK_LEDGER_ERRMSG_MAX] = "";
    int r = sk_ledger_open(&o, msg, sizeof(msg), &l);
    if (r < 0) {
        /* A refusal names the file and says why, in one line. */
        if (!msg[0] || !strstr(msg, db) || strchr(msg, '\n')) {
            fprintf(stderr, "refusal without the file or in several lines: %d \"%s\"\n", r, msg);
            abort();
        }
        return 0;
    }
    read_all(l);
    if (mode & 4) {
        write_some(l);
        read_all(l);
    }
    sk_ledger_close(l);
    return 0;
}
