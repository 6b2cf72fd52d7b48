"""A browser test flows as any test does: /api/results, the CSV and the
workbook with a Method column, the history's method filter, the places
(never in the iperf3 medians: figures of its own) and the metrics."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from webtest import TestApp

from tests.support.logs import append_entry
from tests.support.parts import app_of
from webperf3.browsertest.records import BrowserRecord, Latency, append_record
from webperf3.ops.metrics import build_registry
from webperf3.store.results import ResultsStore

HOST = "station.example:8080"
PHONE = "192.168.1.23"


@pytest.fixture
def app(log_dir: Path) -> TestApp:
    now = time.time()
    append_entry(log_dir, 5201, "tcp", name="Hall", client="192.168.1.2", at=now - 60)  # an iperf3 upload
    store = ResultsStore(log_dir)
    app = TestApp(app_of(store), extra_environ={"HTTP_HOST": HOST})
    # The phone names its place in its browser, then tests from it.
    app.post_json("/api/place", {"name": "Hall", "device": "phone1"}, extra_environ={"REMOTE_ADDR": PHONE})
    append_record(log_dir, BrowserRecord(
        id="b1", port=8765, time=now + 1, duration=17.0, client=PHONE, agent="Chrome 131 on Android", streams=6,
        download_bps=80e6, upload_bps=30e6, download_bytes=60_000_000, download_seconds=6.0,
        latency=Latency(idle_ms=4.0, idle_p90_ms=5.0, download_ms=180.0, download_p90_ms=210.0, upload_ms=90.0, upload_p90_ms=120.0),
    ))
    return app


def test_api_results_say_which_method_and_the_place_is_the_phones(app: TestApp) -> None:
    results = app.get("/api/results").json["results"]
    browser = next(r for r in results if r["method"] == "browser")
    assert browser["place"] == "Hall" and browser["place_source"] == "browser"
    assert browser["download_measured_by"] == "client" and browser["latency_download_p90_ms"] == 210.0
    assert browser["agent"] == "Chrome 131 on Android" and browser["id"] == "8765-b1"
    assert next(r for r in results if r["method"] == "iperf3")["latency_idle_ms"] is None


def test_the_csv_has_a_method_column_and_the_browsers_latency(app: TestApp) -> None:
    rows = list(csv.DictReader(io.StringIO(app.get("/csv").text)))
    browser = next(r for r in rows if r["Method"] == "browser, HTTP")
    assert browser["Download measured by"] == "browser received"
    assert browser["Latency during upload (ms, browser, median)"] == "90.0" and browser["Browser"] == "Chrome 131 on Android"
    assert next(r for r in rows if r["Method"] == "iperf3")["Latency idle (ms, browser, median)"] == ""


def test_the_workbook_has_the_method_column(app: TestApp) -> None:
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(app.get("/xlsx").body)).active
    rows = list(sheet.iter_rows(values_only=True))
    method = rows[0].index("Method")
    assert sorted(r[method] for r in rows[1:]) == ["browser, HTTP", "iperf3"]


def test_the_history_filters_by_method(app: TestApp) -> None:
    tests = app.get("/api/history?method=browser").json["rows"]
    assert [t["method"] for t in tests] == ["browser"]
    assert [t["method"] for t in app.get("/api/history?method=iperf3").json["rows"]] == ["iperf3"]
    bad = app.get("/api/history?method=carrier-pigeon", status=400).json
    assert "method" in bad["error"]


def test_a_place_keeps_browser_figures_apart_from_its_iperf3_medians(app: TestApp) -> None:
    [hall] = [p for p in app.get("/api/places").json["places"] if p["place"] == "Hall"]
    assert hall["tests"] == 2 and hall["upload_tests"] == 1  # the iperf3 upload alone
    assert hall["upload_median_bps"] != 30e6 and hall["download_tests"] == 0
    assert hall["browser_tests"] == 1 and hall["browser_download_median_bps"] == 80e6
    assert hall["browser_upload_median_bps"] == 30e6 and hall["browser_latency_download_ms"] == 180.0
    row = next(r for r in csv.DictReader(io.StringIO(app.get("/csv?by=place").text)) if r["Place"] == "Hall")
    assert row["Browser tests"] == "1" and float(row["Browser download median (bps, browser received)"]) == 80e6
    assert row["Graded by"] == "iperf3" and hall["graded_by"] is None  # it has an iperf3 figure: iperf3's grade


def test_a_place_with_only_browser_tests_is_graded_by_them_in_the_api_and_csv(app: TestApp, log_dir: Path) -> None:
    other = "192.168.1.24"  # another phone: the first one's test stays in the Hall
    app.post_json("/api/place", {"name": "Attic", "device": "phone2"}, extra_environ={"REMOTE_ADDR": other})
    append_record(log_dir, BrowserRecord(
        id="b2", port=8765, time=time.time() + 5, duration=17.0, client=other, agent="Chrome 131 on Android", streams=6,
        download_bps=8e6, upload_bps=30e6, download_bytes=6_000_000, download_seconds=6.0,
    ))
    [attic] = [p for p in app.get("/api/places").json["places"] if p["place"] == "Attic"]
    assert attic["graded_by"] == "browser" and attic["grade"] == "bad" and attic["worst_bps"] == 8e6
    assert attic["download_median_bps"] is None  # the iperf3 column stays iperf3's
    row = next(r for r in csv.DictReader(io.StringIO(app.get("/csv?by=place").text)) if r["Place"] == "Attic")
    assert row["Graded by"] == "browser, HTTP" and row["Grade"] == "bad"


def test_metrics_have_the_browser_tests_apart(log_dir: Path, app: TestApp) -> None:
    store = ResultsStore(log_dir)
    text = generate_latest(build_registry(store)).decode()
    assert 'webperf3_browser_tests_total{outcome="ok"} 1.0' in text
    assert 'webperf3_browser_last_bytes_per_second{direction="download"} 1e+07' in text
    assert 'webperf3_browser_last_latency_seconds{load="download"} 0.18' in text
    assert 'webperf3_tests_total{outcome="ok",port="5201"} 1.0' in text  # the iperf3 count alone


def test_the_dashboards_table_has_a_row_of_the_latest_browser_test(app: TestApp) -> None:
    rows = {row["port"]: row for row in app.get("/api/latest").json["rows"]}
    assert rows[8765]["latest"]["method"] == "browser" and rows[8765]["latest"]["place"] == "Hall"
    assert rows[5201]["latest"]["method"] == "iperf3"
