"""What the VMM-against-QEMU benchmarks share: the command line every one
takes, and both VMMs' command lines for the same direct-boot guest."""
import argparse


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
