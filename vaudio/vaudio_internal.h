/* Between vaudio.c and its backends. */
#pragma once
#include "vaudio.h"
#include <pthread.h>

/* A ring of stereo frames, bounded; the producer drops the oldest on overflow. */
struct vaudio_ring {
    int16_t *buf;                    /* cap * 2 samples */
    size_t cap, head, count;         /* in frames */
};

struct vaudio_stream {
    struct vaudio *va;
    enum vaudio_dir dir;
    unsigned channels;
    bool running;
    uint64_t start_ns, frames_done;
    pthread_mutex_t lock;            /* guards ring (backends run their own threads) */
    struct vaudio_ring ring;
    void *backend;                   /* the backend's per-stream state */
};

struct vaudio_backend_ops {
    const char *name;
    int (*stream_open)(struct vaudio_stream *s);
    void (*stream_start)(struct vaudio_stream *s);
    void (*stream_stop)(struct vaudio_stream *s);
    void (*stream_close)(struct vaudio_stream *s);
    /* Playback frames arrived in the ring (wav writes them out now). May be NULL. */
    void (*stream_written)(struct vaudio_stream *s);
    /* Capture: fill the ring with @n frames (wav reads its file). May be NULL. */
    void (*stream_fill)(struct vaudio_stream *s, size_t n);
    void (*close)(struct vaudio *va);
};

struct vaudio {
    const struct vaudio_backend_ops *ops;
    struct vaudio_config cfg;
    void *priv;
};

/* Ring helpers; the caller holds the stream lock. */
size_t vaudio_ring_push(struct vaudio_ring *r, const int16_t *stereo, size_t n);
/* Drops the oldest frames so at most @keep remain. */
void vaudio_ring_trim(struct vaudio_ring *r, size_t keep);
size_t vaudio_ring_pop(struct vaudio_ring *r, int16_t *stereo, size_t n);

int vaudio_pulse_open(struct vaudio *va, char **error);
int vaudio_wav_open(struct vaudio *va, char **error);
