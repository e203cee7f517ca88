#!/usr/bin/env python3
"""Standard VGA benchmark, domus-vmm against QEMU q35 with -vga std, same
SeaBIOS and vgabios images, no boot disk, one VNC client each, side by side
in one run:
  - time from exec until SeaBIOS's "No bootable device" text is on the VNC
    screen (read by tests/rig/vga-text.py from a libvncclient dump);
  - CPU time the VMM (and, for domus, its domus-vnc) spends in the next
    SECONDS while that text screen stands still and the client stays
    connected: the cost of an idle text console.
Not a test: figures, not pass/fail."""
import argparse
import os
import statistics
import subprocess
import sys
import time

import benchlib

TEXT = 'No bootable device'


def tree_cpu(pid):
    """utime + stime in seconds of @pid and its descendants."""
    tick = os.sysconf('SC_CLK_TCK')
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            f = open(f'/proc/{p}/stat').read().rsplit(')', 1)[1].split()
            total += (int(f[11]) + int(f[12])) / tick
            for t in os.listdir(f'/proc/{p}/task'):
                todo += [int(c) for c in open(f'/proc/{p}/task/{t}/children').read().split()]
        except (FileNotFoundError, ProcessLookupError, IndexError):
            pass
    return total


def screen_has(a, port, text):
    dump = os.path.join(a.work, 'screen.ppm')
    r = subprocess.run([a.probe, f'127.0.0.1:{port}', '--timeout', '10', '--hold', '1', '--dump', dump],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return r.returncode == 0 and subprocess.run(
        [sys.executable, a.vga_text, dump, a.vgabios, text], stdout=subprocess.DEVNULL).returncode == 0


def run_once(a, name, cmd, port):
    t0 = time.monotonic()
    p = benchlib.popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        shown = None
        while time.monotonic() - t0 < 120 and p.poll() is None:
            if screen_has(a, port, TEXT):
                shown = time.monotonic() - t0
                break
            time.sleep(0.5)
        if shown is None:
            return None, None
        client = benchlib.popen([a.probe, f'127.0.0.1:{port}', '--timeout', '10', '--hold', str(a.seconds + 2)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
        c0 = tree_cpu(p.pid)
        time.sleep(a.seconds)
        cpu = tree_cpu(p.pid) - c0
        client.wait()
        return shown, cpu
    finally:
        p.kill()
        p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--vmm', required=True)
    ap.add_argument('--probe', required=True)
    ap.add_argument('--vga-text', required=True)
    ap.add_argument('--work', required=True)
    ap.add_argument('--bios', default='/usr/share/seabios/bios-256k.bin')
    ap.add_argument('--vgabios', default='/usr/share/seabios/vgabios-stdvga.bin')
    ap.add_argument('--runs', type=int, default=3)
    ap.add_argument('--seconds', type=float, default=10)
    a = ap.parse_args()
    configs = [
        ('domus-vmm', [a.vmm, '--memory', '256M', '--firmware', f'bios:{a.bios}', '--vga', f'std,rom={a.vgabios}',
                       '--display', 'vnc:127.0.0.1:5977', '--serial', 'none', '--name', 'bench'], 5977),
        ('qemu-q35', ['qemu-system-x86_64', '-M', 'q35', '-accel', 'kvm', '-m', '256',
                      '-bios', a.bios, '-nodefaults', '-no-user-config', '-vga', 'std',
                      '-global', f'VGA.romfile={a.vgabios}', '-vnc', '127.0.0.1:78',
                      '-serial', 'none', '-monitor', 'none'], 5978),
    ]
    res = {}
    for run, name, cmd, port in benchlib.interleaved(configs, a.runs):
        shown, cpu = run_once(a, name, cmd, port)
        res.setdefault(name, []).append((shown, cpu))
        print(f'run {run} {name}: text on VNC after {benchlib.show(shown, "{:.2f} s")}, '
              f'CPU in {a.seconds:.0f} s idle {benchlib.show(cpu, "{:.3f} s")}', flush=True)
    med = {}
    for name, v in res.items():
        ok = [x for x in v if x[0] is not None]
        med[name] = (statistics.median(x[0] for x in ok), statistics.median(x[1] for x in ok)) if ok else None
    print(f'\nmedians (SeaBIOS + vgabios, text screen over VNC; idle window {a.seconds:.0f} s):')
    for name, m in med.items():
        print(f'  {name:10s} ' + ('no result' if m is None else
                                  f'text shown {m[0]:6.2f} s   idle CPU {m[1]:6.3f} s ({100 * m[1] / a.seconds:.2f}%)'))
    d, q = med.get('domus-vmm'), med.get('qemu-q35')
    if d and q:
        print(f'ratio domus-vmm/qemu-q35: time to text {d[0] / q[0]:.2f}x, '
              f'idle CPU {d[1] / q[1] if q[1] else float("nan"):.3f}x')


if __name__ == '__main__':
    main()
