/* The 16550A as a driver sees it: scratch register, divisor latch, FIFO
 * identification, loopback echo, then plain output the host reads. */
#include "payload.h"

#define COM1 0x3F8

int payload_main(void)
{
    serial_init();
    outb(COM1 + 7, 0x5A);
    CHECK(inb(COM1 + 7) == 0x5A, "scratch register does not hold a value");
    outb(COM1 + 3, 0x83);
    outb(COM1 + 0, 0x0C);
    CHECK(inb(COM1 + 0) == 0x0C, "divisor latch low byte not readable");
    outb(COM1 + 0, 0x01);
    outb(COM1 + 3, 0x03);
    CHECK((inb(COM1 + 2) & 0xC0) == 0xC0, "IIR does not report enabled FIFOs (not a 16550A)");
    CHECK(inb(COM1 + 5) & 0x60, "LSR: transmitter not empty at start");

    outb(COM1 + 4, 0x10);                      /* loopback */
    const char *probe = "loop";
    for (const char *p = probe; *p; p++)
        outb(COM1, (uint8_t)*p);
    for (const char *p = probe; *p; p++) {
        CHECK(inb(COM1 + 5) & 0x01, "loopback: no data ready");
        CHECK(inb(COM1) == (uint8_t)*p, "loopback: wrong byte echoed");
    }
    CHECK(!(inb(COM1 + 5) & 0x01), "loopback: extra data");
    outb(COM1 + 4, 0x0B);

    puts_serial("serial ok: the quick brown fox jumps over the lazy dog\n");
    return 0;
}
