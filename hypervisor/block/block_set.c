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

static struct block *set[BLOCK_SET_MAX];
static unsigned ndisks;
static pthread_mutex_t set_lock = PTHREAD_MUTEX_INITIALIZER;

int block_set_add(struct block *b)
{
    pthread_mutex_lock(&set_lock);
    int r = ndisks < BLOCK_SET_MAX ? 0 : -ENOSPC;
    if (r == 0)
        set[ndisks++] = b;
    pthread_mutex_unlock(&set_lock);
    return r;
}

void block_set_remove(struct block *b)
{
    pthread_mutex_lock(&set_lock);
    for (unsigned i = 0; i < ndisks; i++) {
        if (set[i] == b) {
            memmove(&set[i], &set[i + 1], (ndisks - i - 1) * sizeof(set[0]));
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
static int check_all(struct block *const *disks, unsigned n, const char *name, bool apply, char **error)
{
    for (unsigned i = 0; i < n; i++) {
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

/* Where a revert keeps each disk's present state until every disk has
 * gone back: a name no user snapshot has (those never start with '.'). */
#define UNDO_SNAPSHOT ".domus-revert-undo"

static int each_disk(struct block *const *disks, unsigned n, const char *name, bool apply, const char *what,
                     unsigned *done, char **error)
{
    for (*done = 0; *done < n; (*done)++) {
        struct block *b = disks[*done];
        char *err = NULL;
        int r = apply ? block_snapshot_apply(b, name, &err) : block_snapshot_create(b, name, &err);
        if (r < 0) {
            set_error(error, "cannot %s snapshot '%s' of disk %s: %s", what, name, block_path(b),
                      err ? err : strerror(-r));
            free(err);
            return r;
        }
    }
    return 0;
}

static void delete_all(struct block *const *disks, unsigned n, const char *name)
{
    for (unsigned i = 0; i < n; i++)
        block_snapshot_delete(disks[i], name, NULL);
}

int block_snapshot_all(struct block *const *disks, unsigned n, const char *name, bool apply, char **error)
{
    unsigned done;
    int r = check_all(disks, n, name, apply, error);
    if (r < 0)
        return r;
    if (!apply) {
        r = each_disk(disks, n, name, false, "create", &done, error);
        if (r < 0)
            delete_all(disks, done, name);
        return r;
    }
    delete_all(disks, n, UNDO_SNAPSHOT);          /* left by a revert that crashed */
    r = each_disk(disks, n, UNDO_SNAPSHOT, false, "keep the present state before reverting to", &done, error);
    if (r == 0) {
        r = each_disk(disks, n, name, true, "revert to", &done, error);
        if (r < 0) {
            /* Back to where they were, the failed one too (it may be half-way). */
            unsigned back = done < n ? done + 1 : n;
            for (unsigned i = 0; i < back; i++)
                block_snapshot_apply(disks[i], UNDO_SNAPSHOT, NULL);
        }
    }
    delete_all(disks, n, UNDO_SNAPSHOT);
    return r;
}

int block_set_snapshot(const char *name, bool apply, char **error)
{
    pthread_mutex_lock(&set_lock);
    int r = block_snapshot_all(set, ndisks, name, apply, error);
    pthread_mutex_unlock(&set_lock);
    return r;
}

void block_set_snapshot_delete(const char *name)
{
    pthread_mutex_lock(&set_lock);
    delete_all(set, ndisks, name);
    pthread_mutex_unlock(&set_lock);
}
