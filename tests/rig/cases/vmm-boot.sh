#!/bin/bash
# case-timeout: 300
# Debian's kernel boots in domus-vmm with 1 and with 2 vCPUs: the guest sees
# its CPUs, reads the host's marker from a raw virtio-blk disk and writes
# its own back (which the host then reads from the file), reads entropy
# from virtio-rng, writes to the virtio-console, and powers off (exit 0).
set -eu
. "$RIG_LIB"
require_vmm

guest_script check.sh <<'G'
echo "guest-cpus=$(grep -c ^processor /proc/cpuinfo)"
echo "guest-disk=$(dd if=/dev/vda bs=512 count=1 2>/dev/null | head -c 17)"
echo "guest-serial-id=$(cat /sys/block/vda/serial 2>/dev/null)"
printf 'GUEST-WROTE-THIS' | dd of=/dev/vda bs=512 seek=1 conv=sync 2>/dev/null
sync
echo "guest-rng=$(head -c 32 /dev/hwrng | hexdump -v -e '/1 "%02x"')"
echo "hello over virtio-console" > /dev/hvc0
echo "guest-check-done"
G
build_guest guest.cpio.gz --add check.sh:/init.d/10-check

for cpus in 1 2; do
    rm -f disk.img console.log
    truncate -s 64M disk.img
    printf 'DOMUS-HOST-MARKER' | dd of=disk.img conv=notrunc status=none
    vmm_start serial-$cpus.log 240 --memory 256M --cpus $cpus --kernel "$GUEST_KERNEL" \
        --initrd guest.cpio.gz --append "console=ttyS0 quiet" \
        --disk disk.img,serial=rig-disk-$cpus --console file:console.log
    expect_exit 0
    log "$cpus vCPU guest powered off"
    grep -q "guest-cpus=$cpus" serial-$cpus.log || { show_tail serial-$cpus.log; fail "guest does not see $cpus CPUs"; }
    grep -q "guest-disk=DOMUS-HOST-MARKER" serial-$cpus.log || fail "guest did not read the host's marker"
    grep -q "guest-serial-id=rig-disk-$cpus" serial-$cpus.log || fail "disk serial ID not seen by the guest"
    dd if=disk.img bs=512 skip=1 count=1 status=none | grep -q GUEST-WROTE-THIS ||
        fail "the guest's write is not in the image file"
    rng=$(sed -n 's/.*guest-rng=\([0-9a-f]*\).*/\1/p' serial-$cpus.log | tr -d '\r')
    [ ${#rng} = 64 ] || fail "guest read ${#rng} hex digits from /dev/hwrng, wanted 64"
    [ "$rng" != "$(printf '0%.0s' {1..64})" ] || fail "virtio-rng gave zeros"
    grep -q "hello over virtio-console" console.log || fail "virtio-console output did not reach its file"
    eval "rng_$cpus=$rng"
done
[ "$rng_1" != "$rng_2" ] || fail "two boots read the same entropy"
