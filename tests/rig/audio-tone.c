/* Guest-side audio helper for the rig's sound cases, built static at test
 * time: talks to the kernel's ALSA PCM device with raw ioctls (the guest has
 * no alsa-lib).
 *   audio-tone play DEV FREQ SECONDS   plays a sine tone, 48 kHz S16 stereo
 *   audio-tone record DEV SECONDS      writes captured 48 kHz S16 stereo to stdout
 *   audio-tone clicks DEV N INTERVAL_MS  plays N 10 ms clicks in silence, with a
 *       small buffer, printing "CLK <frames queued ahead>" to stdout just before
 *       handing each click to the kernel (bench/run-audio-bench times marker to
 *       sample on the host) */
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <sound/asound.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define RATE 48000

/* A nested guest on a busy machine can stall for a few hundred ms: the
 * largest buffer the card allows, up to 32 periods (680 ms), rides that out. */
static unsigned period_frames = 1024, periods = 32;

static void set_mask(struct snd_pcm_hw_params *p, int param, unsigned bit)
{
    struct snd_mask *m = &p->masks[param - SNDRV_PCM_HW_PARAM_FIRST_MASK];
    memset(m, 0, sizeof(*m));
    m->bits[bit / 32] = 1u << (bit % 32);
}

static void set_int(struct snd_pcm_hw_params *p, int param, unsigned min, unsigned max)
{
    struct snd_interval *i = &p->intervals[param - SNDRV_PCM_HW_PARAM_FIRST_INTERVAL];
    i->min = min;
    i->max = max;
    i->integer = 1;
}

static int open_pcm(const char *dev, int capture)
{
    int fd = open(dev, O_RDWR);
    if (fd < 0) {
        perror(dev);
        exit(1);
    }
    struct snd_pcm_hw_params p;
    memset(&p, 0, sizeof(p));
    for (int i = 0; i <= SNDRV_PCM_HW_PARAM_LAST_MASK - SNDRV_PCM_HW_PARAM_FIRST_MASK; i++)
        memset(&p.masks[i], 0xFF, sizeof(p.masks[i]));
    for (int i = 0; i <= SNDRV_PCM_HW_PARAM_LAST_INTERVAL - SNDRV_PCM_HW_PARAM_FIRST_INTERVAL; i++)
        p.intervals[i].max = ~0u;
    p.rmask = ~0u;
    set_mask(&p, SNDRV_PCM_HW_PARAM_ACCESS, SNDRV_PCM_ACCESS_RW_INTERLEAVED);
    set_mask(&p, SNDRV_PCM_HW_PARAM_FORMAT, SNDRV_PCM_FORMAT_S16_LE);
    set_mask(&p, SNDRV_PCM_HW_PARAM_SUBFORMAT, SNDRV_PCM_SUBFORMAT_STD);
    set_int(&p, SNDRV_PCM_HW_PARAM_CHANNELS, 2, 2);
    set_int(&p, SNDRV_PCM_HW_PARAM_RATE, RATE, RATE);
    set_int(&p, SNDRV_PCM_HW_PARAM_PERIOD_SIZE, period_frames, period_frames);
    /* Up to @periods: the kernel picks the largest buffer that fits (Linux's
     * virtio-snd driver allows pcm_buffer_ms, 160 ms unless told otherwise). */
    set_int(&p, SNDRV_PCM_HW_PARAM_PERIODS, periods < 4 ? periods : 4, periods);
    if (ioctl(fd, SNDRV_PCM_IOCTL_HW_PARAMS, &p) < 0) {
        perror("HW_PARAMS");
        exit(1);
    }
    if (ioctl(fd, SNDRV_PCM_IOCTL_PREPARE) < 0) {
        perror("PREPARE");
        exit(1);
    }
    if (capture && ioctl(fd, SNDRV_PCM_IOCTL_START) < 0) {
        perror("START");
        exit(1);
    }
    return fd;
}

/* After an xrun (EPIPE), or a wait for a period that timed out (EIO, the
 * stream still running): stop, prepare and, for capture, start again. */
static bool restart(int fd, bool capture)
{
    ioctl(fd, SNDRV_PCM_IOCTL_DROP);
    return ioctl(fd, SNDRV_PCM_IOCTL_PREPARE) == 0 && (!capture || ioctl(fd, SNDRV_PCM_IOCTL_START) == 0);
}

int main(int argc, char **argv)
{
    if (argc == 5 && !strcmp(argv[1], "play")) {
        int fd = open_pcm(argv[2], 0), xruns = 0;
        double f = atof(argv[3]);
        long total = (long)(atof(argv[4]) * RATE);
        static short buf[2 * 1024];
        for (long done = 0; done < total;) {
            for (int i = 0; i < 1024; i++) {
                short v = (short)(12000 * sin(2 * M_PI * f * (double)(done + i) / RATE));
                buf[2 * i] = buf[2 * i + 1] = v;
            }
            struct snd_xferi x = { .buf = buf, .frames = 1024 };
            if (ioctl(fd, SNDRV_PCM_IOCTL_WRITEI_FRAMES, &x) < 0) {
                perror("WRITEI");          /* an underrun: prepare and go on */
                if (++xruns > 20 || !restart(fd, false))
                    return 1;
                continue;
            }
            done += x.result;
        }
        ioctl(fd, SNDRV_PCM_IOCTL_DRAIN);
        puts("audio-tone: played");
        return 0;
    }
    if (argc == 4 && !strcmp(argv[1], "record")) {
        int fd = open_pcm(argv[2], 1), xruns = 0;
        long total = (long)(atof(argv[3]) * RATE);
        static short buf[2 * 1024];
        for (long done = 0; done < total;) {
            struct snd_xferi x = { .buf = buf, .frames = 1024 };
            if (ioctl(fd, SNDRV_PCM_IOCTL_READI_FRAMES, &x) < 0) {
                /* An overrun (the guest was too slow): start again, as alsa-lib would. */
                perror("READI");
                if (++xruns > 20 || !restart(fd, true))
                    return 1;
                continue;
            }
            if (write(1, buf, (size_t)x.result * 4) < 0)
                return 1;
            done += x.result;
        }
        return 0;
    }
    if (argc == 5 && !strcmp(argv[1], "clicks")) {
        /* 1024 x 4 frames (85 ms), which a slow nested guest keeps fed. */
        period_frames = 1024;
        periods = 4;
        int fd = open_pcm(argv[2], 0), xruns = 0;
        long n = atol(argv[3]), every = atol(argv[4]) * RATE / 1000 / 1024;
        if (every < 2)
            every = 2;
        static short silence[2 * 1024], click[2 * 1024];
        for (int i = 0; i < 480; i++)      /* 10 ms of a 1.2 kHz square wave */
            click[2 * i] = click[2 * i + 1] = (i / 20) % 2 ? 16000 : -16000;
        for (long k = 0, clicks = 0; clicks < n; k++) {
            bool is_click = k > 0 && k % every == 0;
            /* The marker says how many frames the kernel still holds ahead
             * of the click: what the guest itself adds to its latency. */
            snd_pcm_sframes_t delay = 0;
            char line[48];
            if (is_click && ioctl(fd, SNDRV_PCM_IOCTL_DELAY, &delay) < 0) {
                /* Underrun under way: this click goes without a marker (the host skips it). */
                if (write(1, "XRUN\n", 5) < 0 || ++xruns > 20 || ioctl(fd, SNDRV_PCM_IOCTL_PREPARE) < 0)
                    return 1;
            } else if (is_click && write(1, line, (size_t)snprintf(line, sizeof(line), "CLK %ld\n", (long)delay)) < 0) {
                return 1;
            }
            struct snd_xferi x = { .buf = is_click ? click : silence, .frames = 1024 };
            if (ioctl(fd, SNDRV_PCM_IOCTL_WRITEI_FRAMES, &x) < 0) {
                /* An underrun: this click may be lost; the host sees the marker count differ. */
                if (write(1, "XRUN\n", 5) < 0 || ++xruns > 20 || ioctl(fd, SNDRV_PCM_IOCTL_PREPARE) < 0)
                    return 1;
            }
            clicks += is_click;
        }
        for (int i = 0; i < 2 * 4; i++) {  /* trailing silence: the last click leaves the buffer */
            struct snd_xferi x = { .buf = silence, .frames = 1024 };
            ioctl(fd, SNDRV_PCM_IOCTL_WRITEI_FRAMES, &x);
        }
        ioctl(fd, SNDRV_PCM_IOCTL_DRAIN);
        puts("audio-tone: clicked");
        return 0;
    }
    fprintf(stderr, "usage: audio-tone play DEV FREQ SECONDS | record DEV SECONDS | clicks DEV N INTERVAL_MS\n");
    return 2;
}
