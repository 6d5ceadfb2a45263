/* SPDX-License-Identifier: MIT */
/* Event loop tests: fd dispatch, periodic and one-shot timers, removal during dispatch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <sys/epoll.h>
#include <sys/eventfd.h>

#include <cmocka.h>

#include "storekeeper/loop.h"

struct counts {
    int fd_calls;
    uint64_t ticks;
    int once;
    int stop_after;
};

static void on_fd(struct sk_loop *loop, int fd, uint32_t events, void *ctx)
{
    (void)loop;
    struct counts *c = ctx;
    uint64_t v;
    assert_true(events & EPOLLIN);
    assert_int_equal(read(fd, &v, sizeof(v)), sizeof(v));
    c->fd_calls++;
}

static void on_tick(struct sk_loop *loop, uint64_t n, void *ctx)
{
    struct counts *c = ctx;
    c->ticks += n;
    if ((int)c->ticks >= c->stop_after) {
        sk_loop_stop(loop);
    }
}

static void on_once(struct sk_loop *loop, uint64_t n, void *ctx)
{
    (void)loop;
    struct counts *c = ctx;
    c->once += (int)n;
}

static void test_fd_and_timers(void **state)
{
    (void)state;
    struct sk_loop *loop;
    assert_int_equal(sk_loop_new(&loop), 0);
    struct counts c = {.stop_after = 5};
    int efd = eventfd(0, EFD_NONBLOCK);
    assert_int_equal(sk_loop_add(loop, efd, EPOLLIN, on_fd, &c), 0);
    assert_int_equal(sk_loop_add(loop, efd, EPOLLIN, on_fd, &c), -17); /* EEXIST */
    uint64_t one = 1;
    assert_int_equal(write(efd, &one, sizeof(one)), sizeof(one));
    assert_int_equal(sk_loop_timer_add(loop, 5, 5, on_tick, &c, NULL), 0);
    assert_int_equal(sk_loop_timer_add(loop, 1, 0, on_once, &c, NULL), 0);
    assert_int_equal(sk_loop_run(loop), 0);
    assert_int_equal(c.fd_calls, 1);
    assert_true(c.ticks >= 5);
    assert_int_equal(c.once, 1);
    assert_int_equal(sk_loop_del(loop, efd), 0);
    assert_int_equal(sk_loop_del(loop, efd), -2); /* ENOENT */
    sk_loop_free(loop);
    close(efd);
}

struct self_del {
    struct sk_loop_timer *timer;
    int calls;
};

static void on_self_del(struct sk_loop *loop, uint64_t n, void *ctx)
{
    (void)n;
    struct self_del *s = ctx;
    s->calls++;
    sk_loop_timer_del(loop, s->timer); /* removing itself while dispatched */
}

static void test_timer_removes_itself(void **state)
{
    (void)state;
    struct sk_loop *loop;
    assert_int_equal(sk_loop_new(&loop), 0);
    struct self_del s = {0};
    assert_int_equal(sk_loop_timer_add(loop, 1, 1, on_self_del, &s, &s.timer), 0);
    for (int i = 0; i < 5; i++) {
        sk_loop_run_once(loop, 20);
    }
    assert_int_equal(s.calls, 1);
    sk_loop_free(loop);
}

static void test_timer_rearm(void **state)
{
    (void)state;
    struct sk_loop *loop;
    assert_int_equal(sk_loop_new(&loop), 0);
    struct counts c = {0};
    struct sk_loop_timer *t;
    assert_int_equal(sk_loop_timer_add(loop, 100000, 0, on_once, &c, &t), 0);
    assert_int_equal(sk_loop_timer_set(t, 0, 0), 0); /* disarmed */
    sk_loop_run_once(loop, 20);
    assert_int_equal(c.once, 0);
    assert_int_equal(sk_loop_timer_set(t, 1, 0), 0); /* once, soon */
    for (int i = 0; i < 3; i++) {
        sk_loop_run_once(loop, 20);
    }
    assert_int_equal(c.once, 1);
    sk_loop_free(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_fd_and_timers),
            cmocka_unit_test(test_timer_removes_itself),
            cmocka_unit_test(test_timer_rearm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
