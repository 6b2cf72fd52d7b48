"""Where the fleet's supervisor learns about sockets, and live progress from it.

:class:`SocketWatch` answers "which TCP connections and listeners are on
our ports" on every poll. It asks the kernel through sock_diag
(:mod:`.sockdiag`): the kernel filters by port, and the same answer carries
each connection's byte counters. Measured on the build machine
(``benchmarks/progress_bench.py``), one such dump costs about 0.4 ms of CPU
where reading and parsing /proc/net/tcp and tcp6 costs about 9 ms — the
kernel walks its whole connection hash table for the text — so sock_diag is
used for "who is testing" too, and /proc/net/tcp (:mod:`.netstat`) only
where sock_diag cannot be had.

:class:`ProgressSampler` turns the testing ports' connections, their
connected UDP sockets and (for UDP) the server process's /proc/PID/io into
:class:`~.progress.Progress`. With no test running it asks nothing.

Where the counters cannot be read (netlink refused by a sandbox or by
qemu-user, a kernel before 4.1 without the byte counters) the log says why
once and progress comes from each server's /proc/PID/io alone, for TCP as
for UDP: the download is then what the station sent, and says so. Without
/proc either (not Linux) there is none: the dashboard shows "testing".
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from . import netstat
from .progress import Connection, Look, Progress, RunningTest
from .sockdiag import ESTABLISHED, LISTEN, DiagSocket, SockDiag, SockDiagError

log = logging.getLogger("webperf3.progress")

PROC = Path("/proc")
#: Queries failing this many polls in a row (the netlink socket is reopened
#: after each) mean the kernel will not answer: fall back, once, saying why.
MAX_FAILURES = 3
# Errors that retrying will not cure: no netlink (not Linux), no inet_diag in
# this kernel, refused by policy.
_PERMANENT = frozenset({errno.EAFNOSUPPORT, errno.EPROTONOSUPPORT, errno.ENOENT, errno.EPERM, errno.EACCES, errno.EINVAL})



@dataclass(frozen=True, slots=True)
class Running:
    """A test the fleet sees on a port."""

    started: float  # monotonic, when the fleet first saw it
    pid: int | None  # the iperf3 server's


def read_io(pid: int, proc: Path = PROC) -> tuple[int, int] | None:
    """(rchar, wchar) of *pid* from /proc/PID/io; None when gone or not ours."""
    try:
        text = (proc / str(pid) / "io").read_text()
    except OSError:
        return None
    fields = dict(line.partition(":")[::2] for line in text.splitlines())
    try:
        return int(fields["rchar"]), int(fields["wchar"])
    except (KeyError, ValueError):
        return None


class SocketWatch:
    """The TCP connections and listeners on a set of ports; one thread only."""

    def __init__(self, ports: Collection[int], *, diag: Callable[[], SockDiag] = SockDiag) -> None:
        self._ports = frozenset(ports)
        self._open_diag = diag
        self._diag: SockDiag | None = None
        self._failures = 0
        #: The families of the listeners, from the last look at them alone
        #: (every family); () until then: both.
        self._families: tuple[int, ...] = ()
        #: Why there are no byte counters here (sock_diag given up), once known.
        self.unavailable: str | None = None

    @property
    def counters(self) -> bool:
        """Whether :meth:`tcp` answers with byte counters (sock_diag)."""
        return self.unavailable is None

    def tcp(self, *, listening_only: bool = False) -> netstat.Sockets:
        """ESTABLISHED and LISTEN sockets on the ports (only LISTEN ones if
        *listening_only*, which costs the kernel no walk of its connections):
        sock_diag's, with counters, else /proc/net/tcp's (all ports), else none.

        Connections are asked of the families the listeners were last seen
        in (accepted sockets are their listener's family: a dual-stack
        listener's IPv4 clients are IPv6 sockets), so the kernel walks its
        table of connections once, not twice."""
        if self.unavailable is None:
            if listening_only:
                found = self._ask(lambda d: d.tcp(self._ports, 1 << LISTEN, info=False))
            else:
                mask, families = 1 << ESTABLISHED | 1 << LISTEN, self._families
                found = self._ask(lambda d: d.tcp(self._ports, mask, families=families) if families else d.tcp(self._ports, mask))
            if found is not None:
                if listening_only and (listeners := {s.family for s in found if s.state == LISTEN}):
                    self._families = tuple(sorted(listeners))  # an answer of every family
                if any(s.state == ESTABLISHED and s.bytes_acked is None for s in found):
                    self._give_up("this kernel's tcp_info has no byte counters (Linux 4.1 and newer have them)")
                return found
        return netstat.read_tcp_sockets()

    def refresh(self, known: list[DiagSocket]) -> list[DiagSocket] | None:
        """The sockets of *known* still there, with their counters now: a
        lookup each, no walk of the kernel's table. None if sock_diag failed."""
        if self.unavailable is not None:
            return None
        return self._ask(lambda d: d.lookup(known))

    def udp(self, ports: Collection[int]) -> list[DiagSocket]:
        """Connected UDP sockets on *ports* ([] without sock_diag)."""
        if self.unavailable is not None:
            return []
        return self._ask(lambda d: d.udp(ports)) or []

    def close(self) -> None:
        if self._diag is not None:
            self._diag.close()
            self._diag = None

    def _ask(self, query: Callable[[SockDiag], list[DiagSocket]]) -> list[DiagSocket] | None:
        try:
            if self._diag is None:
                self._diag = self._open_diag()
            found = query(self._diag)
        except SockDiagError as exc:
            self.close()  # a half-read dump must not answer the next query
            self._failures += 1
            if self._failures >= MAX_FAILURES or exc.errno in _PERMANENT:
                self._give_up(str(exc.strerror or exc))
            return None
        self._failures = 0
        return found

    def _give_up(self, why: str) -> None:
        self.close()
        self.unavailable = why
        log.warning(
            "no per-connection counters for running tests: %s; running tests are found in /proc/net/tcp and "
            "their live figures come from each server's /proc/PID/io (the download as sent by the station)",
            why,
        )


class ProgressSampler:
    """Live figures per testing port, from each poll's sockets; one thread only."""

    def __init__(
        self,
        watch: SocketWatch,
        local: str | None = None,
        *,
        io: Callable[[int], tuple[int, int] | None] = read_io,
    ) -> None:
        self._watch = watch
        self._local = local  # the one address the servers listen on, if one
        self._read_io = io
        self._tests: dict[int, RunningTest] = {}

    def sample(self, running: Mapping[int, Running], sockets: netstat.Sockets, now: float) -> dict[int, Progress]:
        """One look at every running test; ``{}`` when none runs or none can be seen.

        *sockets* is this poll's :meth:`SocketWatch.tcp`; *now* is monotonic.
        """
        for port in [p for p, t in self._tests.items() if p not in running or running[p].started != t.started]:
            del self._tests[port]  # ended, or a new test on the port
        if not running:
            return {}
        if not self._watch.counters:
            return self._by_io(running, sockets, now)
        connections: dict[int, list[Connection]] = {port: [] for port in running}
        for sock in sockets:
            if sock.state != ESTABLISHED or sock.local_port not in connections or self._local not in (None, sock.local_host):
                continue
            if not isinstance(sock, DiagSocket) or sock.bytes_acked is None or sock.bytes_received is None:
                return {}  # this poll fell back to /proc/net/tcp: no counters to look at
            connections[sock.local_port].append(Connection(sock.cookie, sock.bytes_received, sock.bytes_acked))
        # A port whose TCP shows no data connection may be running a UDP test.
        maybe_udp = [port for port, conns in connections.items() if len(conns) <= 1]
        udp_sockets = dict.fromkeys(running, 0)
        for sock in self._watch.udp(maybe_udp) if maybe_udp else ():
            if self._local in (None, sock.local_host):
                udp_sockets[sock.local_port] += 1
        out: dict[int, Progress] = {}
        for port, test in sorted(running.items()):
            pid = test.pid
            io = self._read_io(pid) if udp_sockets[port] and pid is not None else None
            out[port] = self._tracker(port, test).update(Look(now, tuple(connections[port]), udp_sockets[port], io))
        return out

    def _by_io(self, running: Mapping[int, Running], sockets: netstat.Sockets, now: float) -> dict[int, Progress]:
        """Without counters: each server's I/O, and /proc/net/tcp for how many connections."""
        established = dict.fromkeys(running, 0)
        for sock in sockets:
            if sock.state == ESTABLISHED and sock.local_port in established and self._local in (None, sock.local_host):
                established[sock.local_port] += 1
        out: dict[int, Progress] = {}
        for port, test in sorted(running.items()):
            io = self._read_io(test.pid) if test.pid is not None else None
            if io is None:
                continue  # no /proc (not Linux), or not ours to read: no figures to give
            out[port] = self._tracker(port, test).update(Look(now, (), 0, io, established=established[port]))
        return out

    def _tracker(self, port: int, test: Running) -> RunningTest:
        tracker = self._tests.get(port)
        if tracker is None:
            tracker = self._tests[port] = RunningTest(port, test.started)
        return tracker
