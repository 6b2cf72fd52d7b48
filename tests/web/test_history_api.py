"""GET /api/history and /api/history/series against real log entries: every
filter, every sort, paging, surveys, the book's edits, and what each bad
parameter gets (a 400 naming it, a 404 for an unknown survey)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from webtest import TestApp

from tests.support.logs import append
from tests.support.logs import append_entry
from tests.support.logs import make_entry
from webperf3.board.listing import MAX_SERIES, SORT_KEYS
from webperf3.store.results import ResultsStore
from tests.support.parts import app_of, dashboard_of

HOST = "station.example:8080"
T0 = float(int(time.time())) - 3600


@pytest.fixture
def app(logs: Path) -> TestApp:
    """Seven tests: uploads, a -R, bidir, UDP, a failure, one with no place."""
    append_entry(logs, 5201, "tcp", name="Hall", client="192.168.1.2", at=T0)
    append_entry(logs, 5201, "reverse", name="Hall", client="192.168.1.2", at=T0 + 10)
    append_entry(logs, 5202, "udp", name="Kitchen", client="192.168.1.10", at=T0 + 20)
    append_entry(logs, 5202, "bidir", name="kitchen", client="192.168.1.10", at=T0 + 30)  # another spelling: one place
    append_entry(logs, 5203, "client_killed", name="Lab", client="192.168.1.9", at=T0 + 40)
    append_entry(logs, 5203, "tcp", client="10.0.0.5", at=T0 + 50)  # no place
    append_entry(logs, 5201, "udp_reverse", name="Roof", client="192.168.1.2", at=T0 + 60)
    return TestApp(app_of(ResultsStore(logs)), extra_environ={"HTTP_HOST": HOST})


def history(app: TestApp, query: str = "", status: int = 200) -> dict:
    return app.get(f"/api/history{'?' + query if query else ''}", status=status).json


def places(data: dict) -> list:
    return [row["place"] for row in data["rows"]]


def test_every_test_of_the_current_survey_newest_first(app: TestApp) -> None:
    data = history(app)
    assert data["total"] == 7 and data["offset"] == 0 and data["limit"] == 100
    assert [row["time"] for row in data["rows"]] == [T0 + 60 - 10 * i for i in range(7)]
    assert places(data) == ["Roof", None, "Lab", "kitchen", "Kitchen", "Hall", "Hall"]
    assert data["survey"]["name"] == "First survey" and data["survey"]["current"]
    first = data["rows"][0]
    # A row is what /api/results sends: iperf3's figures, the book's id, place, survey.
    assert first["id"].startswith("5201-") and first["place_source"] == "client" and first["survey"] == 1
    assert first["direction"] == "download" and first["download_measured_by"] == "station"
    assert first["upload_bps"] is None and first["download_bps"] > 0
    assert data["facets"] == {
        "places": ["Hall", "Kitchen", "Lab", "Roof"],
        "ports": [5201, 5202, 5203],
        "clients": ["10.0.0.5", "192.168.1.2", "192.168.1.9", "192.168.1.10"],
        "unplaced": True,
        "truncated": False,
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("place=hall", ["Hall", "Hall"]),  # case-insensitive, whole name
        ("place=Kitchen", ["kitchen", "Kitchen"]),
        ("place=Hal", []),
        ("unplaced=1", [None]),
        ("port=5203", [None, "Lab"]),
        ("client=192.168.1.1", ["kitchen", "Kitchen"]),  # part of the address
        ("direction=download", ["Roof", "Hall"]),
        ("direction=bidirectional", ["kitchen"]),
        ("outcome=failed", ["Lab"]),
        ("outcome=ok&port=5203", [None]),
        (f"since={T0 + 20}&until={T0 + 50}", ["Lab", "kitchen", "Kitchen"]),  # [since, until)
        (f"since={T0 + 55}", ["Roof"]),
        ("place=Hall&direction=upload", ["Hall"]),
    ],
)
def test_each_filter(app: TestApp, query: str, expected: list) -> None:
    data = history(app, query)
    assert places(data) == expected and data["total"] == len(expected)


def test_excluded_tests_are_shown_marked_and_filtered_by_outcome(app: TestApp) -> None:
    hall = history(app, "place=Hall&direction=upload")["rows"][0]
    app.patch_json(f"/api/results/{hall['id']}", {"excluded": True})
    assert history(app, "outcome=excluded")["rows"][0]["id"] == hall["id"]
    assert hall["id"] not in [r["id"] for r in history(app, "outcome=ok")["rows"]]
    assert history(app)["total"] == 7  # still listed, marked
    assert [r["excluded"] for r in history(app, "place=Hall")["rows"]] == [False, True]
    # The chart leaves it out, unless excluded tests are what is asked for.
    assert len(app.get("/api/history/series?place=Hall").json["t"]) == 1
    assert len(app.get("/api/history/series?outcome=excluded").json["t"]) == 1


def test_an_edited_place_is_filtered_and_sorted_by_its_new_name(app: TestApp) -> None:
    (nameless,) = history(app, "unplaced=1")["rows"]
    edited = app.patch_json(f"/api/results/{nameless['id']}", {"place": "Attic"}).json["result"]
    assert edited["place"] == "Attic"
    (row,) = history(app, "place=attic")["rows"]
    assert row["id"] == nameless["id"] and row["place_source"] == "edited"
    assert history(app, "unplaced=1")["total"] == 0
    assert places(history(app, "sort=place&order=asc"))[0] == "Attic"


@pytest.mark.parametrize("key", SORT_KEYS)
def test_every_sort_key_both_ways_with_missing_values_last(app: TestApp, key: str) -> None:
    asc = history(app, f"sort={key}&order=asc")
    desc = history(app, f"sort={key}&order=desc")
    assert asc["sort"] == key and asc["order"] == "asc" and desc["order"] == "desc"
    assert {r["id"] for r in asc["rows"]} == {r["id"] for r in desc["rows"]} and asc["total"] == 7
    field = {"download": "download_bps", "upload": "upload_bps", "quality": None}.get(key, key)
    if field is None:
        return
    values = lambda rows: [r[field] for r in rows]  # noqa: E731
    for data, reverse in ((asc, False), (desc, True)):
        got = values(data["rows"])
        present = [v for v in got if v is not None]
        assert got[: len(present)] == present  # every missing value after the others
        if field == "client":
            continue  # numeric address order, checked below
        norm = [v.casefold() if isinstance(v, str) else v for v in present]
        assert norm == sorted(norm, reverse=reverse)


def test_sorts_that_are_not_plain_text(app: TestApp) -> None:
    clients = [r["client"] for r in history(app, "sort=client&order=asc")["rows"]]
    assert clients == ["10.0.0.5", "192.168.1.2", "192.168.1.2", "192.168.1.2", "192.168.1.9", "192.168.1.10", "192.168.1.10"]
    quality = history(app, "sort=quality&order=asc")["rows"]
    # TCP by retransmits (of what the station sent: -R and bidir), then UDP by
    # loss; last, in time order, the tests with neither: TCP uploads, the
    # failure, the UDP download (its loss was the client's to measure).
    assert [(r["protocol"], r["retransmits"] is not None, r["loss_percent"] is not None) for r in quality] == [
        ("TCP", True, False), ("TCP", True, False), ("UDP", False, True),
        ("TCP", False, False), ("TCP", False, False), ("TCP", False, False), ("UDP", False, False),
    ]
    assert quality[0]["retransmits"] <= quality[1]["retransmits"]
    assert [r["time"] for r in quality[3:]] == [T0, T0 + 40, T0 + 50, T0 + 60]
    times = [r["time"] for r in history(app, "sort=time&order=asc")["rows"]]
    assert times == sorted(times)


def test_paging(app: TestApp) -> None:
    pages = [history(app, f"limit=3&offset={offset}") for offset in (0, 3, 6, 9)]
    assert [len(p["rows"]) for p in pages] == [3, 3, 1, 0]
    assert all(p["total"] == 7 for p in pages)
    ids = [r["id"] for p in pages for r in p["rows"]]
    assert ids == [r["id"] for r in history(app)["rows"]]
    filtered = history(app, "place=Hall&limit=1&offset=1")
    assert filtered["total"] == 2 and filtered["rows"][0]["time"] == T0


def test_surveys_current_any_or_all(app: TestApp, logs: Path) -> None:
    second = app.post_json("/api/surveys", {"name": "After the new AP"}).json["survey"]
    append_entry(logs, 5201, "tcp", name="Hall", client="192.168.1.2", at=time.time() + 5)
    current = history(app)
    assert current["total"] == 1 and current["survey"]["id"] == second["id"] and current["survey"]["current"]
    first = history(app, "survey=1")
    assert first["total"] == 7 and first["survey"]["name"] == "First survey" and not first["survey"]["current"]
    everything = history(app, "survey=all")
    assert everything["total"] == 8 and everything["survey"] is None
    assert len(app.get("/api/history/series?survey=all").json["t"]) == 7  # the failure has no rate


def test_a_new_test_is_in_the_next_answer(app: TestApp, logs: Path) -> None:
    before = history(app)
    append_entry(logs, 5204, "tcp", name="Garage", client="192.168.1.50", at=T0 + 70)
    after = history(app)
    assert after["total"] == 8 and after["rows"][0]["place"] == "Garage"
    assert after["generation"] > before["generation"]
    assert 5204 in after["facets"]["ports"]


def test_the_series_columns(app: TestApp) -> None:
    data = app.get("/api/history/series").json
    assert data["by"] == "port" and data["unit"] == "Mbit/s" and data["groups"] == ["5201", "5202", "5203"]
    n = len(data["t"])
    assert n == 6  # the failure has no rate
    assert len(data["g"]) == len(data["download"]) == len(data["upload"]) == n
    assert data["t"] == sorted(data["t"])
    rows = [r for r in reversed(history(app)["rows"]) if r["error"] is None]
    for i, row in enumerate(rows):
        assert data["groups"][data["g"][i]] == str(row["port"])
        for side in ("download", "upload"):
            bps = row[f"{side}_bps"]
            assert data[side][i] == (None if bps is None else round(bps / 1e6, 3))
    assert data["download_measured_by"] == "station"
    by_place = app.get("/api/history/series?by=place").json
    assert by_place["groups"] == ["Hall", "Kitchen", "Roof", "(no place)"]  # one spelling per place
    filtered = app.get("/api/history/series?port=5201&direction=download").json
    assert len(filtered["t"]) == 2 and all(v is None for v in filtered["upload"])


def test_many_places_share_an_other_series(logs: Path) -> None:
    for i in range(MAX_SERIES + 3):
        for j in range(1 + (i < 5)):  # the first five places have two tests each
            append_entry(logs, 5201, "tcp", name=f"Room {i:02d}", client="192.168.1.2", at=T0 + 10 * (2 * i + j))
    app = TestApp(app_of(ResultsStore(logs)), extra_environ={"HTTP_HOST": HOST})
    data = app.get("/api/history/series?by=place").json
    assert len(data["groups"]) == MAX_SERIES and data["groups"][-1] == "other"
    assert {f"Room {i:02d}" for i in range(5)} <= set(data["groups"])
    assert len(app.get("/api/history").json["facets"]["places"]) == MAX_SERIES + 3
    assert len(data["t"]) == MAX_SERIES + 3 + 5  # every test drawn, some as "other"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("sort=speed", "bad 'sort' parameter 'speed': expected one of time, port, place"),
        ("order=up", "bad 'order' parameter 'up': expected one of asc, desc"),
        ("since=yesterday", "bad 'since' parameter 'yesterday': expected seconds since the epoch"),
        ("until=nan", "bad 'until' parameter 'nan': expected seconds since the epoch"),
        (f"since={T0}&until={T0}", "bad time range: 'until' must be later than 'since'"),
        ("port=80000", "bad 'port' parameter '80000': expected a whole number 1-65535"),
        ("port=web", "bad 'port' parameter 'web'"),
        ("direction=sideways", "bad 'direction' parameter 'sideways': expected one of upload, download, bidirectional"),
        ("outcome=good", "bad 'outcome' parameter 'good': expected one of ok, failed, interrupted, excluded"),
        ("limit=0", "bad 'limit' parameter '0': expected a whole number 1-1000"),
        ("limit=5000", "bad 'limit' parameter '5000'"),
        ("offset=-1", "bad 'offset' parameter '-1'"),
        ("unplaced=yes", "bad 'unplaced' parameter 'yes': expected one of 0, 1"),
        ("survey=first", "bad 'survey' parameter 'first': expected a survey's id or 'all'"),
    ],
)
def test_bad_parameters_get_a_400_that_names_them(app: TestApp, query: str, message: str) -> None:
    for path in ("/api/history", "/api/history/series"):
        answer = app.get(f"{path}?{query}", status=400).json
        assert answer["status"] == 400 and answer["error"].startswith(message), answer


def test_bad_grouping_and_unknown_survey(app: TestApp) -> None:
    assert app.get("/api/history/series?by=client", status=400).json["error"] == "bad 'by' parameter 'client': expected one of port, place"
    assert app.get("/api/history?survey=42", status=404).json["error"] == "there is no survey 42"


def test_the_page(app: TestApp) -> None:
    page = app.get("/history")
    assert page.content_type == "text/html"
    assert 'src="static/js/history.js' in page.text and 'aria-current="page">History' in page.text
    assert app.get("/static/js/charts.js").content_type == "text/javascript"


def test_the_filter_menus_offer_the_most_used_places_only(app: TestApp, monkeypatch: pytest.MonkeyPatch) -> None:
    import webperf3.board.listing

    monkeypatch.setattr(webperf3.board.listing, "MAX_FACETS", 2)
    facets = history(app)["facets"]
    assert facets["places"] == ["Hall", "Kitchen"]  # two tests each; Lab and Roof one
    assert len(facets["clients"]) == 2 and facets["truncated"]
    assert history(app, "place=Roof")["total"] == 1  # a place off the menu still filters


def with_cookie(entry: bytes, cookie: str | None) -> bytes:
    """A test whose client sent another cookie (a crafted client), or none."""
    replaced = "" if cookie is None else cookie
    return re.sub(rb'"cookie":\t"[^"]*"', f'"cookie":\t"{replaced}"'.encode(), entry, count=1)


def test_a_row_is_the_test_as_every_api_sends_it(app: TestApp, logs: Path) -> None:
    # The history keeps its tests' ids only where they are not <port>-<cookie>:
    # every row must still be the record /api/results sends of the same test.
    append(logs / "port-5204.json", with_cookie(make_entry("tcp", name="Odd", at=T0 + 70), "not/plain cookie"))
    append(logs / "port-5204.json", with_cookie(make_entry("tcp", name="None", at=T0 + 80), None))
    app.patch_json(f"/api/results/{history(app)['rows'][3]['id']}", {"excluded": True})
    app.patch_json(f"/api/results/{history(app)['rows'][5]['id']}", {"place": "Moved"})
    rows = history(app, "limit=1000")["rows"]
    records = {r["id"]: r for r in app.get("/api/results.json").json}
    assert len(rows) == len(records) == 9
    assert any("-x-" in r["id"] for r in rows) and any("-t" in r["id"] for r in rows)
    for row in rows:
        record = records[row["id"]]
        assert {k: v for k, v in record.items() if k != "survey_name"} == row
    assert [r["excluded"] for r in rows].count(True) == 1 and "Moved" in places(history(app))


def test_one_history_per_survey_is_kept_as_tests_arrive(logs: Path) -> None:
    # Each new test makes the next request's history anew; the one before is
    # never asked for again and must not stay (8 MiB each at 100,000 tests).
    append_entry(logs, 5201, "tcp", name="Hall", at=T0)
    dash = dashboard_of(ResultsStore(logs))
    app = TestApp(dash.app, extra_environ={"HTTP_HOST": HOST})
    for i in range(6):
        append_entry(logs, 5201, "tcp", name="Hall", at=T0 + 10 + i)
        assert history(app)["total"] == i + 2
    assert dash.history.kept == 1
    history(app, "survey=all")
    assert dash.history.kept == 2
    app.post_json("/api/surveys", {"name": "Second"})  # the book changed
    for _ in range(3):
        append_entry(logs, 5201, "tcp", name="Hall", at=time.time())
        history(app)
        history(app, "survey=all")
    assert dash.history.kept == 3  # the first survey's, the second's, all tests': one each
