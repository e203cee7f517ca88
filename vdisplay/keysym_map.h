/* X11 keysyms (what VNC clients send) to Linux evdev key codes, for a
 * guest using a US or a German keyboard layout. VNC sends the symbol the
 * user's own layout produced, with modifiers as separate keys, so the
 * table maps each symbol to the key that types it in the guest's layout
 * (shifted and AltGr symbols to their base key). */
#pragma once
#include <stdint.h>

enum keymap_layout { KEYMAP_US, KEYMAP_DE };

/* Returns the evdev code, or 0 when the layout has no key for @keysym. */
uint16_t keysym_to_evdev(uint32_t keysym, enum keymap_layout layout);
/* "us" / "de" -> layout; -1 if unknown. */
int keymap_layout_from_name(const char *name);
