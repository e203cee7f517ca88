#!/bin/bash
# A Debian guest on the AHCI controller (modules ahci, sd_mod, sr_mod,
# isofs): /dev/sda is a qcow2 image it reads a host marker from and writes
# a pattern to (the md5 it reads back matches the host's; qemu-img check is
# clean afterwards and the image holds the pattern); /dev/sr0 is an ISO made
# here with xorriso that it mounts and reads intact. Media changes through
# the control socket: eject is refused while the guest has the disc mounted
# (the tray is locked), succeeds after umount (the guest then finds no
# medium), and change-media puts a second disc in that the guest mounts.
# Host and guest take turns through a second AHCI disk used as a mailbox
# (the guest polls it with O_DIRECT reads), so neither side races the other.
set -eu
. "$RIG_LIB"
require_vmm
require_cmd qemu-img xorriso python3

GUEST_MODULES="$GUEST_MODULES ahci sd_mod sr_mod isofs"
guest_script ahci.sh <<'G'
for i in $(seq 1 600); do
    [ -b /dev/sda ] && [ -b /dev/sdb ] && [ -b /dev/sr0 ] && [ "$(cat /sys/block/sda/size)" != 0 ] && break
    sleep 0.2
done
echo "guest-devices: $(ls /dev/sda /dev/sdb /dev/sr0 2>&1 | tr '\n' ' ')"
echo "guest-sda-model=$(cat /sys/block/sda/device/model)"
echo "guest-sda-marker=$(dd if=/dev/sda bs=512 count=1 2>&1 | head -c 17)"
yes domus-ahci-pattern | head -c 2097152 | dd of=/dev/sda bs=65536 seek=16 conv=fsync 2>/dev/null
echo 3 > /proc/sys/vm/drop_caches
echo "guest-sda-md5=$(dd if=/dev/sda bs=65536 skip=16 count=32 2>/dev/null | md5sum | cut -d' ' -f1)"
wait_mail() {
    while ! dd if=/dev/sdb bs=512 count=1 iflag=direct 2>/dev/null | grep -q "$1"; do sleep 0.3; done
}
mkdir -p /mnt/cd
mount -t iso9660 -o ro /dev/sr0 /mnt/cd
echo "guest-cd1=$(cat /mnt/cd/hello.txt)"
echo "guest-cd1-md5=$(md5sum < /mnt/cd/big.bin | cut -d' ' -f1)"
echo "guest-cd-mounted"
wait_mail step1
umount /mnt/cd
echo "guest-cd-unmounted"
wait_mail step2
if dd if=/dev/sr0 of=/dev/null bs=2048 count=1 2>/dev/null; then echo guest-cd-still-readable; else echo guest-cd-no-medium; fi
wait_mail step3
mount -t iso9660 -o ro /dev/sr0 /mnt/cd && echo "guest-cd2=$(cat /mnt/cd/disc.txt)"
umount /mnt/cd
sync
echo "guest-ahci-done"
G
build_guest guest.cpio.gz --add ahci.sh:/init.d/10-ahci

printf 'DOMUS-HOST-MARKER' > base.raw
head -c 1M /dev/urandom >> base.raw
truncate -s 64M base.raw
qemu-img convert -O qcow2 base.raw disk.qcow2
truncate -s 1M mailbox.raw
mkdir -p one two
echo "disc one" > one/hello.txt
head -c 1M /dev/urandom > one/big.bin
echo "disc two" > two/disc.txt
xorriso -as mkisofs -quiet -V DISC1 -o one.iso one
xorriso -as mkisofs -quiet -V DISC2 -o two.iso two
want_sda=$(yes domus-ahci-pattern | head -c 2097152 | md5sum | cut -d' ' -f1)
want_cd1=$(md5sum < one/big.bin | cut -d' ' -f1)

ctl() { vmm_control "$PWD/ctl.sock" "$@"; }
mail() { printf '%s' "$1" | dd of=mailbox.raw conv=notrunc status=none; }

vmm_start serial.log 600 --memory 256M --cpus 2 --kernel "$GUEST_KERNEL" --initrd guest.cpio.gz \
    --append "console=ttyS0 quiet" --control "unix:$PWD/ctl.sock" \
    --disk disk.qcow2,bus=ahci --disk mailbox.raw,bus=ahci,format=raw --cdrom one.iso
bad() {
    show_tail serial.log 80
    show_tail serial.log.err
    fail "$*"
}
wait_for_line serial.log "guest-cd-mounted|guest-ahci-done" 400
grep -q "guest-sda-model=DOMUS HARDDISK" serial.log || bad "no AHCI disk in the guest"
grep -q "guest-sda-marker=DOMUS-HOST-MARKER" serial.log || bad "the guest did not read the image's marker"
grep -q "guest-sda-md5=$want_sda" serial.log || bad "the guest read back something else than it wrote"
grep -q "guest-cd1=disc one" serial.log || bad "the guest could not mount and read the ISO"
grep -q "guest-cd1-md5=$want_cd1" serial.log || bad "a file on the ISO came out different in the guest"
# A loaded host can make libata time out a probe command and retry; say so.
! grep -aE "ata[0-9.]*: (exception|failed command|hard resetting|qc timeout)" serial.log ||
    log "libata recovered from errors (above) on the way"
log "the guest reads and writes /dev/sda and reads /dev/sr0 intact"

reply=$(ctl '{"execute":"eject","arguments":{"device":"cd0"}}')
echo "$reply" | grep -q '"DeviceLocked"' || bad "eject of a mounted (locked) disc was not refused: $reply"
mail step1
wait_for_line serial.log "guest-cd-unmounted" 120
reply=$(ctl '{"execute":"eject","arguments":{"device":"cd0"}}')
echo "$reply" | grep -q '"return"' || bad "eject failed: $reply"
ctl '{"execute":"query-media"}' | grep -q '"device" *: *"cd0"[^}]*"file" *: *null' || bad "query-media still shows a disc"
mail step2
wait_for_line serial.log "guest-cd-no-medium|guest-cd-still-readable" 120
grep -q guest-cd-no-medium serial.log || bad "the guest still read the ejected disc"
reply=$(ctl "{\"execute\":\"change-media\",\"arguments\":{\"device\":\"cd0\",\"file\":\"$PWD/two.iso\"}}")
echo "$reply" | grep -q '"return"' || bad "change-media failed: $reply"
mail step3
wait_for_line serial.log "guest-cd2=disc two" 120
log "eject refused while mounted, then ejected (guest: no medium), then disc two read by the guest"
expect_exit 0
grep -q guest-ahci-done serial.log || fail "the guest script did not finish"

qemu-img check -q disk.qcow2 || fail "qemu-img check finds errors in disk.qcow2"
qemu-img convert -O raw disk.qcow2 after.raw
[ "$(dd if=after.raw bs=65536 skip=16 count=32 status=none | md5sum | cut -d' ' -f1)" = "$want_sda" ] ||
    fail "disk.qcow2 does not hold the pattern the guest wrote"
cmp -n 1048576 after.raw base.raw || fail "the guest's write spilled over the image's first MiB"
log "qemu-img check is clean and the image holds what the guest wrote"
