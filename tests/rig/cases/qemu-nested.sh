#!/bin/bash
# case-timeout: 300
# Nested KVM end to end: boot Debian's kernel with a mkguest initramfs in
# qemu-system-x86_64 -accel kvm (inside the rig, that is KVM on the rig's
# emulated SVM), check that guest userspace speaks, and that a plain
# "poweroff" (busybox signalling mkguest's init) turns the guest off.
# Needs no domus-vmm; it proves the platform the other cases stand on.
set -eu
. "$RIG_LIB"
require_kvm
require_cmd qemu-system-x86_64

guest_script hello <<'SH'
echo "nested-guest: hello from $(uname -r) on $(grep -c ^processor /proc/cpuinfo) cpus"
poweroff
sleep 60
echo "nested-guest: poweroff was ignored"
SH
build_guest guest.cpio.gz --add hello:/init.d/10-hello

start=$SECONDS
spawn serial.log 300 qemu-system-x86_64 -accel kvm -cpu host -machine q35 \
    -m 256M -smp 2 -nodefaults -no-user-config -display none -no-reboot \
    -kernel "$GUEST_KERNEL" -initrd guest.cpio.gz \
    -append "console=ttyS0 quiet panic=-1" -serial stdio
wait_for_line serial.log 'nested-guest: hello' 240
log "guest userspace reached after $((SECONDS - start))s"
cat serial.log
expect_exit 0
log "guest powered off after $((SECONDS - start))s"
! grep -q 'poweroff was ignored' serial.log || fail "poweroff did not power off"
