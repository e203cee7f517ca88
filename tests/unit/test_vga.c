/* The standard VGA without a VM: text drawn from the plane-2 font with
 * damage limited to changed cells, VBE modes refused or clamped when the
 * guest asks for more than VRAM holds, and a random register and memory
 * storm that must leave the device (and the process) standing. */
#include "core/event_loop.h"
#include "devices/vga_int.h"
#include "vdisplay/display_client.h"
#include "vdisplay/display_server.h"

#include <glib.h>
#include <string.h>
#include <sys/socket.h>

struct fx {
    struct event_loop *loop;
    struct display_server *ds;
    struct dc_client *client;
    struct vga *vga;
    unsigned modes, rects;
    struct dc_mode mode;
    struct dc_rect last;
};

static void on_mode(void *o, const struct dc_mode *m, const uint8_t *px) { struct fx *f = o; f->modes++; f->mode = *m; }
static void on_damage(void *o, const struct dc_rect *r, unsigned n) { struct fx *f = o; f->rects += n; f->last = r[n - 1]; }
static const struct dc_client_ops ops = { .mode = on_mode, .damage = on_damage };

static void fx_setup(struct fx *f, gconstpointer data)
{
    f->loop = event_loop_new();
    f->ds = display_server_new(f->loop, "unit");
    int sv[2];
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), ==, 0);
    g_assert_cmpint(display_server_add_client(f->ds, sv[0]), ==, 0);
    f->client = dc_client_new(sv[1], &ops, f);
    g_assert_cmpint(vga_new(f->ds, &f->vga), ==, 0);
    g_assert_cmpint(dc_client_dispatch(f->client), ==, 0);
    f->modes = 0;                                        /* the server's greeting */
}

static void fx_teardown(struct fx *f, gconstpointer data)
{
    vga_free(f->vga);
    dc_client_free(f->client);
    display_server_free(f->ds);
    event_loop_free(f->loop);
}

static void render(struct fx *f)
{
    f->rects = 0;
    vga_render(f->vga);
    g_assert_cmpint(dc_client_dispatch(f->client), ==, 0);
}

static void reg(struct vga *s, uint16_t index_port, uint8_t i, uint8_t v)
{
    vga_port_write(s, index_port, i);
    vga_port_write(s, (uint16_t)(index_port + 1), v);
}

static uint8_t glyph(uint8_t c, unsigned l) { return c == ' ' ? 0 : (uint8_t)(c ^ (l * 7)); }

static void text_mode(struct vga *s)
{
    static const uint8_t cr[25] = { 0x5F, 0x4F, 0x50, 0x82, 0x55, 0x81, 0xBF, 0x1F, 0, 0x4F, 0x20, 0,
                                    0, 0, 0, 0, 0x9C, 0x8E, 0x8F, 0x28, 0x1F, 0x96, 0xB9, 0xA3, 0xFF };
    vga_port_write(s, 0x3C2, 0x67);
    reg(s, 0x3D4, 0x11, 0);                              /* unprotect CR0-7 */
    for (uint8_t i = 0; i < 25; i++)
        reg(s, 0x3D4, i, cr[i]);
    reg(s, 0x3CE, 8, 0xFF);
    for (uint8_t i = 0; i < 16; i++) {
        vga_port_read(s, 0x3DA);
        vga_port_write(s, 0x3C0, i);
        vga_port_write(s, 0x3C0, i);
    }
    vga_port_write(s, 0x3C8, 7);
    for (int i = 0; i < 3; i++)
        vga_port_write(s, 0x3C9, 42);
    /* font for ' ' and 'A' .. 'C' into plane 2 */
    reg(s, 0x3C4, 2, 4); reg(s, 0x3C4, 4, 7); reg(s, 0x3CE, 4, 2); reg(s, 0x3CE, 5, 0); reg(s, 0x3CE, 6, 4);
    for (uint8_t c = 'A'; c <= 'C'; c++)
        for (unsigned l = 0; l < 16; l++)
            vga_mem_write(s, c * 32u + l, glyph(c, l));
    reg(s, 0x3C4, 2, 3); reg(s, 0x3C4, 4, 2); reg(s, 0x3CE, 4, 0); reg(s, 0x3CE, 5, 0x10); reg(s, 0x3CE, 6, 0x0E);
    for (uint32_t i = 0; i < 80 * 25; i++) {
        vga_mem_write(s, 0x18000 + 2 * i, ' ');
        vga_mem_write(s, 0x18000 + 2 * i + 1, 0x07);
    }
}

static void test_text_damage(struct fx *f, gconstpointer data)
{
    text_mode(f->vga);
    render(f);
    g_assert_cmpuint(f->modes, ==, 1);
    g_assert_cmpuint(f->mode.width, ==, 720);
    g_assert_cmpuint(f->mode.height, ==, 400);
    g_assert_cmpuint(f->rects, ==, 25);                  /* the first frame: every row */
    render(f);
    g_assert_cmpuint(f->rects, ==, 0);                   /* nothing changed: nothing sent */
    vga_mem_write(f->vga, 0x18000 + 2 * (5 * 80 + 10), 'B');
    render(f);
    g_assert_cmpuint(f->rects, ==, 1);
    g_assert_cmpint(f->last.x, ==, 90);
    g_assert_cmpint(f->last.y, ==, 80);
    g_assert_cmpuint(f->last.w, ==, 9);
    g_assert_cmpuint(f->last.h, ==, 16);
    const uint8_t *px = dc_client_pixels(f->client);
    for (unsigned l = 0; l < 16; l++)
        for (unsigned x = 0; x < 8; x++) {
            uint32_t v;
            memcpy(&v, px + (80 + l) * f->mode.stride + (90 + x) * 4, 4);
            g_assert_cmpuint(v & 0xFFFFFF, ==, (glyph('B', l) & (0x80 >> x)) ? 0xAAAAAAu : 0);
        }
    /* a new glyph redraws the screen; a mode change is a new MODE */
    reg(f->vga, 0x3C4, 1, 1);                            /* 8-dot characters */
    render(f);
    g_assert_cmpuint(f->modes, ==, 2);
    g_assert_cmpuint(f->mode.width, ==, 640);
}

static void vbe(struct vga *s, uint16_t i, uint16_t v) { s->vbe_index = i; vga_vbe_write(s, v); }
static uint16_t vbe_get(struct vga *s, uint16_t i) { s->vbe_index = i; return vga_vbe_read(s); }

static void test_vbe_limits(struct fx *f, gconstpointer data)
{
    struct vga *s = f->vga;
    g_assert_cmpuint(vbe_get(s, 0), ==, 0xB0C5);
    vbe(s, 1, 0xFFFF); vbe(s, 2, 0xFFFF); vbe(s, 3, 32); vbe(s, 4, 0x41);
    g_assert_false(vbe_get(s, 4) & 1);                    /* clamped to 4096x4096x4 > 16 MiB: refused */
    vbe(s, 1, 1024); vbe(s, 2, 768); vbe(s, 3, 7); vbe(s, 4, 0x41);
    g_assert_false(vbe_get(s, 4) & 1);                    /* 7 bpp does not exist */
    vbe(s, 4, 0x02);
    g_assert_cmpuint(vbe_get(s, 1), ==, 4096);            /* GETCAPS shows the limits */
    vbe(s, 1, 1024); vbe(s, 3, 8); vbe(s, 4, 0x41);
    g_assert_true(vbe_get(s, 4) & 1);
    vbe(s, 5, 0x4000);                                    /* a bank past VRAM is ignored */
    g_assert_cmpuint(vbe_get(s, 5), ==, 0);
    vbe(s, 9, 0xFFFF);                                    /* panning past the end is dropped */
    g_assert_cmpuint(vbe_get(s, 9), ==, 0);
    vbe(s, 6, 0xFFFF);                                    /* a virtual width VRAM cannot hold */
    g_assert_cmpuint(vbe_get(s, 6), ==, 1024);
    vbe(s, 9, 16000);                                     /* inside VRAM, but the screen would not be */
    g_assert_cmpuint(vbe_get(s, 9), ==, 16000);
    render(f);
    g_assert_cmpuint(f->mode.width, ==, 0);               /* shown as off, nothing read past VRAM */
    vbe(s, 9, 100);
    render(f);
    g_assert_cmpuint(f->mode.width, ==, 1024);
    g_assert_cmpuint(f->mode.height, ==, 768);
    /* 8 bpp through the DAC */
    s->vram[100 * 1024] = 7;
    vga_port_write(s, 0x3C8, 7);
    vga_port_write(s, 0x3C9, 63); vga_port_write(s, 0x3C9, 0); vga_port_write(s, 0x3C9, 0);
    render(f);
    uint32_t v;
    memcpy(&v, dc_client_pixels(f->client), 4);
    g_assert_cmpuint(v & 0xFFFFFF, ==, 0xFF0000);
}

static void test_garbage(struct fx *f, gconstpointer data)
{
    struct vga *s = f->vga;
    GRand *r = g_rand_new_with_seed(8);
    for (int i = 0; i < 400000; i++) {
        uint32_t x = g_rand_int(r);
        switch (x % 5) {
        case 0: vga_port_write(s, (uint16_t)(0x3B0 + (x >> 8) % 0x30), (uint8_t)(x >> 16)); break;
        case 1: vga_port_read(s, (uint16_t)(0x3B0 + (x >> 8) % 0x30)); break;
        case 2: vga_mem_write(s, (x >> 8) & 0x1FFFF, (uint8_t)x); break;
        case 3: vga_mem_read(s, (x >> 8) & 0x1FFFF); break;
        default:
            s->vbe_index = (uint16_t)((x >> 8) % 16);
            vga_vbe_write(s, (x & 0x100) ? (uint16_t)(x >> 16) : (uint16_t)((x >> 16) & 0x0FFF));
        }
        if (i % 2000 == 0)
            render(f);
    }
    render(f);
    g_rand_free(r);
    /* the device still works: a sane text mode renders */
    memset(s->vbe, 0, sizeof(s->vbe));
    memset(s->seq, 0, sizeof(s->seq));
    memset(s->gfx, 0, sizeof(s->gfx));
    memset(s->attr, 0, sizeof(s->attr));
    text_mode(s);
    render(f);
    g_assert_cmpuint(f->mode.width, ==, 720);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add("/vga/text-damage", struct fx, NULL, fx_setup, test_text_damage, fx_teardown);
    g_test_add("/vga/vbe-limits", struct fx, NULL, fx_setup, test_vbe_limits, fx_teardown);
    g_test_add("/vga/garbage", struct fx, NULL, fx_setup, test_garbage, fx_teardown);
    return g_test_run();
}
