/* Crash-test helper for internal snapshots over the block library.
 *   snap_crash run IMG STATE SEED      writes stamped blocks, flushes, and creates,
 *                                      applies and deletes snapshots, forever; STATE
 *                                      records what each finished step left
 *   snap_crash names STATE             the snapshots that must exist, one a line
 *   snap_crash check RAW STATE NAME    RAW (qemu-img's copy of snapshot NAME, or of
 *                                      the active image for "@active") holds what
 *                                      STATE says it must
 * Blocks are stamped as crash_writer's (index, generation); the base is made by
 * `crash_writer init`. An apply cut short by the kill may leave the active image
 * as before or as the snapshot, but nothing in between.
 * For replaying a failure: SNAP_CRASH_TRACE=1 prints each snapshot operation,
 * SNAP_CRASH_OPS=N stops (without closing, as a kill would) before the Nth. */
#include "block/block.h"
#include "stamp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_SNAPS 4
#define NAME 32

enum { OP_NONE, OP_CREATE, OP_APPLY, OP_DELETE };

struct state_head {
    uint32_t nblocks, pending, counter;
    char pending_name[NAME];
    char names[MAX_SNAPS][NAME];
};

struct state {
    struct state_head h;
    uint32_t *active;                /* flushed generation of each block */
    uint32_t *snap[MAX_SNAPS];       /* each snapshot's generations */
};

static int die(const char *what, int r, const char *err)
{
    fprintf(stderr, "snap_crash: %s: %s\n", what, err ? err : strerror(-r));
    return 1;
}

static void state_alloc(struct state *s, uint32_t n)
{
    s->h.nblocks = n;
    s->active = calloc(n, 4);
    for (int i = 0; i < MAX_SNAPS; i++)
        s->snap[i] = calloc(n, 4);
}

/* Written to a temporary file, synced, then renamed: the file is always one whole state. */
static int state_save(const char *path, const struct state *s)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    size_t n = s->h.nblocks;
    bool ok = f && fwrite(&s->h, sizeof(s->h), 1, f) == 1 && fwrite(s->active, 4, n, f) == n;
    for (int i = 0; ok && i < MAX_SNAPS; i++)
        ok = fwrite(s->snap[i], 4, n, f) == n;
    if (!f || !ok || fflush(f) || fsync(fileno(f)) || fclose(f))
        return -EIO;
    return rename(tmp, path) ? -errno : 0;
}

static int state_load(const char *path, struct state *s)
{
    FILE *f = fopen(path, "r");
    if (!f || fread(&s->h, sizeof(s->h), 1, f) != 1)
        return -ENOENT;
    state_alloc(s, s->h.nblocks);
    size_t n = s->h.nblocks;
    bool ok = fread(s->active, 4, n, f) == n;
    for (int i = 0; ok && i < MAX_SNAPS; i++)
        ok = fread(s->snap[i], 4, n, f) == n;
    fclose(f);
    return ok ? 0 : -EIO;
}

static int begin(const char *path, struct state *s, int op, const char *name)
{
    s->h.pending = (uint32_t)op;
    snprintf(s->h.pending_name, NAME, "%s", name);
    return state_save(path, s);
}

/* Block @i is intact and of generation @want, or newer if @newer (a write
 * after the last flush may have landed). */
static bool block_ok(const uint8_t *buf, uint32_t i, uint32_t want, bool newer)
{
    uint8_t exp[BLK];
    uint32_t idx, g;
    memcpy(&idx, buf, 4);
    memcpy(&g, buf + 4, 4);
    if (idx != i || (newer ? g < want : g != want))
        return false;
    stamp(exp, i, g);
    return !memcmp(buf, exp, BLK);
}

static int run(const char *img, const char *path, unsigned seed)
{
    struct block *b;
    char *err = NULL;
    int r = block_open(img, NULL, &b, &err);
    if (r < 0)
        return die(img, r, err);
    struct state s = { 0 };
    if (state_load(path, &s) < 0) {
        memset(&s, 0, sizeof(s));
        state_alloc(&s, (uint32_t)(block_length(b) / BLK));
    }
    /* Settle what the kill interrupted: the image may be on either side of it. */
    if (s.h.pending == OP_DELETE || s.h.pending == OP_CREATE)
        block_snapshot_delete(b, s.h.pending_name, NULL);    /* a half-made one is dropped */
    for (int i = 0; i < MAX_SNAPS; i++) {
        if (strcmp(s.h.names[i], s.h.pending_name))
            continue;
        if (s.h.pending == OP_DELETE)
            s.h.names[i][0] = 0;
        if (s.h.pending == OP_APPLY) {
            if ((r = block_snapshot_apply(b, s.h.pending_name, &err)) < 0)
                return die("apply again", r, err);
            memcpy(s.active, s.snap[i], (size_t)s.h.nblocks * 4);
        }
    }
    s.h.pending = OP_NONE;
    /* Writes after the last flush may have landed before the kill; the next
     * snapshot will hold them, so what the image holds now is the truth. */
    uint8_t *blk = malloc(BLK);
    for (uint32_t i = 0; i < s.h.nblocks; i++) {
        uint32_t g;
        if ((r = block_pread(b, blk, BLK, (uint64_t)i * BLK)) < 0)
            return die("read", r, NULL);
        memcpy(&g, blk + 4, 4);
        if (g > s.active[i] && block_ok(blk, i, g, false))
            s.active[i] = g;
    }
    free(blk);
    /* What was settled is recorded before anything new is written: a state
     * still saying "apply pending" would not describe the re-applied image
     * once writes follow it (the next kill would then see neither side). */
    if ((r = state_save(path, &s)) < 0)
        return die("state", r, NULL);
    srand(seed);
    uint32_t first_counter = s.h.counter;
    uint8_t *buf = malloc(BLK * 16);
    uint32_t n = s.h.nblocks, *gen = malloc((size_t)n * 4);
    memcpy(gen, s.active, (size_t)n * 4);
    for (;;) {
        for (int w = 0; w < 8; w++) {
            uint32_t i = (uint32_t)rand() % n, k = 1 + (uint32_t)rand() % 16;
            if ((r = stamp_write(b, buf, gen, n, i, k)) < 0)
                return die("write", r, NULL);
        }
        if ((r = block_flush(b)) < 0)
            return die("flush", r, NULL);
        memcpy(s.active, gen, (size_t)n * 4);
        int slot = rand() % MAX_SNAPS;
        char *name = s.h.names[slot];
        int op = !name[0] ? OP_CREATE : rand() % 3 ? OP_APPLY : OP_DELETE;
        char newname[NAME];
        snprintf(newname, NAME, "s%u", ++s.h.counter);
        if (getenv("SNAP_CRASH_OPS") && s.h.counter - first_counter >= (uint32_t)atoi(getenv("SNAP_CRASH_OPS")))
            _exit(0);
        if (getenv("SNAP_CRASH_TRACE"))
            fprintf(stderr, "%s %s\n", op == OP_CREATE ? "create" : op == OP_APPLY ? "apply" : "delete",
                    op == OP_CREATE ? newname : name);
        if ((r = begin(path, &s, op, op == OP_CREATE ? newname : name)) < 0)
            return die("state", r, NULL);
        if (op == OP_CREATE && (r = block_snapshot_create(b, newname, &err)) == 0) {
            snprintf(name, NAME, "%s", newname);
            memcpy(s.snap[slot], gen, (size_t)n * 4);
        } else if (op == OP_APPLY && (r = block_snapshot_apply(b, name, &err)) == 0) {
            memcpy(gen, s.snap[slot], (size_t)n * 4);
            memcpy(s.active, gen, (size_t)n * 4);
        } else if (op == OP_DELETE && (r = block_snapshot_delete(b, name, &err)) == 0) {
            name[0] = 0;
        }
        if (r < 0)
            return die("snapshot", r, err);
        s.h.pending = OP_NONE;
        if ((r = state_save(path, &s)) < 0)
            return die("state", r, NULL);
    }
}

/* RAW's blocks must be what @want says (or, when @alt is given, exactly
 * @alt as a whole). @newer: as in block_ok(). */
static int check_raw(const char *raw, const uint32_t *want, const uint32_t *alt, uint32_t n, bool newer,
                     const char *what)
{
    FILE *f = fopen(raw, "r");
    if (!f)
        return die(raw, -errno, NULL);
    uint8_t buf[BLK];
    unsigned bad = 0, bad_alt = 0;
    uint32_t first = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (fread(buf, 1, BLK, f) != BLK)
            return die(raw, -EIO, "short read");
        if (!block_ok(buf, i, want[i], newer) && bad++ == 0)
            first = i;
        bad_alt += alt && !block_ok(buf, i, alt[i], false);
    }
    fclose(f);
    if (bad && alt && !bad_alt)
        return 0;                    /* the interrupted apply took effect whole */
    if (bad)
        fprintf(stderr, "%s: block %u is not generation %u%s; %u of %u blocks are not what they must be%s\n", what, first,
                want[first], newer ? " or newer" : "", bad, n,
                alt ? " (nor what the interrupted apply would give)" : "");
    return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
    struct state s = { 0 };
    if (argc == 5 && !strcmp(argv[1], "run"))
        return run(argv[2], argv[3], (unsigned)strtoul(argv[4], NULL, 10));
    if (argc == 3 && !strcmp(argv[1], "names")) {
        if (state_load(argv[2], &s) < 0)
            return 0;                /* killed before the first step finished */
        for (int i = 0; i < MAX_SNAPS; i++)
            if (s.h.names[i][0] && !(s.h.pending == OP_DELETE && !strcmp(s.h.pending_name, s.h.names[i])))
                printf("%s\n", s.h.names[i]);
        return 0;
    }
    if (argc == 5 && !strcmp(argv[1], "check")) {
        if (state_load(argv[3], &s) < 0)
            return die(argv[3], -ENOENT, "no state");
        if (!strcmp(argv[4], "@active")) {
            const uint32_t *alt = NULL;
            for (int i = 0; s.h.pending == OP_APPLY && i < MAX_SNAPS; i++)
                if (!strcmp(s.h.names[i], s.h.pending_name))
                    alt = s.snap[i];
            return check_raw(argv[2], s.active, alt, s.h.nblocks, true, "active image");
        }
        for (int i = 0; i < MAX_SNAPS; i++)
            if (!strcmp(s.h.names[i], argv[4]))
                return check_raw(argv[2], s.snap[i], NULL, s.h.nblocks, false, argv[4]);
        return die(argv[4], -ENOENT, "not a recorded snapshot");
    }
    fprintf(stderr, "usage: snap_crash run IMG STATE SEED | names STATE | check RAW STATE NAME\n");
    return 2;
}
