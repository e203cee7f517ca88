/* Keysym tables. Latin-1 keysyms equal their code points (a = 0x61);
 * function keys live at 0xffXX; dead keys at 0xfe5X. */
#include "keysym_map.h"

#include <linux/input-event-codes.h>
#include <string.h>

struct keysym_entry { uint32_t sym; uint16_t code; };

/* Keys whose meaning does not depend on the layout. */
static const struct keysym_entry common_keys[] = {
    { 0xff08, KEY_BACKSPACE }, { 0xff09, KEY_TAB }, { 0xfe20, KEY_TAB }, { 0xff0d, KEY_ENTER },
    { 0xff13, KEY_PAUSE }, { 0xff14, KEY_SCROLLLOCK }, { 0xff15, KEY_SYSRQ }, { 0xff1b, KEY_ESC },
    { 0xff50, KEY_HOME }, { 0xff51, KEY_LEFT }, { 0xff52, KEY_UP }, { 0xff53, KEY_RIGHT },
    { 0xff54, KEY_DOWN }, { 0xff55, KEY_PAGEUP }, { 0xff56, KEY_PAGEDOWN }, { 0xff57, KEY_END },
    { 0xff61, KEY_SYSRQ }, { 0xff63, KEY_INSERT }, { 0xff67, KEY_COMPOSE }, { 0xff7f, KEY_NUMLOCK },
    { 0xffff, KEY_DELETE }, { 0x20, KEY_SPACE },
    { 0xffe1, KEY_LEFTSHIFT }, { 0xffe2, KEY_RIGHTSHIFT }, { 0xffe3, KEY_LEFTCTRL },
    { 0xffe4, KEY_RIGHTCTRL }, { 0xffe5, KEY_CAPSLOCK }, { 0xffe7, KEY_LEFTMETA }, { 0xffe8, KEY_RIGHTMETA },
    { 0xffe9, KEY_LEFTALT }, { 0xffea, KEY_RIGHTALT }, { 0xffeb, KEY_LEFTMETA }, { 0xffec, KEY_RIGHTMETA },
    { 0xfe03, KEY_RIGHTALT }, { 0xff7e, KEY_RIGHTALT },
    /* keypad */
    { 0xff8d, KEY_KPENTER }, { 0xffaa, KEY_KPASTERISK }, { 0xffab, KEY_KPPLUS }, { 0xffad, KEY_KPMINUS },
    { 0xffae, KEY_KPDOT }, { 0xffac, KEY_KPCOMMA }, { 0xffaf, KEY_KPSLASH }, { 0xffbd, KEY_KPEQUAL },
    { 0xffb0, KEY_KP0 }, { 0xffb1, KEY_KP1 }, { 0xffb2, KEY_KP2 }, { 0xffb3, KEY_KP3 }, { 0xffb4, KEY_KP4 },
    { 0xffb5, KEY_KP5 }, { 0xffb6, KEY_KP6 }, { 0xffb7, KEY_KP7 }, { 0xffb8, KEY_KP8 }, { 0xffb9, KEY_KP9 },
    { 0xff9e, KEY_KP0 }, { 0xff9c, KEY_KP1 }, { 0xff99, KEY_KP2 }, { 0xff9b, KEY_KP3 }, { 0xff96, KEY_KP4 },
    { 0xff9d, KEY_KP5 }, { 0xff98, KEY_KP6 }, { 0xff95, KEY_KP7 }, { 0xff97, KEY_KP8 }, { 0xff9a, KEY_KP9 },
    { 0xff9f, KEY_KPDOT },
};

/* Symbols on the main block of a US keyboard, unshifted then shifted. */
static const char us_base[] = "`1234567890-=qwertyuiop[]\\asdfghjkl;'zxcvbnm,./";
static const char us_shift[] = "~!@#$%^&*()_+QWERTYUIOP{}|ASDFGHJKL:\"ZXCVBNM<>?";
static const uint16_t us_keys[] = {
    KEY_GRAVE, KEY_1, KEY_2, KEY_3, KEY_4, KEY_5, KEY_6, KEY_7, KEY_8, KEY_9, KEY_0, KEY_MINUS, KEY_EQUAL,
    KEY_Q, KEY_W, KEY_E, KEY_R, KEY_T, KEY_Y, KEY_U, KEY_I, KEY_O, KEY_P, KEY_LEFTBRACE, KEY_RIGHTBRACE,
    KEY_BACKSLASH, KEY_A, KEY_S, KEY_D, KEY_F, KEY_G, KEY_H, KEY_J, KEY_K, KEY_L, KEY_SEMICOLON,
    KEY_APOSTROPHE, KEY_Z, KEY_X, KEY_C, KEY_V, KEY_B, KEY_N, KEY_M, KEY_COMMA, KEY_DOT, KEY_SLASH,
};

/* German (QWERTZ, T1): every symbol with its key; letters as on US except y/z. */
static const struct keysym_entry de_keys[] = {
    { 'y', KEY_Z }, { 'Y', KEY_Z }, { 'z', KEY_Y }, { 'Z', KEY_Y },
    { 0xf6, KEY_SEMICOLON }, { 0xd6, KEY_SEMICOLON }, { 0xe4, KEY_APOSTROPHE }, { 0xc4, KEY_APOSTROPHE },
    { 0xfc, KEY_LEFTBRACE }, { 0xdc, KEY_LEFTBRACE }, { 0xdf, KEY_MINUS }, { '?', KEY_MINUS },
    { '\\', KEY_MINUS }, { 0xfe51, KEY_EQUAL }, { 0xb4, KEY_EQUAL }, { 0xfe50, KEY_EQUAL }, { '`', KEY_EQUAL },
    { '+', KEY_RIGHTBRACE }, { '*', KEY_RIGHTBRACE }, { '~', KEY_RIGHTBRACE }, { 0xfe53, KEY_RIGHTBRACE },
    { '#', KEY_BACKSLASH }, { '\'', KEY_BACKSLASH }, { '<', KEY_102ND }, { '>', KEY_102ND }, { '|', KEY_102ND },
    { '-', KEY_SLASH }, { '_', KEY_SLASH }, { ',', KEY_COMMA }, { ';', KEY_COMMA }, { '.', KEY_DOT },
    { ':', KEY_DOT }, { 0xfe52, KEY_GRAVE }, { '^', KEY_GRAVE }, { 0xb0, KEY_GRAVE },
    { '!', KEY_1 }, { '"', KEY_2 }, { 0xb2, KEY_2 }, { 0xa7, KEY_3 }, { 0xb3, KEY_3 }, { '$', KEY_4 },
    { '%', KEY_5 }, { '&', KEY_6 }, { '/', KEY_7 }, { '{', KEY_7 }, { '(', KEY_8 }, { '[', KEY_8 },
    { ')', KEY_9 }, { ']', KEY_9 }, { '=', KEY_0 }, { '}', KEY_0 }, { '@', KEY_Q }, { 0x20ac, KEY_E },
    { 0x10020ac, KEY_E }, { 0xb5, KEY_M },
};

static uint16_t lookup(const struct keysym_entry *t, unsigned n, uint32_t sym)
{
    for (unsigned i = 0; i < n; i++)
        if (t[i].sym == sym)
            return t[i].code;
    return 0;
}

static uint16_t us_lookup(uint32_t sym)
{
    if (sym >= 0x20 && sym < 0x7f) {
        const char *p = strchr(us_base, (int)sym);
        if (p && *p)
            return us_keys[p - us_base];
        p = strchr(us_shift, (int)sym);
        if (p && *p)
            return us_keys[p - us_shift];
    }
    return 0;
}

uint16_t keysym_to_evdev(uint32_t sym, enum keymap_layout layout)
{
    uint16_t code;
#define N(t) (sizeof(t) / sizeof((t)[0]))
    if ((code = lookup(common_keys, N(common_keys), sym)))
        return code;
    if (sym >= 0xffbe && sym <= 0xffc9)               /* F1..F12 */
        return sym - 0xffbe < 10 ? (uint16_t)(KEY_F1 + (sym - 0xffbe)) : (uint16_t)(KEY_F11 + (sym - 0xffc8));
    if (layout == KEYMAP_DE) {
        if ((code = lookup(de_keys, N(de_keys), sym)))
            return code;
        /* Everything else a German keyboard types sits where US has it (letters). */
        return (sym >= 'a' && sym <= 'z') || (sym >= 'A' && sym <= 'Z') || (sym >= '0' && sym <= '9') ?
               us_lookup(sym) : 0;
    }
#undef N
    return us_lookup(sym);
}

int keymap_layout_from_name(const char *name)
{
    if (!strcmp(name, "us") || !strcmp(name, "en-us"))
        return KEYMAP_US;
    if (!strcmp(name, "de"))
        return KEYMAP_DE;
    return -1;
}
