/* SPDX-License-Identifier: MIT */
/* MQTT helpers: the credentials file (syntax, permissions, limits), topics, stamping, UUIDs. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>

#include <cmocka.h>

#include "../unit/test_helpers.h"
#include "mqtt_internal.h"
#include "storekeeper/config.h"
#include "storekeeper/error.h"
#include "storekeeper/mqtt.h"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    sk_test_tmpdir(dir, sizeof(dir));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sk_test_rmdir(dir);
    return 0;
}

static int load(const char *text, mode_t mode, struct sk_credentials *c, char *err)
{
    char path[128];
    sk_test_write(dir, "creds", text, path, sizeof(path));
    chmod(path, mode);
    return sk_credentials_load(path, c, err, 256);
}

static void test_credentials(void **state)
{
    (void)state;
    struct sk_credentials c;
    char err[256];
    memset(&c, 0x5a, sizeof(c));

    assert_int_equal(
            load("# broker account\nusername = store-7\n\npassword =  s3cr et \n", 0600, &c, err),
            0);
    assert_string_equal(c.username, "store-7");
    assert_string_equal(c.password, "s3cr et");
    sk_credentials_wipe(&c);
    assert_int_equal(c.password[0], 0);

    assert_int_equal(load("username=u\n", 0400, &c, err), 0);
    assert_string_equal(c.password, "");

    struct {
        const char *text;
        mode_t mode;
        const char *msg; /* after "<dir>/creds" */
    } bad[] = {
            {"username = u\npassword = p\n", 0644,
             ": holds a password but others may access it (mode 0644); chmod 0640 it with group "
             "storekeeper and owner root, or 0600"},
            {"username = u\npassword = p\n", 0660,
             ": holds a password but others may access it or its group may change it (mode 0660); "
             "chmod 0640 it with group storekeeper and owner root, or 0600"},
            {"username = u\npassword = p\n", 0604,
             ": holds a password but others may access it (mode 0604); chmod 0640 it with group "
             "storekeeper and owner root, or 0600"},
            {"password = p\n", 0600, ": no `username = NAME` line"},
            {"username u\n", 0600, ":1: expected `username = NAME` or `password = SECRET`"},
            {"\n\nuser = u\n", 0600, ":3: unknown key \"user\" (username, password)"},
            {"username = a\nusername = b\n", 0600, ":2: username is given twice"},
            {"username =\n", 0600, ":1: username is empty"},
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&c, 0x5a, sizeof(c));
        struct sk_credentials before = c;
        assert_true(load(bad[i].text, bad[i].mode, &c, err) < 0);
        char want[256];
        snprintf(want, sizeof(want), "%s/creds%s", dir, bad[i].msg);
        assert_string_equal(err, want);
        assert_memory_equal(&c, &before, sizeof(c)); /* untouched on failure */
        /* The secret never appears in a message. */
        assert_null(strstr(err, "= p"));
    }

    char longpw[400] = "username = u\npassword = ";
    memset(longpw + strlen(longpw), 'x', 300);
    longpw[sizeof(longpw) - 2] = '\n';
    longpw[sizeof(longpw) - 1] = '\0';
    assert_int_equal(load(longpw, 0600, &c, err), SK_ECONFIG);
    assert_non_null(strstr(err, ":2: password is longer than 255 bytes"));

    char path[128];
    snprintf(path, sizeof(path), "%s/missing", dir);
    assert_true(sk_credentials_load(path, &c, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "cannot open: No such file or directory"));
}

static void test_credentials_in_config(void **state)
{
    (void)state;
    char creds[128], store[128];
    sk_test_write(dir, "broker.creds", "username = u\npassword\n", creds, sizeof(creds));
    chmod(creds, 0600);
    sk_test_write(dir, "store.cfg",
                  "store_id = \"s1\";\ndevice_id = \"d1\";\nboard = \"sim\";\n"
                  "mqtt = { credentials_file = \"broker.creds\"; };\n",
                  store, sizeof(store));
    struct sk_diag d;
    sk_diag_init(&d);
    struct sk_config_opts o = {.data_dir = SK_TEST_DATADIR};
    struct sk_config *cfg = NULL;
    assert_int_equal(sk_config_load(store, &o, &d, &cfg), SK_ECONFIG);
    assert_int_equal(d.n, 1);
    char want[512];
    snprintf(want, sizeof(want),
             "%s:4: mqtt.credentials_file: %s:2: expected `username = NAME` or `password = "
             "SECRET`",
             store, creds);
    assert_string_equal(d.lines[0], want);
    sk_diag_free(&d);
}

static void test_topics_and_ids(void **state)
{
    (void)state;
    struct sk_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    snprintf(cfg.store_id, sizeof(cfg.store_id), "berlin-3");
    snprintf(cfg.device_id, sizeof(cfg.device_id), "aisle-1");
    char t[SK_TOPIC_MAX];
    assert_int_equal(sk_mqtt_topic(&cfg, "event/checkout", t, sizeof(t)), 46);
    assert_string_equal(t, "storekeeper/v1/berlin-3/aisle-1/event/checkout");
    char small[10];
    assert_int_equal(sk_mqtt_topic(&cfg, "status", small, sizeof(small)), -ENAMETOOLONG);

    char id[128];
    sk_mqtt_client_id(&cfg, NULL, id, sizeof(id));
    assert_string_equal(id, "berlin-3-aisle-1");
    sk_mqtt_client_id(&cfg, "diag", id, sizeof(id));
    assert_string_equal(id, "berlin-3-aisle-1-diag");
    snprintf(cfg.mqtt.client_id, sizeof(cfg.mqtt.client_id), "edge42");
    sk_mqtt_client_id(&cfg, NULL, id, sizeof(id));
    assert_string_equal(id, "edge42");

    char a[37], b[37];
    sk_mqtt_uuid(a);
    sk_mqtt_uuid(b);
    assert_int_equal(strlen(a), 36);
    assert_string_not_equal(a, b);
    assert_int_equal(a[14], '4');
    assert_true(strchr("89ab", a[19]) != NULL);
}

static void test_stamp(void **state)
{
    (void)state;
    char *out;
    size_t len;
    int64_t t = 1700000000123000; /* 2023-11-14T22:13:20.123Z */
    assert_int_equal(sk_mqtt_stamp("{\"a\":1}\n", 8, t, &out, &len), 0);
    assert_string_equal(out, "{\"a\":1,\"publish_time\":\"2023-11-14T22:13:20.123Z\"}");
    assert_int_equal(len, strlen(out));
    free(out);
    assert_int_equal(sk_mqtt_stamp(" { } ", 5, t, &out, &len), 0);
    assert_string_equal(out, "{\"publish_time\":\"2023-11-14T22:13:20.123Z\"}");
    free(out);
    assert_int_equal(sk_mqtt_stamp("[1]", 3, t, &out, &len), -EINVAL);
    assert_int_equal(sk_mqtt_stamp("{", 1, t, &out, &len), -EINVAL);
    assert_int_equal(sk_mqtt_stamp("", 0, t, &out, &len), -EINVAL);
}

/* Details travel in observations of SK_TEXT_MAX bytes: a long OpenSSL message is cut between
 * words, marked "...", never in the middle of one. */
static void test_detail_cut_between_words(void **state)
{
    (void)state;
    char d[SK_TEXT_MAX];
    mqtt_detailf(d, sizeof(d), "TLS handshake failed: %s",
                 "OpenSSL Error[0]: error:0A00010B:SSL routines::wrong version number while "
                 "talking to the broker at the port it listens on without TLS");
    assert_true(strlen(d) < sizeof(d));
    size_t n = strlen(d);
    assert_string_equal(d + n - 3, "...");
    /* the word before "..." is whole: it is in the message followed by a space */
    char *last = strrchr(d, ' ');
    assert_non_null(last);
    char word[64];
    snprintf(word, sizeof(word), "%.*s ", (int)(n - 3 - (size_t)(last + 1 - d)), last + 1);
    assert_non_null(strstr("OpenSSL Error[0]: error:0A00010B:SSL routines::wrong version number "
                           "while talking to the broker at the port it listens on without TLS",
                           word));
    mqtt_detailf(d, sizeof(d), "short: %s", "fits");
    assert_string_equal(d, "short: fits");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_credentials),
            cmocka_unit_test(test_credentials_in_config),
            cmocka_unit_test(test_topics_and_ids),
            cmocka_unit_test(test_stamp),
            cmocka_unit_test(test_detail_cut_between_words),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
