/* i8042 keyboard controller with a PS/2 keyboard and mouse (ps2.c) fed
 * from the display channel, the A20/reset output port, and the command
 * byte's translation, interrupt and port-disable bits. */
#include "devices.h"
#include "ps2.h"
#include "vdisplay/channel.h"
#include "core/irq.h"
#include "core/platform.h"
#include "core/state.h"
#include "core/vm.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

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

#define CTR_AUXINT       0x02
#define STR_AUXDATA      0x20        /* the output buffer holds a mouse byte */
#define I8042_AUX_IRQ    12
#define OUT_QUEUE        16
#define FROM_AUX         0x100       /* controller queue entry flag */

enum pending { PEND_NONE, PEND_CTR, PEND_OUTPORT, PEND_KBD_OUT, PEND_AUX_OUT, PEND_AUX_DEV };

struct i8042 {
    struct vm *vm;
    pthread_mutex_t lock;
    uint8_t status, ctr, data;       /* data: last byte presented at 0x60 */
    uint16_t queue[OUT_QUEUE];       /* the controller's own replies, ahead of the devices' */
    unsigned qhead, qlen;
    enum pending pending;            /* what the next write to 0x60 means */
    struct ps2_kbd kbd;
    struct ps2_mouse mouse;
    void (*leds_cb)(void *opaque, uint32_t leds);
    void *leds_opaque;
};

/* Moves the next byte into the output buffer: controller replies first,
 * then the keyboard, then the mouse (each only while its port is enabled),
 * and raises IRQ 1 or 12 if the command byte enables it. */
static void deliver(struct i8042 *s)
{
    if (s->status & STR_OBF)
        return;
    uint16_t e;
    uint8_t b;
    if (s->qlen) {
        e = s->queue[s->qhead];
        s->qhead = (s->qhead + 1) % OUT_QUEUE;
        s->qlen--;
    } else if (!(s->ctr & CTR_KBDDIS) && ps2_queue_pop(&s->kbd.q, &b)) {
        e = b;
    } else if (!(s->ctr & CTR_AUXDIS) && ps2_queue_pop(&s->mouse.q, &b)) {
        e = b | FROM_AUX;
    } else {
        return;
    }
    bool aux = e & FROM_AUX;
    s->data = (uint8_t)e;
    s->status = (uint8_t)((s->status & ~STR_AUXDATA) | STR_OBF | (aux ? STR_AUXDATA : 0));
    if (s->vm && (s->ctr & (aux ? CTR_AUXINT : CTR_KBDINT)))
        irq_line_pulse(s->vm, aux ? I8042_AUX_IRQ : I8042_KBD_IRQ);
}

static void queue_byte(struct i8042 *s, uint16_t e)
{
    if (s->qlen < OUT_QUEUE)
        s->queue[(s->qhead + s->qlen++) % OUT_QUEUE] = e;
    deliver(s);
}

/* Returns true when the keyboard LEDs changed. */
static bool data_write(struct i8042 *s, uint8_t b)
{
    enum pending p = s->pending;
    bool leds = false;
    s->status &= (uint8_t)~STR_CMD;
    s->pending = PEND_NONE;
    switch (p) {
    case PEND_CTR:
        s->ctr = b;
        s->kbd.translate = b & CTR_XLATE;
        s->status = (uint8_t)((s->status & ~STR_SYS) | (b & CTR_SYS));
        break;
    case PEND_OUTPORT:
        if (!(b & 0x01) && s->vm)   /* bit 0 is the CPU reset line, active low */
            vm_request(s->vm, VM_REQ_RESET);
        break;
    case PEND_KBD_OUT:
        queue_byte(s, b);
        break;
    case PEND_AUX_OUT:
        queue_byte(s, b | FROM_AUX);
        break;
    case PEND_AUX_DEV:
        s->ctr &= (uint8_t)~CTR_AUXDIS;  /* talking to the mouse enables its port */
        ps2_mouse_write(&s->mouse, b);
        break;
    default:
        s->ctr &= (uint8_t)~CTR_KBDDIS;  /* writing to the keyboard enables it */
        leds = ps2_kbd_write(&s->kbd, b);
    }
    deliver(s);
    return leds;
}

static void command_write(struct i8042 *s, uint8_t cmd)
{
    s->status |= STR_CMD;
    switch (cmd) {
    case 0x20: queue_byte(s, s->ctr); break;            /* read CTR */
    case 0x60: s->pending = PEND_CTR; break;            /* write CTR */
    case 0xA7: s->ctr |= CTR_AUXDIS; break;
    case 0xA8: s->ctr &= (uint8_t)~CTR_AUXDIS; break;
    case 0xA9: queue_byte(s, 0x00); break;              /* AUX interface test: ok */
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
    deliver(s);
}

/* The LEDs as DC_LED_* bits, reported outside the lock. */
static void report_leds(struct i8042 *s, uint8_t leds)
{
    uint32_t dc = ((leds & 1) ? DC_LED_SCROLL : 0) | ((leds & 2) ? DC_LED_NUM : 0) | ((leds & 4) ? DC_LED_CAPS : 0);
    if (s->leds_cb)
        s->leds_cb(s->leds_opaque, dc);
}

uint8_t i8042_read(struct i8042 *s, unsigned port)
{
    pthread_mutex_lock(&s->lock);
    uint8_t v = s->status;
    if (port == I8042_DATA) {
        v = s->data;                 /* an empty buffer repeats the last byte */
        s->status &= (uint8_t)~(STR_OBF | STR_AUXDATA);
        deliver(s);
    }
    pthread_mutex_unlock(&s->lock);
    return v;
}

void i8042_write(struct i8042 *s, unsigned port, uint8_t v)
{
    pthread_mutex_lock(&s->lock);
    bool leds = false;
    if (port == I8042_DATA)
        leds = data_write(s, v);
    else
        command_write(s, v);
    uint8_t l = s->kbd.leds;
    pthread_mutex_unlock(&s->lock);
    if (leds)
        report_leds(s, l);
}

void i8042_key(struct i8042 *s, uint32_t evdev, bool down)
{
    pthread_mutex_lock(&s->lock);
    ps2_kbd_key(&s->kbd, evdev, down);
    deliver(s);
    pthread_mutex_unlock(&s->lock);
}

void i8042_mouse(struct i8042 *s, int32_t dx, int32_t dy, int32_t wheel, uint32_t buttons)
{
    pthread_mutex_lock(&s->lock);
    ps2_mouse_event(&s->mouse, dx, dy, wheel, buttons);
    deliver(s);
    pthread_mutex_unlock(&s->lock);
}

void i8042_on_leds(struct i8042 *s, void (*cb)(void *opaque, uint32_t leds), void *opaque)
{
    pthread_mutex_lock(&s->lock);
    s->leds_cb = cb;
    s->leds_opaque = opaque;
    pthread_mutex_unlock(&s->lock);
}

static uint64_t i8042_data_read(void *opaque, uint64_t offset, unsigned size)
{
    return i8042_read(opaque, I8042_DATA);
}

static uint64_t i8042_status_read(void *opaque, uint64_t offset, unsigned size)
{
    return i8042_read(opaque, I8042_CMD);
}

static void i8042_data_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    i8042_write(opaque, I8042_DATA, (uint8_t)value);
}

static void i8042_cmd_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    i8042_write(opaque, I8042_CMD, (uint8_t)value);
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
    s->kbd.translate = true;
    ps2_kbd_reset(&s->kbd);
    ps2_mouse_reset(&s->mouse);
}

static void i8042_reset(void *opaque)
{
    struct i8042 *s = opaque;
    pthread_mutex_lock(&s->lock);
    i8042_reset_locked(s);
    pthread_mutex_unlock(&s->lock);
}

struct i8042 *i8042_new(struct vm *vm)
{
    struct i8042 *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->vm = vm;
    pthread_mutex_init(&s->lock, NULL);
    i8042_reset_locked(s);
    return s;
}

void i8042_free(struct i8042 *s)
{
    if (!s)
        return;
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* The controller with both PS/2 devices (plain structs: queues, modes, LEDs). */
#define I8042_STATE_VERSION 2
struct i8042_state {
    uint8_t status, ctr, data, pad;
    uint32_t qhead, qlen, pending;
    uint16_t queue[OUT_QUEUE];
    struct ps2_kbd kbd;
    struct ps2_mouse mouse;
};

static long i8042_state_save(void *opaque, void *buf, size_t max)
{
    struct i8042 *s = opaque;
    struct i8042_state st;
    memset(&st, 0, sizeof(st));
    pthread_mutex_lock(&s->lock);
    st.status = s->status, st.ctr = s->ctr, st.data = s->data;
    st.qhead = s->qhead, st.qlen = s->qlen, st.pending = s->pending;
    memcpy(st.queue, s->queue, sizeof(st.queue));
    st.kbd = s->kbd;
    st.mouse = s->mouse;
    pthread_mutex_unlock(&s->lock);
    return state_save_struct(buf, max, &st, sizeof(st));
}

static bool ps2_queue_ok(const struct ps2_queue *q)
{
    return q->head < PS2_QUEUE && q->len <= PS2_QUEUE;
}

static int i8042_state_load(void *opaque, const void *buf, size_t len)
{
    struct i8042 *s = opaque;
    struct i8042_state st;
    if (state_check_size(len, sizeof(st)) < 0)
        return -EINVAL;
    memcpy(&st, buf, sizeof(st));
    if (st.qhead >= OUT_QUEUE || st.qlen > OUT_QUEUE || st.pending > PEND_AUX_DEV ||
        !ps2_queue_ok(&st.kbd.q) || !ps2_queue_ok(&st.mouse.q))
        return -EINVAL;
    pthread_mutex_lock(&s->lock);
    s->status = st.status, s->ctr = st.ctr, s->data = st.data;
    s->qhead = st.qhead, s->qlen = st.qlen, s->pending = (enum pending)st.pending;
    memcpy(s->queue, st.queue, sizeof(s->queue));
    s->kbd = st.kbd;
    s->mouse = st.mouse;
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static const struct state_ops i8042_state_ops = {
    .version = I8042_STATE_VERSION, .save = i8042_state_save, .load = i8042_state_load,
};

int i8042_create(struct vm *vm)
{
    struct i8042 *s = i8042_new(vm);
    if (!s)
        return -ENOMEM;
    /* Two single ports: 0x61-0x63 in between belong to other devices. */
    int r = io_bus_register(&vm->pio, I8042_DATA, 1, &data_ops, s);
    if (r == 0) {
        r = io_bus_register(&vm->pio, I8042_CMD, 1, &cmd_ops, s);
        if (r)
            io_bus_unregister(&vm->pio, I8042_DATA);
    }
    if (r) {
        i8042_free(s);
        return r;
    }
    vm_add_reset_hook(vm, i8042_reset, s);
    vm->i8042 = s;
    return vm_state_register(vm, "i8042", &i8042_state_ops, s);
}
