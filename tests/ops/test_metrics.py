"""The Prometheus metrics: their values, their robustness, and a real Prometheus scraping them."""

from __future__ import annotations

import logging
import platform
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import CollectorRegistry

import webperf3
from tests.support.logs import install, sample
from tests.support.prometheus import Prometheus, needs_prometheus, promtool
from webperf3.ops.labels import SurveyCounts
from webperf3.ops.metrics import StationCollector, build_registry, exposition, latest_families
from webperf3.cli.options import parse
from webperf3.store.record import Result
from webperf3.store.results import PortTotals, ResultsStore

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


def info(samples: Samples) -> dict[str, str]:
    """The labels of the one webperf3_info sample (its value must be 1)."""
    [(labels, one)] = [(dict(labels), v) for (name, labels), v in samples.items() if name == "webperf3_info"]
    assert one == 1
    return labels


@pytest.fixture
def store(log_dir: Path) -> ResultsStore:
    # 5201: two TCP uploads ("Room 101" the later), then a failed test.
    install(log_dir, 5201, sample("tcp"), sample("extra_data"), sample("client_killed"))
    # 5202: a TCP download, then a UDP upload (the latest successful).
    install(log_dir, 5202, sample("reverse"), sample("udp"))
    return ResultsStore(log_dir)


def test_a_test_the_station_cut_counts_as_interrupted_not_failed(log_dir):
    # A restart of the station cut the second test ("interrupt - the server has terminated").
    install(log_dir, 5201, sample("tcp"), sample("server_stopped"), sample("client_killed"))
    got = scrape(build_registry(ResultsStore(log_dir), ports=lambda: [5201]))
    assert value(got, "webperf3_tests_total", port="5201", outcome="ok") == 1
    assert value(got, "webperf3_tests_total", port="5201", outcome="failed") == 1  # the client's own end
    assert value(got, "webperf3_tests_total", port="5201", outcome="interrupted") == 1


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

    assert value(got, "webperf3_tests_total", port="5201", outcome="interrupted") == 0
    # The latest *successful* test, though a failure came after it on 5201.
    # Rates in bytes per second (Prometheus's base unit); the Result holds bits.
    assert value(got, "webperf3_last_upload_bytes_per_second", port="5201") == room_101.upload_bps / 8
    assert value(got, "webperf3_last_test_timestamp_seconds", port="5201") == room_101.time
    assert value(got, "webperf3_last_upload_bytes_per_second", port="5202") == udp.upload_bps / 8
    assert value(got, "webperf3_last_jitter_seconds", port="5202", direction="upload") == pytest.approx(udp.jitter_ms / 1000)
    assert value(got, "webperf3_last_loss_ratio", port="5202", direction="upload") == udp.loss_percent / 100
    # Not measured by the latest test: no series at all (not a 0), not even
    # the download rate of 5202's earlier reverse test.
    names = {(name, dict(labels).get("port")) for name, labels in got}
    assert ("webperf3_last_download_bytes_per_second", "5201") not in names
    assert ("webperf3_last_download_bytes_per_second", "5202") not in names
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
    assert info(got) == {"station_name": socket.gethostname(), "version": webperf3.__version__,
                         "iperf3_version": "3.12", "python_version": platform.python_version()}


def test_download_rate_and_retransmits(log_dir):
    install(log_dir, 5201, sample("bidir"))
    store = ResultsStore(log_dir)
    got = scrape(build_registry(store))
    bidir = latest_ok(store, 5201)
    assert bidir.download_measured_by in (None, "station")  # iperf3 3.12 logs the station's side only
    # What the station sent, and labelled so: never presented as what the client received.
    assert value(got, "webperf3_last_download_bytes_per_second", port="5201", measured_by="station") == bidir.download_bps / 8
    assert value(got, "webperf3_last_upload_bytes_per_second", port="5201") == bidir.upload_bps / 8
    assert value(got, "webperf3_last_retransmits", port="5201", direction="download") == bidir.retransmits


def samples_of(families: Iterable[Metric]) -> Samples:
    return {(s.name, frozenset(s.labels.items())): s.value for family in families for s in family.samples}


def test_a_download_the_client_measured_is_labelled_so():
    # Results as a reader makes them from a log that holds the client's figures,
    # and from one that does not (where older readers leave measured_by unset).
    by_client = Result(port=5201, time=1.7e9, protocol="UDP", direction="download", download_bps=8e6,
                       download_measured_by="client", download_jitter_ms=2.5, download_loss_percent=12.5)
    unset = Result(port=5202, time=1.7e9, protocol="TCP", direction="download", download_bps=16e6, retransmits=3)
    got = samples_of(latest_families({5201: PortTotals(latest=by_client, ok=1), 5202: PortTotals(latest=unset, ok=1)}))
    assert got == {
        ("webperf3_last_test_timestamp_seconds", frozenset({("port", "5201")})): 1.7e9,
        ("webperf3_last_test_timestamp_seconds", frozenset({("port", "5202")})): 1.7e9,
        ("webperf3_last_download_bytes_per_second", frozenset({("port", "5201"), ("measured_by", "client")})): 1e6,
        ("webperf3_last_download_bytes_per_second", frozenset({("port", "5202"), ("measured_by", "station")})): 2e6,
        # The client measured these: they are the download's, never the upload's.
        ("webperf3_last_jitter_seconds", frozenset({("port", "5201"), ("direction", "download")})): 0.0025,
        ("webperf3_last_loss_ratio", frozenset({("port", "5201"), ("direction", "download")})): 0.125,
        ("webperf3_last_retransmits", frozenset({("port", "5202"), ("direction", "download")})): 3,
    }


def test_info_names_the_station_and_its_software(store):
    got = info(scrape(build_registry(store, servers=lambda: SERVERS, station_name="Lobby 2")))
    assert got == {"station_name": "Lobby 2", "version": webperf3.__version__, "iperf3_version": "3.12",
                   "python_version": platform.python_version()}
    # No servers (--servers 0): no iperf3 to name; the hostname by default.
    got = info(scrape(build_registry(store)))
    assert got["iperf3_version"] == "" and got["station_name"] == socket.gethostname()


def test_the_metrics_options():
    _, options = parse([])
    assert options.station_name == socket.gethostname() and options.metrics_place_labels == 0
    _, options = parse(["--station-name", " Lobby 2 ", "--metrics-place-labels", "50"])
    assert options.station_name == "Lobby 2" and options.metrics_place_labels == 50


@pytest.mark.parametrize(("argv", "message"), [
    (["--station-name", ""], "the station name cannot be empty"),
    (["--station-name", "   "], "the station name cannot be empty"),
    (["--station-name", "x" * 65], "the station name is 65 characters long: at most 64"),
    (["--station-name", "Lobby\n2"], "holds control characters"),
    (["--metrics-place-labels", "-1"], "between 0 and 1000 places, please (got -1)"),
    (["--metrics-place-labels", "1001"], "between 0 and 1000 places, please (got 1001)"),
    (["--metrics-place-labels", "many"], "not a number of places: 'many'"),
    (["install-service", "--station-name", ""], "the station name cannot be empty"),
])
def test_bad_metrics_options_get_one_line_and_status_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exited:
        parse(argv)
    err = capsys.readouterr().err
    assert exited.value.code == 2 and message in err and err.count("\n") == 1, err


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
    assert labels <= {"port", "outcome", "direction", "measured_by", "station_name", "version", "iperf3_version", "python_version"}


def test_every_scrape_reads_the_logs_anew(log_dir):
    store = ResultsStore(log_dir)
    registry = build_registry(store, ports=lambda: [5201])
    got = scrape(registry)
    assert value(got, "webperf3_tests_total", port="5201", outcome="ok") == 0
    assert not any(name == "webperf3_last_upload_bytes_per_second" for name, _ in got)

    install(log_dir, 5201, sample("tcp"))
    got = scrape(registry)  # no refresh() from the test: the collector does it
    assert value(got, "webperf3_tests_total", port="5201", outcome="ok") == 1
    assert value(got, "webperf3_last_upload_bytes_per_second", port="5201") == latest_ok(store, 5201).upload_bps / 8

    install(log_dir, 5201, sample("extra_data"))
    got = scrape(registry)
    assert value(got, "webperf3_last_upload_bytes_per_second", port="5201") == latest_ok(store, 5201).upload_bps / 8
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
    assert info(got)["version"] == webperf3.__version__
    # One warning per broken part, and no more on the next scrape.
    messages = " | ".join(r.getMessage() for r in warnings)
    assert "servers" in messages and "ports" in messages and "websocket" in messages
    assert "does not exist" in messages
    assert len(warnings) == 4 and again == []


def test_a_bad_server_entry_leaves_out_only_the_server_metrics(store):
    got = scrape(build_registry(store, servers=lambda: [{"state": "idle"}]))
    assert not any(name.startswith("webperf3_server_") for name, _ in got)
    assert value(got, "webperf3_tests_total", port="5201", outcome="ok") == 2


# -- what Prometheus's own tools say ---------------------------------------------


def every_kind_of_exposition(log_dir: Path) -> bytes:
    """An exposition with a series of every family: every sample log's kind of
    test, servers in every state, browsers, and a survey with places labelled."""
    install(log_dir, 5201, sample("tcp"), sample("extra_data"), sample("client_killed"), sample("connect_close"))
    install(log_dir, 5202, sample("reverse"), sample("udp"))
    install(log_dir, 5203, sample("bidir_parallel"), sample("client_sigint"))
    install(log_dir, 5204, sample("udp_reverse"))
    install(log_dir, 5205, sample("parallel"), sample("bidir"))
    (log_dir / "port-5206.json").write_bytes(b"not iperf3 at all\n")
    survey = SurveyCounts('Floor 2 "east"\n\\', {"Room 101": 3, 'Hall "B"\\\n': 1, "x" * 10_000: 2}, 7)
    registry = build_registry(ResultsStore(log_dir), servers=lambda: SERVERS, ports=lambda: [5201, 5207],
                              websocket_clients=lambda: 2, station_name="lobby", survey=lambda: survey, place_labels=10)
    body, _ = exposition(registry)
    return body


@needs_prometheus
def test_promtool_finds_nothing_to_say(log_dir):
    body = every_kind_of_exposition(log_dir)
    names = {family.name for family in text_string_to_metric_families(body.decode())}
    # Every family has samples here (the exposition names counters without _total).
    families = {s.name for family in text_string_to_metric_families(body.decode()) for s in family.samples}
    assert {"webperf3_last_download_bytes_per_second", "webperf3_last_jitter_seconds", "webperf3_last_loss_ratio",
            "webperf3_last_retransmits", "webperf3_server_restarts_total", "webperf3_survey_place_tests"} <= families
    assert len(names) == 24  # webperf3_server_losing_tests added with the disk and log checks; four of browser tests
    checked = promtool("check", "metrics", stdin=body)
    assert (checked.returncode, checked.stdout + checked.stderr) == (0, "")


@needs_prometheus
def test_promtool_would_say_it(log_dir):
    # The check above can fail: promtool rejects what /metrics once served (rates in bits, not bytes).
    old = b"# HELP webperf3_last_upload_bits_per_second Upload.\n# TYPE webperf3_last_upload_bits_per_second gauge\n" \
          b'webperf3_last_upload_bits_per_second{port="5201"} 1e9\n'
    checked = promtool("check", "metrics", stdin=old)
    assert checked.returncode != 0 and 'use base unit "bytes" instead of "bits"' in checked.stdout + checked.stderr


# -- a real Prometheus -------------------------------------------------------------


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


@needs_prometheus
def test_a_real_prometheus_scrapes_the_metrics(store, metrics_url, tmp_path):
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
    prometheus = Prometheus(tmp_path / "prometheus", config)
    try:
        prometheus.wait_ready()
        series = prometheus.until("webperf3_last_upload_bytes_per_second",
                                  lambda: prometheus.query('webperf3_last_upload_bytes_per_second{port="5201"}'))
        room_101 = latest_ok(store, 5201)
        assert room_101.name == "Room 101"
        [upload] = series
        assert upload["metric"]["job"] == "webperf3" and upload["metric"]["instance"] == metrics_url
        assert float(upload["value"][1]) == pytest.approx(room_101.upload_bps / 8, rel=1e-12)

        [up] = prometheus.query('up{job="webperf3"}')
        assert float(up["value"][1]) == 1
        # The same scrape brought the counters and the servers' state.
        [failed] = prometheus.query('webperf3_tests_total{port="5201",outcome="failed"}')
        assert float(failed["value"][1]) == 1
        [testing] = prometheus.query('webperf3_server_testing{port="5202"}')
        assert float(testing["value"][1]) == 1

        targets = prometheus.get_json("/api/v1/targets")["data"]["activeTargets"]
        [target] = [t for t in targets if t["labels"]["job"] == "webperf3"]
        assert target["health"] == "up", target
        assert target["lastError"] == ""
    finally:
        prometheus.stop()
