/* SPDX-License-Identifier: MIT */
/* The anchor file beside the ledger: where the book ended, kept outside it to catch a rollback. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/file.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "ledger_internal.h"
#include "storekeeper/clock.h"
#include "storekeeper/error.h"

/*
 * DESIGN
 * A ledger can go back in time without SQLite noticing: its -wal file lost while the daemon was
 * stopped, an older copy restored, the file truncated to 0 bytes and created again. Every such
 * ledger is a valid database, and it would hand out the seqs of the lost events again for new
 * events, which the cloud drops as duplicates. So where the book ends (ledger id, the last
 * event's seq and id, the last movement's id and hash) is also kept outside it, in PATH.anchor,
 * written after every commit that added events or movements, and compared at every open that
 * asks for it. The cloud holds the same facts in the retained outbox message (docs/mqtt.md).
 *
 * The file has two 512-byte slots of text, each with a generation and a CRC-32; a write goes to
 * the slot the older generation is in: a write torn by a power cut damages one slot, and the
 * other still holds an earlier state. It is only ever written after the commit it describes is
 * durable, so whatever version of it reaches the disk, and whenever, it may lag the ledger
 * (a power cut before it is synced), never lead it: a ledger ahead of its anchor is normal, one
 * behind it is not. Writers (the daemon, `storekeeper ledger` commands) take an flock for the
 * read-compare-write and never move it backwards.
 *
 * Its fdatasync is not paid per commit (it was a second flush of every commit, a third of the
 * time of a batch of 100): the pwrite puts it in the page cache at once, where every reader
 * and every later open sees it (a killed process loses nothing), and only a power cut can
 * lose it. A commit syncs it when the last sync is SK_LEDGER_ANCHOR_SYNC_MS old or more;
 * otherwise it waits for sk_ledger_anchor_flush (the daemon's core tick), a later commit or
 * the close. So a power cut loses at most the anchor's last core.tick_ms (100 ms by default)
 * of commits, and only a rollback of exactly those commits in the same outage goes unseen
 * (docs/ledger.md). A new file, a forced write (accept-rollback) and the first write of a
 * process are synced at once.
 */

#define SLOT      512
#define MAGIC     "storekeeper ledger anchor 1"
#define FILE_MAX  (2 * SLOT)
#define PATH_SIZE (sizeof(((struct sk_ledger *)0)->path) + 8)

/* CRC-32 (IEEE) a byte at a time from a table: both slots are read and one written after
 * every commit, and the bit-at-a-time loop was most of the anchor's CPU. */
static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) {
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
        }
        crc_table[i] = c;
    }
}

static uint32_t crc32(const char *p, size_t n)
{
    pthread_once(&crc_once, crc_init);
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c = (c >> 8) ^ crc_table[(c ^ (uint8_t)p[i]) & 0xffu];
    }
    return ~c;
}

static void anchor_path(const char *ledger_path, char *buf, size_t size)
{
    snprintf(buf, size, "%s.anchor", ledger_path);
}

static int slot_format(const struct ledger_anchor *a, char out[SLOT])
{
    memset(out, 0, SLOT);
    int n = snprintf(out, SLOT,
                     MAGIC "\ngeneration %" PRIu64 "\nledger_id %s\nseq %" PRId64
                           "\nevent_id %s\nmovement_id %" PRId64 "\nhead %s\n",
                     a->generation, a->head.ledger_id, a->head.seq,
                     a->head.event_id[0] ? a->head.event_id : "-", a->head.movement_id,
                     a->head.hash[0] ? a->head.hash : "-");
    if (n < 0 || n + 16 >= SLOT) {
        return -EOVERFLOW;
    }
    snprintf(out + n, (size_t)(SLOT - n), "crc %08x\n", crc32(out, (size_t)n));
    return 0;
}

static bool copy_word(const char *v, char *out, size_t size, size_t want)
{
    size_t n = strcspn(v, "\n");
    if (n == 0 || n >= size || (want && n != want && !(n == 1 && v[0] == '-'))) {
        return false;
    }
    memcpy(out, v, n);
    out[n] = '\0';
    if (strcmp(out, "-") == 0) {
        out[0] = '\0';
    }
    return true;
}

/* A decimal number that ends its line: true and *ret, false for anything else. */
static bool read_number(const char *v, bool is_unsigned, uint64_t *ret)
{
    char *end = NULL;
    errno = 0;
    uint64_t x = is_unsigned ? strtoull(v, &end, 10) : (uint64_t)strtoll(v, &end, 10);
    if (errno || end == v || (*end != '\n' && *end != '\0') || (is_unsigned && *v == '-')) {
        return false;
    }
    *ret = x;
    return true;
}

static bool read_i64(const char *v, int64_t *ret)
{
    uint64_t x;
    if (!read_number(v, false, &x)) {
        return false;
    }
    *ret = (int64_t)x;
    return true;
}

/* Parses one slot; 0 and *ret when it is whole, -EBADMSG when not. */
static int slot_parse(const char *buf, struct ledger_anchor *ret)
{
    char text[SLOT + 1];
    memcpy(text, buf, SLOT);
    text[SLOT] = '\0';
    char *crc = strstr(text, "\ncrc ");
    if (strncmp(text, MAGIC "\n", sizeof(MAGIC)) != 0 || !crc) {
        return -EBADMSG;
    }
    unsigned long want = strtoul(crc + 5, NULL, 16);
    if (crc32(text, (size_t)(crc + 1 - text)) != (uint32_t)want) {
        return -EBADMSG;
    }
    struct ledger_anchor a;
    memset(&a, 0, sizeof(a));
    const char *p;
    bool ok = (p = strstr(text, "\ngeneration ")) && read_number(p + 12, true, &a.generation) &&
              (p = strstr(text, "\nledger_id ")) &&
              copy_word(p + 11, a.head.ledger_id, sizeof(a.head.ledger_id), SK_LEDGER_ID_LEN) &&
              (p = strstr(text, "\nseq ")) && read_i64(p + 5, &a.head.seq) &&
              (p = strstr(text, "\nevent_id ")) &&
              copy_word(p + 10, a.head.event_id, sizeof(a.head.event_id), SK_LEDGER_ID_LEN) &&
              (p = strstr(text, "\nmovement_id ")) && read_i64(p + 13, &a.head.movement_id) &&
              (p = strstr(text, "\nhead ")) &&
              copy_word(p + 6, a.head.hash, sizeof(a.head.hash), 64) && a.head.seq >= 0 &&
              a.head.movement_id >= 0;
    if (!ok) {
        return -EBADMSG;
    }
    a.valid = true;
    *ret = a;
    return 0;
}

/* Reads fd's slots: 1 and the newest whole one, 0 for an empty file, -EBADMSG when no slot is
 * whole, or -errno. */
static int anchor_read_fd(int fd, struct ledger_anchor *ret)
{
    struct stat st;
    if (fstat(fd, &st) < 0) {
        return -errno;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > FILE_MAX) {
        return -EBADMSG;
    }
    if (st.st_size == 0) {
        return 0;
    }
    char buf[FILE_MAX];
    memset(buf, 0, sizeof(buf));
    ssize_t n = pread(fd, buf, sizeof(buf), 0);
    if (n < 0) {
        return -errno;
    }
    struct ledger_anchor a[2];
    int ra = slot_parse(buf, &a[0]);
    int rb = slot_parse(buf + SLOT, &a[1]);
    if (ra < 0 && rb < 0) {
        return -EBADMSG;
    }
    *ret = (rb < 0 || (ra == 0 && a[0].generation > a[1].generation)) ? a[0] : a[1];
    return 1;
}

int ledger_anchor_load(const char *ledger_path, struct ledger_anchor *ret)
{
    char path[PATH_SIZE];
    anchor_path(ledger_path, path, sizeof(path));
    memset(ret, 0, sizeof(*ret));
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        return errno == ENOENT ? 0 : -errno;
    }
    int r = anchor_read_fd(fd, ret);
    close(fd);
    return r;
}

int ledger_fsync_dir(const char *path)
{
    char dir[PATH_SIZE];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir) {
        slash[1] = '\0';
    } else if (slash) {
        *slash = '\0';
    } else {
        snprintf(dir, sizeof(dir), ".");
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    int r = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return r;
}

int ledger_head_read(struct sk_ledger *l, struct sk_ledger_head *ret)
{
    struct sk_ledger_head h;
    memset(&h, 0, sizeof(h));
    snprintf(h.ledger_id, sizeof(h.ledger_id), "%s", l->ledger_id);
    h.seq = ledger_last_seq(l);
    if (h.seq < 0) {
        return (int)h.seq;
    }
    sqlite3_stmt *s = ledger_stmt(l, ST_EVENT_ID);
    if (!s) {
        return ledger_err(l);
    }
    sqlite3_bind_int64(s, 1, h.seq);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(s, 0);
        snprintf(h.event_id, sizeof(h.event_id), "%s", id ? id : "");
    }
    sqlite3_reset(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return ledger_fail(l, rc, "reading the last event");
    }
    s = ledger_stmt(l, ST_LAST_MOVE);
    if (!s) {
        return ledger_err(l);
    }
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW && sqlite3_column_bytes(s, 1) == 32) {
        h.movement_id = sqlite3_column_int64(s, 0);
        ledger_hex(sqlite3_column_blob(s, 1), 32, h.hash);
    } else if (rc == SQLITE_ROW) {
        h.movement_id = sqlite3_column_int64(s, 0);
    }
    sqlite3_reset(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return ledger_fail(l, rc, "reading the chain head");
    }
    *ret = h;
    return 0;
}

int sk_ledger_head(struct sk_ledger *l, struct sk_ledger_head *ret)
{
    return ledger_head_read(l, ret);
}

int sk_ledger_anchor(const struct sk_ledger *l, struct sk_ledger_head *ret)
{
    if (!l->anchor.valid) {
        return 0;
    }
    *ret = l->anchor.head;
    return 1;
}

const char *sk_ledger_refusal(const struct sk_ledger *l, int *ret_err)
{
    if (ret_err) {
        *ret_err = l->refusal_err;
    }
    return l->refusal_err ? l->refusal : NULL;
}

/*
 * Writes head as the anchor: not backwards (unless force: an accepted rollback, a new ledger
 * replacing a lost one), not when it says nothing new. Returns 1 written, 0 not needed, < 0.
 */
int ledger_anchor_store(struct sk_ledger *l, const struct sk_ledger_head *head, bool force)
{
    if (!l->anchor_on || l->anchor_readonly) {
        return 0;
    }
    char path[PATH_SIZE];
    anchor_path(l->path, path, sizeof(path));
    bool created = false;
    if (l->anchor_fd < 0) {
        l->anchor_fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (l->anchor_fd < 0 && errno == ENOENT) {
            l->anchor_fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                                S_IRUSR | S_IWUSR | S_IRGRP);
            created = l->anchor_fd >= 0;
        }
        if (l->anchor_fd < 0) {
            int e = errno;
            if (e == EACCES || e == EROFS || e == EPERM) {
                l->anchor_readonly = true; /* a reader without write access: checks only */
            }
            return -e;
        }
    }
    if (flock(l->anchor_fd, LOCK_EX) < 0) {
        return -errno;
    }
    struct ledger_anchor cur;
    memset(&cur, 0, sizeof(cur));
    int r = anchor_read_fd(l->anchor_fd, &cur);
    if (r < 0 && r != -EBADMSG) {
        flock(l->anchor_fd, LOCK_UN);
        return r;
    }
    bool same_ledger = cur.valid && strcmp(cur.head.ledger_id, head->ledger_id) == 0;
    if (!force && same_ledger &&
        (head->seq < cur.head.seq || head->movement_id < cur.head.movement_id ||
         (head->seq == cur.head.seq && head->movement_id == cur.head.movement_id &&
          strcmp(head->hash, cur.head.hash) == 0))) {
        l->anchor = cur; /* another writer is ahead, or nothing changed */
        flock(l->anchor_fd, LOCK_UN);
        return 0;
    }
    if (!force && cur.valid && !same_ledger) {
        flock(l->anchor_fd, LOCK_UN);
        return ledger_failf(l, SK_ELEDGER_ROLLBACK, "%s belongs to ledger %s, not this one", path,
                            cur.head.ledger_id);
    }
    struct ledger_anchor next = {.valid = true, .generation = cur.generation + 1, .head = *head};
    char buf[SLOT];
    r = slot_format(&next, buf);
    if (r == 0) {
        off_t at = (off_t)(next.generation % 2) * SLOT;
        ssize_t n = pwrite(l->anchor_fd, buf, SLOT, at);
        r = n == SLOT ? 0 : n < 0 ? -errno : -EIO;
    }
    if (r == 0 && cur.generation == 0) {
        /* A new file: both slots exist from the start, so a torn first write is not taken
         * for a damaged file (an empty second slot parses as not whole). */
        r = ftruncate(l->anchor_fd, FILE_MAX) < 0 ? -errno : 0;
    }
    int64_t now = sk_now_mono_us();
    bool sync_now = force || created || cur.generation == 0 || l->anchor_synced_us == 0 ||
                    now - l->anchor_synced_us >= (int64_t)SK_LEDGER_ANCHOR_SYNC_MS * 1000;
    if (r == 0 && !l->anchor_nosync) {
        if (!sync_now) {
            l->anchor_unsynced = true;
        } else if (fdatasync(l->anchor_fd) < 0) {
            r = -errno;
        } else {
            l->anchor_unsynced = false;
            l->anchor_synced_us = now;
        }
    }
    flock(l->anchor_fd, LOCK_UN);
    if (r == 0 && created) {
        r = ledger_fsync_dir(path);
    }
    if (r < 0) {
        return ledger_failf(l, r, "writing %s: %s", path, strerror(-r));
    }
    l->anchor = next;
    return 1;
}

int sk_ledger_anchor_flush(struct sk_ledger *l)
{
    if (!l->anchor_unsynced || l->anchor_fd < 0) {
        return 0;
    }
    if (fdatasync(l->anchor_fd) < 0) {
        return ledger_failf(l, -errno, "syncing %s.anchor: %s", l->path, strerror(errno));
    }
    l->anchor_unsynced = false;
    l->anchor_synced_us = sk_now_mono_us();
    return 1;
}

int ledger_anchor_after_commit(struct sk_ledger *l)
{
    /* Never more durable than the ledger it anchors: with synchronous=OFF (tests, the CPU
     * benchmark) a synced anchor could outlive the commits it names and refuse the ledger
     * after a power cut. The daemon runs FULL. */
    sqlite3_stmt *st = ledger_stmt(l, ST_SYNC_GET);
    if (st && sqlite3_step(st) == SQLITE_ROW) {
        l->anchor_nosync = sqlite3_column_int(st, 0) == 0;
    }
    if (st) {
        sqlite3_reset(st);
    }
    struct sk_ledger_head h;
    int r = ledger_head_read(l, &h);
    if (r == 0) {
        r = ledger_anchor_store(l, &h, false);
    }
    l->anchor_stale = r < 0;
    return r;
}

/* ---- the check at open -------------------------------------------------------------------- */

static const char *cfg_of(const char *config_path)
{
    return config_path && config_path[0] ? config_path : "STORE.cfg";
}

static const char *fix_of(const char *config_path, char *buf, size_t size)
{
    snprintf(buf, size,
             "restore the lost part (the -wal file, a newer backup) or accept the loss with "
             "`storekeeper ledger -c %s accept-rollback`",
             cfg_of(config_path));
    return buf;
}

int ledger_anchor_precheck(const char *path,
                           const struct sk_ledger_opts *opts,
                           bool exists,
                           int64_t size,
                           char *msg,
                           size_t msg_size)
{
    struct ledger_anchor a;
    int r = ledger_anchor_load(path, &a);
    if (r <= 0 || (exists && size > 0) || (a.head.seq == 0 && a.head.movement_id == 0) ||
        (opts->flags & SK_LEDGER_ACCEPT_ROLLBACK)) {
        return 0; /* damaged anchors are reported by the full check */
    }
    char fix[256];
    snprintf(msg, msg_size,
             "%s: %s, but %s.anchor says ledger %s had written event seq %" PRId64
             " and movement %" PRId64 ": the ledger was lost or truncated; refusing to start a "
             "new one in its place. Fix: %s",
             path, exists ? "the file is empty (0 bytes)" : "there is no ledger file", path,
             a.head.ledger_id, a.head.seq, a.head.movement_id,
             fix_of(opts->config_path, fix, sizeof(fix)));
    return SK_ELEDGER_ROLLBACK;
}

/* Compares the ledger with its anchor: 0 when it is at or past it, else the code and msg. */
static int compare(struct sk_ledger *l,
                   const struct ledger_anchor *a,
                   const struct sk_ledger_head *h,
                   char *msg,
                   size_t msg_size)
{
    char fix[256];
    fix_of(l->config_path, fix, sizeof(fix));
    if (strcmp(a->head.ledger_id, h->ledger_id) != 0 && h->seq == 0 && h->movement_id == 0) {
        snprintf(l->refusal_kind, sizeof(l->refusal_kind), "lost");
        snprintf(msg, msg_size,
                 "%s is a new, empty ledger (%s), but %s.anchor was written by ledger %s (last "
                 "event seq %" PRId64 ", movement %" PRId64 "): the ledger was lost or "
                 "truncated. Fix: %s",
                 l->path, h->ledger_id, l->path, a->head.ledger_id, a->head.seq,
                 a->head.movement_id, fix);
        return SK_ELEDGER_ROLLBACK;
    }
    if (strcmp(a->head.ledger_id, h->ledger_id) != 0) {
        snprintf(l->refusal_kind, sizeof(l->refusal_kind), "replaced");
        snprintf(msg, msg_size,
                 "%s is ledger %s, but %s.anchor was written by ledger %s (last event seq "
                 "%" PRId64 ", movement %" PRId64 "): the file was replaced. Fix: put the "
                 "right file back, or accept with `storekeeper ledger -c %s accept-rollback`",
                 l->path, h->ledger_id, l->path, a->head.ledger_id, a->head.seq,
                 a->head.movement_id, cfg_of(l->config_path));
        return SK_ELEDGER_ROLLBACK;
    }
    snprintf(l->refusal_kind, sizeof(l->refusal_kind), "behind");
    if (h->seq < a->head.seq || h->movement_id < a->head.movement_id) {
        snprintf(msg, msg_size,
                 "%s is behind its last known state: it ends at event seq %" PRId64
                 " and movement %" PRId64 ", but it had written seq %" PRId64 " and movement "
                 "%" PRId64 " (%s.anchor); the end of the ledger was lost (its -wal file, or "
                 "an older copy put back). Fix: %s",
                 l->path, h->seq, h->movement_id, a->head.seq, a->head.movement_id, l->path, fix);
        return SK_ELEDGER_ROLLBACK;
    }
    /* At or past the anchor: the anchor's event and movement must still be the same ones. */
    if (a->head.seq > 0 && a->head.event_id[0]) {
        sqlite3_stmt *s = ledger_stmt(l, ST_EVENT_ID);
        if (!s) {
            return ledger_err(l);
        }
        sqlite3_bind_int64(s, 1, a->head.seq);
        char id[SK_LEDGER_ID_LEN + 1] = "";
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            const char *t = (const char *)sqlite3_column_text(s, 0);
            snprintf(id, sizeof(id), "%s", t ? t : "");
        }
        sqlite3_reset(s);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
            return ledger_fail(l, rc, "reading an event");
        }
        if (id[0] && strcmp(id, a->head.event_id) != 0) {
            snprintf(l->refusal_kind, sizeof(l->refusal_kind), "rewritten");
            snprintf(msg, msg_size,
                     "%s: event seq %" PRId64 " is %s, but %s.anchor says it was %s: the ledger "
                     "was rolled back and written again, and the seq reused. Fix: %s",
                     l->path, a->head.seq, id, l->path, a->head.event_id, fix);
            return SK_ELEDGER_ROLLBACK;
        }
    }
    if (a->head.movement_id > 0) {
        char hash[SK_LEDGER_HASH_HEX] = "";
        int r = ledger_movement_hash_hex(l, a->head.movement_id, hash);
        if (r < 0) {
            return r;
        }
        if (strcmp(hash, a->head.hash) != 0) {
            snprintf(l->refusal_kind, sizeof(l->refusal_kind), "rewritten");
            snprintf(msg, msg_size,
                     "%s: movement %" PRId64 " has hash %.16s..., but %s.anchor recorded "
                     "%.16s...: the chain was rewritten. Fix: %s",
                     l->path, a->head.movement_id, hash[0] ? hash : "(none)", l->path, a->head.hash,
                     fix);
            return SK_ELEDGER_CHAIN;
        }
    }
    return 0;
}

int ledger_anchor_check(struct sk_ledger *l,
                        const struct sk_ledger_opts *opts,
                        char *msg,
                        size_t msg_size)
{
    l->anchor_on = true;
    snprintf(l->config_path, sizeof(l->config_path), "%s", cfg_of(opts->config_path));
    bool owner = opts->flags & SK_LEDGER_OWNER;
    bool accept = opts->flags & SK_LEDGER_ACCEPT_ROLLBACK;
    struct sk_ledger_head h;
    int r = ledger_head_read(l, &h);
    if (r < 0) {
        snprintf(msg, msg_size, "%s: %s", l->path, l->errmsg);
        return r;
    }
    char why[160] = "";
    int bad = ledger_chain_head_check(l, why, sizeof(why));
    if (bad < 0 && bad != SK_ELEDGER_CHAIN) {
        snprintf(msg, msg_size, "%s: %s", l->path, l->errmsg);
        return bad;
    }
    if (bad == SK_ELEDGER_CHAIN) {
        snprintf(l->refusal, sizeof(l->refusal),
                 "%.200s: %s; refusing to extend a broken chain. Fix: `storekeeper ledger -c "
                 "%.120s verify` names the first broken movement; restore the ledger from a "
                 "backup",
                 l->path, why, cfg_of(l->config_path));
        l->refusal_err = SK_ELEDGER_CHAIN;
        snprintf(l->refusal_kind, sizeof(l->refusal_kind), "chain_broken");
    }
    struct ledger_anchor a;
    r = ledger_anchor_load(l->path, &a);
    if (r == -EBADMSG && !l->refusal_err) {
        snprintf(l->refusal, sizeof(l->refusal),
                 "%s.anchor is damaged (no slot whole), so the ledger cannot be checked against "
                 "its last known state. Fix: if the ledger is sound (`storekeeper ledger verify`), "
                 "accept it as it is with `storekeeper ledger -c %s accept-rollback`",
                 l->path, cfg_of(l->config_path));
        l->refusal_err = SK_ELEDGER_ROLLBACK;
        snprintf(l->refusal_kind, sizeof(l->refusal_kind), "anchor_damaged");
    } else if (r < 0 && r != -EBADMSG) {
        snprintf(msg, msg_size, "%s.anchor: %s", l->path, strerror(-r));
        return r;
    } else if (r == 1) {
        l->anchor = a;
        char why2[SK_LEDGER_ERRMSG_MAX];
        int c = compare(l, &a, &h, why2, sizeof(why2));
        if (c < 0 && c != SK_ELEDGER_ROLLBACK && c != SK_ELEDGER_CHAIN) {
            snprintf(msg, msg_size, "%s: %s", l->path, l->errmsg);
            return c;
        }
        if (c < 0 && !l->refusal_err) {
            snprintf(l->refusal, sizeof(l->refusal), "%s", why2);
            l->refusal_err = c;
        } else if (l->refusal_err == SK_ELEDGER_CHAIN) {
            snprintf(l->refusal_kind, sizeof(l->refusal_kind), "chain_broken");
        }
    }
    if (l->refusal_err && !accept) {
        if (owner) {
            snprintf(msg, msg_size, "%s", l->refusal);
            return l->refusal_err;
        }
        return 0; /* readers may look; sk_ledger_begin refuses writes */
    }
    if (l->refusal_err) {
        return 0; /* sk_ledger_accept_rollback resolves it */
    }
    /* Sound: the anchor follows the ledger from here (created if there was none). */
    l->anchor_created = r == 0;
    r = ledger_anchor_store(l, &h, false);
    if (r < 0 && !l->anchor_readonly) {
        snprintf(msg, msg_size, "%s", l->errmsg);
        return r;
    }
    return 0;
}

int ledger_anchor_verify(struct sk_ledger *l, bool *ret_anchored, char *why, size_t size)
{
    struct ledger_anchor a;
    *ret_anchored = false;
    int r = ledger_anchor_load(l->path, &a);
    if (r == -EBADMSG) {
        snprintf(why, size, "%s.anchor is damaged: the end of the ledger cannot be checked",
                 l->path);
        return SK_ELEDGER_ROLLBACK;
    }
    if (r <= 0) {
        return r == 0 ? 0 : ledger_failf(l, r, "%s.anchor: %s", l->path, strerror(-r));
    }
    *ret_anchored = true;
    struct sk_ledger_head h;
    if ((r = ledger_head_read(l, &h)) < 0) {
        return r;
    }
    return compare(l, &a, &h, why, size);
}

/* ---- accepting a rollback ------------------------------------------------------------------- */

static cJSON *head_json(const struct sk_ledger_head *h)
{
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddStringToObject(o, "ledger_id", h->ledger_id);
        cJSON_AddNumberToObject(o, "seq", (double)h->seq);
        if (h->event_id[0]) {
            cJSON_AddStringToObject(o, "event_id", h->event_id);
        }
        cJSON_AddNumberToObject(o, "movement_id", (double)h->movement_id);
        if (h->hash[0]) {
            cJSON_AddStringToObject(o, "head", h->hash);
        }
    }
    return o;
}

int sk_ledger_accept_rollback(struct sk_ledger *l, const char *note, struct sk_rollback_result *ret)
{
    struct sk_rollback_result res;
    memset(&res, 0, sizeof(res));
    if (!l->anchor_on) {
        return ledger_failf(l, -EINVAL, "accepting a rollback needs the anchor (SK_LEDGER_ANCHOR)");
    }
    if (note && strlen(note) > 512) {
        return ledger_failf(l, -EINVAL, "the note is longer than 512 bytes");
    }
    int r = ledger_head_read(l, &res.found);
    if (r < 0) {
        return r;
    }
    res.known = l->anchor.valid ? l->anchor.head : res.found;
    if (!l->refusal_err) {
        *ret = res;
        return 0;
    }
    bool same = l->anchor.valid && strcmp(res.known.ledger_id, l->ledger_id) == 0;
    cJSON *ev = cJSON_CreateObject();
    cJSON *f = cJSON_CreateObject();
    if (!ev || !f) {
        cJSON_Delete(ev);
        cJSON_Delete(f);
        return ledger_failf(l, -ENOMEM, "accepting a rollback: out of memory");
    }
    cJSON_AddStringToObject(ev, "reason", l->refusal_kind);
    cJSON_AddStringToObject(ev, "refusal", l->refusal);
    if (l->anchor.valid) {
        cJSON_AddItemToObject(ev, "known", head_json(&res.known));
    }
    cJSON_AddItemToObject(ev, "found", head_json(&res.found));
    if (note && note[0]) {
        cJSON_AddStringToObject(ev, "note", note);
    }
    if ((r = sk_ledger_begin(l)) < 0) {
        cJSON_Delete(ev);
        cJSON_Delete(f);
        return r;
    }
    r = 0;
    /* No seq the anchor knew is ever used again under this ledger id. */
    if (same && res.known.seq > res.found.seq) {
        char sql[160];
        snprintf(sql, sizeof(sql),
                 "INSERT OR REPLACE INTO sqlite_sequence (rowid, name, seq) VALUES ("
                 "(SELECT rowid FROM sqlite_sequence WHERE name = 'outbox'), 'outbox', %" PRId64
                 ")",
                 res.known.seq);
        r = ledger_exec(l, sql, "moving the seq past the lost events");
        ledger_cache_drop(l); /* the seq changed under the cache */
        res.lost_from = res.found.seq + 1;
        res.lost_to = res.known.seq;
        cJSON *lost = cJSON_AddObjectToObject(ev, "lost_seqs");
        cJSON_AddNumberToObject(lost, "from", (double)res.lost_from);
        cJSON_AddNumberToObject(lost, "to", (double)res.lost_to);
    }
    int64_t id = res.found.movement_id;
    if (same && res.known.movement_id > id) {
        id = res.known.movement_id; /* nor a movement id */
    }
    struct sk_movement_result mr;
    if (r == 0) {
        r = ledger_move_rollback(l, id + 1, ev, &mr);
    }
    if (r == 0) {
        cJSON_AddStringToObject(f, "reason", l->refusal_kind);
        cJSON_AddNumberToObject(f, "movement_id", (double)mr.id);
        cJSON_AddStringToObject(f, "hash", mr.hash);
        cJSON_AddItemToObject(f, "known", l->anchor.valid ? head_json(&res.known) : NULL);
        cJSON_AddItemToObject(f, "found", head_json(&res.found));
        if (res.lost_to) {
            cJSON *lost = cJSON_AddObjectToObject(f, "lost_seqs");
            cJSON_AddNumberToObject(lost, "from", (double)res.lost_from);
            cJSON_AddNumberToObject(lost, "to", (double)res.lost_to);
        }
        if (note && note[0]) {
            cJSON_AddStringToObject(f, "note", note);
        }
        int64_t seq = 0;
        r = ledger_event_insert(l, "event/rollback", NULL, f, 0, &seq);
        if (r == 0 && seq != mr.event_seq) {
            r = ledger_failf(l, SK_ELEDGER, "event seq %" PRId64 " instead of %" PRId64, seq,
                             mr.event_seq);
        }
        res.event_seq = seq;
        res.movement_id = mr.id;
    }
    cJSON_Delete(ev);
    cJSON_Delete(f);
    if (r < 0) {
        sk_ledger_rollback(l);
        return r;
    }
    bool was_on = l->anchor_on;
    l->anchor_on = false; /* the commit's own anchor write would refuse to go backwards */
    r = sk_ledger_commit(l);
    l->anchor_on = was_on;
    if (r < 0) {
        return r;
    }
    struct sk_ledger_head now;
    if ((r = ledger_head_read(l, &now)) < 0 || (r = ledger_anchor_store(l, &now, true)) < 0) {
        return r;
    }
    snprintf(res.reason, sizeof(res.reason), "%s", l->refusal_kind);
    l->refusal_err = 0;
    l->refusal[0] = '\0';
    res.accepted = true;
    *ret = res;
    return 0;
}
