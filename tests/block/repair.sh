#!/bin/bash
# domus-img check [-r leaks|all] on images left dirty or inconsistent,
# judged by the real qemu-img: before the repair both tools find the same
# trouble (exit status and count), afterwards qemu-img check agrees with
# what domus-img says is left, and the guest data still reads the same.
# Prints TAP.
#   repair.sh DOMUS_IMG
set -u
img=$(realpath "$1")
. "$(dirname "$0")/tap-lib.sh"
# Bytes at an offset, given as hex digits (e.g. 0001).
poke() { printf "$(echo "$3" | sed 's/../\\x&/g')" | dd of="$1" bs=1 seek=$(($2)) conv=notrunc status=none; }
errors() { grep -o '^[0-9]* errors were found' "$1" | grep -o '^[0-9]*' || echo 0; }
leaks() { grep -o '^[0-9]* leaked clusters were found' "$1" | grep -o '^[0-9]*' || echo 0; }

# A qemu-img image with 64 KiB clusters has a fixed layout: header, refcount
# table (0x10000), refcount block (0x20000, 16-bit entries), L1 (0x30000),
# L2 (0x40000), then data from cluster 5.
fresh() {
    rm -f "$1" "$1.raw"
    qemu-img create -q -f qcow2 "$1" 64M && qemu-io -c 'write -P 7 0 256k' -c 'write -P 9 1M 64k' "$1" >/dev/null &&
        qemu-img convert -O raw "$1" "$1.raw"
}

# case NAME FIX: both tools check the broken image; domus-img repairs with
# -r FIX; qemu-img check then exits as domus-img did, data unchanged.
case_() {
    local name=$1 fix=$2 want_after=$3
    cp "$name.qcow2" q.qcow2
    qemu-img check q.qcow2 >q.out 2>&1; local qrc=$?
    "$img" check "$name.qcow2" >d.out 2>&1; local drc=$?
    cat q.out d.out >log
    if [ $qrc != $drc ] || [ "$(errors q.out)" != "$(errors d.out)" ] || [ "$(leaks q.out)" != "$(leaks d.out)" ]; then
        nok "$name: qemu-img check exit $qrc ($(errors q.out) errors, $(leaks q.out) leaks), domus-img exit $drc ($(errors d.out), $(leaks d.out))"
        return
    fi
    "$img" check -r "$fix" "$name.qcow2" >r.out 2>&1; local rrc=$?
    qemu-img check "$name.qcow2" >q2.out 2>&1; local q2rc=$?
    cat r.out q2.out >log
    if [ $rrc != "$want_after" ] || [ $q2rc != "$want_after" ]; then
        nok "$name: after check -r $fix domus-img exit $rrc, qemu-img check exit $q2rc (wanted $want_after)"
        return
    fi
    if ! qemu-img compare -q "$name.qcow2" "$name.qcow2.raw" >log 2>&1 && [ "${4:-}" != nodata ]; then
        nok "$name: the data changed in the repair"
        return
    fi
    ok "$name: both find exit $qrc ($(errors q.out) errors, $(leaks q.out) leaks); after -r $fix both say exit $want_after, data intact"
}

# Leaked cluster: a cluster in the file counted but used by nothing.
fresh leak.qcow2 && truncate -s +64k leak.qcow2 && poke leak.qcow2 $((0x20000 + 2 * 10)) 0001
case_ leak leaks 0
# A refcount below the references (and so a COPIED flag that lies): only -r all.
fresh low.qcow2 && poke low.qcow2 $((0x20000 + 2 * 5)) 0000
cp low.qcow2 low2.qcow2 && cp low.qcow2.raw low2.qcow2.raw
case_ low leaks 2
case_ low2 all 0
# A stale COPIED flag on a data cluster.
fresh copied.qcow2 && poke copied.qcow2 0x40000 00000000
case_ copied all 0
# Left open with lazy refcounts (QEMU killed mid-run): every new cluster's
# refcount is missing and the dirty flag is set.
rm -f lazy.qcow2 && qemu-img create -q -f qcow2 -o lazy_refcounts=on lazy.qcow2 64M &&
    sh -c "qemu-io -c 'write -P 5 0 1M' -c 'write -P 6 8M 256k' -c 'sigraise 9' lazy.qcow2; true" >/dev/null 2>&1
qemu-img convert -O raw lazy.qcow2 lazy.qcow2.raw && cp lazy.qcow2 lazy2.qcow2 && cp lazy.qcow2.raw lazy2.qcow2.raw
case_ lazy all 0
if od -An -tx1 -j72 -N8 lazy.qcow2 | grep -q '^ 00 00 00 00 00 00 00 00$'; then
    ok "lazy: the dirty flag is cleared by the repair"
else
    echo "incompat: $(od -An -tx1 -j72 -N8 lazy.qcow2)" >log; nok "lazy: the dirty flag is still set"
fi
# Opened for writing (as domus-vmm would), a dirty image is repaired first.
"$img" snapshot -c after-crash lazy2.qcow2 >log 2>&1 && qemu-img check lazy2.qcow2 >>log 2>&1 &&
    qemu-img compare -q lazy2.qcow2 lazy2.qcow2.raw >>log 2>&1 &&
    ok "lazy: opened for writing, a dirty image is repaired first (qemu-img check clean, data intact)" ||
    nok "lazy: opened for writing"
# An L2 entry pointing far past the end of the file: reported, and left as
# qemu-img leaves it (an error remains after -r all); the leak it made is fixed.
fresh eof.qcow2 && poke eof.qcow2 0x40008 8000010000000000
cp eof.qcow2 q.qcow2 && qemu-img check -r all q.qcow2 >/dev/null 2>&1; qall=$?
"$img" check eof.qcow2 >d.out 2>&1; drc=$?
"$img" check -r all eof.qcow2 >r.out 2>&1; rrc=$?
cat d.out r.out >log
if [ $drc = 2 ] && [ $rrc = $qall ] && [ "$(leaks r.out)" = 0 ] && grep -q 'past the end\|invalid' r.out; then
    ok "eof: an L2 entry past the end of the file is reported, and still after -r all (exit $rrc as qemu-img)"
else
    nok "eof: domus-img check exit $drc, -r all exit $rrc; qemu-img check -r all exit $qall"
fi
# Marked corrupt but consistent: -r all clears the flag, as qemu-img does.
fresh flag.qcow2 && poke flag.qcow2 72 0000000000000002
if "$img" snapshot -c x flag.qcow2 >log 2>&1; then
    nok "flag: an image marked corrupt was opened for writing"
elif "$img" check -r all flag.qcow2 >>log 2>&1 && "$img" snapshot -c x flag.qcow2 >>log 2>&1 &&
     qemu-img check flag.qcow2 >>log 2>&1; then
    ok "flag: marked corrupt, refused for writing; check -r all clears the flag"
else
    nok "flag: check -r all did not clear the corrupt flag"
fi
# A snapshot whose L1 table points past the end of the file: reverting to
# it must be refused (applied, it would read as zeroes), the disk unchanged.
fresh snap.qcow2 && qemu-img snapshot -c s1 snap.qcow2 && qemu-io -c 'write -P 5 0 64k' snap.qcow2 >/dev/null
sn_table=$(od -An -tu8 --endian=big -j 64 -N 8 snap.qcow2 | tr -d ' ')
sn_l1=$(od -An -tu8 --endian=big -j "$sn_table" -N 8 snap.qcow2 | tr -d ' ')
poke snap.qcow2 "$sn_l1" 8000000010000000
"$img" snapshot -a s1 snap.qcow2 >log 2>&1; rc=$?
if [ $rc != 0 ] && [ "$(wc -l <log)" = 1 ] && qemu-io -c 'read -P 5 0 64k' -c 'read -P 7 64k 192k' snap.qcow2 >>log 2>&1 &&
   ! grep -q 'verification failed' log; then
    ok "snapshot -a to a snapshot whose L1 points past the end: refused in one line ($(head -c 120 log)), data unchanged"
else
    nok "snapshot -a to a corrupt snapshot: exit $rc"
fi
# Bad flags: one line, exit 2.
"$img" check -r some leak.qcow2 >log 2>&1; rc=$?
[ $rc = 2 ] && [ "$(wc -l <log)" = 1 ] && ok "check -r some: one line, exit 2" || nok "check -r some: exit $rc"
finish
