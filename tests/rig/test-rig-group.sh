#!/bin/bash
# rig-group against a rig that hangs: runs three cases with DOMUS_RIG=direct
# (no QEMU: the "rig" is this machine), where the second case freezes
# run-cases itself the first time, as a rig whose kernel locks up would;
# its own "# case-timeout" line keeps the wait short.
# Expected: the TAP stream ends complete, the frozen case runs again in a
# fresh "rig" and passes, the third case runs, and a case that freezes
# every time is reported failed without losing the cases after it.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap '[ -z "${KEEP:-}" ] || cat "$work/tap"; pkill -KILL -f "$work/" 2>/dev/null || :; rm -rf "$work"' EXIT

cat > "$work/first.sh" <<'CASE'
echo first ran
CASE
# run-cases runs a case as: run-cases -> timeout -> bash CASE.
cat > "$work/freeze.sh" <<'CASE'
# case-timeout: 3
if [ ! -e "$FREEZE_MARK" ] || [ -n "${FREEZE_ALWAYS:-}" ]; then
    touch "$FREEZE_MARK"
    kill -STOP "$(ps -o ppid= -p "$PPID" | tr -d ' ')"
    sleep 30
fi
echo froze once, then ran
CASE
cat > "$work/last.sh" <<'CASE'
echo last ran
CASE

run() {
    FREEZE_MARK=$work/froze CASE_TIMEOUT=600 RIG_GRACE=3 RIG_BUDGET=0 RIG_RETRIES=0 \
        DOMUS_RIG=direct "$here/rig-group" --timeout 300 --env FREEZE_MARK --env FREEZE_ALWAYS \
        -- "$work/first.sh" "$work/freeze.sh" "$work/last.sh" > "$work/tap" 2>&1
}
check() {   # check REGEX: the TAP output has a line matching it
    grep -qE "$1" "$work/tap" || { echo "FAIL: no line /$1/ in:"; cat "$work/tap"; exit 1; }
}

rc=0; run || rc=$?
check '^1\.\.3$'
check '^ok 1 - first$'
check '^# rig-group: the rig went down during freeze: nothing finished'
check '^ok 2 - freeze$'
check '^ok 3 - last$'
[ $rc = 0 ] || { echo "FAIL: rig-group exited $rc with every case passed"; cat "$work/tap"; exit 1; }
[ "$(grep -c '^1\.\.' "$work/tap")" = 1 ] || { echo "FAIL: more than one plan line"; exit 1; }
echo "a rig that froze once: the case ran again in a fresh rig and passed"

rm -f "$work/froze"
rc=0; FREEZE_ALWAYS=1 run || rc=$?
check '^ok 1 - first$'
check '^not ok 2 - freeze # the rig went down during this case'
check '^ok 3 - last$'
[ $rc = 1 ] || { echo "FAIL: rig-group exited $rc with a failed case"; exit 1; }
echo "a case that froze the rig twice: reported failed, the case after it still ran"
