/* What a guest receives for what a user types: VNC keysyms under the US
 * and German layouts, and SDL's physical scancodes. */
#include "keysym_map.h"
#include "sdl_keymap.h"

#include <glib.h>
#include <linux/input-event-codes.h>

static void test_us(void)
{
    g_assert_cmpuint(keysym_to_evdev('a', KEYMAP_US), ==, KEY_A);
    g_assert_cmpuint(keysym_to_evdev('A', KEYMAP_US), ==, KEY_A);
    g_assert_cmpuint(keysym_to_evdev('z', KEYMAP_US), ==, KEY_Z);
    g_assert_cmpuint(keysym_to_evdev('!', KEYMAP_US), ==, KEY_1);
    g_assert_cmpuint(keysym_to_evdev('@', KEYMAP_US), ==, KEY_2);
    g_assert_cmpuint(keysym_to_evdev('"', KEYMAP_US), ==, KEY_APOSTROPHE);
    g_assert_cmpuint(keysym_to_evdev('?', KEYMAP_US), ==, KEY_SLASH);
    g_assert_cmpuint(keysym_to_evdev('~', KEYMAP_US), ==, KEY_GRAVE);
    g_assert_cmpuint(keysym_to_evdev(' ', KEYMAP_US), ==, KEY_SPACE);
    g_assert_cmpuint(keysym_to_evdev(0xff0d, KEYMAP_US), ==, KEY_ENTER);     /* Return */
    g_assert_cmpuint(keysym_to_evdev(0xff1b, KEYMAP_US), ==, KEY_ESC);
    g_assert_cmpuint(keysym_to_evdev(0xffbe, KEYMAP_US), ==, KEY_F1);
    g_assert_cmpuint(keysym_to_evdev(0xffc9, KEYMAP_US), ==, KEY_F12);
    g_assert_cmpuint(keysym_to_evdev(0xffe1, KEYMAP_US), ==, KEY_LEFTSHIFT);
    g_assert_cmpuint(keysym_to_evdev(0xffe9, KEYMAP_US), ==, KEY_LEFTALT);
    g_assert_cmpuint(keysym_to_evdev(0xff52, KEYMAP_US), ==, KEY_UP);
    g_assert_cmpuint(keysym_to_evdev(0xffb7, KEYMAP_US), ==, KEY_KP7);
    g_assert_cmpuint(keysym_to_evdev(0xf6, KEYMAP_US), ==, 0);               /* ö: no such key */
}

static void test_de(void)
{
    g_assert_cmpuint(keysym_to_evdev('z', KEYMAP_DE), ==, KEY_Y);
    g_assert_cmpuint(keysym_to_evdev('Y', KEYMAP_DE), ==, KEY_Z);
    g_assert_cmpuint(keysym_to_evdev('a', KEYMAP_DE), ==, KEY_A);
    g_assert_cmpuint(keysym_to_evdev(0xf6, KEYMAP_DE), ==, KEY_SEMICOLON);   /* ö */
    g_assert_cmpuint(keysym_to_evdev(0xc4, KEYMAP_DE), ==, KEY_APOSTROPHE);  /* Ä */
    g_assert_cmpuint(keysym_to_evdev(0xfc, KEYMAP_DE), ==, KEY_LEFTBRACE);   /* ü */
    g_assert_cmpuint(keysym_to_evdev(0xdf, KEYMAP_DE), ==, KEY_MINUS);       /* ß */
    g_assert_cmpuint(keysym_to_evdev('@', KEYMAP_DE), ==, KEY_Q);            /* AltGr+q */
    g_assert_cmpuint(keysym_to_evdev(0x20ac, KEYMAP_DE), ==, KEY_E);         /* € */
    g_assert_cmpuint(keysym_to_evdev('"', KEYMAP_DE), ==, KEY_2);
    g_assert_cmpuint(keysym_to_evdev('/', KEYMAP_DE), ==, KEY_7);
    g_assert_cmpuint(keysym_to_evdev('-', KEYMAP_DE), ==, KEY_SLASH);
    g_assert_cmpuint(keysym_to_evdev('<', KEYMAP_DE), ==, KEY_102ND);
    g_assert_cmpuint(keysym_to_evdev('#', KEYMAP_DE), ==, KEY_BACKSLASH);
    g_assert_cmpuint(keysym_to_evdev(0xfe03, KEYMAP_DE), ==, KEY_RIGHTALT); /* AltGr */
    g_assert_cmpuint(keysym_to_evdev('5', KEYMAP_DE), ==, KEY_5);
    g_assert_cmpint(keymap_layout_from_name("de"), ==, KEYMAP_DE);
    g_assert_cmpint(keymap_layout_from_name("us"), ==, KEYMAP_US);
    g_assert_cmpint(keymap_layout_from_name("klingon"), ==, -1);
}

static void test_sdl_scancodes(void)
{
    g_assert_cmpuint(sdl_scancode_to_evdev(4), ==, KEY_A);          /* SDL_SCANCODE_A */
    g_assert_cmpuint(sdl_scancode_to_evdev(29), ==, KEY_Z);
    g_assert_cmpuint(sdl_scancode_to_evdev(30), ==, KEY_1);
    g_assert_cmpuint(sdl_scancode_to_evdev(40), ==, KEY_ENTER);
    g_assert_cmpuint(sdl_scancode_to_evdev(58), ==, KEY_F1);
    g_assert_cmpuint(sdl_scancode_to_evdev(82), ==, KEY_UP);
    g_assert_cmpuint(sdl_scancode_to_evdev(100), ==, KEY_102ND);
    g_assert_cmpuint(sdl_scancode_to_evdev(224), ==, KEY_LEFTCTRL);
    g_assert_cmpuint(sdl_scancode_to_evdev(231), ==, KEY_RIGHTMETA);
    g_assert_cmpuint(sdl_scancode_to_evdev(5000), ==, 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/keymaps/vnc-us", test_us);
    g_test_add_func("/keymaps/vnc-de", test_de);
    g_test_add_func("/keymaps/sdl-scancodes", test_sdl_scancodes);
    return g_test_run();
}
