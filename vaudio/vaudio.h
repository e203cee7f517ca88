/* vaudio: the guest's sound cards meet the host's sound here. A device
 * (HDA, virtio-snd) opens playback and capture streams and moves frames at
 * the pace of vaudio's steady clock (CLOCK_MONOTONIC at the stream rate),
 * never at the pace of the guest's DMA, so a guest cannot make the host
 * play fast or slow. Backends: PulseAudio (also PipeWire's pulse server),
 * WAV files (what the guest plays, and a file to feed its capture), none.
 *
 * Frames inside vaudio are 48 kHz, signed 16-bit little-endian, stereo;
 * a stream may be mono (it is widened / narrowed here). Buffering is
 * bounded (VAUDIO_MAX_LATENCY_MS): when the host side falls behind, the
 * oldest audio is dropped rather than piling up latency. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VAUDIO_RATE            48000
#define VAUDIO_MAX_LATENCY_MS  50

enum vaudio_kind { VAUDIO_NONE, VAUDIO_PULSE, VAUDIO_WAV };
enum vaudio_dir { VAUDIO_PLAYBACK, VAUDIO_CAPTURE };

struct vaudio_config {
    enum vaudio_kind kind;
    char out_path[4096];             /* wav: where playback goes */
    char in_path[4096];              /* wav: what capture hears ("" = silence) */
};

struct vaudio;
struct vaudio_stream;

/* "pulse", "none", "wav:OUT.wav[,in=IN.wav]". -EINVAL with a one-line @why. */
int vaudio_config_parse(const char *spec, struct vaudio_config *cfg, char *why, unsigned whylen);

/* Opens the backend. A sound server that is not running is not an error:
 * a warning is printed and the "none" backend is used (the VM still starts).
 * Files that cannot be opened are (NULL, *error set). */
struct vaudio *vaudio_open(const struct vaudio_config *cfg, char **error);
void vaudio_close(struct vaudio *va);
const char *vaudio_backend_name(const struct vaudio *va);

struct vaudio_stream *vaudio_stream_new(struct vaudio *va, enum vaudio_dir dir, unsigned channels);
void vaudio_stream_free(struct vaudio_stream *s);
/* Starts the stream's clock (and the backend stream); stop drops buffered audio. */
void vaudio_stream_start(struct vaudio_stream *s);
void vaudio_stream_stop(struct vaudio_stream *s);
/* Frames the clock says are due since the last call (at most 20 ms worth:
 * after a stall the stream skips ahead instead of bursting). */
size_t vaudio_stream_frames_due(struct vaudio_stream *s);
/* Playback: @n frames of the stream's channel count. */
void vaudio_stream_write(struct vaudio_stream *s, const int16_t *frames, size_t n);
/* Capture: @n frames; silence where the host has nothing. */
void vaudio_stream_read(struct vaudio_stream *s, int16_t *frames, size_t n);
/* Nanoseconds from a frame written now to the backend taking it (for bench/). */
uint64_t vaudio_stream_latency_ns(struct vaudio_stream *s);
