/* SDL scancodes (USB HID usage IDs: physical keys, whatever the host's
 * layout) to Linux evdev key codes. */
#pragma once
#include <stdint.h>

/* 0 when the key has no evdev equivalent. */
uint16_t sdl_scancode_to_evdev(unsigned scancode);
