/* 16550A: loopback, interrupt priorities, divisor latch, FIFO overrun, and
 * input/output through a UNIX-socket backend with flow control. */
#include "core/bus.h"
#include "core/event_loop.h"
#include "core/platform.h"
#include "core/vm.h"
#include "devices/chardev.h"
#include "devices/devices.h"

#include <glib.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define THR 0
#define RBR 0
#define DLL 0
#define IER 1
#define DLM 1
#define IIR 2
#define FCR 2
#define LCR 3
#define MCR 4
#define LSR 5
#define MSR 6
#define SCR 7

struct fixture {
    struct vm vm;
};

static void outb(struct fixture *f, unsigned reg, uint8_t v)
{
    io_bus_write(&f->vm.pio, PLAT_COM1_PORT + reg, &v, 1);
}

static uint8_t inb(struct fixture *f, unsigned reg)
{
    uint8_t v = 0;
    io_bus_read(&f->vm.pio, PLAT_COM1_PORT + reg, &v, 1);
    return v;
}

static void fixture_setup(struct fixture *f, gconstpointer data)
{
    memset(f, 0, sizeof(*f));
    f->vm.vm_fd = f->vm.kvm_fd = -1;
    io_bus_init(&f->vm.pio, "pio");
    io_bus_init(&f->vm.mmio, "mmio");
    if (data == NULL)
        g_assert_cmpint(serial_create(&f->vm, NULL), ==, 0);
}

static void fixture_teardown(struct fixture *f, gconstpointer data)
{
    io_bus_destroy(&f->vm.pio);
    io_bus_destroy(&f->vm.mmio);
}

static void test_power_on(struct fixture *f, gconstpointer data)
{
    g_assert_cmphex(inb(f, IIR), ==, 0x01);
    g_assert_cmphex(inb(f, LSR), ==, 0x60);
    g_assert_cmphex(inb(f, MSR) & 0xF0, ==, 0xB0);
    outb(f, SCR, 0xA5);
    g_assert_cmphex(inb(f, SCR), ==, 0xA5);
    /* IER keeps only its four bits (Linux's existence test). */
    outb(f, IER, 0xFF);
    g_assert_cmphex(inb(f, IER), ==, 0x0F);
}

static void test_dlab(struct fixture *f, gconstpointer data)
{
    outb(f, IER, 0x05);
    outb(f, LCR, 0x83);
    outb(f, DLL, 0x01);
    outb(f, DLM, 0x02);
    g_assert_cmphex(inb(f, DLL), ==, 0x01);
    g_assert_cmphex(inb(f, DLM), ==, 0x02);
    outb(f, LCR, 0x03);
    g_assert_cmphex(inb(f, IER), ==, 0x05);
    g_assert_cmphex(inb(f, LCR), ==, 0x03);
    outb(f, LCR, 0x83);
    g_assert_cmphex(inb(f, DLL), ==, 0x01);
}

static void test_loopback(struct fixture *f, gconstpointer data)
{
    /* Linux's probe: loopback with RTS and OUT2 reads back CTS and DCD. */
    outb(f, MCR, 0x10 | 0x0A);
    g_assert_cmphex(inb(f, MSR) & 0xF0, ==, 0x90);
    outb(f, FCR, 0x07);
    g_assert_cmphex(inb(f, IIR) & 0xC0, ==, 0xC0);
    const char *msg = "echo!";
    for (const char *p = msg; *p; p++)
        outb(f, THR, (uint8_t)*p);
    for (const char *p = msg; *p; p++) {
        g_assert_cmphex(inb(f, LSR) & 0x01, ==, 0x01);
        g_assert_cmphex(inb(f, RBR), ==, (uint8_t)*p);
    }
    g_assert_cmphex(inb(f, LSR) & 0x01, ==, 0);
    outb(f, MCR, 0x0B);
    g_assert_cmphex(inb(f, MSR) & 0xF0, ==, 0xB0);
}

static void test_fifo_overrun(struct fixture *f, gconstpointer data)
{
    outb(f, FCR, 0x01);
    outb(f, MCR, 0x10);
    for (unsigned i = 0; i < 17; i++)
        outb(f, THR, (uint8_t)i);
    uint8_t lsr = inb(f, LSR);
    g_assert_cmphex(lsr & 0x03, ==, 0x03);           /* DR and OE */
    g_assert_cmphex(inb(f, LSR) & 0x02, ==, 0);      /* OE clears on read */
    for (unsigned i = 0; i < 16; i++)
        g_assert_cmpuint(inb(f, RBR), ==, i);        /* the 17th was lost */
    g_assert_cmphex(inb(f, LSR) & 0x01, ==, 0);

    /* Without FIFOs the holding register takes one byte. */
    outb(f, FCR, 0x00);
    g_assert_cmphex(inb(f, IIR) & 0xC0, ==, 0);
    outb(f, THR, 'a');
    outb(f, THR, 'b');
    g_assert_cmphex(inb(f, LSR) & 0x03, ==, 0x03);
    g_assert_cmphex(inb(f, RBR), ==, 'a');
}

static void test_iir_priority(struct fixture *f, gconstpointer data)
{
    outb(f, FCR, 0x01);                              /* FIFO, trigger level 1 */
    outb(f, MCR, 0x10);
    inb(f, MSR);                                     /* entering loopback changed the lines */
    /* Enabling THRI with the transmitter empty raises THRE at once. */
    outb(f, IER, 0x02);
    g_assert_cmphex(inb(f, IIR), ==, 0xC2);
    g_assert_cmphex(inb(f, IIR), ==, 0xC1);          /* reading it acknowledged it */

    outb(f, IER, 0x0F);
    for (unsigned i = 0; i < 17; i++)
        outb(f, THR, (uint8_t)i);                    /* data, overrun, THRE again */
    g_assert_cmphex(inb(f, IIR), ==, 0xC6);          /* line status first */
    inb(f, LSR);
    g_assert_cmphex(inb(f, IIR), ==, 0xC4);          /* then received data */
    while (inb(f, LSR) & 0x01)
        inb(f, RBR);
    g_assert_cmphex(inb(f, IIR), ==, 0xC2);          /* then THR empty */
    g_assert_cmphex(inb(f, IIR), ==, 0xC1);

    /* Modem status last: toggling RTS in loopback flips CTS. */
    outb(f, MCR, 0x12);
    g_assert_cmphex(inb(f, IIR), ==, 0xC0);
    g_assert_cmphex(inb(f, MSR), ==, 0x11);          /* CTS + delta CTS */
    g_assert_cmphex(inb(f, IIR), ==, 0xC1);

    /* Below a trigger level of 4 received data shows as a timeout. */
    outb(f, FCR, 0x41);
    outb(f, THR, 'x');
    g_assert_cmphex(inb(f, IIR), ==, 0xCC);
    for (unsigned i = 0; i < 3; i++)
        outb(f, THR, 'y');
    g_assert_cmphex(inb(f, IIR), ==, 0xC4);
}

/* ---- through a real backend ---- */

static void *loop_thread(void *arg)
{
    event_loop_run(arg);
    return NULL;
}

static int connect_unix(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    return fd;
}

/* Waits (bounded) for the UART to report received data. */
static bool wait_dr(struct fixture *f)
{
    for (unsigned i = 0; i < 2000; i++) {
        if (inb(f, LSR) & 0x01)
            return true;
        g_usleep(1000);
    }
    return false;
}

struct backend {
    char *dir, *path;
    struct chardev *chr;
    pthread_t th;
};

/* COM1 on a UNIX-socket backend, its event loop on a thread of its own as in the VMM. */
static void backend_start(struct fixture *f, struct backend *b)
{
    b->dir = g_dir_make_tmp("domus-serial-XXXXXX", NULL);
    b->path = g_build_filename(b->dir, "com1.sock", NULL);
    f->vm.loop = event_loop_new();
    char *err = NULL;
    b->chr = chardev_open(f->vm.loop, SERIAL_UNIX, b->path, &err);
    g_assert_nonnull(b->chr);
    g_assert_cmpint(serial_create(&f->vm, b->chr), ==, 0);
    pthread_create(&b->th, NULL, loop_thread, f->vm.loop);
    outb(f, FCR, 0x07);
}

static void backend_stop(struct fixture *f, struct backend *b)
{
    event_loop_stop(f->vm.loop);
    pthread_join(b->th, NULL);
    chardev_close(b->chr);
    g_assert_false(g_file_test(b->path, G_FILE_TEST_EXISTS));
    event_loop_free(f->vm.loop);
    rmdir(b->dir);
    g_free(b->path);
    g_free(b->dir);
}

/* Reads LEN bytes from the UART as a driver would, checking each against WANT. */
static void expect_received(struct fixture *f, const char *want, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        g_assert_true(wait_dr(f));
        g_assert_cmpint(inb(f, RBR), ==, want[i]);
        g_assert_cmphex(inb(f, LSR) & 0x02, ==, 0);  /* never an overrun */
    }
}

static void test_backend(struct fixture *f, gconstpointer data)
{
    struct backend b;
    backend_start(f, &b);
    int fd = connect_unix(b.path);
    /* More than the FIFO holds: the backend must pause and resume. */
    char sent[100];
    for (unsigned i = 0; i < sizeof(sent); i++)
        sent[i] = (char)('A' + i % 26);
    g_assert_cmpint(write(fd, sent, sizeof(sent)), ==, sizeof(sent));
    expect_received(f, sent, sizeof(sent));

    const char *out = "hello host\n";
    for (const char *p = out; *p; p++)
        outb(f, THR, (uint8_t)*p);
    char got[32] = { 0 };
    size_t n = 0;
    while (n < strlen(out)) {
        ssize_t r = read(fd, got + n, sizeof(got) - 1 - n);
        g_assert_cmpint(r, >, 0);
        n += (size_t)r;
    }
    g_assert_cmpstr(got, ==, out);

    /* A second client replaces the first. */
    int fd2 = connect_unix(b.path);
    char c = 0;
    g_assert_cmpint(read(fd, &c, 1), ==, 0);
    g_assert_cmpint(write(fd2, "z", 1), ==, 1);
    expect_received(f, "z", 1);

    close(fd);
    close(fd2);
    backend_stop(f, &b);
}

/* A script types a command and quits while the guest is slow to read (the
 * FIFO full): every byte still reaches the guest, and the next client is
 * heard. (Domus once dropped what the FIFO had no room for at the hangup,
 * so `printf 'poweroff -f\n' | domus console VM` could lose its command.) */
static void test_backend_hangup(struct fixture *f, gconstpointer data)
{
    struct backend b;
    backend_start(f, &b);
    int fd = connect_unix(b.path);
    const char *cmd = "echo one; echo two; poweroff -f\n";
    g_assert_cmpint(write(fd, cmd, strlen(cmd)), ==, (ssize_t)strlen(cmd));
    close(fd);
    g_usleep(100 * 1000);            /* the loop sees the hangup with the FIFO full */
    expect_received(f, cmd, strlen(cmd));
    g_usleep(100 * 1000);
    g_assert_cmphex(inb(f, LSR) & 0x01, ==, 0);

    int fd2 = connect_unix(b.path);
    g_assert_cmpint(write(fd2, "z", 1), ==, 1);
    expect_received(f, "z", 1);
    close(fd2);
    backend_stop(f, &b);
}

#define ADD(name, fn, d) g_test_add(name, struct fixture, d, fixture_setup, fn, fixture_teardown)

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    ADD("/serial/power-on", test_power_on, NULL);
    ADD("/serial/dlab", test_dlab, NULL);
    ADD("/serial/loopback", test_loopback, NULL);
    ADD("/serial/fifo-overrun", test_fifo_overrun, NULL);
    ADD("/serial/iir-priority", test_iir_priority, NULL);
    ADD("/serial/backend", test_backend, "no-auto-create");
    ADD("/serial/backend-hangup", test_backend_hangup, "no-auto-create");
    return g_test_run();
}
