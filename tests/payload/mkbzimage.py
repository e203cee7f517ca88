#!/usr/bin/env python3
"""Wraps a flat 64-bit payload (linked at 0x100200) in a minimal bzImage
header (boot protocol 2.12, XLF_KERNEL_64) so domus-vmm boots it like Linux."""
import struct
import sys

def main():
    src, dst = sys.argv[1], sys.argv[2]
    code = open(src, 'rb').read()
    setup = bytearray(1024)                 # boot sector + one setup sector
    setup[0x1F1] = 1                        # setup_sects
    struct.pack_into('<H', setup, 0x1FE, 0xAA55)
    setup[0x200] = 0xEB                     # jmp: header length for loaders
    setup[0x201] = 0x66
    setup[0x202:0x206] = b'HdrS'
    struct.pack_into('<H', setup, 0x206, 0x020C)
    struct.pack_into('<I', setup, 0x22C, 0x7FFFFFFF)   # initrd_addr_max
    struct.pack_into('<I', setup, 0x230, 0x200000)     # kernel_alignment
    struct.pack_into('<H', setup, 0x236, 0x1)          # XLF_KERNEL_64
    struct.pack_into('<I', setup, 0x238, 2047)         # cmdline_size
    struct.pack_into('<I', setup, 0x260, 0x200 + len(code) + 0x100000)  # init_size (+bss)
    with open(dst, 'wb') as f:
        f.write(setup)
        f.write(b'\xf4' * 0x200)            # 32-bit entry unused: hlt
        f.write(code)

if __name__ == '__main__':
    main()
