"""An upload stream's bytes, counted as they arrive, never read as messages.

The station needs only how many bytes a browser's upload stream delivered,
not what they say. Read as websocket messages (the websockets library),
every byte is copied four times and unmasked: 0.68 s of the station's CPU
per GB on the build machine, three times iperf3's server, which only
``recv``s into a buffer. Here the socket is read into one buffer allocated
once (:class:`asyncio.BufferedProtocol`: ``recv_into``) and only the frame
headers are looked at; the payloads are counted and dropped, masked.

* :class:`FrameCounter` (pure): the RFC 6455 framing of a client's stream,
  fed any slices of it, counting the payload bytes of its data frames.
  What a browser never sends (an unmasked frame, reserved bits, an unknown
  opcode, a control frame over 125 bytes) is an error: the stream is cut.
* :class:`CountingProtocol`: takes a connection's transport over from the
  websockets library (``transport.set_protocol``, a public asyncio API)
  once the handshake is done and before the page sends a byte (the page
  waits for the station's first message), and hands the end of the
  connection back to the library's protocol, so that its handler returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import socket
import struct
import termios
import time
from collections.abc import Callable

#: What one ``recv_into`` may take: asyncio reads 256 KiB at a time too.
BUFFER_BYTES = 256 * 1024
#: The kernel wakes the station for a stream once this much of the stream's
#: time has arrived (SO_RCVLOWAT, set from the stream's rate): Chromium's
#: 64 KiB messages otherwise woke it for 82 KB a read on loopback, each
#: wakeup costing more than the bytes. Bytes not yet read lag the count by
#: at most this while the rate holds; the measure's ends add what is
#: waiting in the kernel (:meth:`CountingProtocol.unread`), so a stream
#: that slows at once (a phone walking away) is not counted short.
WAKE_SECONDS = 0.002
WAKE_MAX_BYTES = 192 * 1024  # below the buffer: one read takes it all
RATE_PERIOD = 0.1  # how often the rate, and so the low mark, is looked at

_DATA_OPCODES = frozenset((0x0, 0x1, 0x2))  # continuation, text, binary
_CONTROL_OPCODES = frozenset((0x8, 0x9, 0xA))  # close, ping, pong
_CLOSE = 0x8


class FramingError(ValueError):
    """The stream is not a browser's websocket framing."""


class FrameCounter:
    """Counts the payload bytes of a client's data frames, fed in slices.

    :meth:`feed` returns the data bytes in the slice; :attr:`closed` turns
    true at a close frame (nothing after it is counted)."""

    __slots__ = ("_header", "_need", "_left", "_counting", "closed")

    def __init__(self) -> None:
        self._header = bytearray()  # a header split across slices
        self._need = 2  # header bytes wanted, once the first two are known
        self._left = 0  # payload bytes of the current frame still to come
        self._counting = False  # the current frame is data
        self.closed = False

    def feed(self, data: memoryview | bytes) -> int:
        counted = 0
        at, end = 0, len(data)
        while at < end and not self.closed:
            if self._left:
                take = min(self._left, end - at)
                self._left -= take
                at += take
                if self._counting:
                    counted += take
                continue
            # A header: 2 bytes, then the extended length, then the mask key.
            take = min(self._need - len(self._header), end - at)
            self._header += data[at : at + take]
            at += take
            if len(self._header) == 2:
                if not self._header[1] & 0x80:
                    raise FramingError("an unmasked frame from a client")
                self._need = 2 + {126: 2, 127: 8}.get(self._header[1] & 0x7F, 0) + 4
            if len(self._header) < self._need:
                continue
            self._start_frame()
        return counted

    def _start_frame(self) -> None:
        first, second = self._header[0], self._header[1]
        opcode = first & 0x0F
        if first & 0x70:
            raise FramingError("reserved bits set (no extension was agreed)")
        size = second & 0x7F
        if size == 126:
            size = int.from_bytes(self._header[2:4], "big")
        elif size == 127:
            size = int.from_bytes(self._header[2:10], "big")
            if size >> 63:
                raise FramingError("a frame length over 2**63")
        if opcode in _CONTROL_OPCODES:
            if size > 125 or not first & 0x80:
                raise FramingError("a control frame over 125 bytes or fragmented")
            self.closed = opcode == _CLOSE
        elif opcode not in _DATA_OPCODES:
            raise FramingError(f"unknown opcode {opcode:#x}")
        self._counting = opcode in _DATA_OPCODES
        self._left = size
        self._header.clear()
        self._need = 2


def low_mark(rate: float) -> int:
    """Bytes a stream gathers before the kernel wakes the station: its
    :data:`WAKE_SECONDS` at ``rate`` bytes a second, rounded down to 4 KiB
    so that small changes of rate cost no system call."""
    return max(1, min(WAKE_MAX_BYTES, int(rate * WAKE_SECONDS) // 4096 * 4096))


class CountingProtocol(asyncio.BufferedProtocol):
    """A connection's reading side, taken over: ``on_bytes(n)`` for each
    slice's data bytes. At a close frame, a framing error or ``cut()``, the
    transport is aborted; when it is lost, the library's protocol is told
    (``connection_lost``), and :attr:`done` resolves."""

    def __init__(self, transport: asyncio.Transport, previous: asyncio.BaseProtocol, on_bytes: Callable[[int], None]) -> None:
        self.transport = transport
        self.previous = previous  # the websockets connection: it still writes
        self.on_bytes = on_bytes
        self.counter = FrameCounter()
        self.error: str | None = None
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._buffer = memoryview(bytearray(BUFFER_BYTES))
        self._socket = transport.get_extra_info("socket")
        self._since = time.monotonic()
        self._since_bytes = 0
        self.low_mark = 1

    @classmethod
    def take_over(cls, transport: asyncio.Transport, on_bytes: Callable[[int], None]) -> CountingProtocol:
        counting = cls(transport, transport.get_protocol(), on_bytes)
        transport.set_protocol(counting)
        return counting

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._buffer

    def buffer_updated(self, nbytes: int) -> None:
        try:
            counted = self.counter.feed(self._buffer[:nbytes])
        except FramingError as exc:
            self.error = str(exc)
            self.transport.abort()
            return
        if counted:
            self.on_bytes(counted)
        self._since_bytes += nbytes
        now = time.monotonic()
        if now - self._since >= RATE_PERIOD:
            self._wake_at(low_mark(self._since_bytes / (now - self._since)))
            self._since, self._since_bytes = now, 0
        if self.counter.closed:
            self.transport.abort()  # the page stopped; nothing is owed to it

    def unread(self) -> int:
        """Bytes arrived in the kernel's receive queue and not yet read
        (headers included: 14 bytes in 64 KiB)."""
        if self._socket is None or self.done.done():
            return 0
        try:
            return struct.unpack("i", fcntl.ioctl(self._socket.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]
        except OSError:
            return 0

    def _wake_at(self, mark: int) -> None:
        if mark != self.low_mark and self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, mark)
                self.low_mark = mark

    def eof_received(self) -> bool:
        return False  # the transport closes itself

    # Writing is still the library's (the station's first message, its
    # keepalive pings): its flow control must keep working.
    def pause_writing(self) -> None:
        self.previous.pause_writing()

    def resume_writing(self) -> None:
        self.previous.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self.previous.connection_lost(exc)
        if not self.done.done():
            self.done.set_result(None)

    def cut(self) -> None:
        self.transport.abort()
