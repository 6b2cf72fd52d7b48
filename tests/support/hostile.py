"""Helpers for the hardening tests: sockets from other loopback addresses,
raw HTTP and websocket handshakes, and a process's memory."""

from __future__ import annotations

import base64
import contextlib
import os
import resource
import socket
from collections.abc import Iterator
from pathlib import Path

#: Loopback addresses other than 127.0.0.1, as other clients on the Wi-Fi.
#: ``python -c FILL_FDS_THEN_EXEC N PROGRAM ARGS...``: PROGRAM started with every
#: descriptor below N taken, as on a station near its open-file limit.
FILL_FDS_THEN_EXEC = """
import os, sys
null = os.open(os.devnull, os.O_RDONLY)
for fd in range(3, int(sys.argv[1])):
    try:
        os.fstat(fd)
    except OSError:
        os.dup2(null, fd)
os.execv(sys.argv[2], sys.argv[2:])
"""

OTHER_CLIENTS = [f"127.0.0.{i}" for i in range(2, 12)]


def connect_from(source: str, port: int, *, rcvbuf: int | None = None, timeout: float = 5.0) -> socket.socket:
    """A TCP connection to 127.0.0.1:port from ``source`` (another loopback
    address), or to [::1]:port from ``::1``."""
    ipv6 = ":" in source
    sock = socket.socket(socket.AF_INET6 if ipv6 else socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:  # before connect(), so the window is small from the start
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(timeout)
    sock.bind((source, 0))
    sock.connect(("::1" if ipv6 else "127.0.0.1", port))
    return sock


def request(port: int, raw: bytes, *, source: str = "127.0.0.1", timeout: float = 5.0) -> bytes:
    """Send a raw request, return everything the server sends until it closes."""
    with connect_from(source, port, timeout=timeout) as sock:
        sock.sendall(raw)
        return read_all(sock)


def read_all(sock: socket.socket) -> bytes:
    out = b""
    with contextlib.suppress(TimeoutError, ConnectionResetError):
        while chunk := sock.recv(65536):
            out += chunk
    return out


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/") else 0


def body_of(response: bytes) -> bytes:
    return response.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in response else b""


def get(path: str = "/api/latest", host: str = "127.0.0.1", extra: bytes = b"") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n".encode() + extra + b"\r\n"


def closed_by_server(sock: socket.socket, timeout: float) -> bool:
    """Whether the server closes this (otherwise silent) connection within ``timeout``."""
    sock.settimeout(timeout)
    try:
        while True:
            if not sock.recv(65536):
                return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def websocket_handshake(port: int, *, host: str = "127.0.0.1", origin: str | None = None, source: str = "127.0.0.1", rcvbuf: int | None = None) -> tuple[int, socket.socket]:
    """Open a websocket by hand: (HTTP status, the socket, positioned after
    the handshake's headers). The caller decides whether to ever read again."""
    sock = connect_from(source, port, rcvbuf=rcvbuf)
    sock.sendall(upgrade_request(host=host, origin=origin))
    head = b""
    while b"\r\n\r\n" not in head:
        byte = sock.recv(1)  # one at a time: not a byte of the first message
        if not byte:
            break
        head += byte
    return status_of(head), sock


def upgrade_request(*, host: str = "127.0.0.1", origin: str | None = None) -> bytes:
    """A websocket handshake's request, as a browser sends it."""
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        "GET / HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if origin is not None:
        lines.append(f"Origin: {origin}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def rss_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process, KiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields["VmRSS"], fields["VmHWM"]


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def raise_nofile(at_least: int) -> None:
    """Raise this process's soft open-file limit (tests open many sockets)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < at_least:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(at_least, hard), hard))


@contextlib.contextmanager
def many_sockets(sockets: list[socket.socket]) -> Iterator[list[socket.socket]]:
    try:
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


