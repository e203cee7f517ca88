/* domus console: the guest's serial console, through a socket domusd
 * hands over. On a terminal: raw mode, Ctrl-] detaches. From a pipe: the
 * input is sent, then the guest's output is shown until it has been quiet
 * for a moment, so scripts can drive the guest. */
#include "cli.h"

#include <errno.h>
#include <gio/gunixfdlist.h>
#include <poll.h>
#include <stdio.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define DETACH_KEY 0x1d             /* Ctrl-] */
#define QUIET_MS 1500               /* pipe mode: output quiet this long after EOF ends it */
#define LINGER_MAX_MS 30000

static bool write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        buf += n;
        len -= (size_t)n;
    }
    return true;
}

static gint64 now_ms(void)
{
    return g_get_monotonic_time() / 1000;
}

static int relay(int sock, bool tty)
{
    bool in_open = true;
    gint64 eof_at = 0, last_out = now_ms();
    char buf[4096];
    for (;;) {
        struct pollfd p[2] = { { .fd = sock, .events = POLLIN }, { .fd = in_open ? 0 : -1, .events = POLLIN } };
        int wait = -1;
        if (!in_open) {
            gint64 t = now_ms();
            if (t - last_out >= QUIET_MS || t - eof_at >= LINGER_MAX_MS)
                return CLI_OK;
            wait = (int)MIN(QUIET_MS - (t - last_out), LINGER_MAX_MS - (t - eof_at));
        }
        int n = poll(p, 2, wait);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return CLI_FAILED;
        if (p[0].revents) {
            ssize_t r = read(sock, buf, sizeof(buf));
            if (r <= 0) {
                fprintf(stderr, "%sdomus: the console closed (the VM stopped)\n", tty ? "\r\n" : "");
                return in_open ? CLI_FAILED : CLI_OK;
            }
            if (!write_all(1, buf, (size_t)r))
                return CLI_FAILED;
            last_out = now_ms();
        }
        if (in_open && p[1].revents) {
            ssize_t r = read(0, buf, sizeof(buf));
            if (r <= 0) {
                in_open = false;
                eof_at = last_out = now_ms();
                continue;
            }
            if (tty) {
                char *k = memchr(buf, DETACH_KEY, (size_t)r);
                if (k) {
                    write_all(sock, buf, (size_t)(k - buf));
                    return CLI_OK;
                }
            }
            if (!write_all(sock, buf, (size_t)r)) {
                fprintf(stderr, "domus: the console closed\n");
                return CLI_FAILED;
            }
        }
    }
}

int cli_console(const char *name, DomusVM *vm)
{
    GError *err = NULL;
    g_autoptr(GVariant) handle = NULL;
    g_autoptr(GUnixFDList) fds = NULL;
    if (!domus_vm_call_open_console_sync(vm, NULL, &handle, &fds, NULL, &err))
        return cli_fail(err);
    int sock = fds ? g_unix_fd_list_get(fds, g_variant_get_handle(handle), &err) : -1;
    if (sock < 0)
        return cli_fail(err ? err : g_error_new(DOMUS_ERROR, DOMUS_ERROR_FAILED, "domusd sent no console"));
    bool tty = isatty(0) && isatty(1);
    struct termios saved;
    if (tty) {
        fprintf(stderr, "Connected to the console of '%s'; Ctrl-] detaches.\r\n", name);
        tcgetattr(0, &saved);
        struct termios raw = saved;
        cfmakeraw(&raw);
        tcsetattr(0, TCSANOW, &raw);
    }
    int r = relay(sock, tty);
    if (tty) {
        tcsetattr(0, TCSANOW, &saved);
        fputc('\n', stderr);
    }
    close(sock);
    return r;
}
