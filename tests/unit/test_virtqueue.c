/* Split virtqueue: well-formed chains, indirect tables, and the hostile
 * chains a guest can build, which must be rejected without any access
 * outside guest RAM. Rings live in fake guest memory. */
#include "virtio/virtqueue.h"

#include <errno.h>
#include <glib.h>
#include <string.h>
#include <sys/mman.h>

#define QSZ        16
#define DESC_GPA   0x1000
#define AVAIL_GPA  0x2000
#define USED_GPA   0x3000
#define TABLE_GPA  0x8000                /* indirect tables */
#define DATA_GPA   0x20000
#define SMALL_RAM  (1u << 20)

struct fx {
    uint8_t *ram;
    uint64_t ram_size;
    struct guest_mem mem;
    struct virtqueue vq;
    struct virtq_desc *desc;
    struct virtq_avail *avail;
    struct virtq_used *used;
    struct virtq_chain *chain;
};

static void fx_init(struct fx *f, uint64_t ram_size)
{
    /* NORESERVE: the "huge RAM" case only needs addresses, not pages. */
    f->ram = mmap(NULL, ram_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    g_assert(f->ram != MAP_FAILED);
    f->ram_size = ram_size;
    guest_mem_init_fake(&f->mem, f->ram, ram_size);
    virtqueue_reset(&f->vq);
    f->vq.size = QSZ;
    f->vq.desc_gpa = DESC_GPA;
    f->vq.avail_gpa = AVAIL_GPA;
    f->vq.used_gpa = USED_GPA;
    g_assert_cmpint(virtqueue_enable(&f->vq, &f->mem), ==, 0);
    f->desc = (struct virtq_desc *)(f->ram + DESC_GPA);
    f->avail = (struct virtq_avail *)(f->ram + AVAIL_GPA);
    f->used = (struct virtq_used *)(f->ram + USED_GPA);
    f->chain = g_new0(struct virtq_chain, 1);
}

static void fx_setup(struct fx *f, gconstpointer data)
{
    fx_init(f, SMALL_RAM);
}

static void fx_teardown(struct fx *f, gconstpointer data)
{
    munmap(f->ram, f->ram_size);
    g_free(f->chain);
}

static void set_desc(struct virtq_desc *table, unsigned i, uint64_t addr, uint32_t len,
                     uint16_t flags, uint16_t next)
{
    table[i] = (struct virtq_desc){ .addr = addr, .len = len, .flags = flags, .next = next };
}

static void offer(struct fx *f, uint16_t head)
{
    f->avail->ring[f->avail->idx % QSZ] = head;
    f->avail->idx++;
}

/* Pops expecting rejection with @err; the queue must then stay broken. */
static void expect_reject(struct fx *f, int err)
{
    g_assert_cmpint(virtqueue_pop(&f->vq, f->chain), ==, err);
    g_assert_true(f->vq.broken);
    g_assert_cmpint(virtqueue_pop(&f->vq, f->chain), ==, -EIO);
}

static void test_mixed_chain(struct fx *f, gconstpointer data)
{
    set_desc(f->desc, 0, DATA_GPA, 16, VIRTQ_DESC_F_NEXT, 5);
    set_desc(f->desc, 5, DATA_GPA + 16, 100, VIRTQ_DESC_F_NEXT, 2);
    set_desc(f->desc, 2, DATA_GPA + 0x1000, 0, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 3);  /* zero length: fine */
    set_desc(f->desc, 3, DATA_GPA + 0x1000, 200, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 4);
    set_desc(f->desc, 4, DATA_GPA + 0x2000, 1, VIRTQ_DESC_F_WRITE, 0);
    offer(f, 0);
    g_assert_cmpint(virtqueue_pop(&f->vq, f->chain), ==, 1);
    struct virtq_chain *c = f->chain;
    g_assert_cmpuint(c->head, ==, 0);
    g_assert_cmpuint(c->nout, ==, 2);
    g_assert_cmpuint(c->nin, ==, 2);
    g_assert_cmpuint(c->out_len, ==, 116);
    g_assert_cmpuint(c->in_len, ==, 201);
    g_assert_true(c->out[0].iov_base == f->ram + DATA_GPA);
    g_assert_true(c->out[1].iov_base == f->ram + DATA_GPA + 16);
    g_assert_true(c->in[0].iov_base == f->ram + DATA_GPA + 0x1000);
    g_assert_cmpuint(c->in[1].iov_len, ==, 1);
    /* Ring now empty; nothing broken. */
    g_assert_cmpint(virtqueue_pop(&f->vq, f->chain), ==, 0);
    g_assert_false(f->vq.broken);
}

static void test_indirect(struct fx *f, gconstpointer data)
{
    struct virtq_desc *t = (struct virtq_desc *)(f->ram + TABLE_GPA);
    set_desc(t, 0, DATA_GPA, 16, VIRTQ_DESC_F_NEXT, 2);
    set_desc(t, 2, DATA_GPA + 0x100, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
    set_desc(t, 1, DATA_GPA + 0x400, 1, VIRTQ_DESC_F_WRITE, 0);
    /* One direct descriptor, then the indirect one (2.7.5.3.2). */
    set_desc(f->desc, 7, DATA_GPA + 0x800, 8, VIRTQ_DESC_F_NEXT, 8);
    set_desc(f->desc, 8, TABLE_GPA, 3 * sizeof(struct virtq_desc), VIRTQ_DESC_F_INDIRECT, 0);
    offer(f, 7);
    g_assert_cmpint(virtqueue_pop(&f->vq, f->chain), ==, 1);
    g_assert_cmpuint(f->chain->head, ==, 7);
    g_assert_cmpuint(f->chain->nout, ==, 2);
    g_assert_cmpuint(f->chain->nin, ==, 2);
    g_assert_cmpuint(f->chain->out_len, ==, 24);
    g_assert_cmpuint(f->chain->in_len, ==, 513);
    g_assert_true(f->chain->in[1].iov_base == f->ram + DATA_GPA + 0x400);
}

static void test_self_loop(struct fx *f, gconstpointer data)
{
    set_desc(f->desc, 0, DATA_GPA, 16, VIRTQ_DESC_F_NEXT, 0);
    offer(f, 0);
    expect_reject(f, -ELOOP);
}

static void test_two_cycle(struct fx *f, gconstpointer data)
{
    set_desc(f->desc, 0, DATA_GPA, 16, VIRTQ_DESC_F_NEXT, 1);
    set_desc(f->desc, 1, DATA_GPA, 16, VIRTQ_DESC_F_NEXT, 0);
    offer(f, 0);
    expect_reject(f, -ELOOP);
}

static void test_loop_in_indirect(struct fx *f, gconstpointer data)
{
    struct virtq_desc *t = (struct virtq_desc *)(f->ram + TABLE_GPA);
    set_desc(t, 0, DATA_GPA, 16, VIRTQ_DESC_F_NEXT, 1);
    set_desc(t, 1, DATA_GPA, 16, VIRTQ_DESC_F_NEXT, 0);
    set_desc(f->desc, 0, TABLE_GPA, 2 * sizeof(struct virtq_desc), VIRTQ_DESC_F_INDIRECT, 0);
    offer(f, 0);
    expect_reject(f, -ELOOP);
}

static void test_next_out_of_range(struct fx *f, gconstpointer data)
{
    set_desc(f->desc, 0, DATA_GPA, 16, VIRTQ_DESC_F_NEXT, QSZ);
    offer(f, 0);
    expect_reject(f, -EINVAL);
}

static void test_head_out_of_range(struct fx *f, gconstpointer data)
{
    offer(f, 0xFFFF);
    expect_reject(f, -EINVAL);
}

static void test_addr_beyond_ram(struct fx *f, gconstpointer data)
{
    set_desc(f->desc, 0, SMALL_RAM - 8, 16, 0, 0);     /* straddles the end */
    offer(f, 0);
    expect_reject(f, -EFAULT);
}

static void test_addr_wraps(struct fx *f, gconstpointer data)
{
    set_desc(f->desc, 0, UINT64_MAX - 15, 32, VIRTQ_DESC_F_WRITE, 0);
    offer(f, 0);
    expect_reject(f, -EFAULT);
}

static void test_total_over_4g(struct fx *f, gconstpointer data)
{
    /* Every buffer is in (8 GiB of) RAM; only their sum is too large. */
    fx_teardown(f, NULL);
    fx_init(f, 8ULL << 30);
    set_desc(f->desc, 0, 1ULL << 30, 0xC0000000u, VIRTQ_DESC_F_NEXT, 1);
    set_desc(f->desc, 1, 4ULL << 30, 0x40000000u, VIRTQ_DESC_F_WRITE, 0);
    offer(f, 0);
    expect_reject(f, -EOVERFLOW);
}

static void test_nested_indirect(struct fx *f, gconstpointer data)
{
    struct virtq_desc *t = (struct virtq_desc *)(f->ram + TABLE_GPA);
    set_desc(t, 0, TABLE_GPA, sizeof(struct virtq_desc), VIRTQ_DESC_F_INDIRECT, 0);
    set_desc(f->desc, 0, TABLE_GPA, sizeof(struct virtq_desc), VIRTQ_DESC_F_INDIRECT, 0);
    offer(f, 0);
    expect_reject(f, -EINVAL);
}

static void test_indirect_outside_ram(struct fx *f, gconstpointer data)
{
    set_desc(f->desc, 0, SMALL_RAM - 16, 4 * sizeof(struct virtq_desc), VIRTQ_DESC_F_INDIRECT, 0);
    offer(f, 0);
    expect_reject(f, -EFAULT);
}

static void test_indirect_bad_len(struct fx *f, gconstpointer data)
{
    set_desc(f->desc, 0, TABLE_GPA, 24, VIRTQ_DESC_F_INDIRECT, 0);
    offer(f, 0);
    expect_reject(f, -EINVAL);
}

static void test_indirect_with_next(struct fx *f, gconstpointer data)
{
    set_desc(f->desc, 0, TABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
    set_desc(f->desc, 1, DATA_GPA, 16, 0, 0);
    offer(f, 0);
    expect_reject(f, -EINVAL);
}

static void test_read_after_write(struct fx *f, gconstpointer data)
{
    set_desc(f->desc, 0, DATA_GPA, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    set_desc(f->desc, 1, DATA_GPA, 16, 0, 0);
    offer(f, 0);
    expect_reject(f, -EINVAL);
}

static void test_avail_jump(struct fx *f, gconstpointer data)
{
    set_desc(f->desc, 0, DATA_GPA, 16, 0, 0);
    f->avail->idx = QSZ + 1;       /* more outstanding than the ring holds */
    expect_reject(f, -EINVAL);
}

static void test_too_many_segments(struct fx *f, gconstpointer data)
{
    /* 15 direct segments, then an indirect table of 1024: legal lengths
     * everywhere, but 1039 segments in all. */
    struct virtq_desc *t = (struct virtq_desc *)(f->ram + TABLE_GPA);
    for (unsigned i = 0; i < 15; i++)
        set_desc(f->desc, i, DATA_GPA + i, 1, VIRTQ_DESC_F_NEXT, (uint16_t)(i + 1));
    set_desc(f->desc, 15, TABLE_GPA, VIRTQ_MAX_INDIRECT * sizeof(struct virtq_desc), VIRTQ_DESC_F_INDIRECT, 0);
    for (unsigned i = 0; i < VIRTQ_MAX_INDIRECT; i++)
        set_desc(t, i, DATA_GPA, 1, i + 1 < VIRTQ_MAX_INDIRECT ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
    offer(f, 0);
    expect_reject(f, -E2BIG);
}

static void test_indirect_too_large(struct fx *f, gconstpointer data)
{
    set_desc(f->desc, 0, TABLE_GPA, (VIRTQ_MAX_INDIRECT + 1) * sizeof(struct virtq_desc), VIRTQ_DESC_F_INDIRECT, 0);
    offer(f, 0);
    expect_reject(f, -EINVAL);
}

static void test_enable_checks(struct fx *f, gconstpointer data)
{
    struct virtqueue vq;
    const struct { uint16_t size; uint64_t desc, avail, used; int err; } cases[] = {
        { 0, DESC_GPA, AVAIL_GPA, USED_GPA, -EINVAL },          /* size 0 */
        { 12, DESC_GPA, AVAIL_GPA, USED_GPA, -EINVAL },         /* not a power of two */
        { 2048, DESC_GPA, AVAIL_GPA, USED_GPA, -EINVAL },       /* too large */
        { QSZ, DESC_GPA + 8, AVAIL_GPA, USED_GPA, -EINVAL },    /* misaligned */
        { QSZ, DESC_GPA, AVAIL_GPA, USED_GPA + 2, -EINVAL },
        { QSZ, DESC_GPA, AVAIL_GPA, SMALL_RAM - 64, -EFAULT },  /* used ring past RAM */
        { QSZ, UINT64_MAX - 15, AVAIL_GPA, USED_GPA, -EFAULT }, /* wraps */
    };
    for (unsigned i = 0; i < G_N_ELEMENTS(cases); i++) {
        virtqueue_reset(&vq);
        vq.size = cases[i].size;
        vq.desc_gpa = cases[i].desc;
        vq.avail_gpa = cases[i].avail;
        vq.used_gpa = cases[i].used;
        g_assert_cmpint(virtqueue_enable(&vq, &f->mem), ==, cases[i].err);
        g_assert_false(vq.ready);
        g_assert_cmpint(virtqueue_pop(&vq, f->chain), ==, 0);
    }
}

static void test_used_ring(struct fx *f, gconstpointer data)
{
    for (unsigned i = 0; i < QSZ + 3; i++) {   /* wraps around the ring */
        set_desc(f->desc, i % QSZ, DATA_GPA, 4, VIRTQ_DESC_F_WRITE, 0);
        offer(f, (uint16_t)(i % QSZ));
        g_assert_cmpint(virtqueue_pop(&f->vq, f->chain), ==, 1);
        virtqueue_push(&f->vq, f->chain->head, 1000 + i);
        g_assert_cmpuint(f->used->idx, ==, i + 1);
        g_assert_cmpuint(f->used->ring[i % QSZ].id, ==, i % QSZ);
        g_assert_cmpuint(f->used->ring[i % QSZ].len, ==, 1000 + i);
    }
}

static void push_one(struct fx *f)
{
    set_desc(f->desc, 0, DATA_GPA, 4, VIRTQ_DESC_F_WRITE, 0);
    offer(f, 0);
    g_assert_cmpint(virtqueue_pop(&f->vq, f->chain), ==, 1);
    virtqueue_push(&f->vq, f->chain->head, 4);
}

static void test_notify_flags(struct fx *f, gconstpointer data)
{
    push_one(f);
    g_assert_true(virtqueue_should_notify(&f->vq));
    f->avail->flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
    push_one(f);
    g_assert_false(virtqueue_should_notify(&f->vq));
}

static void test_notify_event_idx(struct fx *f, gconstpointer data)
{
    uint16_t *used_event = &f->avail->ring[QSZ];
    uint16_t *avail_event = (uint16_t *)&f->used->ring[QSZ];
    f->vq.event_idx = true;
    f->avail->flags = VIRTQ_AVAIL_F_NO_INTERRUPT;   /* ignored with EVENT_IDX */
    push_one(f);                                    /* used idx 1 */
    g_assert_true(virtqueue_should_notify(&f->vq)); /* first check always signals */
    *used_event = 2;                                /* "tell me when entry 2 is used" */
    push_one(f);                                    /* used idx 2: entry 1 */
    g_assert_false(virtqueue_should_notify(&f->vq));
    push_one(f);                                    /* used idx 3: entry 2 */
    g_assert_true(virtqueue_should_notify(&f->vq));
    push_one(f);                                    /* already signalled past event */
    g_assert_false(virtqueue_should_notify(&f->vq));
    g_assert_false(virtqueue_should_notify(&f->vq));/* nothing new */
    /* Going idle publishes avail_event = next index we will consume. */
    g_assert_cmpint(virtqueue_pop(&f->vq, f->chain), ==, 0);
    g_assert_cmpuint(*avail_event, ==, 4);
}

static void test_iov_helpers(void)
{
    uint8_t a[3] = { 1, 2, 3 }, b[5] = { 4, 5, 6, 7, 8 }, out[8] = { 0 };
    struct iovec iov[2] = { { a, 3 }, { b, 5 } }, sl[2];
    g_assert_cmpuint(iov_to_buf(iov, 2, 2, out, 4), ==, 4);
    g_assert_cmpmem(out, 4, ((uint8_t[]){ 3, 4, 5, 6 }), 4);
    g_assert_cmpuint(iov_to_buf(iov, 2, 7, out, 8), ==, 1);
    g_assert_cmpuint(iov_from_buf(iov, 2, 1, (uint8_t[]){ 9, 9, 9 }, 3), ==, 3);
    g_assert_cmpuint(a[1], ==, 9);
    g_assert_cmpuint(b[0], ==, 9);
    g_assert_cmpuint(iov_slice(iov, 2, 1, 4, sl, 2), ==, 2);
    g_assert_true(sl[0].iov_base == a + 1 && sl[0].iov_len == 2);
    g_assert_true(sl[1].iov_base == b && sl[1].iov_len == 2);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(name, fn) g_test_add("/virtqueue/" name, struct fx, NULL, fx_setup, fn, fx_teardown)
    ADD("chain/mixed", test_mixed_chain);
    ADD("chain/indirect", test_indirect);
    ADD("hostile/self-loop", test_self_loop);
    ADD("hostile/two-cycle", test_two_cycle);
    ADD("hostile/loop-in-indirect", test_loop_in_indirect);
    ADD("hostile/next-out-of-range", test_next_out_of_range);
    ADD("hostile/head-out-of-range", test_head_out_of_range);
    ADD("hostile/addr-beyond-ram", test_addr_beyond_ram);
    ADD("hostile/addr-wraps", test_addr_wraps);
    ADD("hostile/total-over-4g", test_total_over_4g);
    ADD("hostile/nested-indirect", test_nested_indirect);
    ADD("hostile/indirect-outside-ram", test_indirect_outside_ram);
    ADD("hostile/indirect-bad-len", test_indirect_bad_len);
    ADD("hostile/indirect-with-next", test_indirect_with_next);
    ADD("hostile/indirect-too-large", test_indirect_too_large);
    ADD("hostile/read-after-write", test_read_after_write);
    ADD("hostile/avail-jump", test_avail_jump);
    ADD("hostile/too-many-segments", test_too_many_segments);
    ADD("enable-checks", test_enable_checks);
    ADD("used-ring", test_used_ring);
    ADD("notify/flags", test_notify_flags);
    ADD("notify/event-idx", test_notify_event_idx);
#undef ADD
    g_test_add_func("/virtqueue/iov-helpers", test_iov_helpers);
    return g_test_run();
}
