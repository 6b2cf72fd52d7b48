"""Serving a WSGI app: :class:`WebServer` runs it under waitress in a thread,
with limits that keep one client, or a thousand sockets, from denying the rest.

Why waitress, kept, and not another server: waitress reads every request
(headers and body) in its one asynchronous loop and hands a worker thread only
a request that is complete, so a slow client costs a socket, never a thread.
cheroot and gunicorn's gthread read headers in their worker threads: a few
clients sending a byte at a time hold every thread (measured in
``benchmarks/hardening_bench.py``). What waitress lacks is added here, in a
thin subclass of its server and channel:

* ``asyncore_use_poll``: poll(), not select(), which cannot watch a
  descriptor numbered 1024 or more and killed the loop for good;
* a cap on connections per client (``clients.client_key``: the address, or
  its /64 for IPv6) and in all; when all are taken, the oldest connection of
  the client holding the most, without a request being served, makes room;
  waitress's own ``connection_limit`` stops accepting anyone, which is the
  denial of service it is meant to prevent;
* deadlines waitress does not have: a request's headers and body must arrive
  within ``request_seconds`` of its first byte (a byte a second is no longer
  enough to hold a socket); a connection idle for ``idle_seconds`` is closed;
  a response the client does not read for ``stall_seconds`` is abandoned,
  which also frees the worker thread waiting to write it (waitress never
  times out a connection with a request under way);
* ``accept()`` failing for want of descriptors pauses accepting for a moment
  instead of failing (and logging a traceback) thousands of times a second;
* bodies are refused over ``max_body_bytes`` before they are read, and never
  spooled to temporary files (waitress spools above ``inbuf_overflow``);
  each connection buffers at most ``output_buffer_bytes`` of a response
  before its worker waits, so a client that does not read holds that much
  memory, not the whole CSV.

Each dropped or refused client is logged, at most once a minute per client.
"""

from __future__ import annotations

import copy
import errno
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser, crack_first_line
from waitress.server import TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher
from waitress.utilities import RequestEntityTooLarge

from .clients import ConnectionBook, LogLimiter, client_key, summarise
from .uploads import MAX_UPLOAD_BYTES, UPLOAD_SECONDS, is_upload, too_large_message

log = logging.getLogger("webperf3.httpserver")

#: accept() failed for want of descriptors or memory: try again after this.
ACCEPT_PAUSE_S = 0.5
#: The loop's poll() timeout while no client is connected. With clients, the
#: deadlines above are checked every ``check_seconds`` and poll() wakes that
#: often; with none there is nothing to check, and every event that matters
#: (a connection, the trigger of ``stop()`` or of a worker's response) wakes it.
IDLE_POLL_S = 30.0
_OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


@dataclass(frozen=True)
class HttpLimits:
    """What any client may hold of the web server. The defaults fit the
    dashboard: a browser opens at most 6 connections to a host."""

    connections: int = 400
    connections_per_client: int = 20
    request_seconds: float = 10.0
    idle_seconds: float = 30.0
    stall_seconds: float = 30.0
    max_header_bytes: int = 16 * 1024
    max_body_bytes: int = 4 * 1024
    output_buffer_bytes: int = 256 * 1024
    #: How often the deadlines are checked.
    check_seconds: float = 1.0


class WebServer:
    """A WSGI app under waitress, in a background thread, stoppable.

    ``start()`` binds in the caller's thread, so "address in use" raises
    there; ``port`` is then the actual port (useful with port 0).
    """

    def __init__(self, app: Callable, host: str, port: int, threads: int = 8, limits: HttpLimits | None = None) -> None:
        self.app = app
        self.host = host
        self._port = port
        self.threads = threads
        self.limits = limits or HttpLimits()
        self._servers: list[_Server] = []
        self._map: dict[int, Any] = {}
        self._dispatcher: ThreadedTaskDispatcher | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def port(self) -> int:
        return int(self._servers[0].effective_port) if self._servers else self._port

    @property
    def url(self) -> str:
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.port}/"

    @property
    def connections(self) -> int:
        """Connections open now (for tests and benchmarks)."""
        return len(self._servers[0].book) if self._servers else 0

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the web server is already running")
        # waitress warns "Task queue depth is N" for every request that waits
        # for a worker: under a burst, thousands of journal lines a minute.
        summarise("waitress.queue")
        limits = self.limits
        adj = Adjustments(
            host=self.host,
            port=self._port,
            threads=self.threads,
            ident="webperf3",
            asyncore_use_poll=True,
            # Ours are per client (see _Server); waitress's would stop
            # accepting anyone, so it is set out of the way.
            connection_limit=1_000_000,
            channel_timeout=limits.idle_seconds,
            cleanup_interval=limits.check_seconds,
            max_request_header_size=limits.max_header_bytes,
            max_request_body_size=limits.max_body_bytes,
            inbuf_overflow=max(64 * 1024, 2 * limits.max_body_bytes),
            outbuf_high_watermark=limits.output_buffer_bytes,
            outbuf_overflow=max(4 * 1024 * 1024, 2 * limits.output_buffer_bytes),
        )
        self._map = {}
        self._stopping.clear()
        self._dispatcher = ThreadedTaskDispatcher()
        self._dispatcher.set_thread_count(adj.threads)
        book: ConnectionBook[_Channel] = ConnectionBook(limits.connections_per_client, limits.connections)
        try:
            for sockinfo in adj.listen:  # "localhost" may be two sockets
                self._servers.append(
                    _Server(self.app, self._map, dispatcher=self._dispatcher, adj=adj, sockinfo=sockinfo, limits=limits, book=book)
                )
        except BaseException:
            wasyncore.close_all(self._map, ignore_all=True)
            self._servers.clear()
            self._dispatcher.shutdown(timeout=1)
            raise
        self._thread = threading.Thread(target=self._run, args=(adj,), name="webperf3-web", daemon=True)
        self._thread.start()

    def _run(self, adj: Adjustments) -> None:
        # poll() has no limit on descriptor numbers; a failure of the loop
        # itself (a bug) must not end HTTP for good, as select() once did.
        while self._map and not self._stopping.is_set():
            try:
                wasyncore.poll2(self._poll_timeout(adj), self._map)
            except Exception:
                log.exception("the web server's loop failed; going on")
                time.sleep(1)

    def _poll_timeout(self, adj: Adjustments) -> float:
        """How long the loop may sleep: waitress's timeout while any client
        is connected or accepting is paused, else ``IDLE_POLL_S``."""
        dispatchers = list(self._map.values())  # one call: atomic under the GIL
        if any(isinstance(d, _Channel) or (isinstance(d, _Server) and d.paused()) for d in dispatchers):
            return adj.asyncore_loop_timeout
        return IDLE_POLL_S

    def stop(self, timeout: float = 3) -> None:
        """Close every socket from inside waitress's loop, then its workers."""
        thread, servers, dispatcher = self._thread, self._servers, self._dispatcher
        if thread is None or not servers or dispatcher is None:
            return
        self._thread, self._servers, self._dispatcher = None, [], None
        self._stopping.set()
        sockets = self._map
        if thread.is_alive():
            # Closing from this thread would race the loop's poll(); the
            # trigger runs the close in the loop's own thread, and the loop
            # ends once its socket map is empty.
            try:
                servers[0].trigger.pull_trigger(lambda: wasyncore.close_all(sockets, ignore_all=True))
            except OSError as exc:  # its descriptor already gone: the rest of the station must still stop
                # The loop may sleep IDLE_POLL_S in poll(); a connection to
                # its own listening socket wakes it, and it sees _stopping.
                log.warning("web server loop's trigger failed (%s); waking it with a connection", exc.strerror or exc)
                _wake(servers)
            thread.join(timeout)
        if thread.is_alive():
            log.warning("web server loop did not stop within %ss; closing its sockets from here", timeout)
            wasyncore.close_all(sockets, ignore_all=True)
            thread.join(timeout)
        wasyncore.close_all(sockets, ignore_all=True)  # a no-op when the trigger closed them
        dispatcher.shutdown(timeout=timeout)

    def __enter__(self) -> WebServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _wake(servers: list[_Server]) -> None:
    """Connect to each listening socket once, so a loop asleep in poll()
    returns; a wildcard address is reached on its loopback."""
    for server in servers:
        if server.socket is None:
            continue  # closed already (poll's POLLNVAL closes a dispatcher whose descriptor went)
        try:
            host, port = server.socket.getsockname()[:2]
            host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
            socket.create_connection((host, port), timeout=1).close()
        except OSError as exc:
            log.debug("could not wake the web server loop through %s: %s", server, exc)


class _Parser(HTTPRequestParser):
    """A floor plan's upload (``uploads.is_upload``) may be up to
    ``MAX_UPLOAD_BYTES``, kept in a temporary file past 1 MiB rather than in
    memory; every other request keeps the small cap. Known from the request
    line, before the body is read: a bigger ``Content-Length`` is refused
    unread, with words people understand."""

    upload = False

    def parse_header(self, header_plus: bytes) -> None:
        first = header_plus.split(b"\n", 1)[0].rstrip(b"\r")
        try:
            method, uri, _version = crack_first_line(first)
        except Exception:  # waitress's own parse says what is wrong with it
            method, uri = b"", b""
        path = uri.split(b"?", 1)[0].decode("latin-1")
        if is_upload(method.decode("latin-1"), path):
            self.upload = True
            self.adj = _upload_adjustments(self.adj)
        super().parse_header(header_plus)

    def received(self, data: bytes) -> int:
        consumed = super().received(data)
        if self.upload and isinstance(self.error, RequestEntityTooLarge):
            self.error = RequestEntityTooLarge(too_large_message(max(self.content_length, self.body_bytes_received)))
        return consumed


def _upload_adjustments(adj: Adjustments) -> Adjustments:
    """``adj`` with the upload's body cap: one copy, kept on the server's own adjustments."""
    found = getattr(adj, "webperf3_upload", None)
    if found is None:
        found = copy.copy(adj)
        found.max_request_body_size = MAX_UPLOAD_BYTES + 1  # waitress refuses a length >= this
        found.inbuf_overflow = 1024 * 1024  # past 1 MiB in a temporary file, not in memory
        adj.webperf3_upload = found
    return found


class _Channel(HTTPChannel):
    """One connection: remembers when its request began and whom it counts against."""

    client = "?"
    request_began = 0.0
    parser_class = _Parser

    def received(self, data: bytes) -> bool:
        if self.request is None and data:
            self.request_began = time.monotonic()
        return super().received(data)

    def overdue(self, now: float, wall: float, limits: HttpLimits) -> str | None:
        """Why this connection should be dropped now, if it should.

        ``now`` is monotonic; waitress keeps ``last_activity`` in wall-clock
        ``time.time()``, so ``wall`` is that.
        """
        if self.total_outbufs_len and wall - self.last_activity > limits.stall_seconds:
            return f"did not read its response for {limits.stall_seconds:g} s"
        if self.requests:
            return None  # a worker is on it
        if self.request is not None:
            allowed = UPLOAD_SECONDS if getattr(self.request, "upload", False) else limits.request_seconds
            if now - self.request_began > allowed:
                return f"did not send a whole request within {allowed:g} s"
            return None
        if not self.total_outbufs_len and wall - self.last_activity > limits.idle_seconds:
            return f"idle for {limits.idle_seconds:g} s"
        return None

    def peer_left(self) -> bool:
        """Whether the client closed its end (read as waitress would: no
        more bytes), looked at without reading what it may have sent."""
        try:
            return self.socket.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except (BlockingIOError, InterruptedError):
            return False  # still there, nothing more sent
        except OSError:
            return True  # reset, or the socket already closed

    def del_channel(self, map: Any = None) -> None:
        super().del_channel(map)
        server = self.server
        if isinstance(server, _Server):
            server.book.remove(self.client, self)


class _Server(TcpWSGIServer):
    """waitress's TCP server with per-client caps and deadlines (module docstring)."""

    channel_class = _Channel

    def __init__(self, app: Callable, map: dict, *, dispatcher: ThreadedTaskDispatcher, adj: Adjustments, sockinfo: Any, limits: HttpLimits, book: ConnectionBook) -> None:
        self.limits = limits
        self.book = book
        self.dropped = LogLimiter(log)
        self._accept_paused_until = 0.0
        super().__init__(app, map, True, None, dispatcher=dispatcher, adj=adj, sockinfo=sockinfo)

    def readable(self) -> bool:
        now = time.time()
        if now >= self.next_channel_cleanup:
            self.next_channel_cleanup = now + self.adj.cleanup_interval
            self.maintenance(now)
        return bool(self.accepting) and time.monotonic() >= self._accept_paused_until

    def paused(self) -> bool:
        return time.monotonic() < self._accept_paused_until

    def handle_accept(self) -> None:
        try:
            pair = self.accept()
        except OSError as exc:
            if exc.errno in _OUT_OF_RESOURCES:
                self._accept_paused_until = time.monotonic() + ACCEPT_PAUSE_S
                self.dropped.log(logging.WARNING, "accept", "*", "cannot accept connections: %s; pausing %.1f s", exc.strerror or exc, ACCEPT_PAUSE_S)
            return
        if pair is None:
            return
        sock, addr = pair
        client = client_key(addr[0] if isinstance(addr, tuple) else str(addr))
        if not self._make_room(client):
            sock.close()
            return
        try:
            self.set_socket_options(sock)
            channel = self.channel_class(self, sock, self.fix_addr(addr), self.adj, map=self._map)
        except OSError:  # the client already left
            sock.close()
            return
        channel.client = client
        self.book.add(client, channel)

    def _make_room(self, client: str) -> bool:
        if self.book.client_full(client) and not self._make_room_within(client):
            self.dropped.log(
                logging.WARNING, "per-client", client,
                "refused a connection from %s: it already holds %d, each serving a request", client, self.book.per_client,
            )
            return False
        if not self.book.full():
            return True
        # Everyone's connections are taken: the heaviest client gives one up,
        # its oldest that no worker is serving.
        for channel in self.book.heaviest():
            if not channel.requests:
                self._drop(channel, f"made room for {client}: {len(self.book)} connections open")
                return not self.book.full()
        self.dropped.log(logging.WARNING, "full", client, "refused a connection from %s: %d connections open", client, len(self.book))
        return False

    def _make_room_within(self, client: str) -> bool:
        """At its cap, an address gives up its connection quiet the longest
        that no worker is serving (an idle keep-alive, a request trickling
        in) rather than the new one: behind one NAT, the first ordinary
        client must not be starved by another's idle sockets, and a request
        being served is never the one dropped."""
        waiting = [c for c in self.book.of(client) if not c.requests]
        if waiting:
            quietest = min(waiting, key=lambda c: c.last_activity)
            self._drop(quietest, f"made room for a new connection from {client}: it holds {self.book.per_client}")
            return True
        # Every one has a request: one whose client has given up and left
        # (a page reloaded while the workers were busy) frees its place.
        gone = next((c for c in self.book.of(client) if c.peer_left()), None)
        if gone is None:
            return False
        self._drop(gone, "left before its response")
        return True

    def maintenance(self, now: float) -> None:
        monotonic = time.monotonic()
        for channel in list(self.active_channels.values()):
            if isinstance(channel, _Channel):
                reason = channel.overdue(monotonic, now, self.limits)
                if reason is None and channel.requests and channel.peer_left():
                    # waitress reads nothing more from a connection while its
                    # request waits for a worker, so it would serve a client
                    # long gone, and count it against the address meanwhile.
                    reason = "left before its response"
                if reason is not None:
                    self._drop(channel, reason)

    def _drop(self, channel: _Channel, reason: str) -> None:
        self.dropped.log(logging.INFO, reason[:16], channel.client, "dropped a connection from %s: %s", channel.client, reason)
        # handle_close also wakes a worker waiting to write to it: the
        # worker's next write raises ClientDisconnected and it moves on.
        channel.handle_close()
