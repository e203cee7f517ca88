/* Linux x86 boot protocol (Documentation/arch/x86/boot.rst): bzImage with
 * the 64-bit entry point, initrd, command line, e820 map, RSDP pointer. */
#pragma once
#include <stdint.h>

struct vm;

/* setup_header offsets (absolute in boot_params / the file) */
#define HDR_SETUP_SECTS   0x1F1
#define HDR_BOOT_FLAG     0x1FE
#define HDR_MAGIC         0x202
#define HDR_VERSION       0x206
#define HDR_TYPE_OF_LOADER 0x210
#define HDR_LOADFLAGS     0x211
#define HDR_RAMDISK_IMAGE 0x218
#define HDR_RAMDISK_SIZE  0x21C
#define HDR_HEAP_END      0x224
#define HDR_CMDLINE_PTR   0x228
#define HDR_INITRD_MAX    0x22C
#define HDR_XLOADFLAGS    0x236
#define HDR_CMDLINE_SIZE  0x238
#define HDR_INIT_SIZE     0x260

#define LOADED_HIGH       0x01
#define CAN_USE_HEAP      0x80
#define XLF_KERNEL_64     0x01


struct linux_image {
    uint16_t version;                /* boot protocol version */
    uint32_t setup_size;             /* bytes of real-mode setup in the file */
    uint64_t kernel_offset, kernel_size;   /* protected-mode part in the file */
    uint32_t init_size;              /* memory the kernel needs from its load address */
    uint32_t initrd_addr_max;
    uint32_t cmdline_size;
};

/* Checks that @path is a bzImage we can boot (protocol >= 2.12, 64-bit
 * entry). On failure returns -errno/-ENOEXEC with a one-line *why. */
int linux_probe(const char *path, struct linux_image *img, char *why, unsigned whylen);

/* Loads kernel, initrd and command line into guest RAM and builds
 * boot_params with the e820 map. Returns the 64-bit entry point. */
int linux_load(struct vm *vm, const char *kernel, const char *initrd, const char *cmdline,
               uint64_t rsdp, uint64_t *entry, char *why, unsigned whylen);
