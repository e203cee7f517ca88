/* --kernel with --firmware: the kernel, initrd and command line handed to
 * the firmware through fw_cfg, as QEMU's -kernel does. OVMF loads them
 * itself; SeaBIOS runs the linuxboot_dma option ROM (QEMU's, from Debian's
 * qemu-system-data) that copies them in real mode and jumps to the setup
 * code. The setup header is patched as a boot loader would (protocol
 * 2.02+): real-mode code at 0x10000, command line at 0x20000, the kernel
 * at 1 MiB, the initrd as high as the kernel allows below the tables. */
#include "firmware.h"
#include "boot_linux.h"
#include "config.h"
#include "vm.h"
#include "devices/fw_cfg.h"

#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <string.h>

#define FW_CFG_KERNEL_ADDR   0x07
#define FW_CFG_KERNEL_SIZE   0x08
#define FW_CFG_INITRD_ADDR   0x0A
#define FW_CFG_INITRD_SIZE   0x0B
#define FW_CFG_KERNEL_DATA   0x11
#define FW_CFG_INITRD_DATA   0x12
#define FW_CFG_CMDLINE_ADDR  0x13
#define FW_CFG_CMDLINE_SIZE  0x14
#define FW_CFG_CMDLINE_DATA  0x15
#define FW_CFG_SETUP_ADDR    0x16
#define FW_CFG_SETUP_SIZE    0x17
#define FW_CFG_SETUP_DATA    0x18

#define REAL_ADDR     0x10000u
#define CMDLINE_ADDR  0x20000u
#define PROT_ADDR     0x100000u
#define TABLES_ROOM   0x100000u     /* kept free below the top of low RAM for firmware tables */


static void put32(uint8_t *p, uint32_t v)
{
    v = htole32(v);
    memcpy(p, &v, 4);
}

static int add32(struct fw_cfg *fw, uint16_t key, uint32_t v)
{
    uint32_t le = htole32(v);
    return fw_cfg_add_item(fw, key, &le, 4);
}

static int read_whole(const char *path, gchar **data, gsize *len, char *why, size_t whylen)
{
    GError *err = NULL;
    if (g_file_get_contents(path, data, len, &err))
        return 0;
    snprintf(why, whylen, "cannot read %s: %s", path, err->message);
    g_error_free(err);
    return -EIO;
}

int firmware_cfg_add_kernel(struct vm *vm, char *why, size_t whylen)
{
    const struct vm_config *cfg = vm->cfg;
    struct fw_cfg *fw = vm->fw_cfg;
    struct linux_image img;
    int r = linux_probe(cfg->kernel, &img, why, (unsigned)whylen);
    if (r < 0)
        return r;
    gchar *kernel = NULL, *initrd = NULL;
    gsize klen, ilen = 0;
    if ((r = read_whole(cfg->kernel, &kernel, &klen, why, whylen)) < 0)
        return r;
    if (cfg->initrd && (r = read_whole(cfg->initrd, &initrd, &ilen, why, whylen)) < 0) {
        g_free(kernel);
        return r;
    }
    uint8_t *setup = (uint8_t *)kernel;
    uint32_t initrd_addr = 0;
    if (initrd) {
        uint64_t max = vm->mem.regions[0].size - TABLES_ROOM;
        if (img.initrd_addr_max && (uint64_t)img.initrd_addr_max + 1 < max)
            max = (uint64_t)img.initrd_addr_max + 1;
        if (ilen > max || max - ilen < PROT_ADDR + img.init_size) {
            snprintf(why, whylen, "initrd %s (%llu MiB) does not fit in guest RAM beside the kernel; give the VM more --memory",
                     cfg->initrd, (unsigned long long)(ilen >> 20));
            g_free(kernel);
            g_free(initrd);
            return -ENOMEM;
        }
        initrd_addr = (uint32_t)((max - ilen) & ~0xFFFULL);
        put32(setup + HDR_RAMDISK_IMAGE, initrd_addr);
        put32(setup + HDR_RAMDISK_SIZE, (uint32_t)ilen);
    }
    setup[HDR_TYPE_OF_LOADER] = 0xB0;            /* "QEMU": what these ROMs announce */
    setup[HDR_LOADFLAGS] |= CAN_USE_HEAP;
    setup[HDR_HEAP_END] = (uint8_t)(CMDLINE_ADDR - REAL_ADDR - 0x200);
    setup[HDR_HEAP_END + 1] = (uint8_t)((CMDLINE_ADDR - REAL_ADDR - 0x200) >> 8);
    put32(setup + HDR_CMDLINE_PTR, CMDLINE_ADDR);

    const char *cmdline = cfg->append ? cfg->append : "";
    size_t clen = strlen(cmdline) + 1;
    if ((r = add32(fw, FW_CFG_SETUP_ADDR, REAL_ADDR)) < 0 ||
        (r = add32(fw, FW_CFG_SETUP_SIZE, img.setup_size)) < 0 ||
        (r = fw_cfg_add_item(fw, FW_CFG_SETUP_DATA, setup, img.setup_size)) < 0 ||
        (r = add32(fw, FW_CFG_KERNEL_ADDR, PROT_ADDR)) < 0 ||
        (r = add32(fw, FW_CFG_KERNEL_SIZE, (uint32_t)img.kernel_size)) < 0 ||
        (r = fw_cfg_add_item(fw, FW_CFG_KERNEL_DATA, kernel + img.kernel_offset, img.kernel_size)) < 0 ||
        (r = add32(fw, FW_CFG_CMDLINE_ADDR, CMDLINE_ADDR)) < 0 ||
        (r = add32(fw, FW_CFG_CMDLINE_SIZE, (uint32_t)clen)) < 0 ||
        (r = fw_cfg_add_item(fw, FW_CFG_CMDLINE_DATA, cmdline, clen)) < 0 ||
        (r = add32(fw, FW_CFG_INITRD_ADDR, initrd_addr)) < 0 ||
        (r = add32(fw, FW_CFG_INITRD_SIZE, (uint32_t)ilen)) < 0 ||
        (initrd && (r = fw_cfg_add_item(fw, FW_CFG_INITRD_DATA, initrd, ilen)) < 0))
        snprintf(why, whylen, "cannot hand the kernel to the firmware: %s", strerror(-r));
    g_free(kernel);
    g_free(initrd);
    if (r < 0 || cfg->firmware != FIRMWARE_BIOS)
        return r;

    gchar *rom;
    gsize romlen;
    if ((r = read_whole(FIRMWARE_LINUXBOOT_ROM, &rom, &romlen, why, whylen)) < 0)
        return r;
    r = fw_cfg_add_file(fw, "genroms/linuxboot_dma.bin", rom, romlen);
    g_free(rom);
    if (r < 0)
        snprintf(why, whylen, "cannot hand the kernel to the firmware: %s", strerror(-r));
    return r < 0 ? r : 0;
}
