/* A VNC client for the display tests, on libvncclient (the real client
 * library): connects, checks pixels, types keys, moves the pointer, asks
 * for a desktop size, and can count frames for the benchmark.
 *
 *   vnc-probe HOST:PORT [--password P] [--expect X,Y,RRGGBB]... [--key SYM]...
 *             [--click X,Y] [--resize WxH] [--wait-size WxH] [--frames SECONDS]
 *             [--timeout SECONDS] [--hold SECONDS] [--encodings "raw"] [--dump FILE.ppm]
 *
 * --dump writes the screen as the client last saw it (a binary PPM).
 * Negative X/Y count from the right/bottom edge. Exits 0 when every check
 * passed, 1 otherwise (with the reason on stderr). */
#include <rfb/rfbclient.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

struct expect { int x, y; uint32_t rgb; };
static struct expect expects[16], afters[16];
static int nexpects, nafters;
static unsigned long frames;
static const char *password;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static uint32_t pixel(rfbClient *c, int x, int y);

static bool write_ppm(rfbClient *c, const char *path)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        return false;
    }
    fprintf(f, "P6\n%d %d\n255\n", c->width, c->height);
    for (int y = 0; y < c->height; y++)
        for (int x = 0; x < c->width; x++) {
            uint32_t v = pixel(c, x, y);
            uint8_t rgb[3] = { (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
            fwrite(rgb, 1, 3, f);
        }
    return fclose(f) == 0;
}

static uint32_t pixel(rfbClient *c, int x, int y)
{
    if (x < 0) x += c->width;
    if (y < 0) y += c->height;
    if (x < 0 || y < 0 || x >= c->width || y >= c->height)
        return 0xFFFFFFFF;
    uint32_t v;
    memcpy(&v, c->frameBuffer + ((size_t)y * c->width + x) * 4, 4);
    return (v >> c->format.redShift & 0xFF) << 16 | (v >> c->format.greenShift & 0xFF) << 8 |
           (v >> c->format.blueShift & 0xFF);
}

static bool all_match(rfbClient *c, bool verbose)
{
    for (int i = 0; i < nexpects; i++) {
        uint32_t got = pixel(c, expects[i].x, expects[i].y);
        if (got != expects[i].rgb) {
            if (verbose)
                fprintf(stderr, "vnc-probe: pixel %d,%d is %06x, wanted %06x (screen %dx%d)\n",
                        expects[i].x, expects[i].y, got, expects[i].rgb, c->width, c->height);
            return false;
        }
    }
    return true;
}

static void on_frame(rfbClient *c) { frames++; }
static char *get_password(rfbClient *c) { return strdup(password ? password : ""); }

/* Pumps messages until @done or @timeout seconds pass. */
static bool pump(rfbClient *c, double timeout, bool (*done)(rfbClient *, void *), void *arg)
{
    double end = now() + timeout;
    while (now() < end) {
        if (done && done(c, arg))
            return true;
        int r = WaitForMessage(c, 100000);
        if (r < 0 || (r > 0 && !HandleRFBServerMessage(c))) {
            fprintf(stderr, "vnc-probe: connection lost\n");
            return false;
        }
    }
    return done ? done(c, arg) : true;
}

static bool pixels_ok(rfbClient *c, void *arg) { return frames > 0 && all_match(c, false); }
static bool size_is(rfbClient *c, void *arg)
{
    int *wh = arg;
    return c->width == wh[0] && c->height == wh[1];
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: vnc-probe HOST:PORT [options]\n");
        return 2;
    }
    rfbEnableClientLogging = FALSE;
    rfbClient *c = rfbGetClient(8, 3, 4);
    char *host = strdup(argv[1]), *colon = strrchr(host, ':');
    if (!colon)
        return 2;
    *colon = 0;
    c->serverHost = host;
    c->serverPort = atoi(colon + 1);
    c->FinishedFrameBufferUpdate = on_frame;
    c->GetPassword = get_password;
    c->canHandleNewFBSize = TRUE;
    double timeout = 30, frames_for = 0, hold = 0;
    const char *dump = NULL;
    uint32_t keys[16];
    int nkeys = 0, click[2] = { -1, -1 }, resize[2] = { 0, 0 }, wait_size[2] = { 0, 0 };
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(a, "--password")) password = v;
        else if (!strcmp(a, "--expect") && nexpects < 16) {
            sscanf(v, "%d,%d,%x", &expects[nexpects].x, &expects[nexpects].y, &expects[nexpects].rgb);
            nexpects++;
        } else if (!strcmp(a, "--after") && nafters < 16) {
            sscanf(v, "%d,%d,%x", &afters[nafters].x, &afters[nafters].y, &afters[nafters].rgb);
            nafters++;
        } else if (!strcmp(a, "--key") && nkeys < 16)
            keys[nkeys++] = strlen(v) == 1 ? (uint32_t)(unsigned char)v[0] : (uint32_t)strtoul(v, NULL, 0);
        else if (!strcmp(a, "--click")) sscanf(v, "%d,%d", &click[0], &click[1]);
        else if (!strcmp(a, "--resize")) sscanf(v, "%dx%d", &resize[0], &resize[1]);
        else if (!strcmp(a, "--wait-size")) sscanf(v, "%dx%d", &wait_size[0], &wait_size[1]);
        else if (!strcmp(a, "--frames")) frames_for = atof(v);
        else if (!strcmp(a, "--timeout")) timeout = atof(v);
        else if (!strcmp(a, "--hold")) hold = atof(v);
        else if (!strcmp(a, "--encodings")) c->appData.encodingsString = v;
        else if (!strcmp(a, "--dump")) dump = v;
        else { fprintf(stderr, "vnc-probe: unknown option %s\n", a); return 2; }
        i++;
    }
    char *args[] = { argv[0], NULL };
    int one = 1;
    if (!rfbInitClient(c, &one, args)) {
        fprintf(stderr, "vnc-probe: cannot connect to %s\n", argv[1]);
        return 1;
    }
    if (!pump(c, timeout, pixels_ok, NULL)) {
        all_match(c, true);
        if (!frames)
            fprintf(stderr, "vnc-probe: no framebuffer update within %.0f s\n", timeout);
        return 1;
    }
    printf("vnc-probe: size %dx%d, %d pixel checks passed\n", c->width, c->height, nexpects);
    fflush(stdout);
    for (int i = 0; i < nkeys; i++) {
        SendKeyEvent(c, keys[i], TRUE);
        SendKeyEvent(c, keys[i], FALSE);
    }
    if (click[0] >= 0) {
        SendPointerEvent(c, click[0], click[1], 1);
        SendPointerEvent(c, click[0], click[1], 0);
    }
    /* Let the server read our input before we hang up: a close with
     * unread data turns into a reset, and the server drops what it had. */
    if (nkeys || click[0] >= 0)
        pump(c, 1.0, NULL, NULL);
    if (nafters) {
        memcpy(expects, afters, sizeof(afters));
        nexpects = nafters;
        if (!pump(c, timeout, pixels_ok, NULL)) {
            all_match(c, true);
            fprintf(stderr, "vnc-probe: the update after the input did not arrive\n");
            return 1;
        }
        printf("vnc-probe: %d pixel checks after the input passed\n", nafters);
    }
    if (resize[0]) {
        if (!SendExtDesktopSize(c, (uint16_t)resize[0], (uint16_t)resize[1])) {
            fprintf(stderr, "vnc-probe: the server does not take desktop size requests\n");
            return 1;
        }
    }
    if (wait_size[0]) {
        if (!pump(c, timeout, size_is, wait_size)) {
            fprintf(stderr, "vnc-probe: screen is %dx%d, wanted %dx%d\n", c->width, c->height,
                    wait_size[0], wait_size[1]);
            return 1;
        }
        printf("vnc-probe: size now %dx%d\n", c->width, c->height);
    }
    if (frames_for > 0) {
        struct rusage r0, r1;
        getrusage(RUSAGE_SELF, &r0);
        unsigned long f0 = frames;
        double t0 = now();
        pump(c, frames_for, NULL, NULL);
        double el = now() - t0;
        getrusage(RUSAGE_SELF, &r1);
        double cpu = (r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) + (r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) +
                     ((r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) + (r1.ru_stime.tv_usec - r0.ru_stime.tv_usec)) / 1e6;
        printf("vnc-probe: frames=%lu seconds=%.2f fps=%.2f client_cpu_s=%.3f size=%dx%d\n",
               frames - f0, el, (frames - f0) / el, cpu, c->width, c->height);
    }
    if (hold > 0)
        pump(c, hold, NULL, NULL);
    if (dump && !write_ppm(c, dump))
        return 1;
    fflush(stdout);
    rfbClientCleanup(c);
    return 0;
}
