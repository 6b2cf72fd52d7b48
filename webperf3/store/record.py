"""The one record every part of webperf3 passes around: one iperf3 test."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

Direction = Literal["upload", "download", "bidirectional"]
#: Who measured a download figure: "station" — what the station *sent* (all an
#: iperf3 server log holds before esnet/iperf PR #1908); "client" — what the
#: client *received*, where the server's iperf3 writes the receiver's figures.
MeasuredBy = Literal["station", "client"]
#: How a test was made: by an iperf3 client against a station's iperf3
#: server, or by the station's "Test from this browser" (browser, HTTP).
Method = Literal["iperf3", "browser"]


class BrowserFigures(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """What only a browser test has: the round-trip times the browser
    measured (small messages on a connection of their own) while idle and
    while each direction loaded the link, as median and 90th percentile in
    milliseconds, and a short description of the browser (from its
    User-Agent, cleaned). One object, referred to by one field of
    :class:`Result`, so an iperf3 test pays a single empty slot for it."""

    latency_idle_ms: float | None = None
    latency_idle_p90_ms: float | None = None
    latency_download_ms: float | None = None  # during the download
    latency_download_p90_ms: float | None = None
    latency_upload_ms: float | None = None  # during the upload
    latency_upload_p90_ms: float | None = None
    agent: str | None = None  # e.g. "Chrome 131 on Android"


class Result(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One test as the iperf3 server on ``port`` saw it.

    Rates are in bits per second. *Upload* (client → station) is always
    what the station received. *Download* (station → client) is what the
    station sent unless ``download_measured_by`` is ``"client"``: iperf3's
    server log holds only its own side (esnet/iperf#1410), so for TCP the
    client received at most that and for UDP anything up to all of it may
    have been lost. UDP jitter and loss of a download are measured by the
    client alone: ``None`` here unless the log carries the client's figures.
    A side the test did not measure is ``None``, never 0.

    A msgspec Struct rather than a dataclass: a frozen dataclass builds each
    instance through ``object.__setattr__`` per field, five times slower, and
    a cold read builds one per test in the logs. ``gc=False``: it holds only
    text and numbers, so it can be in no reference cycle, and leaving out the
    collector's header saves 16 bytes of every test kept (a station keeps
    100,000). Its texts are shared with other results (:class:`SharedText`).
    """

    port: int
    time: float  # start of the test, seconds since the epoch (iperf3's timesecs)
    name: str | None = None  # the client's --extra-data
    client: str | None = None  # the client's address
    protocol: str | None = None  # "TCP", "UDP", "SCTP"
    direction: Direction | None = None
    streams: int | None = None
    duration: float | None = None  # seconds actually measured
    upload_bps: float | None = None
    download_bps: float | None = None
    download_measured_by: MeasuredBy | None = None  # None when no download was measured
    retransmits: int | None = None  # TCP, of the side the server sent
    jitter_ms: float | None = None  # UDP upload, measured by the station (the receiver)
    loss_percent: float | None = None  # UDP upload, likewise
    download_jitter_ms: float | None = None  # UDP download: only when the client's figures are in the log
    download_loss_percent: float | None = None  # UDP download, likewise
    error: str | None = None  # set when the test failed; then there are no rates (iperf3's own text)
    #: The station cut the test: its own stop or restart, or its death (not
    #: a failure of the place: out of failure counts and grades).
    interrupted: bool = False
    error_plain: str | None = None  # the error in plain words, for the common ones (beside ``error``)
    version: str | None = None  # "3.12"
    cookie: str | None = None  # iperf3's start.cookie: with the port, the test's identity
    offset: int = 0  # byte offset of the entry in its log file
    #: "browser" for a test run from the dashboard's "Test from this
    #: browser" (kept in <log-dir>/browser-tests.json, ``port`` is the
    #: websocket port it ran on): its download is what the browser received,
    #: its upload what the station received, over HTTP (a websocket).
    method: Method = "iperf3"
    browser: BrowserFigures | None = None  # a browser test's own figures
    station_rtt: StationRtt | None = None  # iperf3 TCP downloads, where the log has them

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def failed(self) -> bool:
        """A failure of its place: an error the station did not cause."""
        return self.error is not None and not self.interrupted

    @property
    def end_time(self) -> float:
        return self.time + (self.duration or 0.0)

    def to_dict(self) -> dict[str, Any]:
        out = msgspec.structs.asdict(self)
        browser = out.pop("browser")
        # Flat, with the same keys for every test: a page or a script reads
        # ``latency_download_ms`` without asking first which method made it.
        out.update(msgspec.structs.asdict(browser if browser is not None else _NO_BROWSER_FIGURES))
        rtt = out.pop("station_rtt")
        out["station_rtt_min_ms"] = rtt.min_ms if rtt is not None else None
        out["station_rtt_mean_ms"] = rtt.mean_ms if rtt is not None else None
        out["station_rtt_max_ms"] = rtt.max_ms if rtt is not None else None
        return out


class StationRtt(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The station's own round-trip times while it sent a TCP download (-R,
    --bidir), from its sending streams in iperf3's log (Linux's tcp_info):
    the station's measure of the latency under load, in milliseconds. Not
    the client's: a browser test's latency is the browser's."""

    min_ms: float | None = None
    mean_ms: float | None = None
    max_ms: float | None = None


_NO_BROWSER_FIGURES = BrowserFigures()


class SharedText:
    """One copy of each text that many results repeat, for the store.

    Every test decodes its own copy of its client's address, its protocol,
    its error and its ``--extra-data``: the same "192.168.1.20" or
    "Room 101" a hundred times over, and a client sending a 120 kB name on
    every test would make the store keep one copy per test. Called with a
    text, it returns the first equal text it was given, so results (and
    every cache built from them) refer to one string.

    Bounded: the ``limit`` most recently added texts are kept, so a flood of
    distinct names costs no more than the results holding them do. Not
    thread-safe: the store calls it under its lock.
    """

    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        self._kept: dict[str, str] = {}

    def __call__(self, text: str | None) -> str | None:
        if text is None:
            return None
        kept = self._kept.setdefault(text, text)
        if kept is text and len(self._kept) > self.limit:
            del self._kept[next(iter(self._kept))]  # the oldest added
        return kept

    def clear(self) -> None:
        self._kept.clear()

    def __len__(self) -> int:
        return len(self._kept)
