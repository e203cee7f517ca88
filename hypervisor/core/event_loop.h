/* The VMM's single I/O thread: an epoll loop over eventfds (ioeventfd
 * notifications, timers, sockets, the serial backend). No busy polling:
 * the thread sleeps in epoll_wait until a file descriptor is ready. */
#pragma once
#include <stdint.h>

struct event_loop;
typedef void (*event_cb)(void *opaque, uint32_t events);

struct event_loop *event_loop_new(void);
void event_loop_free(struct event_loop *loop);
/* events are EPOLLIN/EPOLLOUT/...; the callback runs on the loop thread. */
int event_loop_add(struct event_loop *loop, int fd, uint32_t events, event_cb cb, void *opaque);
int event_loop_modify(struct event_loop *loop, int fd, uint32_t events);
int event_loop_del(struct event_loop *loop, int fd);
/* A timerfd (CLOCK_MONOTONIC, non-blocking, disarmed) watched for EPOLLIN;
 * @cb must read it. Returns the fd or -errno. */
int event_loop_add_timer(struct event_loop *loop, event_cb cb, void *opaque);
/* Arms a timerfd to fire every @period_ms from now (0: disarms it). */
void event_loop_timer_periodic(int timerfd, unsigned period_ms);
/* Arms a timerfd to fire once, @ns nanoseconds from now (at least 1). */
void event_loop_timer_once_ns(int timerfd, uint64_t ns);
/* Runs a callback once on the loop thread soon (thread-safe). */
int event_loop_call(struct event_loop *loop, void (*fn)(void *opaque), void *opaque);
/* Runs until event_loop_stop(); call from the I/O thread. */
int event_loop_run(struct event_loop *loop);
void event_loop_stop(struct event_loop *loop);
