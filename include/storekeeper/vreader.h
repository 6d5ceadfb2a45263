/* SPDX-License-Identifier: MIT */
/* Virtual RFID readers: a Modbus server (TCP or RTU) playing the device side of profiles. */
#ifndef STOREKEEPER_VREADER_H
#define STOREKEEPER_VREADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storekeeper/profile.h"

/*
 * One virtual server listens on one endpoint (tcp:HOST:PORT, port 0 picks a free one, or
 * rtu:DEVICE:BAUD:FRAME, typically one end of a socat pty pair) and answers any number of
 * unit ids, each a reader of some profile with its own tag population. It runs real
 * libmodbus on its side, so the bus threads, mbpoll or any Modbus client can talk to it.
 *
 * What each unit does is derived from its profile's pattern (docs/profiles.md describes the
 * device side): snapshot readers serve the tags seen in the latest RF round (generic-epc
 * latches its tag table when the status block is read), latch readers raise their flag for
 * one tag at a time, mailbox readers buffer every read and hand them out per command.
 * An RF round runs every round_ms; each tag is read in a round with the unit's read
 * probability (RF misses), seeded, so runs repeat.
 *
 * Faults per unit: slow replies, silence, exception replies, corrupted frames (bad CRC on
 * RTU, a broken PDU on TCP), malformed replies of several kinds, dropped connections, and
 * the read probability. The population and faults change while the server runs, from any
 * thread (sk_vreader_* functions are thread-safe), or as text commands
 * (sk_vreader_command: what `storekeeper sim reader` reads from stdin and its control
 * socket).
 */
struct sk_vreader;

struct sk_vreader_opts {
    const char *listen; /* tcp:HOST:PORT or rtu:DEVICE:BAUD:FRAME (copied) */
    int round_ms;       /* RF inventory period; 0: 100 */
    uint32_t seed;      /* RNG seed of read probabilities and jitter; 0: 1 */
};

enum sk_vfault {
    SK_VFAULT_NONE = 0,  /* clears every fault of the unit */
    SK_VFAULT_DELAY,     /* value: ms of delay before every reply */
    SK_VFAULT_SILENT,    /* no replies at all (value 0 ends it) */
    SK_VFAULT_EXCEPTION, /* value: exception code answered to every request (0 ends it) */
    SK_VFAULT_CORRUPT,   /* value: percent of replies corrupted (RTU: CRC, TCP: PDU) */
    SK_VFAULT_MALFORMED, /* value: enum sk_vmalformed on every reply (0 ends it) */
    SK_VFAULT_DROP,      /* TCP: close the unit's connections now; RTU: silent for value ms */
    SK_VFAULT_READ_PROB, /* value: percent of rounds in which a tag is read (100: always) */
    SK_VFAULT_BUSY,      /* value: ms a mailbox command takes to execute */
    SK_VFAULT_FREEZE,    /* 1: device logic stops touching registers (for poke tests);
                            2: a mailbox still acknowledges commands but leaves its data */
};

enum sk_vmalformed {
    SK_VMAL_NONE = 0,
    SK_VMAL_SHORT,      /* one register less than asked */
    SK_VMAL_WRONG_FC,   /* another function code */
    SK_VMAL_WRONG_UNIT, /* another unit id (RTU) */
    SK_VMAL_BAD_TID,    /* another transaction id (TCP) */
    SK_VMAL_GARBAGE,    /* random bytes */
    SK_VMAL_TRUNCATED,  /* the first half of a valid reply, then nothing */
};

struct sk_vreader_stats {
    uint64_t requests; /* frames received */
    uint64_t replies;  /* normal replies */
    uint64_t exceptions;
    uint64_t faulted; /* requests answered with a fault (or not at all) */
    uint64_t rounds;
    uint64_t clients; /* TCP connections accepted */
};

/* Creates the server (does not bind yet). Returns 0, -EINVAL (bad endpoint) or -ENOMEM. */
int sk_vreader_new(const struct sk_vreader_opts *opts, struct sk_vreader **ret);
/* Adds unit (1..255) speaking profile (copied). Before sk_vreader_start only. */
int sk_vreader_add_unit(struct sk_vreader *v, int unit, const struct sk_profile *profile);
/* Binds or opens the endpoint and starts the server thread ("vreader"). Returns 0 or -errno. */
int sk_vreader_start(struct sk_vreader *v);
/* The TCP port listened on (after start), or 0. */
int sk_vreader_port(const struct sk_vreader *v);
/* Stops and joins the thread, closes everything, frees. Accepts NULL. */
void sk_vreader_free(struct sk_vreader *v);

/* Tag population. epc is copied. Returns 0, -ENOENT (no such unit/tag), -ENOSPC, -EINVAL. */
int sk_vreader_tag_add(struct sk_vreader *v,
                       int unit,
                       int antenna,
                       const uint8_t *epc,
                       size_t len,
                       int16_t rssi_cdbm);
/* antenna 0 removes the tag from every antenna. */
int sk_vreader_tag_remove(
        struct sk_vreader *v, int unit, int antenna, const uint8_t *epc, size_t len);
int sk_vreader_tag_clear(struct sk_vreader *v, int unit);
size_t sk_vreader_tag_count(struct sk_vreader *v, int unit);

/* Sets a fault on one unit, or on every unit with unit 0. Returns 0, -ENOENT, -EINVAL. */
int sk_vreader_fault(struct sk_vreader *v, int unit, int fault, int value);

/* Writes registers (holding/input) or bits of a unit's tables directly (tests of replies that
 * violate the profile; freeze the unit first). Returns 0, -ENOENT, -ERANGE. */
int sk_vreader_poke(
        struct sk_vreader *v, int unit, int table, uint16_t addr, const uint16_t *values, size_t n);

void sk_vreader_get_stats(struct sk_vreader *v, struct sk_vreader_stats *ret);

/*
 * Runs one text command (no trailing newline needed) and writes a one-line answer
 * ("ok ..." or "error: ...") to reply. Commands:
 *   tag add UNIT ANTENNA EPC_HEX [RSSI_DBM]     tag del UNIT ANTENNA|* EPC_HEX
 *   tag clear UNIT|*                            tags UNIT            (count)
 *   fault UNIT|* none|delay MS|silent [0|1]|exception CODE|corrupt PCT|
 *                malformed short|wrongfc|wrongunit|badtid|garbage|truncated|none|
 *                drop [MS]|readprob PCT|busy MS|freeze 0|1
 *   poke UNIT holding|input|coil ADDR VALUE...  stats               help
 * Returns 0 when the command succeeded, -EINVAL otherwise.
 */
int sk_vreader_command(struct sk_vreader *v, const char *line, char *reply, size_t size);

#endif
