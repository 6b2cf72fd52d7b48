"""What Linux's /proc says about TCP sockets and the processes that hold them.

The server fleet needs three facts: which connections are ESTABLISHED on a
server's port (a test is running, and since when), whether the port has a
listener (the server is up), and which process holds a port we want (a clear
message, or a stale iperf3 to replace). The first two come from sock_diag
(:mod:`.sockdiag`, via :mod:`.sampler`) where it answers, and from
``/proc/net/tcp`` and ``/proc/net/tcp6`` here where it does not;
``/proc/PID/fd`` answers the third.

Why not psutil, which answers the same questions on Linux, macOS and
Windows: on Linux its ``net_connections()`` reads these very files, and maps
every socket of the machine to its process by walking every process's open
files on each call, where the fleet needs that only when a port is taken; it
gives no byte counters, so live progress needs sock_diag anyway; and it is
one more compiled dependency, which PyPI ships no armv7l (32-bit Raspberry
Pi OS) wheel of, so there it is built from source (compiler and Python
headers) or taken from piwheels. On macOS and Windows the fleet runs without
any of this: servers are only ever "idle" there.

The text parsers are pure functions, testable with sample lines on any
machine; the readers return nothing (not an error) where /proc is missing,
so callers on Windows or macOS simply learn less.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

#: States of include/net/tcp_states.h that matter here.
ESTABLISHED = 0x01
LISTEN = 0x0A

PROC = Path("/proc")


class Socket(Protocol):
    """What the fleet reads of a socket, from /proc/net/tcp or from sock_diag."""

    @property
    def local_host(self) -> str: ...
    @property
    def local_port(self) -> int: ...
    @property
    def remote_host(self) -> str: ...
    @property
    def remote_port(self) -> int: ...
    @property
    def state(self) -> int: ...


#: One poll's sockets: sock_diag's or /proc/net/tcp's.
Sockets = Sequence[Socket]


@dataclass(frozen=True, slots=True)
class TcpSocket:
    """One line of /proc/net/tcp or tcp6."""

    local_host: str
    local_port: int
    remote_host: str
    remote_port: int
    state: int
    inode: int  # 0 for sockets no process owns any more (TIME_WAIT …)


def parse_address(text: str, byteorder: str = sys.byteorder) -> tuple[str, int]:
    """``0100007F:1451`` → ``("127.0.0.1", 5201)``.

    The kernel prints each 32-bit word of the (network-order) address as a
    host-order integer, so on little-endian machines every word's bytes come
    out reversed; *byteorder* says how the file was written. IPv4-mapped
    IPv6 addresses (a dual-stack listener's IPv4 clients) come back as plain
    IPv4, the way a person would write them.
    """
    hex_host, _, hex_port = text.partition(":")
    if len(hex_host) not in (8, 32) or not hex_port:
        raise ValueError(f"not a /proc/net/tcp address: {text!r}")
    raw = b"".join(
        int(hex_host[i : i + 8], 16).to_bytes(4, byteorder)  # type: ignore[arg-type]
        for i in range(0, len(hex_host), 8)
    )
    address: ipaddress.IPv4Address | ipaddress.IPv6Address
    if len(raw) == 4:
        address = ipaddress.IPv4Address(raw)
    else:
        address = ipaddress.IPv6Address(raw)
        address = address.ipv4_mapped or address
    return str(address), int(hex_port, 16)


def parse_line(line: str, byteorder: str = sys.byteorder) -> TcpSocket | None:
    """One socket from one line; None for the header or a line that is not one."""
    fields = line.split()
    if len(fields) < 10 or not fields[0].endswith(":") or not fields[0][:-1].isdigit():
        return None
    try:
        local_host, local_port = parse_address(fields[1], byteorder)
        remote_host, remote_port = parse_address(fields[2], byteorder)
        return TcpSocket(
            local_host=local_host,
            local_port=local_port,
            remote_host=remote_host,
            remote_port=remote_port,
            state=int(fields[3], 16),
            inode=int(fields[9]),
        )
    except ValueError:
        return None


def parse_proc_net_tcp(text: str, byteorder: str = sys.byteorder) -> list[TcpSocket]:
    """Every socket in the text of /proc/net/tcp or tcp6 (the header skipped)."""
    return [sock for line in text.splitlines() if (sock := parse_line(line, byteorder))]


def established_on(sockets: Iterable[Socket], port: int) -> list[Socket]:
    """Connections accepted on *port*: the server side of a running test."""
    return [s for s in sockets if s.state == ESTABLISHED and s.local_port == port]


def listening_on(sockets: Iterable[Socket], port: int) -> list[Socket]:
    return [s for s in sockets if s.state == LISTEN and s.local_port == port]


# ---------------------------------------------------------------- I/O below


def available(proc: Path = PROC) -> bool:
    """Whether this machine has /proc/net/tcp (Linux) for the readers below."""
    return (proc / "net" / "tcp").exists()


def read_tcp_sockets(proc: Path = PROC) -> list[TcpSocket]:
    """All TCP sockets of this network namespace, IPv4 and IPv6; [] without /proc."""
    sockets: list[TcpSocket] = []
    for name in ("tcp", "tcp6"):  # tcp6 is absent when IPv6 is disabled
        try:
            text = (proc / "net" / name).read_text(encoding="ascii", errors="replace")
        except OSError:
            continue
        sockets.extend(parse_proc_net_tcp(text))
    return sockets


def _pids(proc: Path) -> Iterator[int]:
    try:
        entries = os.listdir(proc)
    except OSError:
        return
    for entry in entries:
        if entry.isdigit():
            yield int(entry)


def socket_owners(inodes: Iterable[int], proc: Path = PROC) -> dict[int, int]:
    """``{inode: pid}`` for the sockets found among the processes' open files.

    Processes of other users are skipped unless we are root: a holder we cannot
    see is reported as unknown, never guessed.
    """
    wanted = {f"socket:[{inode}]": inode for inode in inodes if inode}
    found: dict[int, int] = {}
    for pid in _pids(proc):
        fd_dir = proc / str(pid) / "fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue  # gone, or not ours to look at
        for fd in fds:
            try:
                target = os.readlink(fd_dir / fd)
            except OSError:
                continue
            inode = wanted.get(target)
            if inode is not None and inode not in found:
                found[inode] = pid
                if len(found) == len(wanted):
                    return found
    return found


def listener_pid(port: int, proc: Path = PROC) -> int | None:
    """The process listening on *port*, where /proc lets us find it."""
    inodes = [s.inode for s in listening_on(read_tcp_sockets(proc), port) if s.inode]
    owners = socket_owners(inodes, proc)
    return next((owners[i] for i in inodes if i in owners), None)


def read_cmdline(pid: int, proc: Path = PROC) -> list[str] | None:
    """The argv of *pid*; None when it is gone or hidden (a zombie has [])."""
    try:
        raw = (proc / str(pid) / "cmdline").read_bytes()
    except OSError:
        return None
    return [arg.decode(errors="replace") for arg in raw.split(b"\0")[:-1]] if raw else []


def read_ppid(pid: int, proc: Path = PROC) -> int | None:
    status = read_status(pid, proc)
    return int(status["PPid"]) if status and "PPid" in status else None


def read_status(pid: int, proc: Path = PROC) -> dict[str, str] | None:
    """/proc/PID/status as ``{"Name": "iperf3", "State": "S (sleeping)", …}``."""
    try:
        text = (proc / str(pid) / "status").read_text(errors="replace")
    except OSError:
        return None
    fields = (line.partition(":") for line in text.splitlines())
    return {key: value.strip() for key, _, value in fields}


def read_environ(pid: int, proc: Path = PROC) -> dict[str, str] | None:
    """The environment *pid* was started with; None when not ours to read."""
    try:
        raw = (proc / str(pid) / "environ").read_bytes()
    except OSError:
        return None
    pairs = (item.decode(errors="replace").partition("=") for item in raw.split(b"\0") if item)
    return {key: value for key, _, value in pairs}


def is_running(pid: int, proc: Path = PROC) -> bool:
    """Whether *pid* exists and is not a zombie (which holds no port any more).

    Orphans are reparented to init, and not every init reaps them (a container's
    may not), so "gone" must include "zombie".
    """
    status = read_status(pid, proc)
    return status is not None and not status.get("State", "").startswith(("Z", "X"))


def descriptor_count(pid: int | None, proc: Path = PROC) -> int | None:
    """How many descriptors *pid* holds (None when it cannot be read).

    An idle iperf3 server holds a fixed number: a connection accepted adds
    one. Listing ``/proc/PID/fd`` costs microseconds where asking the kernel
    for the connections on a port walks its whole table of connections.
    """
    if pid is None:
        return None
    try:
        return len(os.listdir(f"{proc}/{pid}/fd"))  # 4 times a second per server: no pathlib
    except OSError:
        return None
