/* Guest RAM save and revert on the host, outside any emulation: a guest of
 * SIZE MiB with 64 MiB of data spread over it, saved to a sparse RAM file,
 * then reverted lazily (MAP_PRIVATE) and by copying into the memfd, with the
 * cost of first touching the data after a lazy revert shown apart.
 * Medians of 5 rounds. Built and run by bench/run-snapshot-bench (host part). */
#include "core/memory.h"
#include "core/snapshot_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, n, sizeof(*v), cmp);
    return v[n / 2];
}

#define ROUNDS 5

static double touch(struct guest_mem *m, uint64_t stride)
{
    double t = now_ms();
    volatile uint64_t sum = 0;
    for (uint64_t off = 0; off < m->size; off += stride)
        sum += m->base[off];
    return now_ms() - t;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/var/tmp";
    printf("%-10s %9s %11s %11s %12s %11s\n", "guest", "save ms", "lazy rev ms", "first touch", "copy rev ms",
           "file data");
    for (unsigned mib = 256; mib <= 1024; mib *= 4) {
        struct guest_mem m;
        if (guest_mem_init(&m, (uint64_t)mib << 20, "bench") < 0)
            return 1;
        /* 64 MiB of data: every (mib/64)th page. */
        uint64_t stride = (uint64_t)mib / 64 * 4096;
        for (uint64_t off = 0; off < m.size; off += stride)
            for (unsigned i = 0; i < 4096; i += 8)
                *(uint64_t *)(m.base + off + i) = off * 2654435761u + i;
        char path[512];
        snprintf(path, sizeof(path), "%s/ram-bench-%d.ram", dir, getpid());
        uint64_t bytes;
        char *err = NULL;
        double saves[ROUNDS], lazys[ROUNDS], firsts[ROUNDS], copies[ROUNDS];
        for (int round = 0; round < ROUNDS; round++) {
        double t = now_ms();
        if (snapshot_ram_save(&m, path, 42, &bytes, &err) < 0) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        double save = now_ms() - t;
        /* Make the guest differ from the file, as a running guest would. */
        memset(m.base, 0xAB, 1 << 20);
        int fd = snapshot_ram_open(path, m.size, 42, &err);
        t = now_ms();
        snapshot_ram_load(&m, fd, true);
        double lazy = now_ms() - t;
        snapshot_ram_trim(&m);
        double first = touch(&m, stride);
        if (*(uint64_t *)(m.base + stride) != stride * 2654435761u) {
            fprintf(stderr, "lazy revert lost data\n");
            return 1;
        }
        memset(m.base, 0xAB, 1 << 20);
        fd = snapshot_ram_open(path, m.size, 42, &err);
        t = now_ms();
        snapshot_ram_load(&m, fd, false);
        double copy = now_ms() - t;
        if (*(uint64_t *)(m.base + stride) != stride * 2654435761u || m.base[1] != 0) {
            fprintf(stderr, "copy revert lost data\n");
            return 1;
        }
        saves[round] = save, lazys[round] = lazy, firsts[round] = first, copies[round] = copy;
        }
        printf("%4u MiB   %9.1f %11.2f %11.1f %12.1f %8llu MiB\n", mib, median(saves, ROUNDS),
               median(lazys, ROUNDS), median(firsts, ROUNDS), median(copies, ROUNDS),
               (unsigned long long)(bytes >> 20));
        unlink(path);
        guest_mem_destroy(&m);
    }
    return 0;
}
