/* libFuzzer target: an arbitrary file opened as a qcow2 image (header,
 * extensions, L1/L2 tables, refcounts, snapshots), then read, written,
 * discarded, checked, repaired, grown and emptied. Anything goes except a crash, a hang
 * (an input taking over 10 s) or a leak. */
#include "block/block.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz", MFD_CLOEXEC);
    if (fd < 0 || write(fd, data, size) != (ssize_t)size) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    struct block_open_opts o = { .format = BLOCK_FMT_QCOW2, .no_lock = true, .no_backing = true };
    struct block *b;
    char *err = NULL;
    if (block_open(path, &o, &b, &err) == 0) {
        static uint8_t buf[256 << 10];
        uint64_t len = block_length(b), pnum;
        for (uint64_t off = 0; off < len && off < (64ULL << 20); off += 1 << 20) {
            uint64_t n = len - off < sizeof(buf) ? len - off : sizeof(buf);
            block_pread(b, buf, n, off);
            block_status(b, off, n, &pnum);
        }
        if (len >= 8192) {
            block_pwrite(b, buf, 4096, len / 2 & ~511ULL);
            block_write_zeroes(b, 0, len / 4 < (64 << 20) ? len / 4 : (64 << 20), true);
            block_discard(b, len / 3 & ~511ULL, 8192);
            struct block_info info;
            block_get_info(b, &info);
            if (info.cluster_size <= sizeof(buf) && info.cluster_size <= len)
                block_pwrite_compressed(b, buf, info.cluster_size, 0);
            block_flush(b);
        }
        struct block_check_result res;
        char *cerr = NULL;
        block_check(b, false, &res, &cerr);
        free(cerr);
        cerr = NULL;
        block_check_fix(b, BLOCK_FIX_ALL, &res, &cerr);   /* repairs must be as careful */
        free(cerr);
        cerr = NULL;
        block_resize(b, len + (1 << 20), false, &cerr);
        free(cerr);
        cerr = NULL;
        block_make_empty(b, &cerr);
        free(cerr);
        block_close(b);
    }
    free(err);
    close(fd);
    return 0;
}
