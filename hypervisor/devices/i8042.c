/* i8042 keyboard controller: enough for the reset line (0xFE to port 0x64)
 * and for Linux's probe to finish quickly. It answers controller commands,
 * reports that there is no AUX (mouse) port, and has a keyboard that acks
 * its commands but never sends a key; real PS/2 input comes later. */
#include "devices.h"
#include "core/irq.h"
#include "core/platform.h"
#include "core/vm.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#define I8042_DATA       PLAT_I8042_PORT
#define I8042_CMD        (PLAT_I8042_PORT + 4)
#define I8042_KBD_IRQ    1

/* status register */
#define STR_OBF          0x01
#define STR_SYS          0x04        /* self-test passed (firmware has run) */
#define STR_CMD          0x08        /* last write went to the command port */
#define STR_UNLOCKED     0x10        /* keyboard not inhibited */

/* controller configuration byte ("command byte") */
#define CTR_KBDINT       0x01
#define CTR_SYS          0x04
#define CTR_KBDDIS       0x10
#define CTR_AUXDIS       0x20
#define CTR_XLATE        0x40

#define OUT_QUEUE        16

enum pending { PEND_NONE, PEND_CTR, PEND_OUTPORT, PEND_KBD_OUT, PEND_AUX_OUT, PEND_AUX_DEV, PEND_KBD_PARAM };

struct i8042 {
    struct vm *vm;
    pthread_mutex_t lock;
    uint8_t status, ctr, data;       /* data: last byte presented at 0x60 */
    uint8_t queue[OUT_QUEUE];
    unsigned qhead, qlen;
    enum pending pending;            /* what the next write to 0x60 means */
    uint8_t kbd_cmd;                 /* keyboard command awaiting its parameter */
};

/* Moves the next queued byte into the output buffer; raises IRQ 1 if enabled. */
static void deliver(struct i8042 *s)
{
    if ((s->status & STR_OBF) || !s->qlen)
        return;
    s->data = s->queue[s->qhead];
    s->qhead = (s->qhead + 1) % OUT_QUEUE;
    s->qlen--;
    s->status |= STR_OBF;
    if ((s->ctr & CTR_KBDINT) && s->vm)
        irq_line_pulse(s->vm, I8042_KBD_IRQ);
}

static void queue_byte(struct i8042 *s, uint8_t b)
{
    if (s->qlen < OUT_QUEUE)
        s->queue[(s->qhead + s->qlen++) % OUT_QUEUE] = b;
    deliver(s);
}

/* The keyboard's side: every command is acked; a few answer more. */
static void kbd_write(struct i8042 *s, uint8_t b)
{
    if (s->pending == PEND_KBD_PARAM) {
        s->pending = PEND_NONE;
        queue_byte(s, 0xFA);
        if (s->kbd_cmd == 0xF0 && b == 0)
            queue_byte(s, 0x02);     /* current scan code set */
        return;
    }
    switch (b) {
    case 0xED:                       /* set LEDs */
    case 0xF3:                       /* set typematic rate */
    case 0xF0:                       /* get/set scan code set */
        s->kbd_cmd = b;
        s->pending = PEND_KBD_PARAM;
        queue_byte(s, 0xFA);
        break;
    case 0xEE:                       /* echo */
        queue_byte(s, 0xEE);
        break;
    case 0xF2:                       /* identify: MF2 keyboard */
        queue_byte(s, 0xFA);
        queue_byte(s, 0xAB);
        queue_byte(s, 0x83);
        break;
    case 0xFF:                       /* reset and self-test */
        queue_byte(s, 0xFA);
        queue_byte(s, 0xAA);
        break;
    default:
        queue_byte(s, 0xFA);
    }
}

static void data_write(struct i8042 *s, uint8_t b)
{
    enum pending p = s->pending;
    s->status &= (uint8_t)~STR_CMD;
    if (p != PEND_KBD_PARAM)
        s->pending = PEND_NONE;
    switch (p) {
    case PEND_CTR:
        s->ctr = b;
        s->status = (uint8_t)((s->status & ~STR_SYS) | (b & CTR_SYS));
        break;
    case PEND_OUTPORT:
        if (!(b & 0x01) && s->vm)   /* bit 0 is the CPU reset line, active low */
            vm_request(s->vm, VM_REQ_RESET);
        break;
    case PEND_KBD_OUT:
    case PEND_AUX_OUT:
        /* Echoed back as keyboard data; with no AUX port, Linux's AUX
         * loopback test sees the missing AUX bit and gives up at once. */
        queue_byte(s, b);
        break;
    case PEND_AUX_DEV:
        break;                       /* no mouse behind the port */
    default:
        s->ctr &= (uint8_t)~CTR_KBDDIS;  /* writing to the keyboard enables it */
        kbd_write(s, b);
    }
}

static void command_write(struct i8042 *s, uint8_t cmd)
{
    s->status |= STR_CMD;
    switch (cmd) {
    case 0x20: queue_byte(s, s->ctr); break;            /* read CTR */
    case 0x60: s->pending = PEND_CTR; break;            /* write CTR */
    case 0xA7: s->ctr |= CTR_AUXDIS; break;
    case 0xA8: s->ctr &= (uint8_t)~CTR_AUXDIS; break;
    case 0xA9: queue_byte(s, 0x02); break;              /* AUX test: clock stuck = no port */
    case 0xAA:                                          /* controller self-test */
        s->status |= STR_SYS;
        queue_byte(s, 0x55);
        break;
    case 0xAB: queue_byte(s, 0x00); break;              /* keyboard interface test: ok */
    case 0xAD: s->ctr |= CTR_KBDDIS; break;
    case 0xAE: s->ctr &= (uint8_t)~CTR_KBDDIS; break;
    case 0xC0: queue_byte(s, 0x80); break;              /* input port: not inhibited */
    case 0xD0: queue_byte(s, 0x03); break;              /* output port: reset high, A20 on */
    case 0xD1: s->pending = PEND_OUTPORT; break;
    case 0xD2: s->pending = PEND_KBD_OUT; break;
    case 0xD3: s->pending = PEND_AUX_OUT; break;
    case 0xD4: s->pending = PEND_AUX_DEV; break;
    default:
        /* 0xF0-0xFF pulse output port lines; bit 0 low pulses CPU reset. */
        if ((cmd & 0xF0) == 0xF0 && !(cmd & 0x01) && s->vm)
            vm_request(s->vm, VM_REQ_RESET);
        break;
    }
}

static uint64_t i8042_data_read(void *opaque, uint64_t offset, unsigned size)
{
    struct i8042 *s = opaque;
    pthread_mutex_lock(&s->lock);
    uint8_t v = s->data;             /* an empty buffer repeats the last byte */
    s->status &= (uint8_t)~STR_OBF;
    deliver(s);
    pthread_mutex_unlock(&s->lock);
    return v;
}

static uint64_t i8042_status_read(void *opaque, uint64_t offset, unsigned size)
{
    struct i8042 *s = opaque;
    pthread_mutex_lock(&s->lock);
    uint8_t v = s->status;
    pthread_mutex_unlock(&s->lock);
    return v;
}

static void i8042_data_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    struct i8042 *s = opaque;
    pthread_mutex_lock(&s->lock);
    data_write(s, (uint8_t)value);
    pthread_mutex_unlock(&s->lock);
}

static void i8042_cmd_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    struct i8042 *s = opaque;
    pthread_mutex_lock(&s->lock);
    command_write(s, (uint8_t)value);
    pthread_mutex_unlock(&s->lock);
}

static const struct io_ops data_ops = { .read = i8042_data_read, .write = i8042_data_write };
static const struct io_ops cmd_ops = { .read = i8042_status_read, .write = i8042_cmd_write };

static void i8042_reset_locked(struct i8042 *s)
{
    s->status = STR_SYS | STR_UNLOCKED;
    s->ctr = CTR_KBDINT | CTR_SYS | CTR_XLATE | CTR_AUXDIS;
    s->data = 0;
    s->qhead = s->qlen = 0;
    s->pending = PEND_NONE;
}

static void i8042_reset(void *opaque)
{
    struct i8042 *s = opaque;
    pthread_mutex_lock(&s->lock);
    i8042_reset_locked(s);
    pthread_mutex_unlock(&s->lock);
}

int i8042_create(struct vm *vm)
{
    struct i8042 *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->vm = vm;
    pthread_mutex_init(&s->lock, NULL);
    i8042_reset_locked(s);
    /* Two single ports: 0x61-0x63 in between belong to other devices. */
    int r = io_bus_register(&vm->pio, I8042_DATA, 1, &data_ops, s);
    if (r == 0) {
        r = io_bus_register(&vm->pio, I8042_CMD, 1, &cmd_ops, s);
        if (r)
            io_bus_unregister(&vm->pio, I8042_DATA);
    }
    if (r) {
        pthread_mutex_destroy(&s->lock);
        free(s);
        return r;
    }
    vm_add_reset_hook(vm, i8042_reset, s);
    return 0;
}
