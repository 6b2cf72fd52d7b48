"""Live push: a real LiveServer, real websocket clients, real logs and a real iperf3."""

from __future__ import annotations

import json
import logging
import math
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator

import pytest
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK, InvalidStatus

from tests.support.live import Client
from tests.support.logs import append, first_entry, install, sample
from tests.support.ports import free_port
from tests.support.waiting import wait_until
from webperf3.iperf3.reader.entries import parse_entry
from webperf3.serving.hosts import origin_allowed
from webperf3.live.server import LiveServer
from webperf3.live.watch import is_log
from webperf3.live.messages import encode, results_message, servers_message, snapshot_message
from webperf3.board.join import Board
from webperf3.board.leasing import Leases
from webperf3.survey import SurveyBook
from webperf3.store.record import Result
from webperf3.store.results import ResultsStore
from tests.support.parts import board_of
from watchfiles import Change

PORT = 5201


def room(name: bytes) -> bytes:
    """The "Room 101" test entry, renamed: a real iperf3 entry, a new name."""
    entry = first_entry(sample("extra_data"))
    assert b'"Room 101"' in entry
    return entry.replace(b'"Room 101"', b'"' + name + b'"')


# -- fixtures ---------------------------------------------------------------------


@pytest.fixture
def book(store: ResultsStore) -> Iterator[SurveyBook]:
    opened = SurveyBook.open(store.log_dir)
    yield opened
    opened.close()


@pytest.fixture
def make_live(store: ResultsStore, book: SurveyBook) -> Iterator[Callable[..., LiveServer]]:
    started: list[LiveServer] = []

    def make(**options) -> LiveServer:
        options.setdefault("port", 0)
        store_ = options.pop("store", store)
        if store_ is store:
            options.setdefault("board", Board(store, book, options.get("ports", lambda: [])))
        else:
            options.setdefault("board", board_of(store_, ports=options.get("ports", lambda: []), readonly=True))
        server = LiveServer(store_, **options)
        started.append(server)
        server.start()
        return server

    try:
        yield make
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def live(make_live) -> LiveServer:
    return make_live()


@pytest.fixture
def client_for() -> Iterator[Callable[..., Client]]:
    clients: list[Client] = []

    def connect(server: LiveServer, **options) -> Client:
        client = Client(server.port, **options)
        clients.append(client)
        return client

    try:
        yield connect
    finally:
        for client in clients:
            client.close()


@pytest.fixture
def client(live, client_for) -> Client:
    return client_for(live)


# -- pure pieces ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("origin", "host", "allowed"),
    [
        (None, "127.0.0.1:8765", True),  # a script: no Origin
        (None, None, True),
        ("http://127.0.0.1:8080", "127.0.0.1:8765", True),  # ports differ: fine
        ("http://PI.Local:8080", "pi.local:8765", True),  # case-insensitive
        ("http://[::1]:8080", "[::1]:8765", True),
        ("http://evil.example", "127.0.0.1:8765", False),
        ("http://localhost:8080", "127.0.0.1:8765", False),  # not the same name
        ("http://127.0.0.1.evil.example", "127.0.0.1:8765", False),
        ("null", "127.0.0.1:8765", False),  # a sandboxed frame or a file
        ("http://127.0.0.1:8080", None, False),
        ("http://[::1", "[::1]:8765", False),  # unparsable
    ],
)
def test_origin_allowed(origin, host, allowed) -> None:
    assert origin_allowed(origin, host) is allowed


def test_messages_are_json_with_a_type() -> None:
    result = Result(port=PORT, time=1.0, name="<b>x</b>", upload_bps=math.nan)
    row = {"port": PORT, "latest": None, "failure": None, "tests": 0, "excluded": 0}
    results = json.loads(encode(results_message([result.to_dict()], [row], 7)))
    assert results == {
        "type": "results",
        "results": [{**result.to_dict(), "upload_bps": None}],  # never NaN, which is not JSON
        "rows": [row],
        "generation": 7,
    }
    state = {"rows": [row], "survey": None, "generation": 3, "book_version": 1, "can_undo": True}
    snapshot = json.loads(encode(snapshot_message(state, [{"port": PORT}])))
    assert snapshot == {"type": "snapshot", **state, "servers": [{"port": PORT}], "problems": []}
    assert json.loads(encode(servers_message([]))) == {"type": "servers", "servers": [], "problems": []}
    # What may be losing tests, grouped by message (webperf3/ops/health.py), for the page's banner.
    full = {"problem_kind": "disk", "problem": "the disk is full"}
    assert json.loads(encode(servers_message([{"port": 5201, **full}, {"port": 5202, **full}])))["problems"] == [
        {"kind": "disk", "message": "the disk is full", "ports": [5201, 5202], "losing": True}
    ]


def test_only_port_logs_are_watched() -> None:
    assert is_log(Change.modified, "/logs/port-5201.json")
    assert not is_log(Change.modified, "/logs/.webperf3-state.json")
    assert not is_log(Change.added, "/logs/.webperf3-state.jsonabc.tmp")
    assert not is_log(Change.added, "/logs/port-5201.json.bak")


# -- connecting ---------------------------------------------------------------------------


def test_connect_gets_a_snapshot(live, client_for, store, caplog) -> None:
    caplog.set_level(logging.INFO, logger="webperf3.live")
    client = client_for(live)
    message = client.next()
    assert message["type"] == "snapshot"
    assert [row["port"] for row in message["rows"]] == [PORT]
    assert message["rows"][0]["latest"]["name"] == "Room 101"
    assert message["generation"] == store.generation
    assert message["servers"] == [] and message["can_undo"] is False
    assert wait_until(lambda: live.clients == 1)
    assert wait_until(lambda: any("connected (1 clients)" in r.getMessage() for r in caplog.records))
    client.close()
    assert wait_until(lambda: any("disconnected (0 clients)" in r.getMessage() for r in caplog.records))


def test_a_page_that_reconnects_in_a_loop_writes_one_journal_line_a_minute(make_live, client_for, caplog) -> None:
    caplog.set_level(logging.INFO, logger="webperf3.live")
    live = make_live()
    for _ in range(30):  # a page reconnecting as fast as it can
        client = client_for(live)
        assert client.next()["type"] == "snapshot"
        client.close()
        wait_until(lambda: live.clients == 0, what="the client let go")
    lines = [r.getMessage() for r in caplog.records if "connected (" in r.getMessage()]
    assert len([m for m in lines if " connected (" in m and "disconnected" not in m]) == 1, lines
    assert len([m for m in lines if "disconnected (" in m]) == 1, lines


def test_snapshot_includes_fleet_ports_and_servers(make_live, client_for) -> None:
    fleet = [{"port": 5202, "state": "idle"}]
    live = make_live(servers=lambda: fleet, ports=lambda: [5202])
    message = client_for(live).next()
    assert [row["port"] for row in message["rows"]] == [PORT, 5202]
    assert message["rows"][1]["latest"] is None
    assert message["servers"] == fleet and message["can_undo"] is False
    assert message["survey"]["name"] == "First survey"


# -- appends ----------------------------------------------------------------------------------


def test_appended_entry_arrives_with_its_row(log_dir, live, client) -> None:
    client.next()  # snapshot
    log = log_dir / f"port-{PORT}.json"
    offset = log.stat().st_size
    entry = room(b"Room 102")
    append(log, entry)
    message = client.next_of("results", timeout=5)
    expected = parse_entry(entry, PORT, offset)
    # iperf3's figures, and what the survey book adds: the place, where it came from, the survey, the id.
    assert message["results"] == [{
        **expected.to_dict(), "id": f"{PORT}-{expected.cookie}", "place": "Room 102", "place_source": "client",
        "survey": message["results"][0]["survey"], "excluded": False,
    }]
    assert message["results"][0]["survey"] is not None
    [row] = message["rows"]
    assert row["port"] == PORT and row["tests"] == 2
    assert row["latest"]["name"] == "Room 102"
    assert row["latest"]["upload_bps"] == expected.upload_bps > 0
    assert client.quiet(0.3) == []  # one append, one message


def test_half_an_entry_waits_for_the_rest(log_dir, live, client) -> None:
    client.next()
    log = log_dir / f"port-{PORT}.json"
    entry = room(b"Half way")
    cut = len(entry) // 2
    append(log, entry[:cut])
    assert client.quiet(0.6) == []
    append(log, entry[cut:])
    message = client.next(timeout=5)
    assert message["type"] == "results"
    assert [r["name"] for r in message["results"]] == ["Half way"]
    assert client.quiet(0.4) == []


def test_new_port_file_is_picked_up(log_dir, live, client) -> None:
    client.next()
    install(log_dir, 5209, sample("udp"))
    message = client.next_of("results", timeout=5)
    assert [r["port"] for r in message["results"]] == [5209]
    assert message["results"][0]["protocol"] == "UDP"
    assert [row["port"] for row in message["rows"]] == [5209]


def test_log_dir_created_after_start(tmp_path, make_live, client_for) -> None:
    later = tmp_path / "later"
    store = ResultsStore(later)
    live = make_live(store=store)
    client = client_for(live)
    assert client.next()["rows"] == []
    later.mkdir()
    append(later / "port-5301.json", room(b"Late"))
    message = client.next_of("results", timeout=5)
    assert [r["name"] for r in message["results"]] == ["Late"]


def test_force_polling_sees_appends(log_dir, make_live, client_for) -> None:
    live = make_live(force_polling=True)  # for logs on a network filesystem
    client = client_for(live)
    client.next()
    append(log_dir / f"port-{PORT}.json", room(b"Polled"))
    message = client.next_of("results", timeout=5)
    assert [r["name"] for r in message["results"]] == ["Polled"]


def empty_snapshot(client, timeout: float = 5) -> dict:
    """The first snapshot with no rows. A snapshot already on its way when
    the logs went (the watcher's own first look, say) may still hold them;
    the page must then get one without them."""
    deadline = time.monotonic() + timeout
    while (message := client.next_of("snapshot", timeout=max(0.01, deadline - time.monotonic())))["rows"]:
        pass
    return message


def test_replaced_log_dir_is_watched_again(log_dir, live, client) -> None:
    client.next()
    shutil.rmtree(log_dir)
    assert empty_snapshot(client)["rows"] == []
    log_dir.mkdir()
    append(log_dir / "port-5202.json", room(b"First"))
    # Found by the rescan that notices the new directory (about a second).
    message = client.next(timeout=5)
    assert message["rows"][0]["latest"]["name"] == "First"
    client.quiet(0.3)
    append(log_dir / "port-5202.json", room(b"Second"))
    message = client.next_of("results", timeout=5)
    assert [r["name"] for r in message["results"]] == ["Second"]


def test_someone_elses_refresh_does_not_hide_an_append(log_dir, live, client, store) -> None:
    # A web request may refresh the store and read the append first: the
    # store tells the live push, so clients still get it as a result.
    client.next()
    append(log_dir / f"port-{PORT}.json", room(b"Stolen"))
    store.refresh()
    message = client.next_of("results", timeout=5)
    assert [r["name"] for r in message["results"]] == ["Stolen"]
    assert client.quiet(0.3) == []  # and only once


def test_real_iperf3_test_arrives(log_dir, live, client) -> None:
    client.next()
    port = free_port()
    log = log_dir / f"port-{port}.json"
    with log.open("ab") as out:
        server = subprocess.Popen(
            ["iperf3", "--server", "--json", "--port", str(port)], stdout=out, stderr=subprocess.DEVNULL
        )
    try:
        run_iperf3_client(port, "live-test")
        message = client.next_of("results", timeout=10)
        assert [r["name"] for r in message["results"]] == ["live-test"]
        assert message["results"][0]["upload_bps"] > 0
        [row] = message["rows"]
        assert row["port"] == port and row["latest"]["name"] == "live-test"
    finally:
        server.terminate()
        server.wait(5)
    # The server appends its termination record: not a test, so no result.
    assert wait_until(lambda: b"the server has terminated" in log.read_bytes(), timeout=2)
    later = client.quiet(1.0)
    assert not [m for m in later if m["type"] == "results" and m["results"]]


def run_iperf3_client(port: int, name: str) -> None:
    iperf3 = shutil.which("iperf3")
    assert iperf3, "iperf3 is not installed"
    deadline = time.monotonic() + 10
    while True:  # until the server listens
        done = subprocess.run(
            [iperf3, "-c", "127.0.0.1", "-p", str(port), "-t", "1", "--extra-data", name],
            capture_output=True,
            timeout=20,
        )
        if done.returncode == 0:
            return
        assert time.monotonic() < deadline, done.stderr.decode(errors="replace")
        time.sleep(0.1)


# -- resets and pushes ------------------------------------------------------------------------


def test_truncated_log_sends_a_snapshot(log_dir, live, client) -> None:
    client.next()
    (log_dir / f"port-{PORT}.json").write_bytes(b"")
    message = client.next_of("snapshot", timeout=5)
    [row] = message["rows"]
    assert row["port"] == PORT and row["latest"] is None and row["failure"] is None and row["tests"] == 0


def test_deleted_log_sends_a_snapshot(log_dir, live, client) -> None:
    client.next()
    (log_dir / f"port-{PORT}.json").unlink()
    assert empty_snapshot(client)["rows"] == []


def test_a_place_named_pushes_only_its_small_message(live, client_for, book) -> None:
    """A place named from a browser changes no row (it labels tests that
    start from now on): every page gets the change, and no snapshot."""
    c = client_for(live)
    assert c.next()["type"] == "snapshot"
    for n in range(20):  # devices naming places in a loop
        book.claim(f"10.0.0.{n + 1}", f"Room {n}")
    arrived = c.quiet(1.0)
    assert [m["type"] for m in arrived] == ["book"] * 20
    assert all(m["kind"] == "claim" for m in arrived)


def test_a_burst_of_book_changes_costs_each_page_a_few_snapshots_the_latest_state_winning(live, client_for, book) -> None:
    c = client_for(live)
    assert c.next()["type"] == "snapshot"
    for n in range(30):
        book.start(f"Floor {n}")
    arrived = c.quiet(1.5)
    assert [m["kind"] for m in arrived if m["type"] == "book"] == ["start"] * 30
    snapshots = [m for m in arrived if m["type"] == "snapshot"]
    assert 1 <= len(snapshots) <= 4, len(snapshots)  # was: one per change
    assert snapshots[-1]["survey"]["name"] == "Floor 29"


def test_pushes_from_another_thread_reach_every_client(live, client_for, book) -> None:
    clients = [client_for(live), client_for(live)]
    for c in clients:
        assert c.next()["type"] == "snapshot"
    fleet = [{"port": PORT, "state": "testing", "client": "10.0.0.7"}]
    book.start("Floor 2")  # what "New survey" does: the book tells the live push
    for c in clients:
        change = c.next_of("book", timeout=5)
        assert change["kind"] == "start" and change["survey"]["name"] == "Floor 2"
        started = c.next_of("snapshot", timeout=5)
        assert started["rows"][0]["latest"] is None and started["can_undo"] is True
        assert started["survey"]["name"] == "Floor 2"
    pusher = threading.Thread(target=lambda: (live.push_servers(fleet), live.push_snapshot()))
    pusher.start()
    pusher.join()
    for c in clients:
        assert c.next() == {"type": "servers", "servers": fleet, "problems": []}
        snapshot = c.next()
        assert snapshot["type"] == "snapshot"
        [row] = snapshot["rows"]
        assert row["latest"] is None and snapshot["survey"]["name"] == "Floor 2"


def test_a_new_holder_of_a_port_and_an_expired_lease_reach_every_client(store, book, make_live, client_for) -> None:
    board = Board(store, book, lambda: [PORT, PORT + 1])
    board.leases = Leases(store, board.ports, ttl=1.0)  # runs out on the live push's tick
    live = make_live(board=board)
    clients = [client_for(live), client_for(live)]
    for c in clients:
        assert c.next()["type"] == "snapshot"
    answer = board.leases.lease("0123abcd0123abcd", "10.0.0.5", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Safari/604.1", [])
    for c in clients:
        message = c.next_of("leases")
        assert message["ports"] == [{"port": answer["port"], "holder": answer["holder"], "address": "10.0.0.5", "device": "iPhone, Safari"}]
        assert "0123abcd" not in json.dumps(message)  # no page learns another device's id
    for c in clients:
        assert c.next_of("leases", timeout=5)["ports"] == []  # not renewed: ended within a tick


# -- refusing and limits ------------------------------------------------------------------------


def test_foreign_origin_is_refused(live, client_for) -> None:
    with pytest.raises(InvalidStatus) as refused:
        client_for(live, origin="http://evil.example:8080")
    assert refused.value.response.status_code == 403
    assert client_for(live, origin="http://127.0.0.1:8080").next()["type"] == "snapshot"
    assert client_for(live).next()["type"] == "snapshot"  # no Origin at all


def test_healthz_and_unknown_paths(live) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{live.port}/healthz", timeout=5) as response:
        assert response.status == 200
        assert response.read() == b"ok"
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"http://127.0.0.1:{live.port}/nope", timeout=5)
    missing.value.close()
    assert missing.value.code == 404


def test_connection_cap(make_live, client_for) -> None:
    live = make_live(max_clients=2)
    first, second = client_for(live), client_for(live)
    first.next(), second.next()
    with pytest.raises(InvalidStatus) as refused:
        client_for(live)
    assert refused.value.response.status_code == 503
    first.close()
    assert wait_until(lambda: live.clients == 1)
    # The place is free again once the server saw the connection end.
    assert wait_until(lambda: _connects(live, client_for), timeout=3)


def _connects(live: LiveServer, client_for) -> bool:
    try:
        client_for(live).next()
    except InvalidStatus:
        return False
    return True


def test_oversized_message_closes_only_that_connection(make_live, client_for) -> None:
    live = make_live(max_message_bytes=1024)
    big, other = client_for(live), client_for(live)
    big.next(), other.next()
    big.send("hello")  # small messages are read and ignored
    big.send("x" * 2000)
    with pytest.raises(ConnectionClosedError) as closed:
        big.next(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    live.push_servers([])
    assert other.next() == {"type": "servers", "servers": [], "problems": []}


# -- start and stop ------------------------------------------------------------------------------


def live_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "webperf3-live"]


def test_stop_closes_clients_with_going_away(live, client_for) -> None:
    clients = [client_for(live), client_for(live)]
    for c in clients:
        c.next()
    live.stop()
    for c in clients:
        with pytest.raises(ConnectionClosedOK) as closed:
            c.next(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    assert live_threads() == []
    live.stop()  # idempotent
    with pytest.raises(OSError):  # nothing listens any more
        urllib.request.urlopen(f"http://127.0.0.1:{live.port}/healthz", timeout=2)


def test_restart_keeps_the_port(live, client_for) -> None:
    port = live.port
    live.stop()
    live.start()
    assert live.port == port
    assert client_for(live).next()["type"] == "snapshot"


def test_start_on_a_busy_port_raises(store) -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        server = LiveServer(store, port=busy.getsockname()[1], board=board_of(store, readonly=True))
        with pytest.raises(OSError):
            server.start()
        server.stop()  # nothing to stop: fine
    assert wait_until(lambda: live_threads() == [], timeout=2)
