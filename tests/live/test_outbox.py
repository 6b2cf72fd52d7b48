"""What one websocket client may cost the station (webperf3/live/outbox.py).

Each client's messages wait in its own bounded queue (``Outbox``): a client
that does not read is dropped once its queue passes ``MAX_QUEUED_MESSAGES``
or ``MAX_QUEUED_BYTES``, or a message waits ``send_timeout`` to be written,
while every other client keeps getting every message, in order. The
``ClientGate`` caps connections per client (an IPv6 client by its /64) and in
all, before any handshake: a refused client gets its connection closed and
not a byte; a refusal costs one journal line a minute per client, and a
closed connection frees its place. (A client past ``max_clients`` but within
these caps gets a 503: tests/live/test_live.py.)

A real LiveServer and real websocket clients on 127.0.0.1 and ::1; clients
that never read are raw sockets with a small receive buffer.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import time
import tracemalloc
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from websockets.asyncio.server import serve

from tests.support.hostile import closed_by_server, connect_from, upgrade_request, websocket_handshake
from tests.support.live import Client, unsent_queue_unknown
from tests.support.waiting import scaled, wait_until
from webperf3.board.join import Board
from webperf3.live.messages import encode, servers_message
from webperf3.live.outbox import FRAGMENT_BYTES, MAX_QUEUED_BYTES, MAX_QUEUED_MESSAGES, WRITE_LIMIT, Outbox
from webperf3.live.server import LiveServer
from webperf3.store.results import ResultsStore
from webperf3.survey import SurveyBook

PORT = 5201
#: The journal line of a client dropped for not reading.
DROPPED = re.compile(r"dropped websocket client 127\.0\.0\.2:\d+: not reading: (\d+) messages \((\d+) bytes\) waiting")


@pytest.fixture
def start_live(store: ResultsStore, log_dir: Path) -> Iterator[Callable[..., LiveServer]]:
    """Start LiveServers over the sample store; all stopped after the test."""
    started: list[LiveServer] = []
    books: list[SurveyBook] = []

    def start(host: str = "127.0.0.1", **options) -> LiveServer:
        book = SurveyBook.open(log_dir, readonly=True)
        books.append(book)
        server = LiveServer(store, host, 0, board=Board(store, book, lambda: [PORT]), **options)
        started.append(server)
        server.start()
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()
        for book in books:
            book.close()


def fleet_status(n: int, size: int) -> list[dict]:
    """What the fleet reports (``push_servers``): enough servers for a message
    of about *size* bytes, the first testing since *n* so that a reader can
    tell message *n* from the others."""
    return [
        {"port": PORT + i, "pid": 1000 + i, "state": "testing" if i == 0 else "idle", "client": "192.168.1.50" if i == 0 else None,
         "testing_since": float(n) if i == 0 else None, "started_at": 1.0, "restarts": 0, "last_exit": None, "version": "3.12"}
        for i in range(max(1, size // 140))
    ]


def first_bytes(port: int, source: str) -> bytes:
    """The first bytes a websocket client from *source* gets back: the start
    of a ``101`` when let in, nothing when the connection is just closed."""
    with connect_from(source, port, timeout=scaled(5)) as sock:
        try:
            sock.sendall(upgrade_request())
            return sock.recv(12)
        except (ConnectionResetError, BrokenPipeError):
            return b""


LET_IN = b"HTTP/1.1 101"


# -- the queue -----------------------------------------------------------------------


def test_a_queue_takes_no_message_past_its_limits_but_always_one_alone() -> None:
    by_count = Outbox(None, max_bytes=100, max_messages=3)  # type: ignore[arg-type]  (put never touches it)
    assert [by_count.put(b"m" * 10) for _ in range(4)] == [True, True, True, False]
    assert (len(by_count), by_count.queued_bytes) == (3, 30)

    by_bytes = Outbox(None, max_bytes=100, max_messages=10)  # type: ignore[arg-type]
    assert by_bytes.put(b"a" * 60) and by_bytes.put(b"b" * 40)  # exactly the limit: fits
    assert not by_bytes.put(b"c")  # one byte more: refused, nothing queued
    assert (len(by_bytes), by_bytes.queued_bytes) == (2, 100)

    alone = Outbox(None, max_bytes=100, max_messages=10)  # type: ignore[arg-type]
    assert alone.put(b"x" * 500)  # a snapshot bigger than the limit still goes out
    assert not alone.put(b"y")  # but nothing waits behind it
    assert (len(alone), alone.queued_bytes) == (1, 500)


@pytest.mark.parametrize(
    ("limit", "size", "burst"),
    [("messages", 2_000, 600), ("bytes", 60_000, 40)],
    ids=["many small messages", "a few big ones"],
)
def test_a_client_that_does_not_read_is_dropped_at_its_limit_and_the_others_get_every_message(
    start_live, caplog, limit: str, size: int, burst: int
) -> None:
    caplog.set_level(logging.INFO, "webperf3.live")
    live = start_live()
    reader = Client(live.port)
    reader.next_of("snapshot")
    status, stuck = websocket_handshake(live.port, source="127.0.0.2", rcvbuf=4096)
    try:
        assert status == 101
        wait_until(lambda: live.clients == 2, 5, what="both clients")
        sizes = set()
        for n in range(burst):  # 1.2 MB, or 2.4 MB, for a client that takes none of it
            servers = fleet_status(n, size)
            sizes.add(len(encode(servers_message(servers))))
            live.push_servers(servers)
            assert reader.next_of("servers", timeout=10)["servers"][0]["testing_since"] == n  # in order, none lost
        assert wait_until(lambda: live.clients == 1, 10, what="the client that does not read to be dropped")
        assert closed_by_server(stuck, 5)
        live.push_servers(fleet_status(burst, size))
        assert reader.next_of("servers", timeout=10)["servers"][0]["testing_since"] == burst
    finally:
        reader.close()
        stuck.close()
    [(messages, queued)] = [(int(m[1]), int(m[2])) for m in DROPPED.finditer(caplog.text)]
    if limit == "messages":
        assert messages == MAX_QUEUED_MESSAGES and queued < MAX_QUEUED_BYTES
    else:
        assert messages < MAX_QUEUED_MESSAGES
        assert MAX_QUEUED_BYTES - max(sizes) < queued <= MAX_QUEUED_BYTES  # the next message would not fit


def test_clients_that_never_read_hold_a_small_share_of_a_big_snapshot(start_live) -> None:
    """A snapshot of 400 kB (the latest tests' long names), 20 clients that
    never read. Each held its own encoding of the same text (17.6 MB in
    all, measured), then, sharing it, each still held a copy of what the
    kernel did not take in its transport's buffer (7 MB): now the text once,
    and for each client its buffer's limit and one fragment (1.7 MB)."""
    snapshot_bytes = 400_000  # past what the kernel takes for a client that does not read
    servers = fleet_status(0, snapshot_bytes)
    live = start_live(servers=lambda: servers)
    clients = 20
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        sockets = []
        for i in range(clients):  # at most 16 from an address
            status, sock = websocket_handshake(live.port, source=f"127.0.0.{2 + i % 5}", rcvbuf=4096)
            assert status == 101
            sockets.append(sock)
        wait_until(lambda: live.clients == clients, 10, what="every client")
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
        for sock in sockets:
            sock.close()
    per_client = WRITE_LIMIT + FRAGMENT_BYTES + 32 * 1024  # and its connection's own state
    assert held < clients * per_client + 2 * snapshot_bytes, f"{held:,} bytes held by {clients} clients"
    reader = Client(live.port)  # and a page that reads gets it whole, in its fragments
    try:
        assert reader.next_of("snapshot")["servers"] == servers
    finally:
        reader.close()


def test_a_message_not_written_within_the_send_timeout_drops_the_client() -> None:
    """Within both limits (one message, alone), a client whose socket takes
    nothing is let go after ``send_timeout``: its buffers are not held for ever."""

    async def scenario() -> str:
        dropped: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        async def handler(connection) -> None:
            outbox = Outbox(connection, send_timeout=0.5)
            assert outbox.put(b'"' + b"x" * 4_000_000 + b'"')  # far more than the socket buffers hold
            await outbox.run(dropped.set_result)

        async with serve(handler, "127.0.0.1", 0, write_limit=WRITE_LIMIT, compression=None, close_timeout=0.5) as server:
            port = server.sockets[0].getsockname()[1]
            status, sock = await asyncio.to_thread(websocket_handshake, port, rcvbuf=4096)
            try:
                assert status == 101
                return await asyncio.wait_for(dropped, scaled(10))
            finally:
                sock.close()

    # A loop of its own in a thread of its own: the browser tests' Playwright
    # leaves an event loop running in this one.
    with ThreadPoolExecutor(1) as thread:
        assert thread.submit(asyncio.run, scenario()).result() == "a message waited 0.5 s to be sent"


# -- the gate ----------------------------------------------------------------------


def test_a_client_past_its_connections_gets_nothing_and_a_closed_one_frees_its_place(start_live, caplog) -> None:
    caplog.set_level(logging.INFO, "webperf3.live")
    live = start_live(max_connections_per_client=2)
    held = [websocket_handshake(live.port, source="127.0.0.2") for _ in range(2)]
    try:
        assert [status for status, _ in held] == [101, 101]
        # Closed before any handshake: no status, no page, no snapshot.
        assert [first_bytes(live.port, "127.0.0.2") for _ in range(5)] == [b""] * 5
        assert first_bytes(live.port, "127.0.0.3") == LET_IN  # another address: another client
        held.pop()[1].close()
        wait_until(lambda: first_bytes(live.port, "127.0.0.2") == LET_IN, 5, what="the freed place to be taken again")
    finally:
        for _, sock in held:
            sock.close()
    # Five refusals and the retries: one journal line.
    assert caplog.text.count("refused a websocket connection from 127.0.0.2: it already holds 2") == 1


def test_behind_one_nat_sockets_that_do_not_read_make_room_for_a_page_that_does(start_live, caplog) -> None:
    """16 connections from one address that never finish their handshake (or
    never read) lock that address out no more: the next connection, a page
    that reads, takes the place of one of them; pages that read are never
    dropped for another (the test above)."""
    caplog.set_level(logging.INFO, "webperf3.live")
    live = start_live(max_connections_per_client=16)
    idle = [connect_from("127.0.0.2", live.port) for _ in range(16)]  # TCP only: no handshake, ever
    try:
        wait_until(lambda: live.connections_of("127.0.0.2") == 16, 5, what="the idle sockets counted")
        status, page = websocket_handshake(live.port, source="127.0.0.2")
        try:
            assert status == 101  # before: closed at once, the address already held 16
            page.settimeout(5)
            assert page.recv(2)  # its snapshot comes
        finally:
            page.close()
        assert sum(closed_by_server(sock, 0.2) for sock in idle) == 1  # one idle socket gave way, the rest wait
    finally:
        for sock in idle:
            sock.close()
    assert "dropped a websocket connection from 127.0.0.2 that was not reading" in caplog.text


def test_behind_one_nat_websockets_that_stopped_reading_make_room_before_their_kernel_buffers_fill(start_live, caplog) -> None:
    """Websockets that finished their handshake and never read: what is
    pushed to them waits in the kernel's send buffer (64 KiB) long before
    websockets' own buffer holds a byte. A page from that address still gets
    in: one of them gives way."""
    if why := unsent_queue_unknown():
        pytest.skip(why)
    caplog.set_level(logging.INFO, "webperf3.live")
    live = start_live(max_connections_per_client=3)
    held = [websocket_handshake(live.port, source="127.0.0.2", rcvbuf=4096) for _ in range(3)]
    try:
        assert [status for status, _ in held] == [101, 101, 101]
        wait_until(lambda: live.clients == 3, 5, what="the three counted")
        for n in range(10):  # 40 kB each: more than they take, far less than fills the kernel's buffer
            live.push_servers(fleet_status(n, 4000))
        time.sleep(0.5)
        assert first_bytes(live.port, "127.0.0.2") == LET_IN  # before: closed at once, "each reading"
        assert sum(closed_by_server(sock, 0.2) for _, sock in held) == 1
    finally:
        for _, sock in held:
            sock.close()
    assert "dropped a websocket connection from 127.0.0.2 that was not reading" in caplog.text


def test_connections_in_all_are_capped_whoever_opens_them(start_live, caplog) -> None:
    caplog.set_level(logging.INFO, "webperf3.live")
    live = start_live(max_connections=3)
    held = [websocket_handshake(live.port, source=source) for source in ("127.0.0.2", "127.0.0.3", "127.0.0.4")]
    try:
        assert [status for status, _ in held] == [101, 101, 101]
        assert first_bytes(live.port, "127.0.0.5") == b""
        assert "refused a websocket connection from 127.0.0.5: 3 connections open" in caplog.text
        held.pop()[1].close()
        wait_until(lambda: first_bytes(live.port, "127.0.0.5") == LET_IN, 5, what="the freed place to be taken")
    finally:
        for _, sock in held:
            sock.close()


def test_an_ipv6_client_is_counted_by_its_64(start_live, caplog) -> None:
    """One IPv6 host picks addresses from a whole /64 (privacy addresses), so
    the cap counts the /64; which addresses share one: test_client_key in
    tests/serving/test_hardening_guard.py. Loopback has one IPv6 address."""
    try:
        socket.socket(socket.AF_INET6).close()
    except OSError:
        pytest.skip("no IPv6 on this machine")
    caplog.set_level(logging.INFO, "webperf3.live")
    live = start_live(host="::1", max_connections_per_client=2)
    held = [websocket_handshake(live.port, source="::1") for _ in range(2)]
    try:
        assert [status for status, _ in held] == [101, 101]
        assert first_bytes(live.port, "::1") == b""
    finally:
        for _, sock in held:
            sock.close()
    assert "refused a websocket connection from ::/64: it already holds 2" in caplog.text
