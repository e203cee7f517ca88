#!/usr/bin/env python3
"""Firmware boot benchmark: the time from exec to the guest kernel's first
line on the serial port ("Linux version ...") when SeaBIOS boots a GRUB ISO
from a virtio disk, domus-vmm --firmware bios against QEMU q35 with the
same SeaBIOS image, ISO, 2 vCPUs and 512 MiB, three runs each, interleaved,
in one run on one machine. Both VMMs give SeaBIOS no screen, so its console
and GRUB's go to the serial port. With --ovmf-code/--ovmf-vars the same
through OVMF (each run from a fresh copy of the variable template), except
in the QEMU rig, where OVMF aborts the rig's QEMU (docs/uefi.md).
Prints medians and the ratios. Not a test: figures, not pass/fail."""
import argparse
import os
import shutil
import tempfile

import benchlib
from benchlib import run_until

MARKER = b'Linux version'
GRUB_MARKER = b'Domus bench'
MEM_MIB = 512


def run_once(cmd, vars_template=None):
    """@cmd may name '{vars}': a fresh copy of @vars_template for this run."""
    with tempfile.TemporaryDirectory() as d:
        if vars_template:
            v = os.path.join(d, 'vars.fd')
            shutil.copyfile(vars_template, v)
            cmd = [c.replace('{vars}', v) for c in cmd]
        seen, _ = run_until(cmd, [GRUB_MARKER, MARKER], 300)
    return seen.get(MARKER), seen.get(GRUB_MARKER)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--vmm', required=True)
    ap.add_argument('--iso', required=True)
    ap.add_argument('--bios', required=True)
    ap.add_argument('--ovmf-code')
    ap.add_argument('--ovmf-vars')
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
    if a.ovmf_code and os.environ.get('DOMUS_RIG_TCG'):
        print('OVMF left out: in the QEMU rig OVMF aborts the rig\'s own QEMU (docs/uefi.md)', flush=True)
    elif a.ovmf_code:
        configs += [
            ('domus-uefi', [a.vmm, '--memory', f'{MEM_MIB}M', '--cpus', '2', '--firmware', f'uefi:{a.ovmf_code}',
                            '--nvram', '{vars}', '--name', 'bench', '--disk', f'{a.iso},readonly',
                            '--serial', 'stdio', '--vga', 'none', '--shutdown-timeout', '0']),
            ('qemu-uefi', ['qemu-system-x86_64', '-M', 'q35', '-accel', 'kvm', '-cpu', 'host',
                           '-m', str(MEM_MIB), '-smp', '2',
                           '-drive', f'if=pflash,format=raw,readonly=on,file={a.ovmf_code}',
                           '-drive', 'if=pflash,format=raw,file={vars}',
                           '-nodefaults', '-no-user-config', '-nographic', '-serial', 'stdio',
                           '-smbios', 'type=1,serial=bench',
                           '-drive', f'file={a.iso},if=virtio,format=raw,readonly=on', '-no-reboot']),
        ]
    results = {}
    for run, name, cmd in benchlib.interleaved(configs, a.runs):
        t, grub = run_once(cmd, a.ovmf_vars if name.endswith('-uefi') else None)
        results.setdefault(name, []).append(t)
        print(f'run {run} {name}: GRUB menu {benchlib.show(grub, "{:.2f} s")}, '
              f'first kernel line {benchlib.show(t, "{:.2f} s")}', flush=True)
    med = {n: benchlib.median(v) for n, v in results.items()}
    print('\nmedians (exec to first guest kernel line through the firmware + GRUB):')
    for n, m in med.items():
        print(f'  {n:10s} {benchlib.show(m, "{:7.2f} s")}')
    for fw, ours, theirs in (('SeaBIOS', 'domus-vmm', 'qemu-q35'), ('OVMF', 'domus-uefi', 'qemu-uefi')):
        benchlib.ratio(f'{fw} {ours}/{theirs}', med.get(ours), med.get(theirs))


if __name__ == '__main__':
    main()
