#!/bin/bash
# A writer using the block library creates, applies and deletes internal
# snapshots between flushed writes and is killed with SIGKILL at random
# moments, several rounds on the same qcow2 overlay: each time `qemu-img
# check` finds no corruption (leaks allowed), every snapshot that was made
# (and not being deleted) is listed by qemu-img and holds exactly what the
# image held when it was taken, and the active image holds everything
# flushed (or, when the kill cut an apply short, exactly the snapshot).
# A kill inside a snapshot operation may leave COPIED flags that disagree
# with refcounts, which `qemu-img check` counts as errors (QEMU has the same
# window: the two live in different clusters and cannot change together);
# only the harmless kind is allowed, a flag missing (writes copy needlessly),
# never one set on a shared cluster. With POWERLOSS_* set (powerloss-lib.sh)
# the image is the one a power loss could leave instead. Prints TAP.
#   snapshot-crash.sh CRASH_WRITER SNAP_CRASH [ROUNDS]
set -u
init=$(realpath "$1") snap=$(realpath "$2") rounds=${3:-8}
command -v qemu-img >/dev/null || { echo "1..0 # SKIP qemu-img not installed (qemu-utils)"; exit 0; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
. "$(dirname "$(realpath "$0")")/powerloss-lib.sh"
cd "$work"
"$init" init base.raw $((16 << 20)) || exit 1
n=0 failed=0
for variant in "-o cluster_size=64k" "-o cluster_size=4k,refcount_bits=4"; do
    rm -f top.qcow2 state
    qemu-img create -q -f qcow2 $variant -b base.raw -F raw top.qcow2 || exit 1
    for round in $(seq 1 "$rounds"); do
        n=$((n + 1))
        powerloss_begin top.qcow2
        powerloss_exec "$snap" run top.qcow2 state $((RANDOM * round)) 2>run.err &
        pid=$!
        sleep "0.$((RANDOM % 9 + 1))$((RANDOM % 10))"
        kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
        lost=$(powerloss_end top.qcow2) || exit 1
        why=
        qemu-img check top.qcow2 > check.out 2>&1; rc=$?
        # Errors other than OFLAG_COPIED ones whose entry lacks the flag (bit 63).
        grave=$(grep ERROR check.out | grep -vE 'OFLAG_COPIED .*_entry=[0-7]?[0-9a-f]{0,15} refcount=' | head -n3)
        copied=$(grep -c 'ERROR OFLAG_COPIED' check.out)
        [ $rc = 0 ] || [ $rc = 3 ] || { [ $rc = 2 ] && [ -z "$grave" ]; } ||
            why="qemu-img check exit $rc: $(echo "$grave" | tr '\n' ' ')"
        if [ -z "$why" ] && [ -s state ]; then
            qemu-img snapshot -l top.qcow2 > list.out
            for s in $("$snap" names state); do
                grep -qE "^[0-9]+ +$s " list.out || { why="snapshot $s is gone"; break; }
                qemu-img convert -l snapshot.name=$s -O raw top.qcow2 s.raw &&
                    "$snap" check s.raw state $s 2>check.err || { why="snapshot $s: $(cat check.err)"; break; }
            done
            [ -n "$why" ] || { qemu-img convert -O raw top.qcow2 a.raw &&
                "$snap" check a.raw state @active 2>check.err; } || why="$(cat check.err)"
        fi
        if [ -n "$why" ]; then
            echo "not ok $n - $variant round $round: $why"; sed 's/^/# /' run.err | head; failed=$((failed + 1))
        else
            echo "ok $n - $variant round $round: check clean but for $copied missing COPIED flags; $("$snap" names state | wc -l) snapshots and the active image intact${lost:+ (power loss: $lost)}"
        fi
    done
done
echo "1..$n"
exit $((failed > 0))
