#!/usr/bin/env python3
"""Counts test results from meson's testlog.json: every TAP subtest counts on
its own (a rig run of ten cases is ten tests), other tests count once.
Prints the per-failure names and a final plain line `N passed, N failed, N skipped`."""
import json
import re
import sys

TAP = re.compile(r'^(not ok|ok)\b[^#]*(#\s*(SKIP|TODO)\b)?', re.I)


def main(path):
    passed = failed = skipped = 0
    failures = []
    with open(path) as f:
        for line in f:
            t = json.loads(line)
            name, result = t['name'], t['result']
            subtests = [TAP.match(l) for l in (t.get('stdout') or '').splitlines()]
            subtests = [m for m in subtests if m]
            if subtests and result not in ('TIMEOUT', 'ERROR'):
                for m in subtests:
                    if m.group(3) and m.group(3).upper() == 'SKIP':
                        skipped += 1
                    elif m.group(1).lower() == 'ok':
                        passed += 1
                    else:
                        failed += 1
                        failures.append(f'{name}: {m.string.strip()}')
                if result in ('FAIL', 'UNEXPECTEDPASS') and not any(m.group(1).lower() == 'not ok' for m in subtests):
                    failed += 1
                    failures.append(f'{name}: {result}')
            elif result in ('OK', 'EXPECTEDFAIL'):
                passed += 1
            elif result == 'SKIP':
                skipped += 1
            else:
                failed += 1
                failures.append(f'{name}: {result}')
    for f in failures:
        print(f'FAILED {f}')
    print(f'{passed} passed, {failed} failed' + (f', {skipped} skipped' if skipped else ''))
    return 1 if failed or passed == 0 else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1]))
