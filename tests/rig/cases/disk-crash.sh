#!/bin/bash
# case-timeout: 600
# A guest writes checksummed blocks without pause (O_DIRECT, fdatasync every
# 4 blocks, "flushed N" on the console after each) to a qcow2 overlay on a
# raw backing file, and domus-vmm is SIGKILLed at a random moment; several
# rounds on the same image. After each kill `qemu-img check` finds no
# corruption (leaked clusters are allowed) and every block reported flushed,
# in this round and the earlier ones, is intact (tests/rig/crash-verify.py).
set -eu
. "$RIG_LIB"
require_vmm
require_cmd qemu-img python3
gcc -static -O2 -o crash-writer "$RIG_DIR/crash-writer.c" || skip "cannot build a static helper (libc6-dev)"

blocks=8192 base=2048    # a 32 MiB disk; the backing file fills the first 8 MiB
guest_script write.sh <<G
round=\$(sed -n 's/.*domus.round=\([0-9]*\).*/\1/p' /proc/cmdline)
echo "guest-writing round \$round"
/crash-writer write /dev/vda \$round $blocks
G
build_guest guest.cpio.gz --add write.sh:/init.d/10-write --add crash-writer:/crash-writer
./crash-writer base base.raw $base && truncate -s $((blocks * 4096)) base.raw
# 8 KiB clusters: a 4 KiB write into a new cluster copies 4 KiB from the
# backing file, and the 32 MiB disk spans 4 L2 tables, so the kills often
# land amid metadata updates.
qemu-img create -q -f qcow2 -o cluster_size=8192 -b base.raw -F raw disk.qcow2

# Checks a copy of the image as it was after kill $1, given the rounds so
# far; runs in the background while the next round's guest boots.
check_round() {
    local r=$1 rc=0; shift
    # A backing file of its own: the next round's domus-vmm locks base.raw.
    cp base.raw base$r.raw && qemu-img rebase -u -b base$r.raw -F raw disk$r.qcow2
    qemu-img check disk$r.qcow2 > check$r.txt 2>&1 || rc=$?
    [ $rc = 0 ] || [ $rc = 3 ] || { cat check$r.txt; echo "FAIL: qemu-img check finds corruption after kill $r"; return 1; }
    echo "round $r: qemu-img check: $(grep -E 'No errors|leaked' check$r.txt | head -n1)"
    qemu-img convert -O raw disk$r.qcow2 disk$r.raw
    python3 "$RIG_DIR/crash-verify.py" disk$r.raw $blocks $base "$@" ||
        { echo "FAIL: data flushed before kill $r is not all there"; return 1; }
    rm disk$r.raw disk$r.qcow2 base$r.raw
}

history=() checkers=()
for round in 1 2 3; do
    vmm_start serial$round.log 300 --memory 192M --cpus 1 --kernel "$GUEST_KERNEL" \
        --initrd guest.cpio.gz --append "console=ttyS0 quiet domus.round=$round" --disk disk.qcow2
    wait_for_line serial$round.log "^flushed " 150
    log "round $round: the guest is writing (${SECONDS}s)"
    sleep $((RANDOM % 8 + 1)).$((RANDOM % 10))
    vmm=$(pgrep -P "$SPAWNED_PID" -x domus-vmm) || fail "domus-vmm is not running"
    kill -KILL "$vmm"
    wait_exit || :
    flushed=$(sed -n 's/^flushed \([0-9]*\).*/\1/p' serial$round.log | tail -n1)
    grep -q "crash-writer:" serial$round.log && { show_tail serial$round.log; fail "the guest writer stopped"; }
    history+=("$round:$flushed")
    log "round $round: SIGKILL after $flushed blocks were flushed (${SECONDS}s)"
    cp disk.qcow2 disk$round.qcow2
    check_round $round "${history[@]}" > verify$round.log 2>&1 &
    checkers+=($!)
done
bad=0
for round in 1 2 3; do
    wait "${checkers[$((round - 1))]}" || bad=1
    sed "s/^/$CASE_NAME: /" verify$round.log
done
[ $bad = 0 ] || fail "the image did not survive every kill"
log "3 rounds of SIGKILL: the image stayed consistent and every flushed block is there (${SECONDS}s)"
