"""The station's side of "Test from this browser", on the websocket port.

Chosen by measurement (docs/measuring.md, "Testing from a browser"): binary
websocket messages on the port the live push already listens on, so no new
port and no waitress thread held for seconds per stream (waitress has 8,
and reads a whole request body before the app sees a byte of it).

A test is one **control** connection and, for each direction in turn,
a few **stream** connections (paths under :data:`PREFIX`):

* ``/browser-test`` (control, JSON text): the station answers ``ready``
  (a token, the streams, the timing) or ``busy`` (``retry_after`` s) and
  closes. It echoes every ``ping`` at once (``pong``): the browser's round
  trips, on a connection of their own, idle and during each direction. The
  page says ``download``, then ``upload``, then ``finish`` with its
  download figure and its round trips; the station answers ``result``.
* ``/browser-test/down?t=TOKEN``: the station sends incompressible bytes
  (one random buffer made at start, 1 MiB a message) until the direction
  ends. The **browser** counts what it received after a warm-up: the
  download is what the client got, as the page reports it (checked: never
  more than the station sent).
* ``/browser-test/up?t=TOKEN``: the station sends ``go``, then the browser
  sends binary messages; the **station** counts what it received after the warm-up and times the
  direction itself (``upload_progress`` several times a second, then
  ``upload_done``).

Limits, as iperf3's one test per server: one test per client address and
:attr:`Limits.total` in all (others get ``busy``); each direction ends after
:attr:`Limits.phase_seconds` and :attr:`Limits.direction_bytes`; an upload
past its cap is cut. An upload stream is counted, not read (upcount.py):
the page sends once the station's first message (``go``) has come. A test whose page leaves before the end records nothing
(the journal says so): a figure half measured is never kept.

About 500 lines: one test's whole protocol (admission, the control
messages, both directions' streams and timing, the checks of the page's
figure, the record) is one piece of loop state, kept together.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import secrets
import socket
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msgspec
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from ..store.results import ResultsStore
from ..survey.rules import clean_address
from ..text import printable
from .agent import describe_agent
from .records import BrowserRecord, Latency, append_record
from .downsend import SendingProtocol
from .upcount import CountingProtocol

log = logging.getLogger("webperf3.browsertest")

PREFIX = "/browser-test"
CONTROL_PATH = PREFIX
DOWN_PATH = PREFIX + "/down"
UP_PATH = PREFIX + "/up"
#: Bytes of one download message, cut from a random buffer of RANDOM_BYTES.
CHUNK_BYTES = 1 << 20
RANDOM_BYTES = 8 << 20
#: The kernel's send buffer of a download stream: the dashboard's 64 KiB
#: (live/outbox.py) would cap a stream at 64 KiB per round trip.
STREAM_SEND_BUFFER = 4 << 20
#: Round trips a page may report per phase; samples past it are ignored.
MAX_SAMPLES = 400


@dataclass(frozen=True)
class Limits:
    per_client: int = 1  # tests at once from one address (IPv6: its /64)
    total: int = 2  # tests at once in all
    streams: int = 6  # connections per direction
    warmup_seconds: float = 2.0  # the start of each direction, not counted
    measure_seconds: float = 6.0  # counted, after the warm-up
    #: On a fast link the measure is cut to this once its first second
    #: passes ``fast_bps``: more seconds change the figure little and cost
    #: the station (and the phone's data plan) a gigabyte each.
    fast_measure_seconds: float = 3.0
    fast_bps: float = 400e6
    phase_seconds: float = 15.0  # a direction ends by then whatever the page does
    test_seconds: float = 60.0  # the whole test, latency included
    direction_bytes: int = 3 << 30  # per direction
    #: A download's streams start sending together, once the page's last
    #: stream is in (or after this): streams sending while the page still
    #: opens the others can spend the cap before its measure begins.
    start_seconds: float = 5.0
    #: An upload message of the page. The station counts frames without
    #: reading them (upcount.py), so any size would do; 64 KiB is what
    #: Chromium was measured sending at 4-6 Gbit/s on loopback.
    upload_message_bytes: int = 64 * 1024


@dataclass(eq=False)
class Session:
    token: str
    client: str  # the per-client key (connection.client)
    address: str | None
    agent: str | None
    started: float  # wall clock
    started_mono: float
    control: ServerConnection
    phase: str = "idle"  # idle, download, upload, uploaded, done
    phase_started: float = 0.0
    down_sent: int = 0
    down_streams: int = 0  # connections opened for the download
    down_in: int = 0  # of those, past their handshake
    #: Set when every download stream is in: they start sending together.
    down_all_in: asyncio.Event = field(default_factory=asyncio.Event)
    up_streams: int = 0
    up_bytes: int = 0
    upload: dict[str, float] | None = None  # the station's upload figure, once measured
    downloaders: set[ServerConnection] = field(default_factory=set)
    counters: set[CountingProtocol] = field(default_factory=set)  # the upload's streams
    #: Set when the first upload stream is in: the upload's warm-up starts
    #: there, not at the page's "upload" (its streams' handshakes are not
    #: the link's rate).
    up_started: asyncio.Event = field(default_factory=asyncio.Event)
    timer: asyncio.Task | None = None


def _owns(path: str) -> bool:
    return path in (CONTROL_PATH, DOWN_PATH, UP_PATH)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile, linear between closest ranks (q in 0..100)."""
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summarize(samples: object) -> tuple[float | None, float | None]:
    """Median and 90th percentile of a page's round trips (ms); junk dropped."""
    if not isinstance(samples, list):
        return None, None
    good = [float(s) for s in samples[:MAX_SAMPLES] if isinstance(s, (int, float)) and not isinstance(s, bool) and 0 < s < 60_000]
    if not good:
        return None, None
    return round(statistics.median(good), 2), round(percentile(good, 90), 2)


class BrowserTests:
    """Browser tests, run in the live server's loop (which calls
    :meth:`owns`, :meth:`admit` and :meth:`handle`)."""

    def __init__(self, store: ResultsStore, log_dir: Path, port: Callable[[], int], limits: Limits | None = None) -> None:
        self.store = store
        self.log_dir = Path(log_dir)
        self.port = port
        self.limits = limits or Limits()
        # Made for the tests under way and let go with the last: 8 MiB an
        # idle station would hold for nothing (its memory ceiling is 150).
        self._random: memoryview | None = None
        self._sessions: dict[str, Session] = {}  # by token; loop state

    # -- the live server's hooks ------------------------------------------------------

    @staticmethod
    def owns(path: str) -> bool:
        return _owns(urlsplit(path).path)

    @property
    def running(self) -> int:
        return len(self._sessions)

    def admit(self, connection: ServerConnection, request: Request) -> Response | None:
        """A stream is let in only with the token of a test of its own address
        in the direction under way, up to the streams allowed."""
        url = urlsplit(request.path)
        if url.path == CONTROL_PATH:
            return None  # busy or not is said in the connection, where a page can read it
        session = self._session_of(connection, url.query)
        if session is None:
            return connection.respond(HTTPStatus.FORBIDDEN, "No browser test of yours is under way.\n")
        if url.path == DOWN_PATH:
            if session.phase != "download" or session.down_streams >= self.limits.streams:
                return connection.respond(HTTPStatus.CONFLICT, "Not downloading now.\n")
            session.down_streams += 1
        else:
            if session.phase != "upload" or session.up_streams >= self.limits.streams:
                return connection.respond(HTTPStatus.CONFLICT, "Not uploading now.\n")
            session.up_streams += 1
        return None

    async def handle(self, connection: ServerConnection) -> None:
        url = urlsplit(connection.request.path if connection.request else "")
        if url.path == CONTROL_PATH:
            await self._control(connection)
            return
        session = self._session_of(connection, url.query)
        if session is None:
            await connection.close(1008, "no test")
            return
        if url.path == DOWN_PATH:
            await self._send_download(connection, session)
        else:
            await self._receive_upload(connection, session)

    def _session_of(self, connection: ServerConnection, query: str) -> Session | None:
        token = parse_qs(query).get("t", [""])[0]
        session = self._sessions.get(token)
        if session is None or session.client != getattr(connection, "client", None):
            return None
        return session

    # -- control ------------------------------------------------------------------------

    async def _control(self, connection: ServerConnection) -> None:
        client = getattr(connection, "client", "?")
        now = time.monotonic()
        mine = [s for s in self._sessions.values() if s.client == client]
        if len(mine) >= self.limits.per_client or len(self._sessions) >= self.limits.total:
            blocking = mine or list(self._sessions.values())
            left = min(s.started_mono + self._expected_seconds() - now for s in blocking)
            retry = max(1, math.ceil(left))
            why = "a test from this address is under way" if mine else f"{len(self._sessions)} browser tests are under way"
            await self._send(connection, {"type": "busy", "retry_after": retry, "message": f"Busy: {why}. Try again in {retry} s."})
            await connection.close(1013, "busy")
            return
        peer = connection.remote_address
        address = None
        if isinstance(peer, tuple) and peer:
            with contextlib.suppress(ValueError, Exception):
                address = clean_address(peer[0])
        headers = connection.request.headers if connection.request else None
        agent = describe_agent(headers.get("User-Agent") if headers else None)
        session = Session(secrets.token_urlsafe(18), client, address, agent, time.time(), now, connection)
        self._sessions[session.token] = session
        limits = self.limits
        deadline = now + limits.test_seconds
        try:
            await self._send(connection, {
                "type": "ready", "token": session.token, "streams": limits.streams,
                "warmup_seconds": limits.warmup_seconds, "measure_seconds": limits.measure_seconds,
                "fast_measure_seconds": limits.fast_measure_seconds, "fast_bps": limits.fast_bps,
                "phase_seconds": limits.phase_seconds, "upload_message_bytes": limits.upload_message_bytes,
                "direction_bytes": limits.direction_bytes,
            })
            async with asyncio.timeout(limits.test_seconds):
                async for message in connection:
                    if await self._on_control(connection, session, message):
                        break
            if session.phase != "done":
                log.info("browser test from %s ended before its result (during %s): nothing recorded", printable(address or "-"), session.phase)
        except (TimeoutError, ConnectionClosed):
            if session.phase != "done":
                over = time.monotonic() >= deadline
                log.info(
                    "browser test from %s %s (during %s): nothing recorded",
                    printable(address or "-"), "took too long" if over else "was left by its page", session.phase,
                )
                if over:
                    with contextlib.suppress(ConnectionClosed):
                        await self._send(connection, {"type": "error", "message": f"The test took over {limits.test_seconds:.0f} s: nothing recorded."})
        finally:
            self._end(session)
            with contextlib.suppress(Exception):
                await connection.close()

    def _expected_seconds(self) -> float:
        limits = self.limits
        return 2 * (limits.warmup_seconds + limits.measure_seconds) + 4

    async def _on_control(self, connection: ServerConnection, session: Session, message: str | bytes) -> bool:
        """One message of the page; True once the test is over."""
        if isinstance(message, bytes) or len(message) > 32 * 1024:
            await self._fail(connection, "unexpected message on the control connection")
            return True
        try:
            msg = json.loads(message)
        except (ValueError, RecursionError):  # 32 KiB of "[" is 32,768 deep
            await self._fail(connection, "a control message that is not JSON, or nested too deeply")
            return True
        kind = msg.get("type") if isinstance(msg, dict) else None
        if kind == "ping":
            await self._send(connection, {"type": "pong", "n": msg.get("n") if isinstance(msg.get("n"), (int, float)) else None})
        elif kind == "download" and session.phase == "idle":
            self._phase(session, "download")
            session.timer = asyncio.create_task(self._end_download_by(session))
            await self._send(connection, {"type": "go", "phase": "download"})
        elif kind == "upload" and session.phase == "download":
            self._phase(session, "upload")
            _cut(session.downloaders)
            session.timer = asyncio.create_task(self._time_upload(session))
            await self._send(connection, {"type": "go", "phase": "upload"})
        elif kind == "finish" and session.phase == "uploaded":
            await self._finish(connection, session, msg)
            return True
        else:
            await self._fail(connection, f"unexpected {printable(kind, 20)!s} during the {session.phase}")
            return True
        return False

    def _phase(self, session: Session, phase: str) -> None:
        if session.timer is not None:
            session.timer.cancel()
            session.timer = None
        session.phase, session.phase_started = phase, time.monotonic()

    def _end(self, session: Session) -> None:
        self._sessions.pop(session.token, None)
        if not self._sessions:
            self._random = None  # a stream still sending keeps its own reference
        if session.phase != "done":
            session.phase = "ended"
        if session.timer is not None:
            session.timer.cancel()
        _cut(session.downloaders)
        for counter in list(session.counters):
            counter.cut()

    async def _send(self, connection: ServerConnection, message: dict[str, Any]) -> None:
        await connection.send(json.dumps(message))

    async def _fail(self, connection: ServerConnection, why: str) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self._send(connection, {"type": "error", "message": f"Browser test stopped: {why}. Nothing recorded."})

    # -- download -----------------------------------------------------------------------

    async def _end_download_by(self, session: Session) -> None:
        await asyncio.sleep(self.limits.phase_seconds)
        if session.phase == "download":
            session.phase = "download over"  # streams stop; the page's upload is refused
            _cut(session.downloaders)

    async def _send_download(self, connection: ServerConnection, session: Session) -> None:
        """Frames written straight to the connection (downsend.py: a third of
        the station's CPU per GB), slices of one random buffer."""
        sock = connection.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, STREAM_SEND_BUFFER)
        if self._random is None:
            self._random = memoryview(os.urandom(RANDOM_BYTES))
        random, size = self._random, CHUNK_BYTES
        offset = (session.down_streams * 7919 * 4096) % (len(random) - size)
        cap = self.limits.direction_bytes
        sending = SendingProtocol.take_over(connection.transport)
        session.downloaders.add(connection)
        session.down_in += 1
        if session.down_in >= self.limits.streams:
            session.down_all_in.set()
        try:
            # Seen in WebKit under load: two streams sending at full rate
            # held the page's other four handshakes back ten seconds, spent
            # the whole cap, and the page's measure counted 0 bytes.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.limits.start_seconds):
                    await session.down_all_in.wait()
            while session.phase == "download" and session.down_sent < cap:
                if not await sending.send(random[offset : offset + size]):
                    break
                session.down_sent += size
                offset = (offset + size + 4096) % (len(random) - size)
        finally:
            session.downloaders.discard(connection)
            sending.cut()  # over: nothing queued is owed to the page

    # -- upload -------------------------------------------------------------------------

    async def _receive_upload(self, connection: ServerConnection, session: Session) -> None:
        """Counted as it arrives, not read as messages (upcount.py: a third
        of the station's CPU per GB). The page sends only once it has the
        station's "go", so every byte it sends reaches the counter."""
        cap = self.limits.direction_bytes

        def counted(n: int) -> None:
            session.up_bytes += n
            if session.phase != "upload" or session.up_bytes > cap:
                counting.cut()

        counting = CountingProtocol.take_over(connection.transport, counted)
        session.counters.add(counting)
        try:
            with contextlib.suppress(ConnectionClosed):
                await connection.send("go")
            session.up_started.set()
            await counting.done
            if counting.error:
                log.info("browser test from %s: an upload stream cut: %s", printable(session.address or "-"), counting.error)
        finally:
            session.counters.discard(counting)

    async def _time_upload(self, session: Session) -> None:
        """The upload, measured and timed here: bytes the station received
        after the warm-up, over the seconds they took to arrive."""
        limits = self.limits
        connection = session.control
        tick = 0.25
        try:
            try:
                async with asyncio.timeout(limits.phase_seconds):
                    await session.up_started.wait()
            except TimeoutError:
                await self._fail(connection, f"no upload stream came in {limits.phase_seconds:.0f} s")
                await connection.close(1000, "no upload")
                return
            start = time.monotonic()
            # A quarter of the cap ends the warm-up early: on a link that fast
            # the cap would otherwise leave nothing to measure.
            while time.monotonic() - start < limits.warmup_seconds and session.up_bytes < limits.direction_bytes // 4:
                await asyncio.sleep(tick)
                elapsed = time.monotonic() - start
                await self._send(connection, {"type": "upload_progress", "bps": session.up_bytes * 8 / elapsed, "warmup": True})
            b0, t0 = _received(session), time.monotonic()
            measure = limits.measure_seconds
            while True:
                await asyncio.sleep(tick)
                now = time.monotonic()
                received = _received(session) - b0
                bps = received * 8 / (now - t0)
                if now - t0 >= 1.0 and bps >= limits.fast_bps:
                    measure = min(measure, limits.fast_measure_seconds)
                if now - t0 >= measure or session.up_bytes >= limits.direction_bytes:
                    break
                await self._send(connection, {"type": "upload_progress", "bps": bps, "warmup": False})
            seconds = now - t0
            if received <= 0:
                # A stalled page, or streams gone: 0 would be recorded as the
                # link's rate, which no measure showed.
                await self._fail(connection, f"no upload bytes reached the station in the {seconds:.1f} measured seconds")
                await connection.close(1000, "no upload")
                return
            session.upload = {"bps": received * 8 / seconds, "bytes": received, "seconds": seconds}
            session.phase = "uploaded"
            await self._send(connection, {"type": "upload_done", **session.upload})
            for counter in list(session.counters):
                counter.cut()
        except ConnectionClosed:
            pass

    # -- the result ---------------------------------------------------------------------

    async def _finish(self, connection: ServerConnection, session: Session, msg: dict[str, Any]) -> None:
        limits = self.limits
        download = msg.get("download")
        ok = isinstance(download, dict)
        got = download.get("bytes") if ok else None
        seconds = download.get("seconds") if ok else None
        if not (isinstance(got, int) and not isinstance(got, bool) and isinstance(seconds, (int, float)) and not isinstance(seconds, bool)):
            await self._fail(connection, "the page's download figure is missing")
            return
        # The page counts what it received; never more than was sent, over a
        # time it could have taken.
        if not (0 <= got <= session.down_sent and 0.5 <= seconds <= limits.phase_seconds):
            await self._fail(connection, f"the page's download figure ({got} bytes in {seconds} s) cannot be right: the station sent {session.down_sent} bytes")
            return
        if got == 0:
            await self._fail(connection, f"no download bytes reached this browser in the {seconds:.1f} measured seconds")
            return
        latency = msg.get("latency") if isinstance(msg.get("latency"), dict) else {}
        idle, idle90 = summarize(latency.get("idle"))
        down, down90 = summarize(latency.get("download"))
        up, up90 = summarize(latency.get("upload"))
        assert session.upload is not None
        record = BrowserRecord(
            id=secrets.token_hex(16),
            port=self.port(),
            time=session.started,
            duration=round(time.monotonic() - session.started_mono, 3),
            client=session.address,
            agent=session.agent,
            streams=limits.streams,
            download_bps=got * 8 / seconds,
            download_sent_bytes=session.down_sent,
            upload_received_bytes=session.up_bytes,
            download_bytes=got,
            download_seconds=round(seconds, 3),
            upload_bps=session.upload["bps"],
            upload_bytes=int(session.upload["bytes"]),
            upload_seconds=round(session.upload["seconds"], 3),
            latency=Latency(idle_ms=idle, idle_p90_ms=idle90, download_ms=down, download_p90_ms=down90, upload_ms=up, upload_p90_ms=up90),
        )
        try:
            await asyncio.to_thread(self._keep, record)
        except OSError as exc:
            log.warning("browser test from %s not recorded: %s", printable(session.address or "-"), exc.strerror or exc)
            await self._fail(connection, f"the station could not record it ({exc.strerror or exc})")
            return
        session.phase = "done"  # the journal's line is the station's, as for every test (station.py)
        await self._send(connection, {"type": "result", "id": f"{record.port}-{record.id}", "record": json.loads(_encode(record))})

    def _keep(self, record: BrowserRecord) -> None:
        """Worker thread: on disk first, then the store reads it like any test."""
        append_record(self.log_dir, record)
        self.store.refresh_records()


def _received(session: Session) -> int:
    """The upload's bytes so far: those counted, and those in the kernel
    waiting to be (upcount.py wakes the station only every few ms of a
    stream's rate)."""
    return session.up_bytes + sum(counter.unread() for counter in session.counters)


def _cut(streams: set[ServerConnection]) -> None:
    """A direction's streams, cut, not closed, once its figure is taken: a
    closing handshake would wait behind the megabytes still queued (the
    station's send buffers, the page's), which would keep flowing for
    seconds into the next direction, their ACKs and the round trips queued
    behind them on a slow link, and the next figure too low."""
    for stream in list(streams):
        stream.transport.abort()


def _encode(record: BrowserRecord) -> bytes:
    return msgspec.json.encode(record)
