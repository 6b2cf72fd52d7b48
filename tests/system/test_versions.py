"""The live tests against every iperf3 from 3.9 (Raspberry Pi OS 11) to 3.21.

For each iperf3 built in the cache (``make test`` builds them from
../shared/iperf3-src when a compiler is there; see
:func:`tests.support.iperf3.built_iperf3s`) and Debian's own: a real station,
``python -m webperf3 --servers 1 --iperf3 PATH``, real clients of the same
version, and what the dashboard's ``/api/results`` answers for a TCP, a
``-R``, a ``--bidir`` and a UDP test. Then what the newer servers' options
(:func:`webperf3.iperf3.fleet.process.survey_options`) do for a walking survey.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.iperf3 import built_iperf3s, every_iperf3, iperf3_cache, json_objects
from tests.support.paths import ROOT
from tests.support.ports import free_ports
from tests.support.processes import terminate
from tests.support.waiting import wait_until
from webperf3.iperf3.fleet.cmdline import read_argv
from webperf3.iperf3.fleet.process import (
    CNTL_KA_SINCE,
    RCV_TIMEOUT_SINCE,
    SND_TIMEOUT_SINCE,
    SERVER_MAX_DURATION_SINCE,
    is_server_argv,
    server_argv,
    survey_options,
    version_key,
)
from webperf3.iperf3.fleet.servers import ServerFleet

#: The station's stuck detection in these tests; 3.20+ servers then refuse
#: tests over 10 s (survey_options leaves room for setup and results).
MAX_TEST_SECONDS = 20


IPERF3S = every_iperf3()
if not built_iperf3s():
    pytest.skip(
        f"no iperf3 builds in {iperf3_cache()}: `make test` builds them from ../shared/iperf3-src "
        "(or WEBPERF3_IPERF3_SRC) when a C compiler is there",
        allow_module_level=True,
    )

pytestmark = pytest.mark.usefixtures("no_iperf3_left")


def _newer(since: tuple[int, ...]) -> list[str]:
    return [version for version in IPERF3S if version_key(version) >= since]


def get(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


class Station:
    """``python -m webperf3 --servers 1`` with one iperf3, on free ports of 127.0.0.1."""

    def __init__(self, iperf3: Path, log_dir: Path) -> None:
        self.iperf3 = iperf3
        self.iperf3_port, web, ws = free_ports(3)
        argv = [
            sys.executable, "-m", "webperf3", "--servers", "1", "--iperf3", str(iperf3),
            "--first-port", str(self.iperf3_port), "--log-dir", str(log_dir),
            "--host", "127.0.0.1", "--port", str(web), "--ws-port", str(ws), "--iperf3-bind", "127.0.0.1",
            "--max-test-seconds", str(MAX_TEST_SECONDS),
        ]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        # Its log goes to a file: a pipe nobody reads until the end could fill and stop it.
        self.output = log_dir.parent / f"{log_dir.name}-station.log"
        with self.output.open("wb") as out:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env)
        self.url = f"http://127.0.0.1:{web}/"
        self.done: dict[str, dict[str, Any]] = {}  # results by test name, for tests sharing the station

    def server(self) -> dict[str, Any]:
        (server,) = get(self.url + "api/servers")["servers"]
        return server

    def wait_idle(self, timeout: float = 15.0) -> dict[str, Any]:
        def idle() -> dict[str, Any] | None:
            assert self.proc.poll() is None, self.output.read_text(errors="replace")
            try:
                server = self.server()
            except OSError:
                return None
            return server if server["state"] == "idle" else None

        return wait_until(idle, timeout, interval=0.1, what="the station's iperf3 server to listen")

    def client(self, *args: str, seconds: int = 1) -> subprocess.CompletedProcess[str]:
        argv = [str(self.iperf3), "-c", "127.0.0.1", "-p", str(self.iperf3_port), "-t", str(seconds), *args]
        return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30, check=False)

    def result(self, name: str, timeout: float = 10.0) -> dict[str, Any]:
        """The one result of the test named *name*, once the dashboard has it."""
        query = urllib.parse.urlencode({"port": self.iperf3_port, "name": name})

        def found() -> list[dict[str, Any]]:
            return get(f"{self.url}api/results?{query}")["results"]

        (result,) = wait_until(found, timeout, interval=0.1, what=f"the test {name!r} in /api/results")
        return result

    def stop(self) -> None:
        terminate(self.proc)


@pytest.fixture(scope="module", params=list(IPERF3S), ids=[f"iperf3-{v}" for v in IPERF3S])
def station(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Station]:
    station = Station(IPERF3S[request.param], tmp_path_factory.mktemp(f"logs-{request.param}"))
    try:
        station.wait_idle()
        yield station
    finally:
        station.stop()


@pytest.fixture
def version(station: Station) -> str:
    return next(v for v, path in IPERF3S.items() if path == station.iperf3)


def test_the_server_runs_with_the_options_its_version_has(station, version):
    server = station.wait_idle()
    assert server["version"] == version
    argv = read_argv(server["pid"])  # as started: under qemu-user its loader stands first in /proc
    expected = server_argv(str(station.iperf3), station.iperf3_port, "127.0.0.1", survey_options(version, MAX_TEST_SECONDS))
    # iperf3 3.19+ parses --cntl-ka=I/N/C by writing NULs over the slashes.
    parsed = [part for arg in expected for part in (arg.split("/") if arg.startswith("--cntl-ka=") else [arg])]
    assert argv in (expected, parsed)
    # So a later webperf3 knows this server for its own if this one dies.
    assert is_server_argv(argv, station.iperf3_port)


# Every kind of test a survey runs: the client's options, and what the row must say.
KINDS = {
    "tcp": ([], {"protocol": "TCP", "direction": "upload"}),
    "reverse": (["-R"], {"protocol": "TCP", "direction": "download"}),
    "bidir": (["--bidir"], {"protocol": "TCP", "direction": "bidirectional"}),
    "udp": (["-u", "-b", "10M"], {"protocol": "UDP", "direction": "upload"}),
}


def run_kind(station: Station, version: str, kind: str) -> dict[str, Any]:
    """Run one test of *kind* against the station (once per station) and return its result."""
    name = f"{kind} on {version}"
    if name not in station.done:
        done = station.client(*KINDS[kind][0], "--extra-data", name)
        assert done.returncode == 0, done.stdout + done.stderr
        station.done[name] = station.result(name)
    return station.done[name]


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_of_test_reaches_the_dashboard_right(station, version, kind):
    expected = KINDS[kind][1]
    result = run_kind(station, version, kind)

    assert {key: result[key] for key in expected} == expected
    assert result["error"] is None
    assert result["version"] == version
    assert result["client"] == "127.0.0.1"
    assert result["streams"] == 1
    assert 0.5 < result["duration"] < 3
    upload, download = expected["direction"] != "download", expected["direction"] != "upload"
    # A side the test did not measure is null, never 0.
    assert (result["upload_bps"] is not None and result["upload_bps"] > 0) is upload
    assert (result["download_bps"] is not None and result["download_bps"] > 0) is download
    assert result["upload_bps"] is None or upload
    assert result["download_bps"] is None or download
    if kind == "udp":
        # Measured by the station, the receiver of an upload.
        assert result["jitter_ms"] is not None and result["jitter_ms"] >= 0
        assert result["loss_percent"] is not None and 0 <= result["loss_percent"] <= 100
    # iperf3 ended each test itself: the station never had to restart it.
    server = station.wait_idle()
    assert (server["restarts"], server["last_exit"]) == (0, None)


@pytest.mark.parametrize("kind", ["reverse", "bidir"])
def test_a_download_says_which_side_measured_it(station, version, kind):
    # Never the station's sent rate presented as what the client received:
    # no released iperf3 writes the client's figures into the server's log.
    assert run_kind(station, version, kind)["download_measured_by"] == "station"


@pytest.mark.parametrize("version", _newer(SERVER_MAX_DURATION_SINCE))
def test_a_test_longer_than_the_server_allows_is_refused_and_the_survey_goes_on(tmp_path, version):
    station = Station(IPERF3S[version], tmp_path)
    try:
        station.wait_idle()
        limit = int(survey_options(version, MAX_TEST_SECONDS)[-1])
        # Without the option this test would hold the port until the stuck
        # detection killed it at MAX_TEST_SECONDS and lost its result.
        for seconds in (limit + 1, 0):  # 0: no end at all
            station.wait_idle()
            started = time.monotonic()
            refused = station.client("--extra-data", "too long", seconds=seconds)
            assert refused.returncode != 0, refused.stdout
            assert time.monotonic() - started < 5
            # The client is told why ("client's requested duration exceeds the
            # server's maximum permitted limit") unless the server's close wins
            # the race: then "unable to receive control message". iperf3's race.
            assert "exceeds the server's maximum" in refused.stderr or "control message" in refused.stderr
        log = next(tmp_path.glob("port-*.json"))

        def refusals() -> int:  # iperf3 writes its entry after telling the client
            return sum("exceeds the server's maximum" in str(entry.get("error")) for entry in json_objects(log))

        wait_until(lambda: refusals() == 2, 5, what="both refusals in the server's log")

        done = station.client("--extra-data", "next room")
        assert done.returncode == 0, done.stdout + done.stderr
        assert station.result("next room")["upload_bps"] > 0
        assert (station.wait_idle()["restarts"], station.server()["last_exit"]) == (0, None)
    finally:
        station.stop()


@pytest.mark.parametrize("version", _newer(RCV_TIMEOUT_SINCE))
def test_an_upload_whose_client_froze_is_ended_by_iperf3_itself(tmp_path, version):
    """A phone that walks out of range mid-upload: iperf3 ends the test after
    receiving nothing for the dead-client time, long before the stuck detection."""
    port = free_ports(1)[0]
    fleet = ServerFleet([port], tmp_path, str(IPERF3S[version]), "127.0.0.1", max_test_seconds=300,
                        dead_client_seconds=3)  # fmt: skip
    fleet.start()
    client = None
    try:
        wait_until(lambda: fleet.status()[0].state == "idle", 10, what="the server to listen")
        client = subprocess.Popen(
            [str(IPERF3S[version]), "-c", "127.0.0.1", "-p", str(port), "-t", "60"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_until(lambda: fleet.status()[0].state == "testing", 10, what="the test to start")
        time.sleep(1)
        client.send_signal(signal.SIGSTOP)  # alive, connected, sending nothing
        frozen = time.monotonic()
        log = tmp_path / f"port-{port}.json"
        wait_until(lambda: any("error" in entry for entry in json_objects(log)), 40, interval=0.2,
                   what="iperf3 to end the test")  # fmt: skip
        took = time.monotonic() - frozen
        assert any("idle timeout for receiving data" in entry.get("error", "") for entry in json_objects(log))
        assert took < 30
        wait_until(lambda: fleet.status()[0].state == "idle", 10, what="the server to listen again")
        assert (fleet.status()[0].restarts, fleet.status()[0].last_exit) == (0, None)
    finally:
        if client is not None:
            client.kill()
            client.wait()
        fleet.stop()


# ----------------------------------------------- a client that walks out of range


VANISHING = {  # what a client runs when it walks out of range; whether the station receives, sends
    "tcp": ([], True, False),
    "reverse": (["-R"], False, True),
    "bidir": (["--bidir"], True, True),
    "udp": (["-u", "-b", "5M"], True, False),
    "udp-reverse": (["-u", "-b", "5M", "-R"], False, True),
}


def _ends_by_itself(version: str, kind: str) -> bool:
    """Whether iperf3 *version*, given survey_options, ends *kind* when its client vanishes."""
    have = version_key(version)
    args, receives, sends = VANISHING[kind]
    if have >= CNTL_KA_SINCE:
        return True  # the control connection's keepalive notices any test's client gone
    if receives and have >= RCV_TIMEOUT_SINCE:
        return True
    # TCP_USER_TIMEOUT; 3.16 to 3.18 keep waiting (esnet/iperf#1858).
    return sends and "-u" not in args and SND_TIMEOUT_SINCE <= have < (3, 16)


VANISH_CASES = [(v, k) for v in IPERF3S for k in VANISHING if _ends_by_itself(v, k)]
DEAD_CLIENT = 3


@pytest.mark.parametrize(("version", "kind"), VANISH_CASES, ids=[f"iperf3-{v}-{k}" for v, k in VANISH_CASES])
def test_a_client_that_walks_out_of_range_frees_the_port_by_itself(tmp_path, link, version, kind):
    """Without the options, each of these servers is still busy 45 s after its
    client vanished (measured), and until the stuck detection much later."""
    binary = str(IPERF3S[version])
    port = free_ports(1)[0]
    fleet = ServerFleet([port], tmp_path, binary, link.server_ip, max_test_seconds=300,
                        dead_client_seconds=DEAD_CLIENT)  # fmt: skip
    fleet.start()
    client = None
    try:
        wait_until(lambda: fleet.status()[0].state == "idle", 10, what="the server to listen")
        argv = link.run(binary, "-c", link.server_ip, "-p", str(port), "-t", "60", *VANISHING[kind][0])
        client = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: fleet.status()[0].state == "testing", 10, what="the test to start")
        time.sleep(1.5)
        link.cut()
        gone = time.monotonic()
        log = tmp_path / f"port-{port}.json"
        wait_until(lambda: fleet.status()[0].state == "idle" and any("error" in e for e in json_objects(log)), 30,
                   interval=0.2, what="iperf3 to end the test")  # fmt: skip
        took = time.monotonic() - gone
        # The keepalive counts from the control connection's last word, the
        # timeouts from the last data: a few seconds either side of DEAD_CLIENT.
        assert took < 5 * DEAD_CLIENT
        assert (fleet.status()[0].restarts, fleet.status()[0].last_exit) == (0, None)  # iperf3 ended it, not us
    finally:
        if client is not None:
            client.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                client.wait(timeout=5)
        fleet.stop()
