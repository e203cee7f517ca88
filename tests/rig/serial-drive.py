#!/usr/bin/env python3
"""Drives a domus-vmm guest's shell over its serial socket and control
socket for rig cases. Each argument is one step:
  send:TEXT        type TEXT and Enter on the serial console
  want:REGEX[@S]   wait (S seconds, default 120) for a console line matching REGEX
  ask:CMD=>REGEX   send CMD until a line matches REGEX (retried: the shell may still be booting)
  ctl:JSON         send a control request; fails on an error reply, prints the reply
  ctlerr:JSON=>WORDS  the request must fail with WORDS in its message
Everything the guest printed goes to serial-drive.log in the current directory."""
import json
import re
import socket
import sys
import time

from rig_sock import connect

log = open("serial-drive.log", "ab")


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


ser = connect(sys.argv[1])
ctl = connect(sys.argv[2])
ctl_file = ctl.makefile("rwb")
buf = b""


def lines_until(regex, timeout):
    global buf
    deadline = time.time() + timeout
    pat = re.compile(regex.encode())
    while time.time() < deadline:
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            line = line.rstrip(b"\r")
            if pat.search(line):
                return line.decode(errors="replace")
        ser.settimeout(max(0.1, deadline - time.time()))
        try:
            chunk = ser.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            fail("the serial console closed")
        log.write(chunk)
        log.flush()
        buf += chunk
    return None


def control(req):
    ctl_file.write(req.encode() + b"\n")
    ctl_file.flush()
    line = ctl_file.readline()
    if not line:
        fail("the control socket closed")
    return json.loads(line)


for step in sys.argv[3:]:
    kind, _, arg = step.partition(":")
    if kind == "send":
        ser.sendall(arg.encode() + b"\n")
    elif kind == "want":
        regex, _, t = arg.rpartition("@") if re.search(r"@\d+$", arg) else (arg, "", "")
        if lines_until(regex, float(t or 120)) is None:
            fail(f"no console line matching {regex!r}")
    elif kind == "ask":
        cmd, _, regex = arg.partition("=>")
        deadline = time.time() + 240
        while True:
            ser.sendall(cmd.encode() + b"\n")
            if lines_until(regex, 5) is not None:
                break
            if time.time() > deadline:
                fail(f"{cmd!r} never answered {regex!r}")
    elif kind == "ctl":
        reply = control(arg)
        if "return" not in reply:
            fail(f"{arg} failed: {reply}")
        print("control:", arg, "->", json.dumps(reply["return"]))
    elif kind == "ctlerr":
        req, _, words = arg.partition("=>")
        reply = control(req)
        desc = reply.get("error", {}).get("desc", "")
        if "error" not in reply or words not in desc:
            fail(f"{req}: expected an error with {words!r}, got {reply}")
        print("refused as expected:", desc)
    else:
        fail("unknown step " + step)
