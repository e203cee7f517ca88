#!/usr/bin/env python3
"""crash-verify: check a disk written by crash-writer (see crash-writer.c)
across rounds that were each cut short by SIGKILL.

    crash-verify.py RAW BLOCKS BASE_COUNT ROUND:FLUSHED...

RAW is the disk converted to raw, ROUND:FLUSHED says that round ROUND's
blocks 0..FLUSHED-1 were reported durable before the kill. Every block must
hold what the last durable write to it left there (or the backing file's
block, or zeros), except that a later write that was still in flight at a
kill may have landed instead. Anything else (a lost block, a torn or
misplaced block, garbage) is corruption. Exits 1 with the first few
problems listed."""
import sys
import zlib

BLOCK, STRIDE, SHIFT = 4096, 40503, 7919


def decode(b, pos):
    """(round, seq) of a valid block at pos, None for zeros, or a string
    saying what is wrong."""
    if b.count(0) == BLOCK:
        return None
    if b[:8] != b'DOMUSCRK':
        return 'garbage'
    if zlib.crc32(b[:-4]) != int.from_bytes(b[-4:], 'little'):
        return 'bad checksum (torn block)'
    r, seq, p = (int.from_bytes(b[8:12], 'little'), int.from_bytes(b[12:16], 'little'),
                 int.from_bytes(b[16:24], 'little'))
    if p != pos:
        return f'round {r} block {seq} belongs at {p}'
    return (r, seq)


def main():
    raw, blocks, base = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rounds = [tuple(map(int, a.split(':'))) for a in sys.argv[4:]]
    flushed = dict(rounds)
    order = {r: i for i, (r, _) in enumerate(rounds)}
    # The last durable write to each block, in the order the rounds ran.
    expect = {p: (0, p) for p in range(base)}
    for r, f in rounds:
        for seq in range(f):
            expect[(seq * STRIDE + r * SHIFT) % blocks] = (r, seq)

    def later(v, e):
        """v is an in-flight (never reported durable) write issued after e."""
        r, seq = v
        if r not in order or seq < flushed[r]:
            return False
        if e is None or e[0] == 0:
            return True
        return (order[r], seq) > (order[e[0]], e[1])

    bad, checked, landed = [], 0, 0
    with open(raw, 'rb') as f:
        for pos in range(blocks):
            b = f.read(BLOCK)
            if len(b) != BLOCK:
                bad.append(f'block {pos}: short read')
                break
            v, e = decode(b, pos), expect.get(pos)
            if e is not None:
                checked += 1
            if v == e:
                continue
            if isinstance(v, tuple) and later(v, e):
                landed += 1
                continue
            bad.append(f'block {pos}: holds {v or "zeros"}, expected {e or "zeros"}')
    for line in bad[:10]:
        print('crash-verify:', line)
    if bad:
        print(f'crash-verify: {len(bad)} bad blocks')
        return 1
    print(f'crash-verify: {checked} durable blocks intact, {landed} in-flight writes landed')
    return 0


if __name__ == '__main__':
    sys.exit(main())
