#!/usr/bin/env python3
"""Disk benchmark: the same guest reads and writes the same raw image with
dd (1 MiB blocks, O_DIRECT) on domus-vmm's AHCI and virtio-blk and on
QEMU q35's AHCI (ICH9) and virtio-blk, in one run on one machine (inside
the rig when the machine has no VMX/SVM of its own). The guest times each
dd with /proc/uptime and prints MB/s; this prints medians and the ratios
domus/QEMU per bus. Not a test."""
import re
import subprocess
import sys

import benchlib

MEM_MIB = 256


def run_once(cmd):
    p = benchlib.popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        buf = benchlib.read_until(p, b'BENCH-DISK-DONE', 900)
    finally:
        p.kill()
        p.wait()
    m = re.search(rb'BENCH-DISK dev=(\w+) write=(\d+) read=(\d+) mib=(\d+)', buf)
    if not m:
        sys.stderr.write(f'incomplete run of {cmd[0]}:\n{buf[-1500:].decode(errors="replace")}\n')
        return None, None, None
    mib = int(m.group(4))
    w, r = int(m.group(2)), int(m.group(3))   # centiseconds
    return m.group(1).decode(), mib * 1.048576 / (w / 100) if w else None, mib * 1.048576 / (r / 100) if r else None


def main():
    ap = benchlib.parser()
    ap.add_argument('--image', required=True)
    ap.add_argument('--mib', type=int, default=64)
    ap.add_argument('--cpus', type=int, default=1)
    a = ap.parse_args()
    append = f'console=ttyS0 quiet panic=-1 mib={a.mib}'
    vmm = lambda bus: benchlib.domus_cmd(a, MEM_MIB, a.cpus, append, '--no-rng',
                                         '--disk', f'{a.image},format=raw' + (',bus=ahci' if bus == 'ahci' else ''))
    qdev = {'ahci': ['-device', 'ide-hd,drive=d0,bus=ide.0'], 'virtio': ['-device', 'virtio-blk-pci,drive=d0']}
    qemu = lambda bus: benchlib.qemu_cmd(a, MEM_MIB, a.cpus, append, '-drive',
                                         f'file={a.image},format=raw,if=none,id=d0,cache=writeback,aio=threads',
                                         *qdev[bus])
    configs = [('domus-ahci', vmm('ahci')), ('qemu-ahci', qemu('ahci')),
               ('domus-virtio', vmm('virtio')), ('qemu-virtio', qemu('virtio'))]
    results = {}
    for run, name, cmd in benchlib.interleaved(configs, a.runs):
        dev, w, r = run_once(cmd)
        results.setdefault(name, []).append((w, r))
        print(f'run {run} {name} ({dev}): write {benchlib.show(w, "{:.1f} MB/s")}, '
              f'read {benchlib.show(r, "{:.1f} MB/s")}', flush=True)
    med = benchlib.medians(results)
    print(f'\nmedians (dd {a.mib} MiB, 1 MiB blocks, O_DIRECT, raw image):')
    for name, (w, r) in med.items():
        print(f'  {name:13s} write {benchlib.show(w, "{:8.1f} MB/s")}  read {benchlib.show(r, "{:8.1f} MB/s")}')
    for bus in ('ahci', 'virtio'):
        d, q = med[f'domus-{bus}'], med[f'qemu-{bus}']
        for i, what in ((0, 'write'), (1, 'read')):
            benchlib.ratio(f'{bus} {what} domus/qemu', d[i], q[i], 'higher')
    d, v = med['domus-ahci'], med['domus-virtio']
    for i, what in ((0, 'write'), (1, 'read')):
        benchlib.ratio(f'domus {what} ahci/virtio-blk', d[i], v[i])

if __name__ == '__main__':
    main()
