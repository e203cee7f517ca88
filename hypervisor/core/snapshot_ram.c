#include "snapshot_int.h"
#include "memory.h"
#include "devices/error_msg.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define RAM_HDR_SIZE 4096
#define PAGE 4096ULL

static const char ram_magic[8] = "DOMUSRM";

struct ram_file_header {
    char magic[8];
    uint32_t version;
    uint32_t crc;                    /* of this struct with crc = 0 */
    uint64_t ram_size;
    uint64_t ram_id;
};

static bool page_is_zero(const uint8_t *p)
{
    const uint64_t *w = (const uint64_t *)p;
    for (unsigned i = 0; i < PAGE / 8; i += 4)
        if (w[i] | w[i + 1] | w[i + 2] | w[i + 3])
            return false;
    return true;
}

static int pwrite_all(int fd, const uint8_t *p, uint64_t len, off_t off)
{
    while (len) {
        ssize_t n = pwrite(fd, p, len > (1u << 30) ? (1u << 30) : len, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        p += n, len -= (uint64_t)n, off += n;
    }
    return 0;
}

/* Writes the non-zero pages of [start, end) of RAM. */
static int write_range(int fd, const uint8_t *base, uint64_t start, uint64_t end, uint64_t *bytes)
{
    uint64_t run = 0, run_start = 0;
    for (uint64_t off = start; off < end; off += PAGE) {
        if (!page_is_zero(base + off)) {
            if (!run)
                run_start = off;
            run += PAGE;
            continue;
        }
        if (run) {
            int r = pwrite_all(fd, base + run_start, run, (off_t)(RAM_HDR_SIZE + run_start));
            if (r < 0)
                return r;
            *bytes += run;
            run = 0;
        }
    }
    if (run) {
        int r = pwrite_all(fd, base + run_start, run, (off_t)(RAM_HDR_SIZE + run_start));
        if (r < 0)
            return r;
        *bytes += run;
    }
    return 0;
}

/* Where RAM may hold something other than zeros: the memfd's data extents
 * (untouched RAM is a hole, and reading it through the mapping would
 * allocate it), or after a lazy revert the pages resident in the private
 * mapping plus the data extents of the file under it. */
static int write_ram(int fd, const struct guest_mem *mem, uint64_t *bytes)
{
    int src = mem->private_fd >= 0 ? mem->private_fd : mem->memfd;
    off_t skew = mem->private_fd >= 0 ? RAM_HDR_SIZE : 0;
    if (src < 0)
        return write_range(fd, mem->base, 0, mem->size, bytes);
    unsigned char *resident = NULL;
    if (mem->private_fd >= 0) {
        resident = malloc(mem->size / PAGE);
        if (!resident || mincore(mem->base, mem->size, resident) < 0) {
            free(resident);
            return write_range(fd, mem->base, 0, mem->size, bytes);
        }
    }
    int r = 0;
    uint64_t off = 0;
    while (off < mem->size && r == 0) {
        off_t d = lseek(src, (off_t)off + skew, SEEK_DATA);
        uint64_t data = d < 0 ? mem->size : (uint64_t)(d - skew);
        /* Resident pages before the next data extent (COW'd in a hole). */
        if (resident) {
            for (uint64_t p = off; p < data && p < mem->size && r == 0; p += PAGE)
                if (resident[p / PAGE] & 1)
                    r = write_range(fd, mem->base, p, p + PAGE, bytes);
        }
        if (data >= mem->size || r < 0)
            break;
        off_t h = lseek(src, (off_t)data + skew, SEEK_HOLE);
        uint64_t hole = h < 0 ? mem->size : (uint64_t)(h - skew);
        if (hole > mem->size)
            hole = mem->size;
        data &= ~(PAGE - 1);
        r = write_range(fd, mem->base, data, (hole + PAGE - 1) & ~(PAGE - 1), bytes);
        off = (hole + PAGE - 1) & ~(PAGE - 1);
    }
    free(resident);
    return r;
}

int snapshot_ram_save(const struct guest_mem *mem, const char *path, uint64_t ram_id,
                      uint64_t *data_bytes, char **error)
{
    char *tmp;
    int fd = snap_tmp_create(path, &tmp, error);
    if (fd < 0)
        return fd;
    uint8_t hdrpage[RAM_HDR_SIZE] = { 0 };
    struct ram_file_header h = { .version = 1, .ram_size = mem->size, .ram_id = ram_id };
    memcpy(h.magic, ram_magic, sizeof(h.magic));
    h.crc = snap_crc32(0, &h, sizeof(h));
    memcpy(hdrpage, &h, sizeof(h));
    *data_bytes = 0;
    int r = pwrite_all(fd, hdrpage, sizeof(hdrpage), 0);
    if (r == 0 && ftruncate(fd, (off_t)(RAM_HDR_SIZE + mem->size)) < 0)
        r = -errno;
    if (r == 0)
        r = write_ram(fd, mem, data_bytes);
    return snap_tmp_commit(fd, tmp, path, r, true, "the RAM file ", error);
}

int snapshot_ram_open(const char *path, uint64_t ram_size, uint64_t ram_id, char **error)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int r = -errno;
        set_error(error, "cannot open the RAM file %s: %s", path, strerror(errno));
        return r;
    }
    struct ram_file_header h;
    struct stat st;
    const char *why = NULL;
    if (fstat(fd, &st) < 0 || pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
        memcmp(h.magic, ram_magic, sizeof(h.magic)))
        why = "is not a Domus RAM file";
    if (!why) {
        uint32_t crc = h.crc;
        h.crc = 0;
        if (crc != snap_crc32(0, &h, sizeof(h)) || h.version != 1)
            why = "has a damaged header";
        else if (h.ram_id != ram_id)
            why = "belongs to another snapshot";
        else if (h.ram_size != ram_size || (uint64_t)st.st_size != RAM_HDR_SIZE + ram_size)
            why = "does not match the state file's RAM size (truncated?)";
    }
    if (why) {
        set_error(error, "the RAM file %s %s", path, why);
        close(fd);
        return -EINVAL;
    }
    return fd;
}

static int copy_extents(struct guest_mem *mem, int fd)
{
    uint64_t off = 0;
    while (off < mem->size) {
        off_t d = lseek(fd, (off_t)(RAM_HDR_SIZE + off), SEEK_DATA);
        if (d < 0)
            return errno == ENXIO ? 0 : -errno;
        off_t h = lseek(fd, d, SEEK_HOLE);
        if (h < 0)
            return -errno;
        uint64_t s = (uint64_t)d - RAM_HDR_SIZE, e = (uint64_t)h - RAM_HDR_SIZE;
        if (e > mem->size)
            e = mem->size;
        while (s < e) {
            ssize_t n = pread(fd, mem->base + s, e - s, (off_t)(RAM_HDR_SIZE + s));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return n < 0 ? -errno : -EIO;
            s += (uint64_t)n;
        }
        off = e;
    }
    return 0;
}

void snapshot_ram_trim(struct guest_mem *mem)
{
    if (mem->private_fd >= 0 && mem->memfd >= 0)
        fallocate(mem->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, (off_t)mem->size);
}

int snapshot_ram_load(struct guest_mem *mem, int fd, bool lazy)
{
    int r = 0;
    if (lazy) {
        void *p = mmap(mem->base, mem->size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, fd, RAM_HDR_SIZE);
        if (p == MAP_FAILED) {
            r = -errno;
            close(fd);
            return r;
        }
        madvise(mem->base, mem->size, MADV_MERGEABLE);
        if (mem->private_fd >= 0)
            close(mem->private_fd);
        mem->private_fd = fd;
        return 0;
    }
    if (mem->private_fd >= 0) {      /* back to the memfd others may share */
        void *p = mmap(mem->base, mem->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED | MAP_NORESERVE,
                       mem->memfd, 0);
        if (p == MAP_FAILED) {
            r = -errno;
            close(fd);
            return r;
        }
        close(mem->private_fd);
        mem->private_fd = -1;
    }
    if (mem->memfd >= 0)
        fallocate(mem->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, (off_t)mem->size);
    else
        memset(mem->base, 0, mem->size);
    r = copy_extents(mem, fd);
    close(fd);
    return r;
}
