"""An upload stream counted without reading it as messages: the framing of
real clients (the websockets library's own frames, masked as a browser's),
cut at any place, counts exactly their data bytes; what a browser never
sends is refused."""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.frames import Close, Frame, Opcode

from webperf3.browsertest.upcount import CountingProtocol, FrameCounter, FramingError, low_mark

DATA = (Opcode.BINARY, Opcode.TEXT, Opcode.CONT)


def masked(opcode: Opcode, payload: bytes, fin: bool = True) -> bytes:
    return Frame(opcode, payload, fin=fin).serialize(mask=True)


frames = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(DATA), st.binary(max_size=70_000)),
        st.tuples(st.sampled_from((Opcode.PING, Opcode.PONG)), st.binary(max_size=125)),
    ),
    max_size=12,
)


@settings(max_examples=150, deadline=None)
@given(frames=frames, cuts=st.lists(st.integers(min_value=0, max_value=1 << 20), max_size=20))
def test_data_bytes_are_counted_exactly_however_the_stream_is_cut(frames, cuts) -> None:
    stream = b"".join(masked(op, data) for op, data in frames)
    want = sum(len(data) for op, data in frames if op in DATA)
    counter = FrameCounter()
    got, at = 0, 0
    for cut in sorted({c % (len(stream) + 1) for c in cuts}) + [len(stream)]:
        got += counter.feed(memoryview(stream)[at:cut])
        at = cut
    assert got == want and not counter.closed


def test_one_byte_at_a_time_and_every_length_form() -> None:
    # 7-bit, 16-bit and 64-bit lengths
    stream = masked(Opcode.BINARY, b"x" * 125) + masked(Opcode.BINARY, b"y" * 65_535) + masked(Opcode.BINARY, b"z" * 65_536)
    counter = FrameCounter()
    assert sum(counter.feed(stream[i : i + 1]) for i in range(len(stream))) == 125 + 65_535 + 65_536


def test_nothing_after_a_close_frame_is_counted() -> None:
    stream = masked(Opcode.BINARY, b"a" * 10) + Frame(Opcode.CLOSE, Close(1000, "bye").serialize()).serialize(mask=True) + masked(Opcode.BINARY, b"b" * 99)
    counter = FrameCounter()
    assert counter.feed(stream) == 10 and counter.closed


@pytest.mark.parametrize(
    ("stream", "why"),
    [
        (Frame(Opcode.BINARY, b"abc").serialize(mask=False), "unmasked"),
        (bytes([0x82 | 0x40, 0x80 | 3]) + b"\0" * 7, "reserved bits"),
        (bytes([0x83, 0x80 | 3]) + b"\0" * 7, "unknown opcode"),
        (bytes([0x89, 0x80 | 126, 0, 200]) + b"\0" * 204, "control frame over 125"),
        (bytes([0x82, 0x80 | 127]) + b"\x80" + b"\0" * 7 + b"\0" * 4, "over 2**63"),
    ],
)
def test_what_a_browser_never_sends_is_refused(stream: bytes, why: str) -> None:
    with pytest.raises(FramingError, match=re.escape(why)):
        FrameCounter().feed(stream)


def test_the_station_is_woken_every_few_milliseconds_of_a_stream_s_rate() -> None:
    assert low_mark(0) == 1  # a stalled or new stream: every byte wakes it
    assert low_mark(12.5e6) == 24_576  # 100 Mbit/s: 2 ms, in 4 KiB steps
    assert low_mark(1.25e6) == 1  # 10 Mbit/s: under 4 KiB in 2 ms
    assert low_mark(1.25e9) == 192 * 1024  # 10 Gbit/s: at most what one read takes


def test_bytes_below_the_low_mark_are_still_in_the_count() -> None:
    """A fast stream that slows at once (a phone walking away): what it sent
    last may wait in the kernel under the low mark; the station's figure
    adds it (unread), so the stream is not counted short."""
    fast = [masked(Opcode.BINARY, bytes(65_536))] * 300
    last = masked(Opcode.BINARY, bytes(1000))

    async def scenario() -> tuple[int, int, int]:
        counted = 0

        def add(n: int) -> None:
            nonlocal counted
            counted += n

        listener = socket.create_server(("127.0.0.1", 0))
        client = socket.create_connection(listener.getsockname())
        accepted, _ = listener.accept()
        listener.close()
        loop = asyncio.get_running_loop()
        transport, previous = await loop.connect_accepted_socket(asyncio.Protocol, accepted)
        counting = CountingProtocol.take_over(transport, add)
        for at in range(0, len(fast), 30):  # 20 MB over half a second: the rate seen
            await asyncio.to_thread(client.sendall, b"".join(fast[at : at + 30]))
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # all read; the low mark is up
        await asyncio.to_thread(client.sendall, last)
        await asyncio.sleep(0.3)
        waiting, read, mark = counting.unread(), counted, counting.low_mark
        client.close()
        await asyncio.wait_for(counting.done, 5)
        return read, waiting, mark

    # A thread of its own: in a whole run, Playwright's sync API keeps a loop
    # running in this one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        counted, waiting, mark = pool.submit(asyncio.run, scenario()).result(timeout=30)
    total = 300 * 65_536 + 1000
    assert mark > len(last)  # the last frame is under the mark: not read yet
    assert counted < total and counted + waiting >= total
    assert counted + waiting <= total + 14 * 301
