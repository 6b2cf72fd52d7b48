"""The pieces of the fleet tests (tests/system/test_fleet.py): webperf3 stations as
processes, the shipped docs/fleet files made to run here, a TLS certificate.

Everything listens on 127.0.0.1 on free ports.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.iperf3 import IPERF3
from tests.support.paths import ROOT
from tests.support.ports import free_port
from tests.support.processes import terminate
from tests.support.prometheus import DIRECT, Prometheus
from tests.support.waiting import wait_until
from webperf3.store.record import Result
from webperf3.store.results import ResultsStore

FLEET = ROOT / "docs" / "fleet"


def shipped(name: str, replacements: dict[str, str]) -> str:
    """A docs/fleet file with its example values replaced for this machine."""
    text = (FLEET / name).read_text()
    for old, new in replacements.items():
        assert old in text, f"docs/fleet/{name} no longer holds {old!r}: update this test"
        text = text.replace(old, new)
    return text


def unit_command(text: str) -> tuple[list[str], dict[str, str]]:
    """A systemd unit's ExecStart (continuation lines joined) and Environment."""
    text = re.sub(r"\\\n\s*", " ", text)
    [exec_start] = re.findall(r"^ExecStart=(.*)$", text, re.MULTILINE)
    env = dict(line.split("=", 1) for line in re.findall(r"^Environment=(\S+)$", text, re.MULTILINE))
    return shlex.split(exec_start), env


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (Go wants the address in subjectAltName)."""
    cert, key = directory / "central.crt", directory / "central.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=30,
    )
    return cert, key


# -- the stations ------------------------------------------------------------------


@dataclass
class Station:
    """``python -m webperf3 --servers 1 --station-name NAME`` on free ports."""

    name: str
    home: Path
    iperf3: str
    iperf3_port: int = field(init=False)
    port: int = field(init=False)
    process: subprocess.Popen = field(init=False)

    def __post_init__(self) -> None:
        self.iperf3_port = free_port()
        self.port, ws_port = free_port(), free_port()
        self.log_dir = self.home / "logs"
        argv = [sys.executable, "-m", "webperf3", "--servers", "1", "--first-port", str(self.iperf3_port),
                "--log-dir", str(self.log_dir), "--host", "127.0.0.1", "--port", str(self.port),
                "--ws-port", str(ws_port), "--iperf3-bind", "127.0.0.1", "--iperf3", self.iperf3,
                "--station-name", self.name]
        self.home.mkdir(parents=True)
        with (self.home / "webperf3.log").open("wb") as out:
            self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                            env={**os.environ, "PYTHONPATH": str(ROOT)})

    def get(self, path: str) -> bytes:
        with DIRECT.open(f"http://127.0.0.1:{self.port}{path}", timeout=5) as response:
            return response.read()

    def ready(self) -> bool:
        assert self.process.poll() is None, (self.home / "webperf3.log").read_text()
        try:
            servers = json.loads(self.get("/api/servers"))["servers"]
        except OSError:
            return False
        return [s["state"] for s in servers] == ["idle"]

    def results(self) -> list[Result]:
        """The tests in the station's log, read afresh."""
        store = ResultsStore(self.log_dir)
        store.refresh()
        return store.results()

    def latest(self) -> Result:
        return [r for r in self.results() if r.ok][-1]

    def client(self, *options: str, seconds: int = 1) -> None:
        argv = [IPERF3, "-c", "127.0.0.1", "-p", str(self.iperf3_port), "-t", str(seconds), "--connect-timeout", "3000", *options]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
        assert done.returncode == 0, done.stdout + done.stderr

    def killed_client(self) -> None:
        """A client killed mid-test: a failed test in the log. Killed once the
        station sees the test's data streams, not before (killed while it
        still exchanges parameters, iperf3 logs no test at all, and under
        load that can be seconds after the port shows "testing")."""
        argv = [IPERF3, "-c", "127.0.0.1", "-p", str(self.iperf3_port), "-t", "5", "--connect-timeout", "3000"]
        client = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def streaming() -> bool:
            [server] = json.loads(self.get("/api/servers"))["servers"]
            return server["state"] == "testing" and (server.get("progress") or {}).get("protocol") is not None

        try:
            wait_until(streaming, timeout=10, interval=0.1, what=f"a test's streams on {self.name}")
            time.sleep(0.5)
        finally:
            client.kill()
            client.wait()

    def stop(self) -> None:
        terminate(self.process)


@dataclass
class Fleet:
    stations: dict[str, Station]
    central: Prometheus
    agent: Prometheus
    tests: dict[str, tuple[int, int]]  # station → (ok, failed) tests run
    uploads: dict[str, list[float]]  # station → every successful test's upload, in bits per second


def run_tests(stations: dict[str, Station]) -> dict[str, tuple[int, int]]:
    """Each station's tests, the stations side by side; their (ok, failed) counts."""
    plans: dict[str, tuple[Callable[[], None], ...]] = {
        # 2 s: the first test's figures stay up past a 1 s scrape for certain.
        "lobby": (lambda: stations["lobby"].client(), lambda: stations["lobby"].client("--bidir", seconds=2)),
        "localhost": (lambda: stations["localhost"].client("-R"),),
        "gym": (lambda: stations["gym"].client("-u", "-b", "10M"), stations["gym"].killed_client),
    }
    errors: list[BaseException] = []

    def run(steps: tuple[Callable[[], None], ...]) -> None:
        try:
            for step in steps:
                step()
        except BaseException as exc:  # re-raised below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(steps,)) for steps in plans.values()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    if errors:
        raise errors[0]
    return {"lobby": (2, 0), "localhost": (1, 0), "gym": (1, 1)}
