/* Guest-side helper for the display tests, built with the host's gcc
 * -static at test time and added to the guest image:
 *
 *   guest-fb paint             draw the test pattern on /dev/fb0
 *   guest-fb keys SECONDS      print "key CODE VALUE" for each keyboard event
 *                              (until Escape is pressed)
 *   guest-fb mode              print the first mode of each DRM connector
 *   guest-fb wait-mode WxH SECONDS
 *                              wait until a connector's preferred mode is WxH,
 *                              then print "guest-mode-WxH" (polls sysfs in
 *                              this process: no fork/exec per look)
 *   guest-fb loop SECONDS      repaint the whole screen in a loop (DRM dumb
 *                              buffer + DIRTYFB), printing frames per second
 *
 * The pattern: left half red, right half blue, a 64x64 white square at
 * (32,32) and a green square at (w-96, h-96). */
#include <dirent.h>
#include <fcntl.h>
#include <linux/fb.h>
#include <linux/input.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include "pattern.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static int paint(void)
{
    int fd = open("/dev/fb0", O_RDWR);
    struct fb_var_screeninfo v;
    struct fb_fix_screeninfo f;
    if (fd < 0 || ioctl(fd, FBIOGET_VSCREENINFO, &v) < 0 || ioctl(fd, FBIOGET_FSCREENINFO, &f) < 0) {
        perror("guest-fb: /dev/fb0");
        return 1;
    }
    if (v.bits_per_pixel != 32) {
        fprintf(stderr, "guest-fb: %u bpp, wanted 32\n", v.bits_per_pixel);
        return 1;
    }
    uint8_t *fb = mmap(NULL, f.smem_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (fb == MAP_FAILED) {
        perror("guest-fb: mmap");
        return 1;
    }
    for (unsigned y = 0; y < v.yres; y++)
        for (unsigned x = 0; x < v.xres; x++) {
            uint32_t c = test_pattern(x, y, v.xres, v.yres);
            uint32_t px = ((c >> 16 & 0xFF) << v.red.offset) | ((c >> 8 & 0xFF) << v.green.offset) |
                          ((c & 0xFF) << v.blue.offset);
            memcpy(fb + (size_t)y * f.line_length + x * 4, &px, 4);
        }
    msync(fb, f.smem_len, MS_SYNC);
    printf("guest-fb: painted %ux%u\n", v.xres, v.yres);
    return 0;
}

static int keys(int seconds)
{
    struct pollfd p[16];
    int n = 0;
    DIR *d = opendir("/dev/input");
    struct dirent *e;
    while (d && (e = readdir(d)) && n < 16) {
        if (strncmp(e->d_name, "event", 5))
            continue;
        char path[300], name[128] = "";
        snprintf(path, sizeof(path), "/dev/input/%s", e->d_name);
        int fd = open(path, O_RDONLY);
        if (fd < 0)
            continue;
        ioctl(fd, EVIOCGNAME(sizeof(name)), name);
        if (!strstr(name, "keyboard") && !strstr(name, "tablet")) {
            close(fd);
            continue;
        }
        printf("guest-fb: reading %s (%s)\n", path, name);
        p[n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
    }
    fflush(stdout);
    time_t end = time(NULL) + seconds;
    while (time(NULL) < end) {
        if (poll(p, n, 1000) <= 0)
            continue;
        for (int i = 0; i < n; i++) {
            struct input_event ev;
            if ((p[i].revents & POLLIN) && read(p[i].fd, &ev, sizeof(ev)) == sizeof(ev)) {
                if (ev.type == EV_KEY)
                    printf("key %u %d\n", ev.code, ev.value);
                if (ev.type == EV_KEY && ev.code == KEY_ESC && ev.value == 1)
                    return 0;        /* the host's "done" */
                else if (ev.type == EV_ABS)
                    printf("abs %u %d\n", ev.code, ev.value);
                fflush(stdout);
            }
        }
    }
    return 0;
}

/* Calls @fn with each DRM connector's first (preferred) mode line, until
 * it returns true; returns whether one did. */
static bool each_preferred_mode(bool (*fn)(const char *conn, const char *line, const void *arg), const void *arg)
{
    bool stop = false;
    DIR *d = opendir("/sys/class/drm");
    struct dirent *e;
    while (d && !stop && (e = readdir(d))) {
        if (!strstr(e->d_name, "-"))
            continue;
        char path[300], line[64] = "";
        snprintf(path, sizeof(path), "/sys/class/drm/%s/modes", e->d_name);
        FILE *f = fopen(path, "r");
        if (f && fgets(line, sizeof(line), f))
            stop = fn(e->d_name, line, arg);
        if (f)
            fclose(f);
    }
    if (d)
        closedir(d);
    return stop;
}

static bool print_mode(const char *conn, const char *line, const void *arg)
{
    printf("mode %s %s", conn, line);
    return false;
}

static int mode(void)
{
    each_preferred_mode(print_mode, NULL);
    return 0;
}

static bool mode_is(const char *conn, const char *line, const void *arg)
{
    size_t n = strlen(arg);
    return !strncmp(line, arg, n) && (line[n] == '\n' || !line[n]);
}

static int wait_mode(const char *want, int seconds)
{
    for (long i = 0; i < seconds * 5L; i++) {
        if (each_preferred_mode(mode_is, want)) {
            printf("guest-mode-%s\n", want);
            return 0;
        }
        usleep(200000);
    }
    fprintf(stderr, "guest-fb: the preferred mode never became %s\n", want);
    return 1;
}

int loop_drm(int seconds);

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 2 && !strcmp(argv[1], "paint"))
        return paint();
    if (argc >= 3 && !strcmp(argv[1], "keys"))
        return keys(atoi(argv[2]));
    if (argc >= 2 && !strcmp(argv[1], "mode"))
        return mode();
    if (argc >= 4 && !strcmp(argv[1], "wait-mode"))
        return wait_mode(argv[2], atoi(argv[3]));
    if (argc >= 3 && !strcmp(argv[1], "loop"))
        return loop_drm(atoi(argv[2]));
    fprintf(stderr, "usage: guest-fb paint | keys SECONDS | mode | wait-mode WxH SECONDS | loop SECONDS\n");
    return 2;
}

/* ---- full-screen repaint loop on a DRM dumb buffer ---- */
#include <drm.h>        /* libdrm-dev: -I/usr/include/libdrm */
#include <drm_mode.h>

int loop_drm(int seconds)
{
    int fd = open("/dev/dri/card0", O_RDWR);
    if (fd < 0) {
        perror("guest-fb: /dev/dri/card0");
        return 1;
    }
    struct drm_mode_card_res res = { 0 };
    uint32_t crtcs[8], conns[8], encs[8], fbs[8];
    if (ioctl(fd, DRM_IOCTL_MODE_GETRESOURCES, &res) < 0)
        return perror("GETRESOURCES"), 1;
    res.crtc_id_ptr = (uintptr_t)crtcs;
    res.connector_id_ptr = (uintptr_t)conns;
    res.encoder_id_ptr = (uintptr_t)encs;
    res.fb_id_ptr = (uintptr_t)fbs;
    res.count_fbs = res.count_fbs > 8 ? 8 : res.count_fbs;
    res.count_crtcs = res.count_crtcs > 8 ? 8 : res.count_crtcs;
    res.count_connectors = res.count_connectors > 8 ? 8 : res.count_connectors;
    res.count_encoders = res.count_encoders > 8 ? 8 : res.count_encoders;
    if (ioctl(fd, DRM_IOCTL_MODE_GETRESOURCES, &res) < 0 || !res.count_connectors || !res.count_crtcs)
        return perror("GETRESOURCES"), 1;
    struct drm_mode_modeinfo modes[64];
    struct drm_mode_get_connector conn = { .connector_id = conns[0] };
    if (ioctl(fd, DRM_IOCTL_MODE_GETCONNECTOR, &conn) < 0)
        return perror("GETCONNECTOR"), 1;
    conn.count_modes = conn.count_modes > 64 ? 64 : conn.count_modes;
    conn.modes_ptr = (uintptr_t)modes;
    conn.count_props = 0;
    conn.count_encoders = 0;
    if (ioctl(fd, DRM_IOCTL_MODE_GETCONNECTOR, &conn) < 0 || !conn.count_modes)
        return perror("GETCONNECTOR modes"), 1;
    /* The preferred mode (the one the host asked for) unless GUEST_FB_MODE=WxH. */
    struct drm_mode_modeinfo *m = &modes[0];
    const char *want = getenv("GUEST_FB_MODE");
    for (unsigned i = 0; want && i < conn.count_modes; i++) {
        char s[32];
        snprintf(s, sizeof(s), "%ux%u", modes[i].hdisplay, modes[i].vdisplay);
        if (!strcmp(s, want)) {
            m = &modes[i];
            break;
        }
    }
    struct drm_mode_create_dumb cd = { .width = m->hdisplay, .height = m->vdisplay, .bpp = 32 };
    if (ioctl(fd, DRM_IOCTL_MODE_CREATE_DUMB, &cd) < 0)
        return perror("CREATE_DUMB"), 1;
    struct drm_mode_fb_cmd fbc = { .width = cd.width, .height = cd.height, .pitch = cd.pitch,
                                   .bpp = 32, .depth = 24, .handle = cd.handle };
    if (ioctl(fd, DRM_IOCTL_MODE_ADDFB, &fbc) < 0)
        return perror("ADDFB"), 1;
    struct drm_mode_map_dumb md = { .handle = cd.handle };
    if (ioctl(fd, DRM_IOCTL_MODE_MAP_DUMB, &md) < 0)
        return perror("MAP_DUMB"), 1;
    uint8_t *px = mmap(NULL, cd.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)md.offset);
    if (px == MAP_FAILED)
        return perror("mmap dumb"), 1;
    struct drm_mode_crtc crtc = { .crtc_id = crtcs[0], .fb_id = fbc.fb_id, .set_connectors_ptr = (uintptr_t)conns,
                                  .count_connectors = 1, .mode = *m, .mode_valid = 1 };
    if (ioctl(fd, DRM_IOCTL_MODE_SETCRTC, &crtc) < 0)
        return perror("SETCRTC"), 1;
    printf("guest-fb: looping on %ux%u\n", cd.width, cd.height);
    struct drm_clip_rect clip = { 0, 0, (uint16_t)cd.width, (uint16_t)cd.height };
    struct drm_mode_fb_dirty_cmd dirty = { .fb_id = fbc.fb_id, .num_clips = 1, .clips_ptr = (uintptr_t)&clip };
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    unsigned frames = 0, last = 0;
    double last_t = 0;
    for (;;) {
        /* Every frame differs everywhere, so no encoder can skip it. */
        uint32_t c = (frames * 0x050301u) & 0xFFFFFF;
        for (uint32_t y = 0; y < cd.height; y++) {
            uint32_t *row = (uint32_t *)(px + (size_t)y * cd.pitch);
            for (uint32_t x = 0; x < cd.width; x++)
                row[x] = c ^ (x << 8) ^ y;
        }
        ioctl(fd, DRM_IOCTL_MODE_DIRTYFB, &dirty);
        frames++;
        clock_gettime(CLOCK_MONOTONIC, &t);
        double el = (double)(t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9;
        if (el - last_t >= 1.0) {
            printf("guest-fb: %.1f frames/s\n", (frames - last) / (el - last_t));
            last = frames;
            last_t = el;
        }
        if (el >= seconds)
            break;
    }
    return 0;
}
