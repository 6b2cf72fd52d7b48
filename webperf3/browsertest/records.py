"""The record of browser tests: ``<log-dir>/browser-tests.json``.

A browser test is a measurement, kept as durably as iperf3's own logs and
never in the survey book (which holds what people add). One JSON object per
line, appended by the station alone:

* **written** with one ``write(2)`` on a descriptor opened ``O_APPEND`` and
  then ``fsync``: a finished test is on disk before the browser is told so.
  If the file does not end with a newline (a write cut by a crash or a full
  disk), the next line starts with one, so the cut bytes stay a line of
  their own;
* **read** as the iperf3 logs are (:class:`RecordReader`, held by the
  results store): only what was appended since the last read; a line that is
  not a whole record (a torn last line) is skipped with a warning, never
  taken for a test; a last line still without its newline is held back until
  it has one. A file truncated or replaced is read again from the start.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from ..store.record import BrowserFigures, Result

log = logging.getLogger("webperf3.browsertest.records")

RECORD_NAME = "browser-tests.json"
#: The format of a line: a reader skips a line of a version it does not know.
RECORD_VERSION = 1
#: A line longer than this is not one of ours (ours are ~600 bytes).
MAX_LINE_BYTES = 64 * 1024


def record_path(log_dir: Path) -> Path:
    return Path(log_dir) / RECORD_NAME


class Latency(msgspec.Struct, frozen=True, kw_only=True):
    idle_ms: float | None = None
    idle_p90_ms: float | None = None
    download_ms: float | None = None
    download_p90_ms: float | None = None
    upload_ms: float | None = None
    upload_p90_ms: float | None = None


class BrowserRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One line of the record file, as written."""

    v: int = RECORD_VERSION
    id: str  # letters and digits: with the port, the test's id ("<port>-<id>")
    port: int  # the websocket port the test ran on
    time: float  # start, seconds since the epoch
    duration: float  # seconds from start to end, both directions and latency
    client: str | None = None
    agent: str | None = None
    streams: int | None = None
    download_bps: float | None = None  # bytes the browser received, per second
    download_bytes: int | None = None
    download_seconds: float | None = None
    upload_bps: float | None = None  # bytes the station received, per second
    upload_bytes: int | None = None
    upload_seconds: float | None = None
    #: What the station sent and received in all, warm-ups included (the
    #: figures above count only the measured seconds).
    download_sent_bytes: int | None = None
    upload_received_bytes: int | None = None
    latency: Latency = Latency()
    error: str | None = None


_decoder = msgspec.json.Decoder(BrowserRecord)
_encoder = msgspec.json.Encoder()


def to_result(record: BrowserRecord, offset: int = 0, share: Any = None) -> Result:
    """A record line as the store keeps every test."""
    share = share or (lambda text: text)
    lat = record.latency
    figures = BrowserFigures(
        latency_idle_ms=lat.idle_ms, latency_idle_p90_ms=lat.idle_p90_ms,
        latency_download_ms=lat.download_ms, latency_download_p90_ms=lat.download_p90_ms,
        latency_upload_ms=lat.upload_ms, latency_upload_p90_ms=lat.upload_p90_ms,
        agent=share(record.agent),
    )
    ok = record.error is None
    return Result(
        port=record.port,
        time=record.time,
        client=share(record.client),
        protocol="WebSocket",
        direction="bidirectional" if ok else None,
        streams=record.streams,
        duration=record.duration,
        upload_bps=record.upload_bps if ok else None,
        download_bps=record.download_bps if ok else None,
        download_measured_by="client" if ok and record.download_bps is not None else None,
        error=share(record.error),
        cookie=record.id,
        offset=offset,
        method="browser",
        browser=figures,
    )


def append_record(log_dir: Path, record: BrowserRecord) -> int:
    """Append one record durably; its byte offset in the file. Raises OSError
    (a full disk, a read-only mount): then the test is not recorded, and the
    file still holds every earlier test whole."""
    line = _encoder.encode(record) + b"\n"
    fd = os.open(record_path(log_dir), os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line  # after a torn line: keep it a line of its own
            size += 1
        written = os.write(fd, line)
        if written != len(line):
            raise OSError(f"only {written} of {len(line)} bytes written")
        os.fsync(fd)
    finally:
        os.close(fd)
    return size


@dataclass
class ReadRecords:
    results: list[Result] = field(default_factory=list)
    reset: bool = False  # the file was truncated or replaced: forget what it gave before
    skipped: int = 0


class RecordReader:
    """Reads what was appended to the record file since the last read."""

    def __init__(self, log_dir: Path, share: Any = None) -> None:
        self.path = record_path(log_dir)
        self._share = share
        self._offset = 0  # where the next read starts (after whole lines)
        self._ident: tuple[int, int] | None = None
        # The bytes just before _offset: a file replaced by one as long (the
        # same inode number, reused) is told by them.
        self._fingerprint = b""
        self.skipped = 0

    def read(self) -> ReadRecords:
        out = ReadRecords()
        try:
            f = open(self.path, "rb")
        except FileNotFoundError:
            if self._ident is not None:  # removed: its tests go
                self._ident, self._offset, out.reset = None, 0, True
            return out
        with f:
            st = os.fstat(f.fileno())
            ident = (st.st_dev, st.st_ino)
            if self._ident is not None and (ident != self._ident or st.st_size < self._offset or not self._same(f)):
                self._offset, self._fingerprint, out.reset = 0, b"", True
            self._ident = ident
            if st.st_size <= self._offset:
                return out
            f.seek(self._offset)
            data = f.read(st.st_size - self._offset)
        end = data.rfind(b"\n") + 1  # a last line without its newline waits
        pos = 0
        while pos < end:
            nl = data.index(b"\n", pos)
            line = data[pos:nl]
            if line.strip():
                self._parse(line, self._offset + pos, out)
            pos = nl + 1
        self._offset += end
        if end:
            self._fingerprint = (self._fingerprint + data[:end])[-4096:]
        self.skipped += out.skipped
        return out

    def _same(self, f: Any) -> bool:
        size = len(self._fingerprint)
        if not size:
            return True
        f.seek(self._offset - size)
        return f.read(size) == self._fingerprint

    def _parse(self, line: bytes, offset: int, out: ReadRecords) -> None:
        try:
            if len(line) > MAX_LINE_BYTES:
                raise msgspec.DecodeError(f"a line of {len(line)} bytes")
            record = _decoder.decode(line)
            if record.v != RECORD_VERSION:
                raise msgspec.DecodeError(f"format version {record.v}")
        except msgspec.DecodeError as exc:
            out.skipped += 1
            log.warning("%s: skipped the line at byte %d, not a whole browser test (%s)", self.path, offset, str(exc)[:200])
            return
        out.results.append(to_result(record, offset, self._share))
