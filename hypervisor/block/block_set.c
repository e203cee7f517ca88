/* The disks of this process that a live snapshot's disk snapshot covers,
 * whatever controller they hang on (virtio-blk, AHCI): a revert must not
 * pair the RAM with a disk that moved on. */
#include "block_set.h"
#include "block.h"
#include "devices/error_msg.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static struct block *disks[BLOCK_SET_MAX];
static unsigned ndisks;
static pthread_mutex_t set_lock = PTHREAD_MUTEX_INITIALIZER;

int block_set_add(struct block *b)
{
    pthread_mutex_lock(&set_lock);
    int r = ndisks < BLOCK_SET_MAX ? 0 : -ENOSPC;
    if (r == 0)
        disks[ndisks++] = b;
    pthread_mutex_unlock(&set_lock);
    return r;
}

void block_set_remove(struct block *b)
{
    pthread_mutex_lock(&set_lock);
    for (unsigned i = 0; i < ndisks; i++) {
        if (disks[i] == b) {
            memmove(&disks[i], &disks[i + 1], (ndisks - i - 1) * sizeof(disks[0]));
            ndisks--;
            break;
        }
    }
    pthread_mutex_unlock(&set_lock);
}

static bool has_snapshot(struct block *b, const char *name)
{
    struct block_snapshot *list = NULL;
    unsigned n = 0;
    bool found = false;
    if (block_snapshot_list(b, &list, &n) == 0)
        for (unsigned k = 0; k < n && !found; k++)
            found = !strcmp(list[k].name, name);
    free(list);
    return found;
}

/* Checks every disk before touching any, so a refusal changes nothing. */
static int check_all(const char *name, bool apply, char **error)
{
    for (unsigned i = 0; i < ndisks; i++) {
        struct block *b = disks[i];
        if (block_get_format(b) != BLOCK_FMT_QCOW2) {
            set_error(error, "disk %s is raw: snapshots need qcow2 disks", block_path(b));
            return -ENOTSUP;
        }
        if (apply && !has_snapshot(b, name)) {
            set_error(error, "disk %s has no snapshot '%s'", block_path(b), name);
            return -ENOENT;
        }
    }
    return 0;
}

int block_set_snapshot(const char *name, bool apply, char **error)
{
    pthread_mutex_lock(&set_lock);
    int r = check_all(name, apply, error);
    for (unsigned i = 0; r == 0 && i < ndisks; i++) {
        struct block *b = disks[i];
        char *err = NULL;
        r = apply ? block_snapshot_apply(b, name, &err) : block_snapshot_create(b, name, &err);
        if (r < 0)
            set_error(error, "cannot %s snapshot '%s' of disk %s: %s", apply ? "revert to" : "create",
                      name, block_path(b), err ? err : strerror(-r));
        free(err);
    }
    pthread_mutex_unlock(&set_lock);
    return r;
}

void block_set_snapshot_delete(const char *name)
{
    pthread_mutex_lock(&set_lock);
    for (unsigned i = 0; i < ndisks; i++)
        block_snapshot_delete(disks[i], name, NULL);
    pthread_mutex_unlock(&set_lock);
}
