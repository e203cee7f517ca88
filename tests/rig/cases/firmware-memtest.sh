#!/bin/bash
# case-timeout: 300
# memtest86+ (Debian's package) through SeaBIOS: the GRUB ISO of the
# firmware-bios case, booted with --name memtest so GRUB picks its memtest86+
# entry by the SMBIOS system serial; memtest86+ starts and draws its screen
# on the serial console.
set -eu
. "$RIG_LIB"
. "$RIG_DIR/fwiso.sh"
require_vmm
[ -r /usr/share/seabios/bios-256k.bin ] || skip "seabios is not installed"
[ -r /boot/memtest86+x64.bin ] || skip "memtest86+ is not installed"
build_guest guest.cpio.gz
build_boot_iso boot.iso guest.cpio.gz

start=$SECONDS
vmm_start memtest.log 240 --memory 256M --firmware bios --name memtest --disk boot.iso,readonly \
    --shutdown-timeout 0
wait_for_line memtest.log 'Domus rig: memtest86\+' 120
wait_for_line memtest.log 'Memtest86\+ v[0-9]' 180
log "memtest86+ drew its screen after $((SECONDS - start))s"
kill "$SPAWNED_PID"
wait_exit || :
