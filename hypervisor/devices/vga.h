/* Standard VGA (QEMU's "stdvga", PCI 1234:1111): legacy VGA registers and
 * the 0xA0000 window, Bochs VBE (DISPI) with a linear framebuffer BAR, and
 * an expansion ROM carrying SeaBIOS's vgabios. Shown through the display
 * channel like virtio-gpu. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct vga;
struct display_server;

#define VGA_DEFAULT_ROM   "/usr/share/seabios/vgabios-stdvga.bin"
#define VGA_ROM_MAX       (256u << 10)
#define VGA_VRAM_SIZE     (16u << 20)

/* Creates the PCI device on @vm, showing on @ds (NULL: no display).
 * @rom_path: the option ROM (NULL: VGA_DEFAULT_ROM). Prints its own error
 * for a missing or oversized ROM; returns -errno. */
int vga_create(struct vm *vm, struct display_server *ds, const char *rom_path, struct vga **out);
/* Checks an option ROM file (NULL: VGA_DEFAULT_ROM) before the VM is made:
 * 0, or -errno with @why saying what is wrong. */
int vga_check_rom(const char *path, char *why, size_t len);
/* Whether the channel is the VGA's to paint: false while another scanout
 * (virtio-gpu) has taken over. The callback runs on the I/O thread. */
void vga_set_yield(struct vga *vga, bool (*other_active)(void *opaque), void *opaque);
/* The other scanout let go: show the VGA's picture again. */
void vga_redisplay(void *vga);
