/* Driven over COM1 by tests/payload/snapshot-test.py: a marker kept in RAM
 * and a counter kept in a register across the polling loop, so a snapshot
 * that loses RAM, vCPU state or the UART's state shows in the replies.
 *   'a'..'z'  set the marker and reply "marker X n=N"
 *   'g'       also (with a virtio-gpu) show frame 1 of gpu_test.h and the
 *             cursor at CUR1, checked by the host through the display channel
 *   'h'       also draw frame 2's box and move the cursor to CUR2
 *   '?'       reply with the current marker
 *   'q'       power off */
#include "gpu.h"

#define COM1 0x3F8

static volatile char marker = '-';

static char serial_getc(void)
{
    while (!(inb(COM1 + 5) & 0x01))
        ;
    return (char)inb(COM1);
}

int payload_main(void)
{
    /* No serial_init(): its FIFO reset would drop a command the host sent
     * while the guest was still booting. The UART's power-on state works. */
    puts_serial("snapshot payload ready\n");
    uint64_t n = 0;                  /* lives in a register of the loop */
    for (;;) {
        char c = serial_getc();
        if (c == 'q')
            break;
        if (c >= 'a' && c <= 'z')
            marker = (char)(c - 'a' + 'A');
        else if (c != '?')
            continue;
        if ((c == 'g' || c == 'h') && pci_find(0x1AF4, 0x1050) > 0) {
            if (c == 'g') {
                gpu_init();
                gpu_show_frame1();
                gpu_show_cursor(GPU_TEST_CUR1_X, GPU_TEST_CUR1_Y);
            } else {
                gpu_show_box();
                gpu_move_cursor(GPU_TEST_CUR2_X, GPU_TEST_CUR2_Y);
            }
        }
        n++;
        puts_serial("marker ");
        putc_serial(marker);
        puts_serial(" n=");
        put_dec(n);
        puts_serial("\n");
    }
    puts_serial("PAYLOAD DONE\n");
    return 0;
}
