"""What the VMM-against-QEMU benchmarks share: the command line every one
takes, both VMMs' command lines for the same direct-boot guest, timing
lines on a VMM's console, and the medians and ratios they print."""
import argparse
import statistics
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


def interleaved(configs, runs):
    """(run number from 1, *config) for each run of each config: the configs
    take turns, so drift in the machine's load hits all of them alike."""
    for run in range(runs):
        for config in configs:
            yield (run + 1, *config)


def chunks(p, timeout):
    """@p's stdout as it comes, until it closes or @timeout seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        chunk = p.stdout.read1(4096)
        if not chunk:
            return
        yield chunk


def read_until(p, marker, timeout):
    """Reads @p's stdout until @marker (bytes) shows up, it closes or
    @timeout seconds pass; returns all it read."""
    buf = b''
    for chunk in chunks(p, timeout):
        buf += chunk
        if marker in buf:
            break
    return buf


def median(values):
    """The median of the values that are not None; None if there are none."""
    v = [x for x in values if x is not None]
    return statistics.median(v) if v else None


def medians(results):
    """{name: [(figure, figure...) per run]} -> {name: (median of each
    figure over the runs that produced it)}."""
    return {name: tuple(median(col) for col in zip(*runs)) for name, runs in results.items()}


def show(value, fmt):
    """@value through the format string @fmt ('{:.2f} MB/s'), '-' for None."""
    return '-' if value is None else fmt.format(value)


def ratio(label, ours, theirs, better=''):
    """Prints 'ratio LABEL: X.XXx (BETTER is better)' when both figures exist
    (and @theirs is positive: against nothing or less, a ratio means nothing)."""
    if ours and theirs and theirs > 0:
        print(f'ratio {label}: {ours / theirs:.2f}x' + (f' ({better} is better)' if better else ''))


def ratio_table(title, rows, width):
    """Prints (name, domus ms, QEMU ms) rows as a table with the ratio."""
    print(f'{title:{width}} {"domus ms":>9} {"QEMU ms":>9} {"ratio":>6}')
    for name, d, q in rows:
        print(f'{name:{width}} {d:9.1f} {q:9.1f} {d / q:6.2f}')


def popen(cmd, **kw):
    """subprocess.Popen for a child that must not outlive the benchmark
    (VMM, QEMU, a client, a sound server): the kernel sends it SIGKILL when
    this process goes, even by an uncaught exception or SIGKILL, where no
    finally runs. (setpriv rather than preexec_fn: some benchmarks start
    children while threads run.)"""
    return subprocess.Popen(['setpriv', '--pdeathsig', 'KILL', *cmd], **kw)


def run_until(cmd, markers, timeout, on_last=None):
    """Starts @cmd (stdout + stderr piped) and reads until the last of
    @markers (bytes) shows up or @timeout seconds pass. Returns a dict
    marker -> seconds from exec to its first appearance, and on_last(pid)'s
    result (called while the VMM still runs, once the last marker is seen).
    The process is killed before returning."""
    t0 = time.monotonic()
    p = popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    seen, extra, buf = {}, None, b''
    try:
        for chunk in chunks(p, timeout):
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
