"""'This device': the port a phone should use, the address it reaches the
station by, and the QR code of HOST:PORT."""

from __future__ import annotations

from pathlib import Path

import pytest
from webtest import TestApp

from webperf3.store.record import Result
from webperf3.store.results import PortRow, ResultsStore
from webperf3.web.device import station_host, suggest_port
from tests.support.parts import app_of, dashboard_of

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


# -- a port of one's own ------------------------------------------------------------------

IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
ANDROID = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36"


@pytest.fixture
def idle_app(tmp_path: Path) -> TestApp:
    """A station with four idle iperf3 servers and no test yet."""
    store = ResultsStore(tmp_path)
    servers = [{"port": p, "state": "idle"} for p in (5201, 5202, 5203, 5204)]
    dash = dashboard_of(store, servers=lambda: servers, ports=lambda: [5201, 5202, 5203, 5204])
    app = TestApp(dash.app, extra_environ={"HTTP_HOST": "192.168.1.20:8080"})
    app.dash = dash  # type: ignore[attr-defined]
    return app


def from_(address: str, agent: str = IPHONE) -> dict:
    return {"extra_environ": {"REMOTE_ADDR": address}, "headers": {"User-Agent": agent}}


def test_a_phone_and_a_laptop_that_open_the_page_before_any_test_get_two_ports(idle_app: TestApp) -> None:
    phone = idle_app.get("/api/device?device=phone0001", **from_("192.168.1.77")).json
    laptop = idle_app.get("/api/device?device=laptop001", **from_("192.168.1.78", ANDROID)).json
    assert phone["port"] != laptop["port"]
    assert phone["lease"]["port"] == phone["port"] and laptop["lease"]["port"] == laptop["port"]
    assert phone["lease"]["reason"] is None and phone["lease"]["ttl"] == 90 and phone["lease"]["heartbeat"] == 30


def test_the_heartbeat_renews_the_same_port(idle_app: TestApp) -> None:
    first = idle_app.get("/api/device?device=phone0001", **from_("192.168.1.77")).json["lease"]
    again = idle_app.post_json("/api/device/lease", {"device": "phone0001"}, **from_("192.168.1.77")).json
    assert again["port"] == first["port"] and again["expires"] >= first["expires"]
    assert again["holder"] == first["holder"] and "phone0001" not in str(again)


def test_a_heartbeat_with_no_lease_yet_leases_a_port(idle_app: TestApp) -> None:
    answer = idle_app.post_json("/api/device/lease", {"device": "phone0001"}, **from_("192.168.1.77")).json
    assert answer["port"] in (5201, 5202, 5203, 5204)


def test_every_port_taken_says_so_and_who_holds_each(idle_app: TestApp) -> None:
    for i in range(4):
        idle_app.get(f"/api/device?device=dev{i}", **from_(f"192.168.1.{80 + i}", ANDROID))
    answer = idle_app.get("/api/device?device=late0001", **from_("192.168.1.77")).json
    assert answer["port"] is None and answer["lease"]["port"] is None
    assert answer["lease"]["reason"].startswith("every port is taken: 5201 by 192.168.1.80 (Android phone, Chrome)")
    assert [(h["port"], h["address"], h["device"]) for h in answer["lease"]["holders"]] == [
        (5200 + i + 1, f"192.168.1.{80 + i}", "Android phone, Chrome") for i in range(4)
    ]


def test_a_flood_of_made_up_ids_from_one_address_leaves_ports_for_real_pages(idle_app: TestApp) -> None:
    got = [idle_app.post_json("/api/device/lease", {"device": f"fake{i}"}, **from_("192.168.1.66", "curl/8.5")).json["port"] for i in range(200)]
    assert sum(p is not None for p in got) == 2
    assert idle_app.get("/api/device?device=phone0001", **from_("192.168.1.77")).json["port"] is not None
    assert idle_app.get("/api/device?device=phone0002", **from_("192.168.1.78")).json["port"] is not None


def test_a_released_port_goes_to_the_next_device_at_once(idle_app: TestApp) -> None:
    for i in range(4):
        idle_app.get(f"/api/device?device=dev{i}", **from_(f"192.168.1.{80 + i}"))
    port = idle_app.get("/api/device?device=dev2", **from_("192.168.1.82")).json["port"]
    assert idle_app.post_json("/api/device/lease", {"device": "dev2", "release": True}, **from_("192.168.1.82")).json == {"released": True}
    assert idle_app.post_json("/api/device/lease", {"device": "late0001"}, **from_("192.168.1.77")).json["port"] == port
    assert idle_app.post_json("/api/device/lease", {"device": "dev2", "release": True}, **from_("192.168.1.82")).json == {"released": False}


def test_a_script_with_no_id_gets_a_port_no_device_holds(idle_app: TestApp) -> None:
    held = idle_app.get("/api/device?device=phone0001", **from_("192.168.1.77")).json["port"]
    script = idle_app.get("/api/device", **from_("192.168.1.90", "curl/8.5")).json
    assert script["lease"] is None and script["port"] not in (None, held)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({}, "'device' is required"),
        ({"device": 7}, "bad 'device' field a number"),
        ({"device": None}, "bad 'device' field null"),
        ({"device": ""}, "bad 'device' field ''"),
        ({"device": "x" * 65}, "bad 'device' field"),
        ({"device": "<b>é</b>"}, "bad 'device' field"),
        ({"device": "phone0001", "port": 5201}, "unknown field(s) ['port']"),
        ({"device": "phone0001", "release": "yes"}, "'release' must be true or false"),
    ],
)
def test_a_bad_lease_request_is_a_400_naming_the_field(idle_app: TestApp, body: dict, says: str) -> None:
    answer = idle_app.post_json("/api/device/lease", body, status=400, **from_("192.168.1.77"))
    assert says in answer.json["error"]
    assert idle_app.dash.board.leases.held() == set()


def test_a_lease_request_that_is_not_json_is_a_400(idle_app: TestApp) -> None:
    answer = idle_app.post("/api/device/lease", b"device=x", content_type="application/json", status=400, **from_("192.168.1.77"))
    assert "not valid JSON" in answer.json["error"]


@pytest.mark.parametrize("query", ["?device=a%20b", "?device=" + "x" * 65, "?device=%FF"])
def test_a_bad_device_parameter_is_a_400_naming_it(idle_app: TestApp, query: str) -> None:
    assert "device" in idle_app.get(f"/api/device{query}", status=400, **from_("192.168.1.77")).json["error"]


def test_another_site_cannot_hold_a_port_in_a_visitor_s_name(idle_app: TestApp) -> None:
    options = from_("192.168.1.77")
    options["headers"]["Origin"] = "http://evil.example"
    idle_app.post_json("/api/device/lease", {"device": "phone0001"}, status=403, **options)
    options["headers"] = {"Referer": "http://evil.example/page"}
    idle_app.get("/api/device?device=phone0001", status=403, **options)


def test_a_place_another_device_at_this_address_named_is_shown_as_theirs(idle_app: TestApp) -> None:
    idle_app.post_json("/api/place", {"name": "Storage room", "device": "phone0001"}, **from_("192.168.1.77"))
    mine = idle_app.get("/api/device?device=phone0001", **from_("192.168.1.77")).json
    assert (mine["place"], mine["place_mine"], mine["place_named_by"]) == ("Storage room", True, None)
    other = idle_app.get("/api/device?device=phone0002", **from_("192.168.1.77", ANDROID)).json
    assert (other["place"], other["place_mine"], other["place_named_by"]) == ("Storage room", False, "iPhone, Safari")
    script = idle_app.get("/api/device", **from_("192.168.1.77", "curl/8.5")).json
    assert (script["place"], script["place_mine"]) == ("Storage room", None)

