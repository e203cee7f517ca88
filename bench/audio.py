#!/usr/bin/env python3
"""Audio end-to-end latency: domus-vmm's Intel HDA against QEMU's intel-hda
(+ hda-duplex), same kernel and guest, same host backend, in one run on
one machine (inside the rig when the machine has no VMX/SVM of its own).

The guest plays silence with 10 ms clicks through a small ALSA buffer
(512 x 4 frames) and writes "CLK" to its serial port just before handing
each click to the kernel. On the host, one clock (CLOCK_MONOTONIC) stamps
both the serial output as it arrives and the backend's stream as it grows:
the WAV file's size (polled every millisecond) or, with PulseAudio, the
bytes parec reads from the null sink's monitor. A click's latency is the
time from its marker to the stream reaching the click's first sample, so
it includes the guest's own buffer (the same for both VMMs) and, for
PulseAudio, the monitor's (the same too). Prints medians and ratios.

QEMU's wav backend writes through stdio, so its file grows in 4 KiB
(21 ms) steps: that part of its figure is the backend's buffering, not
the device's; PulseAudio is the fairer comparison. Not a test."""
import array
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import benchlib

MEM_MIB = 256
RATE = 48000
FRAME = 4                 # S16 stereo
INTERVAL = 0.6            # seconds between clicks (bench/run-audio-bench)


class Stream:
    """(time, total bytes) as a byte stream grows; finds when byte B arrived."""

    def __init__(self):
        self.marks = []
        self.data = bytearray()

    def arrived(self, t, chunk):
        self.data += chunk
        self.marks.append((t, len(self.data)))

    def time_of(self, byte):
        for t, n in self.marks:
            if n > byte:
                return t
        return None


def read_pipe(f, stream, stop):
    while not stop.is_set():
        chunk = os.read(f.fileno(), 65536)
        if not chunk:
            break
        stream.arrived(time.monotonic(), chunk)


def poll_wav(path, stream, stop):
    """The file's growth; its bytes are read at the end (only the sizes matter here)."""
    size = 0
    while not stop.is_set():
        try:
            n = os.stat(path).st_size
        except FileNotFoundError:
            n = 0
        if n > size:
            stream.marks.append((time.monotonic(), n))
            size = n
        time.sleep(0.001)


def onsets(pcm, skip):
    """Byte offsets of click onsets: a loud left sample after >= 50 ms of near
    silence (thresholds low enough for a mixer that attenuates)."""
    body = pcm[skip:len(pcm) - (len(pcm) - skip) % FRAME]
    left = array.array('h', bytes(body))[0::2]
    if sys.byteorder != 'little':
        left.byteswap()
    out, quiet = [], 0
    for i, v in enumerate(left):
        if v > 1000 or v < -1000:
            if quiet >= RATE // 20:
                out.append(skip + i * FRAME)
            quiet = 0
        elif -300 < v < 300:
            quiet += 1
    return out


def run_once(cmd, backend, work, clicks):
    serial = Stream()
    audio = Stream()
    stop = threading.Event()
    wav = os.path.join(work, 'out.wav')
    if os.path.exists(wav):
        os.unlink(wav)
    rec = None
    threads = []
    if backend == 'pulse':
        rec = benchlib.popen(['parec', '--device=bench_sink.monitor', '--latency-msec=5', '--format=s16le',
                                '--rate=48000', '--channels=2', '--raw'], stdout=subprocess.PIPE)
        threads.append(threading.Thread(target=read_pipe, args=(rec.stdout, audio, stop), daemon=True))
    else:
        threads.append(threading.Thread(target=poll_wav, args=(wav, audio, stop), daemon=True))
    p = benchlib.popen(cmd(wav), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    threads.append(threading.Thread(target=read_pipe, args=(p.stdout, serial, stop), daemon=True))
    for t in threads:
        t.start()
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and b'BENCH-AUDIO-DONE' not in serial.data and p.poll() is None:
        time.sleep(0.1)
    time.sleep(0.5)            # the last click's way out of the backend
    stop.set()
    p.kill()
    p.wait()
    if rec:
        rec.kill()
        rec.wait()
    for t in threads:
        t.join(5)
    if backend == 'wav':
        with open(wav, 'rb') as f:
            audio.data = bytearray(f.read())
    text = bytes(serial.data)
    markers = [(serial.time_of(m.start()), int(m.group(1)) / RATE) for m in re.finditer(rb'CLK (\d+)', text)]
    found = onsets(audio.data, 44 if backend == 'wav' else 0)
    pairs = match(markers, [audio.time_of(b) for b in found])
    if b'BENCH-AUDIO-DONE' not in text or len(pairs) < clicks // 2:
        sys.stderr.write(f'unusable run of {cmd(wav)[0]} ({backend}): {len(markers)} markers, '
                         f'{len(found)} clicks heard, {len(pairs)} matched, xruns {text.count(b"XRUN")}\n'
                         f'{text[-800:].decode(errors="replace")}\n')
        return []
    return [(t - m, t - m - queued) for (m, queued), t in pairs]


def match(markers, arrivals):
    """Pairs each click heard with its marker: the last one before it, less than
    an interval earlier. A click an underrun dropped leaves its marker unpaired."""
    pairs, j = [], 0
    for t in arrivals:
        if t is None:
            continue
        k = j
        while k + 1 < len(markers) and markers[k + 1][0] <= t:
            k += 1
        if k < len(markers) and markers[k][0] <= t < markers[k][0] + INTERVAL:
            pairs.append((markers[k], t))
            j = k + 1
    return pairs


def start_pulse(work):
    env = dict(os.environ, XDG_RUNTIME_DIR=os.path.join(work, 'run'), HOME=work)
    os.makedirs(env['XDG_RUNTIME_DIR'], mode=0o700, exist_ok=True)
    os.environ.update(env)
    # No real-time scheduling: on a loaded machine its CPU-time limit kills the daemon.
    d = benchlib.popen(['pulseaudio', '--daemonize=no', '--system=false', '-n', '--exit-idle-time=-1',
                          '--realtime=no', '--high-priority=no',
                          '-L', 'module-null-sink sink_name=bench_sink rate=48000',
                          '-L', 'module-native-protocol-unix'],
                         stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, 'pulse.log'), 'ab'))
    for _ in range(50):
        if subprocess.run(['pactl', 'info'], capture_output=True).returncode == 0:
            subprocess.run(['pactl', 'set-default-sink', 'bench_sink'], check=True)
            return d
        time.sleep(0.2)
    d.kill()
    return None


def main():
    ap = benchlib.parser()
    ap.add_argument('--clicks', type=int, default=15)
    ap.add_argument('--backends', default='pulse,wav')
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix='audio-bench.')
    backends = [b for b in a.backends.split(',') if b]
    pulse = None
    if 'pulse' in backends:
        if shutil.which('pulseaudio') and shutil.which('parec'):
            pulse = start_pulse(work)
        if not pulse:
            print('PulseAudio does not start here: wav only')
            backends.remove('pulse')
    append = f'console=ttyS0 quiet panic=-1 clicks={a.clicks}'
    vmm = lambda be: lambda wav: benchlib.domus_cmd(a, MEM_MIB, 1, append,
                                                    '--audio', 'pulse' if be == 'pulse' else f'wav:{wav}')
    qemu = lambda be: lambda wav: benchlib.qemu_cmd(
        a, MEM_MIB, 1, append, '-audiodev', 'pa,id=snd0' if be == 'pulse' else f'wav,id=snd0,path={wav}',
        # mixer=off: without amplifiers on the codec nothing can start muted
        # (busybox has no amixer; with QEMU's mixer every click was silence).
        '-device', 'intel-hda', '-device', 'hda-duplex,audiodev=snd0,mixer=off')
    results = {}
    configs = [(be, f'{vmm_name}-{be}', mk(be)) for be in backends for vmm_name, mk in (('domus', vmm), ('qemu', qemu))]
    try:
        for run, be, name, cmd in benchlib.interleaved(configs, a.runs):
            if be == 'pulse' and (pulse is None or pulse.poll() is not None):
                with open(os.path.join(work, 'pulse.log'), errors='replace') as f:
                    sys.stderr.write('PulseAudio died; restarting it. Its log:\n' + f.read()[-1500:])
                pulse = start_pulse(work)
                if not pulse:
                    continue
            lat = run_once(cmd, be, work, a.clicks)
            results.setdefault(name, []).extend(lat)
            med = (f'{statistics.median(x for x, _ in lat) * 1000:.1f} ms, beyond the guest\'s buffer '
                   f'{statistics.median(y for _, y in lat) * 1000:.1f} ms' if lat else '-')
            print(f'run {run} {name}: {len(lat)} clicks, median latency {med}', flush=True)
    finally:
        if pulse:
            pulse.kill()
            pulse.wait()
        shutil.rmtree(work, ignore_errors=True)
    print('\nguest write -> backend, all clicks: median (10th-90th percentile); then the same less the '
          'frames the guest kernel still held ahead of the click (ALSA delay), i.e. what device and backend add:')
    med = {}
    for name, lat in results.items():
        if not lat:
            print(f'  {name:12s} -')
            continue
        cols = []
        for k in (0, 1):
            v = sorted(x[k] for x in lat)
            med[name, k] = statistics.median(v)
            cols.append(f'{med[name, k] * 1000:6.1f} ms ({v[len(v) // 10] * 1000:.1f}-{v[len(v) * 9 // 10] * 1000:.1f})')
        print(f'  {name:12s} {cols[0]}   {cols[1]}   {len(lat)} clicks')
    for be in backends:
        for k, what in ((0, 'end-to-end latency'), (1, 'latency beyond the guest buffer')):
            benchlib.ratio(f'{be} {what} domus/qemu', med.get((f'domus-{be}', k)), med.get((f'qemu-{be}', k)),
                           'lower')


if __name__ == '__main__':
    main()
