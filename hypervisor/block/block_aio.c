/* Worker pool for block requests. */
#include "block_aio.h"
#include "block.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define BLOCK_AIO_MAX_WORKERS 16
/* Reads up to this size may be served inline: copying them out of the page
 * cache takes microseconds, less than waking a worker on a busy host. */
#define BLOCK_AIO_INLINE_MAX (128 * 1024)
/* After this many inline misses in a row (data not cached), only every
 * BLOCK_AIO_PROBE_EVERY-th read tries, so uncached workloads pay ~nothing. */
#define BLOCK_AIO_MISS_LIMIT 4
#define BLOCK_AIO_PROBE_EVERY 16

struct block_aio {
    pthread_mutex_t lock;
    pthread_cond_t work, idle;
    struct block_request *queue, **queue_tail;
    struct block_request *done, **done_tail;
    unsigned busy;                   /* queued + running */
    unsigned idle_workers;
    bool stopping;
    int efd;
    unsigned nworkers;
    pthread_t workers[BLOCK_AIO_MAX_WORKERS];
    unsigned inline_misses, inline_skipped;   /* the submitting thread's only */
};

static int run(struct block_request *r)
{
    switch (r->op) {
    case BLOCK_OP_READ: return block_preadv(r->bdev, r->iov, r->niov, r->off);
    case BLOCK_OP_WRITE: return block_pwritev(r->bdev, r->iov, r->niov, r->off);
    case BLOCK_OP_FLUSH: return block_flush(r->bdev);
    case BLOCK_OP_DISCARD: return block_discard(r->bdev, r->off, r->len);
    case BLOCK_OP_WRITE_ZEROES: return block_write_zeroes(r->bdev, r->off, r->len, r->unmap);
    case BLOCK_OP_CALL: return r->call(r);
    }
    return -EINVAL;
}

static void *worker(void *arg)
{
    struct block_aio *aio = arg;
    pthread_mutex_lock(&aio->lock);
    for (;;) {
        while (!aio->queue && !aio->stopping) {
            aio->idle_workers++;
            pthread_cond_wait(&aio->work, &aio->lock);
            aio->idle_workers--;
        }
        if (!aio->queue)
            break;
        struct block_request *r = aio->queue;
        aio->queue = r->next;
        if (!aio->queue)
            aio->queue_tail = &aio->queue;
        pthread_mutex_unlock(&aio->lock);
        r->ret = run(r);
        pthread_mutex_lock(&aio->lock);
        r->next = NULL;
        bool first = !aio->done;     /* the reaper takes the whole list: one wakeup is enough */
        *aio->done_tail = r;
        aio->done_tail = &r->next;
        if (--aio->busy == 0)
            pthread_cond_broadcast(&aio->idle);
        uint64_t one = 1;
        if (first && write(aio->efd, &one, sizeof(one)) < 0) {
            /* the counter cannot overflow in practice; the loop reaps anyway */
        }
    }
    pthread_mutex_unlock(&aio->lock);
    return NULL;
}

struct block_aio *block_aio_new(unsigned nworkers)
{
    struct block_aio *aio = calloc(1, sizeof(*aio));
    if (!aio)
        return NULL;
    if (nworkers < 1)
        nworkers = 1;
    if (nworkers > BLOCK_AIO_MAX_WORKERS)
        nworkers = BLOCK_AIO_MAX_WORKERS;
    pthread_mutex_init(&aio->lock, NULL);
    pthread_cond_init(&aio->work, NULL);
    pthread_cond_init(&aio->idle, NULL);
    aio->queue_tail = &aio->queue;
    aio->done_tail = &aio->done;
    aio->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (aio->efd < 0) {
        free(aio);
        return NULL;
    }
    for (unsigned i = 0; i < nworkers; i++) {
        if (pthread_create(&aio->workers[i], NULL, worker, aio) != 0)
            break;
        pthread_setname_np(aio->workers[i], "blk-worker");
        aio->nworkers++;
    }
    if (!aio->nworkers) {
        close(aio->efd);
        free(aio);
        return NULL;
    }
    return aio;
}

void block_aio_free(struct block_aio *aio)
{
    if (!aio)
        return;
    pthread_mutex_lock(&aio->lock);
    aio->stopping = true;
    pthread_cond_broadcast(&aio->work);
    pthread_mutex_unlock(&aio->lock);
    for (unsigned i = 0; i < aio->nworkers; i++)
        pthread_join(aio->workers[i], NULL);
    close(aio->efd);
    free(aio);
}

int block_aio_fd(const struct block_aio *aio)
{
    return aio->efd;
}

void block_aio_submit(struct block_aio *aio, struct block_request *req)
{
    req->next = NULL;
    pthread_mutex_lock(&aio->lock);
    *aio->queue_tail = req;
    aio->queue_tail = &req->next;
    aio->busy++;
    if (aio->idle_workers)
        pthread_cond_signal(&aio->work);
    pthread_mutex_unlock(&aio->lock);
}

static bool inline_worth_trying(struct block_aio *aio, const struct block_request *req)
{
    if (req->op != BLOCK_OP_READ || req->niov > 64)
        return false;
    uint64_t len = 0;
    for (int i = 0; i < req->niov; i++)
        len += req->iov[i].iov_len;
    if (len > BLOCK_AIO_INLINE_MAX)
        return false;
    if (aio->inline_misses < BLOCK_AIO_MISS_LIMIT)
        return true;
    return ++aio->inline_skipped % BLOCK_AIO_PROBE_EVERY == 0;
}

bool block_aio_start(struct block_aio *aio, struct block_request *req)
{
    if (inline_worth_trying(aio, req)) {
        int r = block_preadv_nowait(req->bdev, req->iov, req->niov, req->off);
        if (r == 0) {
            aio->inline_misses = 0;
            req->ret = 0;
            return true;
        }
        /* Errors other than EAGAIN are left to a worker, which reports them
         * like any other (on-error policies stay in one place). */
        aio->inline_misses++;
    }
    block_aio_submit(aio, req);
    return false;
}

struct block_request *block_aio_reap(struct block_aio *aio)
{
    uint64_t n;
    if (read(aio->efd, &n, sizeof(n)) < 0) {
        /* EAGAIN: nothing signalled since the last reap */
    }
    pthread_mutex_lock(&aio->lock);
    struct block_request *list = aio->done;
    aio->done = NULL;
    aio->done_tail = &aio->done;
    pthread_mutex_unlock(&aio->lock);
    return list;
}

void block_aio_drain(struct block_aio *aio)
{
    pthread_mutex_lock(&aio->lock);
    while (aio->busy)
        pthread_cond_wait(&aio->idle, &aio->lock);
    pthread_mutex_unlock(&aio->lock);
}
