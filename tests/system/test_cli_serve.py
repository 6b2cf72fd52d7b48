"""The real command, as the Pi runs it at boot: ``python -m webperf3 --servers N``."""

from __future__ import annotations

import csv
import io
import json
import logging
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

from tests.support.logs import install, sample
from tests.support.paths import ROOT
from tests.support.ports import free_port, free_ports, port_is_free
from tests.support.processes import pid_gone
from tests.support.waiting import scaled



def get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


class Station:
    """``python -m webperf3`` in a subprocess on free ports."""

    def __init__(self, log_dir: Path, servers: int = 2, legacy: bool = False, extra: tuple[str, ...] = ()) -> None:
        self.iperf3_ports = free_ports(servers) if servers else []
        self.port, self.ws_port = free_port(), free_port()
        first = str(self.iperf3_ports[0]) if servers else "5201"
        count = [str(servers)] if legacy else ["--servers", str(servers)]
        argv = [sys.executable, "-m", "webperf3", *count, "--first-port", first, "--log-dir", str(log_dir),
                "--host", "127.0.0.1", "--port", str(self.port), "--ws-port", str(self.ws_port),
                "--iperf3-bind", "127.0.0.1", *extra]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.url = f"http://127.0.0.1:{self.port}/"

    def wait_healthy(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + scaled(timeout)
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
    assert len(pids) == 2 and not any(pid_gone(p) for p in pids)
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
    assert all(pid_gone(p) for p in pids)
    assert f"http://127.0.0.1:{s.port}/" in out and f"-p {s.iperf3_ports[0]}" in out
    assert f"test recorded on port {port} from 127.0.0.1, place 'Room 101'" in err
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
    assert s.api("api/servers") == {"servers": [], "problems": []}
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


# -- the CLI's smaller truths -------------------------------------------------

C_LOCALE = {"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0", "PYTHONIOENCODING": ""}
NON_ASCII = "Büro 3 — 会議室"


def named_log(log_dir: Path, port: int, name: str) -> None:
    text = sample("extra_data").read_text(encoding="utf-8").replace('"Room 101"', json.dumps(name))
    (log_dir / f"port-{port}.json").write_text(text, encoding="utf-8")


def test_export_and_status_under_the_c_locale_with_non_ascii_names(station, log_dir):
    named_log(log_dir, 5201, NON_ASCII)
    exported = subprocess.run([sys.executable, "-m", "webperf3", "export", "--log-dir", str(log_dir)],
                              capture_output=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT), **C_LOCALE})
    assert exported.returncode == 0, exported.stderr
    assert list(csv.reader(io.StringIO(exported.stdout.decode("utf-8"))))[1][1] == NON_ASCII  # UTF-8, whatever the locale
    s = station(servers=0, extra=("--iperf3", "/nonexistent/iperf3"))
    s.wait_healthy()
    status = subprocess.run([sys.executable, "-m", "webperf3", "status", "--url", s.url],
                            capture_output=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT), **C_LOCALE})
    assert status.returncode == 0, status.stderr
    line = status.stdout.decode("ascii").splitlines()[1]  # the terminal gets ASCII it can show
    assert "B\\xfcro 3 \\u2014 \\u4f1a\\u8b70\\u5ba4" in line


def test_the_banner_names_one_port_as_one_port(station):
    s = station(servers=1)
    s.wait_healthy()
    assert s.stop()[0] == 0
    out, _ = s.proc.communicate()
    assert f"server on port {s.iperf3_ports[0]}, logs in" in out
    assert f"{s.iperf3_ports[0]}-{s.iperf3_ports[0]}" not in out


def run_on_held_port(log_dir: Path, port: int) -> subprocess.CompletedProcess:
    web, ws = free_port(), free_port()
    return run_bad("--servers", "2", "--first-port", str(port - 1), "--log-dir", str(log_dir), "--host", "127.0.0.1",
                   "--port", str(web), "--ws-port", str(ws), "--iperf3-bind", "127.0.0.1")


def test_a_port_held_by_another_iperf3_stops_the_start(log_dir, tmp_path):
    # A system iperf3.service, say: tests on that port would go to it and
    # never be recorded here.
    first = free_ports(2)[0]
    held = first + 1
    other = subprocess.Popen(["iperf3", "--server", "--port", str(held), "--bind", "127.0.0.1"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 5
        while port_is_free(held) and time.monotonic() < deadline:
            time.sleep(0.05)
        done = run_on_held_port(log_dir, held)
        assert other.poll() is None  # not ours: left alone
    finally:
        other.kill()
        other.wait()
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"webperf3: iperf3 port {held} in use by pid {other.pid} (iperf3 --server --port {held} --bind 127.0.0.1):"
        " tests there would never be recorded; stop it or choose another --first-port"
    ]
    assert not list(log_dir.glob("port-*.json"))  # nothing was started


def test_a_port_held_by_any_program_stops_the_start_and_names_it(log_dir):
    first = free_ports(2)[0]
    held = first + 1
    code = f"import socket, time\ns = socket.socket()\ns.bind(('127.0.0.1', {held}))\ns.listen()\nprint('up', flush=True)\ntime.sleep(60)"
    other = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline() == "up\n"
        done = run_on_held_port(log_dir, held)
    finally:
        other.kill()
        other.wait()
    assert done.returncode == 2
    line, = done.stderr.strip().splitlines()
    assert line.startswith(f"webperf3: iperf3 port {held} in use by pid {other.pid} ({sys.executable} -c 'import socket, time\\ns = ")
    assert line.endswith(": tests there would never be recorded; stop it or choose another --first-port")


def test_huge_server_counts_are_refused_at_once():
    for count, message in (("100000000", "100000000 servers would need more than the 65535 ports there are"),
                           ("9" * 5000, "not a number of servers: '" + "9" * 39 + "…'"),
                           ("65535", "65535 servers from port 5201 would go past port 65535 (the last would be 70735)")):
        started = time.monotonic()
        done = run_bad("--servers", count, "--log-dir", "/nonexistent")
        assert done.returncode == 2, done.stderr
        assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "Traceback" not in done.stderr
        assert time.monotonic() - started < 10  # no list of 100 million ports built first
    done = run_bad("install-service", "--print", "--servers", "100000000")
    assert done.returncode == 2 and "more than the 65535 ports" in done.stderr


@pytest.mark.parametrize("argv", [["--log-dir", ""], ["--log-dir", "  "], ["export", "--log-dir", ""],
                                  ["install-service", "--print", "--log-dir", ""], ["export", "-o", ""]])
def test_an_empty_path_is_refused_not_taken_as_the_current_directory(argv, tmp_path):
    done = subprocess.run([sys.executable, "-m", "webperf3", *argv], capture_output=True, text=True, timeout=30, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "is empty" in done.stderr, done.stderr
    assert os.listdir(tmp_path) == []


def test_journal_lines_escape_what_the_network_sent(caplog):
    from webperf3.store.record import Result
    from webperf3.store.results import Changes
    from webperf3.station import log_changes

    forged = "Room 101\n2026-01-01 00:00:00,000 INFO webperf3: admin logged in\x1b[2J"
    changes = Changes(added=[
        Result(port=5201, time=1e9, name=forged, client="10.0.0.5", direction="download", download_bps=9.4e6, download_measured_by="station"),
        Result(port=5202, time=1e9, name="x" * 300, client="10.0.0.6", direction="bidirectional", download_bps=8e6,
               download_measured_by="client", upload_bps=5e6),
        Result(port=5203, time=1e9, name=None, client="10.0.0.7", error="unable to read\r\nfrom client\u202e"),
    ])
    with caplog.at_level(logging.INFO, logger="webperf3"):
        log_changes(changes)
    lines = [r.getMessage() for r in caplog.records]
    assert all("\n" not in line and "\r" not in line and "\x1b" not in line and "\u202e" not in line for line in lines)
    assert lines[0] == ("test recorded on port 5201 from 10.0.0.5, place 'Room 101\\n2026-01-01 00:00:00,000 INFO webperf3: "
                        "admin logged in\\x1b[2J': download, download 9.4 Mbit/s (station sent), upload -")
    assert lines[1] == (f"test recorded on port 5202 from 10.0.0.6, place '{'x' * 199}…': bidirectional, "
                        "download 8.0 Mbit/s (client received), upload 5.0 Mbit/s")
    assert lines[2] == "failed test on port 5203 from 10.0.0.7, place -: unable to read\\r\\nfrom client\\u202e"


def test_journal_lines_name_the_board_s_place_and_a_test_the_station_cut(caplog):
    from webperf3.store.record import Result
    from webperf3.store.results import Changes
    from webperf3.station import log_changes

    changes = Changes(added=[
        Result(port=5201, time=1e9, client="10.0.0.5", direction="upload", upload_bps=9.4e6),
        Result(port=5202, time=1e9, client="10.0.0.6", error="interrupt - the server has terminated", interrupted=True),
    ])
    with caplog.at_level(logging.INFO, logger="webperf3"):
        log_changes(changes, ["Kitchen", "Hall"])  # named in a browser: no --extra-data
    assert [r.getMessage() for r in caplog.records] == [
        "test recorded on port 5201 from 10.0.0.5, place 'Kitchen': upload, download -, upload 9.4 Mbit/s",
        "test on port 5202 from 10.0.0.6, place 'Hall', interrupted by the station: interrupt - the server has terminated",
    ]


def test_a_stale_iperf3_of_a_dead_webperf3_does_not_stop_the_start(station):
    # Ours, orphaned by a webperf3 that crashed (the shell stands for it and
    # exits): the station replaces it rather than refusing to start.
    from webperf3.iperf3.fleet.process import PARENT_ENV

    port = free_port()
    launched = subprocess.run(
        ["sh", "-c", f"{PARENT_ENV}=$$ iperf3 --server --json --port {port} -B 127.0.0.1 >/dev/null 2>&1 </dev/null & echo $!"],
        capture_output=True, text=True, timeout=5, check=True,
    )
    orphan = int(launched.stdout.strip())
    try:
        deadline = time.monotonic() + 5
        while port_is_free(port) and time.monotonic() < deadline:
            time.sleep(0.05)
        s = station(servers=1, extra=("--first-port", str(port)))
        s.wait_healthy()
        [server] = s.api("api/servers")["servers"]
        assert server["port"] == port and server["pid"] != orphan
        assert pid_gone(orphan)
        assert s.stop()[0] == 0
    finally:
        if not pid_gone(orphan):
            os.kill(orphan, signal.SIGKILL)


def test_the_default_number_of_servers_is_the_same_in_the_command_make_run_and_the_readme() -> None:
    import re

    from webperf3.cli.options import DEFAULT_SERVERS, parse

    assert parse([])[1].servers == DEFAULT_SERVERS
    assert parse(["install-service"])[1].servers == DEFAULT_SERVERS
    assert re.search(r"^SERVERS \?= (\d+)$", (ROOT / "Makefile").read_text(), re.M).group(1) == str(DEFAULT_SERVERS)
    readme = (ROOT / "docs" / "running.md").read_text()  # the configuration table moved there from the README
    assert re.search(r"^\| `--servers N`[^|]*\| (\d+) \|", readme, re.M).group(1) == str(DEFAULT_SERVERS)
