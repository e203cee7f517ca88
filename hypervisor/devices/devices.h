/* Legacy PC devices. Each is one file with its io_ops (kvmtool style). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct vm;
struct chardev;

/* 16550A UART on COM1 (0x3F8, IRQ 4). */
int serial_create(struct vm *vm, struct chardev *chr);
/* MC146818 CMOS RTC (0x70/0x71, IRQ 8), host time in UTC. */
int rtc_create(struct vm *vm);
/* ACPI PM block at PLAT_PM_BASE (PM1 event/control, PM timer, GPE0), SCI on
 * IRQ 9, fixed power button (vm->power_button), S5 power-off. (The 0xCF9
 * reset register shares its dword with 0xCF8, so pci.c handles it.) */
int pm_create(struct vm *vm);
/* i8042 controller (0x60/0x64, IRQ 1 and 12) with a PS/2 keyboard and
 * mouse; sets vm->i8042. */
int i8042_create(struct vm *vm);
struct i8042;
/* Without a VM (unit tests): no interrupts, no reset line. */
struct i8042 *i8042_new(struct vm *vm);
void i8042_free(struct i8042 *s);
uint8_t i8042_read(struct i8042 *s, unsigned port);            /* port 0x60 or 0x64 */
void i8042_write(struct i8042 *s, unsigned port, uint8_t v);
/* Input from the display channel (thread-safe): an evdev key; relative
 * motion (y down), wheel steps (up), DC_BUTTON_* buttons. */
void i8042_key(struct i8042 *s, uint32_t evdev, bool down);
void i8042_mouse(struct i8042 *s, int32_t dx, int32_t dy, int32_t wheel, uint32_t buttons);
/* @cb gets the LEDs the guest set, as DC_LED_* bits (outside the lock). */
void i8042_on_leds(struct i8042 *s, void (*cb)(void *opaque, uint32_t leds), void *opaque);
/* pvpanic PCI device: a guest kernel panic is reported and stops the VM (exit 3). */
int pvpanic_create(struct vm *vm);
/* Firmware debug port 0x402, written to @path (--firmware-log). */
int debugcon_create(struct vm *vm, const char *path);
struct vaudio;
/* Intel HDA controller + line-out/mic codec on @va (NULL: no backend, silence). */
int hda_create(struct vm *vm, struct vaudio *va);
