#!/bin/bash
# case-timeout: 900
# The toolstack end to end, with real guests: domus create from demo-linux,
# start, the serial console answers a shell command, a clone runs beside
# its origin in its own cgroup, top lists both, domusd restarts while they
# run and finds them again, a SIGKILLed VMM is reported as crashed while the
# other VM goes on, stop through ACPI and with --force.
set -eu
. "$RIG_LIB"
require_toolstack

# A delegated cgroup for the VMs (the rig has no systemd).
if ! [ -e /sys/fs/cgroup/cgroup.controllers ]; then
    mount -t cgroup2 none /sys/fs/cgroup || skip "cannot mount cgroup2"
fi
mkdir -p /sys/fs/cgroup/domus-test
echo "+cpu +memory" > /sys/fs/cgroup/cgroup.subtree_control || true
export DOMUS_CGROUP=/sys/fs/cgroup/domus-test

toolstack_session <<'S'
d create web --template demo-linux
d clone web web2 --linked
d start web
d start web2
[ "$(state web)" = running ] || fail "web is not running"
ask web 'echo $((40+2))' 42
log "web answered 42 on its serial console"
ask web2 'echo clone-$((6*7))' clone-42
log "the linked clone runs beside its origin"

cg=$("$DOMUS" info web --json | python3 -c 'import json,sys; print(json.load(sys.stdin).get("cgroup",""))')
case $cg in */domus-test/vm-web) ;; *) fail "web is not in its cgroup (cgroup: $cg)" ;; esac
[ "$(cat "$cg/memory.max")" = $(( (256 + 256) << 20 )) ] || fail "memory.max is $(cat "$cg/memory.max")"

# A busy loop in web shows in top; web2 stays idle.
ask web '(while :; do :; done) & echo spinning' spinning
"$DOMUS" top --once | tee top.txt
grep -qE '^web +running' top.txt && grep -qE '^web2 +running' top.txt || fail "top --once does not list both"
awk '$1 == "web" { exit !($3 > 50) }' top.txt || fail "top does not show web's busy vCPU"
awk '$1 == "web2" { exit !($3 < 50) }' top.txt || fail "top shows the idle web2 busy"
ask web 'kill $!; echo spin-stopped' spin-stopped

# domusd restarts; the VMs keep running and are found again.
pid_before=$("$DOMUS" info web --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
domusd_stop || fail "domusd did not stop"
[ "$(state web)" = running ] || fail "after a domusd restart web is $(state web)"
pid_after=$("$DOMUS" info web --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
[ "$pid_before" = "$pid_after" ] || fail "web's VMM changed ($pid_before -> $pid_after)"
ask web 'echo again-$((40+2))' again-42 60
log "after the restart domusd found both VMs"

# web2's VMM, adopted by the new domusd, is killed outright: a crash, and web goes on.
kill -KILL "$("$DOMUS" info web2 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')"
sleep 1
[ "$(state web2)" = crashed ] || fail "after SIGKILL web2 is $(state web2)"
"$DOMUS" info web2 | grep -q 'last-error.*killed' || fail "web2's last error does not say it was killed"

# A crashed VM starts again; pause, resume, and stop --force (at once).
d start web2
d pause web2
[ "$(state web2)" = paused ] || fail "web2 not paused"
d resume web2
[ "$(state web2)" = running ] || fail "web2 not running after resume"
d stop web2 --force
[ "$(state web2)" = stopped ] || fail "web2 is $(state web2) after stop --force"

# web was untouched, and stops through its ACPI power button.
ask web 'echo still-$((40+2))' still-42 60
t0=$SECONDS
d stop web --timeout 120
[ "$(state web)" = stopped ] || fail "web is $(state web) after stop"
[ $((SECONDS - t0)) -lt 100 ] || fail "web did not power off through ACPI (stop took $((SECONDS - t0)) s)"
log "web powered off through ACPI in $((SECONDS - t0)) s"
d delete web2

d list
S
