#!/bin/bash
# A rig case that dies leaves no VMM behind: domus-vmm started with lib.sh's
# vmm_start (under timeout, in a process group of its own) is gone once the
# case's shell is SIGKILLed, and once it is SIGTERMed (as run-cases' timeout
# does), together with the case's own background jobs. Runs a payload guest
# on this machine's /dev/kvm, no rig. TAP output.
#   test-lib-spawn.sh DOMUS_VMM PAYLOAD_BZIMAGE
set -u
vmm=$(realpath "$1") payload=$(realpath "$2")
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then echo "1..0 # SKIP /dev/kvm is not accessible here"; exit 0; fi
work=$(mktemp -d "${TMPDIR:-/tmp}/lib-spawn.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
gone() {   # PID: true once it has exited (within 5 s)
    local i
    for i in $(seq 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
    return 1
}

# The case: a VMM (the payload waits on its serial port for ever) and a job
# of its own; it writes both pids, then waits.
cat > case.sh <<'C'
set -eu
. "$RIG_LIB"
vmm_start serial.log 600 --memory 32M --kernel "$PAYLOAD"
wait_for_line serial.log 'snapshot payload ready' 30
sleep 600 &
echo "$(pgrep -P "$SPAWNED_PID") $!" > pids
wait $!
C

for sig in KILL TERM; do
    rm -f pids
    RIG_LIB=$here/lib.sh RIG_DIR=$here GUEST_KERNEL=none DOMUS_VMM=$vmm PAYLOAD=$payload CASE_NAME=spawn \
        bash case.sh > case.log 2>&1 < /dev/null &
    case_pid=$!
    for _ in $(seq 300); do [ -s pids ] || ! kill -0 $case_pid 2>/dev/null && break; sleep 0.1; done
    read -r vmm_pid job_pid < pids 2>/dev/null
    if [ -z "${vmm_pid:-}" ] || ! grep -q domus-vmm "/proc/$vmm_pid/cmdline" 2>/dev/null; then
        not_ok "SIG$sig: the case's domus-vmm runs"; sed 's/^/# /' case.log serial.log* 2>/dev/null
        kill -KILL $case_pid ${job_pid:-} 2>/dev/null; continue
    fi
    ok "SIG$sig: the case's domus-vmm runs (pid $vmm_pid)"
    kill -$sig $case_pid
    wait $case_pid 2>/dev/null
    gone "$vmm_pid" && ok "SIG$sig: domus-vmm is gone with the case" ||
        { not_ok "SIG$sig: domus-vmm $vmm_pid outlived the case"; kill -KILL "$vmm_pid"; }
    if [ $sig = TERM ]; then
        gone "$job_pid" && ok "SIG$sig: the case's own background job is gone" ||
            not_ok "SIG$sig: the case's job $job_pid outlived it"
    fi
    kill -KILL "$job_pid" 2>/dev/null   # SIGKILL leaves plain jobs: nothing runs to kill them
done

echo "1..$n"
[ $failed = 0 ]
