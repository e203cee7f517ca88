#!/usr/bin/env python3
"""Disk benchmark: the same guest reads and writes the same raw image with
dd (1 MiB blocks, O_DIRECT) on domus-vmm's AHCI and virtio-blk and on
QEMU q35's AHCI (ICH9) and virtio-blk, in one run on one machine (inside
the rig when the machine has no VMX/SVM of its own). The guest times each
dd with /proc/uptime and prints MB/s; this prints medians and the ratios
domus/QEMU per bus. Not a test."""
import argparse
import re
import statistics
import subprocess
import sys
import time

MEM_MIB = 256


def run_once(cmd):
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    buf = b''
    try:
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline and b'BENCH-DISK-DONE' not in buf:
            chunk = p.stdout.read1(4096)
            if not chunk:
                break
            buf += chunk
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
    ap = argparse.ArgumentParser()
    ap.add_argument('--vmm', required=True)
    ap.add_argument('--kernel', required=True)
    ap.add_argument('--initrd', required=True)
    ap.add_argument('--image', required=True)
    ap.add_argument('--runs', type=int, default=3)
    ap.add_argument('--mib', type=int, default=64)
    ap.add_argument('--cpus', type=int, default=1)
    a = ap.parse_args()
    append = f'console=ttyS0 quiet panic=-1 mib={a.mib}'
    vmm = lambda bus: [a.vmm, '--memory', f'{MEM_MIB}M', '--cpus', str(a.cpus), '--kernel', a.kernel,
                       '--initrd', a.initrd, '--append', append, '--serial', 'stdio', '--no-rng',
                       '--disk', f'{a.image},format=raw' + (',bus=ahci' if bus == 'ahci' else '')]
    qdev = {'ahci': ['-device', 'ide-hd,drive=d0,bus=ide.0'], 'virtio': ['-device', 'virtio-blk-pci,drive=d0']}
    qemu = lambda bus: ['qemu-system-x86_64', '-accel', 'kvm', '-cpu', 'host', '-M', 'q35', '-m', str(MEM_MIB),
                        '-smp', str(a.cpus), '-kernel', a.kernel, '-initrd', a.initrd, '-append', append,
                        '-nodefaults', '-no-user-config', '-display', 'none', '-serial', 'stdio', '-no-reboot',
                        '-drive', f'file={a.image},format=raw,if=none,id=d0,cache=writeback,aio=threads'] + qdev[bus]
    configs = [('domus-ahci', vmm('ahci')), ('qemu-ahci', qemu('ahci')),
               ('domus-virtio', vmm('virtio')), ('qemu-virtio', qemu('virtio'))]
    results = {}
    for run in range(a.runs):
        for name, cmd in configs:
            dev, w, r = run_once(cmd)
            results.setdefault(name, []).append((w, r))
            fmt = lambda v: '-' if v is None else f'{v:.1f} MB/s'
            print(f'run {run + 1} {name} ({dev}): write {fmt(w)}, read {fmt(r)}', flush=True)
    med = {}
    for name, rs in results.items():
        ws = [w for w, _ in rs if w]
        rd = [r for _, r in rs if r]
        med[name] = (statistics.median(ws) if ws else None, statistics.median(rd) if rd else None)
    print(f'\nmedians (dd {a.mib} MiB, 1 MiB blocks, O_DIRECT, raw image):')
    for name, (w, r) in med.items():
        print(f'  {name:13s} write {"-" if w is None else f"{w:8.1f} MB/s"}  read {"-" if r is None else f"{r:8.1f} MB/s"}')
    for bus in ('ahci', 'virtio'):
        d, q = med[f'domus-{bus}'], med[f'qemu-{bus}']
        for i, what in ((0, 'write'), (1, 'read')):
            if d[i] and q[i]:
                print(f'ratio {bus} {what} domus/qemu: {d[i] / q[i]:.2f}x (higher is better)')
    d, v = med['domus-ahci'], med['domus-virtio']
    for i, what in ((0, 'write'), (1, 'read')):
        if d[i] and v[i]:
            print(f'ratio domus {what} ahci/virtio-blk: {d[i] / v[i]:.2f}x')


if __name__ == '__main__':
    main()
