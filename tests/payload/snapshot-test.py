#!/usr/bin/env python3
"""Live snapshots of domus-vmm on this machine's /dev/kvm, with a payload
guest driven over its serial port (tests/payload/snapshot.c): save, change,
revert in place (lazy and copied RAM), refusal of damaged or mismatched
state files with the VM untouched, and --restore in a new process."""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time


# Children go with the test, even one killed outright (no finally runs then).
DIE_WITH_US = ["setpriv", "--pdeathsig", "KILL"]


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


class Vmm:
    def __init__(self, vmm, image, work, tag, extra=()):
        self.ser_path = os.path.join(work, tag + ".ser")
        self.ctl_path = os.path.join(work, tag + ".ctl")
        self.log = open(os.path.join(work, tag + ".log"), "w+")
        boot = ["--kernel", image] if image else ["--firmware", "bios"]
        args = [vmm, "--memory", "64M", "--cpus", "1", *boot,
                "--serial", "unix:" + self.ser_path, "--control", "unix:" + self.ctl_path, *extra]
        self.proc = subprocess.Popen(DIE_WITH_US + args, stdout=self.log, stderr=subprocess.STDOUT)
        self.ser = self._connect(self.ser_path)
        self.ctl = self._connect(self.ctl_path)
        self.ctl_buf = b""
        self.ser_buf = b""

    def _connect(self, path):
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                fail("domus-vmm exited early: " + self.output())
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(path)
                s.settimeout(60)
                return s
            except OSError:
                time.sleep(0.05)
        fail("no socket at " + path)

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def cmd(self, **req):
        self.ctl.sendall((json.dumps(req) + "\n").encode())
        while b"\n" not in self.ctl_buf:
            chunk = self.ctl.recv(4096)
            if not chunk:
                fail("control socket closed; VMM said: " + self.output())
            self.ctl_buf += chunk
        line, self.ctl_buf = self.ctl_buf.split(b"\n", 1)
        return json.loads(line)

    def ask(self, ch, want):
        """Sends one character; returns the next reply line, which must contain want."""
        self.ser.sendall(ch.encode())
        while True:
            while b"\n" not in self.ser_buf:
                try:
                    chunk = self.ser.recv(4096)
                except socket.timeout:
                    fail(f"no reply to {ch!r} (wanted {want!r}); VMM said: " + self.output())
                if not chunk:
                    fail("serial closed; VMM said: " + self.output())
                self.ser_buf += chunk
            line, self.ser_buf = self.ser_buf.split(b"\n", 1)
            line = line.decode(errors="replace").strip()
            if line.startswith("marker") or line.startswith("FAIL"):
                break
        if want not in line:
            fail(f"after {ch!r} the guest said {line!r}, expected {want!r}")
        return line

    def finish(self):
        self.ser.sendall(b"q")
        try:
            status = self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            fail("domus-vmm did not power off")
        if status != 0:
            fail(f"domus-vmm exited {status}: " + self.output())


def expect_ok(reply, what):
    if "return" not in reply:
        fail(f"{what} failed: {reply}")
    return reply["return"]


def expect_error(reply, words, what):
    desc = reply.get("error", {}).get("desc", "")
    if "error" not in reply or any(w not in desc for w in words):
        fail(f"{what}: expected an error mentioning {words}, got {reply}")
    print(f"refused as expected ({what}): {desc}")


def wait_log(path, line, count, what):
    deadline = time.time() + 120
    while time.time() < deadline:
        with open(path, errors="replace") as f:
            if f.read().count(line) >= count:
                return
        time.sleep(0.2)
    fail(f"{what}: the firmware log never showed {line!r} {count} time(s)")


def firmware_vm(vmm, work):
    """A --firmware bios VM with e1000 and HDA (fw_cfg, the LPC bridge, the
    debug port and VGA too) is saved while SeaBIOS runs, and after the
    revert SeaBIOS runs on from the saved point: its log repeats itself."""
    if not os.path.exists("/usr/share/seabios/bios-256k.bin"):
        print("note: no SeaBIOS here (package seabios); the firmware VM part is left out")
        return
    log = os.path.join(work, "fw.log")
    v = Vmm(vmm, None, work, "fw", ["--firmware-log", log, "--net", "user,model=e1000",
                                    "--audio", "wav:" + os.path.join(work, "fw.wav")])
    wait_log(log, "id=8086:100e", 1, "before the save")        # e1000's BARs are assigned
    state = os.path.join(work, "fw.state")
    saved = expect_ok(v.cmd(execute="snapshot-save", path=state), "snapshot-save of a firmware VM")
    wait_log(log, "VGABUILD", 1, "after the save")
    loaded = expect_ok(v.cmd(execute="snapshot-load", path=state), "snapshot-load of a firmware VM")
    wait_log(log, "VGABUILD", 2, "after the revert")
    print(f"firmware VM: saved (pause {saved['pause-ms']:.0f} ms), reverted (pause {loaded['pause-ms']:.0f} ms), "
          "SeaBIOS ran on from the saved point")
    v.cmd(execute="quit")
    if v.proc.wait(60) != 0:
        fail("the firmware VM did not quit cleanly: " + v.output())


def ahci_disk_vm(vmm, image, work):
    """A VM with an AHCI disk snapshots with its disk (a qcow2 internal
    snapshot taken while paused) and reverts to it; a raw AHCI disk is
    refused by name."""
    img_tool = os.path.join(os.path.dirname(vmm), "block", "domus-img")
    disk, raw = os.path.join(work, "sata.qcow2"), os.path.join(work, "sata.raw")
    subprocess.run([img_tool, "create", "-f", "qcow2", disk, "16M"], check=True, capture_output=True)
    save_change_revert(Vmm(vmm, image, work, "sata", ["--disk", disk + ",bus=ahci"]),
                       os.path.join(work, "sata.state"), "an AHCI disk", **{"disk-snapshot": "one"})
    listing = subprocess.run([img_tool, "snapshot", "-l", disk], capture_output=True, text=True).stdout
    if "one" not in listing:
        fail("the AHCI disk has no snapshot 'one': " + listing)
    open(raw, "wb").truncate(16 << 20)
    v = Vmm(vmm, image, work, "raw", ["--disk", raw + ",bus=ahci"])
    expect_error(v.cmd(execute="snapshot-save", path=os.path.join(work, "raw.state"), **{"disk-snapshot": "one"}),
                 ["sata.raw is raw"], "raw AHCI disk")
    v.ask("?", "marker -")
    v.finish()


def save_change_revert(v, state, what, **args):
    v.ask("e", "marker E n=1")
    expect_ok(v.cmd(execute="snapshot-save", path=state, **args), "snapshot-save with " + what)
    v.ask("f", "marker F n=2")
    expect_ok(v.cmd(execute="snapshot-load", path=state, **args), "snapshot-load with " + what)
    v.ask("?", "marker E n=2")
    v.finish()


def check_display(checker, sock, frames):
    """gpu-check --still: the frames (and cursor) a display client sees."""
    out = subprocess.run([checker, "--still", sock, frames], capture_output=True, text=True, timeout=150)
    print(out.stdout.strip())
    if out.returncode != 0:
        fail(f"a display client did not see frames {frames}")


def run_display(vmm, image, work, checker):
    """A VM whose virtio-gpu shows a frame and a cursor: saved, changed,
    reverted with a client attached (it repaints), restored in a new
    process (a new client sees the same pixels and cursor)."""
    sock = os.path.join(work, "g.display")
    state = os.path.join(work, "g.state")
    g = Vmm(vmm, image, work, "g", ["--display", "channel:" + sock])
    g.ask("g", "marker G n=1")
    check_display(checker, sock, "1")
    expect_ok(g.cmd(execute="snapshot-save", path=state), "snapshot-save with virtio-gpu")
    g.ask("h", "marker H n=2")
    watcher = subprocess.Popen(DIE_WITH_US + [checker, "--still", sock, "2,1"], stdout=subprocess.PIPE, text=True)
    first = watcher.stdout.readline() + watcher.stdout.readline()
    print(first.strip())
    if "ready" not in first:
        watcher.kill()
        fail("the client attached before the revert did not see frame 2")
    r = expect_ok(g.cmd(execute="snapshot-load", path=state), "snapshot-load with virtio-gpu")
    print(f"reverted with a display client attached: pause {r['pause-ms']:.1f} ms")
    try:
        rest = watcher.communicate(timeout=150)[0]
    except subprocess.TimeoutExpired:
        watcher.kill()
        fail("the attached client never saw frame 1 again after the revert")
    print(rest.strip())
    if watcher.returncode != 0:
        fail("the attached client did not see frame 1 again after the revert")
    g.ask("?", "marker G n=2")
    g.finish()

    sock2 = os.path.join(work, "r.display")
    r = Vmm(vmm, image, work, "r", ["--display", "channel:" + sock2, "--restore", state])
    check_display(checker, sock2, "1")
    r.ask("?", "marker G n=2")
    r.ask("h", "marker H n=3")
    check_display(checker, sock2, "2")
    r.finish()
    print("the display came back with the snapshot: same pixels, same cursor")


def main():
    vmm, image, checker = sys.argv[1:4]
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("SKIP: /dev/kvm is not accessible here")
        sys.exit(77)
    work = tempfile.mkdtemp(prefix="domus-snap-")
    try:
        run(vmm, image, work)
        run_display(vmm, image, work, checker)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("PASS: snapshot")


def run(vmm, image, work):
    snap = os.path.join(work, "one.state")
    a = Vmm(vmm, image, work, "a")
    a.ask("?", "marker -")
    a.ask("a", "marker A n=2")
    r = expect_ok(a.cmd(execute="snapshot-save", path=snap), "snapshot-save")
    size = os.path.getsize(snap + ".ram")
    used = os.stat(snap + ".ram").st_blocks * 512
    print(f"saved: pause {r['pause-ms']:.1f} ms, RAM data {r['ram-bytes']} bytes, file {size} bytes, {used} on disk")
    if not 0 < r["ram-bytes"] < 64 << 20 or used > 32 << 20:
        fail("the RAM file is not sparse")
    if a.cmd(execute="status")["return"]["state"] != "running":
        fail("the VM did not resume after snapshot-save")
    a.ask("b", "marker B n=3")

    r = expect_ok(a.cmd(execute="snapshot-load", path=snap), "snapshot-load")
    print(f"reverted (lazy={r['lazy']}): pause {r['pause-ms']:.1f} ms")
    a.ask("?", "marker A n=3")
    a.ask("c", "marker C n=4")
    expect_ok(a.cmd(execute="snapshot-load", path=snap, ram="copy"), "snapshot-load (copy)")
    a.ask("?", "marker A n=3")

    # Damaged or foreign files: refused, and the VM goes on where it was.
    blob = open(snap, "rb").read()
    bad = os.path.join(work, "bad.state")
    shutil.copy(snap + ".ram", bad + ".ram")
    open(bad, "wb").write(blob[:len(blob) // 2] + bytes([blob[len(blob) // 2] ^ 0x40]) + blob[len(blob) // 2 + 1:])
    expect_error(a.cmd(execute="snapshot-load", path=bad), ["CRC"], "flipped bit")
    open(bad, "wb").write(blob[:-100])
    expect_error(a.cmd(execute="snapshot-load", path=bad), ["truncated"], "truncated file")
    open(bad, "wb").write(blob + b"garbage!")
    expect_error(a.cmd(execute="snapshot-load", path=bad), ["garbage"], "trailing garbage")
    open(bad, "wb").write(os.urandom(len(blob)))
    expect_error(a.cmd(execute="snapshot-load", path=bad), ["not a Domus"], "random bytes")
    a.ask("d", "marker D n=4")
    other = os.path.join(work, "two.state")
    expect_ok(a.cmd(execute="snapshot-save", path=other, paused=True), "snapshot-save (paused)")
    if a.cmd(execute="status")["return"]["state"] != "paused":
        fail("snapshot-save with paused=true left the VM running")
    a.cmd(execute="resume")
    shutil.copy(snap, bad)
    shutil.copy(other + ".ram", bad + ".ram")
    expect_error(a.cmd(execute="snapshot-load", path=bad), ["another snapshot"], "RAM file of another snapshot")
    expect_error(a.cmd(execute="snapshot-load", path=os.path.join(work, "none")), ["cannot open"], "missing file")
    a.ask("?", "marker D n=5")
    a.finish()

    # Suspend/resume across processes.
    b = Vmm(vmm, image, work, "b", ["--restore", snap])
    b.ask("?", "marker A n=3")
    b.finish()
    b = Vmm(vmm, image, work, "c", ["--restore", other])
    b.ask("?", "marker D n=5")
    b.finish()

    # A VM of another shape is refused at start, clearly.
    out = subprocess.run([vmm, "--memory", "32M", "--kernel", image, "--serial", "none", "--restore", snap],
                         capture_output=True, text=True, timeout=60)
    if out.returncode != 1 or "RAM" not in out.stderr:
        fail(f"--restore into 32M: status {out.returncode}, stderr {out.stderr!r}")
    print("refused as expected (--restore with other RAM size):", out.stderr.strip())

    # Devices the payload has no driver for save and load too: virtio-net;
    # the emulated NIC and the sound cards, whose host side (the WAV file)
    # is reopened. (Refusal of a device without saved state, by name: the
    # snapshot-file unit test.)
    wav = os.path.join(work, "out.wav")
    for tag, extra, what in (("v", ["--net", "user"], "virtio-net"),
                             ("e", ["--net", "user,model=e1000", "--audio", "wav:" + wav], "e1000 + HDA"),
                             ("s", ["--audio", "wav:" + wav, "--sound", "virtio"], "virtio-snd")):
        save_change_revert(Vmm(vmm, image, work, tag, extra), os.path.join(work, tag + ".state"), what)
    ahci_disk_vm(vmm, image, work)
    firmware_vm(vmm, work)


if __name__ == "__main__":
    main()
