#!/usr/bin/env python3
"""Firmware boot benchmark: the time from exec to the guest kernel's first
line on the serial port ("Linux version ...") when SeaBIOS boots a GRUB ISO
from a virtio disk, domus-vmm --firmware bios against QEMU q35 with the
same SeaBIOS image, ISO, 2 vCPUs and 512 MiB, three runs each, interleaved,
in one run on one machine. Both VMMs give SeaBIOS no screen, so its console
and GRUB's go to the serial port. Prints medians and the ratio.
Not a test: figures, not pass/fail."""
import argparse
import statistics

from benchlib import run_until

MARKER = b'Linux version'
GRUB_MARKER = b'Domus bench'
MEM_MIB = 512


def run_once(cmd):
    seen, _ = run_until(cmd, [GRUB_MARKER, MARKER], 300)
    return seen.get(MARKER), seen.get(GRUB_MARKER)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--vmm', required=True)
    ap.add_argument('--iso', required=True)
    ap.add_argument('--bios', required=True)
    ap.add_argument('--runs', type=int, default=3)
    a = ap.parse_args()
    configs = [
        ('domus-vmm', [a.vmm, '--memory', f'{MEM_MIB}M', '--cpus', '2', '--firmware', f'bios:{a.bios}',
                       '--name', 'bench', '--disk', f'{a.iso},readonly', '--serial', 'stdio', '--vga', 'none',
                       '--shutdown-timeout', '0']),
        ('qemu-q35', ['qemu-system-x86_64', '-M', 'q35', '-accel', 'kvm', '-cpu', 'host',
                      '-m', str(MEM_MIB), '-smp', '2', '-bios', a.bios,
                      '-nodefaults', '-no-user-config', '-nographic', '-serial', 'stdio',
                      '-smbios', 'type=1,serial=bench',
                      '-drive', f'file={a.iso},if=virtio,format=raw,readonly=on', '-no-reboot']),
    ]
    results = {}
    for run in range(a.runs):
        for name, cmd in configs:
            t, grub = run_once(cmd)
            results.setdefault(name, []).append(t)
            print(f'run {run + 1} {name}: GRUB menu {grub if grub is None else f"{grub:.2f} s"}, '
                  f'first kernel line {t if t is None else f"{t:.2f} s"}', flush=True)
    med = {n: (statistics.median([x for x in v if x is not None]) if any(x is not None for x in v) else None)
           for n, v in results.items()}
    print('\nmedians (exec to first guest kernel line through SeaBIOS + GRUB):')
    for n, m in med.items():
        print(f'  {n:10s} {m if m is None else f"{m:7.2f} s"}')
    if med['domus-vmm'] and med['qemu-q35']:
        print(f'ratio domus-vmm/qemu-q35: {med["domus-vmm"] / med["qemu-q35"]:.2f}x')


if __name__ == '__main__':
    main()
