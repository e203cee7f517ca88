/* Linux x86 boot protocol (Documentation/arch/x86/boot.rst): bzImage with
 * the 64-bit entry point, initrd, command line, e820 map, RSDP pointer. */
#pragma once
#include <stdint.h>

struct vm;

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
