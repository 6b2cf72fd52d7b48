"""The one record every part of webperf3 passes around: one iperf3 test."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

Direction = Literal["upload", "download", "bidirectional"]
#: Who measured a download figure: "station" — what the station *sent* (all an
#: iperf3 server log holds before esnet/iperf PR #1908); "client" — what the
#: client *received*, where the server's iperf3 writes the receiver's figures.
MeasuredBy = Literal["station", "client"]


class Result(msgspec.Struct, frozen=True, kw_only=True):
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
    a cold read builds one per test in the logs.
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
        return msgspec.structs.asdict(self)
