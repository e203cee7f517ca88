#!/bin/bash
# case-timeout: 400
# qcow2 images on full filesystems (small tmpfs mounts). With
# on-error=report the guest's write fails with an I/O error; with
# on-error=pause the VM pauses instead, and after space is freed a control
# socket "resume" retries the write, which then completes. Both images pass
# `qemu-img check` and the paused one holds everything the guest wrote.
set -eu
. "$RIG_LIB"
require_vmm
require_cmd qemu-img
require_cmd python3
mkdir -p full1 full2
mount -t tmpfs -o size=16M tmpfs full1 2>/dev/null || skip "cannot mount a tmpfs (needs root)"
mount -t tmpfs -o size=40M tmpfs full2 || { umount full1; skip "cannot mount a second tmpfs"; }
trap 'umount full1 full2 2>/dev/null || true' EXIT

guest_script fill.sh <<'G'
if yes domus-report | head -c 41943040 | dd of=/dev/vda bs=1M conv=fsync 2>/dev/null; then
    echo "guest-vda=written"
else
    echo "guest-vda=io-error"
fi
yes domus-pause | head -c 20971520 | dd of=/dev/vdb bs=1M conv=fsync 2>/dev/null && echo "guest-vdb=written"
echo "guest-fill-done"
G
build_guest guest.cpio.gz --add fill.sh:/init.d/10-fill
qemu-img create -q -f qcow2 full1/a.qcow2 64M
qemu-img create -q -f qcow2 full2/b.qcow2 64M
head -c 30M /dev/zero > full2/filler

vmm_start serial.log 900 --memory 256M --cpus 1 --kernel "$GUEST_KERNEL" --initrd guest.cpio.gz \
    --append "console=ttyS0 quiet" --control "unix:$PWD/ctl.sock" \
    --disk full1/a.qcow2 --disk full2/b.qcow2,on-error=pause
wait_for_line serial.log "guest-vda=" 600
grep -q "guest-vda=io-error" serial.log || fail "with on-error=report the guest's write did not fail"
log "on-error=report: the guest saw an I/O error on the full disk"
wait_for_line serial.log.err "pausing the guest" 300
ctl() { vmm_control "$PWD/ctl.sock" "$@"; }
sleep 1
ctl '{"execute":"status"}' | grep -q '"paused"' || fail "the VM is not paused after ENOSPC"
log "on-error=pause: the VM paused ($(grep -m1 pausing serial.log.err))"
rm full2/filler
ctl '{"execute":"resume"}' | grep -q '"return"' || fail "resume failed"
wait_for_line serial.log "guest-fill-done" 600
grep -q "guest-vdb=written" serial.log || { show_tail serial.log; fail "the write did not complete after resume"; }
expect_exit 0
log "after resume the guest's write completed"
rc=0; qemu-img check full1/a.qcow2 >check-a.txt 2>&1 || rc=$?
[ $rc = 0 ] || [ $rc = 3 ] || { cat check-a.txt; fail "qemu-img check finds corruption in the full image"; }
qemu-img check -q full2/b.qcow2 || fail "qemu-img check finds errors in the paused image"
yes domus-pause | head -c 20971520 > want.raw && truncate -s 64M want.raw
qemu-img compare -q full2/b.qcow2 want.raw || fail "the paused image lacks data the guest wrote"
log "both images pass qemu-img check; the paused one holds all the guest wrote"
