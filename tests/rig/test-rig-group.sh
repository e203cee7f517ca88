#!/bin/bash
# rig-group against a rig that hangs: runs three cases with DOMUS_RIG=direct
# (no QEMU: the "rig" is this machine), where the second case freezes
# run-cases itself the first time, as a rig whose kernel locks up would;
# its own "# case-timeout" line keeps the wait short.
# Expected: the TAP stream ends complete, the frozen case runs again in a
# fresh "rig" and passes, the third case runs, and a case that freezes
# every time is reported failed without losing the cases after it. Then a
# case that times out inside the rig: the report shows the end of the logs
# it left, and scripts/test-summary.py (CI's last lines) shows the steps it
# had logged under its failure; with retries, it runs once more.
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

cat > "$work/stuck.sh" <<'CASE'
# case-timeout: 2
echo "stuck: [0s] guest booted"
if [ -n "${STUCK_ONCE:-}" ] && [ -e "$STUCK_ONCE" ]; then exit 0; fi
[ -z "${STUCK_ONCE:-}" ] || touch "$STUCK_ONCE"
echo "the guest's last console line" > console.log
sleep 30
CASE
rc=0
CASE_TIMEOUT=600 RIG_GRACE=60 RIG_BUDGET=0 RIG_RETRIES=0 DOMUS_RIG=direct \
    "$here/rig-group" --timeout 300 -- "$work/stuck.sh" > "$work/tap" 2>&1 || rc=$?
check '^not ok 1 - stuck # timed out after 2s$'
check "^# --- timed out; the end of console.log:"
check "^#   the guest's last console line$"
[ $rc = 1 ] || { echo "FAIL: rig-group exited $rc with a timed-out case"; exit 1; }
python3 - "$work/tap" > "$work/testlog.json" <<'PY'
import json, sys
print(json.dumps({'name': 'rig-x', 'result': 'FAIL', 'stdout': open(sys.argv[1]).read()}))
PY
rc=0; python3 "$here/../../scripts/test-summary.py" "$work/testlog.json" > "$work/summary" || rc=$?
grep -qx 'FAILED rig-x: not ok 1 - stuck # timed out after 2s' "$work/summary" &&
    grep -qx '    # stuck: \[0s\] guest booted' "$work/summary" &&
    [ "$(tail -n1 "$work/summary")" = "0 passed, 1 failed" ] && [ $rc = 1 ] ||
    { echo "FAIL: test-summary (exit $rc) did not show the timed-out case's steps:"; cat "$work/summary"; exit 1; }
echo "a case that timed out: its logs' ends in the report, its steps under the failure in the summary"

# A case that timed out once runs again when the budget has room for it.
rc=0
STUCK_ONCE=$work/stuck-once CASE_TIMEOUT=600 RIG_GRACE=60 RIG_BUDGET=0 RIG_RETRIES=1 DOMUS_RIG=direct \
    "$here/rig-group" --timeout 300 --env STUCK_ONCE -- "$work/stuck.sh" > "$work/tap" 2>&1 || rc=$?
check '^# stuck failed \(exit status 124\) on attempt 1; running it again$'
check '^ok 1 - stuck \(attempt 2\)$'
[ $rc = 0 ] || { echo "FAIL: rig-group exited $rc with the retry passed"; exit 1; }
echo "a case that timed out once: run again, and passed"
