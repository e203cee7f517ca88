#!/usr/bin/env python3
"""Boot-time and memory benchmark: domus-vmm against QEMU (microvm and q35)
booting the same Debian kernel and busybox initramfs with 2 vCPUs and
256 MiB, three runs each, in one run on one machine (inside the rig when
the machine has no VMX/SVM of its own).

Measures the wall time from exec to the first line guest userspace prints,
and the VMM's resident memory beyond guest RAM (the RSS of every mapping
except the guest-RAM mapping), sampled once userspace is up.
Prints medians and ratios. Not a test: figures, not pass/fail."""
import os
import time

import benchlib

MARKER = b'DOMUS-BENCH-USERSPACE-UP'
MEM_MIB = 256


def rss_beyond_guest_ram(pid):
    """KiB resident in all mappings except the one holding guest RAM (the
    largest mapping of at least the guest's size)."""
    maps, cur = [], None
    with open(f'/proc/{pid}/smaps') as f:
        for line in f:
            head = line.split()
            if '-' in head[0] and len(head[0].split('-')) == 2 and not head[0].endswith(':'):
                lo, hi = (int(x, 16) for x in head[0].split('-'))
                cur = {'size': hi - lo, 'rss': 0}
                maps.append(cur)
            elif head[0] == 'Rss:' and cur is not None:
                cur['rss'] = int(head[1])
    ram = max((m for m in maps if m['size'] >= MEM_MIB << 20), key=lambda m: m['size'], default=None)
    return sum(m['rss'] for m in maps if m is not ram)


def sample_rss(pid):
    time.sleep(0.5)                    # let the VMM settle before sampling memory
    return rss_beyond_guest_ram(pid)


def run_once(cmd):
    seen, rss = benchlib.run_until(cmd, [MARKER], 180, sample_rss)
    return seen.get(MARKER), rss


def main():
    a = benchlib.parser().parse_args()
    append = 'console=ttyS0 quiet panic=-1'
    common_qemu = ['qemu-system-x86_64', '-accel', 'kvm', '-cpu', 'host', '-m', str(MEM_MIB), '-smp', '2',
                   '-kernel', a.kernel, '-initrd', a.initrd, '-append', append,
                   '-nodefaults', '-no-user-config', '-display', 'none', '-serial', 'stdio', '-no-reboot']
    configs = [
        ('domus-vmm', [a.vmm, '--memory', f'{MEM_MIB}M', '--cpus', '2', '--kernel', a.kernel,
                       '--initrd', a.initrd, '--append', append, '--serial', 'stdio']),
        ('qemu-microvm', common_qemu[:1] + ['-M', 'microvm'] + common_qemu[1:]),
        ('qemu-q35', common_qemu[:1] + ['-M', 'q35'] + common_qemu[1:]),
    ]
    results = {}
    for run, name, cmd in benchlib.interleaved(configs, a.runs):
        boot, rss = run_once(cmd)
        results.setdefault(name, []).append((boot, rss))
        print(f'run {run} {name}: boot {benchlib.show(boot, "{:.3f} s")}, '
              f'RSS beyond guest RAM {rss} KiB', flush=True)
    med = benchlib.medians(results)
    print('\nmedians (boot to first userspace line, VMM RSS beyond guest RAM):')
    for name, (b, r) in med.items():
        print(f'  {name:14s} {benchlib.show(b, "{:7.3f} s")}  {benchlib.show(r and r / 1024, "{:6.1f} MiB")}')
    d = med['domus-vmm']
    for ref in ('qemu-microvm', 'qemu-q35'):
        q = med[ref]
        benchlib.ratio(f'boot domus-vmm/{ref}', d[0], q[0])
        benchlib.ratio(f'RSS  domus-vmm/{ref}', d[1], q[1])


if __name__ == '__main__':
    main()
