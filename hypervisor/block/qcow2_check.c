/* qcow2 consistency check: every reference is counted from the tables and
 * compared with the stored refcounts. Leaks (refcount too high) are
 * harmless and repairable; a refcount below its references is corruption. */
#include "qcow2.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct refs {
    uint32_t *count;
    uint64_t n;
    uint64_t limit;                  /* clusters: the file's, plus slack */
    struct block_check_result *res;
};

static void problem(struct refs *rf, const char *fmt, unsigned long long v)
{
    rf->res->corruptions++;
    if (!rf->res->first_error[0])
        snprintf(rf->res->first_error, sizeof(rf->res->first_error), fmt, v);
}

static int count(struct refs *rf, uint64_t off, uint64_t len, uint64_t cbits)
{
    if (!len)
        return 0;
    uint64_t first = off >> cbits, last = (off + len - 1) >> cbits;
    if (last >= rf->limit || off + len < off) {
        problem(rf, "metadata at 0x%llx lies past the end of the file", (unsigned long long)off);
        return 0;
    }
    if (last >= rf->n) {
        uint64_t n = last + 1 + 1024;
        if (n > (1ULL << 28))
            return -EFBIG;           /* over 2^28 clusters: too big to count in memory */
        uint32_t *c = realloc(rf->count, n * sizeof(*c));
        if (!c)
            return -ENOMEM;
        memset(c + rf->n, 0, (n - rf->n) * sizeof(*c));
        rf->count = c;
        rf->n = n;
    }
    for (uint64_t i = first; i <= last; i++)
        rf->count[i]++;
    return 0;
}

static int walk_l1(struct qcow2 *s, struct refs *rf, const uint64_t *l1, uint32_t l1_size, bool active,
                   uint64_t flen, uint8_t *buf)
{
    for (uint32_t i = 0; i < l1_size; i++) {
        uint64_t l2off = l1[i] & QCOW2_OFFSET_MASK, rc;
        if (!l2off)
            continue;
        if (qcow2_check_offset(s, l2off, "L2") || l2off >= flen) {
            problem(rf, "L2 table offset 0x%llx is invalid", (unsigned long long)l2off);
            continue;
        }
        int r = count(rf, l2off, s->cluster_size, s->cluster_bits);
        if (!r)
            r = qcow2_get_refcount(s, l2off >> s->cluster_bits, &rc);
        if (!r)
            r = block_file_pread(s->fd, buf, s->cluster_size, l2off);
        if (r < 0)
            return r;
        if (active && (rc == 1) != !!(l1[i] & QCOW2_OFLAG_COPIED))
            problem(rf, "COPIED flag wrong on L2 table 0x%llx", (unsigned long long)l2off);
        for (uint64_t j = 0; j < s->l2_entries; j++) {
            uint64_t e = qcow2_l2_get(buf, j), off, n = s->cluster_size;
            if (e & QCOW2_OFLAG_COMPRESSED) {
                uint64_t nc;
                qcow2_compressed_range(s, e, &off, &nc);
                n = nc * s->cluster_size;
                if (off + n > flen + s->cluster_size) {
                    problem(rf, "compressed cluster 0x%llx past the end of the file", (unsigned long long)off);
                    continue;
                }
            } else {
                off = e & QCOW2_OFFSET_MASK;
                if (!off)
                    continue;
                if (qcow2_check_offset(s, off, "data") || (e & QCOW2_L2E_RESERVED) || off >= flen) {
                    problem(rf, "data cluster offset 0x%llx is invalid", (unsigned long long)off);
                    continue;
                }
                if (active && (r = qcow2_get_refcount(s, off >> s->cluster_bits, &rc)) < 0)
                    return r;
                if (active && (rc == 1) != !!(e & QCOW2_OFLAG_COPIED))
                    problem(rf, "COPIED flag wrong on data cluster 0x%llx", (unsigned long long)off);
            }
            if ((r = count(rf, off, n, s->cluster_bits)) < 0)
                return r;
        }
    }
    return 0;
}

static int count_all(struct qcow2 *s, struct refs *rf, uint64_t flen)
{
    uint8_t *buf = malloc(s->cluster_size);
    if (!buf)
        return -ENOMEM;
    int r = count(rf, 0, s->cluster_size, s->cluster_bits);
    if (!r)
        r = count(rf, s->l1_offset, (uint64_t)s->l1_size * 8, s->cluster_bits);
    if (!r)
        r = walk_l1(s, rf, s->l1, s->l1_size, true, flen, buf);
    if (!r)
        r = count(rf, s->snapshots_offset, s->snapshots_size, s->cluster_bits);
    for (uint32_t i = 0; !r && i < s->nb_snapshots; i++) {
        const struct qcow2_snapshot *sn = &s->snaps[i];
        uint64_t *l1 = calloc(sn->l1_size ? sn->l1_size : 1, 8);
        r = l1 ? block_file_pread(s->fd, l1, (size_t)sn->l1_size * 8, sn->l1_offset) : -ENOMEM;
        for (uint32_t j = 0; !r && j < sn->l1_size; j++)
            l1[j] = be64toh(l1[j]);
        if (!r)
            r = count(rf, sn->l1_offset, (uint64_t)sn->l1_size * 8, s->cluster_bits);
        if (!r)
            r = walk_l1(s, rf, l1, sn->l1_size, false, flen, buf);
        free(l1);
    }
    if (!r)
        r = count(rf, s->reftable_offset, (uint64_t)s->reftable_clusters * s->cluster_size, s->cluster_bits);
    for (uint64_t i = 0; !r && i < s->reftable_size; i++) {
        uint64_t off = s->reftable[i] & QCOW2_REFT_OFFSET_MASK;
        if (off && off >= flen)
            problem(rf, "refcount block 0x%llx past the end of the file", (unsigned long long)off);
        else if (off)
            r = count(rf, off, s->cluster_size, s->cluster_bits);
    }
    free(buf);
    return r;
}

static int check_locked(struct qcow2 *s, bool repair, struct block_check_result *res)
{
    int r = qcow2_flush_metadata(s);
    if (!r && !s->b->readonly)
        r = qcow2_flush_metadata(s);
    if (r < 0)
        return r;
    off_t flen = lseek(s->fd, 0, SEEK_END);
    struct refs rf = { .res = res, .limit = qcow2_size_to_clusters(s, (uint64_t)flen) + 1024 };
    if ((r = count_all(s, &rf, flen < 0 ? 0 : (uint64_t)flen)) < 0) {
        free(rf.count);
        return r;
    }
    uint64_t covered = s->reftable_size * s->refblock_entries, n = rf.n;
    uint64_t fclusters = qcow2_size_to_clusters(s, (uint64_t)flen);
    if (n < fclusters)
        n = fclusters;
    for (uint64_t c = 0; c < n && !r; c++) {
        uint64_t want = c < rf.n ? rf.count[c] : 0, rc = 0;
        if (c < covered && (r = qcow2_get_refcount(s, c, &rc)) < 0)
            break;
        if (want)
            res->allocated_clusters++;
        if (rc == want)
            continue;
        if (rc > want)
            res->leaks++;
        else
            problem(&rf, "cluster %llu has a refcount below its references", (unsigned long long)c);
        if (!repair)
            continue;
        uint64_t ti = c / s->refblock_entries;
        bool can = ti < s->reftable_size && (s->reftable[ti] & QCOW2_REFT_OFFSET_MASK);
        if (can && qcow2_update_refcount(s, c << s->cluster_bits, 1, (int64_t)want - (int64_t)rc) == 0) {
            if (rc > want)
                res->leaks_fixed++;
            else
                res->corruptions_fixed++;
        }
    }
    free(rf.count);
    res->total_clusters = qcow2_size_to_clusters(s, s->b->length);
    if (!r && repair) {
        /* Stale COPIED flags are rewritten, then everything is counted again. */
        struct block_check_result again = { 0 };
        if (!(r = qcow2_fix_copied_flags(s)) && !(r = qcow2_flush_metadata(s)) && !(r = qcow2_flush_metadata(s))) {
            struct refs rf2 = { .res = &again, .limit = rf.limit };
            r = count_all(s, &rf2, (uint64_t)flen);
            free(rf2.count);
            res->corruptions_fixed = res->corruptions > again.corruptions ? res->corruptions - again.corruptions : 0;
        }
    }
    return r;
}

int block_check(struct block *b, bool repair, struct block_check_result *res, char **error)
{
    memset(res, 0, sizeof(*res));
    if (error)
        *error = NULL;
    if (b->drv != &block_qcow2_driver)
        return 0;                    /* raw images have no metadata */
    if (repair && b->readonly)
        return block_err(error, -EROFS, "%s: open it writable to repair", b->path);
    struct qcow2 *s = qcow2_state(b);
    pthread_mutex_lock(&s->lock);
    int r = check_locked(s, repair, res);
    pthread_mutex_unlock(&s->lock);
    if (r < 0)
        block_err(error, r, "%s: check failed: %s", b->path, strerror(-r));
    return r;
}
