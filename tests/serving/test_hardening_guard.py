"""The request guard (guard.py, hosts.py) around the real dashboard: what each
bad request gets. WSGI level with WebTest, and over real HTTP where the
bytes on the wire matter."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import json
import time
from pathlib import Path

import pytest
from webtest import TestApp

from tests.support.hostile import body_of, get, request, status_of
from tests.support.logs import install, sample
from webperf3.serving.clients import ConnectionBook, LogLimiter, client_key
from webperf3.serving.guard import DownloadSlots, FailureThrottle, Guard, GuardLimits
from webperf3.serving.hosts import AllowedHosts, host_name, machine_names
from webperf3.serving.httpserver import WebServer
from webperf3.store.results import ResultsStore
from tests.support.parts import dashboard_of

TOKEN = "s3cret"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(log_dir: Path) -> ResultsStore:
    install(log_dir, 5201, sample("extra_data"))
    return ResultsStore(log_dir)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def guarded(store: ResultsStore, clock: Clock) -> Guard:
    dashboard = dashboard_of(store, ports=lambda: [5201], admin_token=TOKEN)
    return Guard(dashboard.app, allowed_host=AllowedHosts(["pi.example"]), clock=clock)


@pytest.fixture
def app(guarded: Guard) -> TestApp:
    return TestApp(guarded, extra_environ={"HTTP_HOST": "192.168.1.20:8080", "REMOTE_ADDR": "192.168.1.50"})


# -- Host (DNS rebinding) -----------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    ["192.168.1.20:8080", "192.168.1.20", "[fe80::1]:8080", "[::1]", "localhost:8080", "LOCALHOST", "pi.localhost",
     "pi.example", "PI.EXAMPLE.:8080"],
)
def test_addresses_and_the_station_names_are_answered(app: TestApp, host: str) -> None:
    assert app.get("/api/latest", headers={"Host": host}).status_int == 200


@pytest.mark.parametrize("host", ["rebind.evil.example", "rebind.evil.example:8080", "pi.example.evil.example", "192.168.1.20.evil.example", "a b", "[::1", "x:notaport"])
def test_dns_rebinding_is_refused_with_a_message(app: TestApp, host: str) -> None:
    headers = {"Host": host, "Origin": f"http://{host}"}
    refused = app.post("/api/clear", headers={**headers, "X-Admin-Token": TOKEN}, status=403)
    assert "does not answer to the name" in refused.json["error"] and "--allowed-host" in refused.json["error"]
    page = app.get("/", headers=headers, status=403)
    assert page.content_type == "text/plain" and b"--allowed-host" in page.body
    app.get("/csv", headers=headers, status=403)


def test_health_and_metrics_answer_any_name(app: TestApp) -> None:
    assert app.get("/healthz", headers={"Host": "pi.lan"}).body == b"ok"


def test_no_host_is_not_a_browser_and_is_served(guarded: Guard) -> None:
    app = TestApp(guarded, extra_environ={"REMOTE_ADDR": "192.168.1.50"})
    assert app.get("/api/latest", extra_environ={"HTTP_HOST": ""}).status_int == 200


def test_allowed_hosts_configuration() -> None:
    hosts = AllowedHosts(["pi.lan", ".example.org"])
    assert hosts.allows("pi.lan") and hosts.allows("example.org") and hosts.allows("a.b.example.org:80")
    assert not hosts.allows("badexample.org") and not hosts.allows("pi.lan.evil")
    assert AllowedHosts(["*"]).allows("anything.at.all")
    assert {"localhost"} <= machine_names()
    assert all(AllowedHosts.for_this_machine().allows(name) for name in machine_names())
    assert host_name("[FE80::1%25wlan0]:80") is not None and host_name("a/b") is None


# -- headers that are not UTF-8, tokens that are not ASCII ---------------------------


@pytest.fixture
def server(guarded: Guard):
    web = WebServer(guarded, "127.0.0.1", 0, threads=2)
    web.start()
    yield web
    web.stop()


@pytest.mark.parametrize(
    "header",
    [b"X-Admin-Token: caf\xe9", b"X-Admin-Token: \xff\xfe", b"Authorization: Bearer \xe9t\xe9", b"Origin: http://caf\xe9",
     b"Referer: http://\xff/", b"Cookie: a=\xff", b"Accept-Language: \xff"],
)
def test_a_header_that_is_not_utf8_is_a_400_naming_it(server: WebServer, header: bytes) -> None:
    raw = b"POST /api/clear HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n" + header + b"\r\n\r\n"
    response = request(server.port, raw)
    assert status_of(response) == 400
    name = header.split(b":", 1)[0].decode()
    assert json.loads(body_of(response)) == {"error": f"{name} is not valid UTF-8", "status": 400}


def test_a_path_that_is_not_utf8_is_a_400(server: WebServer) -> None:
    assert status_of(request(server.port, get("/static/%ff%fe"))) == 400
    assert status_of(request(server.port, get("/api/%c3%28"))) == 400


@pytest.mark.parametrize("header", ["X-Admin-Token: café", "Authorization: Bearer café", "X-Admin-Token: a\tb"])
def test_a_token_that_is_not_printable_ascii_is_a_400(server: WebServer, header: str) -> None:
    raw = f"POST /api/clear HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n{header}\r\n\r\n".encode()
    response = request(server.port, raw)
    assert status_of(response) == 400
    assert "an admin token is printable ASCII" in json.loads(body_of(response))["error"]


def test_a_body_over_the_cap_is_a_413_at_wsgi_level_too(app: TestApp) -> None:
    refused = app.post("/api/clear", params=b"x" * 5000, headers={"X-Admin-Token": TOKEN}, status=413)
    assert "at most 4096 bytes" in refused.json["error"]


# -- wrong admin tokens ------------------------------------------------------------------


def clear(app: TestApp, token: str, client: str = "192.168.1.50", status: int | str = "*"):
    return app.post("/api/clear", headers={"X-Admin-Token": token}, extra_environ={"REMOTE_ADDR": client}, status=status)


def test_wrong_tokens_make_a_client_wait_longer_and_longer(app: TestApp, clock: Clock) -> None:
    for _ in range(4):
        assert clear(app, "guess").status_int == 403
    assert clear(app, "guess").status_int == 403  # the 5th: now it must wait 1 s
    waiting = clear(app, TOKEN, status=429)  # even the right token: no oracle
    assert waiting.headers["Retry-After"] == "1" and "too many wrong admin tokens" in waiting.json["error"]
    assert clear(app, "guess", client="192.168.1.51").status_int == 403  # others are not held up
    clock.now += 1.1
    assert clear(app, "guess").status_int == 403  # the 6th: 2 s
    clock.now += 1.1
    assert clear(app, TOKEN).status_int == 429
    clock.now += 1.0
    assert clear(app, TOKEN).status_int == 200  # and the count starts again
    assert clear(app, "guess").status_int == 403
    assert clear(app, "guess").status_int == 403


def test_requests_without_a_token_are_not_counted(app: TestApp) -> None:
    for _ in range(10):
        assert app.post("/api/clear", extra_environ={"REMOTE_ADDR": "192.168.1.52"}, status=401).status_int == 401
    assert clear(app, TOKEN, client="192.168.1.52").status_int == 200


def test_wrong_tokens_over_real_http_get_a_429_then_pass_after_the_wait(store: ResultsStore) -> None:
    dashboard = dashboard_of(store, ports=lambda: [5201], admin_token=TOKEN)
    web = WebServer(Guard(dashboard.app, limits=GuardLimits(admin_free_failures=3)), "127.0.0.1", 0, threads=2)
    web.start()
    try:
        def post(token: str, source: str = "127.0.0.2") -> bytes:
            raw = f"POST /api/clear HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\nX-Admin-Token: {token}\r\n\r\n"
            return request(web.port, raw.encode(), source=source)

        assert [status_of(post("nope")) for _ in range(3)] == [403, 403, 403]
        held = post(TOKEN)
        assert status_of(held) == 429 and b"Retry-After: 1\r\n" in held
        assert status_of(post(TOKEN, source="127.0.0.3")) == 200
        time.sleep(1.1)
        assert status_of(post(TOKEN)) == 200
    finally:
        web.stop()


# -- the pieces ----------------------------------------------------------------------


def test_failure_throttle_caps_the_wait_and_forgets() -> None:
    clock = Clock()
    throttle = FailureThrottle(free=2, first_delay=1, max_delay=8, forget_after=60, clock=clock)
    assert [throttle.failed("a") for _ in range(7)] == [0, 1, 2, 4, 8, 8, 8]
    clock.now += 61
    assert throttle.wait("a") == 0 and throttle.failed("a") == 0


def test_download_slots() -> None:
    slots = DownloadSlots(total=3, per_client=2)
    assert [slots.acquire("a") for _ in range(3)] == [True, True, False]
    assert slots.acquire("b") and not slots.acquire("c")
    slots.release("a")
    assert slots.acquire("c") and len(slots) == 3
    slots.release("zz")  # never held: harmless


def test_downloads_over_the_cap_get_a_503_until_one_ends(store: ResultsStore) -> None:
    guard = Guard(dashboard_of(store).app, limits=GuardLimits(downloads_total=4, downloads_per_client=2))
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/csv", "REMOTE_ADDR": "10.0.0.1", "wsgi.input": None, "SERVER_NAME": "x", "SERVER_PORT": "80", "wsgi.url_scheme": "http"}
    statuses: list[str] = []
    first = guard(dict(environ), lambda status, headers, exc=None: statuses.append(status))
    second = guard(dict(environ), lambda status, headers, exc=None: statuses.append(status))
    third = guard(dict(environ), lambda status, headers, exc=None: statuses.append(status))
    assert [s.split()[0] for s in statuses] == ["200", "200", "503"]
    first.close()
    guard(dict(environ), lambda status, headers, exc=None: statuses.append(status)).close()
    assert statuses[-1].startswith("200")
    second.close()
    del third


def test_changes_over_the_cap_get_a_503_at_once_and_reads_pass() -> None:
    """60 writers at once kept the dashboard's reads waiting behind them in
    the server's queue: past 2 changes under way per client (4 in all) a
    change is refused at once, so its thread is free in a millisecond."""
    entered, release = threading.Semaphore(0), threading.Event()

    def slow_app(environ, start_response):
        if environ["REQUEST_METHOD"] == "POST":
            entered.release()
            release.wait(10)  # a change waiting for the book's lock and its fsync
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b"{}"]

    guard = Guard(slow_app, limits=GuardLimits(changes_total=4, changes_per_client=2))
    base = {"PATH_INFO": "/api/surveys", "REMOTE_ADDR": "10.0.0.1", "SERVER_NAME": "x", "SERVER_PORT": "80", "wsgi.url_scheme": "http"}

    def call(method: str, address: str = "10.0.0.1") -> str:
        statuses: list[str] = []
        body = guard({**base, "REQUEST_METHOD": method, "REMOTE_ADDR": address}, lambda status, headers, exc=None: statuses.append(status))
        b"".join(body)
        return statuses[-1].split()[0]

    with ThreadPoolExecutor(4) as pool:
        held = [pool.submit(call, "POST") for _ in range(2)]
        assert entered.acquire(timeout=5) and entered.acquire(timeout=5)
        assert call("POST") == "503"  # a third from the same client, at once
        assert call("GET") == "200"  # reads are not counted
        other = pool.submit(call, "POST", "10.0.0.2")
        assert entered.acquire(timeout=5)  # another client still gets in
        release.set()
        assert [f.result(5) for f in held] == ["200", "200"] and other.result(5) == "200"
    assert call("POST") == "200"  # slots given back


@pytest.mark.parametrize(
    ("address", "key"),
    [("192.168.1.5", "192.168.1.5"), ("::ffff:192.168.1.5", "192.168.1.5"), ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
     ("fe80::1%wlan0", "fe80::/64"), (None, "?"), ("not-an-ip", "not-an-ip")],
)
def test_client_key(address: str | None, key: str) -> None:
    assert client_key(address) == key


def test_connection_book() -> None:
    book: ConnectionBook[str] = ConnectionBook(per_client=2, total=3)
    book.add("a", "a1", now=1)
    book.add("a", "a2", now=2)
    assert book.client_full("a") and not book.full()
    book.add("b", "b1", now=0)
    assert book.full() and book.heaviest() == ["a1", "a2"]
    book.remove("a", "a1")
    book.remove("a", "a1")  # twice: harmless
    assert len(book) == 2 and book.count("a") == 1


def test_log_limiter_sums_up_what_it_left_out(caplog) -> None:
    import logging

    clock = Clock()
    limiter = LogLimiter(logging.getLogger("test.limiter"), interval=60, clock=clock)
    caplog.set_level(logging.INFO, "test.limiter")
    assert limiter.log(logging.INFO, "x", "a", "one %s", "a")
    assert not limiter.log(logging.INFO, "x", "a", "one %s", "a")
    assert limiter.log(logging.INFO, "x", "b", "one %s", "b")
    clock.now += 61
    assert limiter.log(logging.INFO, "x", "a", "one %s", "a")
    assert caplog.messages == ["one a", "one b", "one a (1 more like this in the last 60 s)"]


def test_the_options_refuse_a_token_no_browser_can_send() -> None:
    from webperf3.cli.options import parse

    with pytest.raises(SystemExit):
        parse(["--admin-token", "café"])
    assert parse(["--admin-token", "ok-token", "--allowed-host", "pi.lan", "--allowed-host", ".example.org"])[1].allowed_host == ("pi.lan", ".example.org")
