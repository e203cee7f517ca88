/* The task priority register as 64-bit guests drive it: CR8, written while
 * interrupts are off and an interrupt waits in the local APIC (what every
 * OVMF interrupt handler does on its way out, and Windows' IRQL changes).
 * A self-IPI is left pending with IF=0; first without, then with a CR8
 * write before STI, the interrupt must arrive exactly once; CR8 = 15 must
 * hold it back until CR8 drops again.
 * In the QEMU rig (TCG, nested SVM) the CR8 write with the interrupt pending
 * aborts QEMU 7.2 itself (tcg_handle_interrupt: BQL assertion), which is why
 * OVMF cannot boot there: run this payload inside the rig to see it. */
#include "payload.h"

#define LAPIC        0xFEE00000UL
#define LAPIC_EOI    0x0B0
#define LAPIC_SVR    0x0F0
#define LAPIC_ICR_LO 0x300
#define VECTOR       0x40

volatile unsigned tpr_hits;

/* The handler counts and EOIs; iretq restores the caller's IF. */
__asm__(".globl tpr_isr\n"
        "tpr_isr:\n"
        "  lock incl tpr_hits(%rip)\n"
        "  push %rax\n"
        "  mov $0xFEE000B0, %eax\n"
        "  movl $0, (%rax)\n"
        "  pop %rax\n"
        "  iretq\n");
void tpr_isr(void);

struct __attribute__((packed)) gate {
    uint16_t off0, sel;
    uint8_t ist, type;
    uint16_t off1;
    uint32_t off2, zero;
};
static struct gate idt[256];

static void idt_setup(void)
{
    uint16_t cs;
    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    uint64_t h = (uint64_t)(uintptr_t)tpr_isr;
    idt[VECTOR] = (struct gate){ .off0 = (uint16_t)h, .sel = cs, .type = 0x8E,
                                 .off1 = (uint16_t)(h >> 16), .off2 = (uint32_t)(h >> 32) };
    struct __attribute__((packed)) { uint16_t limit; uint64_t base; } d = { sizeof(idt) - 1, (uint64_t)(uintptr_t)idt };
    __asm__ volatile("lidt %0" :: "m"(d));
}

static void write_cr8(uint64_t v) { __asm__ volatile("mov %0, %%cr8" :: "r"(v) : "memory"); }

static uint64_t read_cr8(void)
{
    uint64_t v;
    __asm__ volatile("mov %%cr8, %0" : "=r"(v));
    return v;
}

/* A fixed self-IPI, left pending while IF=0. */
static void self_ipi(void)
{
    mmio_write(uint32_t, LAPIC + LAPIC_ICR_LO, (1u << 18) | VECTOR);
}

static void spin(void)
{
    for (volatile unsigned i = 0; i < 20000; i++)
        ;
}

/* Interrupts on for a while: how long a pending interrupt takes to come
 * in after STI depends on the hypervisor's interrupt window. */
static void open_window(void)
{
    __asm__ volatile("sti" ::: "memory");
    spin();
    __asm__ volatile("cli" ::: "memory");
}

static void expect_hits(unsigned want, const char *msg)
{
    spin();
    CHECK(tpr_hits == want, msg);
}

int payload_main(void)
{
    serial_init();
    idt_setup();
    mmio_write(uint32_t, LAPIC + LAPIC_SVR, 0x1FF);     /* APIC on, spurious vector 0xFF */

    self_ipi();
    expect_hits(0, "an interrupt arrived with IF=0");
    open_window();
    expect_hits(1, "the pending interrupt did not arrive after STI");
    puts_serial("tpr: pending interrupt delivered\n");

    self_ipi();
    puts_serial("tpr: writing CR8 with an interrupt pending\n");
    write_cr8(0);
    open_window();
    expect_hits(2, "the interrupt pending across a CR8 write did not arrive");
    puts_serial("tpr: CR8 write with an interrupt pending ok\n");

    write_cr8(15);
    CHECK(read_cr8() == 15, "CR8 does not read back 15");
    self_ipi();
    open_window();
    expect_hits(2, "CR8 = 15 did not hold back vector 0x40");
    write_cr8(0);
    open_window();
    expect_hits(3, "lowering CR8 did not release the held interrupt");
    puts_serial("tpr ok\n");
    return 0;
}
