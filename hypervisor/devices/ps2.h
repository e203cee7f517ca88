/* PS/2 keyboard and mouse behind the i8042: the byte streams they send
 * (scancodes, mouse packets, command replies) and the commands they take.
 * Pure state machines, so the unit tests check the exact bytes; the i8042
 * owns the locking and moves bytes to its output buffer. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#define PS2_QUEUE 256

struct ps2_queue {
    uint8_t data[PS2_QUEUE];
    unsigned head, len;
};
bool ps2_queue_pop(struct ps2_queue *q, uint8_t *b);

struct ps2_kbd {
    struct ps2_queue q;
    uint8_t pending;                 /* command waiting for its parameter byte, 0 none */
    uint8_t set;                     /* scancode set 1 or 2 */
    bool scanning;
    bool translate;                  /* the controller translates to set 1 (CTR bit 6) */
    uint8_t leds;                    /* as the guest set them: bit 0 scroll, 1 num, 2 caps */
};

void ps2_kbd_reset(struct ps2_kbd *k);
/* A byte the host sent to the keyboard. Returns true when the LEDs changed. */
bool ps2_kbd_write(struct ps2_kbd *k, uint8_t b);
/* A key by Linux evdev code (the display channel's); unknown codes are dropped. */
void ps2_kbd_key(struct ps2_kbd *k, uint32_t evdev, bool down);

struct ps2_mouse {
    struct ps2_queue q;
    uint8_t pending;
    bool reporting, remote;
    uint8_t id;                      /* 0 plain, 3 IntelliMouse (wheel) */
    uint8_t rate, resolution, scaling;
    uint8_t rates[3];                /* the last sample rates set: 200, 100, 80 unlocks the wheel */
    uint8_t buttons;                 /* bit 0 left, 1 right, 2 middle (packet order) */
};

void ps2_mouse_reset(struct ps2_mouse *m);
void ps2_mouse_write(struct ps2_mouse *m, uint8_t b);
/* Relative motion (dy positive = down, as on screen), wheel steps (positive
 * = up), buttons as DC_BUTTON_* bits. Large moves become several packets. */
void ps2_mouse_event(struct ps2_mouse *m, int32_t dx, int32_t dy, int32_t wheel, uint32_t buttons);
