#include "vaudio_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RING_FRAMES   (VAUDIO_RATE * VAUDIO_MAX_LATENCY_MS / 1000)
#define MAX_DUE       (VAUDIO_RATE / 50)   /* 20 ms: less than any guest buffer */

static int bad(char *why, unsigned whylen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

int vaudio_config_parse(const char *spec, struct vaudio_config *cfg, char *why, unsigned whylen)
{
    memset(cfg, 0, sizeof(*cfg));
    if (!strcmp(spec, "pulse")) {
        cfg->kind = VAUDIO_PULSE;
        return 0;
    }
    if (!strcmp(spec, "none")) {
        cfg->kind = VAUDIO_NONE;
        return 0;
    }
    if (strncmp(spec, "wav:", 4))
        return bad(why, whylen, "--audio: expected pulse, wav:FILE[,in=FILE] or none, got '%s'", spec);
    const char *out = spec + 4, *comma = strchr(out, ',');
    size_t outlen = comma ? (size_t)(comma - out) : strlen(out);
    if (!outlen || outlen >= sizeof(cfg->out_path))
        return bad(why, whylen, "--audio wav: missing output file name");
    memcpy(cfg->out_path, out, outlen);
    if (comma) {
        if (strncmp(comma + 1, "in=", 3) || !comma[4] || strlen(comma + 4) >= sizeof(cfg->in_path))
            return bad(why, whylen, "--audio wav: unknown option '%s' (expected in=FILE)", comma + 1);
        strcpy(cfg->in_path, comma + 4);
    }
    cfg->kind = VAUDIO_WAV;
    return 0;
}

static void none_noop(struct vaudio_stream *s) { }
static int none_stream_open(struct vaudio_stream *s) { return 0; }
static void none_close(struct vaudio *va) { }

/* No sound: playback is consumed at the clock's pace and capture is silence. */
static const struct vaudio_backend_ops none_ops = {
    .name = "none",
    .stream_open = none_stream_open,
    .stream_start = none_noop,
    .stream_stop = none_noop,
    .stream_close = none_noop,
    .close = none_close,
};

struct vaudio *vaudio_open(const struct vaudio_config *cfg, char **error)
{
    struct vaudio *va = calloc(1, sizeof(*va));
    if (!va)
        return NULL;
    va->cfg = *cfg;
    va->ops = &none_ops;
    int r = 0;
    if (cfg->kind == VAUDIO_WAV) {
        r = vaudio_wav_open(va, error);
    } else if (cfg->kind == VAUDIO_PULSE) {
        char *why = NULL;
        if (vaudio_pulse_open(va, &why) < 0) {
            fprintf(stderr, "domus-vmm: warning: no sound: %s\n", why ? why : "PulseAudio is not available");
            free(why);
            va->ops = &none_ops;
        }
    }
    if (r < 0) {
        free(va);
        return NULL;
    }
    return va;
}

void vaudio_close(struct vaudio *va)
{
    if (!va)
        return;
    va->ops->close(va);
    free(va);
}

const char *vaudio_backend_name(const struct vaudio *va)
{
    return va->ops->name;
}

/* ---- ring ---- */

void vaudio_ring_trim(struct vaudio_ring *r, size_t keep)
{
    if (r->count <= keep)
        return;
    size_t drop = r->count - keep;
    r->head = (r->head + drop) % r->cap;
    r->count -= drop;
}

size_t vaudio_ring_push(struct vaudio_ring *r, const int16_t *stereo, size_t n)
{
    if (n > r->cap) {                /* only the newest cap frames can matter */
        stereo += 2 * (n - r->cap);
        n = r->cap;
    }
    vaudio_ring_trim(r, r->cap - n);  /* full: drop the oldest to bound latency */
    for (size_t i = 0; i < n; i++) {
        size_t at = (r->head + r->count + i) % r->cap;
        r->buf[2 * at] = stereo[2 * i];
        r->buf[2 * at + 1] = stereo[2 * i + 1];
    }
    r->count += n;
    return n;
}

size_t vaudio_ring_pop(struct vaudio_ring *r, int16_t *stereo, size_t n)
{
    if (n > r->count)
        n = r->count;
    for (size_t i = 0; i < n; i++) {
        size_t at = (r->head + i) % r->cap;
        stereo[2 * i] = r->buf[2 * at];
        stereo[2 * i + 1] = r->buf[2 * at + 1];
    }
    r->head = (r->head + n) % r->cap;
    r->count -= n;
    return n;
}

/* ---- streams ---- */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct vaudio_stream *vaudio_stream_new(struct vaudio *va, enum vaudio_dir dir, unsigned channels)
{
    if (channels < 1 || channels > 2)
        return NULL;
    struct vaudio_stream *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->va = va;
    s->dir = dir;
    s->channels = channels;
    s->ring.cap = RING_FRAMES;
    s->ring.buf = calloc(RING_FRAMES * 2, sizeof(int16_t));
    pthread_mutex_init(&s->lock, NULL);
    if (!s->ring.buf || va->ops->stream_open(s) < 0) {
        free(s->ring.buf);
        pthread_mutex_destroy(&s->lock);
        free(s);
        return NULL;
    }
    return s;
}

void vaudio_stream_free(struct vaudio_stream *s)
{
    if (!s)
        return;
    vaudio_stream_stop(s);
    s->va->ops->stream_close(s);
    pthread_mutex_destroy(&s->lock);
    free(s->ring.buf);
    free(s);
}

void vaudio_stream_start(struct vaudio_stream *s)
{
    if (s->running)
        return;
    s->running = true;
    s->start_ns = now_ns();
    s->frames_done = 0;
    s->va->ops->stream_start(s);
}

void vaudio_stream_stop(struct vaudio_stream *s)
{
    if (!s->running)
        return;
    s->running = false;
    s->va->ops->stream_stop(s);
    pthread_mutex_lock(&s->lock);
    s->ring.head = s->ring.count = 0;
    pthread_mutex_unlock(&s->lock);
}

size_t vaudio_stream_frames_due(struct vaudio_stream *s)
{
    if (!s->running)
        return 0;
    uint64_t target = (now_ns() - s->start_ns) * VAUDIO_RATE / 1000000000u;
    if (target <= s->frames_done)
        return 0;
    uint64_t due = target - s->frames_done;
    if (due > MAX_DUE) {
        /* The I/O thread was held up: skip ahead, don't burst. */
        s->frames_done = target - MAX_DUE;
        due = MAX_DUE;
    }
    s->frames_done += due;
    return (size_t)due;
}

void vaudio_stream_write(struct vaudio_stream *s, const int16_t *frames, size_t n)
{
    int16_t tmp[2 * 256];
    pthread_mutex_lock(&s->lock);
    while (n) {
        size_t k = n < 256 ? n : 256;
        const int16_t *src = frames;
        if (s->channels == 1) {
            for (size_t i = 0; i < k; i++)
                tmp[2 * i] = tmp[2 * i + 1] = frames[i];
            src = tmp;
        }
        vaudio_ring_push(&s->ring, src, k);
        frames += k * s->channels;
        n -= k;
    }
    pthread_mutex_unlock(&s->lock);
    if (s->va->ops->stream_written)
        s->va->ops->stream_written(s);
}

void vaudio_stream_read(struct vaudio_stream *s, int16_t *frames, size_t n)
{
    int16_t tmp[2 * 256];
    if (s->va->ops->stream_fill)
        s->va->ops->stream_fill(s, n);
    pthread_mutex_lock(&s->lock);
    while (n) {
        size_t k = n < 256 ? n : 256;
        size_t got = vaudio_ring_pop(&s->ring, tmp, k);
        memset(tmp + 2 * got, 0, (k - got) * 2 * sizeof(int16_t));
        for (size_t i = 0; i < k; i++) {
            if (s->channels == 1)
                frames[i] = (int16_t)((tmp[2 * i] + tmp[2 * i + 1]) / 2);
            else
                frames[2 * i] = tmp[2 * i], frames[2 * i + 1] = tmp[2 * i + 1];
        }
        frames += k * s->channels;
        n -= k;
    }
    pthread_mutex_unlock(&s->lock);
}

uint64_t vaudio_stream_latency_ns(struct vaudio_stream *s)
{
    pthread_mutex_lock(&s->lock);
    uint64_t frames = s->ring.count;
    pthread_mutex_unlock(&s->lock);
    return frames * 1000000000u / VAUDIO_RATE;
}
