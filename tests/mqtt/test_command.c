/* SPDX-License-Identifier: MIT */
/* Command parsing: every command's good forms, and a table of bad ones with exact errors. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "storekeeper/command.h"
#include "storekeeper/currency.h"
#include "storekeeper/error.h"

#define MAX 65536

static struct sk_config *store_cfg(void)
{
    static struct sk_shelf_cfg shelves[2];
    static struct sk_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    snprintf(shelves[0].name, sizeof(shelves[0].name), "shelf-a");
    snprintf(shelves[1].name, sizeof(shelves[1].name), "shelf-b");
    cfg.shelves = shelves;
    cfg.n_shelves = 2;
    return &cfg;
}

static int parse(const char *name, const char *json, struct sk_cmd *cmd, struct sk_cmd_error *err)
{
    return sk_cmd_parse(name, json, json ? strlen(json) : 0, MAX, store_cfg(), cmd, err);
}

static void test_good_forms(void **state)
{
    (void)state;
    struct sk_cmd c;
    struct sk_cmd_error e;

    assert_int_equal(parse("ping", "{}", &c, &e), 0);
    assert_int_equal(c.kind, SK_CMD_PING);
    sk_cmd_clear(&c);
    /* An empty payload is no JSON at all (docs/mqtt.md): not a ping. */
    assert_int_equal(parse("ping", NULL, &c, &e), SK_EMQTT_COMMAND);
    assert_int_equal(e.code, SK_CMD_ERR_MALFORMED);
    assert_int_equal(parse("ping", "", &c, &e), SK_EMQTT_COMMAND);
    assert_int_equal(e.code, SK_CMD_ERR_MALFORMED);
    assert_int_equal(parse("ping", "{\"request_id\":\"r-1\"}", &c, &e), 0);
    assert_string_equal(c.request_id, "r-1");
    sk_cmd_clear(&c);

    assert_int_equal(parse("diag", "{}", &c, &e), 0);
    assert_int_equal(c.u.diag.test, SK_CMD_DIAG_PING);
    sk_cmd_clear(&c);
    assert_int_equal(parse("diag", "{\"test\":\"mqtt\"}", &c, &e), 0);
    assert_int_equal(c.u.diag.test, SK_CMD_DIAG_MQTT);
    sk_cmd_clear(&c);

    assert_int_equal(parse("catalog_upsert",
                           "{\"products\":[{\"sku\":\"cola-330\",\"name\":\"Cola 0,33 l\","
                           "\"price_minor\":150,\"currency\":\"EUR\",\"gtin\":\"4006381333931\","
                           "\"restock_threshold\":2,\"restock_target\":12},"
                           "{\"sku\":\"chips\",\"name\":\"Chips \xc3\xa9pic\xc3\xa9s\"}]}",
                           &c, &e),
                     0);
    assert_int_equal(c.kind, SK_CMD_CATALOG_UPSERT);
    assert_int_equal(c.u.catalog.n, 2);
    assert_string_equal(c.u.catalog.products[0].sku, "cola-330");
    assert_int_equal(c.u.catalog.products[0].price_minor, 150);
    assert_string_equal(c.u.catalog.products[0].currency, "EUR");
    assert_string_equal(c.u.catalog.products[0].gtin, "4006381333931");
    assert_int_equal(c.u.catalog.products[0].restock_threshold, 2);
    assert_int_equal(c.u.catalog.products[0].restock_target, 12);
    assert_int_equal(c.u.catalog.products[1].price_minor, -1);
    assert_int_equal(c.u.catalog.products[1].restock_threshold, -1);
    sk_cmd_clear(&c);

    assert_int_equal(parse("session_bind",
                           "{\"account_token\":\"acct_0123456789\",\"next_entry\":true}", &c, &e),
                     0);
    assert_true(c.u.bind.next_entry);
    assert_int_equal(c.u.bind.expires_s, 300);
    assert_int_equal(c.u.bind.persons, 1);
    sk_cmd_clear(&c);
    assert_int_equal(parse("session_bind",
                           "{\"account_token\":\"acct_0123456789\",\"next_entry\":true,"
                           "\"persons\":3}",
                           &c, &e),
                     0);
    assert_int_equal(c.u.bind.persons, 3);
    sk_cmd_clear(&c);
    assert_int_equal(parse("session_bind",
                           "{\"account_token\":\"acct_0123456789\",\"session_id\":\"s-42\","
                           "\"expires_s\":60,\"identity\":\"cloud\"}",
                           &c, &e),
                     0);
    assert_false(c.u.bind.next_entry);
    assert_string_equal(c.u.bind.session_id, "s-42");
    assert_string_equal(c.identity, "cloud");
    sk_cmd_clear(&c);

    assert_int_equal(parse("restock_done", "{\"shelves\":[\"shelf-a\",\"shelf-b\"]}", &c, &e), 0);
    assert_int_equal(c.u.restock.n_shelves, 2);
    assert_string_equal(c.u.restock.shelves[1], "shelf-b");
    sk_cmd_clear(&c);
    assert_int_equal(parse("restock_done", "{\"all\":true,\"restock_id\":\"rs-9\"}", &c, &e), 0);
    assert_true(c.u.restock.all);
    sk_cmd_clear(&c);

    assert_int_equal(parse("config_reload", "{}", &c, &e), 0);
    assert_int_equal(c.kind, SK_CMD_CONFIG_RELOAD);
    assert_true(sk_cmd_changes_state(c.kind));
    sk_cmd_clear(&c);
    assert_int_equal(parse("rebirth", "  {}  ", &c, &e), 0);
    assert_false(sk_cmd_changes_state(c.kind));
    sk_cmd_clear(&c);

    assert_int_equal(parse("outbox_resend", "{\"from_seq\":120,\"to_seq\":180}", &c, &e), 0);
    assert_int_equal(c.kind, SK_CMD_OUTBOX_RESEND);
    assert_int_equal(c.u.resend.from_seq, 120);
    assert_int_equal(c.u.resend.to_seq, 180);
    assert_string_equal(c.u.resend.ledger_id, "");
    assert_true(sk_cmd_changes_state(c.kind));
    sk_cmd_clear(&c);
    assert_int_equal(parse("outbox_resend",
                           "{\"from_seq\":7,\"to_seq\":7,\"ledger_id\":\"9f0c6a7e-2b1d\","
                           "\"request_id\":\"gap-1\"}",
                           &c, &e),
                     0);
    assert_string_equal(c.u.resend.ledger_id, "9f0c6a7e-2b1d");
    sk_cmd_clear(&c);
    /* mqtt.resend_max bounds the range; without a configuration the hard bound does. */
    struct sk_config *cfg = store_cfg();
    cfg->mqtt.resend_max = 10;
    const char *ten = "{\"from_seq\":1,\"to_seq\":10}";
    assert_int_equal(sk_cmd_parse("outbox_resend", ten, strlen(ten), MAX, cfg, &c, &e), 0);
    sk_cmd_clear(&c);
    const char *eleven = "{\"from_seq\":1,\"to_seq\":11}";
    assert_int_equal(sk_cmd_parse("outbox_resend", eleven, strlen(eleven), MAX, cfg, &c, &e),
                     SK_EMQTT_COMMAND);
    assert_string_equal(e.field, "to_seq");
    assert_string_equal(e.message, "the range names 11 events; at most 10 per command "
                                   "(mqtt.resend_max): ask in parts");
    const char *big = "{\"from_seq\":1,\"to_seq\":100000}";
    assert_int_equal(sk_cmd_parse("outbox_resend", big, strlen(big), MAX, NULL, &c, &e), 0);
    sk_cmd_clear(&c);
}

/* Every command's name is in the list that messages give (one list, kept by hand). */
static void test_names_listed(void **state)
{
    (void)state;
    for (int k = SK_CMD_NONE + 1; k < SK_CMD_KIND_COUNT; k++) {
        const char *n = sk_cmd_name((enum sk_cmd_kind)k);
        assert_non_null(n);
        assert_non_null(strstr(sk_cmd_names(), n));
    }
}

struct bad {
    const char *name;
    const char *json;
    enum sk_cmd_error_code code;
    const char *field;
    const char *message;
};

static const struct bad bad[] = {
        {"launch", "{}", SK_CMD_ERR_UNKNOWN, "",
         "unknown command \"launch\"; known: ping, diag, rebirth, catalog_upsert, session_bind, "
         "restock_done, config_reload, outbox_resend"},
        {"outbox_resend", "{}", SK_CMD_ERR_INVALID, "from_seq", "from_seq is required"},
        {"outbox_resend", "{\"from_seq\":5}", SK_CMD_ERR_INVALID, "to_seq", "to_seq is required"},
        {"outbox_resend", "{\"from_seq\":0,\"to_seq\":5}", SK_CMD_ERR_INVALID, "from_seq",
         "from_seq is out of range 1..9007199254740992"},
        {"outbox_resend", "{\"from_seq\":-3,\"to_seq\":5}", SK_CMD_ERR_INVALID, "from_seq",
         "from_seq is out of range 1..9007199254740992"},
        {"outbox_resend", "{\"from_seq\":1.5,\"to_seq\":5}", SK_CMD_ERR_INVALID, "from_seq",
         "from_seq must be an integer"},
        {"outbox_resend", "{\"from_seq\":\"1\",\"to_seq\":5}", SK_CMD_ERR_INVALID, "from_seq",
         "from_seq must be an integer"},
        {"outbox_resend", "{\"from_seq\":9,\"to_seq\":5}", SK_CMD_ERR_INVALID, "to_seq",
         "to_seq (5) is below from_seq (9)"},
        {"outbox_resend", "{\"from_seq\":1,\"to_seq\":100001}", SK_CMD_ERR_INVALID, "to_seq",
         "the range names 100001 events; at most 100000 per command (mqtt.resend_max): ask in "
         "parts"},
        {"outbox_resend", "{\"from_seq\":1,\"to_seq\":2,\"ledger_id\":\"a b\"}", SK_CMD_ERR_INVALID,
         "ledger_id", "ledger_id may only contain letters, digits, '-', '_', '.' and ':'"},
        {"outbox_resend", "{\"from_seq\":1,\"to_seq\":2,\"form_seq\":1}", SK_CMD_ERR_INVALID,
         "form_seq",
         "unknown field \"form_seq\"; this command takes: request_id, identity, from_seq, to_seq, "
         "ledger_id"},
        {"ping", "{", SK_CMD_ERR_MALFORMED, "",
         "payload is not valid JSON: it ends inside an object, array or string (1 bytes; cut "
         "off?)"},
        {"ping", "{\"a\":\"x}", SK_CMD_ERR_MALFORMED, "",
         "payload is not valid JSON: it ends inside an object, array or string (8 bytes; cut "
         "off?)"},
        {"ping", "{\"a\":tru}", SK_CMD_ERR_MALFORMED, "",
         "payload is not valid JSON (error at byte 5 of 9)"},
        {"ping", "{\"a\":1} x", SK_CMD_ERR_MALFORMED, "",
         "payload is not valid JSON (error at byte 8 of 9)"},
        {"ping", "[1,2]", SK_CMD_ERR_MALFORMED, "", "payload must be a JSON object"},
        {"ping", "\"ping\"", SK_CMD_ERR_MALFORMED, "", "payload must be a JSON object"},
        {"ping", "{\"extra\":1}", SK_CMD_ERR_INVALID, "extra",
         "unknown field \"extra\"; this command takes: request_id, identity"},
        {"ping", "{\"request_id\":7}", SK_CMD_ERR_INVALID, "request_id",
         "request_id must be a string"},
        {"ping", "{\"request_id\":\"has space\"}", SK_CMD_ERR_INVALID, "request_id",
         "request_id may only contain printable ASCII without spaces, quotes or backslashes"},
        {"diag", "{\"test\":\"fuel\"}", SK_CMD_ERR_INVALID, "test",
         "test \"fuel\" does not exist; one of: ping, mqtt, core, health, ledger"},
        {"catalog_upsert", "{}", SK_CMD_ERR_INVALID, "products", "products is required"},
        {"catalog_upsert", "{\"products\":{}}", SK_CMD_ERR_INVALID, "products",
         "products must be an array of objects"},
        {"catalog_upsert", "{\"products\":[]}", SK_CMD_ERR_INVALID, "products",
         "products has 0 entries; 1..500 per command"},
        {"catalog_upsert", "{\"products\":[7]}", SK_CMD_ERR_INVALID, "products[0]",
         "products[0] must be an object"},
        {"catalog_upsert", "{\"products\":[{\"sku\":\"a\",\"name\":\"A\"},{\"name\":\"B\"}]}",
         SK_CMD_ERR_INVALID, "products[1].sku", "products[1].sku is required"},
        {"catalog_upsert", "{\"products\":[{\"sku\":\"a:b\",\"name\":\"A\"}]}", SK_CMD_ERR_INVALID,
         "products[0].sku", "products[0].sku may only contain letters, digits, '-', '_' and '.'"},
        {"catalog_upsert", "{\"products\":[{\"sku\":\"a\",\"name\":\"A\",\"price_minor\":-5}]}",
         SK_CMD_ERR_INVALID, "products[0].price_minor",
         "products[0].price_minor is out of range 0..1000000000"},
        {"catalog_upsert", "{\"products\":[{\"sku\":\"a\",\"name\":\"A\",\"price_minor\":1.5}]}",
         SK_CMD_ERR_INVALID, "products[0].price_minor",
         "products[0].price_minor must be an integer"},
        {"catalog_upsert", "{\"products\":[{\"sku\":\"a\",\"name\":\"A\",\"price_minor\":100}]}",
         SK_CMD_ERR_INVALID, "products[0].currency",
         "price_minor and currency go together: give both or neither"},
        {"catalog_upsert",
         "{\"products\":[{\"sku\":\"a\",\"name\":\"A\",\"gtin\":\"4006381333932\"}]}",
         SK_CMD_ERR_INVALID, "products[0].gtin",
         "products[0].gtin \"4006381333932\": the check digit should be 1"},
        {"catalog_upsert", "{\"products\":[{\"sku\":\"a\",\"name\":\"A\",\"currency\":\"eur\"}]}",
         SK_CMD_ERR_INVALID, "products[0].currency",
         "products[0].currency must be upper-case letters"},
        {"catalog_upsert",
         "{\"products\":[{\"sku\":\"a\",\"name\":\"A\",\"price_minor\":1,\"currency\":\"ZZZ\"}]}",
         SK_CMD_ERR_INVALID, "products[0].currency",
         "products[0].currency \"ZZZ\" is not an ISO 4217 currency code in use (like EUR)"},
        {"catalog_upsert",
         "{\"products\":[{\"sku\":\"a\",\"name\":\"A\",\"gtin\":\"1234567890\"}]}",
         SK_CMD_ERR_INVALID, "products[0].gtin",
         "products[0].gtin must have 8, 12, 13 or 14 digits"},
        {"catalog_upsert", "{\"products\":[{\"sku\":\"a\",\"name\":\"\\u0001\"}]}",
         SK_CMD_ERR_INVALID, "products[0].name", "products[0].name contains control characters"},
        /* Invalid UTF-8 anywhere is refused before parsing: the reply echoes field names. */
        {"catalog_upsert", "{\"products\":[{\"sku\":\"a\",\"name\":\"\xff\"}]}",
         SK_CMD_ERR_MALFORMED, "", "payload is not valid JSON: byte 32 of 37 is not valid UTF-8"},
        {"ping", "{\"reques\x8f\xa0id\":1}", SK_CMD_ERR_MALFORMED, "",
         "payload is not valid JSON: byte 8 of 16 is not valid UTF-8"},
        {"ping", "{\"a\":\"\xc3\"}", SK_CMD_ERR_MALFORMED, "",
         "payload is not valid JSON: byte 6 of 9 is not valid UTF-8"},
        {"ping", "{\"a\":\"\xed\xa0\x80\"}", SK_CMD_ERR_MALFORMED, "",
         "payload is not valid JSON: byte 6 of 11 is not valid UTF-8"},
        {"catalog_upsert",
         "{\"products\":[{\"sku\":\"a\",\"name\":\"A\",\"restock_threshold\":5,"
         "\"restock_target\":2}]}",
         SK_CMD_ERR_INVALID, "products[0].restock_threshold",
         "products[0].restock_threshold (5) is above restock_target (2)"},
        {"catalog_upsert",
         "{\"products\":[{\"sku\":\"a\",\"name\":\"A\"},{\"sku\":\"a\",\"name\":\"B\"}]}",
         SK_CMD_ERR_INVALID, "products[1].sku", "products[1].sku \"a\" repeats products[0]"},
        {"catalog_upsert", "{\"products\":[{\"sku\":\"a\",\"name\":\"A\",\"colour\":\"red\"}]}",
         SK_CMD_ERR_INVALID, "products[0].colour",
         "unknown field \"products[0].colour\"; this command takes: sku, name, price_minor, "
         "currency, gtin, restock_threshold, restock_target"},
        {"session_bind", "{}", SK_CMD_ERR_INVALID, "account_token", "account_token is required"},
        {"session_bind", "{\"account_token\":\"short\",\"next_entry\":true}", SK_CMD_ERR_INVALID,
         "account_token", "account_token must have at least 8 characters"},
        {"session_bind", "{\"account_token\":\"acct_0123456789\"}", SK_CMD_ERR_INVALID,
         "session_id", "give exactly one target: session_id, or next_entry: true"},
        {"session_bind",
         "{\"account_token\":\"acct_0123456789\",\"session_id\":\"s\",\"next_entry\":true}",
         SK_CMD_ERR_INVALID, "next_entry",
         "give exactly one target: session_id, or next_entry: true"},
        {"session_bind", "{\"account_token\":\"acct_0123456789\",\"next_entry\":\"yes\"}",
         SK_CMD_ERR_INVALID, "next_entry", "next_entry must be true or false"},
        {"session_bind",
         "{\"account_token\":\"acct_0123456789\",\"next_entry\":true,\"expires_s\":5}",
         SK_CMD_ERR_INVALID, "expires_s", "expires_s is out of range 10..3600"},
        {"session_bind", "{\"sesion_id\":\"x\"}", SK_CMD_ERR_INVALID, "sesion_id",
         "unknown field \"sesion_id\"; this command takes: request_id, identity, account_token, "
         "session_id, next_entry, expires_s, persons"},
        {"session_bind",
         "{\"account_token\":\"acct_0123456789\",\"next_entry\":true,\"persons\":9}",
         SK_CMD_ERR_INVALID, "persons", "persons is out of range 1..8"},
        {"session_bind",
         "{\"account_token\":\"acct_0123456789\",\"session_id\":\"s\",\"persons\":2}",
         SK_CMD_ERR_INVALID, "persons", "persons is for next_entry: a session is one shopper"},
        {"restock_done", "{}", SK_CMD_ERR_INVALID, "shelves",
         "give exactly one of: shelves (a non-empty list), or all: true"},
        {"restock_done", "{\"shelves\":[\"shelf-a\"],\"all\":true}", SK_CMD_ERR_INVALID, "all",
         "give exactly one of: shelves (a non-empty list), or all: true"},
        {"restock_done", "{\"shelves\":\"shelf-a\"}", SK_CMD_ERR_INVALID, "shelves",
         "shelves must be an array of shelf names"},
        {"restock_done", "{\"shelves\":[\"shelf-z\"]}", SK_CMD_ERR_INVALID, "shelves[0]",
         "shelves[0]: this store has no shelf named \"shelf-z\""},
        {"restock_done", "{\"shelves\":[\"shelf-a\",\"shelf-a\"]}", SK_CMD_ERR_INVALID,
         "shelves[1]", "shelves[1] \"shelf-a\" repeats shelves[0]"},
        {"restock_done", "{\"shelves\":[3]}", SK_CMD_ERR_INVALID, "shelves[0]",
         "shelves[0] must be a shelf name"},
        {"config_reload", "{\"path\":\"/etc/passwd\"}", SK_CMD_ERR_INVALID, "path",
         "unknown field \"path\"; this command takes: request_id, identity"},
        /* A NUL inside a string would cut it short without a word (cJSON ends the C string). */
        {"session_bind", "{\"account_token\":\"acct_123\\u0000456\",\"next_entry\":true}",
         SK_CMD_ERR_INVALID, "",
         "a string holds \\u0000 (at byte 26): no field may contain a NUL character"},
        {"ping", "{\"request_id\":\"r\\u0000\"}", SK_CMD_ERR_INVALID, "",
         "a string holds \\u0000 (at byte 16): no field may contain a NUL character"},
        /* Duplicate keys: which one counts would be a matter of parser. */
        {"session_bind",
         "{\"account_token\":\"acct_0123456789\",\"next_entry\":true,"
         "\"account_token\":\"acct_9999999999\"}",
         SK_CMD_ERR_INVALID, "account_token", "account_token appears twice in its object"},
        {"catalog_upsert",
         "{\"products\":[{\"sku\":\"a\",\"name\":\"A\"},{\"sku\":\"b\",\"name\":\"B\",\"sku\":"
         "\"c\"}]}",
         SK_CMD_ERR_INVALID, "products[1].sku", "products[1].sku appears twice in its object"},
};

static void test_bad_forms(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct sk_cmd c;
        struct sk_cmd_error e;
        int r = parse(bad[i].name, bad[i].json, &c, &e);
        if (r != SK_EMQTT_COMMAND || e.code != bad[i].code || strcmp(e.field, bad[i].field) != 0 ||
            strcmp(e.message, bad[i].message) != 0) {
            fail_msg("case %zu (%s %s): rc %d code %s field \"%s\" message \"%s\"", i, bad[i].name,
                     bad[i].json, r, sk_cmd_error_name(e.code), e.field, e.message);
        }
        assert_null(c.kind == SK_CMD_CATALOG_UPSERT ? c.u.catalog.products : NULL);
        sk_cmd_clear(&c);
    }
}

static void test_limits(void **state)
{
    (void)state;
    struct sk_cmd c;
    struct sk_cmd_error e;
    /* Size: checked before parsing. */
    char big[400];
    memset(big, ' ', sizeof(big));
    big[0] = '{';
    big[sizeof(big) - 1] = '}';
    assert_int_equal(sk_cmd_parse("ping", big, sizeof(big), 300, NULL, &c, &e), SK_EMQTT_COMMAND);
    assert_int_equal(e.code, SK_CMD_ERR_TOO_LARGE);
    assert_string_equal(e.message, "payload is 400 bytes; mqtt.command_max_bytes allows 300");

    /* Deep nesting does not crash and is malformed (cJSON's nesting limit) or invalid. */
    size_t depth = 5000;
    char *deep = malloc(2 * depth + 1);
    assert_non_null(deep);
    for (size_t i = 0; i < depth; i++) {
        deep[i] = '[';
        deep[2 * depth - 1 - i] = ']';
    }
    deep[2 * depth] = '\0';
    assert_int_equal(sk_cmd_parse("ping", deep, 2 * depth, MAX, NULL, &c, &e), SK_EMQTT_COMMAND);
    assert_int_equal(e.code, SK_CMD_ERR_MALFORMED);
    free(deep);

    /* 501 products: too many. */
    size_t cap = 64 + 501 * 32;
    char *many = malloc(cap);
    assert_non_null(many);
    size_t used = (size_t)snprintf(many, cap, "{\"products\":[");
    for (int i = 0; i < 501; i++) {
        used += (size_t)snprintf(many + used, cap - used, "%s{\"sku\":\"s%d\",\"name\":\"n\"}",
                                 i ? "," : "", i);
    }
    snprintf(many + used, cap - used, "]}");
    assert_int_equal(sk_cmd_parse("catalog_upsert", many, strlen(many), 1 << 20, NULL, &c, &e),
                     SK_EMQTT_COMMAND);
    assert_string_equal(e.message, "products has 501 entries; 1..500 per command");
    free(many);

    /* A request id survives a failed parse, so the error reply can echo it. */
    assert_int_equal(parse("session_bind", "{\"request_id\":\"abc\"}", &c, &e), SK_EMQTT_COMMAND);
    assert_string_equal(c.request_id, "abc");
    assert_int_equal(c.kind, SK_CMD_SESSION_BIND);

    /* Embedded NUL inside the given length: the JSON ends early, the rest is garbage. */
    assert_int_equal(sk_cmd_parse("ping", "{}\0{}", 5, MAX, NULL, &c, &e), SK_EMQTT_COMMAND);
    assert_int_equal(e.code, SK_CMD_ERR_MALFORMED);
}

/* Random bytes and random mutations of good payloads never crash and always say why. */
static void test_random_input(void **state)
{
    (void)state;
    const char *seed_env = getenv("SK_TEST_SEED");
    unsigned seed = seed_env ? (unsigned)strtoul(seed_env, NULL, 0) : 12345u;
    printf("seed %u (set SK_TEST_SEED to repeat)\n", seed);
    srand(seed);
    static const char *const goods[][2] = {
            {"catalog_upsert", "{\"products\":[{\"sku\":\"a\",\"name\":\"A\",\"price_minor\":1,"
                               "\"currency\":\"EUR\"}]}"},
            {"session_bind", "{\"account_token\":\"acct_0123456789\",\"next_entry\":true}"},
            {"restock_done", "{\"shelves\":[\"shelf-a\"]}"},
    };
    char buf[256];
    for (int i = 0; i < 20000; i++) {
        int g = rand() % 3;
        size_t len = strlen(goods[g][1]);
        memcpy(buf, goods[g][1], len);
        int flips = 1 + rand() % 4;
        for (int f = 0; f < flips; f++) {
            buf[rand() % len] = (char)(rand() % 256);
        }
        struct sk_cmd c;
        struct sk_cmd_error e;
        int r = sk_cmd_parse(goods[g][0], buf, len, MAX, store_cfg(), &c, &e);
        if (r < 0) {
            assert_true(e.code != SK_CMD_ERR_NONE);
            assert_true(e.message[0] != '\0');
        }
        sk_cmd_clear(&c);
    }
}

/* Strict RFC 3629 UTF-8, as a cloud consumer decodes the reply. */
static bool strict_utf8(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    while (*s) {
        size_t n = *s < 0x80 ? 0 : (*s & 0xE0) == 0xC0 ? 1 : (*s & 0xF0) == 0xE0 ? 2 : 3;
        for (size_t i = 1; i <= n; i++) {
            if ((s[i] & 0xC0) != 0x80) {
                return false;
            }
        }
        s += n + 1;
    }
    return true;
}

/* Messages and field paths are cut to their buffers; the cut never splits a character
 * (found by fuzz_command: the reply would not be valid UTF-8). */
static void test_truncation_keeps_utf8(void **state)
{
    (void)state;
    char payload[400];
    for (int shift = 0; shift < 3; shift++) {
        int n = snprintf(payload, sizeof(payload), "{\"%.*s", shift, "xx");
        for (int i = 0; i < 60; i++) {
            n += snprintf(payload + n, sizeof(payload) - (size_t)n, "\xc3\xa9");
        }
        snprintf(payload + n, sizeof(payload) - (size_t)n, "\":1}");
        struct sk_cmd c;
        struct sk_cmd_error e;
        assert_int_equal(parse("ping", payload, &c, &e), SK_EMQTT_COMMAND);
        assert_int_equal(e.code, SK_CMD_ERR_INVALID);
        assert_true(strlen(e.field) > 0);
        assert_true(strict_utf8(e.field));
        assert_true(strict_utf8(e.message));
        sk_cmd_clear(&c);
    }
}

static uint64_t fp(const char *name, const char *json)
{
    return sk_cmd_fingerprint(name, json, strlen(json));
}

/* A repeat is recognised however it is serialised; another command under the same request id
 * is not taken for one. */
static void test_fingerprint(void **state)
{
    (void)state;
    uint64_t a = fp("restock_done", "{\"request_id\":\"r-1\",\"shelves\":[\"s1\",\"s2\"],"
                                    "\"restock_id\":\"x\"}");
    assert_true(a == fp("restock_done", " { \"restock_id\" : \"x\", \"shelves\" : [\"s1\", \"s2\"],"
                                        " \"request_id\":\"r-1\" } "));
    assert_true(a == fp("restock_done", "{\"restock_id\":\"x\",\"shelves\":[\"s1\",\"s2\"],"
                                        "\"request_id\":\"r-2\",\"identity\":\"billing\"}"));
    assert_true(a != fp("restock_done", "{\"restock_id\":\"x\",\"shelves\":[\"s2\",\"s1\"]}"));
    assert_true(a != fp("restock_done", "{\"restock_id\":\"y\",\"shelves\":[\"s1\",\"s2\"]}"));
    assert_true(a != fp("session_bind", "{\"restock_id\":\"x\",\"shelves\":[\"s1\",\"s2\"]}"));
    /* Nested objects are sorted too. */
    assert_true(fp("catalog_upsert", "{\"products\":[{\"sku\":\"a\",\"name\":\"A\"}]}") ==
                fp("catalog_upsert", "{\"products\":[{\"name\":\"A\",\"sku\":\"a\"}]}"));
    assert_true(fp("catalog_upsert", "{\"products\":[{\"sku\":\"a\",\"name\":\"A\"}]}") !=
                fp("catalog_upsert", "{\"products\":[{\"sku\":\"a\",\"name\":\"B\"}]}"));
    /* Not JSON: the bytes. */
    assert_true(fp("ping", "{x") != fp("ping", "{y"));
}

/* The outcome as the ledger keeps it comes back as it was. */
static void test_result_json(void **state)
{
    (void)state;
    struct sk_cmd_result r = {.status = SK_CMD_QUEUED, .count = 3, .expires_wall_us = 1234567};
    snprintf(r.detail, sizeof(r.detail), "held for the \"next\" shopper");
    char *text = sk_cmd_result_to_json(&r);
    assert_non_null(text);
    struct sk_cmd_result back = {.repeat = true, .first_wall_us = 99};
    assert_int_equal(sk_cmd_result_from_json(text, &back), 0);
    free(text);
    assert_int_equal(back.status, SK_CMD_QUEUED);
    assert_int_equal(back.count, 3);
    assert_int_equal(back.expires_wall_us, 1234567);
    assert_string_equal(back.detail, r.detail);
    assert_true(back.repeat);
    assert_int_equal(back.first_wall_us, 99);
    assert_int_equal(back.missing, 0); /* serialised as 0: the initialiser left it there */

    /* outbox_resend's missing count comes back; a record without one (older) reads as -1. */
    struct sk_cmd_result m = {.status = SK_CMD_DONE, .count = 40, .missing = 7};
    text = sk_cmd_result_to_json(&m);
    assert_int_equal(sk_cmd_result_from_json(text, &back), 0);
    free(text);
    assert_int_equal(back.missing, 7);
    assert_int_equal(sk_cmd_result_from_json("{\"status\":\"done\",\"detail\":\"\",\"count\":1,"
                                             "\"expires_wall_us\":0}",
                                             &back),
                     0);
    assert_int_equal(back.missing, -1);

    struct sk_cmd_result e = {.status = SK_CMD_REJECTED, .count = -1};
    sk_cmd_fail(&e.error, SK_CMD_ERR_INVALID, "session_id", "no open session has this id");
    text = sk_cmd_result_to_json(&e);
    memset(&back, 0, sizeof(back));
    assert_int_equal(sk_cmd_result_from_json(text, &back), 0);
    free(text);
    assert_int_equal(back.status, SK_CMD_REJECTED);
    assert_int_equal(back.error.code, SK_CMD_ERR_INVALID);
    assert_string_equal(back.error.field, "session_id");
    assert_string_equal(back.error.message, "no open session has this id");
    assert_int_equal(sk_cmd_result_from_json("{\"status\":1}", &back), -EINVAL);
    assert_int_equal(sk_cmd_result_from_json("nonsense", &back), -EINVAL);
    assert_int_equal(sk_cmd_result_from_json(NULL, &back), -EINVAL);
}

/* One ISO 4217 table for imports, commands and printed prices. */
static void test_currency(void **state)
{
    (void)state;

    static const struct {
        const char *code;
        int exponent;
    } cases[] = {{"EUR", 2},  {"USD", 2},  {"JPY", 0},  {"XOF", 0},  {"KWD", 3}, {"TND", 3},
                 {"CHF", 2},  {"ZWG", 2},  {"ZZZ", -1}, {"eur", -1}, {"EU", -1}, {"EURO", -1},
                 {"XAU", -1}, {"XTS", -1}, {"HRK", -1}, {"", -1},    {NULL, -1}};

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(sk_currency_exponent(cases[i].code), cases[i].exponent);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_truncation_keeps_utf8),
            cmocka_unit_test(test_good_forms),
            cmocka_unit_test(test_names_listed),
            cmocka_unit_test(test_bad_forms),
            cmocka_unit_test(test_limits),
            cmocka_unit_test(test_random_input),
            cmocka_unit_test(test_fingerprint),
            cmocka_unit_test(test_currency),
            cmocka_unit_test(test_result_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
