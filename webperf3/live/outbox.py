"""What one websocket client may cost the station: a bounded send queue, a
small socket buffer, and a cap on connections per client, so memory and
descriptors are set by configuration, not by clients.

``websockets.asyncio.server.broadcast()`` writes every message into every
client's buffer whether or not the client reads, and with websockets 17 a
keepalive ``ping()`` waits for that buffer to drain, so a client that stops
reading is never timed out: 20 of them took a station from 37 MB to 5.7 GB.
Here each client instead has an :class:`Outbox`: messages (the same ``bytes``
object for every client, encoded once) wait in a queue that one task drains
with ``send()``, which respects websockets' ``write_limit``. A client whose
queue holds more than ``max_bytes`` or ``max_messages``, or whose oldest
message has waited ``send_timeout`` seconds, is dropped; the page reconnects
by itself and gets a fresh snapshot.

What a client can hold is then: its transport buffer (``write_limit`` plus
one fragment of the message being written), the kernel's send buffer (``SO_SNDBUF``, set
small here instead of growing to megabytes), and its share of the queued
messages, which every queue shares, since all clients get the same ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import socket
import struct
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from ..serving.clients import ConnectionBook, LogLimiter, client_key

#: Bytes of messages waiting for one client before it is dropped.
MAX_QUEUED_BYTES = 1024 * 1024
#: Messages waiting for one client before it is dropped.
MAX_QUEUED_MESSAGES = 256
#: A message not written to the client's socket within this: dropped.
SEND_TIMEOUT_S = 30.0
#: websockets' write buffer (bytes) above which send() waits for the client.
#: Small: the kernel's buffer below it holds more, and a client that does
#: not read holds this much of the station's memory (websockets: 32 KiB).
WRITE_LIMIT = 16 * 1024
#: A message longer than this goes in fragments of this size, each written
#: once the client's buffer is below WRITE_LIMIT: whole, a snapshot of 500 kB
#: (the latest tests' 120 kB names) was copied into the buffer of each of
#: 160 clients that did not read, 59 MB.
FRAGMENT_BYTES = 16 * 1024
#: The kernel's send buffer per websocket. Linux lets it grow to 4 MB per
#: socket by itself; dashboard messages need far less.
SEND_BUFFER_BYTES = 64 * 1024


#: Linux's ioctl for the bytes of a socket's send queue not yet sent (the
#: peer's receive window is closed), as opposed to sent and not yet acknowledged.
SIOCOUTQNSD = 0x894B


def unsent_bytes(sock: Any) -> int:
    """Bytes the kernel holds for ``sock`` that it could not send: the peer
    does not read. A page that reads has none, however slow its network
    (what is in flight was sent); a socket that never reads keeps up to
    SEND_BUFFER_BYTES here before websockets' own buffer sees any. 0 where
    the kernel cannot tell."""
    try:
        return struct.unpack("i", fcntl.ioctl(sock.fileno(), SIOCOUTQNSD, b"\0\0\0\0"))[0]
    except (OSError, AttributeError, ValueError):
        return 0


class Outbox:
    """One client's messages, in order, bounded. Loop-side only."""

    def __init__(
        self,
        connection: ServerConnection,
        *,
        max_bytes: int = MAX_QUEUED_BYTES,
        max_messages: int = MAX_QUEUED_MESSAGES,
        send_timeout: float = SEND_TIMEOUT_S,
    ) -> None:
        self.connection = connection
        self.max_bytes, self.max_messages, self.send_timeout = max_bytes, max_messages, send_timeout
        self._queue: deque[bytes] = deque()
        self._bytes = 0
        self._ready = asyncio.Event()

    @property
    def queued_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._queue)

    def put(self, data: bytes) -> bool:
        """Queue a message; False, queueing nothing, if the client is too far
        behind. A message alone in the queue always fits, however big."""
        if self._queue and (self._bytes + len(data) > self.max_bytes or len(self._queue) >= self.max_messages):
            return False
        self._queue.append(data)
        self._bytes += len(data)
        self._ready.set()
        return True

    async def run(self, drop: Callable[[str], None]) -> None:
        """Send until the connection closes; ``drop(reason)`` on a stalled send."""
        with contextlib.suppress(ConnectionClosed):
            while True:
                await self._ready.wait()
                self._ready.clear()
                while self._queue:
                    data = self._queue[0]
                    try:
                        async with asyncio.timeout(self.send_timeout):
                            await self.connection.send(_fragments(data) if len(data) > FRAGMENT_BYTES else data, text=True)
                    except TimeoutError:
                        drop(f"a message waited {self.send_timeout:g} s to be sent")
                        return
                    self._queue.popleft()
                    self._bytes -= len(data)


def _fragments(data: bytes) -> Iterator[memoryview]:
    """``data`` in FRAGMENT_BYTES pieces, not copied (a text message may be
    cut inside a character: only the whole message must be UTF-8)."""
    view = memoryview(data)
    return (view[i : i + FRAGMENT_BYTES] for i in range(0, len(data), FRAGMENT_BYTES))


class GuardedConnection(ServerConnection):
    """A ServerConnection that reports being made and lost (for per-client
    caps) and keeps a small kernel send buffer."""

    client = "?"

    def __init__(self, on_made: Callable[[GuardedConnection], bool], on_lost: Callable[[GuardedConnection], None], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_made, self._on_lost = on_made, on_lost

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # websockets needs its own setup first, even for a connection refused
        # here: its handler then sees the connection lost and simply ends.
        super().connection_made(transport)
        if not self._on_made(self):
            transport.abort()
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._on_lost(self)


class ClientGate:
    """Per-client and total caps on websocket connections, checked as each
    TCP connection arrives, before any handshake: an idle socket counts too
    (websockets closes it after its ``open_timeout``)."""

    def __init__(self, per_client: int, total: int, refusals: LogLimiter) -> None:
        self.book: ConnectionBook[GuardedConnection] = ConnectionBook(per_client, total)
        self.refusals = refusals

    def connection(self, *args: Any, **kwargs: Any) -> GuardedConnection:
        """websockets' ``create_connection`` factory."""
        return GuardedConnection(self._made, self._lost, *args, **kwargs)

    def _made(self, connection: GuardedConnection) -> bool:
        peer = connection.transport.get_extra_info("peername")
        connection.client = client = client_key(peer[0] if isinstance(peer, tuple) else None)
        if self.book.client_full(client) and not self._make_room(client):
            self.refusals.log(
                logging.WARNING, "per-client", client, "refused a websocket connection from %s: it already holds %d, each reading", client, self.book.per_client
            )
            return False
        if self.book.full():
            self.refusals.log(logging.WARNING, "full", client, "refused a websocket connection from %s: %d connections open", client, len(self.book))
            return False
        self.book.add(client, connection)
        return True

    def _make_room(self, client: str) -> bool:
        """At its cap, an address gives up a connection that is not reading
        rather than the new one: behind one NAT, another device's idle or
        stalled sockets must never lock out a page that reads, and a page
        that reads (nothing waiting to be written to it) is never dropped.
        First a socket that never finished its handshake, then the one with
        the most bytes waiting for it."""

        def waiting(connection: GuardedConnection) -> int:
            transport = connection.transport
            if transport is None or transport.is_closing():
                return 0
            return transport.get_write_buffer_size() + unsent_bytes(transport.get_extra_info("socket"))

        stalled = [c for c in self.book.of(client) if c.state is State.CONNECTING or waiting(c) > 0]
        if not stalled:
            return False
        victim = max(stalled, key=lambda c: (c.state is State.CONNECTING, waiting(c)))
        self.refusals.log(logging.INFO, "made room", client, "dropped a websocket connection from %s that was not reading, to make room for a new one", client)
        self.book.remove(client, victim)  # at once: connection_lost comes later
        if victim.transport is not None:
            victim.transport.abort()
        return True

    def _lost(self, connection: GuardedConnection) -> None:
        self.book.remove(connection.client, connection)

    def loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """An asyncio exception handler: asyncio logs a traceback each time
        accept() finds no descriptor left (then pauses a second); one line a
        minute is enough. Anything else goes to the default handler."""
        if str(context.get("message", "")).startswith("socket.accept() out of system resource"):
            self.refusals.log(logging.WARNING, "accept", "*", "cannot accept websocket connections: %s", context.get("exception"))
            return
        loop.default_exception_handler(context)
