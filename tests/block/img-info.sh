#!/bin/bash
# `domus-img info --json` on images whose file, backing and snapshot names
# hold quotes, backslashes, control characters and non-ASCII: the output is
# valid JSON and says what `qemu-img info --output=json` says. Exit status.
#   img-info.sh DOMUS_IMG
set -eu
img=$(realpath "$1")
command -v qemu-img >/dev/null || { echo "SKIP: qemu-img not installed (qemu-utils)"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 not installed"; exit 77; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cd "$work"
base=$'ba"se\\\tnamé.raw' top=$'to"p\\\nfile.qcow2'
qemu-img create -q -f raw "$base" 8M
"$img" create -f qcow2 -b "$base" -F raw "$top"
qemu-img snapshot -c $'snap "one"\\\x01' "$top"
"$img" info --json "$top" > domus.json
qemu-img info --output=json "$top" > qemu.json
python3 - <<'PY'
import json, sys
d, q = json.load(open('domus.json')), json.load(open('qemu.json'))
ok = True
for k in ('filename', 'format', 'virtual-size', 'backing-filename', 'backing-filename-format', 'cluster-size'):
    if d.get(k) != q.get(k):
        print(f'{k}: domus-img says {d.get(k)!r}, qemu-img {q.get(k)!r}'); ok = False
if [s['name'] for s in d['snapshots']] != [s['name'] for s in q['snapshots']]:
    print('snapshot names differ:', d['snapshots'], q['snapshots']); ok = False
sys.exit(0 if ok else 1)
PY
echo "domus-img info --json escapes names and agrees with qemu-img"
