#!/bin/bash
# case-timeout: 300
# A guest kernel panic is reported (pvpanic) and ends domus-vmm with status 3.
set -eu
. "$RIG_LIB"
require_vmm
GUEST_MODULES="$GUEST_MODULES pvpanic_pci"
guest_script panic.sh <<'G'
echo "about to panic"
echo c > /proc/sysrq-trigger
G
build_guest guest.cpio.gz --add panic.sh:/init.d/10-panic
vmm_start serial.log 240 --memory 256M --cpus 1 --kernel "$GUEST_KERNEL" --initrd guest.cpio.gz \
    --append "console=ttyS0 quiet"
expect_exit 3
grep -q "about to panic" serial.log || fail "guest never got to panic"
grep -q "guest kernel panicked" serial.log.err || { show_tail serial.log.err; fail "the panic was not reported"; }
