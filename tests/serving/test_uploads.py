"""A floor plan's picture is the one big body the web server takes: up to
the plan's cap on its own two routes, refused unread beyond it with words
people read, while every other route keeps the small JSON cap."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import images
from tests.support.hostile import connect_from, read_all, status_of
from tests.support.parts import app_of
from webperf3.serving.guard import Guard
from webperf3.serving.httpserver import HttpLimits, WebServer
from webperf3.store.results import ResultsStore


@pytest.fixture
def station(log_dir) -> Iterator[WebServer]:
    server = WebServer(Guard(app_of(ResultsStore(log_dir))), "127.0.0.1", 0, threads=2, limits=HttpLimits())
    server.start()
    yield server
    server.stop()


def _post(path: str, body: bytes, length: int | None = None) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\nConnection: close\r\n"
        f"Content-Length: {len(body) if length is None else length}\r\n\r\n"
    ).encode() + body


def test_a_plan_bigger_than_the_json_cap_is_taken(station: WebServer) -> None:
    picture = images.png(2000, 1500, (200, 10, 10)) + b"\x00" * 200_000  # past IEND: still the PNG
    with connect_from("127.0.0.1", station.port) as sock:
        sock.sendall(_post("/api/plans?name=Floor", picture))
        response = read_all(sock)
    assert status_of(response) == 201, response[:400]


def test_a_plan_over_the_cap_is_refused_before_its_body_is_sent(station: WebServer) -> None:
    # 30 MB announced, nothing sent: the answer comes without waiting for it.
    with connect_from("127.0.0.1", station.port) as sock:
        sock.sendall(_post("/api/plans?name=Floor", b"", length=30_000_000))
        response = read_all(sock)
    assert status_of(response) == 413
    assert b"the plan is 30.0 MB: at most 20 MB are kept" in response


def test_other_routes_keep_the_small_cap(station: WebServer) -> None:
    with connect_from("127.0.0.1", station.port) as sock:
        sock.sendall(_post("/api/place", b"", length=100_000))
        response = read_all(sock)
    assert status_of(response) == 413 and b"20 MB" not in response
