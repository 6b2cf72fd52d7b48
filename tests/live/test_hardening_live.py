"""The websocket push under hostile clients: a real LiveServer, raw sockets
from other loopback addresses, clients that never read."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator

import pytest

from tests.support.hostile import closed_by_server, connect_from, websocket_handshake
from tests.support.live import Client
from tests.support.logs import append, first_entry, sample
from tests.support.waiting import wait_until
from webperf3.live import server as live_module
from webperf3.serving.hosts import AllowedHosts
from webperf3.live.server import LiveServer
from webperf3.store.results import ResultsStore
from tests.support.parts import board_of

PORT = 5201


def named(name: str, size: int = 0) -> bytes:
    """A real iperf3 entry under another name, padded to ``size`` characters."""
    entry = first_entry(sample("extra_data"))
    return entry.replace(b'"Room 101"', json.dumps(name.ljust(size, "x")).encode())


@pytest.fixture
def make_live(store: ResultsStore) -> Iterator[Callable[..., LiveServer]]:
    started: list[LiveServer] = []

    def make(**options) -> LiveServer:
        options.setdefault("board", board_of(store, ports=options.get("ports", lambda: []), readonly=True))
        server = LiveServer(store, port=0, **options)
        started.append(server)
        server.start()
        return server

    yield make
    for server in started:
        server.stop()


def test_a_client_that_does_not_read_is_dropped_and_the_others_get_everything(make_live, log_dir, caplog) -> None:
    caplog.set_level(logging.INFO, "webperf3.live")
    live = make_live()
    reader = Client(live.port)
    reader.next_of("snapshot")
    stuck = []
    for source in ("127.0.0.2", "127.0.0.3"):
        status, sock = websocket_handshake(live.port, source=source, rcvbuf=4096)
        assert status == 101
        stuck.append(sock)
    assert wait_until(lambda: live.clients == 3, 5)
    try:
        names = [f"test {i}" for i in range(40)]
        seen: list[str] = []
        for name in names:  # 40 results of 60 kB: 2.4 MB each client must take
            append(log_dir / f"port-{PORT}.json", named(name, 60_000))
            while len(seen) < names.index(name) + 1:
                message = reader.next_of("results", timeout=10)
                seen += [r["name"].rstrip("x") for r in message["results"]]
        assert seen == names  # in order, none lost
        assert wait_until(lambda: live.clients == 1, 10)  # both non-readers let go
        assert all(closed_by_server(sock, 2) for sock in stuck)
    finally:
        reader.close()
        for sock in stuck:
            sock.close()
    assert "dropped websocket client 127.0.0.2:" in caplog.text and "not reading" in caplog.text


def test_a_dropped_page_reconnects_to_a_snapshot(make_live, store, log_dir) -> None:
    live = make_live()
    status, sock = websocket_handshake(live.port, rcvbuf=4096)
    assert status == 101
    assert wait_until(lambda: live.clients == 1, 5)
    before = len(store.results())
    for i in range(40):
        append(log_dir / f"port-{PORT}.json", named(f"burst {i}", 60_000))
        # One test read at a time, as a station sees them: 40 messages of
        # 60 kB for a page that reads none (a batch would be one message).
        assert wait_until(lambda: len(store.results()) == before + i + 1, 10)
    # Not a byte read until the server has let go: reading here would make
    # this page a reader, and under load the burst may still be on its way.
    assert wait_until(lambda: live.clients == 0, 30)
    assert closed_by_server(sock, 5)
    sock.close()
    again = Client(live.port)
    try:
        # A snapshot first, current as of now (the watcher may still be reading
        # the burst), then the rest of the burst as it is read: the page catches up.
        latest = again.next_of("snapshot")["rows"][0]["latest"]["name"]
        deadline = time.monotonic() + 20
        while not latest.startswith("burst 39") and time.monotonic() < deadline:
            message = again.next(timeout=max(0.1, deadline - time.monotonic()))
            if message["type"] in ("snapshot", "results"):
                latest = message["rows"][0]["latest"]["name"]
        assert latest.startswith("burst 39")
    finally:
        again.close()


def test_websocket_connections_per_client_are_capped(make_live, caplog) -> None:
    caplog.set_level(logging.INFO, "webperf3.live")
    live = make_live(max_connections_per_client=3)
    sockets = []
    for _ in range(5):
        sockets.append(connect_from("127.0.0.2", live.port))
        wait_until(lambda: live.connections_of("127.0.0.2") == min(len(sockets), 3), 2, what="the connection counted")
    try:
        # Never more than 3; none of these finished a handshake, so each new
        # one took the place of the oldest (a page that reads is never dropped:
        # tests/live/test_outbox.py).
        assert [closed_by_server(s, 0.5) for s in sockets] == [True, True, False, False, False]
        other = Client(live.port)  # 127.0.0.1 is another client
        assert other.next_of("snapshot")["type"] == "snapshot"
        other.close()
    finally:
        for sock in sockets:
            sock.close()
    assert "dropped a websocket connection from 127.0.0.2 that was not reading" in caplog.text


def test_an_idle_socket_is_closed_after_the_handshake_deadline(make_live, monkeypatch) -> None:
    monkeypatch.setattr(live_module, "OPEN_TIMEOUT_S", 0.5)
    live = make_live()
    with connect_from("127.0.0.2", live.port) as sock:
        assert closed_by_server(sock, 3)


@pytest.mark.parametrize(
    ("host", "origin", "status"),
    [
        ("rebind.evil.example", "http://rebind.evil.example", 403),
        ("rebind.evil.example:8765", None, 403),
        ("127.0.0.1:8765", "http://127.0.0.1:8080", 101),
        ("pi.lan:8765", "http://pi.lan:8080", 101),
        ("localhost:8765", None, 101),
    ],
)
def test_the_handshake_checks_host(make_live, host: str, origin: str | None, status: int) -> None:
    live = make_live(allowed_host=AllowedHosts(["pi.lan"]))
    got, sock = websocket_handshake(live.port, host=host, origin=origin)
    sock.close()
    assert got == status
