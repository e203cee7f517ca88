#include "boot_linux.h"
#include "platform.h"
#include "vm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* boot_params (the "zero page") offsets */
#define BP_ACPI_RSDP      0x070
#define BP_EXT_RAMDISK    0x0C0
#define BP_EXT_RAMDISK_SZ 0x0C4
#define BP_EXT_CMDLINE    0x0C8
#define BP_E820_ENTRIES   0x1E8
#define BP_HDR            0x1F1
#define BP_E820_TABLE     0x2D0
#define BP_E820_MAX       128



static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return rd16(p) | (uint32_t)rd16(p + 2) << 16; }
static void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void wr32(uint8_t *p, uint32_t v) { wr16(p, (uint16_t)v); wr16(p + 2, (uint16_t)(v >> 16)); }
static void wr64(uint8_t *p, uint64_t v) { wr32(p, (uint32_t)v); wr32(p + 4, (uint32_t)(v >> 32)); }

#define FAIL(err, ...) do { snprintf(why, whylen, __VA_ARGS__); return (err); } while (0)

static int read_header(int fd, uint8_t *hdr, off_t fsize, const char *path, char *why, unsigned whylen)
{
    if (fsize < 0x400)
        FAIL(-ENOEXEC, "%s is not a Linux bzImage (too small)", path);
    memset(hdr, 0, 0x1000);
    if (pread(fd, hdr, 0x400, 0) != 0x400)
        FAIL(-EIO, "cannot read %s: %s", path, strerror(errno));
    if (rd16(hdr + HDR_BOOT_FLAG) != 0xAA55 || memcmp(hdr + HDR_MAGIC, "HdrS", 4))
        FAIL(-ENOEXEC, "%s is not a Linux bzImage (no boot sector signature or HdrS header)", path);
    return 0;
}

int linux_probe(const char *path, struct linux_image *img, char *why, unsigned whylen)
{
    uint8_t hdr[0x1000];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        FAIL(-errno, "cannot open kernel %s: %s", path, strerror(errno));
    struct stat st;
    int r = fstat(fd, &st) < 0 ? -errno : 0;
    if (!r && !S_ISREG(st.st_mode))
        r = -EINVAL, snprintf(why, whylen, "kernel %s is not a regular file", path);
    if (!r)
        r = read_header(fd, hdr, st.st_size, path, why, whylen);
    close(fd);
    if (r)
        return r;

    memset(img, 0, sizeof(*img));
    img->version = rd16(hdr + HDR_VERSION);
    if (img->version < 0x020C)
        FAIL(-ENOEXEC, "%s uses boot protocol %u.%02u; 2.12 or newer is needed",
             path, img->version >> 8, img->version & 0xFF);
    if (!(rd16(hdr + HDR_XLOADFLAGS) & XLF_KERNEL_64))
        FAIL(-ENOEXEC, "%s has no 64-bit entry point (not an x86-64 kernel)", path);
    unsigned sects = hdr[HDR_SETUP_SECTS] ? hdr[HDR_SETUP_SECTS] : 4;
    img->setup_size = (sects + 1) * 512;
    if ((off_t)img->setup_size >= st.st_size)
        FAIL(-ENOEXEC, "%s is truncated", path);
    img->kernel_offset = img->setup_size;
    img->kernel_size = (uint64_t)st.st_size - img->setup_size;
    img->init_size = rd32(hdr + HDR_INIT_SIZE);
    img->initrd_addr_max = rd32(hdr + HDR_INITRD_MAX);
    img->cmdline_size = rd32(hdr + HDR_CMDLINE_SIZE);
    if (img->init_size < img->kernel_size)
        img->init_size = (uint32_t)img->kernel_size;
    return 0;
}

static int read_file_into(const char *path, uint64_t offset, void *dst, uint64_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    uint64_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, (uint8_t *)dst + done, len - done, (off_t)(offset + done));
        if (n <= 0) {
            int err = n < 0 ? -errno : -EIO;
            close(fd);
            return err;
        }
        done += (uint64_t)n;
    }
    close(fd);
    return 0;
}

static unsigned build_e820(const struct guest_mem *mem, uint8_t *table)
{
    struct e820_entry e[GUEST_MEM_E820_MAX];
    unsigned n = guest_mem_e820(mem, e);
    for (unsigned i = 0; i < n; i++) {
        uint8_t *p = table + i * 20;
        wr64(p, e[i].addr);
        wr64(p + 8, e[i].size);
        wr32(p + 16, e[i].type);
    }
    return n;
}

int linux_load(struct vm *vm, const char *kernel, const char *initrd, const char *cmdline,
               uint64_t rsdp, uint64_t *entry, char *why, unsigned whylen)
{
    struct linux_image img;
    int r = linux_probe(kernel, &img, why, whylen);
    if (r)
        return r;
    struct guest_mem *mem = &vm->mem;
    uint64_t low_top = mem->regions[0].size;

    if (PLAT_KERNEL_ADDR + img.init_size > low_top)
        FAIL(-ENOMEM, "kernel %s needs %u MiB of RAM to unpack; give the VM more --memory",
             kernel, (unsigned)((PLAT_KERNEL_ADDR + img.init_size) >> 20) + 1);

    uint8_t *bp = guest_mem_ptr(mem, PLAT_BOOT_PARAMS_ADDR, 4096);
    memset(bp, 0, 4096);
    /* The setup header is copied verbatim from the file, then our fields set. */
    uint8_t hdr[0x400];
    if ((r = read_file_into(kernel, 0, hdr, sizeof(hdr))) < 0)
        FAIL(r, "cannot read kernel %s: %s", kernel, strerror(-r));
    unsigned hdr_end = 0x202 + hdr[0x201];
    memcpy(bp + BP_HDR, hdr + BP_HDR, hdr_end - BP_HDR);

    void *kdst = guest_mem_ptr(mem, PLAT_KERNEL_ADDR, img.kernel_size);
    if ((r = read_file_into(kernel, img.kernel_offset, kdst, img.kernel_size)) < 0)
        FAIL(r, "cannot read kernel %s: %s", kernel, strerror(-r));

    bp[HDR_TYPE_OF_LOADER] = 0xFF;
    bp[HDR_LOADFLAGS] |= LOADED_HIGH | CAN_USE_HEAP;
    wr16(bp + HDR_HEAP_END, 0xFE00);

    size_t clen = cmdline ? strlen(cmdline) : 0;
    uint32_t cmax = img.cmdline_size ? img.cmdline_size : 255;
    if (clen > cmax || clen >= PLAT_CMDLINE_MAX)
        FAIL(-E2BIG, "kernel command line is %zu bytes; this kernel takes at most %u", clen, cmax);
    uint8_t *cdst = guest_mem_ptr(mem, PLAT_CMDLINE_ADDR, clen + 1);
    memcpy(cdst, cmdline ? cmdline : "", clen);
    cdst[clen] = 0;
    wr32(bp + HDR_CMDLINE_PTR, (uint32_t)PLAT_CMDLINE_ADDR);

    if (initrd) {
        int fd = open(initrd, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0)
            FAIL(-errno, "cannot open initrd %s: %s", initrd, strerror(errno));
        r = fstat(fd, &st) < 0 ? -errno : 0;
        close(fd);
        if (r)
            FAIL(r, "cannot stat initrd %s: %s", initrd, strerror(-r));
        uint64_t size = (uint64_t)st.st_size;
        uint64_t limit = low_top;
        if (img.initrd_addr_max && (uint64_t)img.initrd_addr_max + 1 < limit)
            limit = (uint64_t)img.initrd_addr_max + 1;
        uint64_t kernel_end = PLAT_KERNEL_ADDR + img.init_size;
        if (size > limit || ((limit - size) & ~0xFFFULL) < kernel_end)
            FAIL(-ENOMEM, "initrd %s (%llu MiB) does not fit in guest RAM beside the kernel; give the VM more --memory",
                 initrd, (unsigned long long)(size >> 20));
        uint64_t addr = (limit - size) & ~0xFFFULL;
        if ((r = read_file_into(initrd, 0, guest_mem_ptr(mem, addr, size), size)) < 0)
            FAIL(r, "cannot read initrd %s: %s", initrd, strerror(-r));
        wr32(bp + HDR_RAMDISK_IMAGE, (uint32_t)addr);
        wr32(bp + HDR_RAMDISK_SIZE, (uint32_t)size);
    }

    bp[BP_E820_ENTRIES] = (uint8_t)build_e820(mem, bp + BP_E820_TABLE);
    if (img.version >= 0x020E)
        wr64(bp + BP_ACPI_RSDP, rsdp);
    *entry = PLAT_KERNEL_ADDR + 0x200;
    return 0;
}
