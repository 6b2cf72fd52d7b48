"""The Prometheus metrics: their values, their robustness, and a real Prometheus scraping them."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

import webperf3
from tests.conftest import install, sample
from webperf3.metrics import StationCollector, build_registry, exposition
from webperf3.result import Result
from webperf3.results import ResultsStore

SERVERS = [
    {"port": 5201, "pid": 101, "state": "idle", "client": None, "testing_since": None,
     "started_at": 1700000000.0, "restarts": 0, "last_exit": None, "version": "3.12"},
    {"port": 5202, "pid": 102, "state": "testing", "client": "10.0.0.5", "testing_since": 1700000100.0,
     "started_at": 1700000000.0, "restarts": 2, "last_exit": "exit status 1", "version": "3.12"},
    {"port": 5203, "pid": None, "state": "failed", "client": None, "testing_since": None,
     "started_at": None, "restarts": 5, "last_exit": "exit status 1", "version": "3.12"},
]

Samples = dict[tuple[str, frozenset], float]


def scrape(registry: CollectorRegistry) -> Samples:
    """Every sample of the exposition, parsed as a scraper would: {(name, labels): value}."""
    body, _ = exposition(registry)
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


@pytest.fixture
def store(log_dir: Path) -> ResultsStore:
    # 5201: two TCP uploads ("Room 101" the later), then a failed test.
    install(log_dir, 5201, sample("tcp"), sample("extra_data"), sample("client_killed"))
    # 5202: a TCP download, then a UDP upload (the latest successful).
    install(log_dir, 5202, sample("reverse"), sample("udp"))
    return ResultsStore(log_dir)


def latest_ok(store: ResultsStore, port: int) -> Result:
    store.refresh()
    return [r for r in store.results(port) if r.ok][-1]


# -- values ------------------------------------------------------------------------


def test_exposition_has_the_expected_values(store):
    registry = build_registry(store, servers=lambda: SERVERS, ports=lambda: [5201, 5202, 5203, 5204],
                              websocket_clients=lambda: 3)
    got = scrape(registry)
    room_101 = latest_ok(store, 5201)
    udp = latest_ok(store, 5202)
    assert room_101.name == "Room 101" and udp.protocol == "UDP"

    # Counters: every test in the logs; ports without any count 0 of both.
    assert value(got, "webperf3_tests_total", port="5201", outcome="ok") == 2
    assert value(got, "webperf3_tests_total", port="5201", outcome="failed") == 1
    assert value(got, "webperf3_tests_total", port="5202", outcome="ok") == 2
    assert value(got, "webperf3_tests_total", port="5202", outcome="failed") == 0
    for port in ("5203", "5204"):
        assert value(got, "webperf3_tests_total", port=port, outcome="ok") == 0
        assert value(got, "webperf3_tests_total", port=port, outcome="failed") == 0

    # The latest *successful* test, though a failure came after it on 5201.
    assert value(got, "webperf3_last_upload_bits_per_second", port="5201") == room_101.upload_bps
    assert value(got, "webperf3_last_test_timestamp_seconds", port="5201") == room_101.time
    assert value(got, "webperf3_last_upload_bits_per_second", port="5202") == udp.upload_bps
    assert value(got, "webperf3_last_jitter_seconds", port="5202", direction="upload") == pytest.approx(udp.jitter_ms / 1000)
    assert value(got, "webperf3_last_loss_ratio", port="5202", direction="upload") == udp.loss_percent / 100
    # Not measured by the latest test: no series at all (not a 0), not even
    # the download rate of 5202's earlier reverse test.
    names = {(name, dict(labels).get("port")) for name, labels in got}
    assert ("webperf3_last_download_bits_per_second", "5201") not in names
    assert ("webperf3_last_download_bits_per_second", "5202") not in names
    assert ("webperf3_last_retransmits", "5202") not in names
    assert not any(port in ("5203", "5204") for name, port in names if name.startswith("webperf3_last_"))

    # The servers.
    assert value(got, "webperf3_server_up", port="5201") == 1
    assert value(got, "webperf3_server_up", port="5202") == 1
    assert value(got, "webperf3_server_up", port="5203") == 0
    assert value(got, "webperf3_server_testing", port="5201") == 0
    assert value(got, "webperf3_server_testing", port="5202") == 1
    assert value(got, "webperf3_server_restarts_total", port="5203") == 5

    assert value(got, "webperf3_log_skipped_entries_total") == 0
    assert value(got, "webperf3_log_dir_readable") == 1
    assert value(got, "webperf3_websocket_clients") == 3
    assert value(got, "webperf3_info", version=webperf3.__version__) == 1


def test_download_rate_and_retransmits(log_dir):
    install(log_dir, 5201, sample("bidir"))
    store = ResultsStore(log_dir)
    got = scrape(build_registry(store))
    bidir = latest_ok(store, 5201)
    assert value(got, "webperf3_last_download_bits_per_second", port="5201") == bidir.download_bps
    assert value(got, "webperf3_last_upload_bits_per_second", port="5201") == bidir.upload_bps
    assert value(got, "webperf3_last_retransmits", port="5201", direction="download") == bidir.retransmits


def test_content_type_matches_the_text_format_written(store):
    body, content_type = exposition(build_registry(store))
    # generate_latest() writes text format 0.0.4; the header must say so, as
    # Prometheus 3 chooses its parser by it.
    assert content_type.startswith("text/plain") and "version=0.0.4" in content_type
    assert body.startswith(b"# HELP ")


def test_labels_are_bounded(store):
    body, _ = exposition(build_registry(store, servers=lambda: SERVERS, websocket_clients=lambda: 0))
    # Neither the client's name nor its address becomes a label value.
    assert b"Room 101" not in body and b"127.0.0.1" not in body and b"10.0.0.5" not in body
    labels = {
        name for family in text_string_to_metric_families(body.decode())
        for s in family.samples for name in s.labels
    }
    assert labels <= {"port", "outcome", "direction", "version"}


def test_every_scrape_reads_the_logs_anew(log_dir):
    store = ResultsStore(log_dir)
    registry = build_registry(store, ports=lambda: [5201])
    got = scrape(registry)
    assert value(got, "webperf3_tests_total", port="5201", outcome="ok") == 0
    assert not any(name == "webperf3_last_upload_bits_per_second" for name, _ in got)

    install(log_dir, 5201, sample("tcp"))
    got = scrape(registry)  # no refresh() from the test: the collector does it
    assert value(got, "webperf3_tests_total", port="5201", outcome="ok") == 1
    assert value(got, "webperf3_last_upload_bits_per_second", port="5201") == latest_ok(store, 5201).upload_bps

    install(log_dir, 5201, sample("extra_data"))
    got = scrape(registry)
    assert value(got, "webperf3_last_upload_bits_per_second", port="5201") == latest_ok(store, 5201).upload_bps
    assert latest_ok(store, 5201).name == "Room 101"


def test_skipped_entries_are_counted(log_dir):
    (log_dir / "port-5201.json").write_bytes(b"this is not iperf3\n")
    install(log_dir, 5201, sample("tcp"))
    got = scrape(build_registry(ResultsStore(log_dir)))
    assert value(got, "webperf3_log_skipped_entries_total") == 1
    assert value(got, "webperf3_tests_total", port="5201", outcome="ok") == 1


def test_each_app_has_its_own_registry(log_dir, tmp_path):
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    install(log_dir, 5201, sample("tcp"))
    install(other_dir, 5201, sample("tcp"), sample("extra_data"))
    one = build_registry(ResultsStore(log_dir))
    two = build_registry(ResultsStore(other_dir))  # no clash with the first
    assert value(scrape(one), "webperf3_tests_total", port="5201", outcome="ok") == 1
    assert value(scrape(two), "webperf3_tests_total", port="5201", outcome="ok") == 2
    # describe() names the metrics, so a second collector in one registry is caught.
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        one.register(StationCollector(ResultsStore(log_dir)))


def test_a_failing_part_is_logged_and_left_out(store, log_dir, caplog):
    def broken() -> list:
        raise RuntimeError("the fleet is shutting down")

    registry = build_registry(store, servers=broken, ports=broken, websocket_clients=broken)
    scrape(registry)  # reads the logs
    for path in log_dir.iterdir():
        path.unlink()
    log_dir.rmdir()

    with caplog.at_level(logging.DEBUG, logger="webperf3.metrics"):
        got = scrape(registry)
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        caplog.clear()
        scrape(registry)
        again = [r for r in caplog.records if r.levelno >= logging.WARNING]

    names = {name for name, _ in got}
    assert not names & {"webperf3_server_up", "webperf3_server_testing", "webperf3_websocket_clients"}
    # The results the store had read are still served, flagged as not current.
    assert value(got, "webperf3_log_dir_readable") == 0
    assert value(got, "webperf3_tests_total", port="5201", outcome="ok") == 2
    assert value(got, "webperf3_info", version=webperf3.__version__) == 1
    # One warning per broken part, and no more on the next scrape.
    messages = " | ".join(r.getMessage() for r in warnings)
    assert "servers" in messages and "ports" in messages and "websocket" in messages
    assert "does not exist" in messages
    assert len(warnings) == 4 and again == []


def test_a_bad_server_entry_leaves_out_only_the_server_metrics(store):
    got = scrape(build_registry(store, servers=lambda: [{"state": "idle"}]))
    assert not any(name.startswith("webperf3_server_") for name, _ in got)
    assert value(got, "webperf3_tests_total", port="5201", outcome="ok") == 2


# -- a real Prometheus -------------------------------------------------------------

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
# Straight to 127.0.0.1, whatever http_proxy the environment sets.
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    """A TCP port nothing listens on right now (a race, but a tiny one)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # one line per scrape otherwise
        pass


@pytest.fixture
def metrics_url(store) -> Iterator[str]:
    """The module's exposition served as the web app will: body and content type as they are."""
    registry = build_registry(store, servers=lambda: SERVERS)

    def app(environ: dict, start_response: Callable) -> list[bytes]:
        if environ["PATH_INFO"] != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        body, content_type = exposition(registry)
        start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))])
        return [body]

    server = make_server("127.0.0.1", 0, app, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def get_json(url: str) -> dict:
    with DIRECT.open(url, timeout=2) as response:
        return json.load(response)


def ready(api: str) -> bool:
    with DIRECT.open(f"{api}/-/ready", timeout=2) as response:  # 503 (an HTTPError) until ready
        return response.status == 200


def query(api: str, promql: str) -> list[dict]:
    answer = get_json(f"{api}/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


@pytest.mark.skipif(not os.access(PROMETHEUS, os.X_OK), reason=f"no Prometheus server at {PROMETHEUS} (Debian: apt install prometheus)")
def test_a_real_prometheus_scrapes_the_metrics(store, metrics_url, tmp_path):
    listen = f"127.0.0.1:{free_port()}"
    api = f"http://{listen}"
    config = tmp_path / "prometheus.yml"
    # scrape_timeout may not exceed scrape_interval, and the default is 10s.
    config.write_text(f"""\
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: webperf3
    metrics_path: /metrics
    static_configs:
      - targets: ["{metrics_url}"]
""")
    output = tmp_path / "prometheus.log"
    deadline = time.monotonic() + 30

    def log_tail() -> str:
        return output.read_text(errors="replace")[-3000:]

    def until(what: str, check: Callable[[], object]) -> object:
        """Poll ``check`` until it returns something true, Prometheus dies, or time is up."""
        while True:
            if prometheus.poll() is not None:
                pytest.fail(f"Prometheus exited ({prometheus.returncode}) while waiting for {what}:\n{log_tail()}")
            try:
                if found := check():
                    return found
            except (urllib.error.URLError, OSError):  # not listening yet
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}:\n{log_tail()}")
            time.sleep(0.2)

    with output.open("wb") as out:
        prometheus = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address={listen}"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        until("/-/ready", lambda: ready(api))
        series = until("webperf3_last_upload_bits_per_second",
                       lambda: query(api, 'webperf3_last_upload_bits_per_second{port="5201"}'))
        room_101 = latest_ok(store, 5201)
        assert room_101.name == "Room 101"
        [upload] = series
        assert upload["metric"]["job"] == "webperf3" and upload["metric"]["instance"] == metrics_url
        assert float(upload["value"][1]) == pytest.approx(room_101.upload_bps, rel=1e-12)

        [up] = query(api, 'up{job="webperf3"}')
        assert float(up["value"][1]) == 1
        # The same scrape brought the counters and the servers' state.
        [failed] = query(api, 'webperf3_tests_total{port="5201",outcome="failed"}')
        assert float(failed["value"][1]) == 1
        [testing] = query(api, 'webperf3_server_testing{port="5202"}')
        assert float(testing["value"][1]) == 1

        targets = get_json(f"{api}/api/v1/targets")["data"]["activeTargets"]
        [target] = [t for t in targets if t["labels"]["job"] == "webperf3"]
        assert target["health"] == "up", target
        assert target["lastError"] == ""
    finally:
        prometheus.send_signal(signal.SIGTERM)
        try:
            prometheus.wait(10)
        except subprocess.TimeoutExpired:
            prometheus.kill()
            prometheus.wait()
