#include "firmware.h"
#include "config.h"
#include "vm.h"
#include "devices/pflash.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* KVM slots for the flash; guest RAM uses slots from 0. */
#define FIRMWARE_SLOT 8
#define NVRAM_SLOT    9

static int fail(char *why, size_t whylen, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
    return err;
}

const char *firmware_path(const struct vm_config *cfg, char *why, size_t whylen)
{
    if (cfg->firmware_path)
        return cfg->firmware_path;
    if (cfg->firmware == FIRMWARE_UEFI) {
        if (access(FIRMWARE_UEFI_DEFAULT, R_OK) == 0)
            return FIRMWARE_UEFI_DEFAULT;
        snprintf(why, whylen, "no OVMF image at %s (install the ovmf package or give --firmware uefi:FILE)",
                 FIRMWARE_UEFI_DEFAULT);
        return NULL;
    }
    /* Debian's seabios package: the 256 KiB build has everything; the
     * 128 KiB one is what older packages ship alone. */
    if (access(FIRMWARE_BIOS_DEFAULT, R_OK) == 0)
        return FIRMWARE_BIOS_DEFAULT;
    if (access(FIRMWARE_BIOS_FALLBACK, R_OK) == 0)
        return FIRMWARE_BIOS_FALLBACK;
    snprintf(why, whylen, "no SeaBIOS image at %s (install the seabios package or give --firmware bios:FILE)",
             FIRMWARE_BIOS_DEFAULT);
    return NULL;
}

/* Opens and checks an image of @align-multiple size; returns an fd. */
static int image_open(const char *what, const char *path, int flags, uint64_t min, uint64_t align,
                      uint64_t *size, char *why, size_t whylen)
{
    int fd = open(path, flags | O_CLOEXEC);
    if (fd < 0)
        return fail(why, whylen, -errno, "cannot open %s %s: %s", what, path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return fail(why, whylen, -EINVAL, "%s %s: not a regular file", what, path);
    }
    uint64_t n = (uint64_t)st.st_size;
    if (n < min || n > FIRMWARE_MAX_SIZE || n % align) {
        close(fd);
        return fail(why, whylen, -EINVAL, "%s %s: %llu bytes; it must be a multiple of %llu KiB from %llu KiB to %u MiB",
                    what, path, (unsigned long long)n, (unsigned long long)(align >> 10),
                    (unsigned long long)(min >> 10), FIRMWARE_MAX_SIZE >> 20);
    }
    *size = n;
    return fd;
}

/* The code image @cfg asks for, opened and checked. A BIOS is a multiple
 * of 64 KiB; OVMF's code half a multiple of its 4 KiB flash blocks. */
static int firmware_open_cfg(const struct vm_config *cfg, const char **path, uint64_t *size,
                             char *why, size_t whylen)
{
    *path = firmware_path(cfg, why, whylen);
    if (!*path)
        return -ENOENT;
    return image_open("firmware", *path, O_RDONLY, FIRMWARE_LOW_SIZE,
                      cfg->firmware == FIRMWARE_UEFI ? PFLASH_BLOCK_SIZE : 0x10000, size, why, whylen);
}

static int read_all(int fd, void *dst, uint64_t len)
{
    uint64_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, (uint8_t *)dst + done, len - done, (off_t)done);
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        done += (uint64_t)n;
    }
    return 0;
}

/* The variable store: --nvram FILE (made from the template if missing),
 * or the template itself, privately mapped. */
static int nvram_open(const struct vm_config *cfg, bool create, uint64_t *size, char *why, size_t whylen)
{
    const char *path = cfg->nvram ? cfg->nvram : FIRMWARE_UEFI_VARS;
    if (cfg->nvram && create && access(path, F_OK) < 0) {
        uint64_t n;
        int src = image_open("UEFI variable template", FIRMWARE_UEFI_VARS, O_RDONLY, PFLASH_BLOCK_SIZE,
                             PFLASH_BLOCK_SIZE, &n, why, whylen);
        if (src < 0)
            return src;
        int dst = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (dst < 0) {
            close(src);
            return fail(why, whylen, -errno, "cannot create --nvram %s: %s", path, strerror(errno));
        }
        /* read + write: copy_file_range fails across some filesystems. */
        uint8_t *buf = malloc(n);
        int r = buf && read_all(src, buf, n) == 0 && write(dst, buf, n) == (ssize_t)n && fsync(dst) == 0
                ? 0 : -EIO;
        free(buf);
        close(src);
        close(dst);
        if (r < 0) {
            unlink(path);
            return fail(why, whylen, r, "cannot write --nvram %s", path);
        }
    }
    return image_open(cfg->nvram ? "--nvram" : "UEFI variable template", path,
                      cfg->nvram ? O_RDWR : O_RDONLY, PFLASH_BLOCK_SIZE, PFLASH_BLOCK_SIZE, size, why, whylen);
}

int firmware_check(const struct vm_config *cfg, char *why, size_t whylen)
{
    const char *path;
    uint64_t size, vsize = 0;
    int fd = firmware_open_cfg(cfg, &path, &size, why, whylen);
    if (fd < 0)
        return fd;
    close(fd);
    /* A missing --nvram is only made at start, so check the template here. */
    if (cfg->firmware == FIRMWARE_UEFI) {
        struct vm_config c = *cfg;
        if (c.nvram && access(c.nvram, F_OK) < 0)
            c.nvram = NULL;
        if ((fd = nvram_open(&c, false, &vsize, why, whylen)) < 0)
            return fd;
        close(fd);
        if (size + vsize > FIRMWARE_MAX_SIZE)
            return fail(why, whylen, -EINVAL, "firmware %s and its variable store together exceed %u MiB",
                        path, FIRMWARE_MAX_SIZE >> 20);
    }
    return 0;
}


/* OVMF's variable store sits right below its code, as QEMU's two pflash
 * devices do; writes reach the --nvram file through a shared mapping. */
static int nvram_load(struct vm *vm, uint64_t code_size, char *why, size_t whylen)
{
    uint64_t size;
    int fd = nvram_open(vm->cfg, true, &size, why, whylen);
    if (fd < 0)
        return fd;
    if (code_size + size > FIRMWARE_MAX_SIZE) {
        close(fd);
        return fail(why, whylen, -EINVAL, "the firmware and its variable store together exceed %u MiB",
                    FIRMWARE_MAX_SIZE >> 20);
    }
    uint8_t *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, vm->cfg->nvram ? MAP_SHARED : MAP_PRIVATE, fd, 0);
    close(fd);
    if (mem == MAP_FAILED)
        return fail(why, whylen, -errno, "cannot map the UEFI variable store: %s", strerror(errno));
    struct pflash *f;
    int r = pflash_create(vm, 0x100000000ULL - code_size - size, mem, size, NVRAM_SLOT, &f);
    if (r < 0)
        return fail(why, whylen, r, "cannot map the UEFI variable store: %s", strerror(-r));
    return 0;
}

int firmware_load(struct vm *vm, char *why, size_t whylen)
{
    const char *path;
    uint64_t size;
    int fd = firmware_open_cfg(vm->cfg, &path, &size, why, whylen);
    if (fd < 0)
        return fd;
    /* A private copy: the guest never writes it (read-only slot), and the
     * file may change on disk while the VM runs. */
    uint8_t *rom = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (rom == MAP_FAILED) {
        close(fd);
        return fail(why, whylen, -errno, "cannot map firmware %s: %s", path, strerror(errno));
    }
    int r = read_all(fd, rom, size);
    close(fd);
    if (r < 0)
        return fail(why, whylen, r, "cannot read firmware %s: %s", path, strerror(-r));

    /* The legacy BIOS area shows the top of the flash, as on a PC. */
    uint8_t *low = guest_mem_ptr(&vm->mem, FIRMWARE_LOW_BASE, FIRMWARE_LOW_SIZE);
    if (!low)
        return fail(why, whylen, -ENOMEM, "guest RAM does not reach 1 MiB");
    memcpy(low, rom + size - FIRMWARE_LOW_SIZE, FIRMWARE_LOW_SIZE);

    /* Writes to flash are MMIO exits nobody claims (dropped), as on a
     * PC whose flash is write-protected. */
    bool ro = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_READONLY_MEM) > 0;
    if (!ro && vm->cfg->firmware == FIRMWARE_UEFI)
        return fail(why, whylen, -ENOTSUP, "this KVM cannot map read-only memory, which UEFI's flash needs");
    struct kvm_userspace_memory_region reg = {
        .slot = FIRMWARE_SLOT, .flags = ro ? KVM_MEM_READONLY : 0,
        .guest_phys_addr = 0x100000000ULL - size, .memory_size = size,
        .userspace_addr = (uint64_t)(uintptr_t)rom };
    if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &reg) < 0)
        return fail(why, whylen, -errno, "cannot map firmware %s: %s", path, strerror(errno));
    return vm->cfg->firmware == FIRMWARE_UEFI ? nvram_load(vm, size, why, whylen) : 0;
}
