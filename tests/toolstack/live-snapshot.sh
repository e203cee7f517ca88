#!/bin/bash
# Live snapshots through domusd and the domus CLI on this machine's
# /dev/kvm, with the snapshot payload as the guest (tests/payload/snapshot.c:
# a marker in RAM set over the serial console): snapshot of the running VM,
# change, revert while running, the first marker is back; the tree; stop
# --save and start resume it; a stopped VM reverted to a live snapshot
# resumes that state on start; the same with a display, seen over VNC.
# TAP output.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
payload=${PAYLOAD:-$BUILD_DIR/tests/payload/snapshot.bzImage}
if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then echo "1..0 # SKIP /dev/kvm is not accessible here"; exit 0; fi
if [ -z "${DOMUS_SESSION_DIR:-}" ]; then
    exec "$here/domus-session" -- "$0" "$@"
fi

. "$here/tap.sh"
# say VM CHARS: send CHARS to the console; prints the last marker line.
say() { printf '%s' "$2" | "$DOMUS" console "$1" 2>/dev/null | tr -d '\r' | grep '^marker' | tail -1; }
state() { "$DOMUS" info "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])'; }

. "$here/payload-template.sh"
"$DOMUS" create p --template payload >/dev/null || { echo "Bail out! cannot create the VM"; exit 1; }
"$DOMUS" start p >/dev/null || { echo "Bail out! cannot start the VM"; exit 1; }
check "the guest answers on its console" [ "$(say p a)" = "marker A n=1" ]
check "snapshot create on a running VM" "$DOMUS" snapshot p create live
check "the VM runs on after the snapshot" [ "$(state p)" = running ]
check "the guest changed its marker" [ "$(say p b)" = "marker B n=2" ]
check "snapshot revert on a running VM" "$DOMUS" snapshot p revert live
check "the VM runs after the revert" [ "$(state p)" = running ]
check "after the revert the first marker is back" [ "$(say p '?')" = "marker A n=2" ]
check "the snapshot's files are there" [ -s "$XDG_DATA_HOME/domus/vms/p/snapshots/live.state" ]
err=$("$DOMUS" snapshot p create live 2>&1)
check "a second snapshot of the same name is refused" grep -q "already has a snapshot 'live'" <<<"$err"
err=$("$DOMUS" snapshot p delete live 2>&1)
check "deleting while running is refused clearly" grep -q "stop it to delete" <<<"$err"

say p c >/dev/null
check "stop --save" "$DOMUS" stop p --save
check "the VM is stopped after stop --save" [ "$(state p)" = stopped ]
qlist=$(qemu-img snapshot -l "$XDG_DATA_HOME/domus/vms/p/disk0.qcow2" 2>&1)
check "the disk holds the live snapshot's qcow2 snapshot (qemu-img)" grep -qE "^[0-9]+ +live " <<<"$qlist"
sed "s/^/# /" <<<"$qlist"
check "start resumes the saved guest" sh -c "'$DOMUS' start p >/dev/null && [ \"\$(printf '?' | '$DOMUS' console p 2>/dev/null | tr -d '\r' | grep '^marker' | tail -1)\" = 'marker C n=4' ]"
check "the suspend image is used once" [ ! -e "$XDG_DATA_HOME/domus/vms/p/suspend.state" ]

# A saved state that no longer fits (memory changed while suspended) fails
# that start clearly, and the next start boots afresh.
"$DOMUS" stop p --save >/dev/null
check "info shows the state start resumes" sh -c "'$DOMUS' info p --json | grep -q resume-state"
"$DOMUS" set p memory=128M >/dev/null
err=$("$DOMUS" start p 2>&1)
check "resuming into other hardware fails clearly" grep -q "saved state no longer fits" <<<"$err"
sed "s/^/# /" <<<"$err" | head -3
check "the next start boots afresh" sh -c "'$DOMUS' start p >/dev/null && [ \"\$(printf '?' | '$DOMUS' console p 2>/dev/null | tr -d '\r' | grep '^marker' | tail -1)\" = 'marker - n=1' ]"
"$DOMUS" stop p --force >/dev/null
"$DOMUS" set p memory=64M >/dev/null

check "snapshot of the stopped VM" "$DOMUS" snapshot p create cold
check "revert the stopped VM to the live snapshot" "$DOMUS" snapshot p revert live
"$DOMUS" start p >/dev/null
check "start continues from the live snapshot" [ "$(say p '?')" = "marker A n=2" ]
tree=$("$DOMUS" snapshot p list)
check "the tree shows live as current with RAM" grep -qE '^live .*disks\+RAM  \[current\]$' <<<"$tree"
check "the tree shows cold under live" grep -qE '^  cold .*disks$' <<<"$tree"
err=$("$DOMUS" snapshot p revert cold 2>&1)
check "reverting a running VM to a stopped VM's snapshot is refused clearly" grep -q "taken while it was stopped" <<<"$err"
"$DOMUS" stop p --force >/dev/null
check "delete a live snapshot" "$DOMUS" snapshot p delete live
check "its state files are gone" [ ! -e "$XDG_DATA_HOME/domus/vms/p/snapshots/live.state.ram" ]
check "cold has no parent now" grep -qE '^cold ' <<<"$("$DOMUS" snapshot p list)"

# A VM with a display: its virtio-gpu shows the payload's frame 1 ('g'),
# then a white box ('h'); a live snapshot and a revert while running bring
# frame 1 back to the VNC client domus-vmm started for --display vnc, and
# 'domus vnc' serves the same display to another client.
probe=$BUILD_DIR/tests/display/vnc-probe
if [ -x "$probe" ] && [ -x "$BUILD_DIR/vdisplay/domus-vnc" ]; then
    vnc_port() {
        local log; log=$("$DOMUS" info "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["log"])')
        for _ in $(seq 50); do
            sed -n 's/.*domus-vnc: listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$log" | tail -1 | grep . && return
            sleep 0.1
        done
    }
    # Frame 1 is gpu_test.h's gradient: (10,20) is 28641e until the box covers it, (40,30) stays a09636.
    sees() { "$probe" "127.0.0.1:$1" --encodings raw --timeout 20 --expect "10,20,$2" --expect 40,30,a09636; }
    "$DOMUS" create d --template payload >/dev/null
    err=$("$DOMUS" vnc d 2>&1)
    check "domus vnc on a stopped VM is refused clearly" grep -q "not running\|has no display" <<<"$err"
    check "start --display vnc" "$DOMUS" start d --display vnc
    check "the guest draws on its virtio-gpu" [ "$(say d g)" = "marker G n=1" ]
    port=$(vnc_port d)
    # Start returns once info can say where VNC listens: no waiting here.
    check "info shows the VNC address the log names, and the display channel" python3 - "$port" \
        "$("$DOMUS" info d --json)" "$("$DOMUS" list --json)" "$("$DOMUS" info d)" <<'PY'
import json, sys
port, info, vms, text = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4]
assert info["vnc"] == "127.0.0.1:" + port, info
assert info["display-socket"].endswith("/display.sock"), info
listed = {v["name"]: v for v in vms}
assert listed["d"]["vnc"] == info["vnc"] and listed["d"]["display-socket"] == info["display-socket"], listed
assert "vnc" not in listed["p"], listed["p"]
assert any(l.split() == ["vnc", info["vnc"]] for l in text.splitlines()), text
PY
    check "domus-vmm's VNC server shows the guest's frame" sees "$port" 28641e
    check "snapshot create on a running VM with a display" "$DOMUS" snapshot d create shown
    check "the guest draws a box" [ "$(say d h)" = "marker H n=2" ]
    check "the VNC client sees the box" sees "$port" ffffff
    check "snapshot revert of a running VM with a display" "$DOMUS" snapshot d revert shown
    check "after the revert the VNC client sees the snapshot's frame" sees "$port" 28641e
    check "the guest runs on after the revert" [ "$(say d '?')" = "marker G n=2" ]
    port2=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "$DOMUS" vnc d --listen "127.0.0.1:$port2" 2>/dev/null & vnc_pid=$!
    for _ in $(seq 50); do "$probe" "127.0.0.1:$port2" --timeout 1 >/dev/null 2>&1 && break; sleep 0.1; done
    check "domus vnc serves the same display" sees "$port2" 28641e
    kill "$vnc_pid" 2>/dev/null; wait "$vnc_pid" 2>/dev/null
    check "stop --save of a VM with a display" "$DOMUS" stop d --save
    check "a plain start resumes it, with its display" sh -c "'$DOMUS' start d >/dev/null && [ \"\$(printf '?' | '$DOMUS' console d 2>/dev/null | tr -d '\r' | grep '^marker' | tail -1)\" = 'marker G n=3' ]"
    check "the resumed VM has its display channel" sh -c "'$DOMUS' info d --json | grep -q display-socket"
    "$DOMUS" stop d --force >/dev/null
else
    ok "# SKIP the display checks: vnc-probe or domus-vnc not built (libvncserver-dev missing)"
fi
tap_done
