/* 16550A UART on COM1. Transmission is instantaneous (THR is always empty
 * again by the time the guest looks), so only the receive side has a real
 * FIFO. The interrupt is a level on the GSI, gated by MCR.OUT2 as the PC
 * wires it, and re-evaluated after every register access and on input. */
#include "chardev.h"
#include "devices.h"
#include "core/irq.h"
#include "core/platform.h"
#include "core/state.h"
#include "core/vm.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

enum { REG_RBR_THR, REG_IER, REG_IIR_FCR, REG_LCR, REG_MCR, REG_LSR, REG_MSR, REG_SCR };

#define IER_RDI     0x01             /* received data available */
#define IER_THRI    0x02             /* transmitter holding register empty */
#define IER_RLSI    0x04             /* receiver line status */
#define IER_MSI     0x08             /* modem status */

#define IIR_NO_INT  0x01
#define IIR_MSI     0x00
#define IIR_THRI    0x02
#define IIR_RDI     0x04
#define IIR_RLSI    0x06
#define IIR_TIMEOUT 0x0C
#define IIR_FIFO    0xC0             /* both bits: FIFOs enabled (16550A, not 16550) */

#define FCR_ENABLE  0x01
#define FCR_CLR_RX  0x02
#define FCR_CLR_TX  0x04

#define LCR_DLAB    0x80

#define MCR_DTR     0x01
#define MCR_RTS     0x02
#define MCR_OUT1    0x04
#define MCR_OUT2    0x08
#define MCR_LOOP    0x10

#define LSR_DR      0x01
#define LSR_OE      0x02
#define LSR_PE      0x04
#define LSR_FE      0x08
#define LSR_BI      0x10
#define LSR_THRE    0x20
#define LSR_TEMT    0x40
#define LSR_ERRORS  (LSR_OE | LSR_PE | LSR_FE | LSR_BI)

#define MSR_DCTS    0x01
#define MSR_DDSR    0x02
#define MSR_TERI    0x04
#define MSR_DDCD    0x08
#define MSR_CTS     0x10
#define MSR_DSR     0x20
#define MSR_RI      0x40
#define MSR_DCD     0x80
/* Outside loopback the "cable" has a ready modem on it. */
#define MSR_LINES_NORMAL (MSR_CTS | MSR_DSR | MSR_DCD)

#define RX_FIFO_SIZE 16

struct serial {
    struct vm *vm;
    struct chardev *chr;
    unsigned gsi;
    pthread_mutex_t lock;

    uint8_t ier, lcr, mcr, lsr, msr, scr, dll, dlm, fcr;
    bool thr_ipending;               /* THRE interrupt armed (cleared by IIR read / THR write) */
    uint8_t rx[RX_FIFO_SIZE];
    unsigned rx_head, rx_count;
    bool rx_blocked;                 /* told the backend we had no room */
    int irq_level;
};

static const unsigned rx_trigger[4] = { 1, 4, 8, 14 };

static bool fifo_on(const struct serial *s)
{
    return s->fcr & FCR_ENABLE;
}

static unsigned rx_capacity(const struct serial *s)
{
    return fifo_on(s) ? RX_FIFO_SIZE : 1;
}

/* Pending interrupt by 16550 priority. */
static uint8_t serial_iir_id(const struct serial *s)
{
    if ((s->ier & IER_RLSI) && (s->lsr & LSR_ERRORS))
        return IIR_RLSI;
    if ((s->ier & IER_RDI) && s->rx_count) {
        /* Below the trigger level the chip reports a character timeout
         * after four character times; we report it at once. */
        if (fifo_on(s) && s->rx_count < rx_trigger[s->fcr >> 6])
            return IIR_TIMEOUT;
        return IIR_RDI;
    }
    if ((s->ier & IER_THRI) && s->thr_ipending)
        return IIR_THRI;
    if ((s->ier & IER_MSI) && (s->msr & 0x0F))
        return IIR_MSI;
    return IIR_NO_INT;
}

static void serial_update_irq(struct serial *s)
{
    /* OUT2 drives the PC's IRQ buffer; in loopback the modem outputs are
     * disconnected from the pins, so the line stays quiet. */
    int level = serial_iir_id(s) != IIR_NO_INT && (s->mcr & (MCR_OUT2 | MCR_LOOP)) == MCR_OUT2;
    if (level != s->irq_level) {
        s->irq_level = level;
        if (s->vm)
            irq_line_set(s->vm, s->gsi, level);
    }
}

static void rx_push(struct serial *s, uint8_t c)
{
    if (s->rx_count >= rx_capacity(s)) {
        s->lsr |= LSR_OE;            /* the new character is lost, the FIFO kept */
        return;
    }
    s->rx[(s->rx_head + s->rx_count) % RX_FIFO_SIZE] = c;
    s->rx_count++;
    s->lsr |= LSR_DR;
}

static uint8_t rx_pop(struct serial *s)
{
    if (!s->rx_count)
        return 0;
    uint8_t c = s->rx[s->rx_head];
    s->rx_head = (s->rx_head + 1) % RX_FIFO_SIZE;
    if (--s->rx_count == 0)
        s->lsr &= (uint8_t)~LSR_DR;
    return c;
}

static void rx_clear(struct serial *s)
{
    s->rx_head = s->rx_count = 0;
    s->lsr &= (uint8_t)~LSR_DR;
}

/* Room for the backend; none in loopback (the receiver hears only us). */
static unsigned rx_room(const struct serial *s)
{
    if (s->mcr & MCR_LOOP)
        return 0;
    return rx_capacity(s) - s->rx_count;
}

/* In loopback the modem inputs follow the modem outputs. */
static void serial_update_msr(struct serial *s)
{
    uint8_t lines = MSR_LINES_NORMAL;
    if (s->mcr & MCR_LOOP) {
        lines = 0;
        if (s->mcr & MCR_RTS)
            lines |= MSR_CTS;
        if (s->mcr & MCR_DTR)
            lines |= MSR_DSR;
        if (s->mcr & MCR_OUT1)
            lines |= MSR_RI;
        if (s->mcr & MCR_OUT2)
            lines |= MSR_DCD;
    }
    uint8_t old = s->msr & 0xF0, changed = old ^ lines, delta = 0;
    if (changed & MSR_CTS)
        delta |= MSR_DCTS;
    if (changed & MSR_DSR)
        delta |= MSR_DDSR;
    if ((old & MSR_RI) && !(lines & MSR_RI))
        delta |= MSR_TERI;           /* trailing edge only */
    if (changed & MSR_DCD)
        delta |= MSR_DDCD;
    s->msr = lines | (s->msr & 0x0F) | delta;
}

static void serial_transmit(struct serial *s, uint8_t c)
{
    if (s->mcr & MCR_LOOP)
        rx_push(s, c);
    else
        chardev_write(s->chr, &c, 1);
    /* Sent at once: the holding register is empty again. */
    s->thr_ipending = true;
}

static void serial_reset_locked(struct serial *s)
{
    s->ier = s->lcr = s->mcr = s->scr = s->fcr = 0;
    s->dll = 0x0C;                   /* 9600 baud, as BIOSes leave it */
    s->dlm = 0;
    s->lsr = LSR_THRE | LSR_TEMT;
    s->msr = MSR_LINES_NORMAL;
    s->thr_ipending = false;
    rx_clear(s);
    serial_update_irq(s);
}

/* After a register access: new interrupt state, and input resumes if the
 * guest made room. Drops the lock (the backend is told outside it). */
static void serial_access_done(struct serial *s)
{
    serial_update_irq(s);
    bool wake = s->rx_blocked && rx_room(s) > 0;
    if (wake)
        s->rx_blocked = false;
    pthread_mutex_unlock(&s->lock);
    if (wake)
        chardev_accept_input(s->chr);
}

static uint64_t serial_read(void *opaque, uint64_t offset, unsigned size)
{
    struct serial *s = opaque;
    uint8_t v = 0xFF;
    pthread_mutex_lock(&s->lock);
    switch (offset) {
    case REG_RBR_THR:
        v = (s->lcr & LCR_DLAB) ? s->dll : rx_pop(s);
        break;
    case REG_IER:
        v = (s->lcr & LCR_DLAB) ? s->dlm : s->ier;
        break;
    case REG_IIR_FCR: {
        uint8_t id = serial_iir_id(s);
        if (id == IIR_THRI)
            s->thr_ipending = false; /* reading the THRE cause acknowledges it */
        v = id | (fifo_on(s) ? IIR_FIFO : 0);
        break;
    }
    case REG_LCR:
        v = s->lcr;
        break;
    case REG_MCR:
        v = s->mcr;
        break;
    case REG_LSR:
        v = s->lsr;
        s->lsr &= (uint8_t)~LSR_ERRORS;
        break;
    case REG_MSR:
        v = s->msr;
        s->msr &= 0xF0;
        break;
    case REG_SCR:
        v = s->scr;
        break;
    }
    serial_access_done(s);
    return v;
}

static void serial_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    struct serial *s = opaque;
    uint8_t v = (uint8_t)value;
    pthread_mutex_lock(&s->lock);
    switch (offset) {
    case REG_RBR_THR:
        if (s->lcr & LCR_DLAB)
            s->dll = v;
        else
            serial_transmit(s, v);
        break;
    case REG_IER:
        if (s->lcr & LCR_DLAB) {
            s->dlm = v;
        } else {
            /* Enabling THRI with the transmitter idle raises THRE at once;
             * Linux's 8250 driver tests for exactly this. */
            if ((v & IER_THRI) && !(s->ier & IER_THRI))
                s->thr_ipending = true;
            s->ier = v & 0x0F;
        }
        break;
    case REG_IIR_FCR:
        if ((v ^ s->fcr) & FCR_ENABLE)
            rx_clear(s);             /* switching FIFO mode empties the FIFOs */
        if (v & FCR_CLR_RX)
            rx_clear(s);
        s->fcr = v & (FCR_ENABLE | 0xC0);
        if (!(v & FCR_ENABLE))
            s->fcr = 0;
        break;
    case REG_LCR:
        s->lcr = v;
        break;
    case REG_MCR:
        s->mcr = v & 0x1F;
        serial_update_msr(s);
        break;
    case REG_LSR:
    case REG_MSR:
        break;                       /* read-only (factory test writes ignored) */
    case REG_SCR:
        s->scr = v;
        break;
    }
    serial_access_done(s);
}

static const struct io_ops serial_ops = { .read = serial_read, .write = serial_write };

/* ---- backend side (I/O thread) ---- */

static size_t serial_can_receive(void *opaque)
{
    struct serial *s = opaque;
    pthread_mutex_lock(&s->lock);
    unsigned room = rx_room(s);
    if (!room)
        s->rx_blocked = true;
    pthread_mutex_unlock(&s->lock);
    return room;
}

static void serial_receive(void *opaque, const uint8_t *buf, size_t len)
{
    struct serial *s = opaque;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < len; i++)
        rx_push(s, buf[i]);
    serial_update_irq(s);
    pthread_mutex_unlock(&s->lock);
}

static void serial_reset(void *opaque)
{
    struct serial *s = opaque;
    pthread_mutex_lock(&s->lock);
    serial_reset_locked(s);
    pthread_mutex_unlock(&s->lock);
    chardev_accept_input(s->chr);
}

#define SERIAL_STATE_VERSION 1
struct serial_state {
    uint8_t ier, lcr, mcr, lsr, msr, scr, dll, dlm, fcr, thr_ipending, pad[2];
    uint32_t rx_head, rx_count;
    uint8_t rx[RX_FIFO_SIZE];
};

static long serial_state_save(void *opaque, void *buf, size_t max)
{
    struct serial *s = opaque;
    struct serial_state st = { 0 };
    pthread_mutex_lock(&s->lock);
    st = (struct serial_state){ .ier = s->ier, .lcr = s->lcr, .mcr = s->mcr, .lsr = s->lsr, .msr = s->msr,
                                .scr = s->scr, .dll = s->dll, .dlm = s->dlm, .fcr = s->fcr,
                                .thr_ipending = s->thr_ipending, .rx_head = s->rx_head, .rx_count = s->rx_count };
    memcpy(st.rx, s->rx, sizeof(st.rx));
    pthread_mutex_unlock(&s->lock);
    return state_save_struct(buf, max, &st, sizeof(st));
}

static int serial_state_load(void *opaque, const void *buf, size_t len)
{
    struct serial *s = opaque;
    struct serial_state st;
    if (state_check_size(len, sizeof(st)) < 0)
        return -EINVAL;
    memcpy(&st, buf, sizeof(st));
    if (st.rx_head >= RX_FIFO_SIZE || st.rx_count > RX_FIFO_SIZE)
        return -EINVAL;
    pthread_mutex_lock(&s->lock);
    s->ier = st.ier, s->lcr = st.lcr, s->mcr = st.mcr, s->lsr = st.lsr, s->msr = st.msr;
    s->scr = st.scr, s->dll = st.dll, s->dlm = st.dlm, s->fcr = st.fcr;
    s->thr_ipending = st.thr_ipending;
    s->rx_head = st.rx_head;
    s->rx_count = st.rx_count;
    memcpy(s->rx, st.rx, sizeof(s->rx));
    s->irq_level = -1;               /* drive the line whatever KVM had */
    serial_update_irq(s);
    pthread_mutex_unlock(&s->lock);
    chardev_accept_input(s->chr);
    return 0;
}

static const struct state_ops serial_state_ops = {
    .version = SERIAL_STATE_VERSION, .save = serial_state_save, .load = serial_state_load,
};

int serial_create(struct vm *vm, struct chardev *chr)
{
    struct serial *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->vm = vm;
    s->chr = chr;
    s->gsi = PLAT_COM1_IRQ;
    pthread_mutex_init(&s->lock, NULL);
    serial_reset_locked(s);
    int r = io_bus_register(&vm->pio, PLAT_COM1_PORT, 8, &serial_ops, s);
    if (r) {
        pthread_mutex_destroy(&s->lock);
        free(s);
        return r;
    }
    if (chr) {
        struct chardev_frontend fe = { .can_receive = serial_can_receive,
                                       .receive = serial_receive, .opaque = s };
        chardev_set_frontend(chr, &fe);
    }
    vm_add_reset_hook(vm, serial_reset, s);
    return vm_state_register(vm, "serial", &serial_state_ops, s);
}
