#!/usr/bin/env python3
"""Live snapshot benchmark: domus-vmm snapshot-save / snapshot-load (control
socket, with the disk's qcow2 snapshot) against QEMU savevm / loadvm (HMP
monitor) on the same guest, same RAM size, same qcow2 disk, in one run
(inside the rig when the machine has no VMX/SVM). The guest fills FILL_MIB
of its RAM (tmpfs) with random data first, so both save the same amount.
Revert in domus-vmm maps the RAM file lazily (MAP_PRIVATE) by default;
the copying revert (used when a display shares guest RAM) is measured too.
Prints medians and domus/QEMU ratios (below 1: domus is faster)."""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import benchlib

READY = b'DOMUS-BENCH-READY'


def wait_file(path, timeout=120):
    deadline = time.time() + timeout
    while not os.path.exists(path):
        if time.time() > deadline:
            sys.exit(f'no {path}')
        time.sleep(0.05)


def wait_ready(proc, timeout=300):
    buf, deadline = b'', time.time() + timeout
    while READY not in buf:
        if time.time() > deadline or proc.poll() is not None:
            sys.exit('guest never got ready: ' + buf[-2000:].decode(errors='replace'))
        chunk = proc.stdout.read1(4096)
        if not chunk:
            time.sleep(0.05)
        buf += chunk


class Control:
    def __init__(self, path):
        wait_file(path)
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(path)
        self.f = self.s.makefile('rwb')

    def call(self, **req):
        t = time.perf_counter()
        self.f.write(json.dumps(req).encode() + b'\n')
        self.f.flush()
        reply = json.loads(self.f.readline())
        if 'return' not in reply:
            sys.exit(f'{req}: {reply}')
        return time.perf_counter() - t, reply['return']


class Monitor:
    def __init__(self, path):
        wait_file(path)
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(path)
        self.read_prompt()

    def read_prompt(self):
        buf = b''
        while not buf.endswith(b'(qemu) '):
            buf += self.s.recv(4096)
        return buf

    def call(self, cmd):
        t = time.perf_counter()
        self.s.sendall(cmd.encode() + b'\n')
        out = self.read_prompt()
        dt = time.perf_counter() - t
        if b'Error' in out or b'error' in out:
            sys.exit(f'{cmd}: {out.decode(errors="replace")}')
        return dt


def bench_domus(a, mem, work, rounds):
    disk = os.path.join(work, 'd.qcow2')
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', disk, '1G'], check=True)
    ctl = os.path.join(work, 'ctl.sock')
    p = benchlib.popen([a.vmm, '--memory', f'{mem}M', '--cpus', '1', '--kernel', a.kernel, '--initrd', a.initrd,
                          '--append', 'console=ttyS0 quiet', '--disk', disk, '--serial', 'stdio',
                          '--control', 'unix:' + ctl], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    try:
        wait_ready(p)
        c = Control(ctl)
        save, lazy, copy, saved = [], [], [], 0
        for i in range(rounds):
            path = os.path.join(work, f's{i}.state')
            dt, r = c.call(execute='snapshot-save', path=path, **{'disk-snapshot': f's{i}'})
            save.append(dt)
            saved = r['ram-bytes']
            dt, r = c.call(execute='snapshot-load', path=path, ram='lazy', **{'disk-snapshot': f's{i}'})
            lazy.append(dt)
            dt, r = c.call(execute='snapshot-load', path=path, ram='copy', **{'disk-snapshot': f's{i}'})
            copy.append(dt)
        c.call(execute='quit')
        p.wait(60)
        return save, lazy, copy, saved
    finally:
        p.kill()
        p.wait()


def bench_qemu(a, mem, work, rounds):
    disk = os.path.join(work, 'q.qcow2')
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', disk, '1G'], check=True)
    mon = os.path.join(work, 'mon.sock')
    p = benchlib.popen(['qemu-system-x86_64', '-accel', 'kvm', '-cpu', 'host', '-M', 'q35', '-m', str(mem),
                          '-smp', '1', '-kernel', a.kernel, '-initrd', a.initrd, '-append', 'console=ttyS0 quiet',
                          '-nodefaults', '-no-user-config', '-display', 'none', '-serial', 'stdio',
                          '-drive', f'file={disk},if=virtio,format=qcow2',
                          '-monitor', f'unix:{mon},server=on,wait=off'],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_ready(p)
        m = Monitor(mon)
        save, load = [], []
        for i in range(rounds):
            save.append(m.call(f'savevm s{i}'))
            load.append(m.call(f'loadvm s{i}'))
        return save, load
    finally:
        p.kill()
        p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--vmm', required=True)
    ap.add_argument('--kernel', required=True)
    ap.add_argument('--initrd', required=True)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--sizes', default='256,1024')
    a = ap.parse_args()
    rows = []
    for mem in (int(s) for s in a.sizes.split(',')):
        with tempfile.TemporaryDirectory(dir=os.environ.get('BENCH_TMP')) as work:
            d_save, d_lazy, d_copy, saved = bench_domus(a, mem, work, a.rounds)
        with tempfile.TemporaryDirectory(dir=os.environ.get('BENCH_TMP')) as work:
            q_save, q_load = bench_qemu(a, mem, work, a.rounds)
        med = lambda xs: statistics.median(xs) * 1000
        print(f'{mem} MiB guest: domus saved {saved >> 20} MiB of RAM data; '
              f'save {[round(x * 1000) for x in d_save]} ms, revert lazy {[round(x * 1000) for x in d_lazy]} ms, '
              f'copy {[round(x * 1000) for x in d_copy]} ms; QEMU savevm {[round(x * 1000) for x in q_save]} ms, '
              f'loadvm {[round(x * 1000) for x in q_load]} ms', flush=True)
        rows.append((f'create, {mem} MiB', med(d_save), med(q_save)))
        rows.append((f'revert (lazy RAM), {mem} MiB', med(d_lazy), med(q_load)))
        rows.append((f'revert (copied RAM), {mem} MiB', med(d_copy), med(q_load)))
    print()
    benchlib.ratio_table('live snapshot (median)', rows, 34)


if __name__ == '__main__':
    main()
