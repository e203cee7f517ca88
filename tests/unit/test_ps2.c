/* The i8042 with its PS/2 keyboard and mouse: the exact bytes a guest
 * reads for display channel input (scancode sets 1 and 2, translation,
 * mouse packets, the IntelliMouse wheel) and for its own commands. */
#include "devices/devices.h"
#include "vdisplay/channel.h"

#include <glib.h>
#include <linux/input-event-codes.h>

#define DATA 0x60
#define CMD  0x64

/* Everything waiting in the output buffer, as a hex string ("fa aa"). */
static char *drain(struct i8042 *s, bool *aux)
{
    GString *out = g_string_new(NULL);
    if (aux)
        *aux = true;
    for (int i = 0; i < 1000 && (i8042_read(s, CMD) & 1); i++) {
        if (aux && !(i8042_read(s, CMD) & 0x20))
            *aux = false;
        g_string_append_printf(out, "%s%02x", out->len ? " " : "", i8042_read(s, DATA));
    }
    return g_string_free(out, FALSE);
}

static void expect(struct i8042 *s, const char *want)
{
    g_autofree char *got = drain(s, NULL);
    g_assert_cmpstr(got, ==, want);
}

static void set_ctr(struct i8042 *s, uint8_t v)
{
    i8042_write(s, CMD, 0x60);
    i8042_write(s, DATA, v);
}

static void test_keyboard_translated(void)
{
    struct i8042 *s = i8042_new(NULL);
    i8042_write(s, DATA, 0xFF);
    expect(s, "fa aa");
    i8042_write(s, DATA, 0xF2);
    expect(s, "fa ab 41");                       /* the translated keyboard ID */
    i8042_key(s, KEY_A, true);
    i8042_key(s, KEY_A, false);
    expect(s, "1e 9e");
    i8042_key(s, KEY_RIGHT, true);
    i8042_key(s, KEY_RIGHT, false);
    expect(s, "e0 4d e0 cd");
    i8042_key(s, KEY_PAUSE, true);
    i8042_key(s, KEY_PAUSE, false);
    expect(s, "e1 1d 45 e1 9d c5");
    i8042_key(s, 0xFFFF, true);                  /* no such key: nothing */
    expect(s, "");
    i8042_write(s, DATA, 0xF0);
    i8042_write(s, DATA, 0x00);
    expect(s, "fa fa 41");                       /* set 2, as translated */
    i8042_free(s);
}

static void test_keyboard_set2(void)
{
    struct i8042 *s = i8042_new(NULL);
    i8042_write(s, CMD, 0x20);
    expect(s, "65");                             /* IRQ 1, system flag, AUX off, translation */
    set_ctr(s, 0x07);                            /* translation off */
    i8042_key(s, KEY_A, true);
    i8042_key(s, KEY_A, false);
    i8042_key(s, KEY_UP, true);
    i8042_key(s, KEY_UP, false);
    i8042_key(s, KEY_F7, true);
    expect(s, "1c f0 1c e0 75 e0 f0 75 83");
    i8042_write(s, DATA, 0xF2);
    expect(s, "fa ab 83");
    /* switching the keyboard to set 1 */
    i8042_write(s, DATA, 0xF0);
    i8042_write(s, DATA, 0x01);
    expect(s, "fa fa");
    i8042_key(s, KEY_ESC, true);
    expect(s, "01");
    /* a disabled keyboard port holds its bytes until enabled */
    i8042_write(s, CMD, 0xAD);
    i8042_key(s, KEY_ESC, false);
    expect(s, "");
    i8042_write(s, CMD, 0xAE);
    expect(s, "81");
    /* scanning off: keys are not sent */
    i8042_write(s, DATA, 0xF5);
    expect(s, "fa");
    i8042_key(s, KEY_B, true);
    expect(s, "");
    i8042_free(s);
}

static uint32_t leds_seen = 0xFFFF;
static void on_leds(void *opaque, uint32_t leds) { leds_seen = leds; }

static void test_keyboard_leds_and_flood(void)
{
    struct i8042 *s = i8042_new(NULL);
    i8042_on_leds(s, on_leds, NULL);
    i8042_write(s, DATA, 0xED);
    i8042_write(s, DATA, 0x06);
    expect(s, "fa fa");
    g_assert_cmpuint(leds_seen, ==, DC_LED_NUM | DC_LED_CAPS);
    i8042_write(s, DATA, 0xED);
    i8042_write(s, DATA, 0x01);
    expect(s, "fa fa");
    g_assert_cmpuint(leds_seen, ==, DC_LED_SCROLL);
    /* a flood of keys is bounded, and what was queued still makes sense */
    for (int i = 0; i < 10000; i++)
        i8042_key(s, KEY_Q, !(i & 1));
    g_autofree char *got = drain(s, NULL);
    g_assert_true(g_str_has_prefix(got, "10 90 10"));
    g_assert_cmpuint(strlen(got), <, 3 * 300);
    i8042_free(s);
}

static void aux(struct i8042 *s, uint8_t b)
{
    i8042_write(s, CMD, 0xD4);
    i8042_write(s, DATA, b);
}

static void expect_aux(struct i8042 *s, const char *want)
{
    bool from_aux;
    g_autofree char *got = drain(s, &from_aux);
    g_assert_cmpstr(got, ==, want);
    g_assert_true(from_aux);
}

static void test_mouse(void)
{
    struct i8042 *s = i8042_new(NULL);
    i8042_write(s, CMD, 0xA9);
    expect(s, "00");                             /* the AUX port is there */
    i8042_write(s, CMD, 0xD3);
    i8042_write(s, DATA, 0x5A);
    expect_aux(s, "5a");                         /* AUX loopback, as Linux probes it */
    aux(s, 0xFF);
    expect_aux(s, "fa aa 00");
    aux(s, 0xF2);
    expect_aux(s, "fa 00");
    i8042_mouse(s, 5, 5, 0, 0);                  /* reporting is off: nothing */
    expect(s, "");
    aux(s, 0xF4);
    expect_aux(s, "fa");
    i8042_mouse(s, 10, 5, 0, DC_BUTTON_LEFT);    /* right 10, down 5 (PS/2 y is up) */
    expect_aux(s, "29 0a fb");
    i8042_mouse(s, -600, 0, 0, 0);               /* a long move: several packets */
    expect_aux(s, "18 00 00 18 00 00 18 a8 00");
    i8042_mouse(s, 0, 0, 0, DC_BUTTON_RIGHT | DC_BUTTON_MIDDLE);
    expect_aux(s, "0e 00 00");
    aux(s, 0xE9);
    expect_aux(s, "fa 23 02 64");                /* stream, enabled, middle + right, res 2, 100/s */
    i8042_free(s);
}

static void test_mouse_wheel(void)
{
    struct i8042 *s = i8042_new(NULL);
    aux(s, 0xFF);
    expect_aux(s, "fa aa 00");
    /* the IntelliMouse knock: sample rates 200, 100, 80, then ID 3 */
    aux(s, 0xF3); aux(s, 200);
    aux(s, 0xF3); aux(s, 100);
    aux(s, 0xF3); aux(s, 80);
    aux(s, 0xF2);
    expect_aux(s, "fa fa fa fa fa fa fa 03");
    aux(s, 0xF4);
    expect_aux(s, "fa");
    i8042_mouse(s, 0, 0, 1, 0);                  /* wheel up one step: z = -1 */
    expect_aux(s, "08 00 00 ff");
    i8042_mouse(s, 1, -1, -2, 0);
    expect_aux(s, "08 01 01 02");
    /* the port disabled by the guest holds mouse bytes back */
    i8042_write(s, CMD, 0xA7);
    i8042_mouse(s, 1, 0, 0, 0);
    expect(s, "");
    i8042_write(s, CMD, 0xA8);
    expect_aux(s, "08 01 00 00");
    i8042_free(s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/ps2/keyboard/translated", test_keyboard_translated);
    g_test_add_func("/ps2/keyboard/set2", test_keyboard_set2);
    g_test_add_func("/ps2/keyboard/leds-flood", test_keyboard_leds_and_flood);
    g_test_add_func("/ps2/mouse/stream", test_mouse);
    g_test_add_func("/ps2/mouse/wheel", test_mouse_wheel);
    return g_test_run();
}
