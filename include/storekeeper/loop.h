/* SPDX-License-Identifier: MIT */
/* A small epoll event loop with timerfd timers: the core thread's only scheduler. */
#ifndef STOREKEEPER_LOOP_H
#define STOREKEEPER_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct sk_loop;

/* Called on the loop's thread when fd is ready; events are EPOLLIN/EPOLLOUT/... bits. */
typedef void (*sk_loop_fd_cb)(struct sk_loop *loop, int fd, uint32_t events, void *ctx);
/* Called on the loop's thread when a timer expires; expirations > 1 when ticks were missed. */
typedef void (*sk_loop_timer_cb)(struct sk_loop *loop, uint64_t expirations, void *ctx);

struct sk_loop_timer;

int sk_loop_new(struct sk_loop **ret_loop);
/* Accepts NULL. Frees timers; does not close fds added with sk_loop_add. */
void sk_loop_free(struct sk_loop *loop);

/* Watches fd (borrowed) until sk_loop_del. Returns 0 or -errno. */
int sk_loop_add(struct sk_loop *loop, int fd, uint32_t events, sk_loop_fd_cb cb, void *ctx);
int sk_loop_del(struct sk_loop *loop, int fd);
/* Changes the events watched on fd (e.g. adds EPOLLOUT while output is pending). */
int sk_loop_mod(struct sk_loop *loop, int fd, uint32_t events);

/* A timer firing after first_ms, then every interval_ms (0: once). The loop owns it. */
int sk_loop_timer_add(struct sk_loop *loop,
                      int64_t first_ms,
                      int64_t interval_ms,
                      sk_loop_timer_cb cb,
                      void *ctx,
                      struct sk_loop_timer **ret_timer);
void sk_loop_timer_del(struct sk_loop *loop, struct sk_loop_timer *timer);
/* Re-arms a timer: first after first_ms (0: disarmed), then every interval_ms (0: once).
 * Returns 0 or -errno. */
int sk_loop_timer_set(struct sk_loop_timer *timer, int64_t first_ms, int64_t interval_ms);

/* Runs until sk_loop_stop. Returns 0 or -errno from epoll. */
int sk_loop_run(struct sk_loop *loop);
/* Waits at most timeout_ms (-1: forever) and dispatches what is ready. Returns events seen. */
int sk_loop_run_once(struct sk_loop *loop, int timeout_ms);
/* Makes sk_loop_run return after the current dispatch. Call from the loop's thread. */
void sk_loop_stop(struct sk_loop *loop);

/* SIGINT and SIGTERM (and SIGHUP when hup) blocked in the calling thread and delivered through
 * the signalfd returned (flags: SFD_CLOEXEC, SFD_NONBLOCK), or -errno. */
int sk_signal_fd(bool hup, int flags);

#endif
