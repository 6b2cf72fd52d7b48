"""Free ports on this machine, for the servers the tests start.

One way for every test: :func:`free_ports` for consecutive ports (an iperf3
fleet's range), :func:`free_port` for one (a web or websocket port), and
:func:`port_is_free` / :func:`listening` to see whether something holds one.
"""

from __future__ import annotations

import os
import random
import socket
from collections import deque
from pathlib import Path


def port_is_free(port: int) -> bool:
    """Whether nothing at all holds *port*: listener, connection or TIME_WAIT.

    Tried the way iperf3 listens (``::``, dual-stack), without SO_REUSEADDR so
    that even a lingering TIME_WAIT counts as taken.
    """
    for family, host in ((socket.AF_INET6, "::"), (socket.AF_INET, "0.0.0.0")):
        try:
            sock = socket.socket(family, socket.SOCK_STREAM)
        except OSError:
            continue  # IPv6 disabled
        with sock:
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            try:
                sock.bind((host, port))
            except OSError:
                return False
            return True
    return False


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


#: Ports handed out lately by this process. A station's iperf3 range, web
#: port and websocket port are chosen one after another, before any is
#: bound: without this, a later choice could fall inside an earlier one (a
#: station then refuses "--ws-port N is one of the iperf3 ports").
_HANDED_OUT: deque[int] = deque(maxlen=512)


def free_ports(count: int) -> list[int]:
    """*count* consecutive free ports, outside the kernel's ephemeral range
    and apart from every port this process handed out lately.

    Not from binding port 0: that hands out an ephemeral port, and any
    outgoing connection on this machine (an iperf3 client's, say) may take it
    while a server is down between two restarts. Below the ephemeral range
    only listeners compete, and each candidate is checked.
    """
    low, _ = _ephemeral_range()
    rng = random.Random(os.urandom(8))
    for _ in range(200):
        base = rng.randrange(20000, max(20001, low - count))
        ports = list(range(base, base + count))
        if not any(port in _HANDED_OUT for port in ports) and all(port_is_free(port) for port in ports):
            _HANDED_OUT.extend(ports)
            return ports
    raise RuntimeError(f"no {count} consecutive free ports found")


def free_port() -> int:
    """One free port (a web or websocket server's), chosen as :func:`free_ports` does."""
    [port] = free_ports(1)
    return port


def listening(port: int) -> bool:
    """Whether something listens on 127.0.0.1:port over TCP. Not found by
    connecting: an iperf3 server would log the probe as a failed test."""
    want = f":{port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(want) and fields[3] == "0A":
            return True
    return False
