/* The EDID virtio-gpu hands the guest: one monitor whose preferred (first
 * detailed) timing is the size the viewer asked for, so the guest's mode
 * follows the window. Timings use CVT reduced-blanking-like porches; only
 * the active size matters to a virtual display. */
#include "virtio_gpu.h"

#include <string.h>

static void put_dtd(uint8_t *d, uint32_t w, uint32_t h)
{
    uint32_t hblank = 160, hfront = 48, hsync = 32;
    uint32_t vblank = h / 20 + 3 < 23 ? 23 : h / 20 + 3, vfront = 3, vsync = 5;
    uint64_t clock = (uint64_t)(w + hblank) * (h + vblank) * 60 / 10000;   /* 10 kHz units */
    if (clock > 0xFFFF)
        clock = 0xFFFF;
    uint32_t wmm = w * 254 / 960, hmm = h * 254 / 960;                     /* as at 96 dpi */
    d[0] = clock & 0xFF;
    d[1] = clock >> 8;
    d[2] = w & 0xFF;
    d[3] = hblank & 0xFF;
    d[4] = (uint8_t)(((w >> 8) & 0xF) << 4 | ((hblank >> 8) & 0xF));
    d[5] = h & 0xFF;
    d[6] = vblank & 0xFF;
    d[7] = (uint8_t)(((h >> 8) & 0xF) << 4 | ((vblank >> 8) & 0xF));
    d[8] = hfront & 0xFF;
    d[9] = hsync & 0xFF;
    d[10] = (uint8_t)((vfront & 0xF) << 4 | (vsync & 0xF));
    d[11] = (uint8_t)(((hfront >> 8) & 3) << 6 | ((hsync >> 8) & 3) << 4 | ((vfront >> 4) & 3) << 2 | ((vsync >> 4) & 3));
    d[12] = wmm & 0xFF;
    d[13] = hmm & 0xFF;
    d[14] = (uint8_t)(((wmm >> 8) & 0xF) << 4 | ((hmm >> 8) & 0xF));
    d[17] = 0x1E;                    /* digital separate sync, +hsync +vsync */
}

void virtio_gpu_edid(uint8_t e[128], uint32_t w, uint32_t h)
{
    static const uint8_t header[8] = { 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0 };
    static const uint8_t chroma[10] = { 0xEE, 0x91, 0xA3, 0x54, 0x4C, 0x99, 0x26, 0x0F, 0x50, 0x54 };
    memset(e, 0, 128);
    memcpy(e, header, 8);
    uint16_t mfg = ('D' - '@') << 10 | ('M' - '@') << 5 | ('S' - '@');   /* "DMS" */
    e[8] = mfg >> 8;
    e[9] = mfg & 0xFF;
    e[10] = 0x01;                    /* product code */
    e[16] = 1;                       /* week */
    e[17] = 2024 - 1990;
    e[18] = 1;                       /* EDID 1.4 */
    e[19] = 4;
    e[20] = 0x80;                    /* digital input */
    e[21] = (uint8_t)((w * 254 / 960 + 5) / 10);   /* cm */
    e[22] = (uint8_t)((h * 254 / 960 + 5) / 10);
    e[23] = 120;                     /* gamma 2.2 */
    e[24] = 0x06;                    /* sRGB, preferred timing is native */
    memcpy(e + 25, chroma, sizeof(chroma));
    /* Standard timings at 60 Hz, so the guest also offers the usual sizes
     * (Linux ignores its built-in mode list when there is an EDID). */
    static const struct { uint16_t w; uint8_t aspect; } std[8] = {   /* aspect: 0 16:10, 1 4:3, 2 5:4, 3 16:9 */
        { 1920, 3 }, { 1680, 0 }, { 1600, 3 }, { 1440, 0 }, { 1366, 3 }, { 1280, 2 }, { 1280, 3 }, { 800, 1 },
    };
    for (int i = 0; i < 8; i++) {
        e[38 + 2 * i] = (uint8_t)(std[i].w / 8 - 31);
        e[39 + 2 * i] = (uint8_t)(std[i].aspect << 6);           /* + (60 - 60) Hz */
    }
    put_dtd(e + 54, w, h);
    static const uint8_t name[18] = { 0, 0, 0, 0xFC, 0, 'D', 'o', 'm', 'u', 's', '\n', ' ', ' ', ' ', ' ', ' ', ' ', ' ' };
    memcpy(e + 72, name, sizeof(name));
    e[90 + 3] = 0x10;                /* dummy descriptors */
    e[108 + 3] = 0x10;
    uint8_t sum = 0;
    for (int i = 0; i < 127; i++)
        sum += e[i];
    e[127] = (uint8_t)(0x100 - sum);
}
