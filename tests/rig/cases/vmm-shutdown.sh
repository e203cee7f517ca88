#!/bin/bash
# case-timeout: 300
# SIGTERM presses the ACPI power button: a guest with acpid powers off
# (exit 0); a guest that ignores the button is stopped after
# --shutdown-timeout with a message (exit 0).
set -eu
. "$RIG_LIB"
require_vmm

build_guest listening.cpio.gz
vmm_start serial.log 240 --memory 256M --cpus 1 --kernel "$GUEST_KERNEL" --initrd listening.cpio.gz \
    --append "console=ttyS0 quiet" --shutdown-timeout 120
wait_for_line serial.log "mkguest: userspace ready" 200
sleep 2
pkill -TERM -P "$SPAWNED_PID"   # domus-vmm itself, not timeout (which would arm its -k)
t0=$SECONDS
expect_exit 0
log "powered off $((SECONDS - t0)) s after SIGTERM"
[ $((SECONDS - t0)) -lt 100 ] || fail "the guest did not react to the power button"
grep -q "did not power off" serial.log.err && fail "the guest was stopped, not powered off"

GUEST_MODULES="virtio_pci"      # no button driver: the guest ignores the button
build_guest deaf.cpio.gz
vmm_start deaf.log 240 --memory 256M --cpus 1 --kernel "$GUEST_KERNEL" --initrd deaf.cpio.gz \
    --append "console=ttyS0 quiet" --shutdown-timeout 5
wait_for_line deaf.log "mkguest: userspace ready" 200
pkill -TERM -P "$SPAWNED_PID"   # domus-vmm itself, not timeout (which would arm its -k)
expect_exit 0
grep -q "did not power off within 5 s" deaf.log.err || { show_tail deaf.log.err; fail "no message about the forced stop"; }
