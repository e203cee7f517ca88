/* --display: one display channel server per VM; virtio-gpu publishes the
 * scanout through it, input from any client goes to the virtio keyboard and
 * tablet. VNC and SDL are clients in their own processes (network-facing
 * code never runs in the VMM), each given one end of a socketpair. */
#include "display.h"
#include "devices.h"
#include "vga.h"
#include "core/config.h"
#include "core/vm.h"
#include "virtio/virtio_gpu.h"
#include "virtio/virtio_input.h"
#include "vdisplay/display_server.h"

#include <errno.h>
#include <glib.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <linux/input.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

extern char **environ;

#define REEXEC_ENV "DOMUS_DISPLAY_FDS"

static struct display_server *server;
static struct virtio_gpu *gpu;
static struct virtio_input *keyboard, *tablet;
static struct vga *vga;
static uint32_t tablet_buttons;
/* Our ends of the spawned clients' sockets, dup'ed so they can be kept
 * across a reboot's exec whatever the server did with its copy. */
static int spawned_fds[VM_MAX_DISPLAYS];
static unsigned nspawned;

/* Input goes to virtio-input once the guest's driver runs it, to the PS/2
 * keyboard and mouse before that (firmware, boot loaders, guests without
 * virtio drivers) -- never to both, so no guest sees a key twice. */
static struct i8042 *ps2;
static int32_t ps2_last_x = -1, ps2_last_y = -1;

static void on_key(void *opaque, uint32_t code, bool down)
{
    if (ps2 && !virtio_input_driver_ok(keyboard)) {
        i8042_key(ps2, code, down);
        return;
    }
    virtio_input_event(keyboard, EV_KEY, (uint16_t)code, down);
    virtio_input_sync(keyboard);
}

/* PS/2 mice are relative: the client's absolute position becomes the
 * distance from the last one (the guest's pointer then drifts from the
 * client's when it accelerates or hits an edge; a tablet has no such gap). */
static void ps2_pointer(int32_t x, int32_t y, uint32_t buttons, int32_t wheel)
{
    int32_t dx = ps2_last_x < 0 ? 0 : x - ps2_last_x, dy = ps2_last_y < 0 ? 0 : y - ps2_last_y;
    ps2_last_x = x;
    ps2_last_y = y;
    i8042_mouse(ps2, dx, dy, wheel, buttons);
}

static int32_t scale_axis(int32_t v, uint32_t size)
{
    return size > 1 ? (int32_t)((int64_t)v * VIRTIO_INPUT_ABS_MAX / (size - 1)) : 0;
}

static void on_pointer(void *opaque, int32_t x, int32_t y, uint32_t width, uint32_t height,
                       uint32_t buttons, int32_t wheel, int32_t hwheel)
{
    static const struct { uint32_t bit; uint16_t code; } map[] = {
        { DC_BUTTON_LEFT, BTN_LEFT }, { DC_BUTTON_MIDDLE, BTN_MIDDLE }, { DC_BUTTON_RIGHT, BTN_RIGHT },
    };
    if (ps2 && !virtio_input_driver_ok(tablet)) {
        ps2_pointer(x, y, buttons, wheel);
        return;
    }
    virtio_input_event(tablet, EV_ABS, ABS_X, scale_axis(x, width));
    virtio_input_event(tablet, EV_ABS, ABS_Y, scale_axis(y, height));
    for (unsigned i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if ((buttons ^ tablet_buttons) & map[i].bit)
            virtio_input_event(tablet, EV_KEY, map[i].code, !!(buttons & map[i].bit));
    tablet_buttons = buttons;
    if (wheel)
        virtio_input_event(tablet, EV_REL, REL_WHEEL, wheel);
    if (hwheel)
        virtio_input_event(tablet, EV_REL, REL_HWHEEL, hwheel);
    virtio_input_sync(tablet);
}

static void on_resize(void *opaque, uint32_t width, uint32_t height)
{
    virtio_gpu_request_size(gpu, width, height);
}

static const struct display_input_ops input_ops = {
    .key = on_key, .pointer = on_pointer, .resize = on_resize,
};

static void on_leds(void *opaque, uint32_t leds)
{
    display_server_leds(server, leds);
}

/* The client program: $DOMUS_VNC / $DOMUS_VIEW, else next to domus-vmm
 * (installed) or in the build tree's vdisplay/, else from PATH. */
static void find_client(const char *prog, const char *env, char *out, size_t len)
{
    const char *e = getenv(env);
    if (e && *e) {
        snprintf(out, len, "%s", e);
        return;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = 0;
        char *dir = dirname(self);
        snprintf(out, len, "%s/%s", dir, prog);
        if (access(out, X_OK) == 0)
            return;
        snprintf(out, len, "%s/../vdisplay/%s", dir, prog);
        if (access(out, X_OK) == 0)
            return;
    }
    snprintf(out, len, "%s", prog);
}

static int spawn_client(struct vm *vm, const struct display_config *d)
{
    bool vnc = d->kind == DISPLAY_VNC;
    char prog[PATH_MAX], listen[300];
    find_client(vnc ? "domus-vnc" : "domus-view", vnc ? "DOMUS_VNC" : "DOMUS_VIEW", prog, sizeof(prog));
    const char *argv[14];
    unsigned argc = 0;
    argv[argc++] = prog;
    argv[argc++] = "--fd";
    argv[argc++] = "3";
    argv[argc++] = "--name";
    argv[argc++] = vm->cfg->name;
    if (vnc && d->port) {
        bool v6 = strchr(d->addr ? d->addr : "", ':') != NULL;
        snprintf(listen, sizeof(listen), v6 ? "[%s]:%u" : "%s:%u", d->addr ? d->addr : "127.0.0.1", d->port);
        argv[argc++] = "--listen";
        argv[argc++] = listen;
    }
    if (vnc && d->keymap) {
        argv[argc++] = "--keymap";
        argv[argc++] = d->keymap;
    }
    if (vnc && d->password_file) {
        argv[argc++] = "--password-file";
        argv[argc++] = d->password_file;
    }
    argv[argc] = NULL;

    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return -errno;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, sv[1], 3);   /* dup2 clears CLOEXEC on 3 */
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);          /* the VMM blocks SIGTERM & co. */
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
    pid_t pid;
    int r = posix_spawnp(&pid, prog, &fa, &attr, (char **)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(sv[1]);
    if (r != 0) {
        fprintf(stderr, "domus-vmm: --display: cannot start %s: %s\n", prog, strerror(r));
        close(sv[0]);
        return -r;
    }
    int keep = fcntl(sv[0], F_DUPFD_CLOEXEC, 0);
    if (keep >= 0)
        spawned_fds[nspawned++] = keep;
    return display_server_add_client(server, sv[0]);
}

/* After a reboot's exec: the clients started before it are still there. */
static bool adopt_clients(void)
{
    const char *env = getenv(REEXEC_ENV);
    if (!env)
        return false;
    g_auto(GStrv) fds = g_strsplit(env, ",", -1);
    for (unsigned i = 0; fds[i] && nspawned < VM_MAX_DISPLAYS; i++) {
        int fd = atoi(fds[i]);
        if (fd < 3 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
            continue;
        int keep = fcntl(fd, F_DUPFD_CLOEXEC, 0);
        if (keep >= 0)
            spawned_fds[nspawned++] = keep;
        display_server_add_client(server, fd);
    }
    unsetenv(REEXEC_ENV);
    return true;
}

int display_setup(struct vm *vm)
{
    const struct vm_config *cfg = vm->cfg;
    int r;
    if (!cfg->ndisplays)
        return vm_config_has_vga(cfg) ? vga_create(vm, NULL, cfg->vga_rom, &vga) : 0;
    /* Clients are reaped by the kernel; the VMM never waits for them. */
    struct sigaction sa = { .sa_handler = SIG_DFL, .sa_flags = SA_NOCLDWAIT };
    sigaction(SIGCHLD, &sa, NULL);

    server = display_server_new(vm->loop, cfg->name);
    if (!server)
        return -ENOMEM;
    /* The VGA first, so firmware finds it as the primary display. */
    if (vm_config_has_vga(cfg) && (r = vga_create(vm, server, cfg->vga_rom, &vga)) < 0)
        return r;
    if ((r = virtio_gpu_create(vm, server, &gpu)) < 0 ||
        (r = virtio_input_create(vm, VIRTIO_INPUT_KEYBOARD, &keyboard)) < 0 ||
        (r = virtio_input_create(vm, VIRTIO_INPUT_TABLET, &tablet)) < 0) {
        fprintf(stderr, "domus-vmm: --display: cannot create the display devices: %s\n", strerror(-r));
        return r;
    }
    if (vga) {
        vga_set_yield(vga, virtio_gpu_scanout_active, gpu);
        virtio_gpu_share_display(gpu, vga_redisplay, vga);
    }
    display_server_set_input(server, &input_ops, NULL);
    virtio_input_on_leds(keyboard, on_leds, NULL);
    ps2 = vm->i8042;
    if (ps2)
        i8042_on_leds(ps2, on_leds, NULL);

    bool adopted = adopt_clients();
    for (unsigned i = 0; i < cfg->ndisplays; i++) {
        const struct display_config *d = &cfg->displays[i];
        if (d->kind == DISPLAY_CHANNEL) {
            char *err = NULL;
            if ((r = display_server_listen(server, d->path, &err)) < 0) {
                fprintf(stderr, "domus-vmm: --display channel:%s: %s\n", d->path, err ? err : strerror(-r));
                free(err);
                return r;
            }
        } else if (!adopted && (r = spawn_client(vm, d)) < 0) {
            return r;
        }
    }
    return 0;
}

void display_prepare_reexec(void)
{
    char buf[128] = "";
    size_t len = 0;
    for (unsigned i = 0; i < nspawned; i++) {
        if (fcntl(spawned_fds[i], F_SETFD, 0) < 0)
            continue;
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%d", len ? "," : "", spawned_fds[i]);
    }
    if (len)
        setenv(REEXEC_ENV, buf, 1);
}

void display_close(void)
{
    display_server_free(server);
    server = NULL;
}
