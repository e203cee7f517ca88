#!/bin/bash
# domusd under a real systemd user manager (systemd --user, the one Debian
# ships): a VMM runs in its own transient scope with the VM's CPU weight,
# CPU quota and memory limit; the scope goes when the VMM does; when systemd
# refuses the scope (its slice masked), the VMM runs in the delegated cgroup
# and info says why. The guest is the snapshot payload on this machine's
# /dev/kvm. TAP output.
#
# A user manager runs only where the system was booted with systemd and it
# has a cgroup2 tree of its own. Here (a container, or the rig's busybox
# init) neither is so, and a private mount namespace gives both: a tmpfs
# over /run/systemd holding the "booted with systemd" marker, and cgroup2
# on /sys/fs/cgroup with a fresh cgroup for the manager. That needs root;
# without it the test skips and says so.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${SRC_DIR:=$(cd "$here/../.." && pwd)}" "${BUILD_DIR:=$SRC_DIR/build}"
payload=${PAYLOAD:-$BUILD_DIR/tests/payload/snapshot.bzImage}
systemd=/lib/systemd/systemd
skip() { echo "1..0 # SKIP $*"; exit 0; }

if [ -z "${DOMUS_SYSTEMD_NS:-}" ]; then
    [ -r /dev/kvm ] && [ -w /dev/kvm ] || skip "/dev/kvm is not accessible here"
    [ -x "$systemd" ] && command -v systemctl >/dev/null || skip "systemd is not installed"
    [ "$(id -u)" = 0 ] || skip "a systemd user manager cannot be had here: the system was not booted with systemd, and faking its marker and cgroup2 tree in a private mount namespace needs root"
    unshare --mount true 2>/dev/null || skip "no private mount namespace here (unshare --mount failed)"
    DOMUS_SYSTEMD_NS=1 exec unshare --mount --propagation private "$0" "$@"
fi
[ -n "${DOMUS_SESSION_DIR:-}" ] || exec "$here/domus-session" -- "$0" "$@"

# ---- a systemd user manager of our own, on its own session bus ----
mkdir -p /run/systemd && mount -t tmpfs -o mode=755 tmpfs /run/systemd && mkdir /run/systemd/system ||
    skip "cannot mount a tmpfs on /run/systemd"
if [ ! -e /sys/fs/cgroup/cgroup.controllers ]; then
    mount -t cgroup2 none /sys/fs/cgroup || skip "cannot mount cgroup2"
fi
top=/sys/fs/cgroup/domus-systemd-test-$$
mkdir -p "$top/user" "$top/vms" || skip "cannot create cgroups under /sys/fs/cgroup"
# cpu and memory for the manager's and the fallback's VMs, where the
# hierarchy has them (a cgroup v1 host keeps them on v1: systemd still takes
# the limits as unit properties, the kernel files are then not there).
echo "+cpu +memory" > /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null
echo "+cpu +memory" > "$top/cgroup.subtree_control" 2>/dev/null
sd_pid= domusd_pid=
cleanup() {
    [ -n "$domusd_pid" ] && kill "$domusd_pid" 2>/dev/null && wait "$domusd_pid" 2>/dev/null
    for p in $(cat $(find "$top" -name cgroup.procs) 2>/dev/null); do [ "$p" != "$sd_pid" ] && kill -9 "$p" 2>/dev/null; done
    # A user manager told to go may wait up to its stop timeout (90 s) on
    # its bus: it is ours alone, so it gets 5 s.
    if [ -n "$sd_pid" ] && kill "$sd_pid" 2>/dev/null; then
        for _ in $(seq 50); do kill -0 "$sd_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$sd_pid" 2>/dev/null; wait "$sd_pid" 2>/dev/null
    fi
    find "$top" -depth -type d -exec rmdir {} \; 2>/dev/null
}
trap cleanup EXIT

# The manager's own session bus (dbus.socket from dbus-user-session), with
# domusd started on it by hand: our domus-session bus is left unused.
export XDG_RUNTIME_DIR=$DOMUS_SESSION_DIR/sd-run
# systemctl ignores most commands in a chroot (the rig runs tests in one);
# the manager it talks to here is in the same chroot.
export SYSTEMD_IGNORE_CHROOT=1
export DBUS_SESSION_BUS_ADDRESS=unix:path=$XDG_RUNTIME_DIR/bus
mkdir -p -m 700 "$XDG_RUNTIME_DIR"
(echo 0 > "$top/user/cgroup.procs" && exec "$systemd" --user) > "$DOMUS_SESSION_DIR/systemd.log" 2>&1 &
sd_pid=$!
for _ in $(seq 100); do [ -S "$XDG_RUNTIME_DIR/bus" ] && break; sleep 0.1; done
# The manager joins its bus a moment after the bus is there.
for _ in $(seq 100); do
    busctl --user call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus NameHasOwner s \
        org.freedesktop.systemd1 2>/dev/null | grep -q true && break
    sleep 0.1
done
busctl --user status org.freedesktop.systemd1 >/dev/null 2>&1 ||
    skip "systemd --user did not come up here: $(tail -3 "$DOMUS_SESSION_DIR/systemd.log" | tr '\n' ' ')"

. "$here/tap.sh"
info() { "$DOMUS" info v --json | python3 -c "import json,sys; print(json.load(sys.stdin).get('$1', ''))"; }
start_domusd() {
    DOMUS_CGROUP=$top/vms "$DOMUSD" 2>>"$DOMUS_SESSION_DIR/domusd.log" & domusd_pid=$!
    for _ in $(seq 100); do "$DOMUS" list >/dev/null 2>&1 && return; sleep 0.1; done
    echo "Bail out! domusd did not come up: $("$DOMUS" list 2>&1) $(cat "$DOMUS_SESSION_DIR/domusd.log")"; exit 1
}

. "$here/payload-template.sh"
start_domusd
check "domusd says VMs go into systemd scopes" sh -c "busctl --user get-property org.domus.Toolstack1 /org/domus/Toolstack1 org.domus.Toolstack1.Manager Confinement | grep -qx 's \"systemd\"'"
"$DOMUS" create v --template payload >/dev/null || { echo "Bail out! cannot create the VM"; exit 1; }
# Limits other than the defaults, straight into the config (domus set has no
# keys for them yet), read by the next domusd.
kill "$domusd_pid"; wait "$domusd_pid"
conf=$XDG_DATA_HOME/domus/vms/v/vm.conf
sed -i -e 's/^cpu-weight=.*/cpu-weight=250/' -e 's/^cpu-quota=.*/cpu-quota=50/' \
    -e 's/^memory-limit=.*/memory-limit=201326592/' "$conf"
[ "$(grep -cE '^(cpu-weight=250|cpu-quota=50|memory-limit=201326592)$' "$conf")" = 3 ] ||
    { echo "Bail out! vm.conf has no [resources] keys to change: $(cat "$conf")"; exit 1; }
start_domusd

check "start" "$DOMUS" start v
pid=$(info pid) unit=$(info scope)
check "info names the VM's scope" [ "$unit" = "domus-vm-v-$pid.scope" ]
check "info says the VM runs in it" [ "$(info confinement)" = "systemd scope $unit" ]
check "the VMM is in the scope's cgroup" grep -q "^0::/.*/$unit\$" "/proc/$pid/cgroup"
props=$(systemctl --user show -p CPUWeight -p CPUQuotaPerSecUSec -p MemoryMax -p Delegate -p Description "$unit")
sed 's/^/# /' <<<"$props"
check "systemd has the VM's CPU weight, quota and memory limit" python3 - "$props" <<'PY'
import sys
p = dict(l.split("=", 1) for l in sys.argv[1].splitlines())
want = {"CPUWeight": "250", "CPUQuotaPerSecUSec": "500ms", "MemoryMax": "201326592", "Delegate": "no",
        "Description": "Domus VM v"}
assert all(p.get(k) == v for k, v in want.items()), (p, want)
PY
cg=$(info cgroup)
if [ -e "$cg/cpu.weight" ] && [ -e "$cg/memory.max" ]; then
    check "the kernel applies them (cpu.weight, cpu.max, memory.max)" \
        [ "$(cat "$cg/cpu.weight") $(cat "$cg/cpu.max") $(cat "$cg/memory.max")" = "250 50000 100000 201326592" ]
else
    ok "# SKIP the kernel's cpu and memory files: this cgroup2 tree has no cpu and memory controllers ($(cat /sys/fs/cgroup/cgroup.controllers))"
fi
check "stop" "$DOMUS" stop v --force
for _ in $(seq 50); do systemctl --user is-active -q "$unit" || break; sleep 0.1; done
check "the scope is gone with the VMM" sh -c "! systemctl --user is-active -q '$unit'"

# systemd refuses: the slice scopes go into is masked.
systemctl --user mask -q app.slice
check "start while systemd refuses scopes" "$DOMUS" start v
pid=$(info pid)
check "the VMM runs in the delegated cgroup instead" grep -qx "0::/domus-systemd-test-$$/vms/vm-v" "/proc/$pid/cgroup"
conf=$(info confinement)
echo "# confinement: $conf"
check "info says where and why" grep -q "^cgroup $top/vms/vm-v (systemd refused domus-vm-v-$pid.scope: .*masked" <<<"$conf"
check "domusd logs why" grep -q "VM 'v' runs in cgroup .*masked" "$DOMUS_SESSION_DIR/domusd.log"
check "no scope for it" [ -z "$(info scope)" ]
"$DOMUS" stop v --force >/dev/null
systemctl --user unmask -q app.slice
tap_done
