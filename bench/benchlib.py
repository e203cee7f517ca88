"""What the VMM-against-QEMU benchmarks share: the command line every one
takes, both VMMs' command lines for the same direct-boot guest, and
timing lines on a VMM's console."""
import argparse
import subprocess
import sys
import time


def parser(runs=3):
    """--vmm, --kernel, --initrd, --runs; the caller adds its own."""
    ap = argparse.ArgumentParser()
    ap.add_argument('--vmm', required=True)
    ap.add_argument('--kernel', required=True)
    ap.add_argument('--initrd', required=True)
    ap.add_argument('--runs', type=int, default=runs)
    return ap


def domus_cmd(a, mem_mib, cpus, append, *extra):
    return [a.vmm, '--memory', f'{mem_mib}M', '--cpus', str(cpus), '--kernel', a.kernel,
            '--initrd', a.initrd, '--append', append, '--serial', 'stdio', *extra]


def qemu_cmd(a, mem_mib, cpus, append, *extra, machine='q35'):
    return ['qemu-system-x86_64', '-accel', 'kvm', '-cpu', 'host', '-M', machine, '-m', str(mem_mib),
            '-smp', str(cpus), '-kernel', a.kernel, '-initrd', a.initrd, '-append', append,
            '-nodefaults', '-no-user-config', '-display', 'none', '-serial', 'stdio', '-no-reboot', *extra]


def run_until(cmd, markers, timeout, on_last=None):
    """Starts @cmd (stdout + stderr piped) and reads until the last of
    @markers (bytes) shows up or @timeout seconds pass. Returns a dict
    marker -> seconds from exec to its first appearance, and on_last(pid)'s
    result (called while the VMM still runs, once the last marker is seen).
    The process is killed before returning."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    seen, extra, buf = {}, None, b''
    try:
        while time.monotonic() < t0 + timeout:
            chunk = p.stdout.read1(4096)
            if not chunk:
                break
            buf += chunk
            for m in markers:
                if m not in seen and m in buf:
                    seen[m] = time.monotonic() - t0
            if markers[-1] in seen:
                extra = on_last(p.pid) if on_last else None
                break
    finally:
        p.kill()
        p.wait()
    if markers[-1] not in seen:
        sys.stderr.write(f'no {markers[-1]!r} from {cmd[0]}; output tail:\n{buf[-2000:].decode(errors="replace")}\n')
    return seen, extra
