#!/bin/bash
# A test that dies leaves no VM behind: a VM started through domusd inside
# tests/toolstack/domus-session is gone once the session ends, whether its
# command finishes or the session is SIGKILLed (as a harness gives up on a
# hung test), although domusd's VMMs run in sessions of their own so that
# they outlive a domusd restart. Nothing of the session is left: domusd, its
# bus, its temporary folder. TAP output.
#   session-reap.sh   (BUILD_DIR, SRC_DIR; PAYLOAD: the guest kernel)
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
payload=${PAYLOAD:-$BUILD_DIR/tests/payload/snapshot.bzImage}
if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then echo "1..0 # SKIP /dev/kvm is not accessible here"; exit 0; fi
work=$(mktemp -d "${TMPDIR:-/tmp}/session-reap.XXXXXX")
trap 'rm -rf "$work"' EXIT

. "$here/tap.sh"
# gone PID: true once PID has exited (within 10 s).
gone() {
    local i
    for i in $(seq 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
    return 1
}
# left DIR: the processes whose environment still names session DIR.
left() {
    local e
    for e in /proc/[0-9]*/environ; do
        grep -qzxF "DOMUS_SESSION_DIR=$1" "$e" 2>/dev/null && tr '\0' ' ' < "${e%environ}cmdline" && echo
    done
}

# The session's command: a VM from a one-payload template, started; then
# it says so and waits (for ever, or until it is told to end).
cat > "$work/start-vm.sh" <<'S'
set -eu
payload=$PAYLOAD
. "$HERE/payload-template.sh"
"$DOMUS" create p --template payload >/dev/null
"$DOMUS" start p >/dev/null
"$DOMUS" info p --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])' > "$1.pid"
while [ ! -e "$1.end" ]; do sleep 0.1; done
S
export PAYLOAD=$payload HERE=$here

# run HOW: one session in the background with a VM running; HOW ends it.
run() {
    local how=$1 s=$work/$1 pid vmm i
    "$here/domus-session" -- bash "$work/start-vm.sh" "$s" > "$s.log" 2>&1 &
    pid=$!
    for i in $(seq 600); do [ -s "$s.pid" ] || ! kill -0 $pid 2>/dev/null && break; sleep 0.1; done
    vmm=$(cat "$s.pid" 2>/dev/null)
    if [ -z "$vmm" ] || ! kill -0 "$vmm" 2>/dev/null; then
        not_ok "$how: the VM runs in the session"; sed 's/^/# /' "$s.log"; kill -KILL $pid 2>/dev/null; return
    fi
    ok "$how: the VM runs in the session (domus-vmm pid $vmm)"
    local sdir
    sdir=$(tr '\0' '\n' < /proc/$vmm/environ | sed -n 's/^DOMUS_SESSION_DIR=//p')
    case $how in
        sigkill) kill -KILL $pid ;;
        finish) touch "$s.end" ;;
    esac
    wait $pid 2>/dev/null
    gone "$vmm" && ok "$how: the VM's domus-vmm is gone" || { not_ok "$how: domus-vmm $vmm still runs"; kill -KILL "$vmm"; }
    for i in $(seq 50); do [ -z "$(left "$sdir")" ] && break; sleep 0.1; done
    local rest
    rest=$(left "$sdir")
    [ -z "$rest" ] && ok "$how: nothing of the session runs on (domusd, its bus)" ||
        not_ok "$how: still running: $rest"
    for i in $(seq 50); do [ ! -e "$sdir" ] && break; sleep 0.1; done
    [ ! -e "$sdir" ] && ok "$how: the session's folder is removed" || not_ok "$how: $sdir is left"
}
run finish
run sigkill

tap_done
