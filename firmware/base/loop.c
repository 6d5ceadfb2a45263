/* SPDX-License-Identifier: MIT */
/* epoll event loop: fd watches and timerfd timers, dispatched on one thread. */
#include "storekeeper/loop.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>

struct watch {
    int fd;
    sk_loop_fd_cb cb;
    void *ctx;
    struct sk_loop_timer *timer; /* set when the watch belongs to a timer */
    struct watch *next;
    bool dead; /* removed during dispatch; freed after it */
};

struct sk_loop_timer {
    struct watch *w;
    sk_loop_timer_cb cb;
    void *ctx;
};

struct sk_loop {
    int epfd;
    bool stop;
    struct watch *watches;
    int dispatching;
};

int sk_loop_new(struct sk_loop **ret_loop)
{
    struct sk_loop *l = calloc(1, sizeof(*l));
    if (!l) {
        return -ENOMEM;
    }
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) {
        int err = -errno;
        free(l);
        return err;
    }
    *ret_loop = l;
    return 0;
}

static void free_watch(struct watch *w)
{
    if (w->timer) {
        close(w->fd);
        free(w->timer);
    }
    free(w);
}

static void reap(struct sk_loop *l)
{
    struct watch **pp = &l->watches;
    while (*pp) {
        struct watch *w = *pp;
        if (w->dead) {
            *pp = w->next;
            free_watch(w);
        } else {
            pp = &w->next;
        }
    }
}

void sk_loop_free(struct sk_loop *loop)
{
    if (!loop) {
        return;
    }
    while (loop->watches) {
        struct watch *w = loop->watches;
        loop->watches = w->next;
        free_watch(w);
    }
    close(loop->epfd);
    free(loop);
}

static struct watch *find(struct sk_loop *l, int fd)
{
    for (struct watch *w = l->watches; w; w = w->next) {
        if (w->fd == fd && !w->dead) {
            return w;
        }
    }
    return NULL;
}

int sk_loop_add(struct sk_loop *loop, int fd, uint32_t events, sk_loop_fd_cb cb, void *ctx)
{
    if (find(loop, fd)) {
        return -EEXIST;
    }
    struct watch *w = calloc(1, sizeof(*w));
    if (!w) {
        return -ENOMEM;
    }
    w->fd = fd;
    w->cb = cb;
    w->ctx = ctx;
    struct epoll_event ev = {.events = events, .data.ptr = w};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        int err = -errno;
        free(w);
        return err;
    }
    w->next = loop->watches;
    loop->watches = w;
    return 0;
}

static void remove_watch(struct sk_loop *loop, struct watch *w)
{
    epoll_ctl(loop->epfd, EPOLL_CTL_DEL, w->fd, NULL);
    w->dead = true;
    if (!loop->dispatching) {
        reap(loop);
    }
}

int sk_loop_del(struct sk_loop *loop, int fd)
{
    struct watch *w = find(loop, fd);
    if (!w) {
        return -ENOENT;
    }
    remove_watch(loop, w);
    return 0;
}

int sk_loop_mod(struct sk_loop *loop, int fd, uint32_t events)
{
    struct watch *w = find(loop, fd);
    if (!w) {
        return -ENOENT;
    }
    struct epoll_event ev = {.events = events, .data.ptr = w};
    return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

static void timer_ready(struct sk_loop *loop, int fd, uint32_t events, void *ctx)
{
    (void)events;
    struct sk_loop_timer *t = ctx;
    uint64_t n = 0;
    if (read(fd, &n, sizeof(n)) != (ssize_t)sizeof(n) || n == 0) {
        return;
    }
    t->cb(loop, n, t->ctx);
}

static struct timespec ms_to_ts(int64_t ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L};
    return ts;
}

int sk_loop_timer_add(struct sk_loop *loop,
                      int64_t first_ms,
                      int64_t interval_ms,
                      sk_loop_timer_cb cb,
                      void *ctx,
                      struct sk_loop_timer **ret_timer)
{
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (fd < 0) {
        return -errno;
    }
    struct itimerspec its = {.it_value = ms_to_ts(first_ms > 0 ? first_ms : 1),
                             .it_interval = ms_to_ts(interval_ms)};
    struct sk_loop_timer *t = calloc(1, sizeof(*t));
    if (!t || timerfd_settime(fd, 0, &its, NULL) < 0) {
        int err = t ? -errno : -ENOMEM;
        free(t);
        close(fd);
        return err;
    }
    t->cb = cb;
    t->ctx = ctx;
    int r = sk_loop_add(loop, fd, EPOLLIN, timer_ready, t);
    if (r < 0) {
        free(t);
        close(fd);
        return r;
    }
    t->w = find(loop, fd);
    t->w->timer = t;
    if (ret_timer) {
        *ret_timer = t;
    }
    return 0;
}

void sk_loop_timer_del(struct sk_loop *loop, struct sk_loop_timer *timer)
{
    if (timer) {
        remove_watch(loop, timer->w);
    }
}

int sk_loop_timer_set(struct sk_loop_timer *timer, int64_t first_ms, int64_t interval_ms)
{
    struct itimerspec its = {.it_value = ms_to_ts(first_ms > 0 ? first_ms : 0),
                             .it_interval = ms_to_ts(first_ms > 0 ? interval_ms : 0)};
    if (timerfd_settime(timer->w->fd, 0, &its, NULL) < 0) {
        return -errno;
    }
    return 0;
}

int sk_loop_run_once(struct sk_loop *loop, int timeout_ms)
{
    struct epoll_event evs[32];
    int n = epoll_wait(loop->epfd, evs, 32, timeout_ms);
    if (n < 0) {
        return errno == EINTR ? 0 : -errno;
    }
    loop->dispatching++;
    for (int i = 0; i < n; i++) {
        struct watch *w = evs[i].data.ptr;
        if (!w->dead) {
            w->cb(loop, w->fd, evs[i].events, w->ctx);
        }
    }
    loop->dispatching--;
    if (!loop->dispatching) {
        reap(loop);
    }
    return n;
}

int sk_loop_run(struct sk_loop *loop)
{
    loop->stop = false;
    while (!loop->stop) {
        int r = sk_loop_run_once(loop, -1);
        if (r < 0) {
            return r;
        }
    }
    return 0;
}

void sk_loop_stop(struct sk_loop *loop)
{
    loop->stop = true;
}

int sk_signal_fd(bool hup, int flags)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    if (hup) {
        sigaddset(&set, SIGHUP);
    }
    int r = pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (r != 0) {
        return -r;
    }
    int fd = signalfd(-1, &set, flags);
    return fd < 0 ? -errno : fd;
}
