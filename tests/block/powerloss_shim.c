/* LD_PRELOAD shim for power-loss tests: every write, hole punch, truncate
 * and sync the process makes on one file (POWERLOSS_FILE, an absolute path)
 * is appended to a log (POWERLOSS_LOG) as well as done. powerloss_replay
 * later rebuilds what a disk could hold after losing power at the end of
 * the log: everything up to the last sync, and any part of what followed.
 * Record: type ('W' write, 'P' punch, 'Z' zero range, 'T' truncate, 'S'
 * sync), offset, length (u64 each), then the data of a write. A sync is
 * logged after it returns, so a logged sync was durable. */
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

struct rec {
    char type;
    uint64_t off, len;
} __attribute__((packed));

static int log_fd = -1;
static const char *target;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

__attribute__((constructor)) static void shim_init(void)
{
    const char *path = getenv("POWERLOSS_LOG");
    target = getenv("POWERLOSS_FILE");
    if (path && target)
        log_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
}

static int is_target(int fd)
{
    char link[64], name[PATH_MAX];
    if (log_fd < 0 || fd < 0)
        return 0;
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, name, sizeof(name) - 1);
    if (n <= 0)
        return 0;
    name[n] = 0;
    return !strcmp(name, target);
}

/* One writev to the log: the record's header and data stay together. */
static void log_rec(char type, uint64_t off, uint64_t len, const struct iovec *data, int ndata)
{
    struct rec h = { type, off, len };
    struct iovec v[1 + IOV_MAX];
    v[0] = (struct iovec){ &h, sizeof(h) };
    for (int i = 0; i < ndata && i < IOV_MAX; i++)
        v[1 + i] = data[i];
    ssize_t r = writev(log_fd, v, 1 + (ndata < IOV_MAX ? ndata : IOV_MAX));
    (void)r;
}

#define REAL(name, ret, ...) \
    static ret (*real)(__VA_ARGS__); \
    if (!real) \
        real = (ret (*)(__VA_ARGS__))dlsym(RTLD_NEXT, name)

ssize_t pwritev(int fd, const struct iovec *iov, int n, off_t off)
{
    REAL("pwritev", ssize_t, int, const struct iovec *, int, off_t);
    if (!is_target(fd))
        return real(fd, iov, n, off);
    pthread_mutex_lock(&log_lock);
    ssize_t r = real(fd, iov, n, off);
    if (r > 0) {                     /* what reached the file, logged in order */
        struct iovec part[IOV_MAX];
        int k = 0;
        for (size_t left = (size_t)r; k < n && left; k++) {
            part[k] = iov[k];
            if (part[k].iov_len > left)
                part[k].iov_len = left;
            left -= part[k].iov_len;
        }
        log_rec('W', (uint64_t)off, (uint64_t)r, part, k);
    }
    pthread_mutex_unlock(&log_lock);
    return r;
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
    struct iovec v = { (void *)buf, len };
    return pwritev(fd, &v, 1, off);
}

static int synced(int fd, int r)
{
    if (r == 0 && is_target(fd)) {
        pthread_mutex_lock(&log_lock);
        log_rec('S', 0, 0, NULL, 0);
        pthread_mutex_unlock(&log_lock);
    }
    return r;
}

int fdatasync(int fd)
{
    REAL("fdatasync", int, int);
    return synced(fd, real(fd));
}

int fsync(int fd)
{
    REAL("fsync", int, int);
    return synced(fd, real(fd));
}

int fallocate(int fd, int mode, off_t off, off_t len)
{
    REAL("fallocate", int, int, int, off_t, off_t);
    int r = real(fd, mode, off, len);
    if (r == 0 && (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) && is_target(fd)) {
        pthread_mutex_lock(&log_lock);
        log_rec(mode & FALLOC_FL_PUNCH_HOLE ? 'P' : 'Z', (uint64_t)off, (uint64_t)len, NULL, 0);
        pthread_mutex_unlock(&log_lock);
    }
    return r;
}

int ftruncate(int fd, off_t len)
{
    REAL("ftruncate", int, int, off_t);
    int r = real(fd, len);
    if (r == 0 && is_target(fd)) {
        pthread_mutex_lock(&log_lock);
        log_rec('T', 0, (uint64_t)len, NULL, 0);
        pthread_mutex_unlock(&log_lock);
    }
    return r;
}
