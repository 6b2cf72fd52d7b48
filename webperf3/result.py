"""The one record every part of webperf3 passes around: one iperf3 test."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

Direction = Literal["upload", "download", "bidirectional"]


class Result(msgspec.Struct, frozen=True, kw_only=True):
    """One test as the iperf3 server on ``port`` saw it.

    Rates are in bits per second from the server's point of view turned into
    the client's words: *upload* is client → server, *download* server → client.
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
    retransmits: int | None = None  # TCP, of the side the server sent
    jitter_ms: float | None = None  # UDP, of the side the server received
    loss_percent: float | None = None  # UDP, likewise
    error: str | None = None  # set when the test failed; then there are no rates
    version: str | None = None  # "3.12"
    offset: int = 0  # byte offset of the entry in its log file

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def end_time(self) -> float:
        return self.time + (self.duration or 0.0)

    def to_dict(self) -> dict[str, Any]:
        return msgspec.structs.asdict(self)
