#include "memory.h"
#include "platform.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int guest_mem_init(struct guest_mem *mem, uint64_t size, const char *name)
{
    memset(mem, 0, sizeof(*mem));
    mem->memfd = mem->private_fd = -1;
    if (size == 0 || size > (1ULL << 46))
        return -EINVAL;

    int fd = memfd_create(name ? name : "domus-ram", MFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (ftruncate(fd, (off_t)size) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    /* MAP_NORESERVE: RAM the guest never touches costs nothing. */
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
    if (p == MAP_FAILED) {
        int err = -errno;
        close(fd);
        return err;
    }
    madvise(p, size, MADV_MERGEABLE);

    mem->memfd = fd;
    mem->base = p;
    mem->size = size;
    uint64_t low = size < PLAT_LOWMEM_TOP ? size : PLAT_LOWMEM_TOP;
    mem->regions[0] = (struct guest_mem_region){ .gpa = 0, .size = low, .host = p };
    mem->nregions = 1;
    if (size > low) {
        mem->regions[1] = (struct guest_mem_region){
            .gpa = PLAT_HIGHMEM_BASE, .size = size - low, .host = (uint8_t *)p + low };
        mem->nregions = 2;
    }
    return 0;
}

void guest_mem_init_fake(struct guest_mem *mem, void *host, uint64_t size)
{
    memset(mem, 0, sizeof(*mem));
    mem->memfd = mem->private_fd = -1;
    mem->base = host;
    mem->size = size;
    mem->regions[0] = (struct guest_mem_region){ .gpa = 0, .size = size, .host = host };
    mem->nregions = 1;
}

void guest_mem_destroy(struct guest_mem *mem)
{
    if (mem->memfd >= 0) {
        munmap(mem->base, mem->size);
        close(mem->memfd);
    }
    if (mem->private_fd >= 0)
        close(mem->private_fd);
    memset(mem, 0, sizeof(*mem));
    mem->memfd = mem->private_fd = -1;
}

void *guest_mem_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
    for (unsigned i = 0; i < mem->nregions; i++) {
        const struct guest_mem_region *r = &mem->regions[i];
        /* Written so that no sum can wrap: gpa and len are guest-controlled. */
        if (gpa >= r->gpa && gpa - r->gpa <= r->size && len <= r->size - (gpa - r->gpa))
            return r->host + (gpa - r->gpa);
    }
    return NULL;
}

int guest_mem_read(const struct guest_mem *mem, uint64_t gpa, void *dst, uint64_t len)
{
    void *p = guest_mem_ptr(mem, gpa, len);
    if (!p)
        return -EFAULT;
    memcpy(dst, p, len);
    return 0;
}

int guest_mem_write(const struct guest_mem *mem, uint64_t gpa, const void *src, uint64_t len)
{
    void *p = guest_mem_ptr(mem, gpa, len);
    if (!p)
        return -EFAULT;
    memcpy(p, src, len);
    return 0;
}

uint64_t guest_mem_top(const struct guest_mem *mem)
{
    const struct guest_mem_region *r = &mem->regions[mem->nregions - 1];
    return r->gpa + r->size;
}

unsigned guest_mem_e820(const struct guest_mem *mem, struct e820_entry *e)
{
    unsigned n = 0;
    uint64_t low = mem->regions[0].size;
    e[n++] = (struct e820_entry){ 0, PLAT_EBDA_START, E820_RAM };
    e[n++] = (struct e820_entry){ PLAT_EBDA_START, 0x100000 - PLAT_EBDA_START, E820_RESERVED };
    e[n++] = (struct e820_entry){ 0x100000, low - 0x100000, E820_RAM };
    /* ECAM must be reserved in e820 or Linux refuses MMCONFIG */
    e[n++] = (struct e820_entry){ PLAT_ECAM_BASE, PLAT_ECAM_SIZE, E820_RESERVED };
    if (mem->nregions > 1)
        e[n++] = (struct e820_entry){ mem->regions[1].gpa, mem->regions[1].size, E820_RAM };
    return n;
}
