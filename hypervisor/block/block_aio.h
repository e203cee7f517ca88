/* Requests run off the caller's thread: a small pool of workers calls the
 * (blocking, thread-safe) block functions, several requests in flight, and
 * completions come back through an eventfd the caller's event loop watches. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

struct block;
struct block_aio;

enum block_op { BLOCK_OP_READ, BLOCK_OP_WRITE, BLOCK_OP_FLUSH, BLOCK_OP_DISCARD, BLOCK_OP_WRITE_ZEROES,
                BLOCK_OP_CALL /* ->call(req): several operations as one request */ };

struct block_request {
    enum block_op op;
    struct block *bdev;
    uint64_t off, len;               /* len: for DISCARD / WRITE_ZEROES */
    const struct iovec *iov;         /* READ / WRITE */
    int niov;
    bool unmap;
    int (*call)(struct block_request *req);
    int ret;                         /* 0 or -errno, set on completion */
    void *opaque;                    /* the caller's */
    struct block_request *next;      /* queue link, owned by block_aio */
};

struct block_aio *block_aio_new(unsigned nworkers);
void block_aio_free(struct block_aio *aio);
/* Readable when completions are waiting; block_aio_reap() clears it. */
int block_aio_fd(const struct block_aio *aio);
void block_aio_submit(struct block_aio *aio, struct block_request *req);
/* Like block_aio_submit(), but a small read that can be served from the
 * host page cache without waiting is done right here instead (a worker
 * wake-up costs more than such a read): then it returns true with req->ret
 * set, and the caller completes the request itself; it never appears on
 * the completion list. Only the thread that reaps should call this. */
bool block_aio_start(struct block_aio *aio, struct block_request *req);
/* Completed requests, oldest first, linked through ->next (NULL: none). */
struct block_request *block_aio_reap(struct block_aio *aio);
/* Waits until no request is queued or running (completions may wait to be reaped). */
void block_aio_drain(struct block_aio *aio);
