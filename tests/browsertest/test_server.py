"""The station's side of "Test from this browser", with real websocket
clients against a real live server (the page's protocol: tests/support/browsertest.py)."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, InvalidStatus
from websockets.sync.client import connect

from tests.support.browsertest import control, run_test
from tests.support.parts import board_of
from tests.support.waiting import wait_until
from webperf3.browsertest.records import record_path
from webperf3.browsertest.server import BrowserTests, Limits
from webperf3.live import LiveServer
from webperf3.store.results import ResultsStore

SHORT = Limits(warmup_seconds=0.5, measure_seconds=1.0, start_seconds=1.0)


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


def test_a_download_figure_of_no_bytes_is_refused_not_recorded_as_0(station) -> None:
    """A page whose streams delivered nothing in its measured seconds (a
    stalled browser, a cap spent in the warm-up) has no figure: 0 bit/s
    would be recorded as the link's rate."""
    live, store = station
    run = run_test(live.port, report_bytes=0)
    assert run.result is None and "no download bytes reached this browser" in run.error["message"]
    assert "Nothing recorded" in run.error["message"]
    store.refresh()
    assert store.results() == []


def test_an_upload_whose_streams_send_nothing_is_refused_not_recorded_as_0(station) -> None:
    live, store = station
    with control(live.port) as ws:
        token = json.loads(ws.recv(5))["token"]
        _go(ws, "download")
        _go(ws, "upload")
        with connect(f"ws://127.0.0.1:{live.port}/browser-test/up?t={token}", open_timeout=5, max_size=None) as stream:
            assert stream.recv(5) == "go"  # and then sends nothing
            while (msg := json.loads(ws.recv(10)))["type"] == "upload_progress":
                pass
    assert msg["type"] == "error" and "no upload bytes reached the station" in msg["message"], msg
    store.refresh()
    assert store.results() == []


def test_a_download_s_streams_start_together_once_the_last_is_in(station) -> None:
    """Streams that send while the page still opens the others can spend
    the cap before its measure starts (WebKit under load: 0 counted)."""
    live, _ = station
    streams = SHORT.streams
    with control(live.port) as ws:
        token = json.loads(ws.recv(5))["token"]
        _go(ws, "download")
        url = f"ws://127.0.0.1:{live.port}/browser-test/down?t={token}"
        with contextlib.ExitStack() as opened:
            first = opened.enter_context(connect(url, open_timeout=5, max_size=None))
            with pytest.raises(TimeoutError):
                first.recv(0.5)  # the others are not in: nothing yet
            rest = [opened.enter_context(connect(url, open_timeout=5, max_size=None)) for _ in range(streams - 1)]
            t0 = time.monotonic()
            for s in [first, *rest]:
                assert len(s.recv(2)) > 0
            assert time.monotonic() - t0 < SHORT.start_seconds  # not the grace: the last one in started them


def test_a_page_that_opens_too_few_streams_still_gets_its_download(station) -> None:
    live, _ = station
    with control(live.port) as ws:
        token = json.loads(ws.recv(5))["token"]
        _go(ws, "download")
        with connect(f"ws://127.0.0.1:{live.port}/browser-test/down?t={token}", open_timeout=5, max_size=None) as stream:
            t0 = time.monotonic()
            assert len(stream.recv(SHORT.start_seconds + 3)) > 0
            assert time.monotonic() - t0 == pytest.approx(SHORT.start_seconds, abs=0.5)


def _go(ws, kind: str) -> None:
    ws.send(json.dumps({"type": kind}))
    while (msg := json.loads(ws.recv(5)))["type"] != "go":
        assert msg["type"] != "error", msg


def test_the_download_s_streams_are_cut_when_the_upload_starts(station) -> None:
    """What the station still has queued for a download stream must not keep
    flowing into the upload (on a slow link: seconds of it, the upload's
    ACKs and round trips queued behind it, the upload figure too low)."""
    live, _ = station
    with control(live.port) as ws:
        token = json.loads(ws.recv(5))["token"]
        _go(ws, "download")
        with connect(f"ws://127.0.0.1:{live.port}/browser-test/down?t={token}", open_timeout=5, max_size=None) as stream:
            stream.recv(5)
            time.sleep(0.5)  # reading nothing more: the station's buffers fill
            _go(ws, "upload")
            with pytest.raises(ConnectionClosedError) as ended:
                while True:
                    stream.recv(5)
    # Cut (no closing handshake queued behind the megabytes), not closed.
    assert ended.value.rcvd is None


def _upload_until_done(port: int, ws, token: str, wait: float = 0.0) -> dict:
    """One upload stream of a Python client, opened after ``wait`` s; the
    station's "upload_done"."""
    chunk = bytes(64 * 1024)

    def send() -> None:
        time.sleep(wait)
        with connect(f"ws://127.0.0.1:{port}/browser-test/up?t={token}", open_timeout=5, max_size=None) as stream:
            assert stream.recv(5) == "go"
            with contextlib.suppress(ConnectionClosed):
                while True:
                    stream.send(chunk)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    while (done := json.loads(ws.recv(20)))["type"] == "upload_progress":
        pass
    sender.join(5)
    return done


def test_the_upload_is_timed_from_its_first_stream(station) -> None:
    """A page whose upload streams open late (a slow phone, a slow link) is
    measured over its streams' time, not over the wait for them."""
    live, store = station
    with control(live.port) as ws:
        token = json.loads(ws.recv(5))["token"]
        _go(ws, "download")
        _go(ws, "upload")
        done = _upload_until_done(live.port, ws, token, wait=SHORT.warmup_seconds + SHORT.measure_seconds + 0.5)
    assert done["type"] == "upload_done" and done["bytes"] > 0 and done["bps"] > 0
    assert done["seconds"] == pytest.approx(SHORT.measure_seconds, abs=0.5)


def test_an_upload_that_reaches_its_cap_in_the_warm_up_is_still_measured(tmp_path: Path) -> None:
    """A link so fast that the cap would be spent warming up: the warm-up
    ends at a quarter of it, and the rest is measured."""
    store = ResultsStore(tmp_path)
    store.refresh()
    live: LiveServer
    tests = BrowserTests(store, tmp_path, port=lambda: live.port, limits=Limits(warmup_seconds=30.0, measure_seconds=2.0, direction_bytes=1 << 30))
    live = LiveServer(store, "127.0.0.1", 0, board=board_of(store), browser_tests=tests)
    live.start()
    try:
        with control(live.port) as ws:
            token = json.loads(ws.recv(5))["token"]
            _go(ws, "download")
            _go(ws, "upload")
            done = _upload_until_done(live.port, ws, token)
        assert done["type"] == "upload_done" and done["bytes"] > 0 and done["bps"] > 0
    finally:
        live.stop()


def test_an_upload_whose_streams_never_come_is_refused(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path)
    store.refresh()
    live: LiveServer
    tests = BrowserTests(store, tmp_path, port=lambda: live.port, limits=Limits(warmup_seconds=0.5, measure_seconds=1.0, phase_seconds=1.0))
    live = LiveServer(store, "127.0.0.1", 0, board=board_of(store), browser_tests=tests)
    live.start()
    try:
        with control(live.port) as ws:
            json.loads(ws.recv(5))
            _go(ws, "download")
            _go(ws, "upload")
            while (msg := json.loads(ws.recv(5)))["type"] == "upload_progress":
                pass
        assert msg["type"] == "error" and "no upload stream came" in msg["message"]
        assert store.results() == []
    finally:
        live.stop()


def test_a_control_message_nested_ten_thousand_deep_gets_an_error_not_a_dropped_connection(station) -> None:
    live, _ = station
    with control(live.port) as ws:
        json.loads(ws.recv(5))
        ws.send("[" * 10_000 + "]" * 10_000)
        answer = json.loads(ws.recv(5))
    assert answer["type"] == "error" and "nested too deeply" in answer["message"]
