#!/usr/bin/env python3
"""Toolstack benchmark: linked clone and (stopped-VM) disk snapshot
create/revert through domus (CLI -> D-Bus -> domusd -> block library),
against QEMU's tools doing the same to an identical image in the same run:
  linked clone    domus clone --linked      vs  qemu-img create -f qcow2 -b BASE (x2) + mv
  snapshot        domus snapshot create     vs  qemu-img snapshot -c
  revert          domus snapshot revert     vs  qemu-img snapshot -a
Run inside domus-session (bench/run-toolstack-bench does). Prints medians
and domus/QEMU ratios (below 1 means domus is faster)."""
import json, os, shutil, statistics, subprocess, sys, tempfile, time

import benchlib

DOMUS = os.environ["DOMUS"]
ROUNDS = int(os.environ.get("ROUNDS", "5"))


def run(*cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def timed(*cmd):
    t = time.perf_counter()
    run(*cmd)
    return time.perf_counter() - t


def fill(path, mib):
    # Data in every 64 KiB cluster of the first MIB MiB, like a used disk.
    run("qemu-io", "-f", "qcow2", "-c", f"write -P 0x5a 0 {mib}M", path)


def vm_disk(name):
    info = json.loads(subprocess.check_output([DOMUS, "info", name, "--json"]))
    return os.path.join(info["dir"], info["disks"][0])


def main():
    results = {}
    for size, used in (("1G", 256), ("8G", 1024)):
        run(DOMUS, "create", f"b{size}", "--template", "demo-linux", "--disk-size", size)
        disk = vm_disk(f"b{size}")
        fill(disk, used)
        work = tempfile.mkdtemp(dir=os.environ.get("DOMUS_SESSION_DIR"))
        qdisk = os.path.join(work, "q.qcow2")
        run("qemu-img", "create", "-q", "-f", "qcow2", qdisk, size)
        fill(qdisk, used)
        d_clone, q_clone, d_snap, q_snap, d_rev, q_rev = ([] for _ in range(6))
        for i in range(ROUNDS):
            d_snap.append(timed(DOMUS, "snapshot", f"b{size}", "create", f"s{i}"))
            q_snap.append(timed("qemu-img", "snapshot", "-c", f"s{i}", qdisk))
            d_rev.append(timed(DOMUS, "snapshot", f"b{size}", "revert", f"s{i}"))
            q_rev.append(timed("qemu-img", "snapshot", "-a", f"s{i}", qdisk))
            d_clone.append(timed(DOMUS, "clone", f"b{size}", f"c{size}-{i}", "--linked"))
            # QEMU's equivalent: freeze the image as a base, an overlay each for source and clone.
            t = time.perf_counter()
            base = os.path.join(work, f"base{i}.qcow2")
            os.rename(qdisk, base)
            run("qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base, qdisk)
            run("qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base,
                os.path.join(work, f"clone{i}.qcow2"))
            q_clone.append(time.perf_counter() - t)
        for name, d, q in (("linked clone", d_clone, q_clone), ("snapshot create", d_snap, q_snap),
                           ("snapshot revert", d_rev, q_rev)):
            dm, qm = statistics.median(d) * 1000, statistics.median(q) * 1000
            results[f"{name} ({size} disk, {used} MiB used)"] = (dm, qm)
        shutil.rmtree(work)
    benchlib.ratio_table('operation', [(k, d, q) for k, (d, q) in results.items()], 45)


if __name__ == "__main__":
    sys.exit(main())
