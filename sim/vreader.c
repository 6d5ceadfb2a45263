/* SPDX-License-Identifier: MIT */
/* Virtual RFID readers: a libmodbus server playing the device side of reader profiles. */
#include "storekeeper/vreader.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <modbus/modbus.h>

#include "storekeeper/clock.h"
#include "storekeeper/epc.h"
#include "storekeeper/error.h"
#include "storekeeper/mbconn.h"
#include "storekeeper/rand.h"

/*
 * DESIGN
 * One thread serves the endpoint: it sleeps in poll() on the listening socket and the
 * clients (TCP) or on the serial port (RTU), runs the RF round every round_ms, and finishes
 * mailbox commands whose execution time has passed. Requests are handled one at a time, as
 * a real device on a half-duplex line would: libmodbus receives (TCP) and always builds the
 * normal replies (modbus_reply on the unit's own register mapping); only fault replies are
 * assembled here, because they must be wrong in controlled ways.
 *
 * RTU reception is framed here instead of by modbus_receive(): libmodbus drops every request
 * not addressed to the context's own slave id before the caller sees it, and one virtual
 * line must answer several unit ids. So this file reads the request bytes, computes the
 * frame length from the function code, checks the CRC (libmodbus does not export its CRC
 * function; the CRC-16/MODBUS routine below is the only protocol code written here), and
 * then lets modbus_reply() answer with the unit id of the request.
 *
 * Device behaviour per pattern (what a real reader of each kind does):
 *   snapshot with a change counter: reading the block that holds the counter latches the
 *     current RF result into the tag table; the counter moves when the set of (antenna, EPC)
 *     differs from the table's (generic-epc's contract, docs/profiles.md)
 *   snapshot without one: a read of the records serves the latest RF result; a records
 *     block with side effects performs a fresh RF round first (Omron READ ID), and no tag
 *     answers the exception the profile maps to no_tag
 *   latch: after a round, a clear flag latches the next seen tag (round robin) and is set;
 *     the host's acknowledge write clears it
 *   mailbox: each round appends every read to a FIFO (bounded, oldest dropped); a command
 *     write with a new sequence value runs after the busy time: the data window gets as many
 *     records as fit, count/length/more/echo/sequence are set, busy cleared
 * Locking: one mutex guards units, tags, faults and mappings; the server thread holds it
 * while it handles a request, except while it sleeps for a delay fault.
 */

#define MAX_UNITS     64
#define MAX_TAGS_UNIT 4096
#define MAX_CLIENTS   16
#define FIFO_MAX      1024
#define RX_MAX        600
#define RX_STALE_US   200000

struct vtag {
    uint8_t antenna, len;
    uint8_t epc[SK_EPC_MAX];
    int16_t rssi;
};

struct vunit {
    int unit;
    struct sk_profile *p;
    modbus_mapping_t *map;
    struct vtag *tags;
    size_t n_tags;
    size_t *seen; /* indices of tags read in the latest round */
    uint8_t *seen_reads;
    size_t n_seen;
    uint64_t served_hash;
    size_t served_n;
    bool served_valid;
    uint16_t changes, rounds;
    size_t latch_rr;
    struct vtag fifo[FIFO_MAX];
    size_t f_head, f_n;
    int64_t last_seq;
    bool have_seq;
    bool exec_pending;
    int64_t exec_at;
    /* faults */
    int delay_ms, exc, corrupt_pct, malformed, read_pct, busy_ms;
    bool silent, drop_now;
    int frozen; /* 1: device logic off; 2: mailbox handshake only (data as poked) */
    int64_t silent_until;
};

struct sk_vreader {
    char listen[SK_URL_MAX + SK_PATH_MAX];
    struct sk_mbconn_url at; /* where it listens (the port once bound, when asked for 0) */
    int round_ms;
    uint32_t rng;
    modbus_t *ctx;
    int listen_fd, serial_fd, wake_fd;
    int clients[MAX_CLIENTS];
    size_t n_clients;
    struct vunit *units[MAX_UNITS];
    size_t n_units;
    pthread_t thread;
    bool started;
    atomic_bool stop;
    pthread_mutex_t lock;
    struct sk_vreader_stats stats;
    uint8_t rx[RX_MAX];
    size_t rx_n;
    int64_t rx_last_us;
};

/* ---- small helpers ----------------------------------------------------------------------- */

static uint32_t rnd(struct sk_vreader *v)
{
    return sk_xorshift32(&v->rng);
}

/* CRC-16/MODBUS (reflected 0xA001, init 0xFFFF), sent low byte first. See DESIGN above. */
static uint16_t crc16(const uint8_t *b, size_t n)
{
    uint16_t crc = 0xffff;
    for (size_t i = 0; i < n; i++) {
        crc ^= b[i];
        for (int k = 0; k < 8; k++) {
            crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ 0xa001) : (uint16_t)(crc >> 1);
        }
    }
    return crc;
}

static struct vunit *find_unit(struct sk_vreader *v, int unit)
{
    for (size_t i = 0; i < v->n_units; i++) {
        if (v->units[i]->unit == unit) {
            return v->units[i];
        }
    }
    return NULL;
}

static bool bit_table(int table)
{
    return table == SK_TABLE_COIL || table == SK_TABLE_DISCRETE;
}

static void *in_range(void *tab, size_t elem, int start, int nb, unsigned addr)
{
    long off = (long)addr - (long)start;
    return off >= 0 && off < (long)nb ? (char *)tab + (size_t)off * elem : NULL;
}

/* Pointer into a unit's mapping for (table, addr), or NULL outside it. */
static void *cell(struct vunit *u, int table, unsigned addr)
{
    modbus_mapping_t *m = u->map;
    switch (table) {
    case SK_TABLE_HOLDING:
        return in_range(m->tab_registers, 2, (int)m->start_registers, m->nb_registers, addr);
    case SK_TABLE_INPUT:
        return in_range(m->tab_input_registers, 2, (int)m->start_input_registers,
                        m->nb_input_registers, addr);
    case SK_TABLE_COIL:
        return in_range(m->tab_bits, 1, (int)m->start_bits, m->nb_bits, addr);
    default:
        return in_range(m->tab_input_bits, 1, (int)m->start_input_bits, m->nb_input_bits, addr);
    }
}

static void block_get(struct vunit *u, int bi, uint8_t *bytes)
{
    const struct sk_prof_block *b = &u->p->blocks[bi];
    for (unsigned i = 0; i < b->count; i++) {
        void *c = cell(u, b->table, b->address + i);
        if (bit_table(b->table)) {
            bytes[i] = c ? *(uint8_t *)c : 0;
        } else {
            uint16_t r = c ? *(uint16_t *)c : 0;
            sk_prof_regs_to_bytes(b->byte_order, &r, 1, bytes + 2 * i);
        }
    }
}

static void block_set(struct vunit *u, int bi, const uint8_t *bytes)
{
    const struct sk_prof_block *b = &u->p->blocks[bi];
    for (unsigned i = 0; i < b->count; i++) {
        void *c = cell(u, b->table, b->address + i);
        if (!c) {
            continue;
        }
        if (bit_table(b->table)) {
            *(uint8_t *)c = bytes[i] ? 1 : 0;
        } else {
            sk_prof_bytes_to_regs(b->byte_order, bytes + 2 * i, 1, (uint16_t *)c);
        }
    }
}

#define BLOCK_BYTES_MAX (2 * 4096 + 2) /* a profile block holds at most 4096 registers */

/* Block fields: read-modify-write through the block's bytes. Caller holds the lock. */
static void put_field(struct vunit *u, int fi, int64_t value)
{
    if (fi < 0 || u->p->fields[fi].block < 0) {
        return;
    }
    const struct sk_prof_field *f = &u->p->fields[fi];
    uint8_t bytes[BLOCK_BYTES_MAX];
    block_get(u, f->block, bytes);
    sk_prof_put_int(u->p, f, bytes, sk_prof_block_bytes(&u->p->blocks[f->block]), value);
    block_set(u, f->block, bytes);
}

static int64_t get_field(struct vunit *u, int fi)
{
    if (fi < 0 || u->p->fields[fi].block < 0) {
        return 0;
    }
    const struct sk_prof_field *f = &u->p->fields[fi];
    uint8_t bytes[BLOCK_BYTES_MAX];
    int64_t v = 0;
    block_get(u, f->block, bytes);
    sk_prof_get_int(u->p, f, bytes, sk_prof_block_bytes(&u->p->blocks[f->block]), &v);
    return v;
}

static int role_field(const struct sk_profile *p, int role)
{
    for (size_t i = 0; i < p->n_fields; i++) {
        if (p->fields[i].role == role && p->fields[i].block >= 0) {
            return (int)i;
        }
    }
    return -1;
}

/* ---- record encoding --------------------------------------------------------------------- */

/* Bytes a tag's record takes in set rs (fixed: the stride). */
static size_t
record_size(const struct sk_profile *p, const struct sk_prof_records *rs, const struct vtag *t)
{
    if (rs->layout == SK_LAYOUT_FIXED) {
        return (size_t)rs->stride;
    }
    const struct sk_prof_field *f = &p->fields[rs->epc];
    return (size_t)f->offset + t->len + (size_t)(f->len_mode == SK_LEN_REST ? f->len : 0);
}

/* Encodes t into rec (room bytes). Returns the record's size, or 0 when it does not fit. */
static size_t encode_record(const struct sk_profile *p,
                            const struct sk_prof_records *rs,
                            const struct vtag *t,
                            uint8_t reads,
                            uint8_t *rec,
                            size_t room)
{
    size_t size = record_size(p, rs, t);
    if (size > room) {
        return 0;
    }
    memset(rec, 0, size);
    const struct sk_prof_field *f = &p->fields[rs->epc];
    size_t len = t->len;
    switch (f->len_mode) {
    case SK_LEN_FIXED:
        len = len < (size_t)f->len ? len : (size_t)f->len;
        break;
    case SK_LEN_FROM_PC:
        sk_prof_put_int(p, &p->fields[f->len_field], rec, size, (int64_t)((t->len + 1) / 2) << 11);
        break;
    case SK_LEN_FROM_FIELD:
        sk_prof_put_int(p, &p->fields[f->len_field], rec, size,
                        f->len_words ? (int64_t)(t->len + 1) / 2 : (int64_t)t->len);
        break;
    default:
        break;
    }
    if ((size_t)f->offset + len <= size) {
        memcpy(rec + f->offset, t->epc, len);
    }
    if (rs->ant >= 0) {
        sk_prof_put_int(p, &p->fields[rs->ant], rec, size, t->antenna);
    }
    if (rs->rssi >= 0) {
        sk_prof_put_int(p, &p->fields[rs->rssi], rec, size,
                        sk_prof_rssi_raw(&p->fields[rs->rssi], t->rssi));
    }
    if (rs->reads >= 0) {
        sk_prof_put_int(p, &p->fields[rs->reads], rec, size, reads ? reads : 1);
    }
    if (rs->layout == SK_LAYOUT_TLV) {
        sk_prof_put_int(p, &p->fields[rs->size_field], rec, size, (int64_t)size - rs->size_adjust);
        if (rs->type_field >= 0) {
            sk_prof_put_int(p, &p->fields[rs->type_field], rec, size, rs->type_ok);
        }
    }
    return size;
}

/* ---- device behaviour --------------------------------------------------------------------- */

static uint64_t seen_hash(const struct vunit *u)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < u->n_seen; i++) {
        const struct vtag *t = &u->tags[u->seen[i]];
        h = (h ^ t->antenna) * 1099511628211ULL;
        for (size_t k = 0; k < t->len; k++) {
            h = (h ^ t->epc[k]) * 1099511628211ULL;
        }
        h = (h ^ 0xff) * 1099511628211ULL;
    }
    return h;
}

/* Writes the seen set into the snapshot records (and the count field). */
static void write_snapshot(struct vunit *u)
{
    const struct sk_profile *p = u->p;
    const struct sk_prof_records *rs = &p->records[p->snapshot.records];
    size_t room = sk_prof_block_bytes(&p->blocks[rs->block]);
    uint8_t *bytes = calloc(1, room + 2);
    if (!bytes) {
        return;
    }
    size_t pos = 0, n = 0;
    for (size_t i = 0; i < u->n_seen && n < (size_t)rs->max; i++) {
        size_t sz = encode_record(p, rs, &u->tags[u->seen[i]], u->seen_reads[i], bytes + pos,
                                  room - pos);
        if (!sz) {
            break;
        }
        pos += sz;
        n++;
    }
    block_set(u, rs->block, bytes);
    free(bytes);
    put_field(u, p->snapshot.count, (int64_t)n);
}

static void latch_snapshot(struct vunit *u)
{
    uint64_t h = seen_hash(u);
    if (u->served_valid && h == u->served_hash && u->n_seen == u->served_n) {
        return;
    }
    u->served_hash = h;
    u->served_n = u->n_seen;
    u->served_valid = true;
    write_snapshot(u);
    u->changes++;
    put_field(u, u->p->snapshot.trigger, u->changes);
}

static size_t fifo_measure(const struct vunit *u)
{
    const struct sk_profile *p = u->p;
    const struct sk_prof_records *rs = &p->records[p->mailbox.records];
    if (rs->layout == SK_LAYOUT_FIXED) {
        return u->f_n;
    }
    size_t bytes = 0;
    for (size_t i = 0; i < u->f_n; i++) {
        bytes += record_size(p, rs, &u->fifo[(u->f_head + i) % FIFO_MAX]);
    }
    return bytes;
}

static void update_gate(struct vunit *u)
{
    const struct sk_prof_mailbox *m = &u->p->mailbox;
    /* A gate that is also the "more" field moves only between commands. */
    if (m->gate >= 0 && (m->gate != m->more || !u->exec_pending)) {
        put_field(u, m->gate, (int64_t)fifo_measure(u));
    }
}

static void rf_round(struct sk_vreader *v, struct vunit *u)
{
    u->n_seen = 0;
    for (size_t i = 0; i < u->n_tags; i++) {
        if ((int)(rnd(v) % 100) < u->read_pct) {
            u->seen[u->n_seen] = i;
            u->seen_reads[u->n_seen] = (uint8_t)(1 + rnd(v) % 3);
            u->n_seen++;
        }
    }
    u->rounds++;
    if (u->frozen) {
        return;
    }
    const struct sk_profile *p = u->p;
    put_field(u, role_field(p, SK_ROLE_ROUNDS), u->rounds);
    if (p->pattern == SK_PATTERN_LATCH) {
        const struct sk_prof_latch *la = &p->latch;
        if (get_field(u, la->flag) != la->set && u->n_seen > 0) {
            const struct sk_prof_records *rs = &p->records[la->records];
            size_t room = sk_prof_block_bytes(&p->blocks[rs->block]);
            uint8_t *bytes = calloc(1, room + 2);
            if (bytes) {
                size_t k = u->latch_rr++ % u->n_seen;
                encode_record(p, rs, &u->tags[u->seen[k]], u->seen_reads[k], bytes, room);
                block_set(u, rs->block, bytes);
                free(bytes);
                put_field(u, la->flag, la->set);
            }
        }
    } else if (p->pattern == SK_PATTERN_MAILBOX) {
        for (size_t i = 0; i < u->n_seen; i++) {
            struct vtag t = u->tags[u->seen[i]];
            t.rssi = (int16_t)(t.rssi + (int)(rnd(v) % 201) - 100);
            if (u->f_n == FIFO_MAX) {
                u->f_head = (u->f_head + 1) % FIFO_MAX; /* full: the oldest read is lost */
                u->f_n--;
            }
            u->fifo[(u->f_head + u->f_n) % FIFO_MAX] = t;
            u->f_n++;
        }
        update_gate(u);
    }
}

static void mailbox_exec(struct vunit *u)
{
    const struct sk_profile *p = u->p;
    const struct sk_prof_mailbox *m = &p->mailbox;
    const struct sk_prof_records *rs = &p->records[m->records];
    u->exec_pending = false;
    if (u->frozen == 2) { /* acknowledge, leave the poked data as it is */
        put_field(u, m->echo, p->fields[m->command].value);
        put_field(u, m->echo_sequence, u->last_seq);
        put_field(u, m->busy, 0);
        return;
    }
    if (get_field(u, m->command) != p->fields[m->command].value) {
        put_field(u, m->error, 1);
        put_field(u, m->echo, get_field(u, m->command));
        put_field(u, m->echo_sequence, u->last_seq);
        put_field(u, m->busy, 0);
        return;
    }
    size_t room = sk_prof_block_bytes(&p->blocks[rs->block]);
    uint8_t *bytes = calloc(1, room + 2);
    if (!bytes) {
        return;
    }
    size_t pos = 0, n = 0;
    while (u->f_n > 0 && n < (size_t)rs->max) {
        size_t sz = encode_record(p, rs, &u->fifo[u->f_head], 1, bytes + pos, room - pos);
        if (!sz) {
            break;
        }
        pos += sz;
        n++;
        u->f_head = (u->f_head + 1) % FIFO_MAX;
        u->f_n--;
    }
    block_set(u, rs->block, bytes);
    free(bytes);
    put_field(u, m->count, (int64_t)n);
    put_field(u, m->length, (int64_t)pos);
    put_field(u, m->more, (int64_t)fifo_measure(u));
    put_field(u, m->error, 0);
    put_field(u, m->echo, p->fields[m->command].value);
    put_field(u, m->echo_sequence, u->last_seq);
    put_field(u, m->busy, 0);
    update_gate(u);
}

static bool overlaps(const struct sk_prof_block *b, int table, unsigned addr, unsigned count)
{
    return b->table == table && addr < (unsigned)b->address + b->count && b->address < addr + count;
}

/* Before a read: what the device does when asked. Returns an exception code, or 0. */
static int
before_read(struct sk_vreader *v, struct vunit *u, int table, unsigned addr, unsigned count)
{
    const struct sk_profile *p = u->p;
    if (u->frozen || p->pattern != SK_PATTERN_SNAPSHOT) {
        return 0;
    }
    const struct sk_prof_snapshot *sn = &p->snapshot;
    const struct sk_prof_records *rs = &p->records[sn->records];
    const struct sk_prof_block *rb = &p->blocks[rs->block];
    if (sn->trigger >= 0) {
        if (overlaps(&p->blocks[p->fields[sn->trigger].block], table, addr, count)) {
            latch_snapshot(u);
        }
        return 0;
    }
    if (!overlaps(rb, table, addr, count)) {
        return 0;
    }
    if (rb->side_effect) {
        rf_round(v, u); /* the read itself is the RF operation */
    }
    if (u->n_seen == 0) {
        for (size_t i = 0; i < rb->n_exc; i++) {
            if (rb->exc[i].meaning == SK_EXC_NO_TAG) {
                return rb->exc[i].code;
            }
        }
    }
    write_snapshot(u);
    return 0;
}

static void after_write(struct vunit *u, int table, unsigned addr, unsigned count)
{
    const struct sk_profile *p = u->p;
    if (u->frozen == 1) {
        return;
    }
    if (p->pattern == SK_PATTERN_LATCH) {
        const struct sk_prof_latch *la = &p->latch;
        const struct sk_prof_field *a = &p->fields[la->ack];
        const struct sk_prof_block *b = &p->blocks[a->block];
        unsigned aaddr = b->address + (unsigned)(bit_table(b->table) ? a->offset : a->offset / 2);
        if (la->ack != la->flag && b->table == table && aaddr >= addr && aaddr < addr + count &&
            get_field(u, la->ack) == la->ack_value) {
            put_field(u, la->flag, la->set ? 0 : 1);
        }
        return;
    }
    if (p->pattern != SK_PATTERN_MAILBOX) {
        return;
    }
    const struct sk_prof_mailbox *m = &p->mailbox;
    if (!overlaps(&p->blocks[m->request], table, addr, count)) {
        return;
    }
    int64_t seq = m->sequence >= 0 ? get_field(u, m->sequence) : 0;
    if (m->sequence >= 0 && u->have_seq && seq == u->last_seq) {
        return; /* same sequence: the command was already executed */
    }
    u->last_seq = seq;
    u->have_seq = true;
    put_field(u, m->busy, 1);
    u->exec_pending = true;
    u->exec_at = sk_now_mono_us() + (int64_t)u->busy_ms * 1000;
    if (u->busy_ms == 0) {
        mailbox_exec(u);
    }
}

/* ---- replies ------------------------------------------------------------------------------ */

static void send_raw(struct sk_vreader *v, int fd, const uint8_t *b, size_t n)
{
    if (v->at.tcp) {
        if (send(fd, b, n, MSG_NOSIGNAL) < 0) {
            /* the client went away; its socket is closed on the next read */
        }
    } else if (write(fd, b, n) < 0) {
        /* nothing to do on a serial line */
    }
}

/* The PDU a correct reply would carry (for fault replies built from it). */
static size_t normal_pdu(struct vunit *u, const uint8_t *pdu, size_t pdu_len, uint8_t *out)
{
    int fc = pdu[0];
    if (pdu_len < 5) {
        out[0] = (uint8_t)(fc | 0x80);
        out[1] = 1;
        return 2;
    }
    unsigned addr = (unsigned)(pdu[1] << 8 | pdu[2]), n = (unsigned)(pdu[3] << 8 | pdu[4]);
    if (fc == 3 || fc == 4) {
        n = n > 125 ? 125 : n;
        out[0] = (uint8_t)fc;
        out[1] = (uint8_t)(2 * n);
        for (unsigned i = 0; i < n; i++) {
            uint16_t *c = cell(u, fc == 3 ? SK_TABLE_HOLDING : SK_TABLE_INPUT, addr + i);
            uint16_t r = c ? *c : 0;
            out[2 + 2 * i] = (uint8_t)(r >> 8);
            out[3 + 2 * i] = (uint8_t)r;
        }
        return 2 + 2 * n;
    }
    if (fc == 1 || fc == 2) {
        n = n > 2000 ? 2000 : n;
        size_t bc = (n + 7) / 8;
        out[0] = (uint8_t)fc;
        out[1] = (uint8_t)bc;
        memset(out + 2, 0, bc);
        for (unsigned i = 0; i < n; i++) {
            uint8_t *c = cell(u, fc == 1 ? SK_TABLE_COIL : SK_TABLE_DISCRETE, addr + i);
            if (c && *c) {
                out[2 + i / 8] |= (uint8_t)(1u << (i % 8));
            }
        }
        return 2 + bc;
    }
    memcpy(out, pdu, 5); /* writes echo address and value/count */
    return 5;
}

/* Sends a reply that is wrong in the way `kind` says (SK_VMAL_*; 0: a corrupted frame). */
static void send_fault(struct sk_vreader *v,
                       struct vunit *u,
                       int fd,
                       const uint8_t *req,
                       size_t h,
                       size_t req_len,
                       int kind)
{
    uint8_t pdu[260], adu[300];
    size_t n = normal_pdu(u, req + h, req_len - h - (v->at.tcp ? 0 : 2), pdu);
    uint8_t unit = req[h - 1];
    if (kind == SK_VMAL_SHORT || (kind == 0 && v->at.tcp)) {
        if ((pdu[0] == 3 || pdu[0] == 4) && n >= 4) {
            n -= 2;
            pdu[1] = (uint8_t)(pdu[1] - 2); /* consistent frame, one register missing */
        } else {
            n = n > 2 ? n - 1 : n;
        }
    } else if (kind == SK_VMAL_WRONG_FC) {
        pdu[0] = (uint8_t)(pdu[0] == 3 ? 4 : pdu[0] + 1);
    } else if (kind == SK_VMAL_WRONG_UNIT) {
        unit = (uint8_t)(unit + 1);
    } else if (kind == SK_VMAL_GARBAGE) {
        size_t g = 5 + rnd(v) % 12;
        for (size_t i = 0; i < g; i++) {
            adu[i] = (uint8_t)rnd(v);
        }
        send_raw(v, fd, adu, g);
        return;
    }
    size_t len;
    if (v->at.tcp) {
        uint16_t tid = (uint16_t)(req[0] << 8 | req[1]);
        if (kind == SK_VMAL_BAD_TID) {
            tid++;
        }
        adu[0] = (uint8_t)(tid >> 8);
        adu[1] = (uint8_t)tid;
        adu[2] = adu[3] = 0;
        adu[4] = (uint8_t)((n + 1) >> 8);
        adu[5] = (uint8_t)(n + 1);
        adu[6] = unit;
        memcpy(adu + 7, pdu, n);
        len = 7 + n;
    } else {
        adu[0] = unit;
        memcpy(adu + 1, pdu, n);
        uint16_t crc = crc16(adu, 1 + n);
        if (kind == 0) {
            crc ^= 0x5a5a; /* corrupted on the wire */
        }
        adu[1 + n] = (uint8_t)crc;
        adu[2 + n] = (uint8_t)(crc >> 8);
        len = 3 + n;
    }
    if (kind == SK_VMAL_TRUNCATED) {
        len /= 2;
    }
    send_raw(v, fd, adu, len);
}

static void close_client(struct sk_vreader *v, size_t i)
{
    close(v->clients[i]);
    v->clients[i] = v->clients[--v->n_clients];
}

/* Sleeps ms without the lock, in slices, stopping early on shutdown. */
static void unlocked_sleep(struct sk_vreader *v, int ms)
{
    pthread_mutex_unlock(&v->lock);
    int64_t end = sk_now_mono_us() + (int64_t)ms * 1000;
    while (!atomic_load(&v->stop)) {
        int64_t left = end - sk_now_mono_us();
        if (left <= 0) {
            break;
        }
        struct timespec ts = {0, (long)(left > 50000 ? 50000 : left) * 1000};
        nanosleep(&ts, NULL);
    }
    pthread_mutex_lock(&v->lock);
}

/* Whether the profile's handshake writes there: the latch acknowledge, the mailbox request. */
static bool writable(const struct vunit *u, int fc, unsigned addr, unsigned count)
{
    const struct sk_profile *p = u->p;
    int table = fc == 5 || fc == 15 ? SK_TABLE_COIL : SK_TABLE_HOLDING;
    if (fc == 5 || fc == 6) {
        count = 1;
    }
    if (p->pattern == SK_PATTERN_LATCH) {
        const struct sk_prof_field *a = &p->fields[p->latch.ack];
        const struct sk_prof_block *b = &p->blocks[a->block];
        unsigned aaddr = b->address + (unsigned)(bit_table(b->table) ? a->offset : a->offset / 2);
        return b->table == table && addr == aaddr && count == 1;
    }
    if (p->pattern == SK_PATTERN_MAILBOX) {
        const struct sk_prof_block *b = &p->blocks[p->mailbox.request];
        return b->table == table && addr >= b->address &&
               addr + count <= (unsigned)b->address + b->count;
    }
    return false;
}

/* Handles one request frame; returns false when the (TCP) client must be closed. Lock held. */
static bool handle_request(struct sk_vreader *v, int fd, const uint8_t *req, size_t len)
{
    size_t h = v->at.tcp ? 7 : 1;
    v->stats.requests++;
    if (len < h + 1) {
        return true;
    }
    int unit_id = req[h - 1];
    int fc = req[h];
    struct vunit *u = find_unit(v, unit_id);
    if (!u) {
        if (v->at.tcp) { /* a gateway would say: nobody behind this unit id */
            modbus_reply_exception(v->ctx, req, MODBUS_EXCEPTION_GATEWAY_TARGET);
            v->stats.exceptions++;
        }
        return true;
    }
    if (!v->at.tcp) {
        modbus_set_slave(v->ctx, unit_id);
    }
    int64_t now = sk_now_mono_us();
    if (u->silent || now < u->silent_until) {
        v->stats.faulted++;
        return true;
    }
    if (u->drop_now && v->at.tcp) {
        u->drop_now = false;
        v->stats.faulted++;
        return false;
    }
    if (u->delay_ms > 0) {
        unlocked_sleep(v, u->delay_ms);
        if (atomic_load(&v->stop)) {
            return true;
        }
        u = find_unit(v, unit_id); /* units never go away, but be explicit */
    }
    if (u->exc) {
        modbus_reply_exception(v->ctx, req, (unsigned)u->exc);
        v->stats.exceptions++;
        return true;
    }
    if (u->corrupt_pct > 0 && (int)(rnd(v) % 100) < u->corrupt_pct) {
        send_fault(v, u, fd, req, h, len, 0);
        v->stats.faulted++;
        return true;
    }
    if (u->malformed) {
        send_fault(v, u, fd, req, h, len, u->malformed);
        v->stats.faulted++;
        return true;
    }
    unsigned addr = len >= h + 5 ? (unsigned)(req[h + 1] << 8 | req[h + 2]) : 0;
    unsigned count = len >= h + 5 ? (unsigned)(req[h + 3] << 8 | req[h + 4]) : 0;
    if ((fc == 5 || fc == 6 || fc == 15 || fc == 16) && !writable(u, fc, addr, count)) {
        /* a reader's map is read-only except where its handshake writes */
        modbus_reply_exception(v->ctx, req, MODBUS_EXCEPTION_ILLEGAL_DATA_ADDRESS);
        v->stats.exceptions++;
        return true;
    }
    int table = fc == 1   ? SK_TABLE_COIL
                : fc == 2 ? SK_TABLE_DISCRETE
                : fc == 4 ? SK_TABLE_INPUT
                          : SK_TABLE_HOLDING;
    if (fc >= 1 && fc <= 4) {
        int exc = before_read(v, u, table, addr, count);
        if (exc) {
            modbus_reply_exception(v->ctx, req, (unsigned)exc);
            v->stats.exceptions++;
            return true;
        }
    }
    if (modbus_reply(v->ctx, req, (int)len, u->map) >= 0) {
        v->stats.replies++;
    }
    if (fc == 5 || fc == 6) {
        after_write(u, fc == 5 ? SK_TABLE_COIL : SK_TABLE_HOLDING, addr, 1);
    } else if (fc == 15 || fc == 16) {
        after_write(u, fc == 15 ? SK_TABLE_COIL : SK_TABLE_HOLDING, addr, count);
    }
    return true;
}

/* ---- RTU framing ---------------------------------------------------------------------- */

/* Length of the request frame starting rx, 0 when more bytes are needed, -1 when unknown. */
static long rtu_frame_len(const uint8_t *b, size_t n)
{
    if (n < 2) {
        return 0;
    }
    switch (b[1]) {
    case 1:
    case 2:
    case 3:
    case 4:
    case 5:
    case 6:
        return 8;
    case 7:
    case 0x11:
        return 4;
    case 0x0f:
    case 0x10:
        return n < 7 ? 0 : 9 + b[6];
    case 0x16:
        return 10;
    case 0x17:
        return n < 11 ? 0 : 13 + b[10];
    default:
        return -1;
    }
}

static void rtu_input(struct sk_vreader *v)
{
    ssize_t r = read(v->serial_fd, v->rx + v->rx_n, sizeof(v->rx) - v->rx_n);
    int64_t now = sk_now_mono_us();
    if (r <= 0) {
        return;
    }
    if (v->rx_n > 0 && now - v->rx_last_us > RX_STALE_US) {
        memmove(v->rx, v->rx + v->rx_n, (size_t)r); /* a stale partial frame: drop it */
        v->rx_n = 0;
    }
    v->rx_n += (size_t)r;
    v->rx_last_us = now;
    for (;;) {
        long fl = rtu_frame_len(v->rx, v->rx_n);
        if (fl < 0 || fl > RX_MAX) {
            v->rx_n = 0; /* not a request we can frame: resynchronise on the next silence */
            return;
        }
        if (fl == 0 || v->rx_n < (size_t)fl) {
            return;
        }
        uint16_t crc = crc16(v->rx, (size_t)fl - 2);
        if (v->rx[fl - 2] == (uint8_t)crc && v->rx[fl - 1] == (uint8_t)(crc >> 8)) {
            uint8_t req[RX_MAX];
            memcpy(req, v->rx, (size_t)fl);
            pthread_mutex_lock(&v->lock);
            handle_request(v, v->serial_fd, req, (size_t)fl);
            pthread_mutex_unlock(&v->lock);
            memmove(v->rx, v->rx + fl, v->rx_n - (size_t)fl);
            v->rx_n -= (size_t)fl;
        } else {
            v->rx_n = 0; /* a real slave ignores a frame with a bad CRC */
            return;
        }
    }
}

/* ---- the thread --------------------------------------------------------------------------- */

static void *server_thread(void *arg)
{
    struct sk_vreader *v = arg;
    pthread_setname_np(pthread_self(), "vreader");
    int64_t next_round = sk_now_mono_us() + (int64_t)v->round_ms * 1000;
    uint8_t req[MODBUS_TCP_MAX_ADU_LENGTH];
    while (!atomic_load(&v->stop)) {
        struct pollfd pf[2 + MAX_CLIENTS];
        size_t np = 0;
        pf[np++] = (struct pollfd){v->wake_fd, POLLIN, 0};
        if (v->at.tcp) {
            pf[np++] = (struct pollfd){v->listen_fd, POLLIN, 0};
            for (size_t i = 0; i < v->n_clients; i++) {
                pf[np++] = (struct pollfd){v->clients[i], POLLIN, 0};
            }
        } else {
            pf[np++] = (struct pollfd){v->serial_fd, POLLIN, 0};
        }
        int64_t now = sk_now_mono_us();
        int64_t wake = next_round;
        pthread_mutex_lock(&v->lock);
        for (size_t i = 0; i < v->n_units; i++) {
            if (v->units[i]->exec_pending && v->units[i]->exec_at < wake) {
                wake = v->units[i]->exec_at;
            }
        }
        pthread_mutex_unlock(&v->lock);
        int timeout = wake <= now ? 0 : (int)((wake - now + 999) / 1000);
        int r = poll(pf, np, timeout > 1000 ? 1000 : timeout);
        if (r < 0 && errno != EINTR) {
            break;
        }
        now = sk_now_mono_us();
        pthread_mutex_lock(&v->lock);
        if (now >= next_round) {
            for (size_t i = 0; i < v->n_units; i++) {
                rf_round(v, v->units[i]);
            }
            v->stats.rounds++;
            next_round += (int64_t)v->round_ms * 1000;
            if (next_round < now) {
                next_round = now + (int64_t)v->round_ms * 1000;
            }
        }
        for (size_t i = 0; i < v->n_units; i++) {
            struct vunit *u = v->units[i];
            if (u->exec_pending && now >= u->exec_at) {
                mailbox_exec(u);
            }
        }
        pthread_mutex_unlock(&v->lock);
        if (r <= 0) {
            continue;
        }
        if (pf[0].revents) {
            uint64_t x;
            if (read(v->wake_fd, &x, sizeof(x)) < 0) {
                /* spurious */
            }
        }
        if (!v->at.tcp) {
            if (pf[1].revents & POLLIN) {
                rtu_input(v);
            }
            continue;
        }
        if (pf[1].revents & POLLIN) {
            int c = accept4(v->listen_fd, NULL, NULL, SOCK_CLOEXEC);
            if (c >= 0) {
                if (v->n_clients == MAX_CLIENTS) {
                    close(c);
                } else {
                    v->clients[v->n_clients++] = c;
                    pthread_mutex_lock(&v->lock);
                    v->stats.clients++;
                    pthread_mutex_unlock(&v->lock);
                }
            }
        }
        /* serve the clients that were ready, newest first so closing one keeps the rest */
        for (size_t k = np; k-- > 2;) {
            if (!(pf[k].revents & (POLLIN | POLLHUP | POLLERR))) {
                continue;
            }
            size_t ci = k - 2;
            if (ci >= v->n_clients || v->clients[ci] != pf[k].fd) {
                continue;
            }
            modbus_set_socket(v->ctx, v->clients[ci]);
            int n = modbus_receive(v->ctx, req);
            if (n < 0) {
                close_client(v, ci);
                continue;
            }
            if (n == 0) {
                continue;
            }
            pthread_mutex_lock(&v->lock);
            bool keep = handle_request(v, v->clients[ci], req, (size_t)n);
            pthread_mutex_unlock(&v->lock);
            if (!keep) {
                close_client(v, ci);
            }
        }
        /* a drop fault also ends idle connections of that server */
        pthread_mutex_lock(&v->lock);
        bool drop = false;
        for (size_t i = 0; i < v->n_units; i++) {
            drop |= v->units[i]->drop_now;
            v->units[i]->drop_now = false;
        }
        pthread_mutex_unlock(&v->lock);
        while (drop && v->n_clients > 0) {
            close_client(v, v->n_clients - 1);
        }
    }
    return NULL;
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

int sk_vreader_new(const struct sk_vreader_opts *opts, struct sk_vreader **ret)
{
    if (!opts || !opts->listen) {
        return -EINVAL;
    }
    struct sk_vreader *v = calloc(1, sizeof(*v));
    if (!v) {
        return -ENOMEM;
    }
    snprintf(v->listen, sizeof(v->listen), "%s", opts->listen);
    if (sk_mbconn_parse_url(opts->listen, &v->at) < 0) {
        free(v);
        return -EINVAL;
    }
    v->round_ms = opts->round_ms > 0 ? opts->round_ms : 100;
    v->rng = opts->seed ? opts->seed : 1;
    v->listen_fd = v->serial_fd = v->wake_fd = -1;
    pthread_mutex_init(&v->lock, NULL);
    *ret = v;
    return 0;
}

static void free_unit(struct vunit *u)
{
    if (!u) {
        return;
    }
    if (u->map) {
        modbus_mapping_free(u->map);
    }
    free(u->tags);
    free(u->seen);
    free(u->seen_reads);
    free(u->p);
    free(u);
}

int sk_vreader_add_unit(struct sk_vreader *v, int unit, const struct sk_profile *profile)
{
    if (unit < 1 || unit > 255 || !profile || v->started) {
        return -EINVAL;
    }
    if (v->n_units == MAX_UNITS || find_unit(v, unit)) {
        return v->n_units == MAX_UNITS ? -ENOSPC : -EEXIST;
    }
    struct vunit *u = calloc(1, sizeof(*u));
    if (!u) {
        return -ENOMEM;
    }
    u->unit = unit;
    u->p = malloc(sizeof(*u->p));
    u->tags = calloc(MAX_TAGS_UNIT, sizeof(*u->tags));
    u->seen = calloc(MAX_TAGS_UNIT, sizeof(*u->seen));
    u->seen_reads = calloc(MAX_TAGS_UNIT, sizeof(*u->seen_reads));
    if (!u->p || !u->tags || !u->seen || !u->seen_reads) {
        free_unit(u);
        return -ENOMEM;
    }
    memcpy(u->p, profile, sizeof(*u->p));
    u->read_pct = 100;
    /* one contiguous range per table, covering every block of that table */
    unsigned lo[4] = {65535, 65535, 65535, 65535}, hi[4] = {0, 0, 0, 0};
    for (size_t i = 0; i < profile->n_blocks; i++) {
        const struct sk_prof_block *b = &profile->blocks[i];
        lo[b->table] = b->address < lo[b->table] ? b->address : lo[b->table];
        unsigned end = (unsigned)b->address + b->count;
        hi[b->table] = end > hi[b->table] ? end : hi[b->table];
    }
    unsigned nb[4];
    for (int t = 0; t < 4; t++) {
        nb[t] = hi[t] > lo[t] ? hi[t] - lo[t] : 0;
        lo[t] = nb[t] ? lo[t] : 0;
    }
    u->map = modbus_mapping_new_start_address(
            lo[SK_TABLE_COIL], nb[SK_TABLE_COIL], lo[SK_TABLE_DISCRETE], nb[SK_TABLE_DISCRETE],
            lo[SK_TABLE_HOLDING], nb[SK_TABLE_HOLDING], lo[SK_TABLE_INPUT], nb[SK_TABLE_INPUT]);
    if (!u->map) {
        free_unit(u);
        return -ENOMEM;
    }
    /* identity values, and what a freshly powered device shows */
    for (size_t i = 0; i < profile->n_fields; i++) {
        if (profile->fields[i].has_expect && profile->fields[i].block >= 0) {
            put_field(u, (int)i, profile->fields[i].expect);
        }
    }
    put_field(u, role_field(profile, SK_ROLE_ANTENNAS), 4);
    if (profile->pattern == SK_PATTERN_LATCH) {
        put_field(u, profile->latch.flag, profile->latch.set ? 0 : 1);
    }
    v->units[v->n_units++] = u;
    return 0;
}

int sk_vreader_start(struct sk_vreader *v)
{
    if (v->started) {
        return -EALREADY;
    }
    v->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (v->wake_fd < 0) {
        return -errno;
    }
    if (v->at.tcp) {
        v->ctx = modbus_new_tcp(v->at.host, v->at.port);
        if (!v->ctx) {
            return -ENOMEM;
        }
        v->listen_fd = modbus_tcp_listen(v->ctx, 8);
        if (v->listen_fd < 0) {
            return -errno;
        }
        struct sockaddr_in sa;
        memset(&sa, 0, sizeof(sa));
        socklen_t sl = sizeof(sa);
        if (getsockname(v->listen_fd, (struct sockaddr *)&sa, &sl) == 0) {
            v->at.port = ntohs(sa.sin_port);
        }
    } else {
        v->ctx = modbus_new_rtu(v->at.device, v->at.baud, v->at.parity, v->at.data_bits,
                                v->at.stop_bits);
        if (!v->ctx) {
            return -EINVAL;
        }
        if (modbus_connect(v->ctx) < 0) {
            return -errno;
        }
        v->serial_fd = modbus_get_socket(v->ctx);
    }
    /* the server's own timeouts only matter inside a request (modbus_receive on TCP) */
    modbus_set_byte_timeout(v->ctx, 0, 200000);
    int e = pthread_create(&v->thread, NULL, server_thread, v);
    if (e) {
        return -e;
    }
    v->started = true;
    return 0;
}

int sk_vreader_port(const struct sk_vreader *v)
{
    return v->at.tcp ? v->at.port : 0;
}

void sk_vreader_free(struct sk_vreader *v)
{
    if (!v) {
        return;
    }
    atomic_store(&v->stop, true);
    if (v->wake_fd >= 0) {
        uint64_t one = 1;
        if (write(v->wake_fd, &one, sizeof(one)) < 0) {
            /* the thread wakes within a second anyway */
        }
    }
    if (v->started) {
        pthread_join(v->thread, NULL);
    }
    while (v->n_clients > 0) {
        close_client(v, v->n_clients - 1);
    }
    if (v->listen_fd >= 0) {
        close(v->listen_fd);
    }
    if (v->ctx) {
        if (!v->at.tcp) {
            modbus_close(v->ctx);
        }
        modbus_free(v->ctx);
    }
    if (v->wake_fd >= 0) {
        close(v->wake_fd);
    }
    for (size_t i = 0; i < v->n_units; i++) {
        free_unit(v->units[i]);
    }
    pthread_mutex_destroy(&v->lock);
    free(v);
}

/* ---- control ------------------------------------------------------------------------------ */

int sk_vreader_tag_add(struct sk_vreader *v,
                       int unit,
                       int antenna,
                       const uint8_t *epc,
                       size_t len,
                       int16_t rssi_cdbm)
{
    if (!epc || len == 0 || len > SK_EPC_MAX || antenna < 1 || antenna > 255) {
        return -EINVAL;
    }
    pthread_mutex_lock(&v->lock);
    struct vunit *u = find_unit(v, unit);
    int r = 0;
    if (!u) {
        r = -ENOENT;
    } else {
        for (size_t i = 0; i < u->n_tags; i++) {
            struct vtag *t = &u->tags[i];
            if (t->antenna == antenna && t->len == len && memcmp(t->epc, epc, len) == 0) {
                t->rssi = rssi_cdbm;
                pthread_mutex_unlock(&v->lock);
                return 0;
            }
        }
        if (u->n_tags == MAX_TAGS_UNIT) {
            r = -ENOSPC;
        } else {
            struct vtag *t = &u->tags[u->n_tags++];
            memset(t, 0, sizeof(*t));
            t->antenna = (uint8_t)antenna;
            t->len = (uint8_t)len;
            memcpy(t->epc, epc, len);
            t->rssi = rssi_cdbm;
        }
    }
    pthread_mutex_unlock(&v->lock);
    return r;
}

int sk_vreader_tag_remove(
        struct sk_vreader *v, int unit, int antenna, const uint8_t *epc, size_t len)
{
    pthread_mutex_lock(&v->lock);
    struct vunit *u = find_unit(v, unit);
    int r = -ENOENT;
    if (u) {
        for (size_t i = 0; i < u->n_tags;) {
            struct vtag *t = &u->tags[i];
            if ((antenna == 0 || t->antenna == antenna) && t->len == len &&
                memcmp(t->epc, epc, len) == 0) {
                /* keep the order of the others: the tag table stays stable */
                memmove(t, t + 1, (u->n_tags - i - 1) * sizeof(*t));
                u->n_tags--;
                /* the latest round's result loses the tag and keeps the rest */
                size_t k = 0;
                for (size_t j = 0; j < u->n_seen; j++) {
                    if (u->seen[j] != i) {
                        u->seen_reads[k] = u->seen_reads[j];
                        u->seen[k++] = u->seen[j] > i ? u->seen[j] - 1 : u->seen[j];
                    }
                }
                u->n_seen = k;
                r = 0;
                continue;
            }
            i++;
        }
    }
    pthread_mutex_unlock(&v->lock);
    return r;
}

int sk_vreader_tag_clear(struct sk_vreader *v, int unit)
{
    pthread_mutex_lock(&v->lock);
    int r = -ENOENT;
    for (size_t i = 0; i < v->n_units; i++) {
        if (unit == 0 || v->units[i]->unit == unit) {
            v->units[i]->n_tags = 0;
            v->units[i]->n_seen = 0;
            r = 0;
        }
    }
    pthread_mutex_unlock(&v->lock);
    return r;
}

size_t sk_vreader_tag_count(struct sk_vreader *v, int unit)
{
    pthread_mutex_lock(&v->lock);
    struct vunit *u = find_unit(v, unit);
    size_t n = u ? u->n_tags : 0;
    pthread_mutex_unlock(&v->lock);
    return n;
}

/* The faults that set one number of the unit: its field and its range (from 0). */
static const struct {
    int fault;
    int max;
    size_t off; /* of the int in struct vunit */
} number_faults[] = {
        {SK_VFAULT_DELAY, 60000, offsetof(struct vunit, delay_ms)},
        {SK_VFAULT_EXCEPTION, 255, offsetof(struct vunit, exc)},
        {SK_VFAULT_CORRUPT, 100, offsetof(struct vunit, corrupt_pct)},
        {SK_VFAULT_READ_PROB, 100, offsetof(struct vunit, read_pct)},
        {SK_VFAULT_MALFORMED, SK_VMAL_TRUNCATED, offsetof(struct vunit, malformed)},
        {SK_VFAULT_BUSY, 60000, offsetof(struct vunit, busy_ms)},
};

static int apply_fault(struct vunit *u, int fault, int value)
{
    for (size_t i = 0; i < sizeof(number_faults) / sizeof(number_faults[0]); i++) {
        if (number_faults[i].fault == fault) {
            if (value < 0 || value > number_faults[i].max) {
                return -EINVAL;
            }
            *(int *)(void *)((char *)u + number_faults[i].off) = value;
            return 0;
        }
    }
    switch (fault) {
    case SK_VFAULT_NONE:
        u->delay_ms = u->exc = u->corrupt_pct = u->malformed = u->busy_ms = 0;
        u->silent = u->drop_now = false;
        u->frozen = 0;
        u->served_valid = false; /* registers may have been poked: serve afresh */
        u->silent_until = 0;
        u->read_pct = 100;
        return 0;
    case SK_VFAULT_SILENT:
        u->silent = value != 0;
        return 0;
    case SK_VFAULT_DROP:
        u->drop_now = true;
        u->silent_until = value > 0 ? sk_now_mono_us() + (int64_t)value * 1000 : 0;
        return 0;
    case SK_VFAULT_FREEZE:
        if (value < 0 || value > 2) {
            return -EINVAL;
        }
        u->frozen = value;
        u->served_valid = false;
        return 0;
    default:
        return -EINVAL;
    }
}

int sk_vreader_fault(struct sk_vreader *v, int unit, int fault, int value)
{
    pthread_mutex_lock(&v->lock);
    int r = -ENOENT;
    for (size_t i = 0; i < v->n_units; i++) {
        if (unit == 0 || v->units[i]->unit == unit) {
            r = apply_fault(v->units[i], fault, value);
            if (r < 0) {
                break;
            }
        }
    }
    pthread_mutex_unlock(&v->lock);
    if (r == 0 && fault == SK_VFAULT_DROP && v->wake_fd >= 0) {
        uint64_t one = 1;
        if (write(v->wake_fd, &one, sizeof(one)) < 0) {
            /* the drop happens at the next request instead */
        }
    }
    return r;
}

int sk_vreader_poke(
        struct sk_vreader *v, int unit, int table, uint16_t addr, const uint16_t *values, size_t n)
{
    pthread_mutex_lock(&v->lock);
    struct vunit *u = find_unit(v, unit);
    int r = u ? 0 : -ENOENT;
    for (size_t i = 0; u && i < n; i++) {
        void *c = cell(u, table, (unsigned)addr + (unsigned)i);
        if (!c) {
            r = -ERANGE;
            break;
        }
        if (bit_table(table)) {
            *(uint8_t *)c = values[i] ? 1 : 0;
        } else {
            *(uint16_t *)c = values[i];
        }
    }
    pthread_mutex_unlock(&v->lock);
    return r;
}

void sk_vreader_get_stats(struct sk_vreader *v, struct sk_vreader_stats *ret)
{
    pthread_mutex_lock(&v->lock);
    *ret = v->stats;
    pthread_mutex_unlock(&v->lock);
}

/* ---- text commands ------------------------------------------------------------------------ */

static bool parse_num(const char *s, long min, long max, long *ret)
{
    if (!s) {
        return false;
    }
    char *end;
    errno = 0;
    long x = strtol(s, &end, 0);
    if (errno || *end || x < min || x > max) {
        return false;
    }
    *ret = x;
    return true;
}

static const char *const malformed_names[] = {"none",   "short",   "wrongfc",   "wrongunit",
                                              "badtid", "garbage", "truncated", NULL};

#define REPLY(...) snprintf(reply, size, __VA_ARGS__)

static int cmd_tag(struct sk_vreader *v, char **tok, int nt, char *reply, size_t size)
{
    long unit, ant, rssi = -60;
    uint8_t epc[SK_EPC_MAX];
    if (nt >= 2 && strcmp(tok[1], "clear") == 0) {
        long u = 0;
        if (nt != 3 || (strcmp(tok[2], "*") != 0 && !parse_num(tok[2], 1, 255, &u))) {
            REPLY("error: usage: tag clear UNIT|*");
            return -EINVAL;
        }
        if (sk_vreader_tag_clear(v, (int)u) < 0) {
            REPLY("error: no unit %ld", u);
            return -EINVAL;
        }
        REPLY("ok");
        return 0;
    }
    bool add = nt >= 2 && strcmp(tok[1], "add") == 0;
    bool del = nt >= 2 && strcmp(tok[1], "del") == 0;
    if ((!add && !del) || nt < 5 || nt > 6 || !parse_num(tok[2], 1, 255, &unit)) {
        REPLY("error: usage: tag add UNIT ANTENNA EPC_HEX [RSSI_DBM] | tag del UNIT ANTENNA|* "
              "EPC_HEX | tag clear UNIT|*");
        return -EINVAL;
    }
    if (del && strcmp(tok[3], "*") == 0) {
        ant = 0;
    } else if (!parse_num(tok[3], 1, 255, &ant)) {
        REPLY("error: antenna must be 1..255%s", del ? " or *" : "");
        return -EINVAL;
    }
    int n = sk_epc_from_hex(tok[4], epc, sizeof(epc));
    if (n <= 0) {
        REPLY("error: EPC must be 2..%d hex digits, an even count", 2 * SK_EPC_MAX);
        return -EINVAL;
    }
    if (nt == 6 && (!add || !parse_num(tok[5], -200, 50, &rssi))) {
        REPLY("error: RSSI must be -200..50 dBm (tag add only)");
        return -EINVAL;
    }
    int r = add ? sk_vreader_tag_add(v, (int)unit, (int)ant, epc, (size_t)n, (int16_t)(rssi * 100))
                : sk_vreader_tag_remove(v, (int)unit, (int)ant, epc, (size_t)n);
    if (r < 0) {
        REPLY("error: %s", r == -ENOENT   ? (add ? "no such unit" : "no such tag")
                           : r == -ENOSPC ? "too many tags on this unit"
                                          : "invalid tag");
        return -EINVAL;
    }
    REPLY("ok");
    return 0;
}

static int cmd_fault(struct sk_vreader *v, char **tok, int nt, char *reply, size_t size)
{
    long unit = 0, value = 0;
    if (nt < 3 || (strcmp(tok[1], "*") != 0 && !parse_num(tok[1], 1, 255, &unit))) {
        REPLY("error: usage: fault UNIT|* KIND [VALUE] (none, delay, silent, exception, corrupt, "
              "malformed, drop, readprob, busy, freeze)");
        return -EINVAL;
    }

    static const struct {
        const char *name;
        int fault;
        bool needs_value;
        long def;
    } kinds[] = {
            {"none", SK_VFAULT_NONE, false, 0},      {"delay", SK_VFAULT_DELAY, true, 0},
            {"silent", SK_VFAULT_SILENT, false, 1},  {"exception", SK_VFAULT_EXCEPTION, true, 0},
            {"corrupt", SK_VFAULT_CORRUPT, true, 0}, {"malformed", SK_VFAULT_MALFORMED, true, 0},
            {"drop", SK_VFAULT_DROP, false, 0},      {"readprob", SK_VFAULT_READ_PROB, true, 0},
            {"busy", SK_VFAULT_BUSY, true, 0},       {"freeze", SK_VFAULT_FREEZE, false, 1},
    };

    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (strcmp(tok[2], kinds[i].name) != 0) {
            continue;
        }
        value = kinds[i].def;
        if (kinds[i].fault == SK_VFAULT_MALFORMED) {
            value = -1;
            for (int m = 0; nt == 4 && malformed_names[m]; m++) {
                if (strcmp(malformed_names[m], tok[3]) == 0) {
                    value = m;
                }
            }
            if (value < 0) {
                REPLY("error: malformed short|wrongfc|wrongunit|badtid|garbage|truncated|none");
                return -EINVAL;
            }
        } else if (nt == 4 && !parse_num(tok[3], 0, 60000, &value)) {
            REPLY("error: %s: value must be a number", tok[2]);
            return -EINVAL;
        } else if (nt != 4 && kinds[i].needs_value) {
            REPLY("error: fault %s needs a value", tok[2]);
            return -EINVAL;
        }
        int r = sk_vreader_fault(v, (int)unit, kinds[i].fault, (int)value);
        if (r < 0) {
            REPLY("error: %s", r == -ENOENT ? "no such unit" : "value out of range");
            return -EINVAL;
        }
        REPLY("ok");
        return 0;
    }
    REPLY("error: unknown fault \"%s\"", tok[2]);
    return -EINVAL;
}

int sk_vreader_command(struct sk_vreader *v, const char *line, char *reply, size_t size)
{
    char buf[512];
    if (strlen(line) >= sizeof(buf)) {
        REPLY("error: command longer than %zu characters", sizeof(buf) - 1);
        return -EINVAL;
    }
    snprintf(buf, sizeof(buf), "%s", line);
    char *tok[140];
    int nt = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, " \t\r\n", &save); t && nt < 140;
         t = strtok_r(NULL, " \t\r\n", &save)) {
        tok[nt++] = t;
    }
    if (nt == 0) {
        REPLY("error: empty command (try help)");
        return -EINVAL;
    }
    if (strcmp(tok[0], "tag") == 0) {
        return cmd_tag(v, tok, nt, reply, size);
    }
    if (strcmp(tok[0], "tags") == 0) {
        long unit;
        if (nt != 2 || !parse_num(tok[1], 1, 255, &unit) || !find_unit(v, (int)unit)) {
            REPLY("error: usage: tags UNIT (a unit of this server)");
            return -EINVAL;
        }
        REPLY("ok %zu", sk_vreader_tag_count(v, (int)unit));
        return 0;
    }
    if (strcmp(tok[0], "fault") == 0) {
        return cmd_fault(v, tok, nt, reply, size);
    }
    if (strcmp(tok[0], "poke") == 0) {
        long unit, addr;
        int table = -1;
        for (int t = 0; nt >= 2 && t < 3; t++) {
            if (nt > 2 && strcmp(tok[2], sk_prof_table_name(t)) == 0) {
                table = t;
            }
        }
        if (nt < 5 || !parse_num(tok[1], 1, 255, &unit) || table < 0 ||
            !parse_num(tok[3], 0, 65535, &addr)) {
            REPLY("error: usage: poke UNIT holding|input|coil ADDR VALUE...");
            return -EINVAL;
        }
        uint16_t vals[128];
        size_t nv = 0;
        for (int i = 4; i < nt && nv < 128; i++) {
            long x;
            if (!parse_num(tok[i], 0, 65535, &x)) {
                REPLY("error: values must be 0..65535");
                return -EINVAL;
            }
            vals[nv++] = (uint16_t)x;
        }
        if (sk_vreader_poke(v, (int)unit, table, (uint16_t)addr, vals, nv) < 0) {
            REPLY("error: no such unit or address outside its tables");
            return -EINVAL;
        }
        REPLY("ok");
        return 0;
    }
    if (strcmp(tok[0], "stats") == 0) {
        struct sk_vreader_stats st;
        sk_vreader_get_stats(v, &st);
        REPLY("ok requests %" PRIu64 " replies %" PRIu64 " exceptions %" PRIu64 " faulted %" PRIu64
              " rounds %" PRIu64 " clients %" PRIu64,
              st.requests, st.replies, st.exceptions, st.faulted, st.rounds, st.clients);
        return 0;
    }
    if (strcmp(tok[0], "help") == 0) {
        REPLY("ok commands: tag add|del|clear, tags, fault, poke, stats, help");
        return 0;
    }
    REPLY("error: unknown command \"%s\" (try help)", tok[0]);
    return -EINVAL;
}
