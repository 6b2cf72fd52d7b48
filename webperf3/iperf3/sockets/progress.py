"""A running test's live figures, from successive looks at its counters (pure).

The fleet looks at each testing port a few times a second (:class:`Look`):
the port's established TCP connections with the kernel's byte counters
(:mod:`.sockdiag`), how many connected UDP sockets the port has, and the
iperf3 server process's I/O counters. :class:`RunningTest` turns the looks
of one test into :class:`Progress`: rates over the last interval, in bits
per second, named for the side that measured them.

TCP. An iperf3 test is one control connection and N data connections on the
server's port. Every data connection carries bytes one way only (the client
opens it with a 37-byte cookie and then one side sends); the control
connection alone carries bytes both ways (the parameters in, the state bytes
out) before any data connection exists. So: the connection with bytes both
ways is the control one and is left out; a data connection that received
more than its cookie is an upload stream, one whose bytes were acknowledged
is a download stream. *Upload* is the change of ``bytes_received`` (what the
station received), *download* the change of ``bytes_acked``: bytes the client
has acknowledged, i.e. received (``download_measured_by = "client"``). ``-P``
sums the streams, ``--bidir`` has both, ``-R`` only the download.

UDP. The kernel keeps no byte counters per UDP socket. Each iperf3 server is
its own process running one test at a time, and every iperf3 from 3.9 to
3.21 moves UDP data with read(2) and write(2), which the kernel counts in
/proc/PID/io (``rchar``, ``wchar``). So *upload* is the change of ``rchar``:
what the station received; *download* the change of ``wchar``: what the
station **sent** (``download_measured_by = "station"``; the client may have
lost any of it). These counters also see the control connection and the
random buffer iperf3 reads at the start, so a UDP direction is shown only
once it grew over two intervals in a row within the test's first second;
after that the set of directions is fixed, so the results and the log
written at the end never show up as a direction. iperf3 3.21's
``--skip-rx-copy`` and ``--gsro`` receive with recv(MSG_TRUNC)/recvmsg,
which /proc/PID/io does not count: the upload then stays ``None`` ("UDP test
running"), never a false 0.

Without byte counters (a kernel or sandbox that refuses sock_diag: then
the connections come from /proc/net/tcp, with no counters) both protocols
are read like UDP, from /proc/PID/io: *upload* what the station received,
*download* what it **sent** (``"station"``). The protocol shows as TCP once
the port has a data connection besides the control one, else unknown.
iperf3 moves TCP data with read(2) and write(2) as well (``-Z``'s
sendfile(2) is counted too); 3.21's ``--skip-rx-copy`` upload stays None.

The first look at a test gives 0 for each direction it already carries
(a rate needs two looks), so figures rise from 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

#: What the client sends first on every iperf3 connection (COOKIE_SIZE).
COOKIE_BYTES = 37
#: Bytes a connection may move without counting as carrying data: the
#: 1-byte state an iperf3 server sends a client it turns away, and the like.
SLACK_BYTES = 16
#: A UDP direction must grow over this many consecutive intervals to count…
UDP_CONFIRM_INTERVALS = 2
#: …within this many seconds of the test's first look; then the set is fixed.
UDP_DECIDE_SECONDS = 1.0

Protocol = Literal["TCP", "UDP"]


@dataclass(frozen=True, slots=True)
class Connection:
    """One established TCP connection on the port, as the kernel counts it."""

    key: int  # stable for the connection's life: sock_diag's cookie
    received: int  # bytes received from the client
    acked: int  # bytes sent and acknowledged by the client


@dataclass(frozen=True, slots=True)
class Look:
    """What one sample saw of one testing port."""

    at: float  # monotonic seconds
    connections: tuple[Connection, ...] = ()
    udp_sockets: int = 0  # connected UDP sockets on the port
    io: tuple[int, int] | None = None  # the server process's (rchar, wchar), when readable
    #: Established TCP connections on the port when only /proc/net/tcp was
    #: read (no counters: *connections* is empty); None when sock_diag answered.
    established: int | None = None


@dataclass(frozen=True, slots=True)
class Progress:
    """The live figures of one running test."""

    port: int
    elapsed: float  # seconds since the test was first seen
    protocol: Protocol | None  # None until the data streams show
    upload_bps: float | None  # client → station, as the station received it; None: not this way (yet)
    download_bps: float | None  # station → client; see download_measured_by
    download_measured_by: Literal["client", "station"] | None  # "client": acknowledged by it (TCP); "station": sent (UDP)
    upload_bytes: int | None  # since the start of the test (TCP) or since first seen (UDP)
    download_bytes: int | None
    streams: int | None  # data connections (TCP) or connected UDP sockets
    interval: float | None  # seconds the rates cover; None on the first look

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Streams:
    """A look's TCP connections, sorted out."""

    control: Connection | None
    upload: tuple[Connection, ...]
    download: tuple[Connection, ...]
    unknown: tuple[Connection, ...]  # data connections that have carried nothing yet

    @property
    def count(self) -> int:
        return len(self.upload) + len(self.download) + len(self.unknown)


def _both_ways(c: Connection) -> bool:
    return c.received > COOKIE_BYTES + SLACK_BYTES and c.acked > 0


def sort_streams(connections: Iterable[Connection]) -> Streams:
    """Tell the control connection from the data streams and their directions."""
    conns = list(connections)
    if len(conns) <= 1:  # an iperf3 test has a control connection before any data one
        return Streams(conns[0] if conns else None, (), (), ())
    candidates = [c for c in conns if _both_ways(c)]
    # More than one "both ways" is no iperf3 test we know; the one that moved
    # least is the control (a data stream moves far more).
    control = min(candidates, key=lambda c: c.received + c.acked, default=None)
    upload, download, unknown = [], [], []
    for c in conns:
        if c is control:
            continue
        if c.received > COOKIE_BYTES + SLACK_BYTES:
            upload.append(c)
        elif c.acked > SLACK_BYTES:
            download.append(c)
        else:
            unknown.append(c)
    return Streams(control, tuple(upload), tuple(download), tuple(unknown))


def _rate(delta: int, seconds: float) -> float:
    return max(0, delta) * 8 / seconds


@dataclass(slots=True)
class RunningTest:
    """The looks at one test (from its start to its end) and what they show."""

    port: int
    started: float  # monotonic, when the test was first seen
    _previous: Look | None = None
    _first_io: tuple[int, int] | None = None
    _io_growth: list[int] = field(default_factory=lambda: [0, 0])  # consecutive growing intervals
    _io_carries: list[bool] = field(default_factory=lambda: [False, False])
    _io_intervals: int = 0
    _io_fixed: bool = False
    _tcp_streams: int | None = None  # without counters: data streams last seen (a TCP test)

    def update(self, look: Look) -> Progress:
        previous, self._previous = self._previous, look
        elapsed = round(max(0.0, look.at - self.started), 3)
        seconds = look.at - previous.at if previous is not None else 0.0
        interval = round(seconds, 3) if seconds > 0 else None
        if look.established is not None:  # no counters: the process's I/O, whatever the protocol
            if look.established > 1:  # the control connection and at least one data one
                self._tcp_streams = look.established - 1
            # Once seen, a TCP test stays one: its data streams close before
            # its control connection, and a sample of its last bytes (or one
            # of a loaded machine, between /proc reads) sees the control alone.
            tcp = self._tcp_streams is not None
            return self._by_io(look, previous, elapsed, interval, "TCP" if tcp else None, self._tcp_streams)
        streams = sort_streams(look.connections)
        if streams.count:
            return self._tcp(look, previous, streams, elapsed, interval)
        if look.udp_sockets:
            return self._by_io(look, previous, elapsed, interval, "UDP", look.udp_sockets)
        return Progress(self.port, elapsed, None, None, None, None, None, None, None, interval)

    def _tcp(self, look: Look, previous: Look | None, streams: Streams, elapsed: float, interval: float | None) -> Progress:
        before = {c.key: c for c in previous.connections} if previous is not None else {}

        def figures(conns: tuple[Connection, ...], count: str, base: int) -> tuple[float | None, int | None]:
            if not conns:
                return None, None
            total = sum(getattr(c, count) - base for c in conns)
            if interval is None:
                return 0.0, total
            old = (getattr(before[c.key], count) if c.key in before else base for c in conns)
            return _rate(sum(getattr(c, count) for c in conns) - sum(old), interval), total

        upload_bps, upload_bytes = figures(streams.upload, "received", COOKIE_BYTES)
        download_bps, download_bytes = figures(streams.download, "acked", 0)
        return Progress(
            port=self.port,
            elapsed=elapsed,
            protocol="TCP",
            upload_bps=upload_bps,
            download_bps=download_bps,
            download_measured_by="client" if download_bps is not None else None,
            upload_bytes=upload_bytes,
            download_bytes=download_bytes,
            streams=streams.count,
            interval=interval,
        )

    def _decide_directions(self, io: tuple[int, int], before: tuple[int, int], at: float) -> None:
        self._io_intervals += 1
        for way in (0, 1):
            self._io_growth[way] = self._io_growth[way] + 1 if io[way] > before[way] else 0
            if self._io_growth[way] >= UDP_CONFIRM_INTERVALS:
                self._io_carries[way] = True
        # Fixed once the first second is over, with enough intervals seen even
        # on a slow machine: from then on only the data moves these counters
        # until the test ends, and the end's results and log must not count.
        if at - self.started >= UDP_DECIDE_SECONDS and self._io_intervals > UDP_CONFIRM_INTERVALS:
            self._io_fixed = True

    def _by_io(
        self, look: Look, previous: Look | None, elapsed: float, interval: float | None,
        protocol: Protocol | None, streams: int | None,
    ) -> Progress:
        io, before = look.io, previous.io if previous is not None else None
        if io is not None and self._first_io is None:
            self._first_io = io
        rates: list[float | None] = [None, None]
        totals: list[int | None] = [None, None]
        if io is not None and before is not None and interval is not None:
            if not self._io_fixed:
                self._decide_directions(io, before, look.at)
            for way in (0, 1):
                if self._io_carries[way]:
                    rates[way] = _rate(io[way] - before[way], interval)
                    totals[way] = io[way] - self._first_io[way]  # type: ignore[index]
        return Progress(
            port=self.port,
            elapsed=elapsed,
            protocol=protocol,
            upload_bps=rates[0],
            download_bps=rates[1],
            download_measured_by="station" if rates[1] is not None else None,
            upload_bytes=totals[0],
            download_bytes=totals[1],
            streams=streams,
            interval=interval,
        )
