"""Live push: new results go to every open dashboard over a websocket.

One background thread runs an asyncio loop with two jobs:

* a ``websockets`` server (the ``websockets.asyncio.server`` API) at
  ``ws://HOST:PORT/``. A browser gets a snapshot of the table when it
  connects — which is also how it resynchronises after a reconnect — and
  then one message per change;
* the log watcher it holds (:mod:`.watch`): when a ``port-*.json``
  changes, the store reads only what was appended and the new results go
  out, serialized once, to every client.

Messages are JSON objects with a ``type``: ``snapshot``, ``results``,
``book``, ``servers``, ``progress`` and ``leases`` (their shapes:
:mod:`.messages`). While any port is leased, the loop also lets the
board's port leases run out once a second (:mod:`webperf3.board.leasing`);
with none it sleeps until one is granted.

Who may connect: a browser whose ``Origin`` names the host it connected to,
or a client with no ``Origin`` at all (scripts, monitoring), whose ``Host``
is a name the station answers to (:mod:`webperf3.serving.hosts`: DNS rebinding), up to
``max_clients`` in all and ``max_connections_per_client`` per client address.
Each client's messages wait in its own bounded queue (:mod:`.outbox`); a
client that falls too far behind is dropped and reconnects to a snapshot.
``GET /healthz`` on the same port answers ``200 ok`` for health checks.

Over 400 lines, on purpose: what is left is the loop thread's own state
(the server, the admitted connections, their outboxes, the watcher, the
lease tick, the pending coalesced snapshot) and the steps that change it; the message shapes (:mod:`.messages`), the log watcher
(:mod:`.watch`), per-client queues (:mod:`.outbox`) and who may connect
(:mod:`webperf3.serving.hosts`) live apart.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Callable, Coroutine
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from ..board.join import Board
from ..serving.clients import LogLimiter
from ..ops.health import health_text, http_status, problems
from ..serving.hosts import origin_allowed
from .watch import LogWatcher, quiet_watchfiles
from ..board.leasing import Holders
from .messages import book_message, encode, leases_message, progress_message, results_message, servers_message, snapshot_message
from ..store.results import Changes, ResultsStore
from ..survey import BookChange
from .outbox import WRITE_LIMIT, ClientGate, Outbox

log = logging.getLogger("webperf3.live")
# websockets logs every connection and refusal at INFO; we log our own one
# line each, so its logger stays quiet unless someone configures it.
_ws_log = log.getChild("websockets")
if _ws_log.level == logging.NOTSET:
    _ws_log.setLevel(logging.WARNING)

#: The websocket endpoint's path; the page is told it, never guesses it.
WS_PATH = "/"
HEALTH_PATH = "/healthz"

#: A client that does not answer the close handshake is dropped after this,
#: so stop() is not held up by a phone that left the Wi-Fi.
CLOSE_TIMEOUT_S = 2.0
#: A connection must complete its websocket handshake within this.
OPEN_TIMEOUT_S = 10.0
#: Connections per client address (IPv6: per /64), handshakes included.
MAX_CONNECTIONS_PER_CLIENT = 16
#: Connections not yet past the handshake, beyond ``max_clients``.
MAX_HANDSHAKING = 64
#: More new results than this in one batch (a big log copied in, a first
#: read) go out as a snapshot: the browser needs the rows, not every test.
MAX_RESULTS_PER_MESSAGE = 100
#: Snapshots after changes of the survey book go out at most this often.
BOOK_SNAPSHOT_EVERY_S = 0.25
#: How often leases that ran out are ended (and those on a port that went down moved).
LEASE_TICK_S = 1.0

def _single(headers: Headers, name: str) -> tuple[bool, str | None]:
    """(ok, value): a header sent more than once is a malformed request."""
    values = headers.get_all(name)
    return len(values) <= 1, values[0] if values else None


def _settle(ready: concurrent.futures.Future[None], exc: BaseException | None = None) -> bool:
    """Report start()'s outcome; False if start() stopped waiting (cancelled)."""
    try:
        if exc is None:
            ready.set_result(None)
        else:
            ready.set_exception(exc)
    except concurrent.futures.InvalidStateError:
        return False
    return True


# -- the server ------------------------------------------------------------------


class LiveServer:
    """The websocket server and the log watcher, in one background thread.

    ``start()`` and ``stop()`` are called from the main thread;
    ``push_snapshot()`` and ``push_servers()`` from any thread.
    """

    def __init__(
        self,
        store: ResultsStore,
        host: str = "127.0.0.1",
        port: int = 8765,
        *,
        servers: Callable[[], list[dict]] = lambda: [],
        ports: Callable[[], list[int]] = lambda: [],
        board: Board,
        force_polling: bool = False,
        max_clients: int = 256,
        max_message_bytes: int = 64 * 1024,
        max_connections_per_client: int = MAX_CONNECTIONS_PER_CLIENT,
        max_connections: int | None = None,
        allowed_host: Callable[[str | None], bool] = lambda host: True,
        browser_tests: Any = None,
    ) -> None:
        self.store = store
        self.host = host
        self._bind_port = port
        self._servers = servers
        self._ports = ports
        self.board = board
        self.max_clients = max_clients
        self.max_message_bytes = max_message_bytes
        self.max_connections_per_client = max_connections_per_client
        #: TCP connections in all, handshakes included (default: max_clients + MAX_HANDSHAKING).
        self.max_connections = max_connections or max_clients + MAX_HANDSHAKING
        self.allowed_host = allowed_host
        # "Test from this browser" (webperf3.browsertest.server.BrowserTests):
        # its paths on this port, with caps of its own.
        self.browser_tests = browser_tests
        self._refusals = LogLimiter(log)
        self.watcher = LogWatcher(store, force_polling=force_polling, errors=self._refusals)
        self._port = port
        self._control = threading.Lock()  # start() vs stop()
        self._thread: threading.Thread | None = None
        # Loop-side state, (re)made by each start() inside the loop.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._leased: asyncio.Event | None = None
        self._lock: asyncio.Lock | None = None
        self._clients: dict[ServerConnection, Outbox] = {}  # got their snapshot
        self._admitted: set[ServerConnection] = set()  # passed process_request, not closed
        self._gate: ClientGate | None = None  # made in the loop
        self._tasks: set[asyncio.Task] = set()
        self._snapshot_pending = False  # a coalesced snapshot is scheduled (loop state)
        self._last_book_snapshot = 0.0
        self._last_snapshot = b""  # the last snapshot encoded (any worker thread): shared when the next is the same

    # -- public API (any thread) ----------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def clients(self) -> int:
        return len(self._clients)

    def connections_of(self, client: str) -> int:
        """TCP connections an address (IPv6: its /64) holds now, handshakes included."""
        gate = self._gate
        return 0 if gate is None else gate.book.count(client)

    def start(self, timeout: float = 5.0) -> None:
        """Start the thread; return once the port listens, else raise (e.g. OSError)."""
        with self._control:
            if self._thread is not None:
                raise RuntimeError("the live server is already running")
            quiet_watchfiles()
            self._loop = self._stop = None  # a previous run's loop is closed
            ready: concurrent.futures.Future[None] = concurrent.futures.Future()
            thread = threading.Thread(target=self._run, args=(ready,), name="webperf3-live", daemon=True)
            thread.start()
            try:
                ready.result(timeout)
            except BaseException:
                ready.cancel()  # too slow: the thread gives up when it sees this
                self._signal_stop()
                thread.join(timeout)
                raise
            self._thread = thread

    def stop(self, timeout: float = 3.0) -> None:
        """Stop watching, close every websocket with 1001, join the thread."""
        with self._control:
            thread, self._thread = self._thread, None
            if thread is None:
                return
            self._signal_stop()
            thread.join(timeout)
            if thread.is_alive():
                log.warning("live server thread did not stop within %.1f s", timeout)

    def push_snapshot(self) -> None:
        """Send every client a snapshot (after a clear or an undo)."""
        self._call_soon(self._send_snapshot_to_all)

    def push_servers(self, servers: list[dict]) -> None:
        """Send every client the fleet's status."""
        # Serialized here, once, in the caller's thread.
        self._call_soon(self._send_to_all, encode(servers_message(servers)))

    def push_progress(self, tests: list[Any]) -> None:
        """Send every client the running tests' live figures (``Progress`` objects)."""
        self._call_soon(self._send_to_all, encode(progress_message(tests)))

    # -- thread plumbing ----------------------------------------------------------

    def _run(self, ready: concurrent.futures.Future[None]) -> None:
        try:
            asyncio.run(self._main(ready))
        except BaseException as exc:
            if not _settle(ready, exc):
                log.exception("live server failed")

    def _signal_stop(self) -> None:
        loop, stop = self._loop, self._stop
        if loop is None or stop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop already closed
            loop.call_soon_threadsafe(stop.set)

    def _call_soon(self, fn: Callable[..., Coroutine[Any, Any, None]], *args: Any) -> None:
        # The coroutine is only created inside the loop: if the loop is gone
        # there is nothing to clean up and no "never awaited" warning.
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._spawn, fn, args)

    def _spawn(self, fn: Callable[..., Coroutine[Any, Any, None]], args: tuple) -> None:
        if self._stop is None or self._stop.is_set():
            return
        task = asyncio.get_running_loop().create_task(fn(*args))
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("live push failed", exc_info=task.exception())

    # -- the loop ------------------------------------------------------------------

    async def _main(self, ready: concurrent.futures.Future[None]) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop, self._lock = asyncio.Event(), asyncio.Lock()
        self._leased = asyncio.Event()  # set when a lease is granted: wakes the lease tick
        self._clients, self._admitted, self._tasks = {}, set(), set()
        self._snapshot_pending, self._last_book_snapshot = False, -BOOK_SNAPSHOT_EVERY_S
        self._gate = gate = ClientGate(self.max_connections_per_client, self.max_connections, self._refusals)
        self._loop.set_exception_handler(gate.loop_exception)
        try:
            server = await serve(
                self._handler,
                self.host,
                self._bind_port,
                process_request=self._process_request,
                max_size=self.max_message_bytes,
                close_timeout=CLOSE_TIMEOUT_S,
                open_timeout=OPEN_TIMEOUT_S,
                write_limit=WRITE_LIMIT,
                # Incoming messages are read and dropped at once; a client
                # flooding them holds at most 4 x max_size before reading pauses.
                max_queue=4,
                create_connection=gate.connection,  # type: ignore[arg-type]
                # Per-connection deflate would compress every broadcast once
                # per client: on a Pi with many browsers that is the bottleneck,
                # and the messages are small.
                compression=None,
                logger=_ws_log,
            )
        except Exception as exc:  # OSError: port in use, unknown host...
            _settle(ready, exc)
            return
        # Set before start() returns: its caller reads .port next.
        self._port = self._bind_port = server.sockets[0].getsockname()[1]  # a restart keeps the URL
        if not _settle(ready):  # start() timed out and went away
            server.close()
            await server.wait_closed()
            return
        log.info("live push listening on ws://%s:%d%s", self.host, self._port, WS_PATH)
        # Whoever reads the logs (this watcher, a web request), the store
        # tells us what changed: nothing read elsewhere is lost to browsers.
        self.store.subscribe(self._store_changed)
        self.board.book.subscribe(self._book_changed)
        self.board.leases.subscribe(self._leases_changed)
        watcher = asyncio.create_task(self.watcher.run(self._stop), name="webperf3-live-watch")
        ticker = asyncio.create_task(self._tick_leases(), name="webperf3-live-leases")
        try:
            await self._stop.wait()
        finally:
            ticker.cancel()
            self.store.unsubscribe(self._store_changed)
            self.board.book.unsubscribe(self._book_changed)
            self.board.leases.unsubscribe(self._leases_changed)
            self._stop.set()  # also stops awatch
            server.close()  # open connections get 1001 (going away)
            await server.wait_closed()
            try:
                await watcher
            except Exception:
                log.exception("log watcher failed")
            log.info("live push stopped")

    # -- websocket side ---------------------------------------------------------------

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        if path == HEALTH_PATH:
            # As the HTTP port's /healthz: not 200 while tests are being lost.
            found = problems(self._servers())
            return connection.respond(HTTPStatus(http_status(found)), health_text(found))
        browser_test = self.browser_tests is not None and self.browser_tests.owns(path)
        if path != WS_PATH and not browser_test:
            return connection.respond(HTTPStatus.NOT_FOUND, "Not found.\n")
        ok_origin, origin = _single(request.headers, "Origin")
        ok_host, host = _single(request.headers, "Host")
        client = getattr(connection, "client", "?")
        if not (ok_origin and ok_host and origin_allowed(origin, host)):
            self._refusals.log(logging.INFO, "origin", client, "refused a websocket from %s: origin %r (host %r)", client, origin, host)
            return connection.respond(HTTPStatus.FORBIDDEN, "Forbidden origin.\n")
        if not self.allowed_host(host):
            self._refusals.log(logging.WARNING, "host", client, "refused a websocket from %s for host %r: not a name this station answers to", client, host)
            return connection.respond(HTTPStatus.FORBIDDEN, "Forbidden host: not a name this station answers to.\n")
        if browser_test:
            return self.browser_tests.admit(connection, request)
        if len(self._admitted) >= self.max_clients:
            log.warning("refused a websocket: %d clients already", len(self._admitted))
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "Too many connections.\n")
        self._admit(connection)
        return None

    def _admit(self, connection: ServerConnection) -> None:
        # Counted from here, not from the handler, so a burst of handshakes
        # cannot overshoot the cap; released whenever the TCP connection ends,
        # whether or not the handshake went on to succeed.
        self._admitted.add(connection)

        async def release() -> None:
            try:
                await connection.wait_closed()
            finally:
                self._admitted.discard(connection)

        task = asyncio.get_running_loop().create_task(release())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handler(self, connection: ServerConnection) -> None:
        assert self._lock is not None
        if self.browser_tests is not None and connection.request is not None and self.browser_tests.owns(connection.request.path):
            await self.browser_tests.handle(connection)
            return
        outbox = Outbox(connection)
        # Under the lock no update is being read or sent: the snapshot is
        # current and every later update reaches this client after it.
        async with self._lock:
            _, data = await asyncio.to_thread(self._snapshot)
            outbox.put(data)
            self._clients[connection] = outbox
        # Once a minute per address at most (with a count of the rest): a
        # page that reconnects in a loop must not write the journal.
        client = getattr(connection, "client", "?")
        self._refusals.log(logging.INFO, "connect", client, "client %s connected (%d clients)", _peer(connection), len(self._clients))
        sender = asyncio.create_task(outbox.run(lambda reason: self._drop(connection, reason)))
        sender.add_done_callback(_retrieve)
        try:
            async for _ in connection:
                pass  # what clients send is ignored; reading answers pings and closes
        except ConnectionClosed:
            pass  # e.g. 1009, a message over max_size
        finally:
            sender.cancel()
            if self._clients.pop(connection, None) is not None:
                self._refusals.log(logging.INFO, "disconnect", client, "client %s disconnected (%d clients)", _peer(connection), len(self._clients))

    def _fan_out(self, data: bytes) -> None:
        """Queue one message (encoded once, shared) for every client."""
        for connection, outbox in list(self._clients.items()):
            if not outbox.put(data):
                self._drop(connection, f"not reading: {len(outbox)} messages ({outbox.queued_bytes} bytes) waiting")

    def _drop(self, connection: ServerConnection, reason: str) -> None:
        """Let go of a client that does not keep up; its page reconnects."""
        if self._clients.pop(connection, None) is None:
            return
        client = getattr(connection, "client", "?")
        self._refusals.log(logging.WARNING, "slow", client, "dropped websocket client %s: %s (%d clients)", _peer(connection), reason, len(self._clients))
        # Not close(): a client that does not read never answers the close
        # handshake, and its buffers would be held until close_timeout.
        connection.transport.abort()

    async def _send_to_all(self, data: bytes) -> None:
        assert self._lock is not None
        async with self._lock:  # keeps messages in order with snapshots
            self._fan_out(data)

    async def _send_snapshot_to_all(self) -> None:
        assert self._lock is not None
        async with self._lock:
            _, data = await asyncio.to_thread(self._snapshot)
            self._fan_out(data)

    def _store_changed(self, changes: Changes) -> None:
        """The store's listener: any thread, under the store's lock, so only
        hand the changes to the loop."""
        self._call_soon(self._publish, changes)

    async def _publish(self, changes: Changes) -> None:
        assert self._lock is not None
        async with self._lock:  # keeps messages in order with snapshots
            if not self._clients:
                return  # whoever connects next gets a snapshot
            data = await asyncio.to_thread(self._message_for, changes)
            self._fan_out(data)

    def _message_for(self, changes: Changes) -> bytes:
        """A results message, or a snapshot when rows may have changed in
        other ways (a log rewritten). Worker thread."""
        if changes.reset_ports or len(changes.added) > MAX_RESULTS_PER_MESSAGE:
            return self._snapshot()[1]
        view = self.board.view()
        rows = self.board.rows({r.port for r in changes.added}, view)
        return encode(results_message(self.board.annotate(changes.added, view), rows, changes.generation))

    def _book_changed(self, change: BookChange) -> None:
        """The book's listener: any thread, under the book's lock: hand on."""
        self._call_soon(self._publish_book, change)

    async def _publish_book(self, change: BookChange) -> None:
        assert self._lock is not None
        async with self._lock:  # in order with the other messages
            if not self._clients:
                return
            # The change itself (who named what): small, for every page.
            self._fan_out(encode(book_message(change)))
        # A place named from a browser belongs to the tests that start from
        # now on: no row of the table changes, so no snapshot (it was 8.5 kB
        # per claim per page with 10 ports: a loop of claims flooded every
        # page). Any other change may change any row: the table as it now
        # is, coalesced, so a burst of changes costs each page a few
        # snapshots a second at most, the latest state winning.
        if change.kind != "claim":
            self._snapshot_soon()

    def _snapshot_soon(self) -> None:
        """One snapshot to every client, at most every :data:`BOOK_SNAPSHOT_EVERY_S`;
        asked again while one is pending, nothing more is sent: when it goes,
        it reads the state as it then is. In the loop."""
        if self._snapshot_pending:
            return
        self._snapshot_pending = True
        loop = asyncio.get_running_loop()
        delay = max(0.0, self._last_book_snapshot + BOOK_SNAPSHOT_EVERY_S - loop.time())
        loop.call_later(delay, self._spawn, self._send_book_snapshot, ())

    async def _send_book_snapshot(self) -> None:
        self._snapshot_pending = False
        self._last_book_snapshot = asyncio.get_running_loop().time()
        await self._send_snapshot_to_all()

    def _leases_changed(self, holders: Holders) -> None:
        """The leases' listener: any thread, under their lock. Encoded here,
        once, for every client."""
        self._call_soon(self._send_to_all, encode(leases_message(holders)))
        loop = self._loop
        if holders.ports and loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._wake_lease_tick)

    def _wake_lease_tick(self) -> None:
        if self._leased is not None:
            self._leased.set()

    async def _tick_leases(self) -> None:
        # In a worker thread: the leases read the store, whose lock a long read may hold.
        assert self._stop is not None and self._leased is not None
        while not self._stop.is_set():
            if not self.board.leases.held():
                # Nothing to end or move: an idle station does not wake for
                # it. The leases' listener sets _leased when one is granted.
                self._leased.clear()
                if not self.board.leases.held():
                    stop, leased = asyncio.ensure_future(self._stop.wait()), asyncio.ensure_future(self._leased.wait())
                    try:
                        await asyncio.wait((stop, leased), return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        stop.cancel()
                        leased.cancel()
                    continue
            try:
                await asyncio.to_thread(self.board.leases.tick, self._servers())
            except Exception:
                log.exception("ending port leases failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), LEASE_TICK_S)

    def _snapshot(self) -> tuple[int, bytes]:
        """(generation, message). In a worker thread: the store's lock may be
        held by a long read, which must not stall the event loop."""
        # Read before the rows: the rows are at least this new.
        state = self.board.state()
        data = encode(snapshot_message(state, self._servers()))
        # Clients that connect together (a station restarted under 160 pages)
        # each waited on their own copy; the same text is kept once.
        last = self._last_snapshot
        if last == data:
            return state["generation"], last
        self._last_snapshot = data
        return state["generation"], data

def _retrieve(task: asyncio.Task) -> None:
    # A sender ends quietly with its connection; anything else is a bug.
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("sending to a websocket client failed", exc_info=exc)


def _peer(connection: ServerConnection) -> str:
    address = connection.remote_address
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address)
