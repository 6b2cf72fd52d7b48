"""'This device': the port a phone should use, the address it reaches the
station by, and the QR code of HOST:PORT."""

from __future__ import annotations

from pathlib import Path

import pytest
from webtest import TestApp

from webperf3.store.record import Result
from webperf3.store.results import PortRow, ResultsStore
from webperf3.web.device import station_host, suggest_port
from tests.support.parts import app_of

NOW = 1_800_000_000.0


def row(port: int, client: str, age: float, ok: bool = True) -> PortRow:
    r = Result(port=port, time=NOW - age, client=client, error=None if ok else "boom")
    return PortRow(port, r if ok else None, None if ok else r)


def test_a_device_keeps_the_port_it_used_last() -> None:
    rows = {5201: row(5201, "10.0.0.5", 60), 5202: row(5202, "10.0.0.9", 30)}
    assert suggest_port([5201, 5202, 5203], {}, rows, "10.0.0.9", NOW) == 5202


def test_a_new_device_gets_a_port_nobody_used_lately() -> None:
    rows = {5201: row(5201, "10.0.0.5", 60), 5202: row(5202, "10.0.0.6", 3600)}
    assert suggest_port([5201, 5202, 5203], {}, rows, "10.0.0.9", NOW) == 5202


def test_a_busy_port_is_not_suggested_while_another_is_free() -> None:
    rows = {5201: row(5201, "10.0.0.9", 60)}
    states = {5201: "testing", 5202: "idle"}
    assert suggest_port([5201, 5202], states, rows, "10.0.0.9", NOW) == 5202


def test_every_port_busy_still_names_one_and_no_port_names_none() -> None:
    assert suggest_port([5201, 5202], {5201: "testing", 5202: "down"}, {}, "10.0.0.9", NOW) == 5201
    assert suggest_port([], {}, {}, "10.0.0.9", NOW) is None


@pytest.mark.parametrize(
    ("header", "host"),
    [
        ("192.168.1.20:8080", "192.168.1.20"),
        ("pi.local", "pi.local"),
        ("[fe80::1]:8080", "fe80::1"),
        ("PI.Local:80", "pi.local"),
        ("<script>:80", None),
        ("a b", None),
        ("", None),
    ],
)
def test_station_host_is_a_plain_name_or_address(header: str, host: str | None) -> None:
    assert station_host(header) == host


@pytest.fixture
def app(tmp_path: Path) -> TestApp:
    store = ResultsStore(tmp_path)
    servers = [{"port": 5201, "state": "testing"}, {"port": 5202, "state": "idle"}]
    return TestApp(
        app_of(store, servers=lambda: servers, ports=lambda: [5201, 5202]),
        extra_environ={"REMOTE_ADDR": "192.168.1.77", "HTTP_HOST": "192.168.1.20:8080"},
    )


def test_device_says_the_address_the_station_sees_and_a_free_port(app: TestApp) -> None:
    device = app.get("/api/device").json
    assert device["address"] == "192.168.1.77"
    assert device["host"] == "192.168.1.20"
    assert device["port"] == 5202
    assert [p["port"] for p in device["ports"]] == [5201, 5202]


def test_qr_code_is_an_svg_naming_host_and_port(app: TestApp) -> None:
    response = app.get("/qr.svg?port=5202")
    assert response.content_type == "image/svg+xml"
    assert b"<svg" in response.body and b"<title>192.168.1.20:5202</title>" in response.body


@pytest.mark.parametrize("query", ["", "?port=", "?port=0", "?port=70000", "?port=5202x", "?port=%FF"])
def test_qr_code_with_a_bad_port_is_a_400_naming_it(app: TestApp, query: str) -> None:
    response = app.get(f"/qr.svg{query}", status=400)
    assert "port" in response.json["error"]


def test_qr_code_refuses_a_host_it_would_not_put_in_a_command(app: TestApp) -> None:
    response = app.get("/qr.svg?port=5202", headers={"Host": "<b>evil</b>"}, status=400)
    assert "Host" in response.json["error"]
