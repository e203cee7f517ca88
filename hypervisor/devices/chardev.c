/* Character backends: stdio, pty, UNIX socket, file, none.
 *
 * Threads: input is read on the I/O thread only; chardev_write() is called
 * from vCPU threads (a UART's THR). chr->lock guards the output side and the
 * epoll mask; it is a leaf lock (front ends may hold their own lock while
 * writing). Pausing and resuming input both happen on the I/O thread, so a
 * front end that frees room can never race with the pause decision. */
#include "chardev.h"
#include "core/event_loop.h"
#include "error_msg.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#define OUT_BUF_SIZE   65536         /* output kept while the reader is slow */
#define IN_CHUNK       256
#define ESCAPE_CHAR    0x01          /* Ctrl-A, as in QEMU's -nographic */

struct chardev {
    enum serial_kind kind;
    struct event_loop *loop;
    pthread_mutex_t lock;
    struct chardev_frontend fe;
    bool has_fe;

    int in_fd, out_fd;               /* -1 when absent (no client, no input) */
    int listen_fd;                   /* unix: the listening socket */
    int pty_slave;                   /* pty: kept open so the master never sees HUP */
    bool out_owned;                  /* out_fd is ours to close (not fd 1 itself) */
    bool in_registered, out_shared;  /* in_fd is in the loop; out_fd == in_fd */
    bool out_pollable;               /* out_fd is in the loop (not a regular file) */
    bool out_socket;                 /* out_fd is a socket: send() without blocking */
    bool in_on, out_on;              /* current interest, under lock */
    bool in_paused;                  /* the front end had no room */
    bool in_parked;                  /* ...and the writer hung up with bytes unread: in_fd out of the loop */
    int rearm_queued;                /* atomic: an accept_input call is pending */

    uint8_t *obuf;                   /* ring of pending output */
    size_t ohead, olen;

    bool escape_pending, tty_escape; /* stdio on a terminal: Ctrl-A commands */
    char *path;                      /* unix: socket path to unlink */
    char pty_name[64];
};

/* ---- terminal state, restored at exit and on fatal signals ---- */

static struct termios saved_tty;
static volatile sig_atomic_t tty_is_raw;
static void (*quit_handler)(void *opaque);
static void *quit_opaque;

static void tty_restore(void)
{
    if (tty_is_raw) {
        tcsetattr(STDIN_FILENO, TCSANOW, &saved_tty);
        tty_is_raw = 0;
    }
}

static void fatal_signal(int sig)
{
    tty_restore();                   /* tcsetattr is async-signal-safe */
    signal(sig, SIG_DFL);
    raise(sig);
}

static int tty_make_raw(void)
{
    static bool hooks_installed;
    if (tcgetattr(STDIN_FILENO, &saved_tty) < 0)
        return -errno;
    struct termios t = saved_tty;
    cfmakeraw(&t);
    t.c_oflag |= OPOST;              /* keep the host's newline handling for output */
    if (tcsetattr(STDIN_FILENO, TCSANOW, &t) < 0)
        return -errno;
    tty_is_raw = 1;
    if (!hooks_installed) {
        hooks_installed = true;
        atexit(tty_restore);
        int sigs[] = { SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE, SIGQUIT };
        for (unsigned i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
            signal(sigs[i], fatal_signal);
    }
    return 0;
}

void chardev_set_quit_handler(void (*fn)(void *opaque), void *opaque)
{
    quit_handler = fn;
    quit_opaque = opaque;
}

static void escape_quit(void)
{
    if (quit_handler) {
        quit_handler(quit_opaque);
        return;
    }
    fprintf(stderr, "\r\ndomus-vmm: terminated (Ctrl-A x)\r\n");
    exit(0);
}

/* ---- helpers ---- */

/* Recomputes the epoll interest of the input fd (which is also the output
 * fd for a pty or socket client) and of a separate output fd. Caller holds lock. */
static void update_events(struct chardev *chr)
{
    if (chr->in_fd >= 0 && chr->in_registered) {
        uint32_t ev = chr->in_on ? EPOLLIN : 0;
        if (chr->out_shared && chr->out_on)
            ev |= EPOLLOUT;
        event_loop_modify(chr->loop, chr->in_fd, ev);
    }
    if (chr->out_fd >= 0 && !chr->out_shared && chr->out_pollable)
        event_loop_modify(chr->loop, chr->out_fd, chr->out_on ? EPOLLOUT : 0);
}

/* Writes what the fd takes now; returns bytes written, -1 if the fd is dead. */
static ssize_t write_some(struct chardev *chr, const uint8_t *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        /* send() so a vanished socket client cannot raise SIGPIPE */
        ssize_t n = chr->out_socket
                        ? send(chr->out_fd, buf + done, len - done, MSG_NOSIGNAL | MSG_DONTWAIT)
                        : write(chr->out_fd, buf + done, len - done);
        if (n > 0) {
            done += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            break;
        } else {
            return done ? (ssize_t)done : -1;
        }
    }
    return (ssize_t)done;
}

/* Drains the ring into out_fd. Caller holds lock. */
static void flush_ring(struct chardev *chr)
{
    while (chr->olen && chr->out_fd >= 0) {
        size_t chunk = OUT_BUF_SIZE - chr->ohead;
        if (chunk > chr->olen)
            chunk = chr->olen;
        ssize_t n = write_some(chr, chr->obuf + chr->ohead, chunk);
        if (n <= 0) {
            if (n < 0)
                chr->olen = 0;       /* reader gone: drop; the input side notices the hangup */
            break;
        }
        chr->ohead = (chr->ohead + (size_t)n) % OUT_BUF_SIZE;
        chr->olen -= (size_t)n;
    }
    if (!chr->olen)
        chr->ohead = 0;
}

void chardev_write(struct chardev *chr, const uint8_t *buf, size_t len)
{
    if (!chr || !len)
        return;
    pthread_mutex_lock(&chr->lock);
    if (chr->out_fd < 0) {
        pthread_mutex_unlock(&chr->lock);
        return;
    }
    if (chr->olen && !chr->out_pollable)
        flush_ring(chr);             /* nobody tells us when it drains */
    if (!chr->olen) {
        ssize_t n = write_some(chr, buf, len);
        if (n < 0)
            n = (ssize_t)len;
        buf += n;
        len -= (size_t)n;
    }
    /* Whatever the reader cannot take now waits in the ring; past its size
     * the newest bytes are dropped rather than blocking the vCPU. */
    while (len && chr->olen < OUT_BUF_SIZE) {
        chr->obuf[(chr->ohead + chr->olen) % OUT_BUF_SIZE] = *buf++;
        chr->olen++;
        len--;
    }
    bool want_out = chr->olen > 0;
    if (want_out != chr->out_on) {
        chr->out_on = want_out;
        update_events(chr);
    }
    pthread_mutex_unlock(&chr->lock);
}

static void on_writable(struct chardev *chr)
{
    pthread_mutex_lock(&chr->lock);
    flush_ring(chr);
    if (!chr->olen && chr->out_on) {
        chr->out_on = false;
        update_events(chr);
    }
    pthread_mutex_unlock(&chr->lock);
}

/* ---- input ---- */

static void set_input(struct chardev *chr, bool on)
{
    pthread_mutex_lock(&chr->lock);
    if (chr->in_on != on) {
        chr->in_on = on;
        update_events(chr);
    }
    pthread_mutex_unlock(&chr->lock);
}

static void disconnect_client(struct chardev *chr);

/* Handles Ctrl-A commands in place; returns the bytes left for the guest. */
static size_t filter_escapes(struct chardev *chr, uint8_t *buf, size_t len)
{
    size_t out = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = buf[i];
        if (chr->escape_pending) {
            chr->escape_pending = false;
            if (c == 'x' || c == 'X') {
                escape_quit();
                return 0;
            }
            if (c == 'h' || c == '?')
                fprintf(stderr, "\r\nC-a x    exit domus-vmm\r\nC-a C-a  send C-a\r\n");
            if (c == ESCAPE_CHAR)
                buf[out++] = c;
            continue;
        }
        if (c == ESCAPE_CHAR) {
            chr->escape_pending = true;
            continue;
        }
        buf[out++] = c;
    }
    return out;
}

/* End of input: a socket client is dropped, a stdin stops being watched. */
static void input_gone(struct chardev *chr)
{
    if (chr->kind == SERIAL_UNIX) {
        disconnect_client(chr);
    } else if (chr->in_registered) {
        pthread_mutex_lock(&chr->lock);
        event_loop_del(chr->loop, chr->in_fd);
        chr->in_registered = false;
        pthread_mutex_unlock(&chr->lock);
    }
}

static void on_fd_event(void *opaque, uint32_t events);

static void park_input(struct chardev *chr)
{
    pthread_mutex_lock(&chr->lock);
    event_loop_del(chr->loop, chr->in_fd);
    chr->in_registered = chr->in_on = false;
    chr->in_paused = chr->in_parked = true;
    pthread_mutex_unlock(&chr->lock);
}

/* Back into the loop with the bytes still unread; the hangup is seen again
 * once they are read. */
static void unpark_input(struct chardev *chr)
{
    pthread_mutex_lock(&chr->lock);
    chr->in_parked = false;
    if (chr->in_fd >= 0 && event_loop_add(chr->loop, chr->in_fd, EPOLLIN, on_fd_event, chr) == 0)
        chr->in_registered = chr->in_on = true;
    chr->olen = chr->ohead = 0;      /* the reader hung up: output is dropped */
    chr->out_on = false;
    pthread_mutex_unlock(&chr->lock);
}

static void on_input(struct chardev *chr, uint32_t events)
{
    size_t room = chr->has_fe ? chr->fe.can_receive(chr->fe.opaque) : 0;
    if (room == 0) {
        if (events & (EPOLLHUP | EPOLLERR)) {
            int unread = 0;
            if ((events & EPOLLERR) || ioctl(chr->in_fd, FIONREAD, &unread) < 0 || unread <= 0) {
                input_gone(chr);
                return;
            }
            /* A script typed its last command and quit while the guest was
             * busy: those bytes are still owed to the guest. A hangup is
             * reported even without interest, so waiting in the loop would
             * spin; the fd leaves it until the front end has room. */
            park_input(chr);
            return;
        }
        /* Flow control: stop watching until chardev_accept_input(). */
        chr->in_paused = true;
        set_input(chr, false);
        return;
    }
    uint8_t buf[IN_CHUNK];
    if (room > sizeof(buf))
        room = sizeof(buf);
    ssize_t n = read(chr->in_fd, buf, room);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        input_gone(chr);
        return;
    }
    size_t len = chr->tty_escape ? filter_escapes(chr, buf, (size_t)n) : (size_t)n;
    if (len)
        chr->fe.receive(chr->fe.opaque, buf, len);
}

static void on_fd_event(void *opaque, uint32_t events)
{
    struct chardev *chr = opaque;
    if (events & EPOLLOUT)
        on_writable(chr);
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        on_input(chr, events);
}

static void rearm_input(void *opaque)
{
    struct chardev *chr = opaque;
    __atomic_store_n(&chr->rearm_queued, 0, __ATOMIC_SEQ_CST);
    if (chr->in_paused) {
        chr->in_paused = false;
        if (chr->in_parked)
            unpark_input(chr);
        else
            set_input(chr, true);
    }
}

void chardev_accept_input(struct chardev *chr)
{
    if (!chr || __atomic_exchange_n(&chr->rearm_queued, 1, __ATOMIC_SEQ_CST))
        return;
    if (event_loop_call(chr->loop, rearm_input, chr) < 0)
        __atomic_store_n(&chr->rearm_queued, 0, __ATOMIC_SEQ_CST);
}

void chardev_set_frontend(struct chardev *chr, const struct chardev_frontend *fe)
{
    if (!chr)
        return;
    chr->fe = *fe;
    chr->has_fe = true;
    chr->in_paused = false;
    set_input(chr, true);
}

/* ---- UNIX socket: one client at a time, a new one replaces the old ---- */

static void disconnect_client(struct chardev *chr)
{
    pthread_mutex_lock(&chr->lock);
    int fd = chr->in_fd;
    if (fd >= 0) {
        event_loop_del(chr->loop, fd);
        close(fd);
    }
    chr->in_fd = chr->out_fd = -1;
    chr->in_registered = chr->in_parked = false;
    chr->olen = chr->ohead = 0;
    chr->out_on = false;
    pthread_mutex_unlock(&chr->lock);
}

static void on_accept(void *opaque, uint32_t events)
{
    struct chardev *chr = opaque;
    int fd = accept4(chr->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    disconnect_client(chr);
    pthread_mutex_lock(&chr->lock);
    chr->in_fd = chr->out_fd = fd;
    chr->out_shared = true;
    chr->in_on = chr->has_fe && !chr->in_paused;
    if (event_loop_add(chr->loop, fd, chr->in_on ? EPOLLIN : 0, on_fd_event, chr) == 0) {
        chr->in_registered = true;
    } else {
        close(fd);
        chr->in_fd = chr->out_fd = -1;
    }
    pthread_mutex_unlock(&chr->lock);
}

static int open_unix(struct chardev *chr, const char *path, char **error)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (!path || !*path || strlen(path) >= sizeof(sa.sun_path)) {
        set_error(error, "bad socket path");
        return -EINVAL;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    unlink(path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0) {
        int err = -errno;
        set_error(error, "cannot listen on %s: %s", path, strerror(-err));
        close(fd);
        return err;
    }
    chr->listen_fd = fd;
    chr->out_shared = true;          /* each client's socket carries both directions */
    chr->out_socket = true;
    chr->path = strdup(path);
    int r = event_loop_add(chr->loop, fd, EPOLLIN, on_accept, chr);
    if (r)
        set_error(error, "cannot watch %s: %s", path, strerror(-r));
    return r;
}

/* ---- pty ---- */

static int open_pty(struct chardev *chr, char **error)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0 ||
        ptsname_r(m, chr->pty_name, sizeof(chr->pty_name)) != 0) {
        int err = -errno;
        set_error(error, "cannot create a pty: %s", strerror(errno));
        if (m >= 0)
            close(m);
        return err;
    }
    /* Holding the slave open keeps the master from reporting hangup while
     * no terminal program is attached; raw so it neither echoes nor edits. */
    chr->pty_slave = open(chr->pty_name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (chr->pty_slave >= 0) {
        struct termios t;
        if (tcgetattr(chr->pty_slave, &t) == 0) {
            cfmakeraw(&t);
            tcsetattr(chr->pty_slave, TCSANOW, &t);
        }
    }
    fcntl(m, F_SETFL, fcntl(m, F_GETFL) | O_NONBLOCK);
    chr->in_fd = chr->out_fd = m;
    chr->out_owned = true;
    chr->out_shared = true;
    fprintf(stderr, "domus-vmm: serial on %s\n", chr->pty_name);
    return 0;
}

/* ---- stdio ---- */

/* A private non-blocking description of stdout, so O_NONBLOCK does not leak
 * into the shell's terminal or into stderr sharing the same description. */
static int open_stdout(struct chardev *chr)
{
    struct stat st;
    if (fstat(STDOUT_FILENO, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode)) {
        int fd = open("/proc/self/fd/1", O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd >= 0) {
            chr->out_fd = fd;
            chr->out_owned = true;
            return 0;
        }
    }
    /* A regular file does not stall for long; a socket (say, a journal)
     * cannot be reopened, but send() can be told not to block. */
    chr->out_fd = STDOUT_FILENO;
    chr->out_socket = S_ISSOCK(st.st_mode);
    return 0;
}

static int open_stdio(struct chardev *chr, char **error)
{
    int r = open_stdout(chr);
    if (r) {
        set_error(error, "stdout: %s", strerror(-r));
        return r;
    }
    if (isatty(STDIN_FILENO)) {
        if (tty_make_raw() == 0)
            chr->tty_escape = true;
    }
    chr->in_fd = STDIN_FILENO;
    return 0;
}

/* ---- open / close ---- */

struct chardev *chardev_open(struct event_loop *loop, enum serial_kind kind, const char *path, char **error)
{
    struct chardev *chr = calloc(1, sizeof(*chr));
    if (!chr || !(chr->obuf = malloc(OUT_BUF_SIZE))) {
        free(chr);
        set_error(error, "out of memory");
        return NULL;
    }
    chr->kind = kind;
    chr->loop = loop;
    chr->in_fd = chr->out_fd = chr->listen_fd = chr->pty_slave = -1;
    pthread_mutex_init(&chr->lock, NULL);

    int r = 0;
    switch (kind) {
    case SERIAL_NONE:
        break;
    case SERIAL_STDIO:
        r = open_stdio(chr, error);
        break;
    case SERIAL_PTY:
        r = open_pty(chr, error);
        break;
    case SERIAL_UNIX:
        r = open_unix(chr, path, error);
        break;
    case SERIAL_FILE: {
        /* A guest reboot re-executes the VMM (vm.c sets DOMUS_VMM_REBOOTED):
         * the log then continues instead of starting over. */
        int trunc = getenv("DOMUS_VMM_REBOOTED") ? 0 : O_TRUNC;
        chr->out_fd = path ? open(path, O_WRONLY | O_CREAT | O_APPEND | trunc | O_CLOEXEC | O_NONBLOCK, 0644) : -1;
        chr->out_owned = true;
        if (chr->out_fd < 0) {
            r = path ? -errno : -EINVAL;
            set_error(error, "cannot open %s: %s", path ? path : "(no path)", strerror(-r));
        }
        break;
    }
    }
    if (r == 0 && chr->in_fd >= 0) {
        /* Registered with no interest until a front end is attached. Some
         * stdins cannot be polled (/dev/null, a regular file): no input then. */
        if (event_loop_add(loop, chr->in_fd, 0, on_fd_event, chr) == 0)
            chr->in_registered = true;
    }
    if (r == 0 && chr->out_fd >= 0 && !chr->out_shared)
        chr->out_pollable = event_loop_add(loop, chr->out_fd, 0, on_fd_event, chr) == 0;
    if (r) {
        chardev_close(chr);
        return NULL;
    }
    return chr;
}

void chardev_close(struct chardev *chr)
{
    if (!chr)
        return;
    pthread_mutex_lock(&chr->lock);
    flush_ring(chr);
    pthread_mutex_unlock(&chr->lock);
    if (chr->in_fd >= 0 && chr->in_registered)
        event_loop_del(chr->loop, chr->in_fd);
    if (chr->out_fd >= 0 && chr->out_pollable)
        event_loop_del(chr->loop, chr->out_fd);
    if (chr->listen_fd >= 0) {
        event_loop_del(chr->loop, chr->listen_fd);
        close(chr->listen_fd);
    }
    if (chr->kind == SERIAL_UNIX && chr->in_fd >= 0)
        close(chr->in_fd);
    if (chr->out_owned && chr->out_fd >= 0)
        close(chr->out_fd);
    if (chr->pty_slave >= 0)
        close(chr->pty_slave);
    if (chr->kind == SERIAL_STDIO)
        tty_restore();
    if (chr->path) {
        unlink(chr->path);
        free(chr->path);
    }
    pthread_mutex_destroy(&chr->lock);
    free(chr->obuf);
    free(chr);
}

const char *chardev_pty_name(struct chardev *chr)
{
    return chr && chr->kind == SERIAL_PTY ? chr->pty_name : NULL;
}
