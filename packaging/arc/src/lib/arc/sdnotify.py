"""sd_notify(3) without libsystemd: tell systemd a Type=notify service is ready."""
import os
import socket


def notify(state="READY=1"):
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return False
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        s.connect(addr)
        s.sendall(state.encode())
    finally:
        s.close()
    return True
