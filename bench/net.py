#!/usr/bin/env python3
"""Network benchmark through user-mode networking: domus-vmm (--net user,
libslirp) against QEMU q35 (-netdev user), each with virtio-net and with
e1000, with the same kernel and guest, in one run on one machine (inside the rig when
the machine has no VMX/SVM of its own).

Measures guest-to-host TCP throughput (the guest pipes zeros into nc; the
host's sink times first byte to EOF) and request latency (the guest makes
sequential small TCP requests to a host echo server; the host times the
interval between them). Prints medians and ratios. Not a test."""
import socket
import subprocess
import sys
import threading
import time

import benchlib

MEM_MIB = 256


def sink(srv, out):
    c, _ = srv.accept()
    n, t0 = 0, None
    while True:
        b = c.recv(1 << 20)
        if not b:
            break
        if t0 is None:
            t0 = time.monotonic()
        n += len(b)
    out['tput'] = n / (time.monotonic() - t0) if t0 else None
    c.close()


def echo(srv, out, count):
    stamps = []
    for _ in range(count):
        c, _ = srv.accept()
        stamps.append(time.monotonic())
        c.recv(64)
        c.sendall(b'pong\n')
        c.close()
    out['lat'] = (stamps[-1] - stamps[0]) / (len(stamps) - 1)


def listener():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('127.0.0.1', 0))
    s.listen(4)
    return s


def run_once(cmd_for, count, reqs):
    ts, ls = listener(), listener()
    out = {}
    th = [threading.Thread(target=sink, args=(ts, out), daemon=True),
          threading.Thread(target=echo, args=(ls, out, reqs), daemon=True)]
    for t in th:
        t.start()
    args = f'tput={ts.getsockname()[1]} lat={ls.getsockname()[1]} count={count} reqs={reqs}'
    p = benchlib.popen(cmd_for(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        buf = benchlib.read_until(p, b'BENCH-NET-DONE', 600)
        for t in th:
            t.join(5)
    finally:
        p.kill()
        p.wait()
        ts.close()
        ls.close()
    if 'tput' not in out or 'lat' not in out:
        sys.stderr.write(f'incomplete run of {cmd_for("")[0]}:\n{buf[-1500:].decode(errors="replace")}\n')
    return out.get('tput'), out.get('lat')


def main():
    ap = benchlib.parser()
    ap.add_argument('--mib', type=int, default=32)
    ap.add_argument('--requests', type=int, default=30)
    ap.add_argument('--models', default='virtio,e1000')
    # One vCPU: two nested vCPUs on a shared 2-core host measure the host's load.
    ap.add_argument('--cpus', type=int, default=1)
    a = ap.parse_args()
    base = 'console=ttyS0 quiet panic=-1 '
    vmm = lambda model: lambda args: benchlib.domus_cmd(a, MEM_MIB, a.cpus, base + args,
                                                        '--net', f'user,model={model}')
    qemu = lambda dev: lambda args: benchlib.qemu_cmd(a, MEM_MIB, a.cpus, base + args,
                                                      '-netdev', 'user,id=n0', '-device', f'{dev},netdev=n0')
    # (ours, QEMU's) per NIC model: the same guest drives the same model on both.
    pairs = {'virtio': (('domus-virtio', vmm('virtio')), ('qemu-virtio', qemu('virtio-net-pci'))),
             'e1000': (('domus-e1000', vmm('e1000')), ('qemu-e1000', qemu('e1000')))}
    models = [m for m in a.models.split(',') if m]
    configs = [c for m in models for c in pairs[m]]
    results = {}
    for run, name, cmd in benchlib.interleaved(configs, a.runs):
        tput, lat = run_once(cmd, a.mib * 16, a.requests)
        results.setdefault(name, []).append((tput and tput / 1e6, lat and lat * 1000))
        print(f'run {run} {name}: throughput {benchlib.show(results[name][-1][0], "{:.2f} MB/s")}, '
              f'request {benchlib.show(results[name][-1][1], "{:.1f} ms")}', flush=True)
    med = benchlib.medians(results)
    print('\nmedians (guest->host TCP throughput, sequential request time):')
    for name, (t, l) in med.items():
        print(f'  {name:13s} {benchlib.show(t, "{:8.2f} MB/s")}  {benchlib.show(l, "{:7.1f} ms")}')
    for m in models:
        (dn, _), (qn, _) = pairs[m]
        d, q = med[dn], med[qn]
        benchlib.ratio(f'{m} throughput domus/qemu', d[0], q[0], 'higher')
        benchlib.ratio(f'{m} request time domus/qemu', d[1], q[1], 'lower')

if __name__ == '__main__':
    main()
