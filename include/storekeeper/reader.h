/* SPDX-License-Identifier: MIT */
/* The profile executor: one poll of one reader (unit) through its profile's handshake. */
#ifndef STOREKEEPER_READER_H
#define STOREKEEPER_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storekeeper/mbconn.h"
#include "storekeeper/obs.h"
#include "storekeeper/profile.h"

/*
 * sk_reader_poll() runs one poll of a reader: the small trigger reads every time, the big
 * record reads only when the trigger says something changed, and the pattern's handshake
 * (latch acknowledge, mailbox echo or toggle, drain loop). It returns the tags of this poll.
 *
 * Two kinds of result, by pattern:
 *  - snapshot readers report state: the tags in the field now. When the change counter did
 *    not move, the previous poll's tags are returned again (sk_reader_cached() is true).
 *  - latch and mailbox readers report events: tags read since the previous poll. An empty
 *    result means nothing was read in between.
 * Either way, each returned tag counts as "seen in this poll" for the presence filter.
 *
 * Reply contents are input: every count, length and offset is checked against the profile
 * and the bytes actually received; a violation fails the poll with SK_EMODBUS_BADREPLY and a
 * description in sk_reader_detail(). A reader belongs to one thread (its bus's).
 */
struct sk_reader;

struct sk_tag_read {
    uint8_t antenna;
    uint8_t epc_len;
    uint8_t epc[SK_EPC_MAX];
    int16_t rssi_cdbm; /* INT16_MIN when the reader reports none */
    uint16_t reads;    /* times read in this poll (>= 1) */
};

/* profile is borrowed and must outlive the reader. max_tags bounds one poll's result. */
int sk_reader_new(const struct sk_profile *profile,
                  int unit,
                  int timeout_ms,
                  size_t max_tags,
                  struct sk_reader **ret_reader);
void sk_reader_free(struct sk_reader *r);

/* Forgets handshake state (change counter, sequence): call after the connection reopened. */
void sk_reader_resync(struct sk_reader *r);

/*
 * One poll over conn (the reader sets its unit and timeout on it). Returns the number of
 * tags (0..max_tags) with *ret_tags pointing into the reader (valid until the next poll), or
 * a negative error: connection errors, -ETIMEDOUT, SK_EMODBUS_CRC, SK_EMODBUS_FRAME, a
 * Modbus exception the profile does not map, SK_EMODBUS_BUSY, SK_EMODBUS_HANDSHAKE,
 * SK_EMODBUS_BADREPLY.
 */
int sk_reader_poll(struct sk_reader *r,
                   struct sk_mbconn *conn,
                   const struct sk_tag_read **ret_tags);

/* True when the last successful poll reused the previous snapshot (nothing changed). */
bool sk_reader_cached(const struct sk_reader *r);
/* Requests the last poll made. */
unsigned sk_reader_requests(const struct sk_reader *r);
/* What went wrong in the last failed poll, e.g. "exception 2 reading holding 0x0100+120". */
const char *sk_reader_detail(const struct sk_reader *r);

/*
 * Reads every block holding an identity field (a field with `expect`) and compares. Returns 1
 * when all match, 0 when the profile has no identity fields, SK_EMODBUS_BADREPLY on a
 * mismatch (detail says which), or a transport error.
 */
int sk_reader_identify(struct sk_reader *r, struct sk_mbconn *conn);

#endif
