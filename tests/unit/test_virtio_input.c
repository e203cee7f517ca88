/* virtio-input as its driver sees it: identity and capabilities through
 * the select/subsel window, events in the guest's buffers (held while it
 * has none), LED changes coming back on the status queue. */
#include "virtio/virtio_input.h"

#include <errno.h>
#include <glib.h>
#include <linux/input.h>
#include <string.h>

int virtio_pci_create(struct vm *vm, struct virtio_device *vdev)
{
    return -ENOSYS;
}

#define QSZ      16
#define RAM_SIZE (1u << 20)
#define EVQ_BASE 0x1000              /* desc, avail, used of queue 0 at +0, +0x1000, +0x2000 */
#define STQ_BASE 0x10000
#define BUF_GPA  0x40000

struct fx {
    uint8_t *ram;
    struct guest_mem mem;
    struct virtio_input *in;
    struct virtio_device *vdev;
    uint32_t leds;
    unsigned nbuf;
};

static void no_irq(struct virtio_device *vdev, unsigned q) { }
static void on_leds(void *o, uint32_t leds) { ((struct fx *)o)->leds = leds; }

static void enable(struct fx *f, unsigned q, uint64_t base)
{
    struct virtqueue *vq = &f->vdev->vqs[q];
    vq->size = QSZ;
    vq->desc_gpa = base;
    vq->avail_gpa = base + 0x1000;
    vq->used_gpa = base + 0x2000;
    g_assert_cmpint(virtqueue_enable(vq, &f->mem), ==, 0);
}

static void fx_setup(struct fx *f, gconstpointer data)
{
    f->ram = g_malloc0(RAM_SIZE);
    guest_mem_init_fake(&f->mem, f->ram, RAM_SIZE);
    g_assert_cmpint(virtio_input_new(GPOINTER_TO_INT(data), &f->in), ==, 0);
    f->vdev = virtio_input_device(f->in);
    f->vdev->notify_queue = no_irq;
    f->vdev->driver_features = 1ULL << VIRTIO_F_VERSION_1;
    f->vdev->status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                      VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK;
    enable(f, 0, EVQ_BASE);
    enable(f, 1, STQ_BASE);
    virtio_input_on_leds(f->in, on_leds, f);
}

static void fx_teardown(struct fx *f, gconstpointer data)
{
    virtio_input_free(f->in);
    g_free(f->ram);
}

/* Reads the config window for select/subsel: returns size, copies the union. */
static unsigned cfg(struct fx *f, uint8_t select, uint8_t subsel, void *out)
{
    f->vdev->ops->config_write(f->vdev, 0, &select, 1);
    f->vdev->ops->config_write(f->vdev, 1, &subsel, 1);
    struct virtio_input_config c;
    f->vdev->ops->config_read(f->vdev, 0, &c, sizeof(c));
    if (out)
        memcpy(out, &c.u, sizeof(c.u));
    return c.size;
}

static bool bit(const uint8_t *map, unsigned b) { return map[b / 8] & (1u << (b % 8)); }

/* Offers @n 8-byte event buffers on queue 0. */
static void offer(struct fx *f, unsigned n)
{
    struct virtq_desc *d = (void *)(f->ram + EVQ_BASE);
    struct virtq_avail *a = (void *)(f->ram + EVQ_BASE + 0x1000);
    for (unsigned i = 0; i < n; i++) {
        unsigned slot = f->nbuf % QSZ;
        d[slot] = (struct virtq_desc){ BUF_GPA + slot * 8, 8, VIRTQ_DESC_F_WRITE, 0 };
        a->ring[a->idx % QSZ] = (uint16_t)slot;
        a->idx++;
        f->nbuf++;
    }
    f->vdev->ops->queue_notify(f->vdev, 0);
}

static struct virtio_input_event used_event(struct fx *f, unsigned i)
{
    struct virtq_used *u = (void *)(f->ram + EVQ_BASE + 0x2000);
    struct virtio_input_event e;
    memcpy(&e, f->ram + BUF_GPA + u->ring[i % QSZ].id * 8, sizeof(e));
    return e;
}

static void test_keyboard(struct fx *f, gconstpointer data)
{
    char name[128] = "";
    g_assert_cmpuint(cfg(f, VIRTIO_INPUT_CFG_ID_NAME, 0, name), >, 0);
    g_assert_nonnull(strstr(name, "keyboard"));
    uint8_t map[128];
    g_assert_cmpuint(cfg(f, VIRTIO_INPUT_CFG_EV_BITS, EV_KEY, map), >, 0);
    g_assert_true(bit(map, KEY_A) && bit(map, KEY_ESC) && bit(map, KEY_RIGHTMETA));
    g_assert_cmpuint(cfg(f, VIRTIO_INPUT_CFG_EV_BITS, EV_LED, map), ==, 1);
    g_assert_true(bit(map, LED_CAPSL));
    g_assert_cmpuint(cfg(f, VIRTIO_INPUT_CFG_EV_BITS, EV_ABS, map), ==, 0);
    g_assert_cmpuint(cfg(f, 0x7f, 0, NULL), ==, 0);             /* unknown select: size 0 */

    /* Events wait for buffers, then arrive in order with a SYN_REPORT. */
    virtio_input_event(f->in, EV_KEY, KEY_A, 1);
    virtio_input_sync(f->in);
    struct virtq_used *u = (void *)(f->ram + EVQ_BASE + 0x2000);
    g_assert_cmpuint(u->idx, ==, 0);
    offer(f, 4);
    g_assert_cmpuint(u->idx, ==, 2);
    struct virtio_input_event e = used_event(f, 0);
    g_assert_cmpuint(e.type, ==, EV_KEY);
    g_assert_cmpuint(e.code, ==, KEY_A);
    g_assert_cmpuint(e.value, ==, 1);
    e = used_event(f, 1);
    g_assert_cmpuint(e.type, ==, EV_SYN);

    /* The guest sets Caps Lock's LED on the status queue. */
    struct virtq_desc *d = (void *)(f->ram + STQ_BASE);
    struct virtq_avail *a = (void *)(f->ram + STQ_BASE + 0x1000);
    struct virtio_input_event led = { EV_LED, LED_CAPSL, 1 };
    memcpy(f->ram + BUF_GPA + 0x1000, &led, sizeof(led));
    d[0] = (struct virtq_desc){ BUF_GPA + 0x1000, sizeof(led), 0, 0 };
    a->ring[0] = 0;
    a->idx = 1;
    f->vdev->ops->queue_notify(f->vdev, 1);
    g_assert_cmpuint(f->leds, ==, 2 /* DC_LED_CAPS */);
}

static void test_tablet(struct fx *f, gconstpointer data)
{
    uint8_t map[128];
    g_assert_cmpuint(cfg(f, VIRTIO_INPUT_CFG_EV_BITS, EV_ABS, map), >, 0);
    g_assert_true(bit(map, ABS_X) && bit(map, ABS_Y));
    g_assert_cmpuint(cfg(f, VIRTIO_INPUT_CFG_EV_BITS, EV_KEY, map), >, 0);
    g_assert_true(bit(map, BTN_LEFT) && bit(map, BTN_RIGHT) && !bit(map, KEY_A));
    struct virtio_input_absinfo abs;
    g_assert_cmpuint(cfg(f, VIRTIO_INPUT_CFG_ABS_INFO, ABS_Y, &abs), ==, sizeof(abs));
    g_assert_cmpuint(abs.max, ==, VIRTIO_INPUT_ABS_MAX);
    g_assert_cmpuint(cfg(f, VIRTIO_INPUT_CFG_ABS_INFO, ABS_PRESSURE, NULL), ==, 0);

    /* More events than the hold ring: the oldest go, the newest arrive. */
    for (int i = 0; i < 300; i++)
        virtio_input_event(f->in, EV_ABS, ABS_X, i);
    virtio_input_sync(f->in);
    offer(f, QSZ);
    struct virtq_used *u = (void *)(f->ram + EVQ_BASE + 0x2000);
    g_assert_cmpuint(u->idx, ==, QSZ);
    g_assert_cmpuint(used_event(f, 0).value, ==, 300 - 255);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add("/virtio-input/keyboard", struct fx, GINT_TO_POINTER(VIRTIO_INPUT_KEYBOARD), fx_setup,
               test_keyboard, fx_teardown);
    g_test_add("/virtio-input/tablet", struct fx, GINT_TO_POINTER(VIRTIO_INPUT_TABLET), fx_setup,
               test_tablet, fx_teardown);
    return g_test_run();
}
