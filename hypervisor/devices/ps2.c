/* PS/2 keyboard (MF2, scancode sets 1 and 2; set 1 also when the i8042
 * translates) and mouse (stream mode, IntelliMouse wheel after the
 * 200/100/80 sample-rate knock). Typematic settings are acked and ignored:
 * repeats come from the client as repeated key presses. */
#include "ps2.h"
#include "vdisplay/channel.h"

#include <linux/input-event-codes.h>
#include <string.h>

static void put(struct ps2_queue *q, uint8_t b)
{
    if (q->len < PS2_QUEUE)          /* a full queue drops, as the hardware would */
        q->data[(q->head + q->len++) % PS2_QUEUE] = b;
}

static unsigned space(const struct ps2_queue *q)
{
    return PS2_QUEUE - q->len;
}

bool ps2_queue_pop(struct ps2_queue *q, uint8_t *b)
{
    if (!q->len)
        return false;
    *b = q->data[q->head];
    q->head = (q->head + 1) % PS2_QUEUE;
    q->len--;
    return true;
}

/* ---- keyboard ---- */

/* Set 2 codes of evdev keys 1..88 (evdev numbers are the set 1 codes). */
static const uint8_t set2[89] = {
    0, 0x76, 0x16, 0x1E, 0x26, 0x25, 0x2E, 0x36, 0x3D, 0x3E, 0x46, 0x45, 0x4E, 0x55, 0x66, 0x0D,
    0x15, 0x1D, 0x24, 0x2D, 0x2C, 0x35, 0x3C, 0x43, 0x44, 0x4D, 0x54, 0x5B, 0x5A, 0x14, 0x1C, 0x1B,
    0x23, 0x2B, 0x34, 0x33, 0x3B, 0x42, 0x4B, 0x4C, 0x52, 0x0E, 0x12, 0x5D, 0x1A, 0x22, 0x21, 0x2A,
    0x32, 0x31, 0x3A, 0x41, 0x49, 0x4A, 0x59, 0x7C, 0x11, 0x29, 0x58, 0x05, 0x06, 0x04, 0x0C, 0x03,
    0x0B, 0x83, 0x0A, 0x01, 0x09, 0x77, 0x7E, 0x6C, 0x75, 0x7D, 0x7B, 0x6B, 0x73, 0x74, 0x79, 0x69,
    0x72, 0x7A, 0x70, 0x71, 0, 0, 0x61, 0x78, 0x07,
};

/* Keys sent with an E0 prefix: evdev, set 1, set 2. */
static const struct { uint16_t evdev; uint8_t set1, set2; } extended[] = {
    { KEY_KPENTER, 0x1C, 0x5A }, { KEY_RIGHTCTRL, 0x1D, 0x14 }, { KEY_KPSLASH, 0x35, 0x4A },
    { KEY_RIGHTALT, 0x38, 0x11 }, { KEY_HOME, 0x47, 0x6C }, { KEY_UP, 0x48, 0x75 },
    { KEY_PAGEUP, 0x49, 0x7D }, { KEY_LEFT, 0x4B, 0x6B }, { KEY_RIGHT, 0x4D, 0x74 },
    { KEY_END, 0x4F, 0x69 }, { KEY_DOWN, 0x50, 0x72 }, { KEY_PAGEDOWN, 0x51, 0x7A },
    { KEY_INSERT, 0x52, 0x70 }, { KEY_DELETE, 0x53, 0x71 }, { KEY_LEFTMETA, 0x5B, 0x1F },
    { KEY_RIGHTMETA, 0x5C, 0x27 }, { KEY_COMPOSE, 0x5D, 0x2F }, { KEY_SYSRQ, 0x37, 0x7C },
    { KEY_MUTE, 0x20, 0x23 }, { KEY_VOLUMEDOWN, 0x2E, 0x21 }, { KEY_VOLUMEUP, 0x30, 0x32 },
    { KEY_POWER, 0x5E, 0x37 },
};

void ps2_kbd_reset(struct ps2_kbd *k)
{
    bool translate = k->translate;
    memset(k, 0, sizeof(*k));
    k->translate = translate;
    k->set = 2;
    k->scanning = true;
}

bool ps2_kbd_write(struct ps2_kbd *k, uint8_t b)
{
    uint8_t cmd = k->pending;
    k->pending = 0;
    if (cmd) {
        put(&k->q, 0xFA);
        if (cmd == 0xED) {
            uint8_t old = k->leds;
            k->leds = b & 7;
            return old != k->leds;
        }
        if (cmd == 0xF0) {
            if (b == 0)
                put(&k->q, k->translate ? (k->set == 1 ? 0x43 : 0x41) : k->set);
            else if (b == 1 || b == 2)
                k->set = b;
        }
        return false;
    }
    switch (b) {
    case 0xED: case 0xF0: case 0xF3:           /* LEDs, scancode set, typematic: a parameter follows */
        k->pending = b;
        put(&k->q, 0xFA);
        break;
    case 0xEE:
        put(&k->q, 0xEE);
        break;
    case 0xF2:                                 /* identify: MF2 keyboard */
        put(&k->q, 0xFA);
        put(&k->q, 0xAB);
        put(&k->q, k->translate ? 0x41 : 0x83);
        break;
    case 0xF4: k->scanning = true; put(&k->q, 0xFA); break;
    case 0xF5: k->scanning = false; put(&k->q, 0xFA); break;
    case 0xF6: k->scanning = true; k->set = 2; put(&k->q, 0xFA); break;
    case 0xFF: {
        uint8_t leds = k->leds;
        ps2_kbd_reset(k);
        put(&k->q, 0xFA);
        put(&k->q, 0xAA);
        return leds != 0;
    }
    default:
        put(&k->q, 0xFA);
    }
    return false;
}

void ps2_kbd_key(struct ps2_kbd *k, uint32_t evdev, bool down)
{
    if (!k->scanning || space(&k->q) < 8)
        return;
    /* With translation the controller turns set 2 into set 1, so the
     * guest sees set 1 either way. */
    bool s1 = k->translate || k->set == 1;
    if (evdev == KEY_PAUSE) {
        static const uint8_t p1[] = { 0xE1, 0x1D, 0x45, 0xE1, 0x9D, 0xC5 };
        static const uint8_t p2[] = { 0xE1, 0x14, 0x77, 0xE1, 0xF0, 0x14, 0xF0, 0x77 };
        if (down)                              /* Pause has no break code */
            for (unsigned i = 0; i < (s1 ? sizeof(p1) : sizeof(p2)); i++)
                put(&k->q, s1 ? p1[i] : p2[i]);
        return;
    }
    uint8_t code = 0;
    bool e0 = false;
    if (evdev < sizeof(set2) && set2[evdev]) {
        code = s1 ? (uint8_t)evdev : set2[evdev];
    } else {
        for (unsigned i = 0; i < sizeof(extended) / sizeof(extended[0]); i++)
            if (extended[i].evdev == evdev) {
                code = s1 ? extended[i].set1 : extended[i].set2;
                e0 = true;
            }
    }
    if (!code)
        return;
    if (e0)
        put(&k->q, 0xE0);
    if (s1) {
        put(&k->q, down ? code : (uint8_t)(code | 0x80));
    } else {
        if (!down)
            put(&k->q, 0xF0);
        put(&k->q, code);
    }
}

/* ---- mouse ---- */

void ps2_mouse_reset(struct ps2_mouse *m)
{
    memset(m, 0, sizeof(*m));
    m->rate = 100;
    m->resolution = 2;
}

static void mouse_packet(struct ps2_mouse *m, int dx, int dy, int dz)
{
    uint8_t b0 = (uint8_t)(0x08 | (m->buttons & 7) | (dx < 0 ? 0x10 : 0) | (dy < 0 ? 0x20 : 0));
    put(&m->q, b0);
    put(&m->q, (uint8_t)dx);
    put(&m->q, (uint8_t)dy);
    if (m->id == 3)
        put(&m->q, (uint8_t)(int8_t)dz);         /* a signed byte on the IntelliMouse */
}

static int clamp(int32_t v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : (int)v;
}

void ps2_mouse_event(struct ps2_mouse *m, int32_t dx, int32_t dy, int32_t wheel, uint32_t buttons)
{
    uint8_t b = (uint8_t)(((buttons & DC_BUTTON_LEFT) ? 1 : 0) | ((buttons & DC_BUTTON_RIGHT) ? 2 : 0) |
                          ((buttons & DC_BUTTON_MIDDLE) ? 4 : 0));
    bool changed = b != m->buttons;
    m->buttons = b;
    if (!m->reporting || m->remote)
        return;
    /* PS/2 counts y upwards and the IntelliMouse wheel downwards. */
    int32_t y = dy > 0x10000 ? -0x10000 : dy < -0x10000 ? 0x10000 : -dy;
    int32_t x = clamp(dx, -0x10000, 0x10000), z = clamp(-wheel, -0x100, 0x100);
    unsigned psize = m->id == 3 ? 4 : 3;
    do {
        if (space(&m->q) < psize)
            return;
        int px = clamp(x, -256, 255), py = clamp(y, -256, 255), pz = m->id == 3 ? clamp(z, -8, 7) : 0;
        mouse_packet(m, px, py, pz);
        x -= px;
        y -= py;
        z -= pz;
        changed = false;
    } while (x || y || (m->id == 3 && z) || changed);
}

void ps2_mouse_write(struct ps2_mouse *m, uint8_t b)
{
    uint8_t cmd = m->pending;
    m->pending = 0;
    if (cmd) {
        put(&m->q, 0xFA);
        if (cmd == 0xE8) {
            m->resolution = b & 3;
        } else if (cmd == 0xF3) {
            m->rate = b;
            m->rates[0] = m->rates[1];
            m->rates[1] = m->rates[2];
            m->rates[2] = b;
            if (m->rates[0] == 200 && m->rates[1] == 100 && m->rates[2] == 80)
                m->id = 3;
        }
        return;
    }
    switch (b) {
    case 0xE8: case 0xF3:                      /* resolution, sample rate: a parameter follows */
        m->pending = b;
        put(&m->q, 0xFA);
        break;
    case 0xE6: m->scaling = 0; put(&m->q, 0xFA); break;
    case 0xE7: m->scaling = 1; put(&m->q, 0xFA); break;
    case 0xE9:                                 /* status request */
        put(&m->q, 0xFA);
        put(&m->q, (uint8_t)((m->remote ? 0x40 : 0) | (m->reporting ? 0x20 : 0) | (m->scaling ? 0x10 : 0) |
                             (m->buttons & 1) << 2 | (m->buttons & 4) >> 1 | (m->buttons & 2) >> 1));
        put(&m->q, m->resolution);
        put(&m->q, m->rate);
        break;
    case 0xEA: m->remote = false; put(&m->q, 0xFA); break;
    case 0xF0: m->remote = true; put(&m->q, 0xFA); break;
    case 0xEB:                                 /* read data (remote mode) */
        put(&m->q, 0xFA);
        mouse_packet(m, 0, 0, 0);
        break;
    case 0xF2:
        put(&m->q, 0xFA);
        put(&m->q, m->id);
        break;
    case 0xF4: m->reporting = true; put(&m->q, 0xFA); break;
    case 0xF5: m->reporting = false; put(&m->q, 0xFA); break;
    case 0xF6: {
        uint8_t id = m->id;
        ps2_mouse_reset(m);
        m->id = id;
        put(&m->q, 0xFA);
        break;
    }
    case 0xFF:
        ps2_mouse_reset(m);
        put(&m->q, 0xFA);
        put(&m->q, 0xAA);
        put(&m->q, 0x00);
        break;
    default:                                   /* wrap mode and the rest: acked */
        put(&m->q, 0xFA);
    }
}
