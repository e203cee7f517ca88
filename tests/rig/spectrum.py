#!/usr/bin/env python3
"""Prints the frequency (Hz) of the strongest spectral peak of 48 kHz S16LE
stereo audio (a WAV file, or raw with --raw), from a plain radix-2 FFT of
the left channel. Also --rms: the signal's RMS level. No numpy needed.
   spectrum.py [--raw] FILE [--skip SECONDS]"""
import array, cmath, math, sys

def fft(a):
    n = len(a)
    if n == 1:
        return a
    even, odd = fft(a[0::2]), fft(a[1::2])
    out = [0] * n
    for k in range(n // 2):
        t = cmath.exp(-2j * math.pi * k / n) * odd[k]
        out[k], out[k + n // 2] = even[k] + t, even[k] - t
    return out

def main():
    args = sys.argv[1:]
    raw = '--raw' in args
    skip = 0.0
    if '--skip' in args:
        skip = float(args[args.index('--skip') + 1])
    path = [a for a in args if not a.startswith('--') and a != str(skip) and
            (not args or args[args.index(a) - 1] != '--skip')][0]
    data = open(path, 'rb').read()
    if not raw:
        assert data[:4] == b'RIFF' and data[8:12] == b'WAVE', 'not a WAV file'
        i = data.index(b'data')
        data = data[i + 8:]
    samples = array.array('h')
    samples.frombytes(data[:len(data) // 4 * 4][:48000 * 4 * 10])   # the first 10 s at most
    if sys.byteorder != 'little':
        samples.byteswap()
    left = samples[0::2].tolist()[int(skip * 48000):]
    size = 16384
    if len(left) < size:
        print('0 rms=0 frames=%d' % len(left))
        return
    # the loudest window, so leading/trailing silence does not matter
    best = max(range(0, len(left) - size + 1, size // 2),
               key=lambda s: sum(x * x for x in left[s:s + size:16]))
    w = left[best:best + size]
    win = [w[i] * (0.5 - 0.5 * math.cos(2 * math.pi * i / size)) for i in range(size)]
    spec = fft(win)
    mags = [abs(c) for c in spec[1:size // 2]]
    k = max(range(len(mags)), key=lambda i: mags[i]) + 1
    rms = math.sqrt(sum(x * x for x in w) / size)
    print('%.0f rms=%.0f frames=%d' % (k * 48000 / size, rms, len(left)))

main()
