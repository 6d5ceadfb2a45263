/* SPDX-License-Identifier: MIT */
/* Report tests: the checks' verdicts and advice, metrics text, page escaping, the log ring,
 * and the control protocol's header codec. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "storekeeper/control.h"
#include "storekeeper/log.h"
#include "storekeeper/report.h"

static const char doc_text[] =
        "{\"mode\":\"daemon\",\"uptime_s\":100,\"pid\":7,\"version\":\"t\","
        "\"store_id\":\"s<1>\",\"device_id\":\"d\",\"board\":\"sim\","
        "\"config\":{\"path\":\"/etc/s.cfg\",\"hash\":\"abc\",\"hash_on_disk\":\"abc\"},"
        "\"runtime\":{\"state\":\"running\",\"batches\":3},"
        "\"queue\":{\"depth\":0,\"capacity\":100,\"high_mark\":75,\"max_depth\":4,\"dropped\":0},"
        "\"loops\":[{\"name\":\"core\",\"age_ms\":10,\"limit_ms\":20000,\"stale\":false}],"
        "\"readers\":[{\"name\":\"r1\",\"bus_url\":\"rtu:/dev/ttyAMA0:115200:8E1\",\"unit\":4,"
        "\"state\":\"up\",\"present\":2,\"polls\":10,\"poll_errors\":0},"
        "{\"name\":\"shelf-3\",\"bus_url\":\"rtu:/dev/ttyAMA0:115200:8E1\",\"unit\":4,"
        "\"state\":\"down\",\"reason\":\"timeout\",\"detail\":\"no reply\"},"
        "{\"name\":\"r\\\"q\",\"bus_url\":\"tcp:10.0.0.5:502\",\"unit\":1,"
        "\"state\":\"degraded\",\"reason\":\"crc\"}],"
        "\"cameras\":[{\"name\":\"cam\",\"state\":\"degraded\",\"reason\":\"black_frames\","
        "\"fps\":9.5}],"
        "\"mqtt\":{\"enabled\":true,\"broker\":\"127.0.0.1:1883\",\"state\":\"disconnected\","
        "\"detail\":\"connection refused\"},"
        "\"ledger\":{\"outbox\":{\"pending\":12,\"oldest_pending_age_s\":900,\"last_seq\":40}},"
        "\"events\":{\"by_type\":{\"event/checkout\":2},\"recent\":[{\"seq\":40,"
        "\"topic\":\"event/checkout\",\"time\":\"t\",\"summary\":\"<script>x</script> & 'y'\"}]}}";

static const struct sk_check *find(const struct sk_checks *c, const char *subject)
{
    for (size_t i = 0; i < c->n; i++) {
        if (strcmp(c->v[i].subject, subject) == 0) {
            return &c->v[i];
        }
    }
    return NULL;
}

static void test_checks(void **state)
{
    (void)state;
    cJSON *doc = cJSON_Parse(doc_text);
    assert_non_null(doc);
    struct sk_checks c = {0};
    assert_int_equal(sk_report_checks(doc, NULL, &c), SK_CHECK_FAIL);
    const struct sk_check *k = find(&c, "reader shelf-3");
    assert_non_null(k);
    assert_int_equal(k->level, SK_CHECK_FAIL);
    assert_string_equal(k->message, "down: no reply from unit 4 on /dev/ttyAMA0 at 115200 8E1");
    assert_string_equal(k->advice, "check termination, A/B wiring, the baud rate and the unit id");
    k = find(&c, "reader r1");
    assert_int_equal(k->level, SK_CHECK_PASS);
    assert_string_equal(k->advice, "");
    k = find(&c, "reader r\"q");
    assert_int_equal(k->level, SK_CHECK_WARN);
    assert_non_null(strstr(k->message, "corrupted replies (CRC) from unit 1 at 10.0.0.5:502"));
    k = find(&c, "camera cam");
    assert_int_equal(k->level, SK_CHECK_WARN);
    assert_string_equal(k->advice, "check the lens is not covered and the lights are on");
    k = find(&c, "mqtt");
    assert_int_equal(k->level, SK_CHECK_FAIL);
    assert_non_null(strstr(k->message, "broker 127.0.0.1:1883 not connected: connection refused"));
    k = find(&c, "outbox");
    assert_int_equal(k->level, SK_CHECK_WARN);
    assert_non_null(strstr(k->message, "12 event(s) waiting, the oldest for 15 min"));

    /* an old config on disk, a stale loop, a degraded ledger */
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(doc, "config"), "hash_on_disk",
                              cJSON_CreateString("def"));
    cJSON_ReplaceItemInObject(cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "loops"), 0), "stale",
                              cJSON_CreateTrue());
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(doc, "runtime"), "state",
                              cJSON_CreateString("degraded"));
    sk_checks_free(&c);
    assert_int_equal(sk_report_checks(doc, NULL, &c), SK_CHECK_FAIL);
    assert_int_equal(find(&c, "config")->level, SK_CHECK_WARN);
    assert_int_equal(find(&c, "loop core")->level, SK_CHECK_FAIL);
    assert_int_equal(find(&c, "recording")->level, SK_CHECK_FAIL);

    /* a broken chain in the ledger report */
    cJSON *l = cJSON_Parse("{\"integrity_check\":\"integrity_check\",\"integrity\":\"ok\","
                           "\"chain\":{\"ok\":false,\"movements\":9,\"first_bad_id\":5,"
                           "\"reason\":\"changed\"},\"counts\":{\"discrepancies_open\":2}}");
    sk_checks_free(&c);
    sk_report_checks(doc, l, &c);
    k = find(&c, "ledger chain");
    assert_int_equal(k->level, SK_CHECK_FAIL);
    assert_string_equal(k->message, "hash chain broken at movement 5: changed");
    assert_int_equal(find(&c, "stock")->level, SK_CHECK_WARN);
    cJSON *j = sk_checks_json(&c);
    assert_true(cJSON_GetArraySize(j) == (int)c.n);
    cJSON_Delete(j);

    /* the same rules without a daemon: its absence is the first FAIL */
    cJSON *direct = cJSON_Parse("{\"mode\":\"direct\",\"daemon_detail\":\"no socket\"}");
    sk_checks_free(&c);
    assert_int_equal(sk_report_checks(direct, NULL, &c), SK_CHECK_FAIL);
    assert_string_equal(c.v[0].message, "not running: no socket");
    sk_checks_free(&c);
    cJSON_Delete(direct);
    cJSON_Delete(l);
    cJSON_Delete(doc);
}

static void test_metrics_and_page(void **state)
{
    (void)state;
    cJSON *doc = cJSON_Parse(doc_text);
    char *m = sk_report_metrics(doc);
    assert_non_null(m);
    assert_non_null(strstr(m, "storekeeper_reader_health{reader=\"shelf-3\"} 3\n"));
    assert_non_null(strstr(m, "storekeeper_reader_health{reader=\"r\\\"q\"} 2\n"));
    assert_non_null(strstr(m, "storekeeper_events_total{topic=\"event/checkout\"} 2\n"));
    assert_non_null(strstr(m, "storekeeper_outbox_pending 12\n"));
    assert_non_null(strstr(m, "# TYPE storekeeper_reader_polls_total counter\n"));
    free(m);
    struct sk_checks c = {0};
    sk_report_checks(doc, NULL, &c);
    char *h = sk_report_html(doc, &c, 5);
    assert_non_null(h);
    assert_null(strstr(h, "<script>"));
    assert_non_null(strstr(h, "&lt;script&gt;x&lt;/script&gt;"));
    assert_non_null(strstr(h, "s&lt;1&gt;"));
    assert_non_null(strstr(h, "&lt;/script&gt; &amp; &#39;y&#39;"));
    assert_non_null(strstr(h, "r&quot;q"));
    assert_non_null(strstr(h, "<tr id=\"reader-shelf-3\" data-state=\"down\">"));
    assert_non_null(strstr(h, "<meta http-equiv=\"refresh\" content=\"5\">"));
    assert_non_null(strstr(h, "id=\"overall\" data-level=\"FAIL\""));
    free(h);
    sk_checks_free(&c);
    cJSON_Delete(doc);
}

struct collect {
    char text[4096];
    int n;
};

static void collect(const char *line, void *ctx)
{
    struct collect *c = ctx;
    strncat(c->text, line, sizeof(c->text) - strlen(c->text) - 2);
    strcat(c->text, "|");
    c->n++;
}

static void test_log_ring(void **state)
{
    (void)state;
    sk_log_set_fd(-1); /* the ring only */
    sk_log_set_level(SK_LOG_INFO);
    assert_int_equal(sk_log_ring_set_capacity(3), 0);
    for (int i = 0; i < 5; i++) {
        sk_log(SK_LOG_INFO, "t", "x", "line %d", i);
    }
    sk_log(SK_LOG_DEBUG, "t", NULL, "not kept");
    struct collect c = {.n = 0};
    assert_int_equal(sk_log_ring_foreach(0, collect, &c), 3);
    assert_null(strstr(c.text, "line 1"));
    assert_non_null(strstr(c.text, "info    t x: line 2|"));
    assert_non_null(strstr(c.text, "line 4|"));
    assert_null(strstr(c.text, "not kept"));
    memset(&c, 0, sizeof(c));
    assert_int_equal(sk_log_ring_foreach(1, collect, &c), 1);
    assert_non_null(strstr(c.text, "line 4"));
    sk_log_set_format(SK_LOG_FORMAT_JOURNAL); /* the ring keeps the plain form */
    sk_log(SK_LOG_NOTICE, "t", NULL, "journal");
    memset(&c, 0, sizeof(c));
    sk_log_ring_foreach(1, collect, &c);
    assert_non_null(strstr(c.text, "notice  t: journal|"));
    assert_null(strstr(c.text, "<5>"));
    sk_log_set_format(SK_LOG_FORMAT_AUTO);
    assert_int_equal(sk_log_ring_set_capacity(0), 0);
    memset(&c, 0, sizeof(c));
    assert_int_equal(sk_log_ring_foreach(0, collect, &c), 0);
    sk_log_set_fd(2);
}

static void test_header(void **state)
{
    (void)state;
    uint8_t b[SK_CTL_HEADER_SIZE];
    struct sk_ctl_header h = {1, SK_CTL_KIND_REPLY, 0x01020304, 7}, out;
    sk_ctl_header_encode(&h, b);
    assert_memory_equal(b, "SKct\x00\x01\x00\x02\x01\x02\x03\x04\x00\x00\x00\x07", 16);
    assert_int_equal(sk_ctl_header_decode(b, &out), 0);
    assert_int_equal(out.json_len, 0x01020304);
    assert_int_equal(out.data_len, 7);
    b[0] = 'X';
    assert_int_equal(sk_ctl_header_decode(b, &out), -EPROTO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_checks),
            cmocka_unit_test(test_metrics_and_page),
            cmocka_unit_test(test_log_ring),
            cmocka_unit_test(test_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
