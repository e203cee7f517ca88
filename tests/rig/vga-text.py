#!/usr/bin/env python3
"""Reads the text on a VGA text-mode screen captured over VNC, without OCR:
every 9x16 (or 8x16) cell is compared bit for bit with the glyphs of the
8x16 font in the VGA BIOS image, the same font the BIOS loads into plane 2
and the VMM draws with. A cell matches a character only if its pixels are
exactly the glyph (foreground where the glyph has a bit, one background
colour elsewhere).

  vga-text.py SCREEN.ppm VGABIOS.bin TEXT...   exit 0 if every TEXT is on screen
"""
import sys

# The 8x16 font starts with the blank glyph 0 followed by glyph 1 (the smiley).
SMILEY = bytes(16) + bytes([0, 0, 0x7E, 0x81, 0xA5, 0x81, 0x81, 0xBD, 0x99, 0x81, 0x81, 0x7E, 0, 0, 0, 0])


def read_ppm(path):
    data = open(path, 'rb').read()
    fields, pos = [], 0
    while len(fields) < 4:
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b'#':
            pos = data.index(b'\n', pos)
            continue
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    if fields[0] != b'P6' or fields[3] != b'255':
        sys.exit('vga-text: %s is not a P6 PPM' % path)
    w, h = int(fields[1]), int(fields[2])
    return w, h, data[pos + 1:pos + 1 + w * h * 3]


def font16(rom_path):
    rom = open(rom_path, 'rb').read()
    at = rom.find(SMILEY)
    if at < 0:
        sys.exit('vga-text: no 8x16 font found in %s' % rom_path)
    return rom[at:at + 4096]


def decode(w, h, px, font):
    cw = 9 if w % 9 == 0 and w // 9 in (40, 80, 90, 132) else 8
    glyphs = {}
    for c in range(255, -1, -1):        # the lowest code wins where glyphs are alike...
        glyphs[font[c * 16:c * 16 + 16]] = c
    glyphs[font[0x20 * 16:0x21 * 16]] = 0x20   # ...but a blank cell reads as a space
    rows = []
    for r in range(h // 16):
        line = []
        for col in range(w // cw):
            cell = [px[((r * 16 + y) * w + col * cw + x) * 3:((r * 16 + y) * w + col * cw + x) * 3 + 3]
                    for y in range(16) for x in range(cw)]
            counts = {}
            for p in cell:
                counts[p] = counts.get(p, 0) + 1
            bg = max(counts, key=counts.get)
            bits, ok = bytearray(16), True
            for y in range(16):
                for x in range(cw):
                    on = cell[y * cw + x] != bg
                    if x < 8:
                        bits[y] |= (0x80 >> x) if on else 0
                    elif on:
                        ok = False      # the 9th column of a letter is background
            colours = set(counts) - {bg}
            if len(colours) > 1:
                ok = False              # a glyph has one foreground colour
            c = glyphs.get(bytes(bits)) if ok else None
            line.append(chr(c) if c is not None and 32 <= c < 127 else ('?' if c is None else '.'))
        rows.append(''.join(line))
    return rows


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    w, h, px = read_ppm(sys.argv[1])
    rows = decode(w, h, px, font16(sys.argv[2]))
    missing = [t for t in sys.argv[3:] if not any(t in r for r in rows)]
    for t in sys.argv[3:]:
        for i, r in enumerate(rows):
            if t in r:
                print('vga-text: "%s" at row %d, column %d' % (t, i, r.index(t)))
                break
    if missing:
        print('vga-text: not on screen: %s; the screen reads (%dx%d):' % (', '.join(missing), w, h))
        for r in rows:
            print('  |' + r.rstrip() + '|')
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
