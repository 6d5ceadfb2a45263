/* SPDX-License-Identifier: MIT */
/* Reader profiles: register maps of Modbus RFID readers, loaded from drivers/profiles/. */
#ifndef STOREKEEPER_PROFILE_H
#define STOREKEEPER_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storekeeper/config.h"

/*
 * A profile describes one reader model: which Modbus tables and addresses hold what, how the
 * bytes of a tag are laid out, and which of three handshake patterns the reader speaks
 * (docs/profiles.md has the file format and the reference map generic-epc):
 *
 *   snapshot  the reader keeps a table of the tags it sees now (count + records), perhaps
 *             behind a change counter; also "virtual register = command" readers whose read
 *             performs the RF operation (Omron READ ID, exception 4 = no tag)
 *   latch     the reader latches one tag and raises a flag; the host reads it and clears
 *             the flag (Inveo)
 *   mailbox   the host writes a command block, polls a response block until it echoes the
 *             command (and a toggle bit or loop counter), reads the data window, and repeats
 *             while the reader says more is buffered (Turck, Pepperl+Fuchs, Balluff)
 *
 * A loaded profile is plain, read-only data: the bus threads execute it (sk_reader), the
 * simulator plays the device side of it (sk_vreader), and diagnostics print it. Fields and
 * sections refer to each other by index; -1 means "none".
 */

#define SK_PROF_MAX_BLOCKS  16
#define SK_PROF_MAX_FIELDS  64
#define SK_PROF_MAX_RECORDS 4
#define SK_PROF_MAX_EXC     8
#define SK_PROF_MAX_BYTES   (64 * 1024) /* profile file size limit */
#define SK_PROF_MAX_LINE    256         /* line length limit */
#define SK_PROF_EXT         ".prof"

enum sk_mb_table {
    SK_TABLE_HOLDING = 0, /* FC03 read, FC06/FC16 write */
    SK_TABLE_INPUT,       /* FC04 read */
    SK_TABLE_COIL,        /* FC01 read, FC05/FC15 write */
    SK_TABLE_DISCRETE,    /* FC02 read */
};

enum sk_prof_pattern {
    SK_PATTERN_SNAPSHOT = 0,
    SK_PATTERN_LATCH,
    SK_PATTERN_MAILBOX,
};

enum sk_prof_status {
    SK_PROF_REFERENCE = 0, /* our own map (generic-epc): the simulator speaks it */
    SK_PROF_UNVERIFIED,    /* from the manual, not yet verified on hardware */
    SK_PROF_VERIFIED,      /* checked against a real device */
    SK_PROF_TEST,          /* test data only */
};

/* Byte orders. Inside one register: AB (high byte first) or BA. Of 32-bit values: ABCD (big
 * endian), CDAB (word swapped), BADC (byte swapped), DCBA (little endian). */
enum sk_prof_order {
    SK_ORDER_DEFAULT = 0, /* the [codec] setting */
    SK_ORDER_AB,
    SK_ORDER_BA,
    SK_ORDER_ABCD,
    SK_ORDER_CDAB,
    SK_ORDER_BADC,
    SK_ORDER_DCBA,
};

enum sk_prof_type {
    SK_FT_U8 = 0,
    SK_FT_I8,
    SK_FT_U16,
    SK_FT_I16,
    SK_FT_U32,
    SK_FT_I32,
    SK_FT_BIT,   /* one coil / discrete input, or bit `bit` of a register */
    SK_FT_BYTES, /* a byte string (EPC, UID) */
};

enum sk_prof_len {
    SK_LEN_FIXED = 0,  /* len bytes */
    SK_LEN_FROM_PC,    /* (pc >> 11) words, pc being the field len_field */
    SK_LEN_FROM_FIELD, /* value of len_field, times 2 when len_words */
    SK_LEN_REST,       /* to the end of the record, less len_rest bytes */
};

enum sk_prof_role {
    SK_ROLE_NONE = 0,
    SK_ROLE_EPC,      /* records: the tag's identifier */
    SK_ROLE_PC,       /* records: the PC word */
    SK_ROLE_ANTENNA,  /* records: antenna port */
    SK_ROLE_RSSI,     /* records: signal strength (unit from rssi_unit) */
    SK_ROLE_READS,    /* records: how often the tag was read */
    SK_ROLE_ROUNDS,   /* block: RF inventory rounds completed (liveness; devices count it) */
    SK_ROLE_ANTENNAS, /* block: antenna ports of the device */
};

enum sk_prof_exc {
    SK_EXC_ERROR = 0, /* a failure (the default for every code) */
    SK_EXC_NO_TAG,    /* a valid answer: no tag in the field */
    SK_EXC_BUSY,      /* try again later: not a failure, not a result */
};

enum sk_rssi_unit {
    SK_RSSI_DBM = 0, /* whole dBm */
    SK_RSSI_DDBM,    /* 0.1 dBm */
    SK_RSSI_CDBM,    /* 0.01 dBm */
};

struct sk_prof_block {
    char name[SK_NAME_MAX];
    int table;        /* enum sk_mb_table */
    uint16_t address; /* PDU address (0-based) */
    uint16_t count;   /* registers or bits */
    bool side_effect; /* reading it makes the reader act: never retried or merged */
    int byte_order;   /* SK_ORDER_AB or SK_ORDER_BA: how registers become bytes */

    struct {
        uint8_t code;
        uint8_t meaning; /* enum sk_prof_exc */
    } exc[SK_PROF_MAX_EXC];

    size_t n_exc;
    int line;
};

struct sk_prof_field {
    char name[SK_NAME_MAX];
    int block;     /* block index, or -1 for a record field */
    int records;   /* records index, or -1 for a block field */
    int offset;    /* bytes from the start (negative: from the end of a tlv record); bit index
                      for coil and discrete blocks */
    int type;      /* enum sk_prof_type */
    int bit;       /* SK_FT_BIT in a register: 0..15 */
    int order;     /* enum sk_prof_order, resolved (never DEFAULT after loading) */
    uint32_t mask; /* applied to integer values after decoding; 0: none */
    int len_mode;  /* enum sk_prof_len (SK_FT_BYTES) */
    int len;       /* SK_LEN_FIXED: bytes; SK_LEN_REST: bytes left out at the end */
    int len_field; /* SK_LEN_FROM_PC / SK_LEN_FROM_FIELD: field index */
    bool len_words;
    bool trim_zeros; /* strip trailing zero bytes (IDs padded without a length) */
    int role;        /* enum sk_prof_role */
    int rssi_unit;   /* enum sk_rssi_unit */
    bool has_expect;
    int64_t expect; /* identity value the reader must show */
    bool has_value;
    int64_t value; /* constant the host writes (request fields) */
    int line;
};

enum sk_prof_layout {
    SK_LAYOUT_FIXED = 0, /* stride bytes per record */
    SK_LAYOUT_TLV,       /* each record starts with its size */
};

struct sk_prof_records {
    char name[SK_NAME_MAX];
    int block;                   /* where the records are */
    int layout;                  /* enum sk_prof_layout */
    int stride;                  /* bytes per record (fixed) */
    int max;                     /* records at most */
    int size_field, size_adjust; /* tlv: record bytes = value of size_field + size_adjust */
    int type_field;
    int64_t type_ok; /* tlv: only records of this type carry tags */
    int antenna;     /* antenna when the record has no antenna field */
    /* resolved roles (field indices, -1 when absent) */
    int epc, pc, ant, rssi, reads;
    int line;
};

struct sk_prof_snapshot {
    int trigger; /* change counter field, or -1: read the records every poll */
    int count;   /* tag count field, or -1: every slot with a non-empty id is a tag */
    int records;
    bool verify; /* re-read the trigger after the records; torn reads are retried */
};

struct sk_prof_latch {
    int flag; /* a tag is waiting when flag == set */
    int64_t set;
    int records;
    int ack; /* field written to clear the flag (often the flag itself) */
    int64_t ack_value;
};

enum sk_seq_mode {
    SK_SEQ_NONE = 0,
    SK_SEQ_COUNTER, /* loop counter: +1 per command, wrapping in its width, never 0 */
    SK_SEQ_TOGGLE,  /* toggle bit: inverted per command */
};

struct sk_prof_mailbox {
    int request;       /* block written with FC16 */
    int command;       /* request field; its value is the command code */
    int sequence;      /* request field, or -1 */
    int seq_mode;      /* enum sk_seq_mode */
    int response;      /* block polled while waiting */
    int echo;          /* response field that shows the command code when done */
    int echo_sequence; /* response field that shows the sequence when done, or -1 */
    int busy;          /* response field: non-zero while working, or -1 */
    int error;         /* response field: non-zero when the command failed, or -1 */
    int wait_ms, poll_ms;
    int records;
    int count;  /* response field: records in the data window, or -1 */
    int length; /* response field: valid bytes in the data window, or -1 */
    int more;   /* response field: repeat while more > more_above, or -1 */
    int64_t more_above;
    int max_rounds;
    int gate; /* field read before the command; the command is skipped when it is 0, or -1 */
};

struct sk_profile {
    char id[SK_NAME_MAX];
    char vendor[64];
    char model[128];
    char source[192];
    char notes[256];
    int status;  /* enum sk_prof_status */
    int pattern; /* enum sk_prof_pattern */
    int address_base;
    /* [link] */
    bool tcp, rtu;           /* transports the device has */
    int default_unit;        /* the manual's default unit id, 0 when unknown */
    int response_timeout_ms; /* 0: the bus's */
    int max_read_regs, max_write_regs, max_read_bits;
    /* [codec] */
    int byte_order, word_order;

    struct sk_prof_block blocks[SK_PROF_MAX_BLOCKS];
    size_t n_blocks;
    struct sk_prof_field fields[SK_PROF_MAX_FIELDS];
    size_t n_fields;
    struct sk_prof_records records[SK_PROF_MAX_RECORDS];
    size_t n_records;
    struct sk_prof_snapshot snapshot;
    struct sk_prof_latch latch;
    struct sk_prof_mailbox mailbox;
    char path[SK_PATH_MAX];
};

/*
 * Loads and validates a profile file. On success returns 0 and an owned profile in *ret
 * (free with sk_profile_free). On failure returns SK_EPROFILE (or -errno when the file cannot
 * be read) with every problem in diag as "FILE:LINE: [SECTION] KEY: PROBLEM", and leaves *ret
 * untouched.
 */
int sk_profile_load(const char *path, struct sk_diag *diag, struct sk_profile **ret);
/* The same from text in memory (len bytes, borrowed; name stands for the file in messages). */
int sk_profile_load_text(const char *name,
                         const char *text,
                         size_t len,
                         struct sk_diag *diag,
                         struct sk_profile **ret);
void sk_profile_free(struct sk_profile *p);

/*
 * Finds the file of profile `name`: NAME.prof in extra_dir (may be NULL or empty), then in
 * <data dir>/profiles. A name containing '/' is a path and is used as it is. Returns 0 with
 * the path in buf, or -ENOENT (buf then holds the places searched, for the message).
 */
int sk_profile_find(const char *name, const char *extra_dir, char *buf, size_t size);

/*
 * For commands: sk_profile_find() then sk_profile_load(), the problems printed on stderr
 * ("WHO: no profile "NAME" (looked for ...)", or each of the file's problems). Returns 0 with
 * an owned profile in *ret, or the error.
 */
int sk_profile_load_print(const char *who,
                          const char *name,
                          const char *extra_dir,
                          struct sk_profile **ret);

/* Lookups by name; -1 when absent. */
int sk_profile_block(const struct sk_profile *p, const char *name);
int sk_profile_field(const struct sk_profile *p, const char *name);

const char *sk_prof_table_name(int table);
const char *sk_prof_pattern_name(int pattern);
const char *sk_prof_status_name(int status);

/* ---- codec: between registers and field values ------------------------------------------ */

/* Bytes a block occupies as a byte string: 2 per register, 1 per bit. */
size_t sk_prof_block_bytes(const struct sk_prof_block *b);

/* Registers <-> bytes in a block's byte order (AB: high byte first). n registers, 2n bytes. */
void sk_prof_regs_to_bytes(int byte_order, const uint16_t *regs, size_t n, uint8_t *bytes);
void sk_prof_bytes_to_regs(int byte_order, const uint8_t *bytes, size_t n, uint16_t *regs);

/*
 * Reads integer field f from a byte string of len bytes (a block's, or one record's).
 * byte_order is the byte order of the block the bytes came from (for bit fields). Returns 0
 * and the value, or -ERANGE when the field lies outside the bytes.
 */
int sk_prof_get_int(const struct sk_profile *p,
                    const struct sk_prof_field *f,
                    const uint8_t *bytes,
                    size_t len,
                    int64_t *ret_value);
/* Writes integer field f into bytes (the inverse of sk_prof_get_int). */
int sk_prof_put_int(const struct sk_profile *p,
                    const struct sk_prof_field *f,
                    uint8_t *bytes,
                    size_t len,
                    int64_t value);

/* Converts a raw RSSI field value to centi-dBm by the field's unit, saturating to int16. */
int16_t sk_prof_rssi_cdbm(const struct sk_prof_field *f, int64_t raw);
/* And back: the raw value a reader would report for cdbm. */
int64_t sk_prof_rssi_raw(const struct sk_prof_field *f, int16_t cdbm);

#endif
