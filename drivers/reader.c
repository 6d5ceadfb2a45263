/* SPDX-License-Identifier: MIT */
/* The profile executor: snapshot, latch and mailbox polls of one reader, replies checked. */
#include "storekeeper/reader.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "storekeeper/clock.h"
#include "storekeeper/error.h"

/*
 * DESIGN
 * Each block of the profile has a byte image here, filled by the reads of the current poll
 * (have[] says which are fresh). Fields decode from those images, never from the wire
 * directly, and every offset and length is checked against what was actually read, so a
 * reply that lies (a count above the table, an EPC length past its record, a TLV record of
 * size 0 or past the window) fails the poll cleanly instead of reading past a buffer.
 *
 * Writes with side effects (latch acknowledge, mailbox command) are never retried blindly:
 * a failed acknowledge is followed by a read of the flag, and only a flag still set is
 * acknowledged once more; a mailbox command always carries a fresh sequence value, and after
 * a reconnect the sequence is taken from the reader's echo first.
 */

#define MAX_ROUNDS_TOTAL 256

struct sk_reader {
    const struct sk_profile *p;
    int unit, timeout_ms;
    struct sk_tag_read *tags;
    size_t n, max;
    int32_t *index; /* merge table: tag index + 1, 0 empty; 2 * max slots */
    size_t index_size;
    bool cached, have_snapshot;
    int64_t last_trigger;
    bool seq_synced;
    int64_t seq;
    unsigned requests;
    char detail[SK_TEXT_MAX];
    uint8_t *img[SK_PROF_MAX_BLOCKS];
    bool have[SK_PROF_MAX_BLOCKS];
    uint16_t regs[125]; /* one read: at most MODBUS_MAX_READ_REGISTERS */
};

int sk_reader_new(const struct sk_profile *profile,
                  int unit,
                  int timeout_ms,
                  size_t max_tags,
                  struct sk_reader **ret_reader)
{
    if (!profile || max_tags == 0 || max_tags > 65536) {
        return -EINVAL;
    }
    struct sk_reader *r = calloc(1, sizeof(*r));
    if (!r) {
        return -ENOMEM;
    }
    r->p = profile;
    r->unit = unit;
    r->timeout_ms = timeout_ms > 0 ? timeout_ms : profile->response_timeout_ms;
    r->max = max_tags;
    r->tags = calloc(max_tags, sizeof(*r->tags));
    r->index_size = 2 * max_tags;
    r->index = calloc(r->index_size, sizeof(*r->index));
    bool ok = r->tags && r->index;
    for (size_t i = 0; ok && i < profile->n_blocks; i++) {
        r->img[i] = calloc(1, sk_prof_block_bytes(&profile->blocks[i]) + 2);
        ok = r->img[i] != NULL;
    }
    if (!ok) {
        sk_reader_free(r);
        return -ENOMEM;
    }
    *ret_reader = r;
    return 0;
}

void sk_reader_free(struct sk_reader *r)
{
    if (!r) {
        return;
    }
    for (size_t i = 0; i < SK_PROF_MAX_BLOCKS; i++) {
        free(r->img[i]);
    }
    free(r->index);
    free(r->tags);
    free(r);
}

void sk_reader_resync(struct sk_reader *r)
{
    r->have_snapshot = false;
    r->seq_synced = false;
}

bool sk_reader_cached(const struct sk_reader *r)
{
    return r->cached;
}

unsigned sk_reader_requests(const struct sk_reader *r)
{
    return r->requests;
}

const char *sk_reader_detail(const struct sk_reader *r)
{
    return r->detail;
}

static void __attribute__((format(printf, 2, 3))) detail(struct sk_reader *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
    va_end(ap);
}

static bool bit_table(const struct sk_prof_block *b)
{
    return b->table == SK_TABLE_COIL || b->table == SK_TABLE_DISCRETE;
}

/* The meaning the profile gives to exception code on block b. */
static int exc_meaning(const struct sk_prof_block *b, int code)
{
    for (size_t i = 0; i < b->n_exc; i++) {
        if (b->exc[i].code == code) {
            return b->exc[i].meaning;
        }
    }
    return SK_EXC_ERROR;
}

/*
 * Reads the first `units` registers (or bits) of block bi into its image, in chunks the
 * profile allows (aligned to `align` units when possible). Returns 0, 1 when the reader
 * answered with an exception the profile calls "no tag", or a negative error.
 */
static int read_block(struct sk_reader *r, struct sk_mbconn *c, int bi, size_t units, size_t align)
{
    const struct sk_profile *p = r->p;
    const struct sk_prof_block *b = &p->blocks[bi];
    bool bits = bit_table(b);
    size_t maxc = bits ? (size_t)p->max_read_bits : (size_t)p->max_read_regs;
    if (align > 1 && align <= maxc) {
        maxc -= maxc % align;
    }
    if (units > b->count) {
        units = b->count;
    }
    r->have[bi] = false;
    for (size_t done = 0; done < units;) {
        size_t n = units - done < maxc ? units - done : maxc;
        uint16_t addr = (uint16_t)(b->address + done);
        int rc;
        r->requests++;
        if (bits) {
            rc = sk_mbconn_read(c, b->table, addr, (uint16_t)n, r->img[bi] + done, !b->side_effect);
        } else {
            rc = sk_mbconn_read(c, b->table, addr, (uint16_t)n, r->regs, !b->side_effect);
            if (rc == 0) {
                sk_prof_regs_to_bytes(b->byte_order, r->regs, n, r->img[bi] + 2 * done);
            }
        }
        if (rc < 0) {
            if (sk_is_modbus_exception(rc)) {
                int code = sk_modbus_exception(rc);
                int m = exc_meaning(b, code);
                if (m == SK_EXC_NO_TAG) {
                    return 1;
                }
                detail(r, "exception %d reading %s 0x%04X+%zu (block %s)", code,
                       sk_prof_table_name(b->table), addr, n, b->name);
                return m == SK_EXC_BUSY ? SK_EMODBUS_BUSY : rc;
            }
            detail(r, "%s (%.40s) reading %s 0x%04X+%zu (block %s)", sk_strerror(rc),
                   sk_mbconn_last_error(c), sk_prof_table_name(b->table), addr, n, b->name);
            return rc;
        }
        done += n;
    }
    r->have[bi] = true;
    return 0;
}

static int read_whole(struct sk_reader *r, struct sk_mbconn *c, int bi)
{
    return read_block(r, c, bi, r->p->blocks[bi].count, 1);
}

/* Value of a block field from its (fresh) image. */
static int field_int(struct sk_reader *r, int fi, int64_t *ret)
{
    const struct sk_prof_field *f = &r->p->fields[fi];
    int bi = f->block;
    if (bi < 0 || !r->have[bi]) {
        detail(r, "field %s read before its block", f->name);
        return SK_EMODBUS_BADREPLY;
    }
    int rc = sk_prof_get_int(r->p, f, r->img[bi], sk_prof_block_bytes(&r->p->blocks[bi]), ret);
    if (rc < 0) {
        detail(r, "field %s outside block %s", f->name, r->p->blocks[bi].name);
        return SK_EMODBUS_BADREPLY;
    }
    return 0;
}

/* The number of tag records a reply states (field fi): from 0 to the profile's capacity, or
 * the reply is refused. */
static int
field_count(struct sk_reader *r, int fi, const struct sk_prof_records *rs, long *ret_count)
{
    int64_t v;
    int rc = field_int(r, fi, &v);
    if (rc < 0) {
        return rc;
    }
    if (v < 0 || v > rs->max) {
        detail(r, "tag count %" PRId64 " is above the profile's %d records", v, rs->max);
        return SK_EMODBUS_BADREPLY;
    }
    *ret_count = (long)v;
    return 0;
}

/* Identity fields (expect = ...) of a freshly read block must hold their values. */
static int check_identity(struct sk_reader *r, int bi)
{
    const struct sk_profile *p = r->p;
    for (size_t i = 0; i < p->n_fields; i++) {
        const struct sk_prof_field *f = &p->fields[i];
        if (f->block != bi || !f->has_expect) {
            continue;
        }
        int64_t v;
        int rc = field_int(r, (int)i, &v);
        if (rc < 0) {
            return rc;
        }
        if (v != f->expect) {
            detail(r, "%s is 0x%" PRIX64 ", expected 0x%" PRIX64 " (wrong profile or unit?)",
                   f->name, (uint64_t)v, (uint64_t)f->expect);
            return SK_EMODBUS_BADREPLY;
        }
    }
    return 0;
}

static uint64_t hash_tag(uint8_t antenna, const uint8_t *epc, size_t len)
{
    uint64_t h = 1469598103934665603ULL ^ antenna;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ epc[i]) * 1099511628211ULL;
    }
    return h;
}

static void clear_tags(struct sk_reader *r)
{
    r->n = 0;
    memset(r->index, 0, r->index_size * sizeof(*r->index));
}

/* Adds a read; a tag already read in this poll gets its count raised and its best RSSI. */
static void add_tag(struct sk_reader *r, const struct sk_tag_read *t)
{
    size_t mask = r->index_size; /* not a power of two: use modulo */
    size_t i = (size_t)(hash_tag(t->antenna, t->epc, t->epc_len) % mask);
    for (size_t probe = 0; probe < mask; probe++, i = (i + 1) % mask) {
        int32_t slot = r->index[i];
        if (slot == 0) {
            if (r->n == r->max) {
                return; /* bounded: the rest of this poll's reads are dropped */
            }
            r->tags[r->n] = *t;
            r->index[i] = (int32_t)(++r->n);
            return;
        }
        struct sk_tag_read *o = &r->tags[slot - 1];
        if (o->antenna == t->antenna && o->epc_len == t->epc_len &&
            memcmp(o->epc, t->epc, t->epc_len) == 0) {
            uint32_t sum = (uint32_t)o->reads + t->reads;
            o->reads = sum > UINT16_MAX ? UINT16_MAX : (uint16_t)sum;
            if (t->rssi_cdbm != INT16_MIN &&
                (o->rssi_cdbm == INT16_MIN || t->rssi_cdbm > o->rssi_cdbm)) {
                o->rssi_cdbm = t->rssi_cdbm;
            }
            return;
        }
    }
}

/* Decodes one record (rec_len bytes) into a tag. Returns 1 (a tag), 0 (empty slot) or
 * SK_EMODBUS_BADREPLY. */
static int decode_record(struct sk_reader *r,
                         const struct sk_prof_records *rs,
                         const uint8_t *rec,
                         size_t rec_len,
                         struct sk_tag_read *out)
{
    const struct sk_profile *p = r->p;
    const struct sk_prof_field *f = &p->fields[rs->epc];
    long start = f->offset < 0 ? (long)rec_len + f->offset : f->offset;
    long len = 0;
    int64_t v = 0;
    switch (f->len_mode) {
    case SK_LEN_FIXED:
        len = f->len;
        break;
    case SK_LEN_FROM_PC:
        if (sk_prof_get_int(p, &p->fields[f->len_field], rec, rec_len, &v) < 0) {
            detail(r, "record %s: PC word outside the record", rs->name);
            return SK_EMODBUS_BADREPLY;
        }
        len = 2 * ((v >> 11) & 0x1f);
        break;
    case SK_LEN_FROM_FIELD:
        if (sk_prof_get_int(p, &p->fields[f->len_field], rec, rec_len, &v) < 0) {
            detail(r, "record %s: length field outside the record", rs->name);
            return SK_EMODBUS_BADREPLY;
        }
        len = f->len_words ? 2 * v : v;
        break;
    default: /* SK_LEN_REST */
        len = (long)rec_len - start - f->len;
        break;
    }
    if (start < 0 || len < 0 || len > SK_EPC_MAX || start + len > (long)rec_len) {
        detail(r, "record %s: tag id of %ld bytes at %ld does not fit the record (%zu bytes)",
               rs->name, len, start, rec_len);
        return SK_EMODBUS_BADREPLY;
    }
    memset(out, 0, sizeof(*out));
    memcpy(out->epc, rec + start, (size_t)len);
    if (f->trim_zeros) {
        while (len > 0 && out->epc[len - 1] == 0) {
            len--;
        }
    }
    if (len == 0) {
        return 0;
    }
    out->epc_len = (uint8_t)len;
    out->antenna = (uint8_t)rs->antenna;
    out->rssi_cdbm = INT16_MIN;
    out->reads = 1;
    if (rs->ant >= 0 && sk_prof_get_int(p, &p->fields[rs->ant], rec, rec_len, &v) == 0) {
        if (v < 1 || v > 255) {
            detail(r, "record %s: antenna %" PRId64 " is not 1..255", rs->name, v);
            return SK_EMODBUS_BADREPLY;
        }
        out->antenna = (uint8_t)v;
    }
    if (rs->rssi >= 0 && sk_prof_get_int(p, &p->fields[rs->rssi], rec, rec_len, &v) == 0) {
        out->rssi_cdbm = sk_prof_rssi_cdbm(&p->fields[rs->rssi], v);
    }
    if (rs->reads >= 0 && sk_prof_get_int(p, &p->fields[rs->reads], rec, rec_len, &v) == 0) {
        out->reads = (uint16_t)(v < 1 ? 1 : v > UINT16_MAX ? UINT16_MAX : v);
    }
    return 1;
}

/*
 * Decodes the records of set ri from its block image: count records (fixed layout; -1: every
 * slot up to max), or `length` bytes of tlv records (-1: the whole window).
 */
static int decode_records(struct sk_reader *r, int ri, long count, long length)
{
    const struct sk_profile *p = r->p;
    const struct sk_prof_records *rs = &p->records[ri];
    const uint8_t *img = r->img[rs->block];
    size_t avail = sk_prof_block_bytes(&p->blocks[rs->block]);
    struct sk_tag_read t;
    if (rs->layout == SK_LAYOUT_FIXED) {
        long n = count >= 0 ? count : rs->max;
        if (n > rs->max) {
            detail(r, "%ld records announced, the profile allows %d", n, rs->max);
            return SK_EMODBUS_BADREPLY;
        }
        for (long i = 0; i < n; i++) {
            int rc = decode_record(r, rs, img + (size_t)i * (size_t)rs->stride, (size_t)rs->stride,
                                   &t);
            if (rc < 0) {
                return rc;
            }
            if (rc == 1) {
                add_tag(r, &t);
            }
        }
        return 0;
    }
    size_t len = length >= 0 ? (size_t)length : avail;
    if (len > avail) {
        detail(r, "%zu bytes of records announced, the window holds %zu", len, avail);
        return SK_EMODBUS_BADREPLY;
    }
    const struct sk_prof_field *sf = &p->fields[rs->size_field];
    int records = 0;
    for (size_t pos = 0; pos < len;) {
        int64_t size;
        if (sk_prof_get_int(p, sf, img + pos, len - pos, &size) < 0) {
            detail(r, "record %s at byte %zu: size field cut off", rs->name, pos);
            return SK_EMODBUS_BADREPLY;
        }
        if (size == 0) {
            break; /* zero padding after the last record */
        }
        int64_t total = size + rs->size_adjust;
        if (total < 2 || (size_t)total > len - pos) {
            detail(r, "record %s at byte %zu: size %" PRId64 " does not fit %zu bytes left",
                   rs->name, pos, size, len - pos);
            return SK_EMODBUS_BADREPLY;
        }
        if (++records > rs->max) {
            detail(r, "more than %d records in the window", rs->max);
            return SK_EMODBUS_BADREPLY;
        }
        int64_t type = rs->type_ok;
        if (rs->type_field >= 0 &&
            sk_prof_get_int(p, &p->fields[rs->type_field], img + pos, (size_t)total, &type) < 0) {
            type = -1;
        }
        if (type == rs->type_ok) {
            int rc = decode_record(r, rs, img + pos, (size_t)total, &t);
            if (rc < 0) {
                return rc;
            }
            if (rc == 1) {
                add_tag(r, &t);
            }
        }
        pos += (size_t)total;
    }
    return 0;
}

static size_t stride_regs(const struct sk_prof_records *rs)
{
    return rs->layout == SK_LAYOUT_FIXED && rs->stride % 2 == 0 ? (size_t)rs->stride / 2 : 1;
}

/* ---- snapshot --------------------------------------------------------------------------- */

static int poll_snapshot(struct sk_reader *r, struct sk_mbconn *c)
{
    const struct sk_profile *p = r->p;
    const struct sk_prof_snapshot *sn = &p->snapshot;
    const struct sk_prof_records *rs = &p->records[sn->records];
    int64_t trig = 0;
    int rc;
    if (sn->trigger >= 0) {
        int tb = p->fields[sn->trigger].block;
        if ((rc = read_whole(r, c, tb)) != 0 || (rc = check_identity(r, tb)) < 0 ||
            (rc = field_int(r, sn->trigger, &trig)) < 0) {
            return rc > 0 ? 0 : rc;
        }
        if (r->have_snapshot && trig == r->last_trigger) {
            r->cached = true;
            return (int)r->n;
        }
    }
    int attempts = sn->verify ? 3 : 1;
    for (int a = 0; a < attempts; a++) {
        long count = -1;
        if (sn->count >= 0) {
            int cb = p->fields[sn->count].block;
            if (!r->have[cb] && (rc = read_whole(r, c, cb)) != 0) {
                return rc > 0 ? 0 : rc;
            }
            if ((rc = field_count(r, sn->count, rs, &count)) < 0) {
                return rc;
            }
        }
        clear_tags(r);
        size_t bytes = rs->layout == SK_LAYOUT_FIXED
                               ? (size_t)(count >= 0 ? count : rs->max) * (size_t)rs->stride
                               : sk_prof_block_bytes(&p->blocks[rs->block]);
        if (bytes > 0) {
            rc = read_block(r, c, rs->block, (bytes + 1) / 2, stride_regs(rs));
            if (rc < 0) {
                return rc;
            }
            if (rc == 0 && (rc = decode_records(r, sn->records, count, -1)) < 0) {
                return rc;
            }
        }
        if (!sn->verify) {
            break;
        }
        int tb = p->fields[sn->trigger].block;
        int64_t again;
        if ((rc = read_whole(r, c, tb)) != 0 || (rc = field_int(r, sn->trigger, &again)) < 0) {
            return rc > 0 ? 0 : rc;
        }
        if (again == trig) {
            break;
        }
        trig = again; /* torn: the table changed while we read it; read it again */
    }
    r->last_trigger = trig;
    r->have_snapshot = sn->trigger >= 0;
    return (int)r->n;
}

/* ---- latch ------------------------------------------------------------------------------ */

static int write_field(struct sk_reader *r, struct sk_mbconn *c, int fi, int64_t value)
{
    const struct sk_profile *p = r->p;
    const struct sk_prof_field *f = &p->fields[fi];
    const struct sk_prof_block *b = &p->blocks[f->block];
    r->requests++;
    int rc;
    if (b->table == SK_TABLE_COIL) {
        rc = sk_mbconn_write_bit(c, (uint16_t)(b->address + f->offset), value != 0);
    } else {
        rc = sk_mbconn_write_reg(c, (uint16_t)(b->address + f->offset / 2), (uint16_t)value);
    }
    if (rc < 0) {
        detail(r, "%s writing %s (block %s)", sk_strerror(rc), f->name, b->name);
    }
    return rc;
}

static int poll_latch(struct sk_reader *r, struct sk_mbconn *c)
{
    const struct sk_profile *p = r->p;
    const struct sk_prof_latch *la = &p->latch;
    int fb = p->fields[la->flag].block;
    int64_t flag;
    int rc;
    clear_tags(r);
    if ((rc = read_whole(r, c, fb)) != 0 || (rc = field_int(r, la->flag, &flag)) < 0) {
        return rc > 0 ? 0 : rc;
    }
    if (flag != la->set) {
        return 0;
    }
    const struct sk_prof_records *rs = &p->records[la->records];
    rc = read_block(r, c, rs->block, p->blocks[rs->block].count, stride_regs(rs));
    if (rc < 0) {
        return rc;
    }
    if (rc == 0 && (rc = decode_records(r, la->records, -1, -1)) < 0) {
        return rc;
    }
    /* acknowledge exactly once: on failure, look whether the first write took effect */
    rc = write_field(r, c, la->ack, la->ack_value);
    if (rc < 0 && !sk_mbconn_error_is_link(rc)) {
        int rr = read_whole(r, c, fb);
        if (rr == 0 && field_int(r, la->flag, &flag) == 0) {
            rc = flag == la->set ? write_field(r, c, la->ack, la->ack_value) : 0;
        }
    }
    return rc < 0 ? rc : (int)r->n;
}

/* ---- mailbox ---------------------------------------------------------------------------- */

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

static int64_t next_seq(const struct sk_profile *p, int64_t seq)
{
    const struct sk_prof_mailbox *m = &p->mailbox;
    if (m->seq_mode == SK_SEQ_TOGGLE) {
        return seq ? 0 : 1;
    }
    const struct sk_prof_field *f = &p->fields[m->sequence];
    int64_t limit = f->mask                                          ? (int64_t)f->mask
                    : (f->type == SK_FT_U8 || f->type == SK_FT_I8)   ? 0xff
                    : (f->type == SK_FT_U16 || f->type == SK_FT_I16) ? 0xffff
                                                                     : 0xffffffffLL;
    int64_t n = (seq + 1) & limit;
    return n == 0 ? 1 : n; /* 0 is what a freshly started device shows */
}

static int mailbox_command(struct sk_reader *r, struct sk_mbconn *c)
{
    const struct sk_profile *p = r->p;
    const struct sk_prof_mailbox *m = &p->mailbox;
    const struct sk_prof_block *rq = &p->blocks[m->request];
    uint8_t bytes[2 * 123];
    size_t nbytes = sk_prof_block_bytes(rq);
    memset(bytes, 0, sizeof(bytes));
    for (size_t i = 0; i < p->n_fields; i++) {
        const struct sk_prof_field *f = &p->fields[i];
        if (f->block == m->request && f->has_value) {
            sk_prof_put_int(p, f, bytes, nbytes, f->value);
        }
    }
    if (m->sequence >= 0) {
        r->seq = next_seq(p, r->seq);
        sk_prof_put_int(p, &p->fields[m->sequence], bytes, nbytes, r->seq);
    }
    uint16_t regs[123];
    sk_prof_bytes_to_regs(rq->byte_order, bytes, rq->count, regs);
    r->requests++;
    int rc = sk_mbconn_write_regs(c, rq->address, rq->count, regs);
    if (rc < 0) {
        detail(r, "%s writing the command block %s", sk_strerror(rc), rq->name);
        return rc;
    }
    /* wait for the echo */
    int64_t cmd = p->fields[m->command].value;
    int64_t deadline = sk_now_mono_us() + (int64_t)m->wait_ms * 1000;
    for (;;) {
        int64_t v;
        if ((rc = read_whole(r, c, m->response)) != 0 || (rc = field_int(r, m->echo, &v)) < 0) {
            return rc > 0 ? SK_EMODBUS_BADREPLY : rc;
        }
        bool done = v == cmd;
        if (done && m->echo_sequence >= 0) {
            if ((rc = field_int(r, m->echo_sequence, &v)) < 0) {
                return rc;
            }
            done = v == r->seq;
        }
        if (done && m->busy >= 0) {
            if ((rc = field_int(r, m->busy, &v)) < 0) {
                return rc;
            }
            done = v == 0;
        }
        if (done) {
            break;
        }
        if (sk_now_mono_us() >= deadline) {
            detail(r, "command 0x%" PRIX64 " not acknowledged within %d ms", (uint64_t)cmd,
                   m->wait_ms);
            r->seq_synced = false;
            return SK_EMODBUS_HANDSHAKE;
        }
        sleep_ms(m->poll_ms);
    }
    if (m->error >= 0) {
        int64_t e;
        if ((rc = field_int(r, m->error, &e)) < 0) {
            return rc;
        }
        if (e != 0) {
            detail(r, "command 0x%" PRIX64 " failed: error 0x%" PRIX64, (uint64_t)cmd, (uint64_t)e);
            return SK_EMODBUS_BADREPLY;
        }
    }
    return 0;
}

static int poll_mailbox(struct sk_reader *r, struct sk_mbconn *c)
{
    const struct sk_profile *p = r->p;
    const struct sk_prof_mailbox *m = &p->mailbox;
    int rc;
    int64_t v;
    clear_tags(r);
    if (!r->seq_synced && m->echo_sequence >= 0) {
        /* after a (re)connect: continue from what the reader last executed */
        if ((rc = read_whole(r, c, m->response)) != 0 ||
            (rc = field_int(r, m->echo_sequence, &v)) < 0) {
            return rc > 0 ? SK_EMODBUS_BADREPLY : rc;
        }
        r->seq = v;
    }
    r->seq_synced = true;
    if (m->gate >= 0) {
        int gb = p->fields[m->gate].block;
        if ((rc = read_whole(r, c, gb)) != 0 || (rc = field_int(r, m->gate, &v)) < 0) {
            return rc > 0 ? 0 : rc;
        }
        if (v == 0) {
            return 0;
        }
    }
    const struct sk_prof_records *rs = &p->records[m->records];
    for (int round = 0; round < m->max_rounds && round < MAX_ROUNDS_TOTAL; round++) {
        if ((rc = mailbox_command(r, c)) < 0) {
            return rc;
        }
        long count = -1, length = -1;
        if (m->count >= 0) {
            if ((rc = field_count(r, m->count, rs, &count)) < 0) {
                return rc;
            }
        } else if (m->length >= 0) {
            if ((rc = field_int(r, m->length, &v)) < 0) {
                return rc;
            }
            if (v < 0 || (size_t)v > sk_prof_block_bytes(&p->blocks[rs->block])) {
                detail(r, "data length %" PRId64 " is larger than the window (%zu bytes)", v,
                       sk_prof_block_bytes(&p->blocks[rs->block]));
                return SK_EMODBUS_BADREPLY;
            }
            length = (long)v;
        }
        int64_t more = 0;
        if (m->more >= 0 && (rc = field_int(r, m->more, &more)) < 0) {
            return rc;
        }
        size_t bytes =
                rs->layout == SK_LAYOUT_FIXED
                        ? (size_t)(count >= 0 ? count : rs->max) * (size_t)rs->stride
                        : (size_t)(length >= 0 ? length
                                               : (long)sk_prof_block_bytes(&p->blocks[rs->block]));
        if (bytes > 0) {
            if ((rc = read_block(r, c, rs->block, (bytes + 1) / 2, stride_regs(rs))) < 0) {
                return rc;
            }
            if (rc == 0 && (rc = decode_records(r, m->records, count, length)) < 0) {
                return rc;
            }
        }
        if (m->more < 0 || more <= m->more_above) {
            break;
        }
    }
    return (int)r->n;
}

int sk_reader_poll(struct sk_reader *r, struct sk_mbconn *conn, const struct sk_tag_read **ret_tags)
{
    r->requests = 0;
    r->cached = false;
    r->detail[0] = '\0';
    memset(r->have, 0, sizeof(r->have));
    int rc = sk_mbconn_set_unit(conn, r->unit);
    if (rc < 0) {
        detail(r, "unit %d is not valid on this bus", r->unit);
        return rc;
    }
    sk_mbconn_set_timeout(conn, r->timeout_ms);
    switch (r->p->pattern) {
    case SK_PATTERN_SNAPSHOT:
        rc = poll_snapshot(r, conn);
        break;
    case SK_PATTERN_LATCH:
        rc = poll_latch(r, conn);
        break;
    default:
        rc = poll_mailbox(r, conn);
        break;
    }
    if (rc < 0) {
        r->have_snapshot = false;
        if (sk_mbconn_error_is_link(rc)) {
            sk_reader_resync(r);
        }
        return rc;
    }
    *ret_tags = r->tags;
    return rc;
}

int sk_reader_identify(struct sk_reader *r, struct sk_mbconn *conn)
{
    const struct sk_profile *p = r->p;
    r->requests = 0;
    r->detail[0] = '\0';
    int rc = sk_mbconn_set_unit(conn, r->unit);
    if (rc < 0) {
        return rc;
    }
    sk_mbconn_set_timeout(conn, r->timeout_ms);
    int found = 0;
    for (size_t bi = 0; bi < p->n_blocks; bi++) {
        bool has = false;
        for (size_t i = 0; i < p->n_fields; i++) {
            has |= p->fields[i].block == (int)bi && p->fields[i].has_expect;
        }
        if (!has || p->blocks[bi].side_effect) {
            continue;
        }
        if ((rc = read_whole(r, conn, (int)bi)) != 0) {
            return rc > 0 ? SK_EMODBUS_BADREPLY : rc;
        }
        if ((rc = check_identity(r, (int)bi)) < 0) {
            return rc;
        }
        found = 1;
    }
    return found;
}
