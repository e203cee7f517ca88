/* Standard VGA as a PCI function (QEMU's stdvga layout, so SeaBIOS's
 * vgabios-stdvga and guest drivers find what they expect):
 *   BAR0  linear framebuffer = the VRAM memfd, mapped as a KVM memory slot
 *         (no exits; writes found through the dirty log)
 *   BAR2  4 KiB MMIO: VGA ports 0x3C0-0x3DF at 0x400, DISPI at 0x500
 *   ROM   the vgabios image, copied to 0xC0000 and run by SeaBIOS
 * plus the fixed legacy resources: ports 0x3B0-0x3DF, DISPI at 0x1CE and
 * the 0xA0000-0xBFFFF window (MMIO, punched out of RAM). */
#include "vga_int.h"
#include "core/bus.h"
#include "core/memslot.h"
#include "core/vm.h"
#include "pci/pci.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define VGA_PORT_BASE   0x3B0
#define VGA_PORT_LEN    0x30
#define VBE_PORT_BASE   0x1CE
#define VBE_PORT_LEN    3           /* index 0x1CE, data 0x1CF (and the old 0x1D0) */
#define VGA_WIN_BASE    0xA0000
#define VGA_WIN_LEN     0x20000
#define MMIO_BAR_SIZE   0x1000

struct vga_pci {
    struct pci_device pci;
    struct vga *vga;
};

static bool crtc_port(const struct vga *s, uint16_t port)
{
    /* Misc output bit 0 moves the CRTC (and input status 1) between
     * 0x3Bx (mono) and 0x3Dx (colour); the other block reads as absent. */
    return (s->misc & 1) ? (port & 0xFFF0) == 0x3D0 : (port & 0xFFF0) == 0x3B0;
}

uint8_t vga_port_read(struct vga *s, uint16_t port)
{
    if ((port & 0xFFF0) != 0x3C0 && !crtc_port(s, port))
        return 0xFF;
    switch (port) {
    case 0x3C0: return s->attr_index;
    case 0x3C1: return s->attr[s->attr_index & 0x1F];
    case 0x3C2: return 0x10;                      /* input status 0: switch sense */
    case 0x3C3: return 1;
    case 0x3C4: return s->seq_index;
    case 0x3C5: return s->seq[s->seq_index & 7];
    case 0x3C6: return s->pel_mask;
    case 0x3C7: return s->dac_state;
    case 0x3C8: return s->dac_write;
    case 0x3C9: {
        uint8_t v = s->dac[s->dac_read * 3 + s->dac_sub];
        if (++s->dac_sub == 3) {
            s->dac_sub = 0;
            s->dac_read++;
        }
        return v;
    }
    case 0x3CA: return s->feature;
    case 0x3CC: return s->misc;
    case 0x3CE: return s->gfx_index;
    case 0x3CF: return s->gfx[s->gfx_index & 0xF];
    case 0x3B4: case 0x3D4: return s->crtc_index;
    case 0x3B5: case 0x3D5: return s->crtc[s->crtc_index & 0x1F];
    case 0x3BA: case 0x3DA:
        /* Input status 1: retrace bits toggle so polling loops end. */
        s->attr_data = false;
        s->st01 ^= 0x09;
        return s->st01;
    }
    return 0xFF;
}

static void crtc_write(struct vga *s, uint8_t v)
{
    unsigned i = s->crtc_index & 0x1F;
    if ((s->crtc[0x11] & 0x80) && i <= 7) {
        if (i == 7)                               /* only line compare bit 8 stays writable */
            s->crtc[7] = (uint8_t)((s->crtc[7] & ~0x10) | (v & 0x10));
        return;
    }
    uint8_t old = s->crtc[i];
    s->crtc[i] = v;
    if (old == v)
        return;
    if (i == 0x0A || i == 0x0B || i == 0x0E || i == 0x0F)
        vga_touch(s, UINT32_MAX, 0);              /* cursor only: no cells changed */
    else
        vga_touch_all(s);
}

void vga_port_write(struct vga *s, uint16_t port, uint8_t v)
{
    if ((port & 0xFFF0) != 0x3C0 && !crtc_port(s, port))
        return;
    switch (port) {
    case 0x3C0:
        if (!s->attr_data) {
            s->attr_index = v & 0x3F;
        } else if ((s->attr_index & 0x1F) <= 0x14) {
            s->attr[s->attr_index & 0x1F] = v;
            vga_touch_all(s);
        }
        s->attr_data = !s->attr_data;
        break;
    case 0x3C2: s->misc = v; vga_touch_all(s); break;
    case 0x3C4: s->seq_index = v; break;
    case 0x3C5:
        s->seq[s->seq_index & 7] = v;
        if ((s->seq_index & 7) == 1 || (s->seq_index & 7) == 3)
            vga_touch_all(s);                     /* char width, font select */
        vga_fast_update(s);
        break;
    case 0x3C6: s->pel_mask = v; vga_touch_all(s); break;
    case 0x3C7: s->dac_read = v; s->dac_sub = 0; s->dac_state = 3; break;
    case 0x3C8: s->dac_write = v; s->dac_sub = 0; s->dac_state = 0; break;
    case 0x3C9:
        s->dac_latch[s->dac_sub++] = (s->vbe[VBE_ENABLE] & VBE_8BIT_DAC) ? v : (v & 0x3F);
        if (s->dac_sub == 3) {
            memcpy(&s->dac[s->dac_write * 3], s->dac_latch, 3);
            s->dac_sub = 0;
            s->dac_write++;
            vga_touch_all(s);
        }
        break;
    case 0x3CE: s->gfx_index = v; break;
    case 0x3CF:
        s->gfx[s->gfx_index & 0xF] = v;
        if ((s->gfx_index & 0xF) == 5 || (s->gfx_index & 0xF) == 6)
            vga_touch_all(s);
        vga_fast_update(s);
        break;
    case 0x3B4: case 0x3D4: s->crtc_index = v; break;
    case 0x3B5: case 0x3D5: crtc_write(s, v); break;
    case 0x3BA: case 0x3DA: s->feature = v; break;
    }
}

/* ---- io_ops ---- */

static uint64_t ports_read(void *opaque, uint64_t off, unsigned size)
{
    struct vga *s = opaque;
    uint64_t v = 0;
    pthread_mutex_lock(&s->lock);
    for (unsigned i = 0; i < size; i++)
        v |= (uint64_t)vga_port_read(s, (uint16_t)(VGA_PORT_BASE + off + i)) << (8 * i);
    pthread_mutex_unlock(&s->lock);
    return v;
}

static void ports_write(void *opaque, uint64_t off, uint64_t v, unsigned size)
{
    struct vga *s = opaque;
    pthread_mutex_lock(&s->lock);
    /* A word write to an index port sets index and data at once. */
    for (unsigned i = 0; i < size; i++)
        vga_port_write(s, (uint16_t)(VGA_PORT_BASE + off + i), (uint8_t)(v >> (8 * i)));
    pthread_mutex_unlock(&s->lock);
}

static uint64_t vbe_port_read(void *opaque, uint64_t off, unsigned size)
{
    struct vga *s = opaque;
    pthread_mutex_lock(&s->lock);
    uint64_t v = off == 0 ? s->vbe_index : vga_vbe_read(s);
    pthread_mutex_unlock(&s->lock);
    return v;
}

static void vbe_port_write(void *opaque, uint64_t off, uint64_t v, unsigned size)
{
    struct vga *s = opaque;
    pthread_mutex_lock(&s->lock);
    if (off == 0)
        s->vbe_index = (uint16_t)v;
    else
        vga_vbe_write(s, (uint16_t)v);
    vga_fast_update(s);
    pthread_mutex_unlock(&s->lock);
}

static uint64_t window_read(void *opaque, uint64_t off, unsigned size)
{
    struct vga *s = opaque;
    uint64_t v = 0;
    pthread_mutex_lock(&s->lock);
    for (unsigned i = 0; i < size && off + i < VGA_WIN_LEN; i++)
        v |= (uint64_t)vga_mem_read(s, (uint32_t)(off + i)) << (8 * i);
    pthread_mutex_unlock(&s->lock);
    return v;
}

static void window_write(void *opaque, uint64_t off, uint64_t v, unsigned size)
{
    struct vga *s = opaque;
    pthread_mutex_lock(&s->lock);
    for (unsigned i = 0; i < size && off + i < VGA_WIN_LEN; i++)
        vga_mem_write(s, (uint32_t)(off + i), (uint8_t)(v >> (8 * i)));
    pthread_mutex_unlock(&s->lock);
}

/* BAR0 through exits: only when the memory slot could not be mapped. */
static uint64_t lfb_read(void *opaque, uint64_t off, unsigned size)
{
    struct vga *s = opaque;
    uint64_t v = 0;
    if (off < s->vram_size && size <= s->vram_size - off)
        memcpy(&v, s->vram + off, size);
    return v;
}

static void lfb_write(void *opaque, uint64_t off, uint64_t v, unsigned size)
{
    struct vga *s = opaque;
    if (off >= s->vram_size || size > s->vram_size - off)
        return;
    pthread_mutex_lock(&s->lock);
    memcpy(s->vram + off, &v, size);
    vga_touch(s, (uint32_t)off, (uint32_t)(off + size - 1));
    pthread_mutex_unlock(&s->lock);
}

static uint64_t mmio_read(void *opaque, uint64_t off, unsigned size)
{
    struct vga *s = opaque;
    if (off >= 0x400 && off < 0x420)
        return ports_read(s, off - 0x400 + 0x10, size);
    if (off >= 0x500 && off < 0x500 + 2 * VBE_NREGS && size == 2) {
        pthread_mutex_lock(&s->lock);
        uint16_t saved = s->vbe_index;
        s->vbe_index = (uint16_t)((off - 0x500) / 2);
        uint16_t v = vga_vbe_read(s);
        s->vbe_index = saved;
        pthread_mutex_unlock(&s->lock);
        return v;
    }
    return 0;
}

static void mmio_write(void *opaque, uint64_t off, uint64_t v, unsigned size)
{
    struct vga *s = opaque;
    if (off >= 0x400 && off < 0x420) {
        ports_write(s, off - 0x400 + 0x10, v, size);
    } else if (off >= 0x500 && off < 0x500 + 2 * VBE_NREGS && size == 2) {
        pthread_mutex_lock(&s->lock);
        uint16_t saved = s->vbe_index;
        s->vbe_index = (uint16_t)((off - 0x500) / 2);
        vga_vbe_write(s, (uint16_t)v);
        s->vbe_index = saved;
        vga_fast_update(s);
        pthread_mutex_unlock(&s->lock);
    }
}

static uint64_t rom_read(void *opaque, uint64_t off, unsigned size)
{
    struct vga *s = opaque;
    uint64_t v = 0;
    if (off < s->rom_size)
        memcpy(&v, s->rom + off, size <= s->rom_size - off ? size : s->rom_size - off);
    return v;
}

static void rom_write(void *opaque, uint64_t off, uint64_t v, unsigned size) {}

static const struct io_ops port_ops = { .read = ports_read, .write = ports_write };
static const struct io_ops vbe_ops = { .read = vbe_port_read, .write = vbe_port_write };
static const struct io_ops window_ops = { .read = window_read, .write = window_write };
static const struct io_ops lfb_ops = { .read = lfb_read, .write = lfb_write };
static const struct io_ops mmio_ops = { .read = mmio_read, .write = mmio_write };
static const struct io_ops rom_ops = { .read = rom_read, .write = rom_write };

static void vga_bar_remap(struct pci_device *dev, unsigned bar, uint64_t old_addr, uint64_t new_addr, bool mapped)
{
    struct vga *s = ((struct vga_pci *)dev->opaque)->vga;
    if (bar == PCI_ROM_BAR && s->rom_slot >= 0)
        vm_memslot_move(s->vm, s->rom_slot, mapped ? new_addr : MEMSLOT_UNMAPPED);
    if (bar != 0 || s->lfb_slot < 0)
        return;
    vm_memslot_move(s->vm, s->lfb_slot, mapped ? new_addr : MEMSLOT_UNMAPPED);
    pthread_mutex_lock(&s->lock);
    vga_touch_all(s);
    pthread_mutex_unlock(&s->lock);
}

static const struct pci_device_ops vga_pci_ops = { .bar_remap = vga_bar_remap };

static void vga_reset_locked(struct vga *s)
{
    s->misc = s->feature = s->seq_index = s->gfx_index = s->crtc_index = s->attr_index = 0;
    memset(s->seq, 0, sizeof(s->seq));
    memset(s->gfx, 0, sizeof(s->gfx));
    memset(s->crtc, 0, sizeof(s->crtc));
    memset(s->attr, 0, sizeof(s->attr));
    memset(s->dac, 0, sizeof(s->dac));
    s->attr_data = false;
    s->st01 = 0;
    s->dac_read = s->dac_write = s->dac_sub = s->dac_state = 0;
    s->pel_mask = 0xFF;
    s->latch = 0;
    vga_vbe_reset(s);
    vga_fast_update(s);
    vga_touch_all(s);
}

static void vga_reset(void *opaque)
{
    struct vga *s = opaque;
    pthread_mutex_lock(&s->lock);
    vga_reset_locked(s);
    pthread_mutex_unlock(&s->lock);
}

void vga_set_yield(struct vga *s, bool (*other_active)(void *opaque), void *opaque)
{
    pthread_mutex_lock(&s->lock);
    s->other_active = other_active;
    s->other_opaque = opaque;
    pthread_mutex_unlock(&s->lock);
}

void vga_redisplay(void *opaque)
{
    struct vga *s = opaque;
    pthread_mutex_lock(&s->lock);
    s->published = false;
    vga_touch_all(s);
    pthread_mutex_unlock(&s->lock);
}

/* Reads an option ROM image; on failure @why says what is wrong with it. */
static int read_rom(const char *path, uint8_t **data, uint32_t *size, uint32_t *bar_size, char *why, size_t len)
{
    path = path ? path : VGA_DEFAULT_ROM;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        int err = -errno;
        snprintf(why, len, "VGA BIOS %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return err;
    }
    if (!S_ISREG(st.st_mode) || st.st_size < 512 || st.st_size > VGA_ROM_MAX) {
        snprintf(why, len, "VGA BIOS %s: %s; an option ROM is a file of 512 bytes to %u KiB", path,
                 S_ISREG(st.st_mode) ? (st.st_size < 512 ? "too small" : "too large") : "not a regular file",
                 VGA_ROM_MAX >> 10);
        close(fd);
        return -EINVAL;
    }
    /* Padded to the BAR's power-of-two size and page aligned, so the BAR
     * can be a read-only memory slot over it. */
    size_t bar = 2048;
    while (bar < (size_t)st.st_size)
        bar <<= 1;
    bar = (bar + 4095) & ~(size_t)4095;
    uint8_t *buf = mmap(NULL, bar, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED)
        buf = NULL;
    ssize_t n = buf ? read(fd, buf, (size_t)st.st_size) : -1;
    close(fd);
    if (n != st.st_size || buf[0] != 0x55 || buf[1] != 0xAA) {
        snprintf(why, len, "VGA BIOS %s: %s", path, n != st.st_size ? "short read" : "not an option ROM (no 55 AA signature)");
        if (buf)
            munmap(buf, bar);
        return -EINVAL;
    }
    *data = buf;
    *size = (uint32_t)st.st_size;
    *bar_size = (uint32_t)bar;
    return 0;
}

int vga_check_rom(const char *path, char *why, size_t len)
{
    uint8_t *data;
    uint32_t size, bar;
    int r = read_rom(path, &data, &size, &bar, why, len);
    if (r == 0)
        munmap(data, bar);
    return r;
}

static int load_rom(struct vga *s, const char *path)
{
    char why[512];
    int r = read_rom(path, &s->rom, &s->rom_size, &s->rom_bar_size, why, sizeof(why));
    if (r < 0)
        fprintf(stderr, "domus-vmm: %s\n", why);
    return r;
}

static int vga_init_vram(struct vga *s)
{
    s->vram_size = VGA_VRAM_SIZE;
    s->vram_fd = memfd_create("domus-vga-vram", MFD_CLOEXEC);
    if (s->vram_fd < 0)
        return -errno;
    if (ftruncate(s->vram_fd, s->vram_size) < 0)
        return -errno;
    s->vram = mmap(NULL, s->vram_size, PROT_READ | PROT_WRITE, MAP_SHARED, s->vram_fd, 0);
    if (s->vram == MAP_FAILED) {
        s->vram = NULL;
        return -errno;
    }
    return 0;
}

static struct vga *vga_alloc(struct vm *vm, struct display_server *ds)
{
    struct vga *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->vm = vm;
    s->ds = ds;
    s->lfb_slot = s->text_slot = s->rom_slot = -1;
    s->vram_fd = s->out_fd = s->timer_fd = -1;
    pthread_mutex_init(&s->lock, NULL);
    return s;
}

int vga_new(struct display_server *ds, struct vga **out)
{
    struct vga *s = vga_alloc(NULL, ds);
    if (!s)
        return -ENOMEM;
    int r = vga_init_vram(s);
    if (r == 0)
        r = vga_render_init(s);
    if (r < 0) {
        vga_free(s);
        return r;
    }
    vga_reset_locked(s);
    *out = s;
    return 0;
}

void vga_free(struct vga *s)
{
    vga_render_free(s);
    if (s->vram)
        munmap(s->vram, s->vram_size);
    if (s->vram_fd >= 0)
        close(s->vram_fd);
    if (s->rom)
        munmap(s->rom, s->rom_bar_size);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

int vga_create(struct vm *vm, struct display_server *ds, const char *rom_path, struct vga **out)
{
    struct vga_pci *p = calloc(1, sizeof(*p));
    struct vga *s = vga_alloc(vm, ds);
    if (!p || !s) {
        free(p);
        free(s);
        return -ENOMEM;
    }
    p->vga = s;
    int r = load_rom(s, rom_path);
    if (r == 0)
        r = vga_init_vram(s);
    if (r == 0)
        r = vga_render_init(s);
    if (r == 0)
        r = vga_fast_init(s);
    if (r < 0)
        return r;                    /* setup failure: the VMM exits */
    vga_reset_locked(s);

    pci_device_init(&p->pci, "vga", 0x1234, 0x1111, 0x030000, 2, 0x1AF4, 0x1100);
    p->pci.ops = &vga_pci_ops;
    p->pci.opaque = p;
    pci_device_set_bar(&p->pci, 0, s->vram_size, PCI_BAR_PREFETCH, &lfb_ops, s);
    pci_device_set_bar(&p->pci, 2, MMIO_BAR_SIZE, 0, &mmio_ops, s);
    pci_device_set_rom(&p->pci, s->rom_size, &rom_ops, s);

    s->lfb_slot = vm_memslot_add(vm, MEMSLOT_UNMAPPED, s->vram_size, s->vram, MEMSLOT_DIRTY_LOG);
    /* SeaBIOS copies the ROM out of the BAR: as RAM that is no exits at all. */
    s->rom_slot = vm_memslot_add(vm, MEMSLOT_UNMAPPED, s->rom_bar_size, s->rom, MEMSLOT_READONLY);
    if (s->lfb_slot < 0)
        fprintf(stderr, "domus-vmm: VGA: framebuffer through MMIO exits (%s)\n", strerror(-s->lfb_slot));
    if ((r = vm_ram_hole(vm, VGA_WIN_BASE, VGA_WIN_LEN)) < 0 ||
        (r = io_bus_register(&vm->mmio, VGA_WIN_BASE, VGA_WIN_LEN, &window_ops, s)) < 0 ||
        (r = io_bus_register(&vm->pio, VGA_PORT_BASE, VGA_PORT_LEN, &port_ops, s)) < 0 ||
        (r = io_bus_register(&vm->pio, VBE_PORT_BASE, VBE_PORT_LEN, &vbe_ops, s)) < 0)
        return r;
    if ((r = pci_bus_add(vm->pci, &p->pci)) < 0)
        return r;
    vm_add_reset_hook(vm, vga_reset, s);
    if ((r = vga_state_register(s, p)) < 0)
        return r;
    if (out)
        *out = s;
    return 0;
}
