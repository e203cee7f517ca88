#!/usr/bin/env python3
"""After a domus-vmm guest's serial console stopped answering: what tells a
stuck guest from a stuck VMM or a lost UART interrupt.

  stall-diag.py SER_SOCK CTL_SOCK

Prints the control socket's status, then the guest's vCPU registers, LAPIC,
IOAPIC pin 4 and UART state from a snapshot (taken on the I/O thread with the
vCPUs paused: no answer means the I/O thread or a vCPU is stuck in the VMM),
then, as a new serial client, whatever output comes by itself, after one
more input byte (a UART interrupt: output that resumes then was waiting for
a lost transmit interrupt) and after an XON (output stopped by the tty). The snapshot files are deleted afterwards."""
import json
import os
import socket
import struct
import subprocess
import sys
import time

ser_path, ctl_path = sys.argv[1:3]


def control(req, timeout):
    try:
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.settimeout(timeout)
        c.connect(ctl_path)
        f = c.makefile("rwb")
        f.write(json.dumps(req).encode() + b"\n")
        f.flush()
        line = f.readline()
        c.close()
        return json.loads(line) if line else {"error": "control socket closed"}
    except (OSError, ValueError) as e:
        return {"error": f"no answer within {timeout:.0f} s ({e})"}


def lapic_vectors(lapic, base):
    """Vectors set in a 256-bit LAPIC register (8 words at 16-byte stride)."""
    vecs = []
    for i in range(8):
        (w,) = struct.unpack_from("<I", lapic, base + 16 * i)
        vecs += [32 * i + b for b in range(32) if w >> b & 1]
    return " ".join(f"{v:#x}" for v in vecs) or "-"


def guest_code(ram, cr3, cr4, va, n):
    """n bytes at virtual address va, read through the guest's page tables
    from the RAM file (a 4 KiB header, then RAM from guest address 0); prints
    the walk (a stuck guest may have bad page tables)."""
    ram_end = ram.seek(0, 2) - 4096

    def phys(gpa, size):
        if gpa + size > ram_end:
            return None
        ram.seek(4096 + gpa)
        return ram.read(size)
    table, levels = cr3 & 0x000FFFFFFFFFF000, 5 if cr4 >> 12 & 1 else 4
    walk = []
    for level in range(levels, 0, -1):
        shift = 12 + 9 * (level - 1)
        at = table + 8 * (va >> shift & 511)
        raw = phys(at, 8)
        if raw is None:
            print(f"    walk of {va:#x}: {' '.join(walk)} L{level} entry at {at:#x}: outside RAM")
            return None
        (entry,) = struct.unpack("<Q", raw)
        walk.append(f"L{level}[{va >> shift & 511}]@{at:#x}={entry:#x}")
        if not entry & 1:
            print(f"    walk of {va:#x}: {' '.join(walk)} (not present)")
            return None
        table = entry & 0x000FFFFFFFFFF000
        if level in (2, 3) and entry & 0x80:          # a 2 MiB or 1 GiB page
            table = (table & ~((1 << shift) - 1)) + (va & ((1 << shift) - 1) & ~0xFFF)
            break
    print(f"    walk of {va:#x}: {' '.join(walk)}")
    return phys(table + (va & 0xFFF), n)


def show_code(path, cr3, cr4, rip):
    """Disassembles the guest's code around RIP (objdump, if there)."""
    with open(path + ".ram", "rb") as ram:
        code = guest_code(ram, cr3, cr4, rip - 32, 64)
    if not code:
        print("    (RIP not mapped)")
        return
    with open("stall-diag.code", "wb") as f:
        f.write(code)
    try:
        out = subprocess.run(["objdump", "-D", "-b", "binary", "-mi386:x86-64",
                              f"--adjust-vma={rip - 32:#x}", "stall-diag.code"],
                             capture_output=True, text=True).stdout
        print("    code around RIP:")
        for line in out.splitlines()[7:]:
            print("     ", ("=> " if line.strip().startswith(f"{rip:x}:") else "   ") + line.strip())
    except OSError:
        print("    code at RIP-32:", code.hex())


def show_snapshot(path):
    """The parts of a state file that say who is stuck. Layout: the file
    header (56 bytes) and sections (48-byte header, data padded to 8) of
    core/snapshot_file.c; struct vcpu_state of core/snapshot_kvm.c (offsets
    of KVM's x86-64 ABI structs: regs at 0, sregs at 144, lapic at 5360,
    events at 6384, mp_state at 6448); struct serial_state of serial.c."""
    data = open(path, "rb").read()
    off, sections = 56, {}
    while off + 48 <= len(data):
        name = data[off:off + 32].split(b"\0")[0].decode()
        (length,) = struct.unpack_from("<Q", data, off + 40)
        sections[name] = data[off + 48:off + 48 + length]
        off += 48 + (length + 7) // 8 * 8
    for name, s in sorted(sections.items()):
        if name.startswith("vcpu."):
            rip, rflags = struct.unpack_from("<QQ", s, 128)
            lapic = s[5360:5360 + 1024]
            injected, vector = s[6384 + 8], s[6384 + 9]
            (mp,) = struct.unpack_from("<I", s, 6448)
            (tpr,) = struct.unpack_from("<I", lapic, 0x80)
            (lvt0,) = struct.unpack_from("<I", lapic, 0x350)
            print(f"  {name}: RIP={rip:#x} RFLAGS={rflags:#x} (IF={rflags >> 9 & 1}) mp_state={mp}"
                  f" (0 running, 3 halted) injecting={f'{vector:#x}' if injected else '-'}")
            print(f"    LAPIC TPR={tpr:#x} in service: {lapic_vectors(lapic, 0x100)};"
                  f" requested: {lapic_vectors(lapic, 0x200)}; LVT0={lvt0:#x}")
            cr0, cr3, cr4 = (struct.unpack_from("<Q", s, 144 + o)[0] for o in (224, 240, 248))
            print(f"    CR0={cr0:#x} CR3={cr3:#x} CR4={cr4:#x}")
            show_code(path, cr3, cr4, rip)
        elif name == "kvm.irqchip":
            pic = s[8:8 + 512]
            print(f"  PIC master: irr={pic[1]:#04x} imr={pic[2]:#04x} isr={pic[3]:#04x}")
            ioapic = s[2 * 520:3 * 520]
            (irr,) = struct.unpack_from("<I", ioapic, 24)
            (rte,) = struct.unpack_from("<Q", ioapic, 32 + 8 * 4)
            print(f"  IOAPIC irr={irr:#x}; pin 4: vector={rte & 0xff:#x} level-triggered={rte >> 15 & 1}"
                  f" remote_irr={rte >> 14 & 1} masked={rte >> 16 & 1} dest={rte >> 56:#x}")
        elif name.startswith("serial"):
            ier, lcr, mcr, lsr, msr, scr, dll, dlm, fcr, thr = s[:10]
            (rx_count,) = struct.unpack_from("<I", s, 16)
            print(f"  UART: IER={ier:#x} LCR={lcr:#x} MCR={mcr:#x} LSR={lsr:#x} FCR={fcr:#x}"
                  f" THRE-interrupt-pending={thr} rx_count={rx_count}")


print("control status:", json.dumps(control({"execute": "status"}, 10)))
snap = os.path.abspath("stall-diag.snap")
reply = control({"execute": "snapshot-save", "path": snap}, 90)
print("control snapshot-save:", json.dumps(reply))
if "return" in reply:
    try:
        show_snapshot(snap)
    except (OSError, ValueError, struct.error, IndexError, UnicodeDecodeError) as e:
        print("cannot decode the snapshot:", e)
for f in os.listdir("."):
    if f.startswith("stall-diag.snap"):
        os.unlink(f)

ser = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
ser.connect(ser_path)


def output_for(seconds):
    got, deadline = b"", time.time() + seconds
    while time.time() < deadline:
        ser.settimeout(max(0.05, deadline - time.time()))
        try:
            chunk = ser.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        got += chunk
    return repr(got[-300:])


print("console output by itself in 10 s:", output_for(10))
ser.sendall(b" ")
print("console output in 15 s after one more input byte:", output_for(15))
# A tty whose output was stopped by an XOFF (IXON) goes on after an XON.
ser.sendall(b"\x11")
print("console output in 10 s after an XON (Ctrl-Q):", output_for(10))
