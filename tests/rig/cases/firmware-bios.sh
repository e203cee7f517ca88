#!/bin/bash
# case-timeout: 400
# Firmware boot: domus-vmm --firmware bios runs SeaBIOS, which boots a
# hybrid GRUB ISO from a virtio-blk disk; GRUB's menu shows on the serial
# port, Linux from the ISO reaches userspace and finds what SeaBIOS set up:
# every virtio device working with MSI-X at the BARs the firmware assigned
# (a second disk's marker read and written back, entropy from virtio-rng),
# the VMM's ACPI tables (via the table loader) and SMBIOS, both CPUs; then
# the guest powers off through ACPI (exit 0).
set -eu
. "$RIG_LIB"
. "$RIG_DIR/fwiso.sh"
require_vmm
[ -r /usr/share/seabios/bios-256k.bin ] || skip "seabios is not installed"

guest_script check.sh <<'G'
echo "fw-guest: cpus=$(grep -c ^processor /proc/cpuinfo)"
echo "fw-guest: dmi=$(cat /sys/class/dmi/id/sys_vendor)/$(cat /sys/class/dmi/id/product_name)/$(cat /sys/class/dmi/id/product_serial)"
echo "fw-guest: acpi-oem=$(dd if=/sys/firmware/acpi/tables/FACP bs=1 skip=10 count=6 2>/dev/null)"
for d in /sys/bus/pci/devices/*; do
    [ "$(cat $d/vendor)" = 0x1af4 ] || continue
    n=$(ls $d/msi_irqs 2>/dev/null | wc -l)
    echo "fw-guest: virtio $(cat $d/device) msix-vectors=$n driver=$(basename $(readlink $d/driver 2>/dev/null) 2>/dev/null)"
done
for b in /sys/block/vd*; do echo "fw-guest: disk $(basename $b) serial=$(cat $b/serial)"; done
data=$(grep -l fw-data /sys/block/vd*/serial | head -n1 | cut -d/ -f4)
echo "fw-guest: data=$(dd if=/dev/$data bs=512 count=1 2>/dev/null | head -c 17)"
printf 'GUEST-WROTE-THIS' | dd of=/dev/$data bs=512 seek=1 conv=sync 2>/dev/null
sync
echo "fw-guest: rng=$(head -c 16 /dev/hwrng | hexdump -v -e '/1 "%02x"')"
echo "fw-guest: done"
G
build_guest guest.cpio.gz --add check.sh:/init.d/10-check
build_boot_iso boot.iso guest.cpio.gz
log "ISO: $(stat -c %s boot.iso) bytes"

truncate -s 16M data.img
printf 'DOMUS-HOST-MARKER' | dd of=data.img conv=notrunc status=none
start=$SECONDS
vmm_start serial.log 300 --memory 512M --cpus 2 --firmware bios --firmware-log fw.log \
    --disk boot.iso,readonly --disk data.img,serial=fw-data
wait_for_line serial.log 'Domus rig: Linux from the ISO' 120
log "GRUB menu on serial after $((SECONDS - start))s"
wait_for_line serial.log 'fw-guest: done' 240
log "guest checks done after $((SECONDS - start))s"
expect_exit 0
grep -a 'fw-guest:' serial.log | tr -d '\r'
show_tail fw.log 15

grep -q 'Running on QEMU (q35)' fw.log || fail "SeaBIOS did not take the machine for q35"
grep -q 'Found QEMU fw_cfg' fw.log || fail "SeaBIOS did not find fw_cfg"
grep -aq 'fw-guest: cpus=2' serial.log || fail "the guest does not see 2 CPUs"
grep -aq 'fw-guest: dmi=Domus/Domus VM/guest' serial.log || fail "SMBIOS system information not seen by the guest"
grep -aq 'fw-guest: acpi-oem=DOMUS' serial.log || fail "the guest is not using the VMM's ACPI tables"
nvirtio=$(grep -ac 'fw-guest: virtio ' serial.log)
[ "$nvirtio" -ge 3 ] || fail "the guest found $nvirtio virtio devices, wanted 3 (2 disks, rng)"
! grep -a 'fw-guest: virtio ' serial.log | grep -Eq 'msix-vectors=0|driver=$' ||
    fail "a virtio device has no driver or no MSI-X vectors"
grep -aq 'fw-guest: data=DOMUS-HOST-MARKER' serial.log || fail "the guest did not read the data disk"
dd if=data.img bs=512 skip=1 count=1 status=none | grep -q GUEST-WROTE-THIS ||
    fail "the guest's write is not in the data disk"
grep -aEq 'fw-guest: rng=[0-9a-f]{32}' serial.log || fail "no entropy from virtio-rng"
