"""Who holds an iperf3 port: probing it, naming the holder, recognising our own stale servers."""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import shlex
import signal
import socket
import time
from typing import Any

from ...text import printable
from ..sockets import netstat
from .cmdline import read_argv
from .process import PARENT_ENV, is_server_argv, pidfd_open, send_signal

log = logging.getLogger("webperf3.servers")

_MAX_CMDLINE_CHARS = 200


def is_stale_server(argv: list[str] | None, port: int, environ: dict[str, str] | None, ppid: int | None) -> bool:
    """Whether a process is an iperf3 server a dead webperf3 started on *port*.

    Conservative on purpose, since the answer kills it: the command line must
    be exactly one :func:`.process.server_argv` makes, the environment must carry the
    pid of the webperf3 that started it, and that webperf3 must be gone —
    an orphan has been reparented (to init or a subreaper), so its parent is no
    longer the one recorded. A server of a webperf3 still alive, or anyone's
    hand-started iperf3, is left alone.
    """
    if not argv or not is_server_argv(argv, port):
        return False
    parent = (environ or {}).get(PARENT_ENV, "")
    return parent.isdigit() and ppid is not None and ppid != int(parent)


def describe_holder(port: int, pid: int | None, cmdline: list[str] | None) -> str:
    """``port 5201 in use by pid 812 (nc -l 5201)``, or less where less is known.

    Another user's command line may hold anything: it is escaped and capped
    to stay one readable line of the journal or the terminal."""
    if pid is None:
        return f"port {port} in use (holder not found)"
    if not cmdline:
        return f"port {port} in use by pid {pid}"
    return f"port {port} in use by pid {pid} ({printable(shlex.join(cmdline), _MAX_CMDLINE_CHARS)})"


def held_by_another(port: int, bind: str | None = None) -> str | None:
    """Why an iperf3 server of ours could never serve *port*: another program
    listens there (a system iperf3.service, another station, anything), so
    the tests clients run on it would go to that program and never be
    recorded. ``None`` when the port is free, when it cannot be listened on
    for another reason (the fleet says why, and retries: an address that
    comes up with the network), and when the holder is a stale iperf3 of a
    dead webperf3, which the fleet replaces (:func:`is_stale_server`).
    """
    error = probe_port(port, bind)
    if error is None or error.errno != errno.EADDRINUSE:
        return None
    pid = netstat.listener_pid(port) if netstat.available() else None
    if pid is not None and is_ours_left_behind(pid, port):
        return None
    return holder_text(port, pid)


def holder_text(port: int, pid: int | None) -> str:
    """:func:`describe_holder` of the process *pid*, as /proc shows it now."""
    return describe_holder(port, pid, read_argv(pid) if pid is not None else None)


def is_ours_left_behind(pid: int, port: int) -> bool:
    """:func:`is_stale_server` of the process *pid*, as /proc shows it now."""
    return is_stale_server(read_argv(pid), port, netstat.read_environ(pid), netstat.read_ppid(pid))


def replace_stale(pid: int, port: int, kill_timeout: float) -> bool:
    """Terminate *pid* if it is an iperf3 server orphaned by an earlier
    webperf3 (SIGTERM, then SIGKILL); True once it is gone."""
    pidfd = pidfd_open(pid)  # pins the process: no signal to a recycled pid
    try:
        if not is_ours_left_behind(pid, port):
            return False
        log.warning(
            "port %d is held by iperf3 pid %d, left by a webperf3 (pid %s) that is gone: replacing it",
            port,
            pid,
            (netstat.read_environ(pid) or {}).get(PARENT_ENV),
        )
        deadline = time.monotonic() + kill_timeout
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if not send_signal(pid, pidfd, sig):
                return True
            while netstat.is_running(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if not netstat.is_running(pid):
                return True
            deadline = time.monotonic() + 1.0
        return not netstat.is_running(pid)
    finally:
        if pidfd is not None:
            os.close(pidfd)


def specific_address(bind: str | None) -> str | None:
    """The address connections to a server bound to *bind* arrive on, when one
    address only (as /proc/net/tcp spells it); None for any address."""
    if not bind:
        return None
    try:
        address = ipaddress.ip_address(bind)
    except ValueError:
        return None  # a host name: match the port only
    if address.is_unspecified:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return str(address)


def probe_port(port: int, bind: str | None = None) -> OSError | None:
    """Listen on *port* the way iperf3 would and let go; the error met, if any.

    iperf3 without ``-B`` listens on ``::`` dual-stack (IPv4 too), so that is
    what is tried, falling back to 0.0.0.0 where IPv6 is off. SO_REUSEADDR is
    set as iperf3 sets it: without it, the TIME_WAIT left by the server's own
    last test (always after a stuck server is killed) would look like a holder.
    """
    try:
        targets = _probe_targets(port, bind)
    except OSError as exc:  # socket.gaierror: a -B name that does not resolve
        return exc
    error: OSError | None = None
    for family, address in targets:
        try:
            sock = socket.socket(family, socket.SOCK_STREAM)
        except OSError as exc:  # this family is disabled: try the next
            error = exc
            continue
        with sock:
            try:
                if os.name == "posix":  # on Windows it would mean "steal the port"
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6 and bind is None:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
                sock.bind(address)
                sock.listen(1)  # on Linux a holder that only bound shows here
                return None
            except OSError as exc:
                return exc
    return error


def _probe_targets(port: int, bind: str | None) -> list[tuple[int, tuple[Any, ...]]]:
    if bind is None:
        return [(socket.AF_INET6, ("::", port)), (socket.AF_INET, ("0.0.0.0", port))]
    family, _, _, _, address = socket.getaddrinfo(bind, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    return [(family, address)]
