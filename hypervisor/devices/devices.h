/* Legacy PC devices. Each is one file with its io_ops (kvmtool style). */
#pragma once

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
/* i8042 controller, just enough for the reset line (0xFE to port 0x64) and
 * probing; PS/2 keyboard and mouse come with the firmware issue. */
int i8042_create(struct vm *vm);
/* pvpanic PCI device: a guest kernel panic is reported and stops the VM (exit 3). */
int pvpanic_create(struct vm *vm);
/* Firmware debug port 0x402, written to @path (--firmware-log). */
int debugcon_create(struct vm *vm, const char *path);
struct vaudio;
/* Intel HDA controller + line-out/mic codec on @va (NULL: no backend, silence). */
int hda_create(struct vm *vm, struct vaudio *va);
