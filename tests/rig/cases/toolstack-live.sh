#!/bin/bash
# Snapshots through the toolstack with a real guest (the issue's flow):
# the console answers, a marker goes into the guest's RAM (/tmp) and disk,
# a snapshot of the running VM is taken, the markers change, a revert while
# running brings the first ones back and the console still answers. Then
# stop --save and start resume the running guest without a boot, a revert
# of the stopped VM to the live snapshot resumes that state on start, and
# the snapshot list shows the tree.
set -eu
. "$RIG_LIB"
require_vmm
require_cmd dbus-run-session python3
[ -x "$BUILD_DIR/console/domus" ] || skip "domus CLI not built"

cat > scenario.sh <<'S'
set -eu
. "$RIG_LIB"
. "$SRC_DIR/tests/toolstack/rig-helpers.sh"

d create snap --template demo-linux
d start snap
ask snap 'echo $((40+2))' 42
ask snap 'echo first-ram > /tmp/marker; echo first-disk | dd of=/dev/vda conv=sync 2>/dev/null; sync; echo w1-$((1+1))' w1-2
t0=$(date +%s.%N)
d snapshot snap create live
log "live snapshot took $(echo "$(date +%s.%N) - $t0" | bc) s (CLI round trip)"
[ "$(state snap)" = running ] || fail "the VM is $(state snap) after a live snapshot"
ask snap 'echo second-ram > /tmp/marker; echo second-disk | dd of=/dev/vda conv=sync 2>/dev/null; sync; echo w2-$((2+1))' w2-3
ask snap 'cat /tmp/marker' second-ram
d snapshot snap revert live
[ "$(state snap)" = running ] || fail "the VM is $(state snap) after a revert"
ask snap 'cat /tmp/marker' first-ram
ask snap 'dd if=/dev/vda bs=512 count=1 2>/dev/null | head -1' first-disk
ask snap 'sleep 1; echo $((40+2))' 42
log "reverted while running: RAM and disk are back at the snapshot, the console answers"

err=$("$DOMUS" snapshot snap revert nosuch 2>&1) && fail "revert to a missing snapshot worked"
grep -q "has no snapshot 'nosuch'" <<<"$err" || fail "unclear error for a missing snapshot: $err"

ask snap 'echo third-ram > /tmp/marker; echo w3-$((3+1))' w3-4
d stop snap --save
[ "$(state snap)" = stopped ] || fail "the VM is $(state snap) after stop --save"
d start snap
ask snap 'cat /tmp/marker' third-ram 60
log "stop --save then start resumed the running guest"

d stop snap --timeout 120
d snapshot snap create cold
d snapshot snap revert live
d start snap
ask snap 'cat /tmp/marker' first-ram 60
log "a stopped VM reverted to a live snapshot resumes its running state"
tree=$("$DOMUS" snapshot snap list)
echo "$tree"
grep -qE '^live .*disks\+RAM +\[current\]$' <<<"$tree" || fail "the tree lacks the current live snapshot"
grep -qE '^  cold .*disks$' <<<"$tree" || fail "the tree lacks cold under live"
d stop snap --force
S
"$SRC_DIR/tests/toolstack/domus-session" --dir "$PWD/session" -- bash scenario.sh
