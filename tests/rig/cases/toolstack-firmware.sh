#!/bin/bash
# case-timeout: 450
# Templates that boot through firmware start through the toolstack: a VM
# made from the openbsd template (SeaBIOS, virtio disk, CD drive on AHCI)
# with an installer ISO boots that ISO from its CD drive (here a GRUB ISO
# with Linux, which stands in for OpenBSD's); GRUB boots Linux, whose shell
# on the VM's serial console sees the template's 16G disk. (The cli suite
# checks what a windows-10 VM gets: OVMF, AHCI, e1000, local time.)
set -eu
. "$RIG_LIB"
. "$RIG_DIR/fwiso.sh"
require_toolstack
[ -r /usr/share/seabios/bios-256k.bin ] || skip "seabios is not installed"

guest_script shell.sh <<'G'
echo "fw-guest: up"
exec sh -l
G
build_guest guest.cpio.gz --add shell.sh:/init.d/10-shell
build_boot_iso installer.iso guest.cpio.gz
export ISO=$PWD/installer.iso

toolstack_session <<'S'
vmm_cmdline() {
    local pid
    pid=$("$DOMUS" info "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
    tr '\0' ' ' < /proc/$pid/cmdline
}

d create bsd --template openbsd --iso "$ISO"
start=$SECONDS
d start bsd
cmd=$(vmm_cmdline bsd)
log "domus-vmm: $cmd"
grep -q -- '--firmware=bios ' <<<"$cmd" || fail "the VM was not started with SeaBIOS"
grep -q -- "--cdrom=$ISO " <<<"$cmd" || fail "the ISO is not in the CD drive"
# The line starts with Enter: typed while GRUB's menu is still up, the
# command's own letters would be menu keys ('c' opens GRUB's command line),
# while Enter boots the highlighted entry; at Linux's shell it is harmless.
ask bsd $'\ncat /sys/block/vda/size' 33554432 240
log "Linux from the ISO answers on the serial console after $((SECONDS - start)) s, with the 16G disk"
d stop bsd --force

S
