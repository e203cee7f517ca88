"""Shared by the rig's Python drivers (serial-drive.py, serial-stress.py)."""
import socket
import sys
import time


def connect(path, timeout=60):
    """A UNIX stream socket connected to path, retried while the VMM is
    still starting; exits the script (FAIL) after timeout seconds."""
    deadline = time.time() + timeout
    while True:
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            return s
        except OSError:
            if time.time() > deadline:
                print("FAIL: cannot connect to", path)
                sys.exit(1)
            time.sleep(0.2)
