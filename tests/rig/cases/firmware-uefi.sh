#!/bin/bash
# UEFI boot: domus-vmm --firmware uefi runs OVMF with a per-VM variable
# store (--nvram, made from Debian's OVMF_VARS_4M.fd), which boots the
# firmware cases' GRUB ISO (its EFI image) from virtio-blk; GRUB's menu
# shows on the serial port and Linux reaches userspace as an EFI guest. The
# guest writes a UEFI variable through efivarfs (OVMF stores it on the CFI
# flash); after a power-off, the next boot with the same --nvram reads it
# back, so the store persists. A third boot (--name memtest) starts
# memtest86+'s EFI image from the same GRUB menu.
# Needs hardware KVM: in the QEMU rig it skips. There, any guest that
# writes CR8 while an interrupt is pending and IF=0 (OVMF's interrupt
# return path restores CR8 so; Windows changes its IRQL so) aborts the
# rig's own QEMU, 7.2 as well as 10.0: target/i386's helper_write_crN calls
# cpu_interrupt(CPU_INTERRUPT_VIRQ) without the BQL and tcg_handle_interrupt
# asserts it. QEMU's own q35 + OVMF boot in the rig dies the same way; the
# payload tests/payload/tpr.c shows it in a second (docs/uefi.md).
set -eu
. "$RIG_LIB"
. "$RIG_DIR/fwiso.sh"
require_vmm
[ -n "${DOMUS_RIG_TCG:-}" ] &&
    skip "OVMF aborts the TCG rig's QEMU (CR8 write with an interrupt pending: docs/uefi.md); needs hardware KVM"
[ -r /usr/share/OVMF/OVMF_CODE_4M.fd ] || skip "ovmf is not installed"
[ -d /usr/lib/grub/x86_64-efi ] || skip "grub-efi-amd64-bin is not installed"

guest_script check.sh <<'G'
mount -t efivarfs efivarfs /sys/firmware/efi/efivars
echo "uefi-guest: efi=$([ -d /sys/firmware/efi ] && echo yes || echo no)"
v=/sys/firmware/efi/efivars/DomusRig-5f3c2e7a-8d1b-4e2f-9a6c-0b7d4e1f2a3c
if [ -e $v ]; then
    echo "uefi-guest: found=$(tail -c +5 $v)"
else
    printf '\007\000\000\000%s' "token-$(head -c 6 /dev/urandom | hexdump -v -e '/1 "%02x"')" > $v
    echo "uefi-guest: wrote=$(tail -c +5 $v)"
fi
echo "uefi-guest: done"
G
GUEST_MODULES="$GUEST_MODULES efivarfs" build_guest guest.cpio.gz --add check.sh:/init.d/10-check
build_boot_iso boot.iso guest.cpio.gz

for boot in 1 2; do
    start=$SECONDS
    vmm_start serial-$boot.log 300 --memory 512M --firmware uefi --nvram vars.fd \
        --firmware-log fw-$boot.log --disk boot.iso,readonly
    wait_for_line serial-$boot.log 'Domus rig: Linux from the ISO' 150
    log "boot $boot: GRUB menu on serial after $((SECONDS - start))s"
    wait_for_line serial-$boot.log 'uefi-guest: done' 200
    expect_exit 0
    log "boot $boot: guest done after $((SECONDS - start))s"
    grep -a 'uefi-guest:' serial-$boot.log | tr -d '\r'
    grep -aq 'uefi-guest: efi=yes' serial-$boot.log || fail "Linux did not boot as an EFI guest"
done
[ -s vars.fd ] && cmp -s vars.fd /usr/share/OVMF/OVMF_VARS_4M.fd && fail "--nvram vars.fd was never written"
token=$(grep -a 'uefi-guest: wrote=' serial-1.log | sed 's/.*wrote=//' | tr -d '\r')
[ -n "$token" ] || fail "the first boot did not write its variable"
grep -aq "uefi-guest: found=$token" serial-2.log || fail "the variable written in boot 1 ($token) was not there in boot 2"

if [ -r /boot/memtest86+x64.efi ]; then
    start=$SECONDS
    vmm_start memtest.log 240 --memory 256M --firmware uefi --nvram vars.fd --name memtest \
        --disk boot.iso,readonly --shutdown-timeout 0
    wait_for_line memtest.log 'Domus rig: memtest86\+' 150
    wait_for_line memtest.log 'Memtest86\+ v[0-9]' 180
    log "memtest86+ (EFI) drew its screen after $((SECONDS - start))s"
    kill "$SPAWNED_PID"
    wait_exit || :
fi
