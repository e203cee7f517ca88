/* qcow2 consistency check and repair: every reference is counted from the
 * tables and compared with the stored refcounts. Leaks (refcount too high)
 * are harmless; a refcount below its references is corruption.
 *
 * The work is bounded for hostile images: each L2 table is read once
 * however many L1 entries name it (its references are counted with a
 * multiplicity), nothing past the end of the file is counted, and stored
 * refcounts are only read where a refcount block exists. */
#include "qcow2.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_COUNTED_CLUSTERS (1ULL << 28)

struct refs {
    uint32_t *count;                 /* references per host cluster */
    uint64_t n;                      /* entries in count */
    uint64_t hi;                     /* highest referenced cluster + 1 */
    uint64_t limit;                  /* clusters of the file, plus one (qemu-img's slack) */
    uint64_t *l2;                    /* L2 tables named by L1 entries; bit 0: by the active L1 */
    size_t nl2, l2cap;
    struct block_check_result *res;
};

static void problem(struct refs *rf, const char *fmt, unsigned long long v)
{
    rf->res->corruptions++;
    if (!rf->res->first_error[0])
        snprintf(rf->res->first_error, sizeof(rf->res->first_error), fmt, v);
}

static int count(struct refs *rf, uint64_t off, uint64_t len, uint64_t cbits, uint32_t times)
{
    if (!len)
        return 0;
    uint64_t first = off >> cbits, last = (off + len - 1) >> cbits;
    if (last >= rf->limit || off + len < off) {
        problem(rf, "metadata or data at 0x%llx lies past the end of the file", (unsigned long long)off);
        return 0;
    }
    if (last >= rf->n) {
        uint64_t n = last + 1 + 1024;
        if (n > MAX_COUNTED_CLUSTERS)
            return -EFBIG;           /* too big to count in memory */
        uint32_t *c = realloc(rf->count, n * sizeof(*c));
        if (!c)
            return -ENOMEM;
        memset(c + rf->n, 0, (n - rf->n) * sizeof(*c));
        rf->count = c;
        rf->n = n;
    }
    if (last + 1 > rf->hi)
        rf->hi = last + 1;
    for (uint64_t i = first; i <= last; i++)
        rf->count[i] = rf->count[i] > UINT32_MAX - times ? UINT32_MAX : rf->count[i] + times;
    return 0;
}

/* Counts an L1 table's references to its L2 tables and remembers them for
 * walk_l2_tables(). */
static int scan_l1(struct qcow2 *s, struct refs *rf, const uint64_t *l1, uint32_t l1_size, bool active,
                   uint64_t flen)
{
    for (uint32_t i = 0; i < l1_size; i++) {
        uint64_t l2off = l1[i] & QCOW2_OFFSET_MASK, rc;
        if (!l2off)
            continue;
        if (qcow2_check_offset(s, l2off, "L2") || l2off >= flen) {
            problem(rf, "L2 table offset 0x%llx is invalid", (unsigned long long)l2off);
            continue;
        }
        int r = count(rf, l2off, s->cluster_size, s->cluster_bits, 1);
        if (!r && active)
            r = qcow2_get_refcount(s, l2off >> s->cluster_bits, &rc);
        if (r < 0)
            return r;
        if (active && (rc == 1) != !!(l1[i] & QCOW2_OFLAG_COPIED))
            problem(rf, "COPIED flag wrong on L2 table 0x%llx", (unsigned long long)l2off);
        if (block_reserve(&rf->l2, &rf->l2cap, rf->nl2 + 1, sizeof(*rf->l2)) < 0)
            return -ENOMEM;
        rf->l2[rf->nl2++] = l2off | active;
    }
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Each L2 table once: its entries count as many times as L1 entries name it. */
static int walk_l2_tables(struct qcow2 *s, struct refs *rf, uint64_t flen, uint8_t *buf)
{
    qsort(rf->l2, rf->nl2, sizeof(*rf->l2), cmp_u64);
    for (size_t i = 0; i < rf->nl2;) {
        uint64_t l2off = rf->l2[i] & ~1ULL;
        uint32_t times = 0;
        bool active = false;
        for (; i < rf->nl2 && (rf->l2[i] & ~1ULL) == l2off; i++, times++)
            active |= rf->l2[i] & 1;
        int r = block_file_pread(s->fd, buf, s->cluster_size, l2off);
        if (r < 0)
            return r;
        for (uint64_t j = 0; j < s->l2_entries; j++) {
            uint64_t e = qcow2_l2_get(buf, j), off, n = s->cluster_size, rc;
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
            if (active)
                rf->res->allocated_clusters++;   /* guest clusters with data, as qemu-img counts them */
            if ((r = count(rf, off, n, s->cluster_bits, times)) < 0)
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
    int r = count(rf, 0, s->cluster_size, s->cluster_bits, 1);
    if (!r)
        r = count(rf, s->l1_offset, (uint64_t)s->l1_size * 8, s->cluster_bits, 1);
    if (!r)
        r = scan_l1(s, rf, s->l1, s->l1_size, true, flen);
    if (!r)
        r = count(rf, s->snapshots_offset, s->snapshots_size, s->cluster_bits, 1);
    for (uint32_t i = 0; !r && i < s->nb_snapshots; i++) {
        const struct qcow2_snapshot *sn = &s->snaps[i];
        uint64_t *l1 = calloc(sn->l1_size ? sn->l1_size : 1, 8);
        r = l1 ? block_file_pread(s->fd, l1, (size_t)sn->l1_size * 8, sn->l1_offset) : -ENOMEM;
        for (uint32_t j = 0; !r && j < sn->l1_size; j++)
            l1[j] = be64toh(l1[j]);
        if (!r)
            r = count(rf, sn->l1_offset, (uint64_t)sn->l1_size * 8, s->cluster_bits, 1);
        if (!r)
            r = scan_l1(s, rf, l1, sn->l1_size, false, flen);
        free(l1);
    }
    if (!r)
        r = walk_l2_tables(s, rf, flen, buf);
    if (!r)
        r = count(rf, s->reftable_offset, (uint64_t)s->reftable_clusters * s->cluster_size, s->cluster_bits, 1);
    for (uint64_t i = 0; !r && i < s->reftable_size; i++) {
        uint64_t off = s->reftable[i] & QCOW2_REFT_OFFSET_MASK;
        if (off && off >= flen)
            problem(rf, "refcount block 0x%llx past the end of the file", (unsigned long long)off);
        else if (off)
            r = count(rf, off, s->cluster_size, s->cluster_bits, 1);
    }
    free(buf);
    return r;
}

/* One cluster's stored refcount @rc against its references @want. */
static int compare_one(struct qcow2 *s, struct refs *rf, unsigned fix, uint64_t c, uint64_t rc, uint64_t want)
{
    struct block_check_result *res = rf->res;
    if (rc == want)
        return 0;
    bool leak = rc > want;
    if (leak)
        res->leaks++;
    else
        problem(rf, "cluster %llu has a refcount below its references", (unsigned long long)c);
    if (!(fix & (leak ? BLOCK_FIX_LEAKS : BLOCK_FIX_ERRORS)))
        return 0;
    uint64_t ti = c / s->refblock_entries;
    if (ti >= s->reftable_size || !(s->reftable[ti] & QCOW2_REFT_OFFSET_MASK))
        return 0;                    /* no refcount block to hold it: left as it is */
    int r = qcow2_update_refcount(s, c << s->cluster_bits, 1, (int64_t)want - (int64_t)rc);
    if (r == 0 && leak)
        res->leaks_fixed++;
    else if (r == 0)
        res->corruptions_fixed++;
    return r == -ERANGE ? 0 : r;
}

/* Stored refcounts against the counted references, over the clusters the
 * file and the references span (as qemu-img, no further: refcounts past
 * the end of the file are not looked at); only existing refcount blocks
 * are read. */
static int compare_refcounts(struct qcow2 *s, struct refs *rf, unsigned fix, uint64_t fclusters)
{
    uint64_t n = rf->hi > fclusters ? rf->hi : fclusters, E = s->refblock_entries;
    int r = 0;
    for (uint64_t ti = 0; ti < s->reftable_size && ti * E < n && !r; ti++) {
        bool have = s->reftable[ti] & QCOW2_REFT_OFFSET_MASK;
        for (uint64_t c = ti * E; c < (ti + 1) * E && c < n && !r; c++) {
            uint64_t want = c < rf->hi ? rf->count[c] : 0, rc = 0;
            if (!have && c >= rf->hi)
                break;
            if (have && (r = qcow2_get_refcount(s, c, &rc)) < 0)
                break;
            r = compare_one(s, rf, fix, c, rc, want);
        }
    }
    /* References beyond what the refcount table covers. */
    for (uint64_t c = s->reftable_size * E; c < rf->hi && !r; c++) {
        if (rf->count[c])
            r = compare_one(s, rf, fix, c, 0, rf->count[c]);
    }
    return r;
}

static int count_and_compare(struct qcow2 *s, unsigned fix, struct block_check_result *res)
{
    off_t end = lseek(s->fd, 0, SEEK_END);
    uint64_t flen = end < 0 ? 0 : (uint64_t)end, fclusters = qcow2_size_to_clusters(s, flen);
    struct refs rf = { .res = res, .limit = fclusters + 1 };
    int r = count_all(s, &rf, flen);
    if (!r)
        r = compare_refcounts(s, &rf, fix, fclusters);
    free(rf.count);
    free(rf.l2);
    return r;
}

static int flush_all(struct qcow2 *s)
{
    int r = qcow2_flush_metadata(s);
    return r || s->b->readonly ? r : qcow2_flush_metadata(s);
}

int qcow2_check_locked(struct qcow2 *s, unsigned fix, struct block_check_result *res)
{
    int r = flush_all(s);
    if (r < 0)
        return r;
    res->was_dirty = s->incompat & QCOW2_INCOMPAT_DIRTY;
    if ((r = count_and_compare(s, fix, res)) < 0)
        return r;
    res->total_clusters = qcow2_size_to_clusters(s, s->b->length);
    bool flagged = s->incompat & (QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT);
    if (!fix || (!res->leaks_fixed && !res->corruptions_fixed && !res->corruptions && !flagged))
        return flush_all(s);
    /* Stale COPIED flags are rewritten, then everything is counted again:
     * what is left is what could not be repaired. */
    struct block_check_result again = { 0 };
    if ((fix & BLOCK_FIX_ERRORS) && (r = qcow2_fix_copied_flags(s)) < 0)
        return r;
    if ((r = flush_all(s)) < 0 || (r = count_and_compare(s, 0, &again)) < 0)
        return r;
    res->corruptions_fixed = res->corruptions > again.corruptions ? res->corruptions - again.corruptions : 0;
    res->leaks_fixed = res->leaks > again.leaks ? res->leaks - again.leaks : 0;
    memcpy(res->first_error, again.first_error, sizeof(res->first_error));
    uint64_t clear = QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT;
    if ((fix & BLOCK_FIX_ERRORS) && !again.corruptions && (s->incompat & clear) && s->version >= 3) {
        uint64_t v = htobe64(s->incompat & ~clear);
        if ((r = qcow2_write_header_field(s, QH_INCOMPAT, &v, 8)) < 0)
            return r;
        s->incompat &= ~clear;
    }
    return 0;
}

int block_check_fix(struct block *b, unsigned fix, struct block_check_result *res, char **error)
{
    memset(res, 0, sizeof(*res));
    if (error)
        *error = NULL;
    if (b->drv != &block_qcow2_driver)
        return 0;                    /* raw images have no metadata */
    if (fix && b->readonly)
        return block_err(error, -EROFS, "%s: open it writable to repair", b->path);
    struct qcow2 *s = qcow2_state(b);
    pthread_mutex_lock(&s->lock);
    int r = qcow2_check_locked(s, fix, res);
    pthread_mutex_unlock(&s->lock);
    if (r < 0)
        block_err(error, r, "%s: check failed: %s", b->path, strerror(-r));
    return r;
}

int block_check(struct block *b, bool repair, struct block_check_result *res, char **error)
{
    return block_check_fix(b, repair ? BLOCK_FIX_ALL : 0, res, error);
}
