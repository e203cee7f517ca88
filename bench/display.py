#!/usr/bin/env python3
"""Display benchmark, run inside the rig (bench/run-display-bench).

The same Debian guest repaints its whole 1920x1080 screen in a loop (a DRM
dumb buffer + DIRTYFB, tests/display/guest-fb.c) on virtio-gpu, once in
domus-vmm served by domus-vnc and once in QEMU served by QEMU's own VNC
server. A libvncclient client (tests/display/vnc-probe) counts the frames it
receives over loopback. CPU per frame is the display path's CPU: everything
in the VMM process except the vCPU threads (the guest's own painting is the
same work in both), plus domus-vnc for Domus. Then a static screen: CPU of
the display path while a client stays connected and nothing changes.
"""
import argparse, os, re, signal, subprocess, sys, time

import benchlib

TICK = os.sysconf('SC_CLK_TCK')


def threads_cpu(pid, skip):
    """CPU seconds of @pid's threads whose name does not match @skip."""
    total = 0.0
    for tid in os.listdir(f'/proc/{pid}/task'):
        try:
            with open(f'/proc/{pid}/task/{tid}/stat') as f:
                st = f.read()
        except FileNotFoundError:
            continue
        name = st[st.index('(') + 1:st.rindex(')')]
        fields = st[st.rindex(')') + 2:].split()
        if skip and re.match(skip, name):
            continue
        total += (int(fields[11]) + int(fields[12])) / TICK
    return total


def children(pid):
    out = []
    for p in os.listdir('/proc'):
        if p.isdigit():
            try:
                with open(f'/proc/{p}/stat') as f:
                    st = f.read()
                if int(st[st.rindex(')') + 2:].split()[1]) == pid:
                    out.append(int(p))
            except (FileNotFoundError, ValueError, IndexError):
                pass
    return out


def display_cpu(vm):
    cpu = threads_cpu(vm['pid'], vm['vcpu_re'])
    for c in children(vm['pid']):
        cpu += threads_cpu(c, None)          # domus-vnc
    return cpu


def wait_for(path, pattern, timeout):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with open(path, errors='replace') as f:
                if re.search(pattern, f.read()):
                    return True
        except FileNotFoundError:
            pass
        time.sleep(0.2)
    return False


def start(name, cmd, serial, vcpu_re):
    print(f'# {name}: {" ".join(cmd)}', flush=True)
    p = benchlib.popen(cmd, stdout=subprocess.DEVNULL, stderr=open(serial + '.err', 'w'))
    return {'name': name, 'proc': p, 'pid': p.pid, 'vcpu_re': vcpu_re, 'serial': serial}


def stop(vm):
    vm['proc'].send_signal(signal.SIGKILL)
    vm['proc'].wait()


def probe(args, port, extra):
    r = subprocess.run([args.probe, f'127.0.0.1:{port}', '--timeout', '120'] + extra,
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f'vnc-probe failed: {r.stderr.strip()}')
    return r.stdout


def measure(args, vm, port, ready):
    if not wait_for(vm['serial'], ready, 600):
        sys.exit(f"{vm['name']}: guest never got to '{ready}'; see {vm['serial']}")
    time.sleep(2)
    c0 = display_cpu(vm)
    out = probe(args, port, ['--frames', str(args.seconds)])
    c1 = display_cpu(vm)
    m = re.search(r'frames=(\d+) seconds=([\d.]+) fps=([\d.]+) client_cpu_s=([\d.]+) size=(\d+x\d+)', out)
    frames, secs, fps, size = int(m[1]), float(m[2]), float(m[3]), m[5]
    return {'fps': fps, 'frames': frames, 'cpu_per_frame_ms': 1000 * (c1 - c0) / max(frames, 1),
            'cpu_pct': 100 * (c1 - c0) / secs, 'size': size}


def measure_static(args, vm, port):
    """Display-path CPU while a client stays connected and nothing changes.
    Sampling starts once the client has its first frame: sending that frame
    (a full-screen encode) is the cost of connecting, not of a still screen."""
    if not wait_for(vm['serial'], r'guest-fb: painted', 600):
        sys.exit(f"{vm['name']}: guest never painted; see {vm['serial']}")
    time.sleep(3)
    p = benchlib.popen([args.probe, f'127.0.0.1:{port}', '--timeout', '120', '--hold', str(args.seconds + 30)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = p.stdout.readline()          # "vnc-probe: size WxH, ..." after the first frame
    if not first.startswith('vnc-probe: size'):
        p.kill()
        sys.exit(f"vnc-probe failed: {first.strip()} {p.stderr.read().strip()}")
    time.sleep(2)                        # the rest of the first update, if any
    c0 = display_cpu(vm)
    t0 = time.time()
    time.sleep(args.seconds)
    c1 = display_cpu(vm)
    el = time.time() - t0
    p.kill()
    p.wait()
    return {'cpu_pct': 100 * (c1 - c0) / el}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--vmm', required=True)
    ap.add_argument('--kernel', required=True)
    ap.add_argument('--loop-initrd', required=True)
    ap.add_argument('--static-initrd', required=True)
    ap.add_argument('--probe', required=True)
    ap.add_argument('--work', required=True)
    ap.add_argument('--seconds', type=float, default=15)
    args = ap.parse_args()
    append = 'console=ttyS0 quiet vt.global_cursor_default=0'
    blink_append = 'console=ttyS0 quiet'

    def domus(initrd, serial, append=append):
        return start('domus', [args.vmm, '--memory', '512M', '--cpus', '2', '--kernel', args.kernel,
                               '--initrd', initrd, '--append', append, '--serial', f'file:{serial}',
                               '--display', 'vnc:127.0.0.1:5931'], serial, r'vcpu')

    def qemu(initrd, serial, append=append):
        return start('qemu', ['qemu-system-x86_64', '-accel', 'kvm', '-cpu', 'host', '-m', '512', '-smp', '2',
                              '-M', 'q35', '-nodefaults', '-vga', 'none', '-device', 'virtio-gpu-pci',
                              '-display', 'none', '-vnc', '127.0.0.1:32', '-serial', f'file:{serial}',
                              '-kernel', args.kernel, '-initrd', initrd, '-append', append],
                     serial, r'CPU \d+/KVM')

    results = {}
    for name, mk, port in (('domus', domus, 5931), ('qemu', qemu, 5932)):
        vm = mk(args.loop_initrd, f'{args.work}/{name}-loop.log')
        try:
            results[name] = measure(args, vm, port, r'guest-fb: looping on 1920x1080')
        finally:
            stop(vm)
        vm = mk(args.static_initrd, f'{args.work}/{name}-static.log')
        try:
            results[name]['static_cpu_pct'] = measure_static(args, vm, port)['cpu_pct']
        finally:
            stop(vm)
        # The same still picture under the text console's blinking cursor:
        # a tiny damage rect five times a second.
        vm = mk(args.static_initrd, f'{args.work}/{name}-blink.log', blink_append)
        try:
            results[name]['blink_cpu_pct'] = measure_static(args, vm, port)['cpu_pct']
        finally:
            stop(vm)
        r = results[name]
        print(f"{name}: {r['fps']:.2f} frames/s at {r['size']}, display CPU {r['cpu_per_frame_ms']:.1f} ms/frame "
              f"({r['cpu_pct']:.0f}% of a core); static screen {r['static_cpu_pct']:.2f}% of a core, "
              f"with a blinking console cursor {r['blink_cpu_pct']:.2f}%", flush=True)
    d, q = results['domus'], results['qemu']
    print(f"ratio domus/qemu: frames/s {d['fps'] / max(q['fps'], 1e-9):.2f} (goal >= 1), "
          f"CPU per frame {d['cpu_per_frame_ms'] / max(q['cpu_per_frame_ms'], 1e-9):.2f} (goal <= 1), "
          f"static-screen CPU {d['static_cpu_pct']:.2f}% vs {q['static_cpu_pct']:.2f}%, "
          f"blinking cursor {d['blink_cpu_pct']:.2f}% vs {q['blink_cpu_pct']:.2f}%")


if __name__ == '__main__':
    main()
