#!/bin/bash
# case-timeout: 900
# The issue's live-snapshot flow through the toolstack on a demo-linux VM
# with a display (VNC), in one guest boot: the console answers, markers go
# into the guest's RAM (/tmp) and disk, a snapshot of the running VM is
# taken, the markers and the screen change, and a revert while running
# brings back the markers and the screen a VNC client sees. (Stop --save,
# reverts of a stopped VM and the tree: the cli suite's live-snapshot test
# on this host; stopped-VM snapshots with a real guest: toolstack-snapshot.)
set -eu
. "$RIG_LIB"
require_toolstack
[ -x "$BUILD_DIR/tests/display/vnc-probe" ] && [ -x "$BUILD_DIR/vdisplay/domus-vnc" ] ||
    skip "domus-vnc/vnc-probe not built (libvncserver-dev missing)"

toolstack_session <<'S'
# screen VM FILE: what a VNC client of VM's display sees now, as a PPM (at the
# address domus info shows).
screen() {
    local vnc
    vnc=$("$DOMUS" info "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin).get("vnc", ""))')
    [ -n "$vnc" ] || fail "domus info $1 shows no VNC address"
    "$BUILD_DIR/tests/display/vnc-probe" "$vnc" --encodings raw --timeout 30 --hold 1 --dump "$2" >/dev/null ||
        fail "no VNC picture of $1's display"
}
# ppm A.ppm [B.ppm]: how many bytes of A are not its background (its first
# pixel) / differ between A and B. Whole-buffer integer XORs: Python runs
# emulated in the rig, where a per-pixel loop takes minutes.
ppm() {
    python3 - "$@" <<'P'
import re, sys
def load(p):
    d = open(p, "rb").read()
    m = re.match(rb"P6\s+(\d+)\s+(\d+)\s+\d+\s", d)
    w, h = int(m.group(1)), int(m.group(2))
    return d[m.end():m.end() + w * h * 3]
def differ(x, y):
    if len(x) != len(y):
        return max(len(x), len(y))
    z = int.from_bytes(x, "little") ^ int.from_bytes(y, "little")
    return len(x) - z.to_bytes(len(x), "little").count(0)
a = load(sys.argv[1])
print(differ(a, a[:3] * (len(a) // 3)) if len(sys.argv) == 2 else differ(a, load(sys.argv[2])))
P
}

d create snap --template demo-linux
d start snap --display vnc
disk_ready snap
ask snap 'echo 0 > /sys/class/graphics/fbcon/cursor_blink; echo first-ram > /tmp/marker; echo first-disk | dd of=/dev/vda conv=sync 2>/dev/null; sync; echo w1-$((1+1))' w1-2
screen snap 1.ppm
[ "$(ppm 1.ppm)" -gt 20 ] || fail "the display is blank (the guest's console on tty1 should show)"
t0=$(date +%s.%N)
d snapshot snap create live
log "live snapshot took $(echo "$(date +%s.%N) - $t0" | bc) s (CLI round trip)"
[ "$(state snap)" = running ] || fail "the VM is $(state snap) after a live snapshot"
ask snap 'echo second-ram > /tmp/marker; echo second-disk | dd of=/dev/vda conv=sync 2>/dev/null; sync; for i in $(seq 30); do echo SECOND-SCREEN-$i-XXXXXXXXXXXXXXXXXXXX > /dev/tty1; done; echo w2-$((2+1))' w2-3
ask snap 'cat /tmp/marker' second-ram
screen snap 2.ppm
changed=$(ppm 1.ppm 2.ppm)
[ "$changed" -gt 1000 ] || fail "the guest's screen did not change ($changed bytes)"
d snapshot snap revert live
[ "$(state snap)" = running ] || fail "the VM is $(state snap) after a revert"
ask snap 'cat /tmp/marker' first-ram
ask snap 'dd if=/dev/vda bs=512 count=1 2>/dev/null | head -1' first-disk
ask snap 'sleep 1; echo $((40+2))' 42
screen snap 3.ppm
back=$(ppm 1.ppm 3.ppm)
log "screen: $changed bytes changed after the snapshot, $back differ from the snapshot's after the revert"
[ "$(ppm 3.ppm)" -gt 20 ] && [ "$back" -lt $((changed / 10)) ] ||
    fail "after the revert the VNC client does not see the snapshot's screen"
log "reverted while running: RAM, disk and the screen are back at the snapshot, the console answers"

err=$("$DOMUS" snapshot snap revert nosuch 2>&1) && fail "revert to a missing snapshot worked"
grep -q "has no snapshot 'nosuch'" <<<"$err" || fail "unclear error for a missing snapshot: $err"

d stop snap --force
S
