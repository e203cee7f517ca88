#!/usr/bin/env python3
"""Keeps a domus-vmm guest's serial console busy for a while and checks that
every answer arrives in time; on a stall, runs DIAG_CMD (tests/rig/stall-diag.py
and friends) to tell a stuck guest from a stuck VMM.

  serial-stress.py SER_SOCK CTL_SOCK SECONDS LIMIT DISK_MD5 DIAG_CMD

Rounds cycle through long echoes, virtio-rng reads, virtio-blk reads and
type-ahead (a command typed while the previous one still runs, so the shell's
line editor echoes it again). Each answer must come within LIMIT seconds.
Exit 0: no stall; 1: stall."""
import os
import random
import re
import socket
import string
import subprocess
import sys
import time

from rig_sock import connect

ser_path, ctl_path, seconds, limit, disk_md5, diag_cmd = sys.argv[1:7]
# "FLOOD_RESTART": the guest's command that restarts its flood (every 8th
# round); SERIAL_RECONNECT=1: a new serial client each round, as serial-drive.py
# callers make one per step.
flood_restart = os.environ.get("FLOOD_RESTART", "")
reconnect = os.environ.get("SERIAL_RECONNECT") == "1"
# STRESS_KINDS: the rounds to cycle through, of echo,rng,disk,type-ahead.
kinds = [["echo", "rng", "disk", "type-ahead"].index(k)
         for k in os.environ.get("STRESS_KINDS", "echo,rng,disk,type-ahead").split(",")]
seconds, limit = float(seconds), float(limit)
log = open("serial-stress.log", "ab")


ser = connect(ser_path)
buf = b""
tail = b""                                   # the last console bytes, for a report


def read_some(timeout):
    global buf, tail
    ser.settimeout(max(0.05, timeout))
    try:
        chunk = ser.recv(65536)
    except socket.timeout:
        return b""
    if not chunk:
        sys.exit("the serial console closed")
    log.write(chunk)
    log.flush()
    buf += chunk
    tail = (tail + chunk)[-2000:]
    return chunk


def wait_line(regex, timeout):
    """The first console line matching regex within timeout, or None."""
    global buf
    pat = re.compile(regex.encode())
    deadline = time.time() + timeout
    while True:
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if pat.search(line.rstrip(b"\r")):
                return line
        left = deadline - time.time()
        if left <= 0:
            return None
        read_some(left)


def diagnose(what, started):
    print(f"STALL: no answer {what!r} after {time.time() - started:.0f} s")
    print("--- console tail:", repr(tail[-400:]))
    sys.stdout.flush()
    ser.close()                      # DIAG_CMD's stall-diag.py becomes the client
    subprocess.run(["bash", "-c", diag_cmd])


def word(n):
    return "".join(random.choice(string.ascii_letters + string.digits) for _ in range(n))


def step(i):
    """One round: (commands to type, [(regex, what) to wait for in order])."""
    if flood_restart and i % 8 == 7:
        sep = " " if flood_restart.rstrip().endswith("&") else "; "
        return "flood-restart", [f"{flood_restart}{sep}echo fr-$(({i}+0))"], [(f"^fr-{i}$", "flood restart marker")]
    kind = kinds[i % len(kinds)]
    if kind == 0:
        w = word(random.randint(60, 200))
        return "echo", [f"echo {w}-$(({i}+0))"], [(f"^{w}-{i}$", "long echo")]
    if kind == 1:
        return "rng", [f"head -c 4096 /dev/hwrng | wc -c; echo rng-$(({i}+0))"], \
            [(r"^ *4096$", "4096 bytes of hwrng"), (f"^rng-{i}$", "rng marker")]
    if kind == 2:
        return "disk", [f"echo 3 > /proc/sys/vm/drop_caches; dd if=/dev/vda bs=1M count=4 iflag=direct 2>/dev/null | md5sum; echo disk-$(({i}+0))"], \
            [(f"^{disk_md5}", "disk md5"), (f"^disk-{i}$", "disk marker")]
    w = word(random.randint(20, 80))
    return "type-ahead", [f"sleep 0.3; echo ta1-$(({i}+0))", f"echo {w}-ta2-$(({i}+0))"], \
        [(f"^ta1-{i}$", "first of type-ahead"), (f"^{w}-ta2-{i}$", "second of type-ahead")]


start = time.time()
i = 0
counts, worst = {}, {}
while time.time() - start < seconds:
    kind, cmds, wants = step(i)
    if reconnect and i:
        ser.close()
        connect(ctl_path).close()    # as serial-drive.py callers also come and go there
        ser = connect(ser_path)
        buf = b""
    t0 = time.time()
    for c in cmds:
        ser.sendall(c.encode() + b"\n")
    for regex, what in wants:
        if wait_line(regex, limit) is None:
            diagnose(f"{what} (round {i}, {kind})", t0)
            sys.exit(1)
    took = time.time() - t0
    counts[kind] = counts.get(kind, 0) + 1
    worst[kind] = max(worst.get(kind, 0), took)
    i += 1
print(f"no stall: {i} rounds in {time.time() - start:.0f} s; "
      + ", ".join(f"{k} {counts[k]} (slowest {worst[k]:.1f} s)" for k in sorted(counts)))
