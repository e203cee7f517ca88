#!/bin/bash
# The ACPI power button turns off a mkguest guest sitting at its shell (as
# the demo guest does): mkguest's init runs busybox acpid when the "button
# evdev" modules give it an input device. QEMU's monitor presses the button.
set -eu
. "$RIG_LIB"
require_kvm
require_cmd qemu-system-x86_64

build_guest guest.cpio.gz
# The monitor on a pair of FIFOs, so no socket client is needed. QEMU opens
# both read-write: writing to mon.in never blocks, and its few replies fit
# in mon.out's pipe buffer unread.
mkfifo mon.in mon.out
spawn serial.log 300 qemu-system-x86_64 -accel kvm -cpu host -machine q35 \
    -m 256M -smp 1 -nodefaults -no-user-config -display none -no-reboot \
    -kernel "$GUEST_KERNEL" -initrd guest.cpio.gz \
    -append "console=ttyS0 quiet panic=-1" -serial stdio \
    -chardev pipe,id=mon,path=mon -mon chardev=mon,mode=readline
wait_for_line serial.log 'mkguest: userspace ready' 240
sleep 2   # let the shell start: the button must work from there
log "pressing the power button"
echo system_powerdown > mon.in
pressed=$SECONDS
expect_exit 0
log "guest powered off $((SECONDS - pressed))s after the button press"
