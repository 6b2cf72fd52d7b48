"""A download stream's frames, written straight to the connection.

Sent through the websockets library, each 1 MiB message is copied three
times on its way to the socket (the frame built in a ``BytesIO``, its value
taken, then the transport's buffer): a third of the station's CPU per GB of
a browser test's download. Here each frame is its 10-byte header and a
slice of the station's one random buffer, written to the transport as they
are (one copy on Python 3.11, into the transport's buffer; none from 3.12).

:class:`SendingProtocol` takes the connection's transport over from the
library once the handshake is done (``transport.set_protocol``, a public
asyncio API): it is told when the transport's buffer is full and empties,
and hands the end of the connection back to the library's protocol, so
that its handler returns. Anything the page sends on a download stream (its
close frame) ends the stream: the page has stopped counting.
"""

from __future__ import annotations

import asyncio
import struct

#: The transport's buffer a stream may fill before it waits: two messages,
#: so the kernel's send buffer is never left empty while Python runs.
WRITE_HIGH_BYTES = 2 << 20


def binary_header(size: int) -> bytes:
    """The header of one unmasked, final binary frame of ``size`` bytes
    (RFC 6455 section 5.2: a server's frames are not masked)."""
    if size < 126:
        return struct.pack("!BB", 0x82, size)
    if size < 1 << 16:
        return struct.pack("!BBH", 0x82, 126, size)
    return struct.pack("!BBQ", 0x82, 127, size)


class SendingProtocol(asyncio.Protocol):
    """A connection's writing, taken over: :meth:`send` writes one binary
    frame once the transport has room; False once the stream has ended."""

    def __init__(self, transport: asyncio.Transport, previous: asyncio.BaseProtocol) -> None:
        self.transport = transport
        self.previous = previous  # the websockets connection, told of the end
        self._room = asyncio.Event()
        self._room.set()
        self.ended = False

    @classmethod
    def take_over(cls, transport: asyncio.Transport) -> SendingProtocol:
        sending = cls(transport, transport.get_protocol())
        transport.set_protocol(sending)
        transport.set_write_buffer_limits(high=WRITE_HIGH_BYTES)
        return sending

    async def send(self, payload: memoryview) -> bool:
        await self._room.wait()
        if self.ended:
            return False
        self.transport.write(binary_header(len(payload)))
        self.transport.write(payload)
        return True

    def pause_writing(self) -> None:
        self._room.clear()

    def resume_writing(self) -> None:
        self._room.set()

    def data_received(self, data: bytes) -> None:
        self.cut()  # the page's close frame: it counts no more

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.ended = True
        self._room.set()
        self.previous.connection_lost(exc)

    def cut(self) -> None:
        self.ended = True
        self._room.set()
        self.transport.abort()
