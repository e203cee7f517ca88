/* PulseAudio backend (also PipeWire's pulse server) on libpulse's threaded
 * main loop. Playback is pushed when the device writes (and topped up from
 * the write callback); capture arrives in the read callback. Pulse's own
 * buffer is asked for ~20 ms and vaudio's ring is kept to 10 ms on top of
 * it once pulse is full, so a slow stream start costs no lasting latency. */
#include "vaudio_internal.h"

#include <errno.h>
#include <pulse/pulseaudio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PULSE_TARGET_MS 20
#define PULSE_SLACK_FRAMES (VAUDIO_RATE / 100)   /* 10 ms: two device ticks */

struct pulse {
    pa_threaded_mainloop *ml;
    pa_context *ctx;
};

struct pulse_stream {
    pa_stream *st;
};

static const pa_sample_spec pulse_spec = { .format = PA_SAMPLE_S16LE, .rate = VAUDIO_RATE, .channels = 2 };

static size_t ms_bytes(unsigned ms) { return (size_t)VAUDIO_RATE * 4 * ms / 1000; }

static void context_state(pa_context *c, void *opaque)
{
    struct pulse *p = opaque;
    pa_threaded_mainloop_signal(p->ml, 0);
}

static void stream_state(pa_stream *st, void *opaque)
{
    struct pulse *p = opaque;
    pa_threaded_mainloop_signal(p->ml, 0);
}

/* Moves what the ring holds into pulse, as much as it takes. Main loop locked. */
static void pulse_push(struct vaudio_stream *s)
{
    struct pulse_stream *ps = s->backend;
    if (!ps->st || pa_stream_get_state(ps->st) != PA_STREAM_READY)
        return;
    size_t room = pa_stream_writable_size(ps->st);
    while (room >= 4) {
        int16_t buf[2 * 1024];
        size_t want = room / 4 < 1024 ? room / 4 : 1024;
        pthread_mutex_lock(&s->lock);
        size_t n = vaudio_ring_pop(&s->ring, buf, want);
        pthread_mutex_unlock(&s->lock);
        if (!n || pa_stream_write(ps->st, buf, n * 4, NULL, 0, PA_SEEK_RELATIVE) < 0)
            break;
        room -= n * 4;
    }
    /* Pulse holds its target and the guest keeps pace with the same clock,
     * so whatever is still queued here (say, what piled up while the
     * stream connected) would stay as latency for good: drop it. */
    pthread_mutex_lock(&s->lock);
    if (room < 4)
        vaudio_ring_trim(&s->ring, PULSE_SLACK_FRAMES);
    pthread_mutex_unlock(&s->lock);
}

static void write_cb(pa_stream *st, size_t nbytes, void *opaque)
{
    pulse_push(opaque);
}

static void read_cb(pa_stream *st, size_t nbytes, void *opaque)
{
    struct vaudio_stream *s = opaque;
    const void *data;
    size_t len;
    while (pa_stream_readable_size(st) > 0 && pa_stream_peek(st, &data, &len) == 0 && len) {
        if (data) {
            pthread_mutex_lock(&s->lock);
            vaudio_ring_push(&s->ring, data, len / 4);
            pthread_mutex_unlock(&s->lock);
        }
        pa_stream_drop(st);
    }
}

static int pulse_stream_open(struct vaudio_stream *s)
{
    s->backend = calloc(1, sizeof(struct pulse_stream));
    return s->backend ? 0 : -ENOMEM;
}

static void pulse_stream_start(struct vaudio_stream *s)
{
    struct pulse *p = s->va->priv;
    struct pulse_stream *ps = s->backend;
    pa_threaded_mainloop_lock(p->ml);
    ps->st = pa_stream_new(p->ctx, s->dir == VAUDIO_PLAYBACK ? "guest playback" : "guest capture",
                           &pulse_spec, NULL);
    if (ps->st) {
        pa_stream_set_state_callback(ps->st, stream_state, p);
        pa_buffer_attr attr = { .maxlength = (uint32_t)-1, .tlength = (uint32_t)ms_bytes(PULSE_TARGET_MS),
                                .prebuf = (uint32_t)-1, .minreq = (uint32_t)ms_bytes(5),
                                .fragsize = (uint32_t)ms_bytes(10) };
        int r;
        if (s->dir == VAUDIO_PLAYBACK) {
            pa_stream_set_write_callback(ps->st, write_cb, s);
            r = pa_stream_connect_playback(ps->st, NULL, &attr, PA_STREAM_ADJUST_LATENCY, NULL, NULL);
        } else {
            pa_stream_set_read_callback(ps->st, read_cb, s);
            r = pa_stream_connect_record(ps->st, NULL, &attr, PA_STREAM_ADJUST_LATENCY);
        }
        if (r < 0) {
            fprintf(stderr, "domus-vmm: pulse: cannot open a stream: %s\n", pa_strerror(pa_context_errno(p->ctx)));
            pa_stream_unref(ps->st);
            ps->st = NULL;
        }
    }
    pa_threaded_mainloop_unlock(p->ml);
}

static void pulse_stream_stop(struct vaudio_stream *s)
{
    struct pulse *p = s->va->priv;
    struct pulse_stream *ps = s->backend;
    pa_threaded_mainloop_lock(p->ml);
    if (ps->st) {
        pa_stream_set_write_callback(ps->st, NULL, NULL);
        pa_stream_set_read_callback(ps->st, NULL, NULL);
        pa_stream_set_state_callback(ps->st, NULL, NULL);
        pa_stream_disconnect(ps->st);
        pa_stream_unref(ps->st);
        ps->st = NULL;
    }
    pa_threaded_mainloop_unlock(p->ml);
}

static void pulse_stream_close(struct vaudio_stream *s)
{
    free(s->backend);
    s->backend = NULL;
}

static void pulse_written(struct vaudio_stream *s)
{
    struct pulse *p = s->va->priv;
    pa_threaded_mainloop_lock(p->ml);
    pulse_push(s);
    pa_threaded_mainloop_unlock(p->ml);
}

static void pulse_close(struct vaudio *va)
{
    struct pulse *p = va->priv;
    if (!p)
        return;
    if (p->ml)
        pa_threaded_mainloop_stop(p->ml);
    if (p->ctx) {
        pa_context_disconnect(p->ctx);
        pa_context_unref(p->ctx);
    }
    if (p->ml)
        pa_threaded_mainloop_free(p->ml);
    free(p);
    va->priv = NULL;
}

static const struct vaudio_backend_ops pulse_ops = {
    .name = "pulse",
    .stream_open = pulse_stream_open,
    .stream_start = pulse_stream_start,
    .stream_stop = pulse_stream_stop,
    .stream_close = pulse_stream_close,
    .stream_written = pulse_written,
    .close = pulse_close,
};

int vaudio_pulse_open(struct vaudio *va, char **error)
{
    struct pulse *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    va->priv = p;
    p->ml = pa_threaded_mainloop_new();
    if (!p->ml || pa_threaded_mainloop_start(p->ml) < 0)
        goto fail;
    pa_threaded_mainloop_lock(p->ml);
    p->ctx = pa_context_new(pa_threaded_mainloop_get_api(p->ml), "domus-vmm");
    int ok = 0;
    if (p->ctx) {
        pa_context_set_state_callback(p->ctx, context_state, p);
        /* Never start a sound server on the user's behalf. */
        if (pa_context_connect(p->ctx, NULL, PA_CONTEXT_NOAUTOSPAWN, NULL) >= 0) {
            for (;;) {
                pa_context_state_t st = pa_context_get_state(p->ctx);
                if (st == PA_CONTEXT_READY) {
                    ok = 1;
                    break;
                }
                if (!PA_CONTEXT_IS_GOOD(st))
                    break;
                pa_threaded_mainloop_wait(p->ml);
            }
        }
    }
    if (!ok && p->ctx && asprintf(error, "cannot connect to PulseAudio: %s",
                                  pa_strerror(pa_context_errno(p->ctx))) < 0)
        *error = NULL;
    pa_threaded_mainloop_unlock(p->ml);
    if (!ok)
        goto fail;
    va->ops = &pulse_ops;
    return 0;
fail:
    pulse_close(va);
    return -ENOENT;
}
