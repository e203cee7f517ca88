/* A triple fault: load an empty IDT and fault. domus-vmm must print the
 * registers and exit with status 3. */
#include "payload.h"

int payload_main(void)
{
    serial_init();
    puts_serial("about to triple fault\n");
    struct __attribute__((packed)) { uint16_t limit; uint64_t base; } idt = { 0, 0 };
    __asm__ volatile("lidt %0; int3" :: "m"(idt));
    return 0;
}
