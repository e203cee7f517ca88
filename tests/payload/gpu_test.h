/* What the virtio_gpu payload draws and gpu-check expects: shared so the
 * two can never disagree. */
#pragma once
#include <stdint.h>

#define GPU_TEST_W 64
#define GPU_TEST_H 48
/* Frame 1: a gradient, so a misplaced row or column shows. */
static inline uint32_t gpu_test_pixel(unsigned x, unsigned y)
{
    return (x * 4u) << 16 | (y * 5u) << 8 | ((x ^ y) & 0xFFu);
}
/* Frame 2: this box turns white; only it is transferred and flushed. */
#define GPU_TEST_BOX_X 8
#define GPU_TEST_BOX_Y 20
#define GPU_TEST_BOX_W 16
#define GPU_TEST_BOX_H 8
/* The sizes gpu-check asks for after frame 1 and after frame 2. */
#define GPU_TEST_ASK1_W 800
#define GPU_TEST_ASK1_H 600
#define GPU_TEST_ASK2_W 640
#define GPU_TEST_ASK2_H 480
/* The cursor (payload-snapshot): a 16x16 ARGB image with its hot spot,
 * at CUR1 with frame 1 and moved to CUR2 with frame 2. */
#define GPU_TEST_CURSOR 16
static inline uint32_t gpu_test_cursor_pixel(unsigned i)
{
    return 0xFF000000u | ((i * 0x030507u) & 0xFFFFFFu);
}
#define GPU_TEST_HOT_X 2
#define GPU_TEST_HOT_Y 3
#define GPU_TEST_CUR1_X 5
#define GPU_TEST_CUR1_Y 7
#define GPU_TEST_CUR2_X 30
#define GPU_TEST_CUR2_Y 40
