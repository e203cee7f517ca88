#!/bin/bash
# Booting from AHCI through SeaBIOS: the hybrid GRUB ISO of fwiso.sh on
# --cdrom boots through El Torito, and the same image as an AHCI disk
# (bus=ahci) boots through its MBR. Each time GRUB's menu shows on the
# serial port and Linux from the image reaches userspace, where the AHCI
# controller (BARs as SeaBIOS assigned them, MSI) works: the CD boot mounts
# /dev/sr0 and finds the kernel it booted intact, the disk boot reads the
# image's El Torito catalog pointer from /dev/sda.
set -eu
. "$RIG_LIB"
. "$RIG_DIR/fwiso.sh"
require_vmm
require_cmd python3
[ -r /usr/share/seabios/bios-256k.bin ] || skip "seabios is not installed"

GUEST_MODULES="$GUEST_MODULES ahci sd_mod sr_mod isofs"
guest_script check.sh <<'G'
for i in $(seq 1 150); do
    { [ -b /dev/sr0 ] || [ -b /dev/sda ]; } && break
    sleep 0.2
done
for d in /sys/bus/pci/devices/*; do
    [ "$(cat $d/vendor):$(cat $d/device)" = 0x8086:0x2922 ] || continue
    echo "ahci-guest: controller driver=$(basename $(readlink $d/driver)) msi=$(ls $d/msi_irqs 2>/dev/null | wc -l)"
done
if [ -b /dev/sr0 ]; then
    mkdir -p /mnt/cd
    mount -t iso9660 -o ro /dev/sr0 /mnt/cd
    echo "ahci-guest: cd-kernel-md5=$(md5sum < /mnt/cd/boot/vmlinuz | cut -d' ' -f1)"
    umount /mnt/cd
fi
if [ -b /dev/sda ]; then
    echo "ahci-guest: sda-model=$(cat /sys/block/sda/device/model)"
    echo "ahci-guest: sda-iso=$(dd if=/dev/sda bs=2048 skip=16 count=1 2>/dev/null | head -c 6 | tail -c 5)"
fi
echo "ahci-guest: done"
G
build_guest guest.cpio.gz --add check.sh:/init.d/10-check
build_boot_iso boot.iso guest.cpio.gz
want_kernel=$(md5sum < "$GUEST_KERNEL" | cut -d' ' -f1)

boot() {
    local what=$1; shift
    local start=$SECONDS
    vmm_start "serial-$what.log" 300 --memory 512M --cpus 2 --firmware bios --firmware-log "fw-$what.log" "$@"
    wait_for_line "serial-$what.log" 'Domus rig: Linux from the ISO' 120
    log "$what: GRUB menu on serial after $((SECONDS - start))s"
    wait_for_line "serial-$what.log" 'ahci-guest: done' 240
    log "$what: guest checks done after $((SECONDS - start))s"
    expect_exit 0
    grep -a 'ahci-guest:' "serial-$what.log" | tr -d '\r'
    grep -aq 'ahci-guest: controller driver=ahci msi=1' "serial-$what.log" ||
        { show_tail "fw-$what.log"; fail "$what: the guest's ahci driver does not run the controller with MSI"; }
}

boot cd --cdrom boot.iso
grep -aq "ahci-guest: cd-kernel-md5=$want_kernel" serial-cd.log || fail "the kernel on /dev/sr0 is not the one booted"
grep -q 'DVD/CD' fw-cd.log || { show_tail fw-cd.log; fail "SeaBIOS did not list the AHCI CD drive"; }
log "SeaBIOS booted the ISO from the AHCI CD drive (El Torito); Linux reads it on /dev/sr0"

boot disk --disk boot.iso,readonly,bus=ahci
grep -aq 'ahci-guest: sda-model=DOMUS HARDDISK' serial-disk.log || fail "no AHCI disk in the guest"
grep -aq 'ahci-guest: sda-iso=CD001' serial-disk.log || fail "/dev/sda does not read as the ISO"
log "SeaBIOS booted the same image from an AHCI disk (MBR)"
