"""Watching a test while it runs: a real station (``python -m webperf3``), real
iperf3 clients, a real websocket client, as a browser would see them.

Each test here runs a 5-second iperf3 test at a fixed bandwidth (so a loaded
2-core machine still measures steadily) and checks what a watcher relies on:
at least 6 progress messages for the port during the test, figures that
rise from 0 and whose median over the last half of the test is within 20 %
of the final figure the log then gives, progress gone within 1 s of the
test's end, and nothing at all sent while every port is idle.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.iperf3 import sock_diag_refused
from tests.support.live import Client
from tests.support.paths import ROOT
from tests.support.station import Station

REFUSED = sock_diag_refused() if sys.platform.startswith("linux") else None
pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the counters are Linux's"),
    pytest.mark.skipif(REFUSED is not None, reason=REFUSED or ""),
    pytest.mark.timeout(180),
]

BUILT = Path.home() / ".cache" / "webperf3" / "iperf3"
SECONDS = 5
TOLERANCE = 0.20
#: A test has ended once its client exits; the last progress may follow by this.
STOP_WITHIN = 1.0
QUIET = 1.5  # how long "nothing is sent" is watched


@dataclass
class Run:
    """What the websocket client saw of one iperf3 test."""

    ended: float  # monotonic, when the iperf3 client exited
    output: str  # what the client printed
    messages: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    during: dict[str, Any] = field(default_factory=dict)  # what /api/servers and status said mid-test

    def progress(self, port: int) -> list[tuple[float, dict[str, Any]]]:
        return [(t, test) for t, m in self.messages if m["type"] == "progress" for test in m["tests"] if test["port"] == port]

    def result(self, name: str) -> dict[str, Any]:
        found = [r for _, m in self.messages if m["type"] == "results" for r in m["results"] if r["name"] == name]
        assert found, f"no result named {name!r} came"
        return found[0]


@pytest.fixture(scope="module")
def station(tmp_path_factory) -> Iterator[Station]:
    s = Station(tmp_path_factory.mktemp("progress-logs"))
    yield s
    s.stop()


@pytest.fixture
def ws(station) -> Iterator[Client]:
    client = Client(station.ws_port)
    assert client.next_of("snapshot")["type"] == "snapshot"
    yield client
    client.close()


def look_mid_test(station: Station, at: float, into: dict[str, Any]) -> threading.Thread:
    """From another thread, while the main one reads the websocket: what
    /api/servers and ``webperf3 status`` say *at* seconds into the test."""

    def look() -> None:
        time.sleep(at)
        into["servers"] = station.api("api/servers")["servers"]
        into["status"] = subprocess.run(
            [sys.executable, "-m", "webperf3", "status", "--url", station.url], capture_output=True, text=True, timeout=20,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        ).stdout

    thread = threading.Thread(target=look, daemon=True)
    thread.start()
    return thread


def run_test(station: Station, ws: Client, name: str, *args: str, seconds: int = SECONDS, look_at: float | None = None) -> Run:
    # Idle before: nothing at all is sent.
    assert ws.quiet(QUIET) == [], "a message came while every port was idle"
    argv = [station.iperf3, "-c", "127.0.0.1", "-p", str(station.iperf3_port), "-t", str(seconds),
            "--connect-timeout", "3000", "--extra-data", name, *args]
    client = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ended: list[float] = []
    outputs: list[str] = []

    def wait() -> None:  # reading as it comes, so a long --json output never fills the pipe
        outputs.append(client.communicate()[0])
        ended.append(time.monotonic())

    threading.Thread(target=wait, daemon=True).start()
    during: dict[str, Any] = {}
    looker = look_mid_test(station, look_at, during) if look_at is not None else None
    messages: list[tuple[float, dict[str, Any]]] = []
    deadline = time.monotonic() + seconds + 20
    while not ended and time.monotonic() < deadline:
        try:
            messages.append((time.monotonic(), ws.next(0.05)))
        except TimeoutError:
            pass
    if not ended:
        client.kill()
    output = outputs[0] if outputs else ""
    assert ended and client.returncode == 0, output
    # Until the result has come and the port is idle again …
    while time.monotonic() < deadline and not (
        any(m["type"] == "results" for _, m in messages)
        and any(m["type"] == "servers" and m["servers"][0]["state"] == "idle" for _, m in messages)
    ):
        try:
            messages.append((time.monotonic(), ws.next(0.05)))
        except TimeoutError:
            pass
    # … and then nothing more.
    assert ws.quiet(QUIET) == [], "messages kept coming after the test ended"
    if looker is not None:
        looker.join(20)
    return Run(ended[0], output, messages, during)


def check_figures(run: Run, port: int, key: str, final: float, seconds: float = SECONDS) -> list[dict[str, Any]]:
    """The checks of one direction's figures (above); the progress entries."""
    seen = run.progress(port)
    during = [test for t, test in seen if t <= run.ended]
    assert len(during) >= 6, f"{len(during)} progress messages during the test"
    assert seen[-1][0] <= run.ended + STOP_WITHIN, f"progress {seen[-1][0] - run.ended:.2f} s after the test ended"
    assert not during[0][key], f"the first figure is {during[0][key]}, not 0"  # rises from 0 (0 or not yet known)
    last_half = [test[key] for test in during if test["elapsed"] >= seconds / 2 and test[key] is not None]
    assert len(last_half) >= 3, during
    median = statistics.median(last_half)
    assert abs(median - final) <= TOLERANCE * final, f"{key}: median {median / 1e6:.1f} Mbit/s, final {final / 1e6:.1f}"
    return during


def test_upload_moves_and_settles_on_the_final_figure(station, ws):
    run = run_test(station, ws, "progress upload", "-b", "200M", look_at=2.5)
    final = run.result("progress upload")
    during = check_figures(run, station.iperf3_port, "upload_bps", final["upload_bps"])
    assert all(t["download_bps"] is None and t["protocol"] in ("TCP", None) for t in during)
    assert [t["elapsed"] for t in during] == sorted(t["elapsed"] for t in during)
    assert during[-1]["elapsed"] == pytest.approx(SECONDS, abs=1.0)
    # Mid-test, the HTTP API and `webperf3 status` carry the same figures.
    (server,) = run.during["servers"]
    assert server["state"] == "testing" and server["progress"]["protocol"] == "TCP"
    assert server["progress"]["upload_bps"] == pytest.approx(final["upload_bps"], rel=TOLERANCE)
    shown = re.search(r"testing from 127\.0\.0\.1 \(\d+ s, up ([\d.]+) Mbit/s\)", run.during["status"])
    assert shown and float(shown[1]) * 1e6 == pytest.approx(final["upload_bps"], rel=TOLERANCE), run.during["status"]
    # After the test the status has no figures left.
    assert station.api("api/servers")["servers"][0]["progress"] is None


def test_reverse_shows_the_download_the_client_acknowledged(station, ws):
    run = run_test(station, ws, "progress reverse", "-R", "-b", "200M")
    final = run.result("progress reverse")
    during = check_figures(run, station.iperf3_port, "download_bps", final["download_bps"])
    assert all(t["upload_bps"] is None for t in during)
    assert {t["download_measured_by"] for t in during if t["download_bps"] is not None} == {"client"}


def test_bidir_with_two_streams_each_way_shows_both_directions_summed(station, ws):
    run = run_test(station, ws, "progress bidir", "--bidir", "-P", "2", "-b", "100M")
    final = run.result("progress bidir")
    check_figures(run, station.iperf3_port, "upload_bps", final["upload_bps"])
    during = check_figures(run, station.iperf3_port, "download_bps", final["download_bps"])
    assert final["upload_bps"] == pytest.approx(200e6, rel=TOLERANCE)  # 2 streams of 100M: summed
    assert {t["streams"] for t in during[len(during) // 2 :]} == {4}


def test_udp_upload_shows_what_the_station_received(station, ws):
    run = run_test(station, ws, "progress udp", "-u", "-b", "50M")
    final = run.result("progress udp")
    during = check_figures(run, station.iperf3_port, "upload_bps", final["upload_bps"])
    assert all(t["download_bps"] is None for t in during)
    assert {t["protocol"] for t in during[2:]} == {"UDP"}


def test_udp_download_is_named_as_what_the_station_sent(station, ws):
    run = run_test(station, ws, "progress udp reverse", "-u", "-R", "-b", "50M")
    final = run.result("progress udp reverse")
    during = check_figures(run, station.iperf3_port, "download_bps", final["download_bps"])
    assert {t["download_measured_by"] for t in during if t["download_bps"] is not None} == {"station"}
    assert all(t["upload_bps"] is None for t in during)


@pytest.mark.parametrize("version", ["3.9", "3.18", "3.21"])
def test_every_iperf3_version_shows_progress(version, tmp_path):
    """The counters are the kernel's, but telling the control connection from
    the data ones, and UDP's read()/write(), depend on how iperf3 behaves."""
    iperf3 = BUILT / version / "bin" / "iperf3"
    if not iperf3.exists():
        pytest.skip(f"iperf3 {version} is not built in {BUILT} (see ../shared/iperf3-src/build)")
    s = Station(tmp_path / "logs", iperf3=str(iperf3))
    try:
        client = Client(s.ws_port)
        client.next_of("snapshot")
        try:
            run = run_test(s, client, f"bidir {version}", "--bidir", "-P", "2", "-b", "100M", seconds=3)
            final = run.result(f"bidir {version}")
            check_figures(run, s.iperf3_port, "upload_bps", final["upload_bps"], seconds=3)
            check_figures(run, s.iperf3_port, "download_bps", final["download_bps"], seconds=3)
            run = run_test(s, client, f"udp {version}", "-u", "-b", "50M", "--json", seconds=3)
            # iperf3 3.9's server logs a UDP upload as 0 bytes: the client's
            # own report (it sent; on loopback nothing is lost) is the final figure.
            sent = json.loads(run.output)["end"]["sum"]["bits_per_second"]
            check_figures(run, s.iperf3_port, "upload_bps", sent, seconds=3)
        finally:
            client.close()
    finally:
        log = s.stop()
    assert "no live progress" not in log
