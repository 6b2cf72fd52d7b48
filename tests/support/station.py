"""A real station for tests: ``python -m webperf3`` in a subprocess, on free
ports of 127.0.0.1, with its own log directory. Used where a real process
matters (its iperf3 servers, its signals, what a browser or a client sees)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.paths import ROOT
from tests.support.ports import free_port, free_ports
from tests.support.waiting import wait_until


class Station:
    """``python -m webperf3 --servers N`` on free ports; ``stop()`` returns its log."""

    def __init__(
        self,
        log_dir: Path,
        servers: int = 1,
        iperf3: str = "iperf3",
        extra: tuple[str, ...] = (),
        *,
        pythonpath: Path = ROOT,
        cwd: Path | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.log_dir = log_dir
        self.iperf3 = iperf3
        self.ports = free_ports(servers) if servers else []
        self.web_port, self.ws_port = free_port(), free_port()
        argv = [
            sys.executable, "-m", "webperf3", "--servers", str(servers),
            "--log-dir", str(log_dir), "--host", host, "--port", str(self.web_port),
            "--ws-port", str(self.ws_port), "--iperf3", iperf3, *extra,
        ]
        if self.ports:
            argv += ["--first-port", str(self.ports[0]), "--iperf3-bind", host]
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(pythonpath)}, cwd=cwd,
        )
        self.host = host
        self.url = f"http://{host}:{self.web_port}/"
        wait_until(self._ready, 20, 0.1, "the station to listen")

    @property
    def iperf3_port(self) -> int:
        return self.ports[0]

    def api(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=5) as response:
            return json.load(response)

    def _ready(self) -> bool:
        assert self.proc.poll() is None, self.proc.communicate()[1]
        try:
            return all(s["state"] == "idle" for s in self.api("api/servers")["servers"])
        except OSError:
            return False

    def __enter__(self) -> Station:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> str:
        self.proc.terminate()
        try:
            return self.proc.communicate(timeout=10)[1]
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.communicate()[1]
