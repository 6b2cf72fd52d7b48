"""A full disk under the logs: shown in /healthz (both
ports, 503 while tests are being lost), /api/servers and the push; back to
200 by itself when space returns, and the next test is recorded. A real
512 kB tmpfs (root only), real iperf3 servers and clients on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from webtest import TestApp

from tests.support.iperf3 import run_client
from tests.support.ports import free_ports
from tests.support.waiting import wait_until
from webperf3.ops.health import health_text, http_status, problems
from webperf3.iperf3.fleet.servers import ServerFleet
from webperf3.iperf3.fleet.state import Backoff
from webperf3.live.server import LiveServer
from webperf3.store.results import ResultsStore
from tests.support.parts import board_of, dashboard_of


@pytest.fixture
def tmpfs() -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs (mount -t tmpfs -o size=512k)")
    where = Path(tempfile.mkdtemp(prefix="webperf3-tmpfs-"))
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(where)], capture_output=True, text=True)
    if done.returncode != 0:
        where.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)
        where.rmdir()


def fill(directory: Path) -> Path:
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"x" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
    return filler


def healthz(port: int) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.mark.usefixtures("no_iperf3_left")
def test_a_full_disk_is_shown_and_recovered_from(tmpfs: Path) -> None:
    log_dir = tmpfs / "logs"
    ports = free_ports(2)
    fleet = ServerFleet(ports, log_dir, bind="127.0.0.1", poll_interval=0.1, file_check_interval=0.2,
                        backoff=Backoff(initial=0.2, cap=1.0))
    store = ResultsStore(log_dir)
    servers = lambda: [s.to_dict() for s in fleet.status()]  # noqa: E731
    app = TestApp(dashboard_of(store, servers=servers, ports=lambda: ports).app)
    live = LiveServer(store, "127.0.0.1", 0, servers=servers, ports=lambda: ports, board=board_of(store, ports=lambda: ports, readonly=True))
    fleet.start()
    live.start()
    try:
        wait_until(lambda: all(s.state == "idle" for s in fleet.status()), 8.0, what="idle")
        assert app.get("/healthz").text == "ok" and healthz(live.port) == (200, "ok")
        def recorded() -> list[str]:
            store.refresh()
            return [r.name for r in store.results()]

        assert run_client(ports[0], "before").returncode == 0
        # The server writes its entry after its client has left: on a slow
        # machine (qemu) the disk would fill before "before" is in the log.
        wait_until(lambda: recorded() == ["before"], 5.0, what="before recorded")
        filler = fill(tmpfs)
        wait_until(lambda: app.get("/healthz", expect_errors=True).status_int == 503, 5.0, what="healthz 503")
        assert "disk: the disk holding" in app.get("/healthz", expect_errors=True).text
        [problem] = app.get("/api/servers").json["problems"]
        assert problem["kind"] == "disk" and problem["ports"] == ports and problem["losing"] is True
        assert "full" in problem["message"] and "tests are being lost" in problem["message"]
        status, text = healthz(live.port)
        assert status == 503 and "full" in text
        run_client(ports[0], "during")  # iperf3 writes what fits and drops the rest, silently
        filler.unlink()
        wait_until(lambda: app.get("/healthz", expect_errors=True).status_int == 200, 5.0, what="healthz 200 again")
        assert app.get("/api/servers").json["problems"] == [] and healthz(live.port) == (200, "ok")
        assert run_client(ports[0], "after").returncode == 0
        # The test on the full disk is kept only if its entry happened to
        # fit in the log's last, partly used page (tmpfs counts pages).
        try:
            wait_until(lambda: [name for name in recorded() if name != "during"] == ["before", "after"], 5.0,
                       what="before and after recorded")
        except AssertionError as error:
            log = (log_dir / f"port-{ports[0]}.json").read_bytes()
            raise AssertionError(f"{error}: recorded {recorded()}; the log's last 600 bytes: {log[-600:]!r}") from None
        # The cut entry of the test run on the full disk is skipped, not shown half.
        assert store.skipped <= 1
    finally:
        live.stop()
        fleet.stop()


def test_problems_are_grouped_and_only_losing_ones_fail_health() -> None:
    servers = [
        {"port": 5202, "state": "idle", "problem_kind": "disk", "problem": "full"},
        {"port": 5201, "state": "idle", "problem_kind": "disk", "problem": "full"},
        {"port": 5203, "state": "failed", "last_exit": "port 5203 in use by pid 9", "problem_kind": None, "problem": None},
        {"port": 5204, "state": "idle", "problem_kind": "log", "problem": "iperf3 on port 5204: its log file was replaced"},
        {"port": 5205, "state": "testing", "problem_kind": None, "problem": None},
    ]
    found = problems(servers)
    assert found == [
        {"kind": "disk", "message": "full", "ports": [5201, 5202], "losing": True},
        {"kind": "server", "message": "iperf3 on port 5203 is not running: port 5203 in use by pid 9", "ports": [5203],
         "losing": False},
        {"kind": "log", "message": "iperf3 on port 5204: its log file was replaced", "ports": [5204], "losing": True},
    ]
    assert http_status(found) == 503
    assert http_status(found[1:2]) == 200  # a server being retried is shown, not paged
    assert health_text([]) == "ok" and http_status([]) == 200
    assert health_text(found).splitlines()[0] == "disk: full"


def test_a_losing_port_is_a_metric(tmp_path: Path) -> None:
    from webperf3.ops.metrics import build_registry, exposition

    servers = [
        {"port": 5201, "state": "idle", "restarts": 0, "problem_kind": "disk", "problem": "full"},
        {"port": 5202, "state": "idle", "restarts": 0, "problem_kind": None, "problem": None},
    ]
    body, _ = exposition(build_registry(ResultsStore(tmp_path), servers=lambda: servers))
    text = body.decode()
    assert 'webperf3_server_losing_tests{port="5201"} 1.0' in text
    assert 'webperf3_server_losing_tests{port="5202"} 0.0' in text
