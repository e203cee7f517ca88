#include "firmware.h"
#include "config.h"
#include "vm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* KVM slot for the flash image; guest RAM uses slots from 0. */
#define FIRMWARE_SLOT 8

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

/* Opens and checks the image; returns an fd and its size. */
static int firmware_open(const char *path, uint64_t *size, char *why, size_t whylen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail(why, whylen, -errno, "cannot open firmware %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return fail(why, whylen, -EINVAL, "firmware %s: not a regular file", path);
    }
    uint64_t n = (uint64_t)st.st_size;
    if (n < FIRMWARE_LOW_SIZE || n > FIRMWARE_MAX_SIZE || n % 0x10000) {
        close(fd);
        return fail(why, whylen, -EINVAL,
                    "firmware %s: %llu bytes; a BIOS image is a multiple of 64 KiB from 128 KiB to %u MiB",
                    path, (unsigned long long)n, FIRMWARE_MAX_SIZE >> 20);
    }
    *size = n;
    return fd;
}

/* The image @cfg asks for, opened and checked. */
static int firmware_open_cfg(const struct vm_config *cfg, const char **path, uint64_t *size,
                             char *why, size_t whylen)
{
    *path = firmware_path(cfg, why, whylen);
    return *path ? firmware_open(*path, size, why, whylen) : -ENOENT;
}

int firmware_check(const struct vm_config *cfg, char *why, size_t whylen)
{
    const char *path;
    uint64_t size;
    int fd = firmware_open_cfg(cfg, &path, &size, why, whylen);
    if (fd < 0)
        return fd;
    close(fd);
    return 0;
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

    uint8_t *low = guest_mem_ptr(&vm->mem, FIRMWARE_LOW_BASE, FIRMWARE_LOW_SIZE);
    if (!low)
        return fail(why, whylen, -ENOMEM, "guest RAM does not reach 1 MiB");
    memcpy(low, rom + size - FIRMWARE_LOW_SIZE, FIRMWARE_LOW_SIZE);

    /* Writes to flash are MMIO exits nobody claims (dropped), as on a
     * PC whose flash is write-protected. */
    bool ro = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_READONLY_MEM) > 0;
    struct kvm_userspace_memory_region reg = {
        .slot = FIRMWARE_SLOT, .flags = ro ? KVM_MEM_READONLY : 0,
        .guest_phys_addr = 0x100000000ULL - size, .memory_size = size,
        .userspace_addr = (uint64_t)(uintptr_t)rom };
    if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &reg) < 0)
        return fail(why, whylen, -errno, "cannot map firmware %s: %s", path, strerror(errno));
    return 0;
}
