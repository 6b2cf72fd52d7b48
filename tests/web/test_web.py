"""The dashboard's routes at WSGI level (WebTest), over real iperf3 3.12 logs."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import time
import urllib.request
from pathlib import Path

import pytest
from webob import Request
from webtest import TestApp

from tests.support.logs import install, sample
from tests.support.paths import ROOT
from webperf3.survey import SurveyBook
from webperf3.store.results import ResultsStore
from webperf3.serving.httpserver import WebServer
from tests.support.parts import app_of

HOSTILE = "<img src=x onerror=alert(1)>"
HOST = "dash.example:8080"  # what the browser put in Host
LOGS = {  # port → sample logs concatenated into port-P.json
    5201: ["tcp", "extra_data"],  # latest: "Room 101"
    5202: ["udp", "udp_reverse"],
    5203: ["bidir", "client_killed"],  # a failure newer than the success
}


def hostile_entry(name: str = HOSTILE) -> bytes:
    """The extra_data sample under another --extra-data, written as iperf3 does."""
    text = sample("extra_data").read_text(encoding="utf-8")
    return text.replace('"Room 101"', json.dumps(name)).encode()


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    path = tmp_path / "logs"
    path.mkdir()
    for port, names in LOGS.items():
        install(path, port, *map(sample, names))
    return path


@pytest.fixture
def store(logs: Path) -> ResultsStore:
    return ResultsStore(logs)


class Recorder:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1


@pytest.fixture
def changes() -> Recorder:
    return Recorder()


SERVERS = [
    {"port": 5201, "pid": 101, "state": "idle", "client": None, "testing_since": None, "started_at": 1.0, "restarts": 0, "last_exit": None, "version": "3.12"},
    {"port": 5204, "pid": 104, "state": "testing", "client": "192.0.2.7", "testing_since": 2.0, "started_at": 1.0, "restarts": 1, "last_exit": 1, "version": "3.12"},
]


@pytest.fixture
def app(store: ResultsStore, changes: Recorder) -> TestApp:
    wsgi = app_of(store, servers=lambda: SERVERS, ports=lambda: [5201, 5204], ws_port=8765, ws_path="/live", on_change=changes)
    return TestApp(wsgi, extra_environ={"HTTP_HOST": HOST})


def names(rows: list[dict]) -> dict[int, str | None]:
    return {row["port"]: (row["latest"] or {}).get("name") for row in rows}


# -- the page and static files ------------------------------------------------


def test_page_renders_with_the_websocket_port_and_path(app: TestApp) -> None:
    page = app.get("/")
    assert page.content_type == "text/html"
    assert page.html.find("meta", attrs={"name": "webperf3-ws-port"})["content"] == "8765"
    assert page.html.find("meta", attrs={"name": "webperf3-ws-path"})["content"] == "/live"
    check, script = page.html.find_all("script", src=True)
    # The load check, a classic script, first: it must see the module fail.
    assert check["src"].startswith("static/js/loadcheck.js") and not check.get("type")
    assert script["src"].startswith("static/js/dashboard.js") and script["type"] == "module"
    assert page.html.find("script", src=False) is None  # no inline script: the CSP forbids it
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "ws:" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Content-Type-Options"] == "nosniff"


def test_page_without_websocket_leaves_the_port_empty(store: ResultsStore) -> None:
    page = TestApp(app_of(store)).get("/")
    assert page.html.find("meta", attrs={"name": "webperf3-ws-port"})["content"] == ""


def test_the_empty_table_s_example_names_the_station_s_first_port(log_dir: Path) -> None:
    def hint(store: ResultsStore, **options) -> str:
        return TestApp(app_of(store, **options)).get("/").html.find(id="port-hint").get_text()

    assert hint(ResultsStore(log_dir), ports=lambda: [5301, 5302]) == "5301"  # --first-port 5301
    assert hint(ResultsStore(log_dir)) == "5201"  # no servers (--servers 0): the default


def test_config_names_the_websocket(app: TestApp) -> None:
    config = app.get("/api/config").json
    assert config["ws_port"] == 8765 and config["ws_path"] == "/live" and config["admin_token_required"] is False


@pytest.mark.parametrize(
    ("path", "content_type"),
    [("/static/js/dashboard.js", "text/javascript"), ("/static/webperf3.css", "text/css"), ("/static/favicon.svg", "image/svg+xml")],
)
def test_static_files_are_served(app: TestApp, path: str, content_type: str) -> None:
    response = app.get(path)
    assert response.content_type == content_type  # a browser refuses an ES module of another type
    assert response.body
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_static_files_stay_inside_the_static_dir(app: TestApp) -> None:
    app.get("/static/nothing-here.js", status=404)
    app.get("/static/../web.py", status=(403, 404))


SCRIPTS = sorted((ROOT / "webperf3" / "static" / "js").glob("*.js"))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_the_page_scripts_never_use_markup_from_strings(script: Path) -> None:
    text = script.read_text()
    assert "innerHTML" not in text and "outerHTML" not in text
    assert "insertAdjacentHTML" not in text and "document.write" not in text


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_every_module_import_is_served_as_javascript(app: TestApp, script: Path) -> None:
    # A module whose import 404s (or comes back as text/plain) stops the
    # whole page in a browser, with nothing on the screen.
    for target in re.findall(r'^import .* from "(\./[^"]+)";', script.read_text(), re.M):
        response = app.get(f"/static/js/{target[2:]}")
        assert response.content_type == "text/javascript", target


# -- data --------------------------------------------------------------------


def test_latest_has_one_row_per_port(app: TestApp) -> None:
    data = app.get("/api/latest").json
    assert [row["port"] for row in data["rows"]] == [5201, 5202, 5203, 5204]  # 5204: a server, no log yet
    assert names(data["rows"])[5201] == "Room 101"
    udp = data["rows"][1]["latest"]
    assert udp["protocol"] == "UDP" and udp["direction"] == "download"
    failed = data["rows"][2]
    assert failed["latest"]["direction"] == "bidirectional"
    assert failed["failure"]["error"] == "the client has unexpectedly closed the connection"
    assert data["rows"][3] == {"port": 5204, "latest": None, "failure": None, "tests": 0, "excluded": 0}
    assert data["survey"]["name"] == "First survey"
    assert data["can_undo"] is False
    assert isinstance(data["generation"], int)


def test_latest_picks_up_an_appended_test_without_a_watcher(app: TestApp, logs: Path) -> None:
    before = app.get("/api/latest").json["generation"]
    with (logs / "port-5202.json").open("ab") as log:
        log.write(hostile_entry("Kitchen"))
    data = app.get("/api/latest").json
    assert names(data["rows"])[5202] == "Kitchen"
    assert data["generation"] > before


def test_results_lists_every_test_in_time_order(app: TestApp) -> None:
    results = app.get("/api/results").json["results"]
    assert len(results) == 6
    assert [r["time"] for r in results] == sorted(r["time"] for r in results)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("port=5202", {("udp", 5202), ("udp_reverse", 5202)}),
        ("name=room", {("extra_data", 5201)}),
        ("name=ROOM%20101", {("extra_data", 5201)}),
        ("port=5201&name=nobody", set()),
        ("port=5999", set()),
    ],
)
def test_results_filters(app: TestApp, query: str, expected: set) -> None:
    results = app.get(f"/api/results?{query}").json["results"]
    assert len(results) == len(expected)
    assert {r["port"] for r in results} == {port for _, port in expected}


def test_results_since(app: TestApp) -> None:
    every = app.get("/api/results").json["results"]
    middle = every[3]["time"]
    later = app.get(f"/api/results?since={middle}").json["results"]
    assert later == every[3:]
    assert app.get("/api/results?since=9e9").json["results"] == []


@pytest.mark.parametrize(
    ("query", "parameter"),
    [("port=abc", "port"), ("port=70000", "port"), ("port=-1", "port"), ("since=yesterday", "since"), ("since=nan", "since"), ("name=%FF", "name")],
)
def test_results_bad_filter_is_a_400_naming_it(app: TestApp, query: str, parameter: str) -> None:
    response = app.get(f"/api/results?{query}", status=400)
    assert response.content_type == "application/json"
    assert f"'{parameter}'" in response.json["error"]


def test_results_as_a_json_export(app: TestApp) -> None:
    exported = app.get("/api/results.json")
    assert exported.headers["Content-Disposition"] == "attachment; filename=iperf3_log.json"
    assert exported.json == app.get("/api/results").json["results"]
    assert app.get("/api/results?format=json").json == exported.json


def test_servers(app: TestApp) -> None:
    assert app.get("/api/servers").json == {"servers": SERVERS, "problems": []}


def test_csv_export(app: TestApp) -> None:
    response = app.get("/csv")
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == "attachment; filename=iperf3_log.csv"
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0][:5] == ["Port", "Name", "Timestamp", "Send rate (bps)", "Receive rate (bps)"]
    assert len(rows) == 1 + 6
    room = [row for row in rows if row[1] == "Room 101"]
    assert len(room) == 1 and room[0][0] == "5201" and float(room[0][4]) > 1e9


def test_xlsx_download_opens_in_a_spreadsheet_with_every_test(app: TestApp) -> None:
    import io

    import openpyxl

    response = app.get("/xlsx")
    assert response.content_type == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "iperf3_log.xlsx" in response.headers["Content-Disposition"]
    assert int(response.headers["Content-Length"]) == len(response.body)
    sheet = openpyxl.load_workbook(io.BytesIO(response.body), read_only=True).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    csv_rows = app.get("/csv").text.strip().splitlines()
    assert rows[0][:2] == ("Port", "Name")
    assert len(rows) == len(csv_rows)  # the header and one row per test, as the CSV


def test_csv_is_streamed(store: ResultsStore) -> None:
    environ = Request.blank("/csv").environ
    body = app_of(store)(environ, lambda status, headers, exc_info=None: None)
    assert not isinstance(body, list)  # an iterator over chunks, not the whole file at once
    assert next(iter(body)).startswith(b"Port,Name,Timestamp")


def test_hostile_name_comes_back_as_a_json_string(app: TestApp, logs: Path) -> None:
    (logs / "port-5205.json").write_bytes(hostile_entry())
    response = app.get("/api/latest")
    assert response.content_type == "application/json"
    assert names(response.json["rows"])[5205] == HOSTILE
    assert response.headers["X-Content-Type-Options"] == "nosniff"


# -- "Clear table": now a new survey -------------------------------------------


def test_clear_hides_the_table_but_keeps_exports(app: TestApp, changes: Recorder) -> None:
    cleared = app.post("/api/clear")
    assert cleared.json["ok"] is True and cleared.json["can_undo"] is True
    assert changes.calls == 1
    data = app.get("/api/latest").json
    assert all(row["latest"] is None and row["failure"] is None for row in data["rows"])
    assert data["can_undo"] is True
    assert len(app.get("/api/results").json["results"]) == 6
    assert "Room 101" in app.get("/csv").text


def test_undo_restores_the_table(app: TestApp, changes: Recorder) -> None:
    app.post("/api/clear")
    undone = app.post("/api/clear/undo")
    assert undone.json["ok"] is True and undone.json["can_undo"] is False
    assert changes.calls == 2
    assert names(app.get("/api/latest").json["rows"])[5201] == "Room 101"
    assert "no survey start left to undo" in app.post("/api/clear/undo", status=409).json["error"]
    assert changes.calls == 2


def test_clear_survives_a_restart(app: TestApp, logs: Path) -> None:
    app.post("/api/clear")
    again = TestApp(app_of(ResultsStore(logs)))
    data = again.get("/api/latest").json
    assert all(row["latest"] is None for row in data["rows"])
    assert data["can_undo"] is True
    again.post("/api/clear/undo")
    assert names(again.get("/api/latest").json["rows"])[5201] == "Room 101"


def test_a_test_after_the_clear_shows(app: TestApp, logs: Path) -> None:
    app.post("/api/clear")
    entry = hostile_entry("After the clear").replace(b'"timesecs":\t1795640521', f'"timesecs":\t{int(time.time()) + 5}'.encode())
    with (logs / "port-5201.json").open("ab") as log:
        log.write(entry)
    assert names(app.get("/api/latest").json["rows"])[5201] == "After the clear"


@pytest.mark.parametrize("path", ["/api/clear", "/api/clear/undo"])
def test_clear_is_post_only(app: TestApp, path: str) -> None:
    response = app.get(path, status=405)
    assert response.headers["Allow"] == "POST"
    assert response.json["status"] == 405


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "http://dash.example:9999"},  # same name, another port: another origin
        {"Origin": "null"},
        {"Referer": "http://evil.example/page.html"},
        {"Origin": "http://evil.example", "Referer": f"http://{HOST}/"},  # Origin wins
    ],
)
def test_clear_from_another_site_is_refused(app: TestApp, changes: Recorder, headers: dict) -> None:
    response = app.post("/api/clear", headers=headers, status=403)
    assert "another site" in response.json["error"]
    assert changes.calls == 0
    assert names(app.get("/api/latest").json["rows"])[5201] == "Room 101"


@pytest.mark.parametrize("headers", [{"Origin": f"http://{HOST}"}, {"Referer": f"http://{HOST}/"}, {"Origin": "http://DASH.example:8080"}, {}])
def test_clear_from_the_page_itself_is_allowed(app: TestApp, headers: dict) -> None:
    app.post("/api/clear", headers=headers, status=200)


def test_default_port_matches_a_host_without_port(store: ResultsStore) -> None:
    app = TestApp(app_of(store), extra_environ={"HTTP_HOST": "pi.local"})
    app.post("/api/clear", headers={"Origin": "http://pi.local:80"}, status=200)


@pytest.fixture
def guarded(store: ResultsStore, changes: Recorder) -> TestApp:
    return TestApp(app_of(store, admin_token="s3cret", on_change=changes), extra_environ={"HTTP_HOST": HOST})


def test_admin_token_required_when_set(guarded: TestApp, changes: Recorder) -> None:
    missing = guarded.post("/api/clear", status=401)
    assert "token" in missing.json["error"]
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    assert "token" in guarded.post("/api/clear", headers={"X-Admin-Token": "wrong"}, status=403).json["error"]
    guarded.post("/api/clear/undo", status=401)
    assert changes.calls == 0
    guarded.post("/api/clear", headers={"X-Admin-Token": "s3cret"}, status=200)
    guarded.post("/api/clear/undo", headers={"Authorization": "Bearer s3cret"}, status=200)
    assert changes.calls == 2
    assert guarded.get("/api/config").json["admin_token_required"] is True


def test_a_survey_book_that_cannot_be_written_is_a_json_error_with_the_message(store: ResultsStore, logs: Path, changes: Recorder) -> None:
    SurveyBook.open(logs).close()
    readonly = SurveyBook.open(logs, readonly=True)
    app = TestApp(app_of(store, book=readonly, on_change=changes), extra_environ={"HTTP_HOST": HOST})
    response = app.post("/api/clear", status=503)
    assert response.content_type == "application/json"
    assert "cannot save" in response.json["error"] and "nothing was changed" in response.json["error"]
    assert changes.calls == 0
    assert names(app.get("/api/latest").json["rows"])[5201] == "Room 101"


def test_failing_push_does_not_fail_the_clear(store: ResultsStore) -> None:
    def broken() -> None:
        raise RuntimeError("push failed")

    TestApp(app_of(store, on_change=broken)).post("/api/clear", status=200)


# -- operations ----------------------------------------------------------------


def test_healthz(app: TestApp, logs: Path) -> None:
    assert app.get("/healthz").text == "ok"
    shutil.rmtree(logs)
    assert "log directory" in app.get("/healthz", status=503).text


def test_unreadable_log_dir_is_a_503_json_error(app: TestApp, logs: Path) -> None:
    shutil.rmtree(logs)
    assert "does not exist" in app.get("/api/latest", status=503).json["error"]


def test_metrics(store: ResultsStore, app: TestApp) -> None:
    app.get("/metrics", status=404)
    metered = TestApp(app_of(store, metrics=lambda: (b"webperf3_tests_total 6\n", "text/plain; version=0.0.4")))
    response = metered.get("/metrics")
    assert response.body == b"webperf3_tests_total 6\n"
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4"


def test_unknown_api_route_is_a_json_404(app: TestApp) -> None:
    assert app.get("/api/nothing", status=404).json["status"] == 404


def test_a_crashing_callable_is_a_json_500(store: ResultsStore) -> None:
    def broken() -> list[dict]:
        raise RuntimeError("fleet exploded")

    app = TestApp(app_of(store, servers=broken))
    response = app.get("/api/servers", status=500, expect_errors=True)
    assert response.json["status"] == 500
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_each_dashboard_has_its_own_app(store: ResultsStore) -> None:
    import bottle

    one, two = app_of(store, ws_port=1), app_of(store, ws_port=2)
    assert one is not two and bottle.default_app() not in (one, two)


# -- the real server -------------------------------------------------------------


def test_web_server_serves_and_stops(store: ResultsStore) -> None:
    server = WebServer(app_of(store), "127.0.0.1", 0, threads=2)
    server.start()
    try:
        assert server.port > 0
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/csv", timeout=5) as response:
            assert response.headers["Transfer-Encoding"] == "chunked"  # streamed, no Content-Length
            assert b"Room 101" in response.read()
    finally:
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 2
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz", timeout=1)
    server.stop()  # twice is harmless
