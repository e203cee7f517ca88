# fwiso.sh: a hybrid GRUB ISO for firmware-boot cases, made at test time.
# Source after lib.sh, then: build_boot_iso OUT.iso INITRD
# The ISO (grub-mkrescue: El Torito + an MBR, so it boots as a CD or as a
# disk, from BIOS, and from UEFI when grub-efi-amd64-bin is installed) holds
# $GUEST_KERNEL, INITRD and memtest86+ (when installed; its EFI image for
# UEFI GRUB). GRUB
# talks on COM1 and on the BIOS console, shows its menu for 1 s, and boots
# "Domus rig: Linux from the ISO" unless the SMBIOS system serial (the VM's
# --name) is "memtest", which picks "Domus rig: memtest86+", or "bench",
# which picks the same Linux without "quiet" (bench/run-firmware-bench).
build_boot_iso() {
    local out=$1 initrd=$2
    require_cmd grub-mkrescue xorriso mformat
    rm -rf iso && mkdir -p iso/boot/grub
    cp "$GUEST_KERNEL" iso/boot/vmlinuz
    cp "$initrd" iso/boot/initrd.gz
    [ -r /boot/memtest86+x64.bin ] && cp /boot/memtest86+x64.bin iso/boot/
    [ -r /boot/memtest86+x64.efi ] && cp /boot/memtest86+x64.efi iso/boot/
    cat > iso/boot/grub/grub.cfg <<'CFG'
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=1
set default=0
insmod smbios
smbios --type 1 --get-string 7 --set vmname
if [ "$vmname" = memtest ]; then set default=1; fi
if [ "$vmname" = bench ]; then set default=2; fi
menuentry "Domus rig: Linux from the ISO" {
    linux /boot/vmlinuz console=ttyS0 quiet panic=-1
    initrd /boot/initrd.gz
}
menuentry "Domus rig: memtest86+" {
    if [ "$grub_platform" = efi ]; then
        linux /boot/memtest86+x64.efi console=ttyS0,115200
    else
        linux /boot/memtest86+x64.bin console=ttyS0,115200
    fi
}
menuentry "Domus bench: Linux, verbose" {
    linux /boot/vmlinuz console=ttyS0 panic=-1
    initrd /boot/initrd.gz
}
CFG
    grub-mkrescue -o "$out" iso >grub-mkrescue.log 2>&1 ||
        { cat grub-mkrescue.log; fail "grub-mkrescue failed"; }
}
