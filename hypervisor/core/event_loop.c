#include "event_loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

struct event_handler {
    int fd;
    event_cb cb;
    void *opaque;
    struct event_handler *next;
};

struct deferred_call {
    void (*fn)(void *opaque);
    void *opaque;
    struct deferred_call *next;
};

struct event_loop {
    int epfd;
    int wakefd;                      /* eventfd: stop requests and deferred calls */
    pthread_mutex_t lock;
    struct event_handler *handlers;
    struct deferred_call *calls;
    bool stop;
};

static void event_loop_wake(struct event_loop *loop)
{
    uint64_t one = 1;
    while (write(loop->wakefd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
}

struct event_loop *event_loop_new(void)
{
    struct event_loop *loop = calloc(1, sizeof(*loop));
    if (!loop)
        return NULL;
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    loop->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (loop->epfd < 0 || loop->wakefd < 0)
        goto fail;
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->wakefd, &ev) < 0)
        goto fail;
    pthread_mutex_init(&loop->lock, NULL);
    return loop;
fail:
    if (loop->epfd >= 0)
        close(loop->epfd);
    if (loop->wakefd >= 0)
        close(loop->wakefd);
    free(loop);
    return NULL;
}

void event_loop_free(struct event_loop *loop)
{
    if (!loop)
        return;
    for (struct event_handler *h = loop->handlers, *n; h; h = n) {
        n = h->next;
        free(h);
    }
    for (struct deferred_call *c = loop->calls, *n; c; c = n) {
        n = c->next;
        free(c);
    }
    close(loop->epfd);
    close(loop->wakefd);
    pthread_mutex_destroy(&loop->lock);
    free(loop);
}

int event_loop_add(struct event_loop *loop, int fd, uint32_t events, event_cb cb, void *opaque)
{
    struct event_handler *h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    h->fd = fd;
    h->cb = cb;
    h->opaque = opaque;
    struct epoll_event ev = { .events = events, .data.ptr = h };
    pthread_mutex_lock(&loop->lock);
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        int err = -errno;
        pthread_mutex_unlock(&loop->lock);
        free(h);
        return err;
    }
    h->next = loop->handlers;
    loop->handlers = h;
    pthread_mutex_unlock(&loop->lock);
    return 0;
}

static struct event_handler *find_handler(struct event_loop *loop, int fd)
{
    for (struct event_handler *h = loop->handlers; h; h = h->next)
        if (h->fd == fd)
            return h;
    return NULL;
}

int event_loop_modify(struct event_loop *loop, int fd, uint32_t events)
{
    pthread_mutex_lock(&loop->lock);
    struct event_handler *h = find_handler(loop, fd);
    int ret = -ENOENT;
    if (h) {
        struct epoll_event ev = { .events = events, .data.ptr = h };
        ret = epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
    }
    pthread_mutex_unlock(&loop->lock);
    return ret;
}

/* A removed handler may still sit in the current epoll_wait batch, so it is
 * not freed at once but marked dead (fd -1) and freed at the end of the batch. */
int event_loop_del(struct event_loop *loop, int fd)
{
    pthread_mutex_lock(&loop->lock);
    struct event_handler *h = find_handler(loop, fd);
    if (!h) {
        pthread_mutex_unlock(&loop->lock);
        return -ENOENT;
    }
    epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
    h->fd = -1;
    h->cb = NULL;
    pthread_mutex_unlock(&loop->lock);
    return 0;
}

static void reap_dead_handlers(struct event_loop *loop)
{
    pthread_mutex_lock(&loop->lock);
    for (struct event_handler **pp = &loop->handlers; *pp;) {
        struct event_handler *h = *pp;
        if (h->fd < 0) {
            *pp = h->next;
            free(h);
        } else {
            pp = &h->next;
        }
    }
    pthread_mutex_unlock(&loop->lock);
}

int event_loop_add_timer(struct event_loop *loop, event_cb cb, void *opaque)
{
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (fd < 0)
        return -errno;
    int r = event_loop_add(loop, fd, EPOLLIN, cb, opaque);
    if (r < 0) {
        close(fd);
        return r;
    }
    return fd;
}

void event_loop_timer_periodic(int timerfd, unsigned period_ms)
{
    struct itimerspec its = { 0 };
    its.it_value.tv_sec = its.it_interval.tv_sec = period_ms / 1000;
    its.it_value.tv_nsec = its.it_interval.tv_nsec = (long)(period_ms % 1000) * 1000000;
    timerfd_settime(timerfd, 0, &its, NULL);
}

void event_loop_timer_once_ns(int timerfd, uint64_t ns)
{
    if (ns == 0)
        ns = 1;                      /* 0 would disarm it */
    struct itimerspec its = { .it_value = { .tv_sec = (time_t)(ns / 1000000000u),
                                            .tv_nsec = (long)(ns % 1000000000u) } };
    timerfd_settime(timerfd, 0, &its, NULL);
}

int event_loop_call(struct event_loop *loop, void (*fn)(void *opaque), void *opaque)
{
    struct deferred_call *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->fn = fn;
    c->opaque = opaque;
    pthread_mutex_lock(&loop->lock);
    struct deferred_call **pp = &loop->calls;
    while (*pp)
        pp = &(*pp)->next;
    *pp = c;
    pthread_mutex_unlock(&loop->lock);
    event_loop_wake(loop);
    return 0;
}

static bool run_deferred(struct event_loop *loop)
{
    uint64_t v;
    while (read(loop->wakefd, &v, sizeof(v)) > 0)
        ;
    pthread_mutex_lock(&loop->lock);
    struct deferred_call *c = loop->calls;
    loop->calls = NULL;
    bool stop = loop->stop;
    pthread_mutex_unlock(&loop->lock);
    while (c) {
        struct deferred_call *n = c->next;
        c->fn(c->opaque);
        free(c);
        c = n;
    }
    return stop;
}

int event_loop_run(struct event_loop *loop)
{
    struct epoll_event evs[32];
    for (;;) {
        int n = epoll_wait(loop->epfd, evs, 32, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        bool stop = false;
        for (int i = 0; i < n; i++) {
            struct event_handler *h = evs[i].data.ptr;
            if (!h) {
                stop = run_deferred(loop);
                continue;
            }
            pthread_mutex_lock(&loop->lock);
            event_cb cb = h->cb;
            void *opaque = h->opaque;
            pthread_mutex_unlock(&loop->lock);
            if (cb)
                cb(opaque, evs[i].events);
        }
        reap_dead_handlers(loop);
        if (stop)
            return 0;
    }
}

void event_loop_stop(struct event_loop *loop)
{
    pthread_mutex_lock(&loop->lock);
    loop->stop = true;
    pthread_mutex_unlock(&loop->lock);
    event_loop_wake(loop);
}
