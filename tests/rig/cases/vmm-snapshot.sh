#!/bin/bash
# Live snapshots on domus-vmm with a real Linux guest (2 vCPUs): a marker in the
# guest's RAM (/tmp) and on its qcow2 disk, snapshot-save (with a disk
# snapshot taken while paused), change both, snapshot-load while running:
# the first markers are back and the shell still answers; a damaged state
# file is refused with the guest untouched; --restore in a new domus-vmm
# resumes the saved guest (suspend/resume across a stop).
set -eu
. "$RIG_LIB"
require_vmm
require_cmd python3 qemu-img

build_guest guest.cpio.gz
qemu-img create -q -f qcow2 disk.qcow2 64M
args=(--memory 256M --cpus 2 --kernel "$GUEST_KERNEL" --initrd guest.cpio.gz
      --append "console=ttyS0 quiet mkguest.shell=1" --disk disk.qcow2
      --serial "unix:$PWD/ser.sock" --control "unix:$PWD/ctl.sock" --name rig-snapshot)
drive() { python3 "$RIG_DIR/serial-drive.py" "$PWD/ser.sock" "$PWD/ctl.sock" "$@"; }
cmd() { printf '{"execute":"%s","path":"%s"%s}' "$1" "$PWD/$2" "${3:-}"; }

log "domus-vmm ${args[*]}"
spawn vmm.log 600 "$DOMUS_VMM" "${args[@]}"
drive 'ask:echo $((40+2))=>^42$' \
      'send:echo first-ram > /tmp/marker; echo first-disk | dd of=/dev/vda conv=sync 2>/dev/null; sync; echo saved-$((1+1))' \
      'want:^saved-2$' \
      "ctl:$(cmd snapshot-save s1.state ',"disk-snapshot":"s1"')" \
      'send:echo second-ram > /tmp/marker; echo second-disk | dd of=/dev/vda conv=sync 2>/dev/null; sync; echo changed-$((2+1))' \
      'want:^changed-3$' \
      "ctl:$(cmd snapshot-load s1.state ',"disk-snapshot":"s1"')" \
      'ask:cat /tmp/marker=>^first-ram$' \
      'ask:dd if=/dev/vda bs=512 count=1 2>/dev/null | head -1=>^first-disk$' \
      'ask:sleep 1; echo $((40+2))=>^42$'
log "after revert the guest has its first markers and answers"

head -c 4096 s1.state > bad.state
cp --sparse=always s1.state.ram bad.state.ram
drive "ctlerr:$(cmd snapshot-load bad.state)=>truncated" \
      'ask:cat /tmp/marker; echo $((6*7))=>^42$' \
      'send:echo third-ram > /tmp/marker; echo ok-$((3+1))' 'want:^ok-4$' \
      "ctl:$(cmd snapshot-save s2.state ',"paused":true')"
python3 - "$PWD/ctl.sock" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b'{"execute":"quit"}\n'); s.recv(100)
PY
expect_exit 0

log "resuming the saved VM in a new domus-vmm"
spawn vmm2.log 600 "$DOMUS_VMM" "${args[@]}" --restore "$PWD/s2.state"
drive 'ask:cat /tmp/marker=>^third-ram$' 'ask:echo $((40+2))=>^42$' \
      'send:poweroff -f'
expect_exit 0
