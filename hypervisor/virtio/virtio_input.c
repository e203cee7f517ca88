/* virtio-input keyboard and tablet. The driver reads the device's identity
 * and capabilities through the select/subsel config window, then offers
 * event buffers on queue 0; the status queue (1) carries LED changes back. */
#include "virtio_input.h"
#include "vdisplay/channel.h"
#include "core/state.h"

#include <errno.h>
#include <linux/input.h>
#include <stdlib.h>
#include <string.h>

#define INPUT_QUEUE_SIZE  64
#define INPUT_EVENTQ      0
#define INPUT_STATUSQ     1
#define INPUT_PENDING     256        /* events held while the guest has no buffers */

#define VIRTIO_INPUT_STATE_VERSION 1
struct virtio_input_state {
    uint32_t version;
    uint32_t leds;
};

struct virtio_input {
    struct virtio_device vdev;
    enum virtio_input_kind kind;
    struct virtio_input_config cfg;
    struct virtio_input_state state;
    struct virtio_input_event pending[INPUT_PENDING];
    unsigned head, count;
    void (*leds_cb)(void *opaque, uint32_t leds);
    void *leds_opaque;
    struct virtq_chain chain;
};

static void set_bit(uint8_t *map, unsigned bit)
{
    map[bit / 8] |= (uint8_t)(1u << (bit % 8));
}

/* Fills the config window for the current select/subsel (5.8.5). */
static void input_fill_config(struct virtio_input *in)
{
    struct virtio_input_config *c = &in->cfg;
    bool kbd = in->kind == VIRTIO_INPUT_KEYBOARD;
    memset(&c->u, 0, sizeof(c->u));
    c->size = 0;
    switch (c->select) {
    case VIRTIO_INPUT_CFG_ID_NAME: {
        const char *name = kbd ? "Domus virtio keyboard" : "Domus virtio tablet";
        c->size = (uint8_t)strlen(name);
        memcpy(c->u.string, name, c->size);
        break;
    }
    case VIRTIO_INPUT_CFG_ID_DEVIDS:
        c->u.ids = (struct virtio_input_devids){ .bustype = BUS_VIRTUAL, .vendor = 0x0627,
                                                 .product = kbd ? 1 : 3, .version = 1 };
        c->size = sizeof(c->u.ids);
        break;
    case VIRTIO_INPUT_CFG_EV_BITS:
        if (kbd && c->subsel == EV_KEY) {
            for (unsigned k = KEY_ESC; k <= KEY_MICMUTE; k++)
                set_bit(c->u.bitmap, k);
            c->size = KEY_MICMUTE / 8 + 1;
        } else if (kbd && c->subsel == EV_LED) {
            set_bit(c->u.bitmap, LED_NUML);
            set_bit(c->u.bitmap, LED_CAPSL);
            set_bit(c->u.bitmap, LED_SCROLLL);
            c->size = 1;
        } else if (kbd && c->subsel == EV_REP) {
            c->size = 1;             /* the guest does autorepeat itself */
        } else if (!kbd && c->subsel == EV_KEY) {
            set_bit(c->u.bitmap, BTN_LEFT);
            set_bit(c->u.bitmap, BTN_RIGHT);
            set_bit(c->u.bitmap, BTN_MIDDLE);
            c->size = BTN_MIDDLE / 8 + 1;
        } else if (!kbd && c->subsel == EV_ABS) {
            set_bit(c->u.bitmap, ABS_X);
            set_bit(c->u.bitmap, ABS_Y);
            c->size = 1;
        } else if (!kbd && c->subsel == EV_REL) {
            set_bit(c->u.bitmap, REL_HWHEEL);
            set_bit(c->u.bitmap, REL_WHEEL);
            c->size = REL_WHEEL / 8 + 1;
        }
        break;
    case VIRTIO_INPUT_CFG_ABS_INFO:
        if (!kbd && (c->subsel == ABS_X || c->subsel == ABS_Y)) {
            c->u.abs = (struct virtio_input_absinfo){ .min = 0, .max = VIRTIO_INPUT_ABS_MAX };
            c->size = sizeof(c->u.abs);
        }
        break;
    }
}

static void input_config_read(struct virtio_device *vdev, unsigned offset, void *data, unsigned len)
{
    struct virtio_input *in = vdev->priv;
    memcpy(data, (const uint8_t *)&in->cfg + offset, len);
}

static void input_config_write(struct virtio_device *vdev, unsigned offset, const void *data, unsigned len)
{
    struct virtio_input *in = vdev->priv;
    /* Only select and subsel are writable (5.8.5.1). */
    if (offset >= offsetof(struct virtio_input_config, size))
        return;
    unsigned n = offset + len > 2 ? 2 - offset : len;
    memcpy((uint8_t *)&in->cfg + offset, data, n);
    input_fill_config(in);
}

/* Delivers what is pending into guest buffers. Lock held. */
static void input_deliver(struct virtio_input *in)
{
    struct virtio_device *vdev = &in->vdev;
    bool pushed = false;
    while (in->count && virtio_queue_pop(vdev, INPUT_EVENTQ, &in->chain) > 0) {
        size_t n = iov_from_buf(in->chain.in, in->chain.nin, 0, &in->pending[in->head],
                                sizeof(struct virtio_input_event));
        virtqueue_push(&vdev->vqs[INPUT_EVENTQ], in->chain.head, (uint32_t)n);
        in->head = (in->head + 1) % INPUT_PENDING;
        in->count--;
        pushed = true;
    }
    if (pushed)
        virtio_queue_notify_guest(vdev, INPUT_EVENTQ);
}

void virtio_input_event(struct virtio_input *in, uint16_t type, uint16_t code, int32_t value)
{
    pthread_mutex_lock(&in->vdev.lock);
    if (!virtio_queue_active(&in->vdev, INPUT_EVENTQ)) {
        in->count = 0;               /* no driver: nobody to tell */
    } else {
        if (in->count == INPUT_PENDING) {
            in->head = (in->head + 1) % INPUT_PENDING;
            in->count--;
        }
        in->pending[(in->head + in->count) % INPUT_PENDING] =
            (struct virtio_input_event){ type, code, (uint32_t)value };
        in->count++;
    }
    pthread_mutex_unlock(&in->vdev.lock);
}

void virtio_input_sync(struct virtio_input *in)
{
    virtio_input_event(in, EV_SYN, SYN_REPORT, 0);
    pthread_mutex_lock(&in->vdev.lock);
    input_deliver(in);
    pthread_mutex_unlock(&in->vdev.lock);
}

static void input_status(struct virtio_input *in)
{
    struct virtio_device *vdev = &in->vdev;
    uint32_t before = in->state.leds;
    bool pushed = false;
    while (virtio_queue_pop(vdev, INPUT_STATUSQ, &in->chain) > 0) {
        struct virtio_input_event ev;
        if (iov_to_buf(in->chain.out, in->chain.nout, 0, &ev, sizeof(ev)) == sizeof(ev) && ev.type == EV_LED) {
            uint32_t bit = ev.code == LED_NUML ? DC_LED_NUM : ev.code == LED_CAPSL ? DC_LED_CAPS :
                           ev.code == LED_SCROLLL ? DC_LED_SCROLL : 0;
            in->state.leds = ev.value ? in->state.leds | bit : in->state.leds & ~bit;
        }
        virtqueue_push(&vdev->vqs[INPUT_STATUSQ], in->chain.head, 0);
        pushed = true;
    }
    if (pushed)
        virtio_queue_notify_guest(vdev, INPUT_STATUSQ);
    if (before != in->state.leds && in->leds_cb)
        in->leds_cb(in->leds_opaque, in->state.leds);
}

static void input_queue_notify(struct virtio_device *vdev, unsigned q)
{
    struct virtio_input *in = vdev->priv;
    pthread_mutex_lock(&vdev->lock);
    if (q == INPUT_EVENTQ)
        input_deliver(in);           /* new buffers: flush what waited */
    else
        input_status(in);
    pthread_mutex_unlock(&vdev->lock);
}

static void input_reset(struct virtio_device *vdev)
{
    struct virtio_input *in = vdev->priv;
    in->head = in->count = 0;
    in->state.leds = 0;
    in->cfg.select = in->cfg.subsel = 0;
    input_fill_config(in);
}

/* Saved: the config window the driver selected, the LEDs it set and the
 * events still waiting for a buffer (version 2 of the state struct). */
struct virtio_input_saved {
    struct virtio_input_state state;
    uint8_t select, subsel, pad[2];
    uint32_t head, count;
    struct virtio_input_event pending[INPUT_PENDING];
};

static long input_state_save(void *opaque, void *buf, size_t max)
{
    struct virtio_input *in = ((struct virtio_device *)opaque)->priv;
    if (max < sizeof(struct virtio_input_saved))
        return -ENOSPC;
    struct virtio_input_saved *st = buf;
    memset(st, 0, sizeof(*st));
    pthread_mutex_lock(&in->vdev.lock);
    st->state = in->state;
    st->select = in->cfg.select;
    st->subsel = in->cfg.subsel;
    st->head = in->head;
    st->count = in->count;
    memcpy(st->pending, in->pending, sizeof(st->pending));
    pthread_mutex_unlock(&in->vdev.lock);
    return sizeof(*st);
}

static int input_state_load(void *opaque, const void *buf, size_t len)
{
    struct virtio_input *in = ((struct virtio_device *)opaque)->priv;
    if (len != sizeof(struct virtio_input_saved))
        return -EINVAL;
    const struct virtio_input_saved *st = buf;
    if (st->head >= INPUT_PENDING || st->count > INPUT_PENDING)
        return -EINVAL;
    pthread_mutex_lock(&in->vdev.lock);
    in->state.leds = st->state.leds;
    in->cfg.select = st->select;
    in->cfg.subsel = st->subsel;
    input_fill_config(in);
    in->head = st->head;
    in->count = st->count;
    memcpy(in->pending, st->pending, sizeof(in->pending));
    pthread_mutex_unlock(&in->vdev.lock);
    return 0;
}

static const struct state_ops input_state_ops = {
    .version = 2, .save = input_state_save, .load = input_state_load,
};

static const struct virtio_device_ops virtio_input_ops = {
    .name = "virtio-input",
    .device_id = VIRTIO_ID_INPUT,
    .num_queues = 2,
    .queue_max_size = INPUT_QUEUE_SIZE,
    .config_size = sizeof(struct virtio_input_config),
    .config_read = input_config_read,
    .config_write = input_config_write,
    .queue_notify = input_queue_notify,
    .reset = input_reset,
    .state = &input_state_ops,
};

void virtio_input_on_leds(struct virtio_input *in, void (*cb)(void *opaque, uint32_t leds), void *opaque)
{
    pthread_mutex_lock(&in->vdev.lock);
    in->leds_cb = cb;
    in->leds_opaque = opaque;
    pthread_mutex_unlock(&in->vdev.lock);
}

int virtio_input_new(enum virtio_input_kind kind, struct virtio_input **out)
{
    struct virtio_input *in = calloc(1, sizeof(*in));
    if (!in)
        return -ENOMEM;
    in->kind = kind;
    in->state.version = VIRTIO_INPUT_STATE_VERSION;
    virtio_device_init(&in->vdev, &virtio_input_ops, in);
    input_fill_config(in);
    *out = in;
    return 0;
}

void virtio_input_free(struct virtio_input *in)
{
    if (!in)
        return;
    pthread_mutex_destroy(&in->vdev.lock);
    free(in);
}

struct virtio_device *virtio_input_device(struct virtio_input *in)
{
    return &in->vdev;
}

bool virtio_input_driver_ok(struct virtio_input *in)
{
    pthread_mutex_lock(&in->vdev.lock);
    bool ok = (in->vdev.status & VIRTIO_STATUS_DRIVER_OK) && !(in->vdev.status & VIRTIO_STATUS_NEEDS_RESET);
    pthread_mutex_unlock(&in->vdev.lock);
    return ok;
}

int virtio_input_create(struct vm *vm, enum virtio_input_kind kind, struct virtio_input **out)
{
    struct virtio_input *in;
    int r = virtio_input_new(kind, &in);
    if (r < 0)
        return r;
    if ((r = virtio_pci_create(vm, &in->vdev)) < 0) {
        virtio_input_free(in);
        return r;
    }
    *out = in;
    return 0;
}
