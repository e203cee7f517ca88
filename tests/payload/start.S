/* Entered in 64-bit mode with paging on (identity map of 4 GiB), as the
 * Linux boot protocol's 64-bit entry: RSI points at boot_params. */
    .section .text.entry, "ax"
    .globl _start
_start:
    cli
    lea stack_top(%rip), %rsp
    mov %rsi, %rdi
    call payload_main
    mov %eax, %edi
    call payload_exit
1:  hlt
    jmp 1b

    .section .bss
    .balign 16
    .skip 65536
stack_top:

    .section .note.GNU-stack, "", @progbits
