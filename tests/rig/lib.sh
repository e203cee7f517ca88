# lib.sh: helpers for rig test cases (tests/rig/cases/*.sh). Source it:
#
#     #!/bin/bash
#     set -eu
#     . "$RIG_LIB"
#
# run-cases runs each case with bash, in a fresh scratch directory, and sets:
#   DOMUS_VMM     the built domus-vmm (may be missing: use require_vmm)
#   BUILD_DIR     meson build directory     SRC_DIR   source tree
#   GUEST_KERNEL  kernel image for guests (Debian's /boot/vmlinuz-*)
#   RIG_DIR       tests/rig                 RIG_LIB   this file
#   CASE_NAME     the case's name           CASE_TMPDIR  its scratch dir (cwd)
#
# A case passes by exiting 0, fails by exiting non-zero (use fail), and is
# skipped with skip REASON. Everything it prints lands in the TAP output as
# diagnostics.

: "${RIG_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}"
: "${GUEST_KERNEL:=$("$RIG_DIR/mkguest" --kernel)}"
: "${CASE_TMPDIR:=$PWD}"

# Modules a typical guest needs on Domus's (or QEMU's) virtual hardware;
# "button evdev" give busybox acpid the ACPI power button.
GUEST_MODULES=${GUEST_MODULES:-"virtio_pci virtio_mmio virtio_blk virtio_console virtio_rng virtio_net button evdev"}

log() { echo "${CASE_NAME:-case}: [${SECONDS}s] $*"; }

# fail MESSAGE: end the case as failed.
fail() {
    echo "FAIL: [${SECONDS}s] $*"
    exit 1
}

# skip REASON: end the case as skipped (run-cases reports "# SKIP REASON").
skip() {
    [ -n "${RIG_SKIP_FILE:-}" ] && echo "$*" > "$RIG_SKIP_FILE"
    echo "SKIP: $*"
    exit 77
}

require_cmd() {
    local c
    for c; do command -v "$c" >/dev/null || skip "$c not installed"; done
}

require_kvm() {
    [ -r /dev/kvm ] && [ -w /dev/kvm ] || skip "/dev/kvm not usable"
}

require_vmm() {
    require_kvm
    [ -n "${DOMUS_VMM:-}" ] && [ -x "$DOMUS_VMM" ] || skip "domus-vmm not built (DOMUS_VMM=${DOMUS_VMM:-})"
}

# require_toolstack [CMD...]: skip unless domus-vmm, the domus CLI,
# dbus-run-session, python3 and CMDs are there.
require_toolstack() {
    require_vmm
    require_cmd dbus-run-session python3 "$@"
    [ -x "$BUILD_DIR/console/domus" ] || skip "domus CLI not built"
}

# toolstack_session < SCENARIO: run the bash script on stdin (as
# ./scenario.sh, under set -eu, with this file and the toolstack's helpers
# d, state, ask loaded) against a private domusd: tests/toolstack/domus-session
# gives it its own D-Bus session bus (domusd starts on the first call), XDG
# dirs under ./session and $DOMUS, and kills what it started when it ends.
toolstack_session() {
    { printf '%s\n' 'set -eu' '. "$RIG_LIB"' '. "$SRC_DIR/tests/toolstack/rig-helpers.sh"'; cat; } > scenario.sh
    "$SRC_DIR/tests/toolstack/domus-session" --dir "$PWD/session" -- bash scenario.sh
}

# require_manager NAME: skip unless the manager's click-flow test NAME
# (tests/manager/NAME), domus-vmm, Xvfb and xdotool are there; sets
# MANAGER_TEST to it, MANAGER_SHOTS to the folder for its screenshots, and
# DOMUS_SESSION_CACHE to the build dir's cache (domusd builds the demo
# guest's initramfs there once; the host keeps it for later cases and runs).
require_manager() {
    require_vmm
    require_cmd dbus-run-session Xvfb xdotool
    export BUILD_DIR=${BUILD_DIR:-$(dirname "$(dirname "$DOMUS_VMM")")}
    MANAGER_TEST=$BUILD_DIR/tests/manager/$1
    [ -x "$MANAGER_TEST" ] || skip "domus-manager not built (GTK 4 or libadwaita missing)"
    export DOMUS_SESSION_CACHE=$BUILD_DIR/rig-cache
    MANAGER_SHOTS=$BUILD_DIR/manager-shots
    mkdir -p "$DOMUS_SESSION_CACHE" "$MANAGER_SHOTS"
}

# build_guest OUT.cpio.gz [mkguest args...]: a guest initramfs with
# $GUEST_MODULES plus whatever the args add (--add SRC:DEST, --init FILE...).
build_guest() {
    local out=$1; shift
    "$RIG_DIR/mkguest" --output "$out" --modules "$GUEST_MODULES" "$@" ||
        fail "mkguest failed"
}

# guest_script FILE: write stdin to FILE as an executable /bin/sh script,
# e.g. for build_guest --add FILE:/init.d/10-test.
guest_script() {
    { echo '#!/bin/sh'; cat; } > "$1"
    chmod 755 "$1"
}

# spawn LOG TIMEOUT CMD...: start CMD in the background, killed after
# TIMEOUT seconds or when the case dies, even by SIGKILL (timeout and CMD get
# SIGKILL from the kernel when their parent goes: timeout's own process
# group is out of reach of run-cases' kill); its stdout goes to LOG, its
# stderr to LOG.err. Sets SPAWNED_PID (the default for wait_for_line and
# wait_exit).
spawn() {
    local logf=$1 t=$2; shift 2
    setpriv --pdeathsig KILL timeout -k 5 "$t" setpriv --pdeathsig KILL "$@" > "$logf" 2> "$logf.err" &
    SPAWNED_PID=$!
    SPAWNED_LOG=$logf
}

# vmm_start LOG TIMEOUT ARGS...: start domus-vmm in the background with its
# serial console captured to LOG (its own messages go to LOG.err).
vmm_start() {
    local logf=$1 t=$2; shift 2
    require_vmm
    log "domus-vmm --serial stdio $*"
    spawn "$logf" "$t" "$DOMUS_VMM" --serial stdio "$@"
}

# vmm_run LOG TIMEOUT ARGS...: run domus-vmm to the end; returns its exit
# status (124 when it ran out of time).
vmm_run() {
    vmm_start "$@"
    wait_exit
}

# wait_exit [PID]: wait for a spawned command; returns its exit status, 124
# if its timeout killed it. Under set -e, use: rc=0; wait_exit || rc=$?
wait_exit() {
    local pid=${1:-$SPAWNED_PID} rc=0
    wait "$pid" || rc=$?
    [ $rc = 137 ] && rc=124
    return $rc
}

# show_stuck PID: what a spawned command that will not end is doing: each
# process under PID (the VMM under timeout and setpriv), its threads' states
# and kernel wait points, and with gdb their stacks.
show_stuck() {
    local pids p t
    pids=$(pgrep -P "$1"; for p in $(pgrep -P "$1"); do pgrep -P "$p"; done) || :
    for p in $pids; do
        echo "--- stuck: $(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | cut -c1-120)"
        for t in /proc/"$p"/task/*; do
            echo "  thread $(cat "$t/comm" 2>/dev/null): $(awk '{print $3}' "$t/stat" 2>/dev/null) in $(cat "$t/wchan" 2>/dev/null)"
        done
        command -v gdb >/dev/null &&
            timeout 60 gdb -p "$p" -batch -ex 'thread apply all bt' 2>/dev/null | grep -E '^(Thread|#)' | cut -c1-160 | head -n 80
    done
    echo "---"
}

# expect_exit CODE [PID] [SECONDS]: fail unless the spawned command exits
# with CODE; with SECONDS, it must also exit within them (else it is shown
# with show_stuck, killed, and the case fails without using up its limit).
expect_exit() {
    local want=$1 pid=${2:-$SPAWNED_PID} rc=0
    if [ -n "${3:-}" ]; then
        local deadline=$((SECONDS + $3))
        while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.5; done
        if kill -0 "$pid" 2>/dev/null; then
            show_stuck "$pid"
            [ -n "${SPAWNED_LOG:-}" ] && show_tail "$SPAWNED_LOG" && show_tail "$SPAWNED_LOG.err"
            kill "$pid" 2>/dev/null
            fail "did not exit within $3 s (wanted exit status $want)"
        fi
    fi
    wait_exit "$pid" || rc=$?
    [ "$rc" = "$want" ] && return 0
    [ -n "${SPAWNED_LOG:-}" ] && show_tail "$SPAWNED_LOG" && show_tail "$SPAWNED_LOG.err"
    [ "$rc" = 124 ] && fail "timed out (wanted exit status $want)"
    fail "exit status $rc, wanted $want"
}

# wait_for_line FILE REGEX [TIMEOUT] [PID]: wait until a line of FILE matches
# the extended REGEX; fails after TIMEOUT seconds (default 60), or as soon as
# PID (default: the last spawned command) has exited without it.
wait_for_line() {
    local file=$1 re=$2 t=${3:-60} pid=${4:-${SPAWNED_PID:-}}
    local deadline=$((SECONDS + t))
    while [ $SECONDS -lt $deadline ]; do
        grep -qE -- "$re" "$file" 2>/dev/null && return 0
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
            grep -qE -- "$re" "$file" 2>/dev/null && return 0
            show_tail "$file"; show_tail "$file.err"
            fail "'$re' not in $file: the process exited first"
        fi
        sleep 0.2
    done
    show_tail "$file"; show_tail "$file.err"
    fail "'$re' not in $file after ${t}s"
}

# vmm_control SOCKET REQUEST...: sends each JSON request line to a
# domus-vmm control socket and prints each reply line.
vmm_control() {
    python3 - "$@" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile('rwb')
for req in sys.argv[2:]:
    f.write(req.encode() + b'\n'); f.flush()
    print(f.readline().decode().strip())
PY
}

# show_tail FILE [N]: print the last N (30) lines of FILE, labelled.
show_tail() {
    [ -s "$1" ] || return 0
    echo "--- last lines of ${1##*/}:"
    tail -n "${2:-30}" "$1"
    echo "---"
}

# On the way out (also on SIGTERM from run-cases' timeout) whatever the
# case started and left running goes: spawned commands and the case's own
# background jobs (cmd &), all children of this shell.
_rig_cleanup() {
    pkill -TERM -P $$ 2>/dev/null || :
    kvm_trace_stop
}
trap _rig_cleanup EXIT

# kvm_trace_start: in the QEMU rig (whose kernel is ours to trace), records
# in a ring buffer what KVM sees of a guest's serial console: the guest's
# accesses to COM1's ports, and GSI 4's line as the VMM sets it and as the
# IOAPIC takes it (with its vector, and whether an edge was coalesced).
# kvm_trace_show prints the last of it, then traces 1 s of everything KVM
# does for the guest: exits by reason and RIP (a RIP that does not move: a
# stuck guest; no exits at all: halted, or a vCPU thread stuck in the VMM),
# injections, faults. kvm_trace_stop: off.
KVM_TRACE=/sys/kernel/tracing
kvm_trace_start() {
    [ "${DOMUS_RIG_TCG:-}" = 1 ] || return 0
    [ -d $KVM_TRACE/events ] || mount -t tracefs nodev $KVM_TRACE 2>/dev/null || return 0
    [ -d $KVM_TRACE/events/kvm ] || return 0
    local e
    {   # a diagnosis aid: never the reason a case fails
        echo 4096 > $KVM_TRACE/buffer_size_kb
        for e in "kvm_pio port >= 0x3f8 && port <= 0x3ff" "kvm_set_irq gsi == 4" "kvm_ioapic_set_irq pin == 4"; do
            echo "${e#* }" > "$KVM_TRACE/events/kvm/${e%% *}/filter" &&
                echo 1 > "$KVM_TRACE/events/kvm/${e%% *}/enable"
        done
        echo 1 > $KVM_TRACE/tracing_on
    } 2>/dev/null || return 0
    KVM_TRACE_ON=1
}
kvm_trace_stop() {
    [ -n "${KVM_TRACE_ON:-}" ] || return 0
    echo 0 > $KVM_TRACE/tracing_on
    kvm_trace_stop_events
    echo > $KVM_TRACE/trace
}
kvm_trace_stop_events() {
    local e
    for e in $KVM_TRACE/events/kvm/*/enable; do echo 0 > "$e"; done
}
kvm_trace_show() {
    [ -n "${KVM_TRACE_ON:-}" ] || return 0
    local e
    echo 0 > $KVM_TRACE/tracing_on
    echo "--- KVM trace: the last ${1:-120} events (COM1 ports, GSI 4):"
    grep -v '^#' $KVM_TRACE/trace | tail -n "${1:-120}" | cut -c1-170
    kvm_trace_stop
    # Then everything KVM does for 1 s: exits, injections, faults.
    for e in kvm_exit kvm_entry kvm_inj_virq kvm_page_fault kvm_apic_accept_irq kvm_msr kvm_mmio \
             kvm_userspace_exit kvm_inj_exception kvm_fast_mmio; do
        echo 1 > "$KVM_TRACE/events/kvm/$e/enable" 2>/dev/null || :
    done
    echo 1 > $KVM_TRACE/tracing_on; sleep 1; echo 0 > $KVM_TRACE/tracing_on
    KVM_TRACE_ON=1 kvm_trace_stop_events
    KVM_TRACE_ON=
    grep -v '^#' $KVM_TRACE/trace > kvm-sample.txt
    echo "--- KVM in 1 s: $(grep -c ' kvm_exit:' kvm-sample.txt) guest exits; by event, exit reason and RIP:"
    grep -o ' kvm_[a-z_]*:' kvm-sample.txt | sort | uniq -c | sort -rn | head -n 10
    grep -o 'reason [A-Za-z_0-9]* rip 0x[0-9a-f]*' kvm-sample.txt | sort | uniq -c | sort -rn | head -n 6
    echo "--- the first events of that second:"
    head -n 24 kvm-sample.txt | cut -c1-200
    echo > $KVM_TRACE/trace
    echo "---"
}
