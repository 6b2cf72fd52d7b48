"""One iperf3 server JSON object (bytes) → one :class:`~webperf3.result.Result`.

Pure functions only. The msgspec structs below name just the fields webperf3
uses: msgspec skips everything else (notably the bulky ``intervals``) without
building Python objects for it, which is what makes reading fast.

iperf3 writes the *server's* view of a test:

* upload (client → server) is what the server received: ``end.sum_received``;
* download (server → client) is what it sent: ``end.sum_sent``, or for
  ``--bidir`` ``end.sum_sent_bidir_reverse`` (3.12+). iperf3 ≤ 3.11 writes no
  ``*_bidir_reverse`` sums; there the per-stream ``sender``/``receiver``
  entries, flagged with which side the server played, carry the numbers.
"""

from __future__ import annotations

import functools

import msgspec

from ..result import Direction, Result


class _Side(msgspec.Struct):
    bytes: float = 0
    bits_per_second: float = 0
    seconds: float | None = None
    sender: bool | int | None = None
    retransmits: int | None = None
    jitter_ms: float | None = None
    lost_percent: float | None = None


class _Stream(msgspec.Struct):
    sender: _Side | None = None
    receiver: _Side | None = None


class _End(msgspec.Struct):
    streams: list[_Stream] = []
    sum_sent: _Side | None = None
    sum_received: _Side | None = None
    sum_sent_bidir_reverse: _Side | None = None
    sum_received_bidir_reverse: _Side | None = None


class _Timestamp(msgspec.Struct):
    timesecs: float | None = None


class _Connected(msgspec.Struct):
    remote_host: str | None = None


class _Accepted(msgspec.Struct):
    host: str | None = None


class _TestStart(msgspec.Struct):
    protocol: str | None = None
    num_streams: int | None = None
    duration: float | None = None
    reverse: int | bool = 0
    bidir: int | bool = 0  # iperf3 3.13+


class _Start(msgspec.Struct):
    connected: list[_Connected] = []
    version: str | None = None
    timestamp: _Timestamp | None = None
    accepted_connection: _Accepted | None = None
    test_start: _TestStart | None = None


class _Entry(msgspec.Struct):
    start: _Start
    end: _End | None = None
    error: str | None = None
    extra_data: str | int | float | bool | None = None


_decoder = msgspec.json.Decoder(_Entry)

# iperf3 (cJSON) writes the top-level keys at one tab of indentation, and a
# newline cannot occur inside a JSON string: these byte strings can only be
# the top-level "intervals" and "end" keys. About half of a log is intervals,
# which webperf3 never reads; cutting them out before decoding halves the work.
_INTERVALS = b'\n\t"intervals":'
_END = b'\n\t"end":'

#: What a caller may catch from :func:`parse_entry`: the bytes were not an
#: iperf3 object (malformed JSON, another schema, nesting too deep).
EntryError = (msgspec.DecodeError, msgspec.ValidationError, RecursionError, ValueError)


def parse_entry(raw: bytes | memoryview, port: int, offset: int = 0) -> Result | None:
    """Decode one complete JSON object.

    Returns ``None`` for an object that is iperf3's but not a test (a server
    event with no timestamp: the record appended when the server is stopped,
    "unable to receive parameters" after a port scan). Raises one of
    :data:`EntryError` when the bytes are not an iperf3 object at all.
    """
    raw = bytes(raw)
    return parse_entry_in(raw, 0, len(raw), port, offset)


def parse_entry_in(buf: bytes, start: int, stop: int, port: int, offset: int) -> Result | None:
    """:func:`parse_entry` of ``buf[start:stop]``, skipping the intervals."""
    cut = buf.find(_INTERVALS, start, stop)
    if cut >= 0:
        resume = buf.find(_END, cut, stop)
        if resume >= 0:
            view = memoryview(buf)
            try:
                return interpret(_decode(b"".join((view[start:cut], view[resume:stop]))), port, offset)
            except EntryError:
                pass  # not the layout expected: decode the whole object
    return interpret(_decode(memoryview(buf)[start:stop]), port, offset)


def _decode(raw: bytes | memoryview) -> _Entry:
    try:
        return _decoder.decode(raw)
    except UnicodeDecodeError:
        # A client name is bytes from the network and cJSON copies it as is:
        # keep the test, with the bad bytes replaced, rather than drop it.
        return _decoder.decode(bytes(raw).decode("utf-8", "replace").encode())


def interpret(entry: _Entry, port: int, offset: int) -> Result | None:
    start = entry.start
    if start.timestamp is None or start.timestamp.timesecs is None:
        return None
    test = start.test_start or _TestStart()
    end = entry.end or _End()
    direction = _direction(test, end)
    if entry.error is not None:
        # A client stopped with Ctrl-C leaves a filled `end` with a bogus
        # duration: its rates mean nothing, so a failure carries none.
        upload = download = retransmits = jitter = loss = None
        duration = test.duration
    else:
        upload, download, retransmits = _rates(direction, end)
        jitter = loss = None
        if test.protocol == "UDP" and upload is not None and end.sum_received is not None:
            jitter, loss = end.sum_received.jitter_ms, end.sum_received.lost_percent
        duration = _duration(end) or test.duration
    return Result(
        port=port,
        time=float(start.timestamp.timesecs),
        name=None if entry.extra_data is None else str(entry.extra_data),
        client=_client(start),
        protocol=test.protocol,
        direction=direction,
        streams=test.num_streams,
        duration=duration,
        upload_bps=upload,
        download_bps=download,
        retransmits=retransmits,
        jitter_ms=jitter,
        loss_percent=loss,
        error=entry.error,
        version=_version(start.version),
        offset=offset,
    )


def _direction(test: _TestStart, end: _End) -> Direction:
    if test.bidir or end.sum_sent_bidir_reverse is not None or _mixed_streams(end):
        return "bidirectional"
    return "download" if test.reverse else "upload"


def _mixed_streams(end: _End) -> bool:
    """iperf3 ≤ 3.12 does not say --bidir in test_start; its streams do."""
    roles = {bool(s.sender.sender) for s in end.streams if s.sender is not None}
    return len(roles) == 2


def _rates(direction: Direction, end: _End) -> tuple[float | None, float | None, int | None]:
    """(upload bps, download bps, retransmits of the side the server sent)."""
    if direction == "bidirectional":
        if end.sum_sent_bidir_reverse is not None:
            sent = end.sum_sent_bidir_reverse
            return _bps(end.sum_received), _bps(sent), sent.retransmits
        return _rates_from_streams(end)
    if direction == "download":
        sent = end.sum_sent
        return None, _bps(sent), None if sent is None else sent.retransmits
    return _bps(end.sum_received), None, None


def _rates_from_streams(end: _End) -> tuple[float | None, float | None, int | None]:
    """iperf3 ≤ 3.11 --bidir: add up the streams by the role the server played."""
    upload: float | None = None
    download: float | None = None
    retransmits: int | None = None
    for stream in end.streams:
        if stream.sender is None or stream.receiver is None:
            continue
        if stream.sender.sender:  # the server sent on this stream
            download = (download or 0.0) + stream.sender.bits_per_second
            if stream.sender.retransmits is not None:
                retransmits = (retransmits or 0) + stream.sender.retransmits
        else:
            upload = (upload or 0.0) + stream.receiver.bits_per_second
    return upload, download, retransmits


def _bps(side: _Side | None) -> float | None:
    return None if side is None else float(side.bits_per_second)


def _duration(end: _End) -> float | None:
    seconds = [s.seconds for s in (end.sum_received, end.sum_sent) if s and s.seconds]
    return max(seconds) if seconds else None


def _client(start: _Start) -> str | None:
    for conn in start.connected:
        if conn.remote_host:
            return _plain_ipv4(conn.remote_host)
    if start.accepted_connection and start.accepted_connection.host:
        return _plain_ipv4(start.accepted_connection.host)
    return None


def _plain_ipv4(host: str) -> str:
    # A dual-stack server reports IPv4 clients as ::ffff:a.b.c.d.
    return host.removeprefix("::ffff:")


@functools.lru_cache(maxsize=64)
def _version(text: str | None) -> str | None:
    # Cached: one "3.12" shared by every result rather than 20,000 copies.
    return None if text is None else text.removeprefix("iperf ").strip()
