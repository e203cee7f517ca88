/* The block layer under the same load as `qemu-img bench`: COUNT requests
 * of SIZE bytes, DEPTH in flight, started with block_aio_start() as
 * virtio-blk does (cached reads inline, the rest on the worker pool),
 * offsets stepping by STEP modulo the image size. Prints the seconds taken.
 *   block_bench IMAGE read|write SIZE STEP COUNT DEPTH */
#include "block/block.h"
#include "block/block_aio.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv)
{
    if (argc != 7)
        return 2;
    bool write = !strcmp(argv[2], "write");
    uint64_t size = strtoull(argv[3], NULL, 0), step = strtoull(argv[4], NULL, 0);
    unsigned count = (unsigned)strtoul(argv[5], NULL, 0), depth = (unsigned)strtoul(argv[6], NULL, 0);
    struct block *b;
    char *err = NULL;
    struct block_open_opts o = { .readonly = !write };
    if (block_open(argv[1], &o, &b, &err) < 0) {
        fprintf(stderr, "block_bench: %s\n", err);
        return 1;
    }
    const char *w = getenv("BENCH_WORKERS");
    struct block_aio *aio = block_aio_new(w ? (unsigned)atoi(w) : 4);
    struct block_request *reqs = calloc(depth, sizeof(*reqs));
    struct iovec *iov = calloc(depth, sizeof(*iov));
    uint64_t len = block_length(b), off = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    unsigned issued = 0, done = 0;
    /* Completed requests to handle: reaped, or served inline by block_aio_start(). */
    struct block_request *ready = NULL;
#define START(r) do { if (block_aio_start(aio, (r))) { (r)->next = ready; ready = (r); } } while (0)
    for (unsigned i = 0; i < depth && issued < count; i++, issued++) {
        iov[i].iov_base = aligned_alloc(4096, size);
        memset(iov[i].iov_base, 0xa5, size);
        iov[i].iov_len = size;
        reqs[i] = (struct block_request){ .op = write ? BLOCK_OP_WRITE : BLOCK_OP_READ, .bdev = b,
                                          .off = off, .iov = &iov[i], .niov = 1 };
        off = (off + step) % len;
        START(&reqs[i]);
    }
    while (done < count) {
        if (!ready) {
            struct pollfd p = { block_aio_fd(aio), POLLIN, 0 };
            poll(&p, 1, -1);
            ready = block_aio_reap(aio);
        }
        struct block_request *r = ready;
        ready = r->next;
        if (r->ret < 0) {
            fprintf(stderr, "block_bench: request failed: %s\n", strerror(-r->ret));
            return 1;
        }
        done++;
        if (issued < count) {
            r->off = off;
            off = (off + step) % len;
            issued++;
            START(r);
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("%.3f\n", (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    block_aio_free(aio);
    block_close(b);
    return 0;
}
