/* SPDX-License-Identifier: MIT */
/* Internal to the config module: the key table format shared by the loader and the tables. */
#ifndef SK_CONFIG_INTERNAL_H
#define SK_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sk_cfg_type {
    SK_CFG_STRING,
    SK_CFG_INT,
    SK_CFG_FLOAT,
    SK_CFG_BOOL,
    SK_CFG_ENUM,        /* a string from choices[], stored as its index (int) */
    SK_CFG_GROUP,       /* { ... } */
    SK_CFG_LIST,        /* ( {...}, {...} ): elements are groups */
    SK_CFG_FLOAT_ARRAY, /* [ 1, 2.5, ... ] stored in a double[] with a size_t count */
};

/* A custom check: returns NULL when value is fine, else a static or caller-buffer message. */
typedef const char *(*sk_cfg_check_fn)(const char *value, char *buf, size_t size);

/*
 * One key. path is generic: list elements are written "[]" ("readers.[].unit"). offset is
 * relative to the struct that holds the key: the root struct, or the element struct of the
 * nearest enclosing list. For SK_CFG_LIST, offset locates the element pointer in the parent,
 * count_offset the size_t count, elem_size one element; max is the largest count.
 */
struct sk_cfg_key {
    const char *path;
    enum sk_cfg_type type;
    int64_t min, max;           /* INT range, STRING max length, LIST/ARRAY count range */
    double fmin, fmax;          /* FLOAT range */
    const char *def;            /* default as text; NULL: required; "" optional, zero */
    const char *const *choices; /* ENUM names, NULL-terminated */
    const int *choice_values;   /* ENUM stored values (NULL: the index) */
    bool reloadable;
    size_t offset, size; /* where the value goes, and its field size */
    size_t count_offset; /* LIST and ARRAY: the count field */
    size_t elem_size;    /* LIST element size */
    sk_cfg_check_fn check;
    const char *unit; /* "ms", "s", "px" ... for the reference */
    const char *doc;
};

struct sk_cfg_table {
    const char *name; /* "store file", "board profile" */
    const struct sk_cfg_key *keys;
    size_t n_keys;
};

extern const struct sk_cfg_table sk_store_table;
extern const struct sk_cfg_table sk_board_table;

/* Checks shared by tables and loaders. */
const char *config_check_name(const char *value, char *buf, size_t size);
/* The same, or empty. */
const char *config_check_name_or_empty(const char *value, char *buf, size_t size);
const char *config_check_bus_url(const char *value, char *buf, size_t size);

#endif
