#!/usr/bin/env python3
"""What a user sees of an X window, and a user's close, straight through
libX11 (ctypes): faster than ImageMagick on the rig's emulated CPU and no
extra packages.

    xwin.py pixels WID X,Y...   prints "WIDTHxHEIGHT RRGGBB..." of the window
                                (negative X/Y count from the right/bottom)
    xwin.py close WID           asks the window to close the way a window
                                manager's close button does (WM_DELETE_WINDOW)

Exits 1 with the reason on stderr when the window is gone or unreadable."""
import ctypes, ctypes.util, sys

xlib = ctypes.CDLL(ctypes.util.find_library('X11') or 'libX11.so.6')
xlib.XOpenDisplay.restype = ctypes.c_void_p
xlib.XOpenDisplay.argtypes = [ctypes.c_char_p]
xlib.XGetImage.restype = ctypes.c_void_p
xlib.XGetImage.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_int,
                           ctypes.c_uint, ctypes.c_uint, ctypes.c_ulong, ctypes.c_int]
xlib.XGetPixel.restype = ctypes.c_ulong
xlib.XGetPixel.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
xlib.XDestroyImage.argtypes = [ctypes.c_void_p]
xlib.XGetWindowAttributes.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_void_p]
xlib.XInternAtom.restype = ctypes.c_ulong
xlib.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
xlib.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
xlib.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]

errors = []
ERROR_HANDLER = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)


@ERROR_HANDLER
def on_error(display, event):
    # XErrorEvent: int type; Display *; XID resourceid; unsigned long serial;
    # unsigned char error_code, ...
    code = ctypes.cast(event, ctypes.POINTER(ctypes.c_ubyte))[32]
    errors.append({3: 'BadWindow', 8: 'BadMatch', 9: 'BadDrawable'}.get(code, f'X error {code}'))
    return 0


class ClientMessage(ctypes.Structure):
    _fields_ = [('type', ctypes.c_int), ('serial', ctypes.c_ulong), ('send_event', ctypes.c_int),
                ('display', ctypes.c_void_p), ('window', ctypes.c_ulong), ('message_type', ctypes.c_ulong),
                ('format', ctypes.c_int), ('l', ctypes.c_long * 5), ('pad', ctypes.c_long * 12)]


def size(dpy, wid):
    attrs = (ctypes.c_int * 64)()      # XWindowAttributes begins x, y, width, height
    if not xlib.XGetWindowAttributes(dpy, wid, attrs) or errors:
        return None
    return attrs[2], attrs[3]


def pixels(dpy, wid, specs):
    wh = size(dpy, wid)
    if not wh:
        sys.exit(f'xwin: window {wid:#x}: {errors[0] if errors else "gone"}')
    w, h = wh
    img = xlib.XGetImage(dpy, wid, 0, 0, w, h, ~0 & 0xFFFFFFFFFFFFFFFF, 2)   # ZPixmap
    xlib.XSync(dpy, 0)
    if not img:
        sys.exit(f'xwin: cannot read window {wid:#x}: {errors[0] if errors else "no image"}')
    out = [f'{w}x{h}']
    for s in specs:
        x, y = (int(v) for v in s.split(','))
        x += w if x < 0 else 0
        y += h if y < 0 else 0
        out.append(f'{xlib.XGetPixel(img, x, y) & 0xFFFFFF:06x}' if 0 <= x < w and 0 <= y < h else 'outside')
    xlib.XDestroyImage(img)
    print(' '.join(out))


def close(dpy, wid):
    if not size(dpy, wid):
        sys.exit(f'xwin: window {wid:#x}: {errors[0] if errors else "gone"}')
    ev = ClientMessage(type=33, window=wid, format=32,     # ClientMessage
                       message_type=xlib.XInternAtom(dpy, b'WM_PROTOCOLS', 0))
    ev.l[0] = xlib.XInternAtom(dpy, b'WM_DELETE_WINDOW', 0)
    xlib.XSendEvent(dpy, wid, 0, 0, ctypes.byref(ev))
    xlib.XSync(dpy, 0)
    if errors:
        sys.exit(f'xwin: cannot close window {wid:#x}: {errors[0]}')


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ('pixels', 'close'):
        sys.exit('usage: xwin.py pixels WID X,Y... | close WID')
    dpy = xlib.XOpenDisplay(None)
    if not dpy:
        sys.exit('xwin: cannot open the X display')
    xlib.XSetErrorHandler(on_error)
    wid = int(sys.argv[2], 0)
    if sys.argv[1] == 'pixels':
        pixels(dpy, wid, sys.argv[3:])
    else:
        close(dpy, wid)


if __name__ == '__main__':
    main()
