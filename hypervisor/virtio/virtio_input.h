/* virtio-input (virtio 1.x 5.8): a keyboard and an absolute tablet fed by
 * display clients, so the pointer never needs a grab. */
#pragma once
#include "virtio.h"

#define VIRTIO_ID_INPUT 18

enum virtio_input_config_select {
    VIRTIO_INPUT_CFG_UNSET = 0x00,
    VIRTIO_INPUT_CFG_ID_NAME = 0x01,
    VIRTIO_INPUT_CFG_ID_SERIAL = 0x02,
    VIRTIO_INPUT_CFG_ID_DEVIDS = 0x03,
    VIRTIO_INPUT_CFG_PROP_BITS = 0x10,
    VIRTIO_INPUT_CFG_EV_BITS = 0x11,
    VIRTIO_INPUT_CFG_ABS_INFO = 0x12,
};

struct virtio_input_absinfo { uint32_t min, max, fuzz, flat, res; };
struct virtio_input_devids { uint16_t bustype, vendor, product, version; };

struct virtio_input_config {
    uint8_t select, subsel, size, reserved[5];
    union {
        char string[128];
        uint8_t bitmap[128];
        struct virtio_input_absinfo abs;
        struct virtio_input_devids ids;
    } u;
};

struct virtio_input_event { uint16_t type, code; uint32_t value; };

enum virtio_input_kind { VIRTIO_INPUT_KEYBOARD, VIRTIO_INPUT_TABLET };

/* Absolute axes run 0..VIRTIO_INPUT_ABS_MAX whatever the mode is. */
#define VIRTIO_INPUT_ABS_MAX 32767

struct virtio_input;
int virtio_input_new(enum virtio_input_kind kind, struct virtio_input **out);
void virtio_input_free(struct virtio_input *in);
struct virtio_device *virtio_input_device(struct virtio_input *in);
int virtio_input_create(struct vm *vm, enum virtio_input_kind kind, struct virtio_input **out);

/* Whether a guest driver runs the device (input is routed to PS/2 until then). */
bool virtio_input_driver_ok(struct virtio_input *in);
/* Queue events for the guest; virtio_input_sync() ends a batch with
 * SYN_REPORT and delivers. Events that find no guest buffer wait in a small
 * ring (older ones are dropped when it is full). Thread-safe. */
void virtio_input_event(struct virtio_input *in, uint16_t type, uint16_t code, int32_t value);
void virtio_input_sync(struct virtio_input *in);
/* LED state the guest set (EV_LED via the status queue), as DC_LED_* bits;
 * @cb is called on the I/O thread when it changes. */
void virtio_input_on_leds(struct virtio_input *in, void (*cb)(void *opaque, uint32_t leds), void *opaque);
