#!/usr/bin/env python3
"""A VNC client over WebSocket, as noVNC talks to a server: an HTTP upgrade
(RFC 6455), then RFB 3.8 in masked binary frames. Python's standard library
only, so the display tests need nothing downloaded.

    ws-rfb.py HOST:PORT [--protocol binary] [--expect=X,Y,RRGGBB]...
              [--key KEYSYM]... [--timeout SECONDS]

Logs in (security type None: a loopback server without a password), asks
for the whole screen in raw encoding and checks pixels (negative X/Y count
from the right/bottom), then types keys. Exits 0 when every check passed;
1 with the reason on stderr otherwise (a refusal counts as a failure)."""
import argparse, base64, hashlib, os, socket, struct, sys

WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'


class WebSocket:
    def __init__(self, sock):
        self.sock = sock
        self.raw = b''                 # bytes from the socket, not yet a whole frame
        self.data = b''                # payload bytes not yet consumed

    def _recv_raw(self, n):
        while len(self.raw) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError('the server closed the connection')
            self.raw += chunk
        out, self.raw = self.raw[:n], self.raw[n:]
        return out

    def handshake(self, host, protocol):
        key = base64.b64encode(os.urandom(16)).decode()
        req = (f'GET /websockify HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n'
               f'Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n'
               f'Origin: http://{host}\r\n')
        if protocol:
            req += f'Sec-WebSocket-Protocol: {protocol}\r\n'
        self.sock.sendall((req + '\r\n').encode())
        while b'\r\n\r\n' not in self.raw:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError('the server closed the connection during the WebSocket handshake')
            self.raw += chunk
        head, self.raw = self.raw.split(b'\r\n\r\n', 1)
        lines = head.decode('latin-1').split('\r\n')
        if not lines[0].startswith('HTTP/1.1 101'):
            raise ConnectionError(f'WebSocket upgrade refused: {lines[0]}')
        fields = {k.strip().lower(): v.strip() for k, v in (l.split(':', 1) for l in lines[1:] if ':' in l)}
        want = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        if fields.get('sec-websocket-accept') != want:
            raise ConnectionError(f"bad Sec-WebSocket-Accept {fields.get('sec-websocket-accept')!r}")

    def send(self, payload, opcode=2):
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            head = struct.pack('!BB', 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            head = struct.pack('!BBH', 0x80 | opcode, 0x80 | 126, n)
        else:
            head = struct.pack('!BBQ', 0x80 | opcode, 0x80 | 127, n)
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + body)

    def _frame(self):
        b0, b1 = self._recv_raw(2)
        n = b1 & 0x7F
        if n == 126:
            n, = struct.unpack('!H', self._recv_raw(2))
        elif n == 127:
            n, = struct.unpack('!Q', self._recv_raw(8))
        mask = self._recv_raw(4) if b1 & 0x80 else None
        payload = self._recv_raw(n)
        if mask:                       # servers must not mask; accept it anyway
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return b0 & 0x0F, payload

    def recv(self, n):
        """Exactly n bytes of the RFB stream."""
        while len(self.data) < n:
            op, payload = self._frame()
            if op == 8:
                raise ConnectionError('the server closed the WebSocket')
            if op == 9:
                self.send(payload, 10)
            elif op == 1:              # text frames: the old base64 subprotocol
                self.data += base64.b64decode(payload)
            elif op in (0, 2):
                self.data += payload
        out, self.data = self.data[:n], self.data[n:]
        return out


def rfb_session(ws, args):
    version = ws.recv(12)
    if not version.startswith(b'RFB 003.'):
        raise ConnectionError(f'not an RFB server: {version!r}')
    ws.send(b'RFB 003.008\n')
    ntypes, = ws.recv(1)
    if ntypes == 0:
        reason_len, = struct.unpack('!I', ws.recv(4))
        raise ConnectionError(f'server refused: {ws.recv(reason_len).decode(errors="replace")}')
    types = list(ws.recv(ntypes))
    if 1 not in types:
        raise ConnectionError(f'server wants authentication (security types {types})')
    ws.send(b'\x01')
    result, = struct.unpack('!I', ws.recv(4))
    if result != 0:
        raise ConnectionError('security handshake failed')
    ws.send(b'\x01')                   # ClientInit: shared
    width, height = struct.unpack('!HH', ws.recv(4))
    ws.recv(16)
    name_len, = struct.unpack('!I', ws.recv(4))
    name = ws.recv(name_len).decode(errors='replace')
    print(f'ws-rfb: logged in over WebSocket to "{name}", {width}x{height}', flush=True)
    # 32 bpp little-endian true colour, 0x00RRGGBB; raw encoding only.
    ws.send(struct.pack('!B3xBBBBHHHBBB3x', 0, 32, 24, 0, 1, 255, 255, 255, 16, 8, 0))
    ws.send(struct.pack('!BxHi', 2, 1, 0))
    ws.send(struct.pack('!BBHHHH', 3, 0, 0, 0, width, height))
    fb = bytearray(width * height * 4)
    got = set()
    while len(got) == 0 or not full_cover(got, width, height):
        mtype, = ws.recv(1)
        if mtype == 0:
            _, nrects = struct.unpack('!BH', ws.recv(3))
            for _ in range(nrects):
                x, y, w, h, enc = struct.unpack('!HHHHi', ws.recv(12))
                if enc != 0:
                    raise ConnectionError(f'unexpected encoding {enc}')
                data = ws.recv(w * h * 4)
                for row in range(h):
                    off = ((y + row) * width + x) * 4
                    fb[off:off + w * 4] = data[row * w * 4:(row + 1) * w * 4]
                got.add((x, y, w, h))
        elif mtype == 1:               # SetColourMapEntries
            _, _, n = struct.unpack('!BHH', ws.recv(5))
            ws.recv(6 * n)
        elif mtype == 2:               # Bell
            pass
        elif mtype == 3:               # ServerCutText
            ws.recv(3)
            n, = struct.unpack('!I', ws.recv(4))
            ws.recv(n)
        else:
            raise ConnectionError(f'unknown server message {mtype}')
    bad = 0
    for spec in args.expect:
        x, y, rgb = spec.split(',')
        x, y = int(x), int(y)
        x += width if x < 0 else 0
        y += height if y < 0 else 0
        px, = struct.unpack_from('<I', fb, (y * width + x) * 4)
        if px & 0xFFFFFF != int(rgb, 16):
            print(f'ws-rfb: pixel {x},{y} is {px & 0xFFFFFF:06x}, wanted {rgb}', file=sys.stderr)
            bad += 1
    if bad:
        return 1
    print(f'ws-rfb: {len(args.expect)} pixel checks passed', flush=True)
    for k in args.key:
        sym = ord(k) if len(k) == 1 else int(k, 0)
        ws.send(struct.pack('!BBxxI', 4, 1, sym))
        ws.send(struct.pack('!BBxxI', 4, 0, sym))
    if args.key:
        # RFB answers in order: once a non-incremental update for one pixel
        # arrives, the server has read the keys sent before the request.
        ws.send(struct.pack('!BBHHHH', 3, 0, 0, 0, 1, 1))
        while ws.recv(1) != b'\x00':
            pass
    return 0


def full_cover(rects, width, height):
    return sum(w * h for _, _, w, h in rects) >= width * height


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('server')
    ap.add_argument('--protocol', default='')
    ap.add_argument('--expect', action='append', default=[])
    ap.add_argument('--key', action='append', default=[])
    ap.add_argument('--timeout', type=float, default=30)
    args = ap.parse_args()
    host, port = args.server.rsplit(':', 1)
    try:
        sock = socket.create_connection((host, int(port)), timeout=args.timeout)
        ws = WebSocket(sock)
        ws.handshake(f'{host}:{port}', args.protocol)
        return rfb_session(ws, args)
    except (OSError, ConnectionError) as e:
        print(f'ws-rfb: {e}', file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main())
