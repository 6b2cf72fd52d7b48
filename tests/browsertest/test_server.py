"""The station's side of "Test from this browser", with real websocket
clients against a real live server (the page's protocol: tests/support/browsertest.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.support.browsertest import control, run_test
from tests.support.parts import board_of
from tests.support.waiting import wait_until
from webperf3.browsertest.records import record_path
from webperf3.browsertest.server import BrowserTests, Limits
from webperf3.live import LiveServer
from webperf3.store.results import ResultsStore

SHORT = Limits(warmup_seconds=0.5, measure_seconds=1.0)


@pytest.fixture
def station(tmp_path: Path) -> Iterator[tuple[LiveServer, ResultsStore]]:
    store = ResultsStore(tmp_path)
    store.refresh()
    live: LiveServer
    tests = BrowserTests(store, tmp_path, port=lambda: live.port, limits=SHORT)
    live = LiveServer(store, "127.0.0.1", 0, board=board_of(store), browser_tests=tests)
    live.start()
    yield live, store
    live.stop()


def test_a_whole_test_is_recorded_and_read_as_a_test(station) -> None:
    live, store = station
    run = run_test(live.port)
    assert run.result is not None, run.error
    # Both directions measured where the brief says: the download is what
    # the client counted, the upload what the station counted.
    [result] = store.results()
    assert result.method == "browser" and result.port == live.port
    assert result.download_bps == pytest.approx(run.download_bytes * 8 / run.download_seconds)
    assert result.download_measured_by == "client"
    assert result.upload_bps == pytest.approx(run.upload_done["bps"])
    assert result.upload_bps > 0 and result.download_bps > 0
    assert result.client == "127.0.0.1" and result.browser.agent.startswith("Python")
    assert result.browser.latency_idle_ms is not None and result.browser.latency_download_ms is not None
    assert run.result["id"] == f"{live.port}-{result.cookie}"
    line = json.loads(record_path(store.log_dir).read_text())
    assert line["download_bytes"] == run.download_bytes
    # A fresh store (a restart) reads the same test from the record.
    again = ResultsStore(store.log_dir)
    again.refresh()
    assert again.results() == [result]
    assert result.to_dict()["method"] == "browser" and "latency_upload_p90_ms" in result.to_dict()


def test_a_second_test_from_the_same_address_is_busy(station) -> None:
    live, store = station
    with control(live.port) as first:
        assert json.loads(first.recv(5))["type"] == "ready"
        with control(live.port) as second:
            busy = json.loads(second.recv(5))
    assert busy["type"] == "busy" and busy["retry_after"] >= 1
    assert "Try again in" in busy["message"]


def test_streams_need_the_token_of_a_test_under_way(station) -> None:
    live, _ = station
    with pytest.raises(InvalidStatus) as refused:
        with connect(f"ws://127.0.0.1:{live.port}/browser-test/down?t=guess", open_timeout=5):
            pass
    assert refused.value.response.status_code == 403
    with control(live.port) as ws:
        token = json.loads(ws.recv(5))["token"]
        # No download asked for yet: a stream is refused.
        with pytest.raises(InvalidStatus) as early:
            with connect(f"ws://127.0.0.1:{live.port}/browser-test/down?t={token}", open_timeout=5):
                pass
        assert early.value.response.status_code == 409


@pytest.mark.parametrize("phase", ["download", "upload"])
def test_a_page_that_leaves_mid_test_records_nothing(station, phase: str) -> None:
    live, store = station
    run = run_test(live.port, leave_during=phase)
    assert run.result is None
    # Its place is free again: a new test may start.
    wait_until(lambda: live.browser_tests.running == 0, 5, 0.05, "the left test to end")
    store.refresh()
    assert store.results() == []
    assert not record_path(store.log_dir).exists()


def test_a_download_figure_above_what_was_sent_is_refused(station) -> None:
    live, store = station
    run = run_test(live.port, report_bytes=10**15)
    assert run.result is None and "cannot be right" in run.error["message"]
    store.refresh()
    assert store.results() == []
