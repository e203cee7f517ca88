#!/bin/bash
# Snapshots of a stopped VM with two disks, checked with qemu-img/qemu-io:
# every disk is snapshotted and reverted together, and a create or revert
# that fails on one disk leaves every disk as it was (no VM with disks from
# different points in time). No guest runs. TAP output.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
command -v qemu-img >/dev/null && command -v qemu-io >/dev/null || { echo "1..0 # SKIP qemu-img/qemu-io missing (qemu-utils)"; exit 0; }
if [ -z "${DOMUS_SESSION_DIR:-}" ]; then
    exec "$here/domus-session" -- "$0" "$@"
fi

. "$here/tap.sh"
# holds PATTERN: both disks read PATTERN at 0 (qemu-io).
. "$here/disk-helpers.sh"
holds() { reads "$d0" "$1" 0 && reads "$d1" "$1" 0; }
fill() { local d; for d in "$d0" "$d1"; do qemu-io -f qcow2 -c "write -P $1 0 64k" "$d" >/dev/null; done; }
has_snap() { qemu-img snapshot -l "$1" | grep -qE "^[0-9]+ +$2 "; }

payload=/dev/null    # the VM is never started
. "$here/payload-template.sh"
"$DOMUS" create m --template payload >/dev/null || { echo "Bail out! cannot create the VM"; exit 1; }
dir=$XDG_DATA_HOME/domus/vms/m d0=$dir/disk0.qcow2 d1=$dir/disk1.qcow2
# A second disk, in the config the next domusd reads.
qemu-img create -q -f qcow2 "$d1" 16M
sed -i 's/^disks=disk0.qcow2;$/disks=disk0.qcow2;disk1.qcow2;/' "$dir/vm.conf"
domusd_pid=$(busctl --address="$DBUS_SESSION_BUS_ADDRESS" call org.freedesktop.DBus /org/freedesktop/DBus \
    org.freedesktop.DBus GetConnectionUnixProcessID s org.domus.Toolstack1 | awk '{print $2}')
kill "$domusd_pid" && while kill -0 "$domusd_pid" 2>/dev/null; do sleep 0.1; done
"$DOMUS" info m --json | python3 -c 'import json,sys; d=json.load(sys.stdin)["disks"]; assert d == ["disk0.qcow2", "disk1.qcow2"], d' ||
    { echo "Bail out! the VM does not have two disks"; exit 1; }

fill 0x11
check "snapshot create" "$DOMUS" snapshot m create one
check "both disks hold the snapshot (qemu-img)" sh -c "$(declare -f has_snap); has_snap '$d0' one && has_snap '$d1' one"
fill 0x22
check "snapshot revert" "$DOMUS" snapshot m revert one
check "both disks are back at the snapshot" holds 0x11

# One disk lost its snapshot (deleted with qemu-img): the revert is refused
# and neither disk moves.
fill 0x33
qemu-img snapshot -d one "$d1"
err=$("$DOMUS" snapshot m revert one 2>&1)
check "a revert one disk cannot follow is refused clearly" grep -q "disk1.qcow2 has no snapshot 'one'" <<<"$err"
sed 's/^/# /' <<<"$err"
check "neither disk moved" holds 0x33

# The second disk has a snapshot of that name already: the create fails
# there and the first disk's new snapshot is taken back.
qemu-img snapshot -c two "$d1"
err=$("$DOMUS" snapshot m create two 2>&1)
check "a create one disk refuses fails clearly" grep -q "of disk .*disk1.qcow2: .*a snapshot of that name exists" <<<"$err"
sed 's/^/# /' <<<"$err"
check "the first disk has no half of it" sh -c "$(declare -f has_snap); ! has_snap '$d0' two"
check "the VM lists no such snapshot" sh -c "! '$DOMUS' snapshot m list | grep -q '^ *two '"
check "no revert leftovers in the disks" sh -c "! qemu-img snapshot -l '$d0' | grep -q domus-revert-undo && ! qemu-img snapshot -l '$d1' | grep -q domus-revert-undo"
tap_done
