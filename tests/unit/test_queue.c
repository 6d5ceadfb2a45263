/* SPDX-License-Identifier: MIT */
/* Queue tests: order, bounds, high/low marks, close, ownership, and a multi-producer stress
 * test (run under ThreadSanitizer by the test script). */
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "storekeeper/error.h"
#include "storekeeper/queue.h"

static struct sk_obs make(uint32_t producer, uint32_t seq)
{
    struct sk_obs o;
    memset(&o, 0, sizeof(o));
    o.type = SK_OBS_TAG_ARRIVED;
    o.u.tag.antenna = (uint8_t)producer;
    o.u.tag.reads = seq;
    return o;
}

static bool fd_readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) == 1;
}

static void test_fifo_and_eventfd(void **state)
{
    (void)state;
    struct sk_queue *q;
    assert_int_equal(sk_queue_new(8, 6, 2, &q), 0);
    assert_false(fd_readable(sk_queue_fd(q)));
    for (uint32_t i = 0; i < 5; i++) {
        struct sk_obs o = make(0, i);
        assert_int_equal(sk_queue_push(q, &o, SK_QUEUE_ANY, 0), 0);
    }
    assert_true(fd_readable(sk_queue_fd(q)));
    struct sk_obs o;
    for (uint32_t i = 0; i < 5; i++) {
        assert_int_equal(sk_queue_pop(q, &o), 1);
        assert_int_equal(o.u.tag.reads, i);
    }
    assert_int_equal(sk_queue_pop(q, &o), 0);
    /* Empty pop clears the wake-up. */
    assert_false(fd_readable(sk_queue_fd(q)));
    struct sk_queue_stats s;
    sk_queue_get_stats(q, &s);
    assert_int_equal(s.pushed, 5);
    assert_int_equal(s.popped, 5);
    assert_int_equal(s.max_depth, 5);
    assert_int_equal(s.depth, 0);
    sk_queue_free(q);
}

static void test_bounds_and_marks(void **state)
{
    (void)state;
    struct sk_queue *q;
    assert_int_equal(sk_queue_new(1, 1, 0, &q), -22);
    assert_int_equal(sk_queue_new(8, 4, 4, &q), -22);
    assert_int_equal(sk_queue_new(8, 9, 2, &q), -22);
    assert_int_equal(sk_queue_new(8, 6, 2, &q), 0);
    struct sk_obs o = make(0, 0);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(sk_queue_push(q, &o, SK_QUEUE_ANY, 0), 0);
    }
    /* At the high mark: cameras drop, RFID waits (and here times out), others still fit. */
    assert_int_equal(sk_queue_push(q, &o, SK_QUEUE_DROP_ABOVE_HIGH, 0), SK_EQUEUE_FULL);
    assert_int_equal(sk_queue_push(q, &o, SK_QUEUE_WAIT, 20), SK_EQUEUE_FULL);
    assert_int_equal(sk_queue_push(q, &o, SK_QUEUE_ANY, 0), 0);
    assert_int_equal(sk_queue_push(q, &o, SK_QUEUE_ANY, 0), 0);
    /* At capacity everything fails. */
    assert_int_equal(sk_queue_push(q, &o, SK_QUEUE_ANY, 0), SK_EQUEUE_FULL);
    struct sk_queue_stats s;
    sk_queue_get_stats(q, &s);
    assert_int_equal(s.dropped, 3);
    assert_int_equal(s.waits, 1);
    assert_int_equal(s.above_high, 1);
    assert_int_equal(s.depth, 8);
    /* Hysteresis: waiting producers stay held until the depth is at the low mark. */
    struct sk_obs out;
    for (int i = 0; i < 5; i++) {
        assert_int_equal(sk_queue_pop(q, &out), 1);
    }
    assert_int_equal(sk_queue_push(q, &o, SK_QUEUE_WAIT, 10), 0); /* depth 3 < high: fits */
    assert_int_equal(sk_queue_pop(q, &out), 1);
    assert_int_equal(sk_queue_pop(q, &out), 1); /* depth 2 = low: released */
    assert_int_equal(sk_queue_push(q, &o, SK_QUEUE_WAIT, 0), 0);
    sk_queue_free(q);
}

struct waiter {
    struct sk_queue *q;
    int result;
};

static void *wait_push(void *arg)
{
    struct waiter *w = arg;
    struct sk_obs o = make(1, 1);
    w->result = sk_queue_push(w->q, &o, SK_QUEUE_WAIT, 10000);
    return NULL;
}

static void test_wait_released_by_consumer(void **state)
{
    (void)state;
    struct sk_queue *q;
    assert_int_equal(sk_queue_new(8, 4, 1, &q), 0);
    struct sk_obs o = make(0, 0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(sk_queue_push(q, &o, SK_QUEUE_ANY, 0), 0);
    }
    struct waiter w = {q, 99};
    pthread_t t;
    pthread_create(&t, NULL, wait_push, &w);
    struct sk_obs out;
    /* Drain to the low mark: the waiter must get in. */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(sk_queue_pop(q, &out), 1);
    }
    pthread_join(t, NULL);
    assert_int_equal(w.result, 0);
    sk_queue_free(q);
}

static void test_close_wakes_waiters(void **state)
{
    (void)state;
    struct sk_queue *q;
    assert_int_equal(sk_queue_new(4, 2, 1, &q), 0);
    struct sk_obs o = make(0, 0);
    assert_int_equal(sk_queue_push(q, &o, SK_QUEUE_ANY, 0), 0);
    assert_int_equal(sk_queue_push(q, &o, SK_QUEUE_ANY, 0), 0);
    struct waiter w = {q, 99};
    pthread_t t;
    pthread_create(&t, NULL, wait_push, &w);
    sk_queue_close(q);
    pthread_join(t, NULL);
    assert_int_equal(w.result, SK_EQUEUE_CLOSED);
    assert_int_equal(sk_queue_push(q, &o, SK_QUEUE_ANY, 0), SK_EQUEUE_CLOSED);
    /* Already queued observations can still be taken. */
    struct sk_obs out;
    assert_int_equal(sk_queue_pop(q, &out), 1);
    sk_queue_free(q);
}

static void test_owned_blobs_freed(void **state)
{
    (void)state;
    struct sk_queue *q;
    assert_int_equal(sk_queue_new(4, 3, 1, &q), 0);
    struct sk_obs o;
    memset(&o, 0, sizeof(o));
    o.type = SK_OBS_MQTT_COMMAND;
    o.u.command.payload = strdup("{\"x\":1}");
    o.u.command.response_topic = strdup("resp");
    assert_int_equal(sk_queue_push(q, &o, SK_QUEUE_ANY, 0), 0);
    /* Freed with the queue: LeakSanitizer reports it if not. */
    sk_queue_free(q);
}

#define PRODUCERS    8
#define PER_PRODUCER 50000

struct producer {
    struct sk_queue *q;
    uint32_t id;
    uint64_t refused;
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    for (uint32_t i = 0; i < PER_PRODUCER; i++) {
        struct sk_obs o = make(p->id, i);
        /* RFID semantics: wait for room; retry when a wait times out, never lose one. */
        while (sk_queue_push(p->q, &o, SK_QUEUE_WAIT, 1000) != 0) {
            p->refused++;
        }
    }
    return NULL;
}

static void test_multi_producer_stress(void **state)
{
    (void)state;
    struct sk_queue *q;
    assert_int_equal(sk_queue_new(256, 192, 64, &q), 0);
    struct producer ps[PRODUCERS];
    pthread_t ts[PRODUCERS];
    for (uint32_t i = 0; i < PRODUCERS; i++) {
        ps[i] = (struct producer){q, i, 0};
        pthread_create(&ts[i], NULL, produce, &ps[i]);
    }
    uint32_t next[PRODUCERS] = {0};
    uint64_t total = 0;
    struct pollfd pfd = {.fd = sk_queue_fd(q), .events = POLLIN};
    while (total < (uint64_t)PRODUCERS * PER_PRODUCER) {
        assert_true(poll(&pfd, 1, 10000) == 1); /* a lost wake-up would hang here */
        struct sk_obs o;
        while (sk_queue_pop(q, &o) == 1) {
            uint32_t p = o.u.tag.antenna;
            assert_true(p < PRODUCERS);
            /* Each producer's observations arrive complete and in its order. */
            assert_int_equal(o.u.tag.reads, next[p]);
            next[p]++;
            total++;
        }
    }
    for (uint32_t i = 0; i < PRODUCERS; i++) {
        pthread_join(ts[i], NULL);
        assert_int_equal(next[i], PER_PRODUCER);
    }
    struct sk_queue_stats s;
    sk_queue_get_stats(q, &s);
    assert_int_equal(s.pushed, (uint64_t)PRODUCERS * PER_PRODUCER);
    assert_int_equal(s.popped, s.pushed);
    assert_true(s.max_depth <= 256);
    print_message("stress: %llu observations, max depth %zu, waits %llu, above high %llu\n",
                  (unsigned long long)s.pushed, s.max_depth, (unsigned long long)s.waits,
                  (unsigned long long)s.above_high);
    sk_queue_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_fifo_and_eventfd),
            cmocka_unit_test(test_bounds_and_marks),
            cmocka_unit_test(test_wait_released_by_consumer),
            cmocka_unit_test(test_close_wakes_waiters),
            cmocka_unit_test(test_owned_blobs_freed),
            cmocka_unit_test(test_multi_producer_stress),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
