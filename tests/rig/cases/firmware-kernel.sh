#!/bin/bash
# --kernel through firmware: domus-vmm --firmware bios|uefi --kernel/--initrd
# /--append hands the kernel to SeaBIOS (QEMU's linuxboot_dma option ROM,
# through fw_cfg) and to OVMF (its own fw_cfg kernel loader); in both the
# guest reaches userspace with the command line it was given, and powers off.
set -eu
. "$RIG_LIB"
require_vmm
[ -r /usr/share/seabios/bios-256k.bin ] || skip "seabios is not installed"
[ -r /usr/share/qemu/linuxboot_dma.bin ] || skip "qemu-system-data is not installed"

guest_script check.sh <<'G'
echo "fwk-guest: cmdline=$(cat /proc/cmdline)"
echo "fwk-guest: efi=$([ -d /sys/firmware/efi ] && echo yes || echo no)"
G
build_guest guest.cpio.gz --add check.sh:/init.d/10-check

# uefi only on hardware KVM: in the QEMU rig OVMF aborts the rig's own
# QEMU (a CR8 write with an interrupt pending, docs/uefi.md).
fws="bios uefi"
[ -n "${DOMUS_RIG_TCG:-}" ] && { log "QEMU rig: uefi left out (docs/uefi.md)"; fws=bios; }
for fw in $fws; do
    [ $fw = uefi ] && [ ! -r /usr/share/OVMF/OVMF_CODE_4M.fd ] && { log "ovmf not installed: uefi left out"; continue; }
    start=$SECONDS
    vmm_start serial-$fw.log 240 --memory 512M --firmware $fw --kernel "$GUEST_KERNEL" \
        --initrd guest.cpio.gz --append "console=ttyS0 quiet panic=-1 domus.fw=$fw"
    wait_for_line serial-$fw.log 'fwk-guest: efi=' 200
    expect_exit 0
    log "$fw: guest userspace and power-off after $((SECONDS - start))s"
    grep -a 'fwk-guest:' serial-$fw.log | tr -d '\r'
    grep -aq "fwk-guest: cmdline=.*domus.fw=$fw" serial-$fw.log || fail "$fw: the guest did not get its command line"
    want=no; [ $fw = uefi ] && want=yes
    grep -aq "fwk-guest: efi=$want" serial-$fw.log || fail "$fw: the guest should be an EFI guest: $want"
done
