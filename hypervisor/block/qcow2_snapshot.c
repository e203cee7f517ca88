/* qcow2 internal snapshots. Each step keeps the image consistent on disk:
 * refcounts go up (and are durable) before anything new refers to the
 * clusters, and come down only after the references are gone. */
#include "qcow2.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SN_HEADER 40
#define SN_MAX_EXTRA 1024
#define SN_MAX_TABLE (64u << 20)

void qcow2_free_snapshots(struct qcow2 *s)
{
    for (uint32_t i = 0; s->snaps && i < s->nb_snapshots; i++) {
        free(s->snaps[i].id);
        free(s->snaps[i].name);
        free(s->snaps[i].extra);
    }
    free(s->snaps);
    s->snaps = NULL;
}

int qcow2_read_snapshots(struct qcow2 *s, char **error)
{
    if (!s->nb_snapshots)
        return 0;
    s->snaps = calloc(s->nb_snapshots, sizeof(*s->snaps));
    if (!s->snaps)
        return -ENOMEM;
    /* Every table lies inside the file, and the snapshots' L1 tables
     * together are no bigger than it: QEMU writes each one, so a header
     * claiming more is hostile (and would make a check walk forever). */
    uint64_t off = s->snapshots_offset, flen = s->file_end, l1_total = 0;
    for (uint32_t i = 0; i < s->nb_snapshots; i++) {
        uint8_t h[SN_HEADER];
        struct qcow2_snapshot *sn = &s->snaps[i];
        if (off + SN_HEADER > flen)
            return block_err(error, -EINVAL, "snapshot table runs past the end of the file");
        int r = block_file_pread(s->fd, h, sizeof(h), off);
        if (r < 0)
            return r;
        sn->l1_offset = be64toh(*(uint64_t *)h);
        sn->l1_size = be32toh(*(uint32_t *)(h + 8));
        uint16_t idlen = be16toh(*(uint16_t *)(h + 12)), namelen = be16toh(*(uint16_t *)(h + 14));
        sn->date_sec = be32toh(*(uint32_t *)(h + 16));
        sn->date_nsec = be32toh(*(uint32_t *)(h + 20));
        sn->vm_clock_nsec = be64toh(*(uint64_t *)(h + 24));
        sn->vm_state_size = be32toh(*(uint32_t *)(h + 32));
        sn->extra_size = be32toh(*(uint32_t *)(h + 36));
        if (sn->extra_size > SN_MAX_EXTRA || qcow2_check_offset(s, sn->l1_offset, "snapshot L1") ||
            (uint64_t)sn->l1_size * 8 > QCOW2_MAX_L1_BYTES)
            return block_err(error, -EINVAL, "invalid snapshot table entry %u", i);
        l1_total += (uint64_t)sn->l1_size * 8;
        if (sn->l1_offset + (uint64_t)sn->l1_size * 8 > flen + s->cluster_size)
            return block_err(error, -EINVAL, "snapshot %u's L1 table lies past the end of the file", i);
        if (l1_total > flen)
            return block_err(error, -EINVAL, "the snapshots' L1 tables add up to more than the file holds");
        off += SN_HEADER;
        sn->extra = malloc(sn->extra_size + 1);
        sn->id = calloc(1, idlen + 1u);
        sn->name = calloc(1, namelen + 1u);
        if (!sn->extra || !sn->id || !sn->name)
            return -ENOMEM;
        if ((r = block_file_pread(s->fd, sn->extra, sn->extra_size, off)) < 0 ||
            (r = block_file_pread(s->fd, sn->id, idlen, off + sn->extra_size)) < 0 ||
            (r = block_file_pread(s->fd, sn->name, namelen, off + sn->extra_size + idlen)) < 0)
            return r;
        if (sn->extra_size >= 8)
            sn->vm_state_size = be64toh(*(uint64_t *)sn->extra);
        sn->disk_size = s->b->length;
        if (sn->extra_size >= 16)
            sn->disk_size = be64toh(*(uint64_t *)(sn->extra + 8));
        off += sn->extra_size + idlen + namelen;
        off = (off + 7) & ~7ULL;
        if (off - s->snapshots_offset > SN_MAX_TABLE)
            return block_err(error, -EINVAL, "snapshot table is absurdly large");
    }
    if (off > flen + 8)
        return block_err(error, -EINVAL, "snapshot table runs past the end of the file");
    s->snapshots_size = off - s->snapshots_offset;
    return 0;
}

/* Serializes the table; @skip (or -1) is left out, @add (or NULL) appended. */
static uint8_t *build_table(struct qcow2 *s, long skip, const struct qcow2_snapshot *add, size_t *len)
{
    size_t cap = 0;
    for (uint32_t i = 0; i <= s->nb_snapshots; i++) {
        const struct qcow2_snapshot *sn = i < s->nb_snapshots ? &s->snaps[i] : add;
        if (sn && (long)i != skip)
            cap += SN_HEADER + 24 + sn->extra_size + strlen(sn->id) + strlen(sn->name) + 8;
    }
    uint8_t *buf = calloc(1, cap ? cap : 1), *p = buf;
    if (!buf)
        return NULL;
    for (uint32_t i = 0; i <= s->nb_snapshots; i++) {
        const struct qcow2_snapshot *sn = i < s->nb_snapshots ? &s->snaps[i] : add;
        if (!sn || (long)i == skip)
            continue;
        uint32_t extra = sn->extra_size < 24 ? 24 : sn->extra_size;
        size_t idlen = strlen(sn->id), namelen = strlen(sn->name);
        *(uint64_t *)p = htobe64(sn->l1_offset);
        *(uint32_t *)(p + 8) = htobe32(sn->l1_size);
        *(uint16_t *)(p + 12) = htobe16((uint16_t)idlen);
        *(uint16_t *)(p + 14) = htobe16((uint16_t)namelen);
        *(uint32_t *)(p + 16) = htobe32(sn->date_sec);
        *(uint32_t *)(p + 20) = htobe32(sn->date_nsec);
        *(uint64_t *)(p + 24) = htobe64(sn->vm_clock_nsec);
        *(uint32_t *)(p + 32) = htobe32(sn->vm_state_size > UINT32_MAX ? 0 : (uint32_t)sn->vm_state_size);
        *(uint32_t *)(p + 36) = htobe32(extra);
        p += SN_HEADER;
        if (sn->extra_size)
            memcpy(p, sn->extra, sn->extra_size);
        if (sn->extra_size < 24)
            *(uint64_t *)(p + 16) = UINT64_MAX;               /* icount: none */
        *(uint64_t *)p = htobe64(sn->vm_state_size);
        *(uint64_t *)(p + 8) = htobe64(sn->disk_size);
        p += extra;
        memcpy(p, sn->id, idlen);
        memcpy(p + idlen, sn->name, namelen);
        p += idlen + namelen;
        p = buf + (((size_t)(p - buf) + 7) & ~(size_t)7);
    }
    *len = (size_t)(p - buf);
    return buf;
}

/* Writes a new table, switches the header to it, frees the old one. */
static int replace_table(struct qcow2 *s, long skip, const struct qcow2_snapshot *add)
{
    size_t len;
    uint8_t *buf = build_table(s, skip, add, &len);
    if (!buf)
        return -ENOMEM;
    int64_t off = 0;
    int r = 0;
    if (len) {
        off = qcow2_alloc_clusters(s, qcow2_size_to_clusters(s, len));
        r = off < 0 ? (int)off : block_file_pwrite(s->fd, buf, len, (uint64_t)off);
        if (!r)
            r = qcow2_flush_metadata(s);     /* refcounts and table durable */
    }
    free(buf);
    if (r < 0)
        return r;
    uint32_t nb = s->nb_snapshots + (add ? 1 : 0) - (skip >= 0 ? 1 : 0);
    uint8_t hdr[12];
    *(uint32_t *)hdr = htobe32(nb);
    *(uint64_t *)(hdr + 4) = htobe64((uint64_t)off);
    if ((r = qcow2_write_header_field(s, QH_NB_SNAPSHOTS, hdr, sizeof(hdr))) < 0)
        return r;
    if (s->snapshots_size)
        r = qcow2_update_refcount(s, s->snapshots_offset, qcow2_size_to_clusters(s, s->snapshots_size), -1);
    s->snapshots_offset = (uint64_t)off;
    s->snapshots_size = len;
    return r;
}

int qcow2_tree_refcount(struct qcow2 *s, const uint64_t *l1, uint32_t l1_size, int delta)
{
    for (uint32_t i = 0; i < l1_size; i++) {
        uint64_t l2off = l1[i] & QCOW2_OFFSET_MASK;
        if (!l2off)
            continue;
        uint8_t *t;
        int r = qcow2_l2_load(s, l2off, &t);
        if (r < 0)
            return r;
        for (uint64_t j = 0; j < s->l2_entries && !r; j++) {
            uint64_t e = qcow2_l2_get(t, j), off, n = 1;
            if (e & QCOW2_OFLAG_COMPRESSED)
                qcow2_compressed_range(s, e, &off, &n);
            else
                off = e & QCOW2_OFFSET_MASK;
            if (off)
                r = qcow2_update_refcount(s, off, n, delta);
        }
        if (!r)
            r = qcow2_update_refcount(s, l2off, 1, delta);
        uint64_t rc;
        if (!r && !qcow2_get_refcount(s, l2off >> s->cluster_bits, &rc) && rc == 0)
            qcow2_cache_drop(&s->l2_cache, l2off);
        if (r < 0)
            return r;
    }
    return 0;
}

/* COPIED must be set exactly on the active tree's clusters with refcount 1
 * (@clear: cleared everywhere). Flags in a table shared with a snapshot are
 * only read through the active tree, so they are rewritten in place too. */
static int set_copied_flags(struct qcow2 *s, bool clear)
{
    for (uint32_t i = 0; i < s->l1_size; i++) {
        uint64_t l2off = s->l1[i] & QCOW2_OFFSET_MASK, rc;
        if (!l2off)
            continue;
        int r = qcow2_get_refcount(s, l2off >> s->cluster_bits, &rc);
        if (r < 0)
            return r;
        uint64_t want = l2off | (rc == 1 && !clear ? QCOW2_OFLAG_COPIED : 0);
        if (s->l1[i] != want)
            qcow2_l1_set(s, i, want);
        uint8_t *t;
        if ((r = qcow2_l2_load(s, l2off, &t)) < 0)
            return r;
        for (uint64_t j = 0; j < s->l2_entries; j++) {
            uint64_t e = qcow2_l2_get(t, j), off = e & QCOW2_OFFSET_MASK;
            if ((e & QCOW2_OFLAG_COMPRESSED) || !off)
                continue;
            if ((r = qcow2_get_refcount(s, off >> s->cluster_bits, &rc)) < 0)
                return r;
            uint64_t w = (e & ~QCOW2_OFLAG_COPIED) | (rc == 1 && !clear ? QCOW2_OFLAG_COPIED : 0);
            if (w != e) {
                qcow2_l2_set(t, j, w);
                qcow2_cache_mark_dirty(&s->l2_cache, l2off);
            }
        }
    }
    return 0;
}

int qcow2_fix_copied_flags(struct qcow2 *s)
{
    return set_copied_flags(s, false);
}

static int flush_all(struct qcow2 *s)
{
    int r = qcow2_flush_metadata(s);
    return r ? r : qcow2_flush_metadata(s);
}

static long find_snapshot(struct qcow2 *s, const char *name)
{
    for (uint32_t i = 0; i < s->nb_snapshots; i++)
        if (!strcmp(s->snaps[i].name, name))
            return i;
    for (uint32_t i = 0; i < s->nb_snapshots; i++)
        if (!strcmp(s->snaps[i].id, name))
            return i;
    return -1;
}

/* A snapshot's L1 table, checked as strictly as the active one is on open:
 * applying a table whose L2 tables lie past the end of the file would turn
 * the guest's disk into zeroes instead of refusing a corrupt image. */
static int read_l1(struct qcow2 *s, uint64_t off, uint32_t n, uint64_t **out)
{
    off_t end = lseek(s->fd, 0, SEEK_END);
    if (end < 0)
        return -errno;
    uint64_t flen = (uint64_t)end;
    if (off + (uint64_t)n * 8 > flen)
        return -EUCLEAN;
    uint64_t *l1 = calloc(n ? n : 1, 8);
    if (!l1)
        return -ENOMEM;
    int r = block_file_pread(s->fd, l1, (size_t)n * 8, off);
    for (uint32_t i = 0; i < n; i++) {
        l1[i] = be64toh(l1[i]) & QCOW2_OFFSET_MASK;
        if (qcow2_check_offset(s, l1[i], "L2") || l1[i] >= flen)
            r = -EUCLEAN;
    }
    if (r < 0) {
        free(l1);
        return r;
    }
    *out = l1;
    return 0;
}

static struct qcow2 *snapshot_image(struct block *b, char **error)
{
    if (b->drv != &block_qcow2_driver) {
        block_err(error, -ENOTSUP, "%s: only qcow2 images have internal snapshots", b->path);
        return NULL;
    }
    return qcow2_state(b);
}

int block_snapshot_list(struct block *b, struct block_snapshot **list, unsigned *n)
{
    struct qcow2 *s = snapshot_image(b, NULL);
    *list = NULL;
    *n = 0;
    if (!s)
        return 0;
    pthread_mutex_lock(&s->lock);
    *list = calloc(s->nb_snapshots ? s->nb_snapshots : 1, sizeof(**list));
    for (uint32_t i = 0; *list && i < s->nb_snapshots; i++) {
        struct block_snapshot *o = &(*list)[i];
        const struct qcow2_snapshot *sn = &s->snaps[i];
        snprintf(o->id, sizeof(o->id), "%s", sn->id);
        snprintf(o->name, sizeof(o->name), "%s", sn->name);
        o->vm_state_size = sn->vm_state_size;
        o->date_sec = sn->date_sec;
        o->date_nsec = sn->date_nsec;
        o->vm_clock_nsec = sn->vm_clock_nsec;
        o->disk_size = sn->disk_size;
    }
    *n = *list ? s->nb_snapshots : 0;
    pthread_mutex_unlock(&s->lock);
    return *list ? 0 : -ENOMEM;
}

static int do_create(struct qcow2 *s, const char *name)
{
    int r = flush_all(s);
    if (r < 0)
        return r;
    struct qcow2_snapshot sn = { .l1_size = s->l1_size, .disk_size = s->b->length };
    unsigned long maxid = 0;
    for (uint32_t i = 0; i < s->nb_snapshots; i++) {
        unsigned long v = strtoul(s->snaps[i].id, NULL, 10);
        if (v > maxid)
            maxid = v;
    }
    char id[32];
    snprintf(id, sizeof(id), "%lu", maxid + 1);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    sn.date_sec = (uint32_t)now.tv_sec;
    sn.date_nsec = (uint32_t)now.tv_nsec;
    /* The copy of L1 first (nothing refers to it yet), then the counts. */
    uint64_t bytes = (uint64_t)s->l1_size * 8;
    if (bytes) {
        int64_t off = qcow2_alloc_clusters(s, qcow2_size_to_clusters(s, bytes));
        if (off < 0)
            return (int)off;
        sn.l1_offset = (uint64_t)off;
        uint64_t *copy = malloc(bytes);
        if (!copy)
            return -ENOMEM;
        for (uint32_t i = 0; i < s->l1_size; i++)
            copy[i] = htobe64(s->l1[i] & QCOW2_OFFSET_MASK);
        r = block_file_pwrite(s->fd, copy, bytes, sn.l1_offset);
        free(copy);
        if (r < 0)
            return r;
    }
    /* Refcounts and COPIED flags live in different clusters and cannot
     * change together. Flags first: a kill in between leaves COPIED clear
     * on clusters of refcount 1 (writes then copy needlessly, harmless),
     * never set on a shared one (a write in place would change the snapshot). */
    if ((r = set_copied_flags(s, true)) < 0 || (r = flush_all(s)) < 0 ||
        (r = qcow2_tree_refcount(s, s->l1, s->l1_size, 1)) < 0 || (r = flush_all(s)) < 0 ||
        (r = qcow2_fix_copied_flags(s)) < 0 || (r = flush_all(s)) < 0)
        return r;
    sn.id = id;
    sn.name = (char *)name;
    if ((r = replace_table(s, -1, &sn)) < 0)
        return r;
    struct qcow2_snapshot *n = realloc(s->snaps, (s->nb_snapshots + 1) * sizeof(*n));
    if (!n)
        return -ENOMEM;
    s->snaps = n;
    sn.id = strdup(id);
    sn.name = strdup(name);
    sn.extra = NULL;
    sn.extra_size = 0;
    s->snaps[s->nb_snapshots++] = sn;
    return flush_all(s);
}

static int do_apply(struct qcow2 *s, const struct qcow2_snapshot *sn)
{
    uint64_t *snl1, *old = NULL;
    int r = flush_all(s);
    if (r < 0 || (r = read_l1(s, sn->l1_offset, sn->l1_size, &snl1)) < 0)
        return r;
    uint32_t n = sn->l1_size < s->l1_size ? sn->l1_size : s->l1_size;
    if ((r = qcow2_tree_refcount(s, snl1, n, 1)) < 0 || (r = flush_all(s)) < 0)
        goto out;
    old = malloc((size_t)s->l1_size * 8 + 8);
    if (!old) {
        r = -ENOMEM;
        goto out;
    }
    memcpy(old, s->l1, (size_t)s->l1_size * 8);
    for (uint32_t i = 0; i < s->l1_size; i++)
        s->l1[i] = i < n ? snl1[i] : 0;
    s->l1_dirty_lo = 0;
    s->l1_dirty_hi = s->l1_size;
    if ((r = flush_all(s)) < 0 || (r = qcow2_tree_refcount(s, old, s->l1_size, -1)) < 0 ||
        (r = flush_all(s)) < 0 || (r = qcow2_fix_copied_flags(s)) < 0)
        goto out;
    r = flush_all(s);
out:
    free(snl1);
    free(old);
    return r;
}

static int do_delete(struct qcow2 *s, long i)
{
    struct qcow2_snapshot sn = s->snaps[i];
    uint64_t *l1;
    int r = flush_all(s);
    if (r < 0 || (r = read_l1(s, sn.l1_offset, sn.l1_size, &l1)) < 0)
        return r;
    if ((r = replace_table(s, i, NULL)) < 0) {
        free(l1);
        return r;
    }
    memmove(&s->snaps[i], &s->snaps[i + 1], (s->nb_snapshots - (uint32_t)i - 1) * sizeof(sn));
    s->nb_snapshots--;
    /* From here on its clusters only leak if we stop. */
    r = qcow2_tree_refcount(s, l1, sn.l1_size, -1);
    free(l1);
    if (!r && sn.l1_size)
        r = qcow2_update_refcount(s, sn.l1_offset, qcow2_size_to_clusters(s, (uint64_t)sn.l1_size * 8), -1);
    free(sn.id);
    free(sn.name);
    free(sn.extra);
    if (!r && !(r = flush_all(s)) && !(r = qcow2_fix_copied_flags(s)))
        r = flush_all(s);
    return r;
}

enum snap_op { SNAP_CREATE, SNAP_APPLY, SNAP_DELETE };

/* The public snapshot operations: checks, the image lock, one message. */
static int snapshot_op(struct block *b, const char *name, char **error, enum snap_op op)
{
    static const char *const verbs[] = { "create", "apply", "delete" };
    struct qcow2 *s = snapshot_image(b, error);
    if (!s)
        return -ENOTSUP;
    if (b->readonly)
        return block_err(error, -EROFS, "%s: image is open read-only", b->path);
    if (!*name || strlen(name) > 255)
        return block_err(error, -EINVAL, "snapshot name must be 1 to 255 characters");
    pthread_mutex_lock(&s->lock);
    long i = find_snapshot(s, name);
    int r;
    const char *why = NULL;
    if (op == SNAP_CREATE) {
        r = i >= 0 ? -EEXIST : do_create(s, name);
        why = r == -EEXIST ? "a snapshot of that name exists" : NULL;
    } else if (i < 0) {
        r = -ENOENT;
        why = "no such snapshot";
    } else if (op == SNAP_APPLY && s->snaps[i].disk_size != b->length &&
               (r = qcow2_resize_locked(b, s->snaps[i].disk_size)) < 0) {
        why = "cannot take back its disk size";   /* the disk is resized first, as QEMU does */
    } else {
        r = op == SNAP_APPLY ? do_apply(s, &s->snaps[i]) : do_delete(s, i);
        if (r == -EUCLEAN)
            why = "its L1 table is corrupt (misaligned or past the end of the file; see domus-img check)";
    }
    pthread_mutex_unlock(&s->lock);
    if (r < 0)
        block_err(error, r, "%s: cannot %s snapshot '%s': %s", b->path, verbs[op], name, why ? why : strerror(-r));
    return r;
}

int block_snapshot_create(struct block *b, const char *name, char **error)
{
    return snapshot_op(b, name, error, SNAP_CREATE);
}

int block_snapshot_apply(struct block *b, const char *name, char **error)
{
    return snapshot_op(b, name, error, SNAP_APPLY);
}

int block_snapshot_delete(struct block *b, const char *name, char **error)
{
    return snapshot_op(b, name, error, SNAP_DELETE);
}
