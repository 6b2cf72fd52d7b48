"""One iperf3 server JSON object (bytes) → one :class:`~webperf3.store.record.Result`.

Pure functions only. The msgspec structs below name just the fields webperf3
uses: msgspec skips everything else (notably the bulky ``intervals``) without
building Python objects for it, which is what makes reading fast.

iperf3 writes the *server's* view of a test (docs/iperf3-notes.md has what
each version writes, 3.9 to 3.21):

* upload (client → server) is what the server received: ``end.sum_received``;
* download (server → client) is what it sent: ``end.sum_sent``, or for
  ``--bidir`` ``end.sum_sent_bidir_reverse`` (3.11+). The receiver's figures
  of that direction are zeros: the server writes its log before the client
  sends its results. Where they are not (esnet/iperf PR #1908, unreleased),
  they are the client's and are used as such.
* iperf3 before 3.11 writes no ``*_bidir_reverse`` sums (it writes
  ``sum_sent`` and ``sum_received`` twice) and no UDP ``sum_received`` at
  all: there the per-stream entries, flagged with the side the server
  played, carry the numbers.
* in a TCP download the server's sending streams carry its round-trip
  times on Linux (``max_rtt``, ``min_rtt``, ``mean_rtt``, µs): the station's
  latency under load (:class:`~webperf3.store.record.StationRtt`).

A little over 400 lines: every version's layout of the same figures is read
here, side by side, so each rule is written once.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

import msgspec

from ...store.record import Direction, MeasuredBy, Result, StationRtt
from .errors import interrupted, plain_error


class _Side(msgspec.Struct):
    bytes: float = 0
    bits_per_second: float = 0
    seconds: float | None = None
    sender: bool | int | None = None  # whether the *server* sent this side's data
    retransmits: int | None = None
    jitter_ms: float | None = None
    lost_packets: int | None = None
    packets: int | None = None
    lost_percent: float | None = None
    # TCP, the sending side on Linux: its round-trip times, in microseconds.
    max_rtt: float | None = None
    min_rtt: float | None = None
    mean_rtt: float | None = None


class _Stream(msgspec.Struct):
    sender: _Side | None = None  # TCP
    receiver: _Side | None = None  # TCP
    udp: _Side | None = None  # UDP: one entry per stream, both sides in one


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
    blksize: int | None = None
    duration: float | None = None
    omit: float | None = None
    reverse: int | bool = 0
    bidir: int | bool = 0  # iperf3 3.13+


class _Start(msgspec.Struct):
    connected: list[_Connected] = []
    version: str | None = None
    timestamp: _Timestamp | None = None
    accepted_connection: _Accepted | None = None
    cookie: str | None = None
    test_start: _TestStart | None = None


class _Entry(msgspec.Struct):
    start: _Start
    end: _End | None = None
    error: str | None = None
    extra_data: str | int | float | bool | None = None


#: Decodes one entry into the structs above, nothing more: public so that
#: benchmarks/decoders_bench.py can time decoding apart from building the Result.
entry_decoder = msgspec.json.Decoder(_Entry)

# iperf3 (cJSON) writes the top-level keys at one tab of indentation, and a
# newline cannot occur inside a JSON string: these byte strings can only be
# the top-level "intervals" and "end" keys. About half of a log is intervals,
# which webperf3 never reads; cutting them out before decoding halves the work.
_INTERVALS = b'\n\t"intervals":'
_END = b'\n\t"end":'
# The last "end" key inside the intervals is the end of the last interval's
# sum: how long a test that failed ran, as far as the log knows.
_END_KEY = b'"end":'
_NUMBER = re.compile(rb"\s*(-?[0-9][0-9.eE+-]*)")
#: How every iperf3 object opens, whatever its indentation (as logs._START).
_OBJECT_START = re.compile(rb'\{\s*"start"\s*:\s*\{')
#: A test's start time must be a time the clock and the exports can show:
#: from 1970 to the year 9999 (a damaged log may hold 1e300, inf or NaN).
_LATEST_TIME = 253402300799.0

#: What a caller may catch from :func:`parse_entry`: the bytes were not an
#: iperf3 object (malformed JSON, another schema, nesting too deep).
EntryError = (msgspec.DecodeError, msgspec.ValidationError, RecursionError, ValueError)


#: What to do with each text of a Result (its name, client, protocol, error):
#: keep it, or hand back an equal one already kept (the store's SharedText).
Share = Callable[[str | None], str | None]


def _as_is(text: str | None) -> str | None:
    return text


def parse_entry(raw: bytes | memoryview, port: int, offset: int = 0) -> Result | None:
    """Decode one complete JSON object.

    Returns ``None`` for an object that is iperf3's but not a test (a server
    event with no timestamp: the record appended when the server is stopped,
    "unable to receive parameters" after a port scan). Raises one of
    :data:`EntryError` when the bytes are not an iperf3 object at all.
    """
    raw = bytes(raw)
    return parse_entry_in(raw, 0, len(raw), port, offset)


def parse_entry_in(buf: bytes, start: int, stop: int, port: int, offset: int, share: Share = _as_is) -> Result | None:
    """:func:`parse_entry` of ``buf[start:stop]``, skipping the intervals;
    each text of the Result passed through ``share``."""
    cut = buf.find(_INTERVALS, start, stop)
    if cut >= 0:
        resume = buf.find(_END, cut, stop)
        # Another object's opening between them: an object cut short in its
        # intervals with the next glued on. Its "end" is the next one's; the
        # whole decode below fails and the reader saves the next object.
        if resume >= 0 and _OBJECT_START.search(buf, cut, resume) is None:
            view = memoryview(buf)
            try:
                entry = _decode(b"".join((view[start:cut], view[resume:stop])))
            except EntryError:
                pass  # not the layout expected: decode the whole object
            else:
                # Only a failure needs the intervals: cheaply, and only then.
                ran = _last_interval_end(buf, cut, resume) if entry.error is not None else None
                return interpret(entry, port, offset, ran, share)
    return interpret(_decode(memoryview(buf)[start:stop]), port, offset, share=share)


#: What msgspec refuses in a string that a damaged or hand-edited log may
#: hold: a raw control byte (cJSON escapes them, so only damage writes one)
#: and a surrogate escape with no partner (``"\\ud800"``: cJSON copies a
#: name's bytes, and other writers escape them so). Escaped backslashes are
#: matched first so that ``"\\\\ud800"`` (a backslash, then text) is left alone.
_UNDECODABLE = re.compile(
    rb"\\\\|\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|\\u[dD][89a-fA-F][0-9a-fA-F]{2}"
    rb"|[\x00-\x08\x0b\x0c\x0e-\x1f]"
)
_REPLACEMENT = b"\\ufffd"


def _mend(match: re.Match[bytes]) -> bytes:
    text = match.group(0)
    # An escaped backslash and a surrogate pair are fine as they are.
    return text if text == b"\\\\" or len(text) == 12 else _REPLACEMENT


def _decode(raw: bytes | memoryview) -> _Entry:
    try:
        return entry_decoder.decode(raw)
    except (UnicodeDecodeError, msgspec.DecodeError):
        # msgspec before 0.23 raises UnicodeDecodeError for bytes that are not
        # UTF-8, 0.23 a DecodeError ("Invalid UTF-8 encoded string").
        mended = _mended(bytes(raw))
        if mended is None:
            raise
        return entry_decoder.decode(mended)


def _mended(data: bytes) -> bytes | None:
    """``data`` with what msgspec refuses in a string replaced by U+FFFD, or
    None when nothing needed replacing (the entry is damaged some other way).

    A client name is bytes from the network and cJSON copies them as they
    are: bytes that are not UTF-8, a NUL or a lone surrogate in one string
    must not drop the test."""
    # Valid UTF-8 comes back byte for byte; anything else becomes U+FFFD.
    text = _UNDECODABLE.sub(_mend, data.decode("utf-8", "replace").encode())
    return None if text == data else text


def _last_interval_end(buf: bytes, cut: int, resume: int) -> float | None:
    """The ``end`` of the last interval in ``buf[cut:resume]`` (the intervals)."""
    key = buf.rfind(_END_KEY, cut, resume)
    if key < 0:
        return None  # no interval: the test never got going
    number = _NUMBER.match(buf, key + len(_END_KEY), resume)
    try:
        return float(number.group(1)) if number else None
    except ValueError:
        return None


#: What a test measured, each figure from the side that measured it: (upload,
#: download, download measured by, retransmits, jitter, loss, download jitter,
#: download loss, seconds). A plain tuple: a NamedTuple costs a Python call
#: per test, and this runs for every test of every log.
_Figures = tuple[
    float | None, float | None, MeasuredBy | None, int | None,
    float | None, float | None, float | None, float | None, float | None,
]
_NO_TEST = _TestStart()
_NO_END = _End()


def interpret(entry: _Entry, port: int, offset: int, ran: float | None = None, share: Share = _as_is) -> Result | None:
    """The Result of a decoded entry; ``ran``: where its intervals end, if
    known; ``share``: what to do with each text (keep one copy of each)."""
    start = entry.start
    if start.timestamp is None or start.timestamp.timesecs is None:
        return None
    if not 0 <= start.timestamp.timesecs <= _LATEST_TIME:  # NaN fails this too
        raise ValueError(f"timestamp {start.timestamp.timesecs!r} out of range")
    test = start.test_start or _NO_TEST
    end = entry.end or _NO_END
    direction = _direction(test, start, end)
    if entry.error is not None:
        # A client stopped with Ctrl-C leaves a filled `end` whose rates mean
        # nothing (its last interval's bytes without its time), so a failure
        # carries none; its duration is what the log covers, never the
        # duration asked for.
        upload = download = measured_by = retransmits = jitter = loss = download_jitter = download_loss = None
        duration = _sums_seconds(end, ran)
        cut = interrupted(entry.error, duration, test.duration, test.omit)
        error_plain = plain_error(entry.error, interrupted=cut)
    else:
        cut, error_plain = False, None
        upload, download, measured_by, retransmits, jitter, loss, download_jitter, download_loss, seconds = _figures(test, direction, end)
        duration = seconds or test.duration
    rtt = _station_rtt(end) if entry.error is None and direction != "upload" else None
    return Result(
        port=port,
        time=float(start.timestamp.timesecs),
        name=None if entry.extra_data is None else share(str(entry.extra_data)),
        client=share(_client(start)),
        protocol=share(test.protocol),
        direction=direction,
        streams=test.num_streams,
        duration=duration,
        upload_bps=upload,
        download_bps=download,
        download_measured_by=measured_by,
        retransmits=retransmits,
        jitter_ms=jitter,
        loss_percent=loss,
        download_jitter_ms=download_jitter,
        download_loss_percent=download_loss,
        error=share(entry.error),
        interrupted=cut,
        error_plain=error_plain,
        version=_version(start.version),
        cookie=start.cookie,
        offset=offset,
        station_rtt=rtt,
    )


def _station_rtt(end: _End) -> StationRtt | None:
    """The station's round trips over the streams it sent on (TCP, Linux):
    the least minimum, the mean of the means, the greatest maximum."""
    lows, means, highs = [], [], []
    for stream in end.streams:
        side = stream.sender
        if side is None or not side.sender or stream.udp is not None:
            continue
        if side.min_rtt:
            lows.append(side.min_rtt)
        if side.mean_rtt:
            means.append(side.mean_rtt)
        if side.max_rtt:
            highs.append(side.max_rtt)
    if not (lows or means or highs):
        return None
    return StationRtt(
        min_ms=min(lows) / 1000 if lows else None,
        mean_ms=round(sum(means) / len(means) / 1000, 3) if means else None,
        max_ms=max(highs) / 1000 if highs else None,
    )


def _direction(test: _TestStart, start: _Start, end: _End) -> Direction:
    if test.bidir or end.sum_sent_bidir_reverse is not None:
        return "bidirectional"
    # iperf3 ≤ 3.12 says --bidir nowhere in test_start, and a test that failed
    # has no `end` to tell: but --bidir opens one data connection per stream
    # and direction, and `connected` lists them all.
    if test.num_streams and len(start.connected) > test.num_streams:
        return "bidirectional"
    if len(end.streams) > 1 and _mixed_streams(end):
        return "bidirectional"
    return "download" if test.reverse else "upload"


def _mixed_streams(end: _End) -> bool:
    """Whether the server both sent and received (its per-stream entries say)."""
    roles = set()
    for stream in end.streams:
        side = stream.sender if stream.sender is not None else stream.udp
        if side is not None:
            roles.add(bool(side.sender))
    return len(roles) == 2


def _figures(test: _TestStart, direction: Direction, end: _End) -> _Figures:
    if direction == "upload":
        received, sent, echoed = end.sum_received, None, None
        if received is None:
            return _from_streams(test, end)  # UDP before iperf3 3.11
    elif direction == "download":
        received, sent, echoed = None, end.sum_sent, end.sum_received
        if sent is None:
            return _from_streams(test, end)  # UDP before iperf3 3.11
    else:
        received, sent, echoed = end.sum_received, end.sum_sent_bidir_reverse, end.sum_received_bidir_reverse
        if sent is None or received is None:
            return _from_streams(test, end)  # before iperf3 3.11
    udp = test.protocol == "UDP"
    upload = jitter = loss = None
    if received is not None:
        upload = float(received.bits_per_second)
        if udp:
            jitter, loss = received.jitter_ms, received.lost_percent
    download = retransmits = measured_by = download_jitter = download_loss = None
    if sent is not None:
        retransmits = sent.retransmits
        if echoed is not None and echoed.bytes > 0:
            # The client's own figures, sent back to the server (PR #1908).
            download, measured_by = float(echoed.bits_per_second), "client"
            if udp:
                download_jitter, download_loss = echoed.jitter_ms, echoed.lost_percent
        else:
            download, measured_by = float(sent.bits_per_second), "station"
    return upload, download, measured_by, retransmits, jitter, loss, download_jitter, download_loss, _sums_seconds(end)


def _from_streams(test: _TestStart, end: _End) -> _Figures:
    """Add up the streams by the side the server played (before iperf3 3.11)."""
    upload = sent = echoed = 0.0
    retransmits: int | None = None
    received = sending = echoes = 0
    jitters = 0.0
    lost = packets = 0
    seconds = 0.0
    for stream in end.streams:
        if stream.udp is not None:
            side = stream.udp
            seconds = max(seconds, side.seconds or 0.0)
            if side.sender:
                sending += 1
                sent += side.bits_per_second
            elif side.packets is not None and side.lost_packets is not None and test.blksize and side.seconds:
                # Before 3.11 the receiving stream's bytes are written as 0 (its
                # `bytes` are the bytes *sent*), but every datagram is blksize
                # bytes and iperf3 counts the lost ones: received = (packets -
                # lost) x blksize, equal to the sum of its intervals.
                received += 1
                upload += (side.packets - side.lost_packets) * test.blksize * 8 / side.seconds
                jitters += side.jitter_ms or 0.0
                lost += side.lost_packets
                packets += side.packets
        elif stream.sender is not None and stream.receiver is not None:
            seconds = max(seconds, stream.sender.seconds or 0.0, stream.receiver.seconds or 0.0)
            if stream.sender.sender:  # the server sent on this stream
                sending += 1
                sent += stream.sender.bits_per_second
                if stream.sender.retransmits is not None:
                    retransmits = (retransmits or 0) + stream.sender.retransmits
                if stream.receiver.bytes > 0:
                    echoes += 1
                    echoed += stream.receiver.bits_per_second
            else:
                received += 1
                upload += stream.receiver.bits_per_second
    jitter = loss = None
    if packets:
        # As iperf3 sums them: the mean of the streams' jitter, the total loss.
        jitter, loss = jitters / received, 100.0 * lost / packets
    download = measured_by = None
    if sending:
        download, measured_by = (echoed, "client") if echoes == sending else (sent, "station")
    return (
        upload if received else None, download, measured_by, retransmits if sending else None,
        jitter, loss, None, None, seconds or None,
    )


def _sums_seconds(end: _End, ran: float | None = None) -> float | None:
    """The longest of ``ran`` and the seconds of the `end` sums."""
    longest = ran or None
    for side in (end.sum_received, end.sum_sent):
        if side is not None and side.seconds and (longest is None or side.seconds > longest):
            longest = side.seconds
    return longest


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
