"""The real command, as the Pi runs it at boot: ``python -m webperf3 --servers N``."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.conftest import install, sample

ROOT = Path(__file__).resolve().parent.parent


def free_ports(count: int) -> list[int]:
    """``count`` consecutive free ports (the iperf3 servers' range)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            first = s.getsockname()[1]
        if first + count > 65535:
            continue
        if all(_free(p) for p in range(first, first + count)):
            return list(range(first, first + count))
    raise RuntimeError("no free port range")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


class Station:
    """``python -m webperf3`` in a subprocess on free ports."""

    def __init__(self, log_dir: Path, servers: int = 2, legacy: bool = False, extra: tuple[str, ...] = ()) -> None:
        self.iperf3_ports = free_ports(servers) if servers else []
        self.port, self.ws_port = free_ports(1)[0], free_ports(1)[0]
        first = str(self.iperf3_ports[0]) if servers else "5201"
        count = [str(servers)] if legacy else ["--servers", str(servers)]
        argv = [sys.executable, "-m", "webperf3", *count, "--first-port", first, "--log-dir", str(log_dir),
                "--host", "127.0.0.1", "--port", str(self.port), "--ws-port", str(self.ws_port),
                "--iperf3-bind", "127.0.0.1", *extra]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.url = f"http://127.0.0.1:{self.port}/"

    def wait_healthy(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.proc.communicate()
            try:
                if get(self.url + "healthz", 1) == b"ok" and self.all_servers_up():
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise TimeoutError("webperf3 did not become healthy")

    def all_servers_up(self) -> bool:
        servers = self.api("api/servers")["servers"]
        return all(s["state"] == "idle" for s in servers) and len(servers) == len(self.iperf3_ports)

    def api(self, path: str) -> dict:
        return json.loads(get(self.url + path))

    def stop(self) -> tuple[int, float]:
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=10)
        return code, time.monotonic() - started

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def station(log_dir):
    started: list[Station] = []

    def start(**kwargs) -> Station:
        s = Station(log_dir, **kwargs)
        started.append(s)
        return s

    yield start
    for s in started:
        s.kill()
        s.proc.communicate()


def run_client(port: int, name: str) -> None:
    done = subprocess.run(["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", "1", "--extra-data", name], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr


def wait_for_name(s: Station, port: int, name: str, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for row in s.api("api/latest")["rows"]:
            if row["port"] == port and row["latest"] and row["latest"]["name"] == name:
                return row
        time.sleep(0.1)
    raise AssertionError(f"{name} never reached /api/latest")


@pytest.mark.parametrize("legacy", [False, True], ids=["--servers 2", "legacy N"])
def test_station_records_a_real_test_and_stops_cleanly(station, legacy):
    s = station(servers=2, legacy=legacy)
    s.wait_healthy()
    pids = [srv["pid"] for srv in s.api("api/servers")["servers"]]
    assert len(pids) == 2 and all(alive(p) for p in pids)
    port = s.iperf3_ports[1]
    run_client(port, "Room 101")
    row = wait_for_name(s, port, "Room 101")
    assert row["latest"]["upload_bps"] > 0 and row["latest"]["client"] == "127.0.0.1"
    rows = list(csv.reader(io.StringIO(get(s.url + "csv").decode())))
    assert rows[0][:5] == ["Port", "Name", "Timestamp", "Send rate (bps)", "Receive rate (bps)"]
    assert [r[:2] for r in rows[1:]] == [[str(port), "Room 101"]]
    status = subprocess.run([sys.executable, "-m", "webperf3", "status", "--url", s.url], capture_output=True, text=True, timeout=30)
    assert status.returncode == 0 and "Room 101" in status.stdout and str(port) in status.stdout
    with connect(f"ws://127.0.0.1:{s.ws_port}/", open_timeout=5) as browser:
        assert json.loads(browser.recv(timeout=5))["type"] == "snapshot"
        code, seconds = s.stop()
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                browser.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001  # going away
    out, err = s.proc.communicate()
    assert code == 0, err
    assert seconds < 3.0
    assert not any(alive(p) for p in pids)
    assert f"http://127.0.0.1:{s.port}/" in out and f"-p {s.iperf3_ports[0]}" in out
    assert f"test recorded on port {port} from 127.0.0.1, name 'Room 101'" in err
    assert "stopping" in err and "stopped" in err


def test_status_with_nothing_running_says_so():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/"
    done = subprocess.run([sys.executable, "-m", "webperf3", "status", "--url", url, "--timeout", "2"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 1 and f"no webperf3 answering at {url}" in done.stderr


def test_servers_0_serves_copied_logs_without_iperf3(station, log_dir):
    install(log_dir, 5201, sample("extra_data"))
    s = station(servers=0, extra=("--iperf3", "/nonexistent/iperf3"))
    s.wait_healthy()
    assert s.api("api/latest")["rows"][0]["latest"]["name"] == "Room 101"
    assert s.api("api/servers") == {"servers": []}
    assert s.stop()[0] == 0


def run_bad(*argv: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "webperf3", *argv], capture_output=True, text=True, timeout=30,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def test_bad_options_each_give_one_line_and_exit_2(tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    busy = taken.getsockname()[1]
    base = ["--log-dir", str(tmp_path / "logs"), "--host", "127.0.0.1"]
    readonly = tmp_path / "file"
    readonly.write_text("a file, not a directory")
    cases = {
        "--servers=-1": ([*base, "--servers=-1"], "cannot be negative"),
        "N=-3": ([*base, "--", "-3"], "cannot be negative"),
        "past 65535": ([*base, "--servers", "10", "--first-port", "65530"], "would go past port 65535"),
        "port 70000": ([*base, "--port", "70000"], "outside 1-65535"),
        "web port among iperf3's": ([*base, "--servers", "4", "--first-port", "5201", "--port", "5203"], "--port 5203 is one of the iperf3 ports"),
        "ws port among iperf3's": ([*base, "--servers", "4", "--first-port", "5201", "--ws-port", "5202"], "--ws-port 5202 is one of the iperf3 ports"),
        "web = ws": ([*base, "--port", "9000", "--ws-port", "9000"], "need two ports"),
        "log dir unwritable": (["--log-dir", str(readonly / "logs"), "--host", "127.0.0.1"], "is not writable"),
        "web port taken": ([*base, "--port", str(busy)], f"--port {busy} on 127.0.0.1 is not available"),
        "ws port taken": ([*base, "--ws-port", str(busy)], f"--ws-port {busy} on 127.0.0.1 is not available"),
    }
    try:
        for name, (argv, message) in cases.items():
            done = run_bad(*argv)
            assert done.returncode == 2, (name, done.stderr)
            assert message in done.stderr, (name, done.stderr)
            assert len(done.stderr.strip().splitlines()) == 1, (name, done.stderr)
    finally:
        taken.close()


def test_iperf3_missing_says_how_to_install_it(tmp_path):
    done = run_bad("--servers", "2", "--log-dir", str(tmp_path), "--host", "127.0.0.1", env={"PATH": str(tmp_path)})
    assert done.returncode == 2
    assert "sudo apt install iperf3" in done.stderr and len(done.stderr.strip().splitlines()) == 1
