#!/usr/bin/env python3
"""Counts test results from meson's testlog.json files (one per meson test
run, all counted together): every TAP subtest counts on
its own (a rig run of ten cases is ten tests), other tests count once.
Prints the names of failures (for a failed TAP subtest, also the last
comment lines it printed before its result: where a rig case stopped, which
is all a CI report may show of it) and a final plain line
`N passed, N failed[, N skipped]`. Exits 1 on any failure or when nothing
passed.

TAP as meson reads it: `ok` passes, `not ok` fails, `# SKIP` skips,
`not ok # TODO` is an expected failure (counted as passed), `ok # TODO` an
unexpected pass (failed). A TAP test that also failed as a whole (crash,
timeout, missing results) adds one failure beyond the subtests it reported."""
import json
import re
import sys

TAP = re.compile(r'^(not ok|ok)\b[^#]*(?:#\s*(SKIP|TODO)\b)?', re.I)
TOOK = re.compile(r'^# (\S+) took (\d+s)$', re.M)


def records(paths):
    for path in paths:
        with open(path) as f:
            yield from map(json.loads, f)


def progress(lines, result_line, keep=12):
    """What the failed case said before RESULT_LINE: its own log lines
    ("# CASE: ...", as run-cases' cases log their steps) and FAIL lines, the
    last KEEP of them, indented; any comment lines when it logged none."""
    end = lines.index(result_line)
    start = end
    while start > 0 and not TAP.match(lines[start - 1]):
        start -= 1
    case = re.search(r' - (\S+)', result_line)
    mine = f'# {case.group(1)}:' if case else None
    notes = [l for l in lines[start:end] if l.startswith('#')]
    steps = [l for l in notes if (mine and l.startswith(mine)) or 'FAIL' in l]
    return ''.join('\n    ' + l for l in (steps or notes)[-keep:])


def main(paths):
    passed = failed = skipped = 0
    failures, timings = [], []
    for t in records(paths):
        name, result = t['name'], t['result']
        subtests = [m for m in map(TAP.match, (t.get('stdout') or '').splitlines()) if m]
        if not subtests:
            if result in ('OK', 'EXPECTEDFAIL'):
                passed += 1
            elif result == 'SKIP':
                skipped += 1
            else:
                failed += 1
                failures.append(f'{name}: {result}')
            continue
        # run-cases' "# CASE took Ns" lines: where a rig group's time went
        took = TOOK.findall(t.get('stdout') or '')
        if took:
            timings.append((name, ' '.join(f'{c} {d}' for c, d in took)))
        sub_failed = 0
        lines = (t.get('stdout') or '').splitlines()
        for m in subtests:
            ok = m.group(1).lower() == 'ok'
            directive = (m.group(2) or '').upper()
            if directive == 'SKIP':
                skipped += 1
            elif ok != (directive == 'TODO'):
                passed += 1
            else:
                sub_failed += 1
                failures.append(f'{name}: {m.string.strip()}' + progress(lines, m.string))
        failed += sub_failed
        if result not in ('OK', 'SKIP', 'EXPECTEDFAIL') and not sub_failed:
            failed += 1
            failures.append(f'{name}: {result} after {len(subtests)} results')
    for name, took in timings:
        print(f'{name}: {took}')
    for f in failures:
        print(f'FAILED {f}')
    print(f'{passed} passed, {failed} failed' + (f', {skipped} skipped' if skipped else ''))
    return 1 if failed or passed == 0 else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
