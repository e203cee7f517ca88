# ahci-boot.sh: booting from AHCI through SeaBIOS, shared by the rig cases
# ahci-boot-cd (the hybrid GRUB ISO of fwiso.sh on --cdrom: El Torito) and
# ahci-boot-disk (the same image as an AHCI disk, bus=ahci: its MBR).
# Source after lib.sh, then: ahci_boot cd|disk. GRUB's menu shows on the
# serial port and Linux from the image reaches userspace, where the AHCI
# controller (BARs as SeaBIOS assigned them, MSI) works: the CD boot mounts
# /dev/sr0 and finds the kernel it booted intact, the disk boot reads the
# ISO's volume descriptor from /dev/sda.
. "$RIG_DIR/fwiso.sh"

ahci_boot() {
    local what=$1 start log
    require_vmm
    [ -r /usr/share/seabios/bios-256k.bin ] || skip "seabios is not installed"
    GUEST_MODULES="$GUEST_MODULES ahci sd_mod sr_mod isofs"
    guest_script check.sh <<'G'
for i in $(seq 1 600); do
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
    log=serial-$what.log
    start=$SECONDS
    if [ "$what" = cd ]; then
        vmm_start "$log" 400 --memory 512M --cpus 2 --firmware bios --firmware-log fw.log --cdrom boot.iso
    else
        vmm_start "$log" 400 --memory 512M --cpus 2 --firmware bios --firmware-log fw.log \
            --disk boot.iso,readonly,bus=ahci
    fi
    wait_for_line "$log" 'Domus rig: Linux from the ISO' 150
    log "$what: GRUB menu on serial after $((SECONDS - start))s"
    wait_for_line "$log" 'ahci-guest: done' 300
    log "$what: guest checks done after $((SECONDS - start))s"
    expect_exit 0
    grep -a 'ahci-guest:' "$log" | tr -d '\r'
    grep -aq 'ahci-guest: controller driver=ahci msi=1' "$log" ||
        { show_tail fw.log; fail "the guest's ahci driver does not run the controller with MSI"; }
    if [ "$what" = cd ]; then
        grep -aq "ahci-guest: cd-kernel-md5=$(md5sum < "$GUEST_KERNEL" | cut -d' ' -f1)" "$log" ||
            fail "the kernel on /dev/sr0 is not the one booted"
        grep -q 'DVD/CD' fw.log || { show_tail fw.log; fail "SeaBIOS did not list the AHCI CD drive"; }
        log "SeaBIOS booted the ISO from the AHCI CD drive (El Torito); Linux reads it on /dev/sr0"
    else
        grep -aq 'ahci-guest: sda-model=DOMUS HARDDISK' "$log" || fail "no AHCI disk in the guest"
        grep -aq 'ahci-guest: sda-iso=CD001' "$log" || fail "/dev/sda does not read as the ISO"
        log "SeaBIOS booted the same image from an AHCI disk (MBR)"
    fi
}
