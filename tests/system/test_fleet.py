"""A fleet of stations end to end, with the configurations docs/fleet/ ships.

Three real ``python -m webperf3 --servers 1`` stations run real iperf3
tests: "lobby" and "localhost" are scraped by a central Prometheus through
file-based service discovery (docs/fleet/prometheus.yml); "gym" sits "behind
NAT": a Prometheus agent started from docs/fleet/webperf3-agent.service
scrapes it and remote-writes to the central one, over TLS with basic auth
(docs/fleet/agent.yml, web-config.yml). Then every query of every panel of
docs/fleet/grafana-dashboard.json runs against the central Prometheus and
must return what the stations' logs hold.

The shipped files are used as they are, with only their example hosts,
paths and intervals replaced (each replacement must find its text, so a
changed file fails here rather than going untested). Everything listens on
127.0.0.1 (and "localhost"). One fleet per module keeps this to ~30 s.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import webperf3
from tests.support.fleet import FLEET, Fleet, Station, make_certificate, run_tests, shipped, unit_command
from tests.support.iperf3 import IPERF3
from tests.support.ports import free_port
from tests.support.prometheus import Prometheus, needs_prometheus, promtool
from tests.support.waiting import wait_until
from webperf3.iperf3.fleet.process import iperf3_version
from webperf3.store.record import Result

pytestmark = needs_prometheus

IPERF3_318 = Path.home() / ".cache/webperf3/iperf3/3.18/bin/iperf3"
# A test-only password and its bcrypt hash (made once with crypt.crypt).
PASSWORD = "webperf3-test-only"
PASSWORD_HASH = "$2b$04$F2pjDiDI3HzKInnEyHou9eyTDwvaZPm.5EU8LnPCQoK8Xmbo7mI42"
FAST = {"scrape_interval: 30s": "scrape_interval: 1s", "scrape_timeout: 10s": "scrape_timeout: 1s"}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory) -> Iterator[Fleet]:
    home = tmp_path_factory.mktemp("fleet")
    iperf3_318 = str(IPERF3_318) if os.access(IPERF3_318, os.X_OK) else shutil.which(IPERF3) or IPERF3
    stations: dict[str, Station] = {}
    started: list[Prometheus] = []
    try:
        for name, iperf3 in (("lobby", shutil.which(IPERF3) or IPERF3),
                             # Named as the relabelling names a target given without a station label.
                             ("localhost", iperf3_318),
                             ("gym", shutil.which(IPERF3) or IPERF3)):
            stations[name] = Station(name, home / name, iperf3)
        # The central Prometheus: TLS and basic auth, as it would face the Internet.
        central_home = home / "central"
        central_home.mkdir()
        cert, key = make_certificate(central_home)
        web_config = central_home / "web-config.yml"
        web_config.write_text(shipped("web-config.yml", {
            "/etc/prometheus/central.crt": str(cert), "/etc/prometheus/central.key": str(key),
            re.search(r"webperf3: (\S+)", (FLEET / "web-config.yml").read_text())[1]: PASSWORD_HASH,
        }))
        sd_dir = central_home / "webperf3-stations"
        sd_dir.mkdir()
        # YAML, written as JSON: "lobby" named in the file, "localhost" by its host.
        (sd_dir / "test.yml").write_text(json.dumps([
            {"targets": [f"127.0.0.1:{stations['lobby'].port}"], "labels": {"station": "lobby"}},
            {"targets": [f"localhost:{stations['localhost'].port}"]},
        ]))
        config = central_home / "prometheus.yml"
        config.write_text(shipped("prometheus.yml", {
            **FAST, "evaluation_interval: 30s": "evaluation_interval: 1s",
            "/etc/prometheus/webperf3-stations/*.yml": f"{sd_dir}/*.yml",
        }))
        checked = promtool("check", "config", str(config))
        assert checked.returncode == 0 and "WARNING" not in checked.stdout + checked.stderr, checked
        central = Prometheus(central_home, config, args=("--web.enable-remote-write-receiver", f"--web.config.file={web_config}"),
                             auth=("webperf3", PASSWORD), ca_file=cert)
        started.append(central)

        # The agent "on the gym's Pi", run as its unit runs it.
        agent_home = home / "agent"
        agent_home.mkdir()
        password_file = agent_home / "password"
        password_file.write_text(PASSWORD + "\n")
        agent_config = agent_home / "agent.yml"
        agent_config.write_text(shipped("agent.yml", {
            **FAST, "127.0.0.1:8080": f"127.0.0.1:{stations['gym'].port}",
            "https://prometheus.example.org:9090/api/v1/write": f"https://{central.listen}/api/v1/write",
            "/etc/prometheus/webperf3-remote-write.password": str(password_file),
            "/etc/prometheus/central-ca.crt": str(cert),
        }))
        checked = promtool("check", "config", "--agent", str(agent_config))
        assert checked.returncode == 0, checked
        agent_listen = f"127.0.0.1:{free_port()}"
        argv, env = unit_command(shipped("webperf3-agent.service", {
            "/etc/prometheus/webperf3-agent.yml": str(agent_config),
            "/var/lib/prometheus/webperf3-agent": str(agent_home / "wal"),
            "127.0.0.1:9099": agent_listen,
        }))
        assert env == {"STATION": "%H"}
        agent = Prometheus(agent_home, argv=argv, listen=agent_listen, env={"STATION": "gym"})  # %H on a Pi named gym
        started.append(agent)

        for station in stations.values():
            wait_until(station.ready, timeout=20, what=f"station {station.name}")
        central.wait_ready()
        agent.wait_ready()
        # Every station's counters are in before the first test, so increase() sees them all.
        central.until("every station's counters", lambda: {
            s["metric"]["station"] for s in central.query('webperf3_tests_total{outcome="ok"} == 0')} == set(stations), timeout=45)

        tests = run_tests(stations)
        for name, (ok, failed) in tests.items():
            wait_until(lambda: sum(r.ok for r in stations[name].results()) == ok
                       and sum(not r.ok for r in stations[name].results()) == failed,
                       timeout=20, what=f"{name}'s tests in its log")
        uploads = {name: [r.upload_bps for r in s.results() if r.ok and r.upload_bps] for name, s in stations.items()}
        expected = ({(name, "ok"): ok for name, (ok, _) in tests.items()} | {(name, "failed"): f for name, (_, f) in tests.items()}
                    | {(name, "interrupted"): 0 for name in tests})  # no station was restarted mid-test
        central.until("every test in the central Prometheus", lambda: {
            (s["metric"]["station"], s["metric"]["outcome"]): int(float(s["value"][1]))
            for s in central.query("webperf3_tests_total")} == expected, timeout=45)
        yield Fleet(stations, central, agent, tests, uploads)
    finally:
        for prometheus in reversed(started):
            prometheus.stop()
        for station in stations.values():
            station.stop()


def by(series: list[dict], *labels: str) -> dict[tuple[str, ...], float]:
    """{(label values...): value} of an instant query's answer."""
    found = {tuple(s["metric"].get(label, "") for label in labels): float(s["value"][1]) for s in series}
    assert len(found) == len(series), f"labels {labels} do not tell the series apart: {series}"
    return found


# -- a Prometheus scraping many stations --------------------------------------------


def test_a_prometheus_scrapes_every_station_by_name_and_port(fleet):
    central = fleet.central
    for name in ("lobby", "localhost"):
        station = fleet.stations[name]
        latest = station.latest()
        [upload] = central.query(f'webperf3_last_upload_bytes_per_second{{station="{name}"}}') if latest.upload_bps else [None]
        [download] = central.query(f'webperf3_last_download_bytes_per_second{{station="{name}"}}')
        assert download["metric"] | {"__name__": "x"} == {
            "__name__": "x", "job": "webperf3", "station": name, "port": str(station.iperf3_port),
            "measured_by": latest.download_measured_by or "station",
            "instance": f"{'127.0.0.1' if name == 'lobby' else 'localhost'}:{station.port}"}
        assert float(download["value"][1]) == pytest.approx(latest.download_bps / 8, rel=1e-12)
        if upload is not None:
            assert float(upload["value"][1]) == pytest.approx(latest.upload_bps / 8, rel=1e-12)
        # Each station says its own name, which is the name it is filed under.
        [info] = central.query(f'webperf3_info{{station="{name}"}}')
        assert info["metric"]["station_name"] == name
        assert info["metric"]["version"] == webperf3.__version__
    # Every test, not just the latest: lobby's upload, then its --bidir test's.
    [history] = central.query('webperf3_last_upload_bytes_per_second{station="lobby"}[5m]')
    seen = {float(v) for _, v in history["values"]}
    assert {bps / 8 for bps in fleet.uploads["lobby"]} <= seen and len(fleet.uploads["lobby"]) == 2
    # Only these two are scraped by the central one: the gym comes through its agent.
    targets = central.get_json("/api/v1/targets")["data"]["activeTargets"]
    assert sorted(t["labels"]["station"] for t in targets) == ["lobby", "localhost"]
    assert all(t["health"] == "up" for t in targets), targets


def test_promtool_finds_nothing_in_a_running_stations_metrics(fleet):
    for station in fleet.stations.values():
        body = station.get("/metrics")
        assert b"webperf3_server_up{" in body and b"webperf3_last_" in body
        checked = promtool("check", "metrics", stdin=body)
        assert (checked.returncode, checked.stdout + checked.stderr) == (0, ""), station.name


# -- a station behind NAT: an agent remote-writing ------------------------------------


def test_an_agent_sends_a_station_behind_nat(fleet):
    central, gym = fleet.central, fleet.stations["gym"]
    udp = gym.latest()
    assert udp.protocol == "UDP"
    port = str(gym.iperf3_port)
    expected = {
        "webperf3_last_upload_bytes_per_second": udp.upload_bps / 8,
        "webperf3_last_jitter_seconds": udp.jitter_ms / 1000,
        "webperf3_last_loss_ratio": udp.loss_percent / 100,
        "webperf3_last_test_timestamp_seconds": udp.time,
    }
    for metric, value in expected.items():
        [series] = central.query(f'{metric}{{station="gym"}}')
        assert series["metric"]["port"] == port and series["metric"]["job"] == "webperf3"
        assert float(series["value"][1]) == pytest.approx(value, rel=1e-12), metric
    assert by(central.query('webperf3_tests_total{station="gym"}'), "outcome") == {("ok",): 1, ("failed",): 1, ("interrupted",): 0}
    # The station label came from the unit's STATION, through external_labels.
    [info] = central.query('webperf3_info{station="gym"}')
    assert info["metric"]["station_name"] == "gym"
    # It travelled by remote write: the agent says it sent samples.
    status, body = fleet.agent.get("/metrics")
    sent = re.search(rb"^prometheus_remote_storage_samples_total\{[^}]*\} (\S+)$", body, re.MULTILINE)
    assert status == 200 and sent and float(sent[1]) > 0


def test_the_central_prometheus_turns_away_a_stranger(fleet):
    stranger = Prometheus.__new__(Prometheus)  # the same client, without the password
    stranger._opener, stranger._auth, stranger.api = fleet.central._opener, None, fleet.central.api
    assert stranger.get("/api/v1/write")[0] == 401


# -- the shipped files ----------------------------------------------------------------


def test_promtool_accepts_every_shipped_config(tmp_path):
    checked = promtool("check", "config", str(FLEET / "prometheus.yml"))
    assert checked.returncode == 0 and "SUCCESS" in checked.stdout, checked
    checked = promtool("check", "config", "--agent", str(FLEET / "agent.yml"))
    assert checked.returncode == 0 and "SUCCESS" in checked.stdout, checked
    cert, key = make_certificate(tmp_path)
    web_config = tmp_path / "web-config.yml"
    web_config.write_text(shipped("web-config.yml", {"/etc/prometheus/central.crt": str(cert), "/etc/prometheus/central.key": str(key)}))
    checked = promtool("check", "web-config", str(web_config))
    assert checked.returncode == 0 and "SUCCESS" in checked.stdout + checked.stderr, checked
    if shutil.which("systemd-analyze"):
        verified = subprocess.run(["systemd-analyze", "verify", str(FLEET / "webperf3-agent.service")],
                                  capture_output=True, text=True, timeout=30, check=False)
        assert (verified.returncode, verified.stderr) == (0, ""), verified


def test_the_shipped_targets_are_named_as_stations(tmp_path):
    # The shipped targets file, through the shipped relabelling: named, or by host.
    config = tmp_path / "prometheus.yml"
    config.write_text(shipped("prometheus.yml", {"/etc/prometheus/webperf3-stations/*.yml": f"{FLEET}/webperf3-stations/*.yml"}))
    checked = promtool("check", "config", str(config))
    assert checked.returncode == 0 and "WARNING" not in checked.stdout + checked.stderr, checked
    found = promtool("check", "service-discovery", "--timeout=2s", str(config), "webperf3")
    targets = {t["labels"]["instance"]: t["labels"] for t in json.loads(found.stdout)}
    assert {instance: labels["station"] for instance, labels in targets.items()} == {
        "pi-lobby.local:8080": "pi-lobby", "pi-library.local:8080": "pi-library", "192.168.20.31:8080": "gym"}
    # What a series gets (Prometheus drops the labels starting with __, the scratch __tmp_host too).
    kept = {name: value for name, value in targets["192.168.20.31:8080"].items() if not name.startswith("__")}
    assert kept == {"instance": "192.168.20.31:8080", "job": "webperf3", "site": "sports-hall", "station": "gym"}


# -- the Grafana dashboard -------------------------------------------------------------

DASHBOARD = FLEET / "grafana-dashboard.json"


def substituted(expr: str, station: str) -> str:
    """A panel's query as Grafana sends it: its variables replaced. A
    multi-value variable in a regex matcher becomes an alternation."""
    for variable, value in (("$station", station), ("${station}", station), ("$__rate_interval", "1m"),
                            ("$__interval", "15s"), ("$__range", "24h")):
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"a variable this test does not know: {expr}"
    return expr


def panel_checks(fleet: Fleet) -> dict[str, Callable[[str, list[dict]], None]]:
    """What each panel's queries must return, by panel title, given refId and answer."""
    latest = {name: station.latest() for name, station in fleet.stations.items()}
    ports = {name: str(station.iperf3_port) for name, station in fleet.stations.items()}

    def per_port(value: Callable[[Result], float | None], *extra: tuple[str, Callable[[Result], str]]) -> dict:
        return {(name, ports[name], *(f(r) for _, f in extra)): v
                for name, r in latest.items() if (v := value(r)) is not None}

    upload = per_port(lambda r: r.upload_bps)
    download = per_port(lambda r: r.download_bps, ("measured_by", lambda r: r.download_measured_by or "station"))

    def equal(expected: dict, *labels: str) -> Callable[[list[dict]], None]:
        def check(answer: list[dict]) -> None:
            got = by(answer, *labels)
            assert got.keys() == expected.keys()
            for key, value in expected.items():
                assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-15), key
        return check

    def tests_per_hour(answer: list[dict]) -> None:
        got = by(answer, "station", "outcome")
        assert got.keys() == {(name, outcome) for name in fleet.tests for outcome in ("ok", "failed", "interrupted")}
        for name, (ok, failed) in fleet.tests.items():
            # increase() extrapolates to the window's end: a little over, never under.
            assert ok <= got[name, "ok"] <= ok * 1.25 and failed <= got[name, "failed"] <= failed * 1.25

    def ages(answer: list[dict]) -> None:
        got = by(answer, "station", "port")
        assert got.keys() == {(name, ports[name]) for name in latest}
        for (name, _), age in got.items():
            assert latest[name].duration and 0 < age < 300, (name, age)

    stations = {name: {"station": name, "station_name": name, "version": webperf3.__version__,
                       "iperf3_version": json.loads(s.get("/api/servers"))["servers"][0]["version"]}
                for name, s in fleet.stations.items()}

    def station_table(answer: list[dict]) -> None:
        assert {s["metric"]["station"]: {k: s["metric"][k] for k in stations["lobby"]} for s in answer} == stations
        # A station runs the iperf3 on PATH, asked directly: 3.12 on Debian 12, 3.18 on 13.
        assert {s["metric"]["iperf3_version"] for s in answer} >= {iperf3_version(IPERF3)}
        assert all(float(s["value"][1]) == 1 and s["metric"]["python_version"] for s in answer)

    zero_each = equal({(name,): 0 for name in fleet.stations}, "station")
    return {
        "Upload per station and port": lambda ref, a: equal(upload, "station", "port")(a),
        "Download per station and port (what the station sent, unless measured by the client)":
            lambda ref, a: equal(download, "station", "port", "measured_by")(a),
        "Latest test per station and port": lambda ref, a: {
            "A": equal(upload, "station", "port"),
            "B": equal(download, "station", "port", "measured_by"),
            "C": ages}[ref](a),
        "Tests and failures per hour": lambda ref, a: tests_per_hour(a),
        "iperf3 servers down": lambda ref, a: zero_each(a),
        "Stations not answering": lambda ref, a: zero_each(a),
        "UDP jitter": lambda ref, a: equal(per_port(lambda r: r.jitter_ms and r.jitter_ms / 1000, ("direction", lambda r: "upload")),
                                           "station", "port", "direction")(a),
        "UDP loss": lambda ref, a: equal(per_port(lambda r: None if r.loss_percent is None else r.loss_percent / 100,
                                                  ("direction", lambda r: "upload")), "station", "port", "direction")(a),
        "TCP retransmits": lambda ref, a: equal(per_port(lambda r: r.retransmits), "station", "port")(a),
        "Stations": lambda ref, a: station_table(a),
    }


def panels() -> list[dict]:
    return json.loads(DASHBOARD.read_text())["panels"]


def test_every_dashboard_query_returns_the_stations_figures(fleet):
    checks = panel_checks(fleet)
    assert {panel["title"] for panel in panels()} == checks.keys(), "a panel without a check (or a check without its panel)"
    # What the fleet ran must show in the panels that would have been empty otherwise.
    assert fleet.stations["gym"].latest().jitter_ms is not None and fleet.stations["lobby"].latest().retransmits is not None
    everyone = "(" + "|".join(fleet.stations) + ")"  # Grafana's "All" with these three selected
    for panel in panels():
        for target in panel["targets"]:
            answer = fleet.central.query(substituted(target["expr"], everyone))
            assert answer, f"{panel['title']} {target['refId']}: no data"
            checks[panel["title"]](target["refId"], answer)
    # The variable's own query lists every station.
    variable = next(v for v in json.loads(DASHBOARD.read_text())["templating"]["list"] if v["name"] == "station")
    metric, label = re.fullmatch(r"label_values\((\w+), (\w+)\)", variable["query"]["query"]).groups()
    values = fleet.central.get_json(f"/api/v1/label/{label}/values?match[]={metric}")["data"]
    assert sorted(values) == sorted(fleet.stations)


def test_the_station_variable_narrows_every_panel(fleet):
    for panel in panels():
        for target in panel["targets"]:
            answer = fleet.central.query(substituted(target["expr"], "gym"))
            assert {s["metric"].get("station") for s in answer} <= {"gym"}, panel["title"]
            if panel["title"] not in ("Download per station and port (what the station sent, unless measured by the client)",
                                      "TCP retransmits") and target["refId"] != "B":
                assert answer, f"{panel['title']} {target['refId']}: no data for the gym"


def test_the_dashboard_imports_anywhere():
    dashboard = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    # The Prometheus to use is chosen at import, not named in the file.
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    assert variables["station"]["multi"] and variables["station"]["includeAll"] and variables["station"]["allValue"] == ".+"
    assert dashboard["uid"] and isinstance(dashboard["schemaVersion"], int)
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(set(ids)) == len(ids)
    for panel in dashboard["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert set(panel["gridPos"]) == {"x", "y", "w", "h"} and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        refs = [target["refId"] for target in panel["targets"]]
        assert len(set(refs)) == len(refs) and refs
        for target in panel["targets"]:
            assert 'station=~"$station"' in target["expr"], (panel["title"], target["expr"])
