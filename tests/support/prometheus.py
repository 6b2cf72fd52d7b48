"""Helpers for tests against a real Prometheus (Debian's ``prometheus`` package).

- :class:`Prometheus`: one server (or agent) started with its own config and
  storage on 127.0.0.1, its HTTP API queried, stopped at the end;
- :func:`promtool`: run ``promtool`` and return what it said;
- :data:`needs_prometheus`: skip a test where Prometheus is not installed.

Every address is 127.0.0.1, and every request goes straight there whatever
``http_proxy`` the environment sets.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from tests.support.ports import free_port
from tests.support.processes import terminate

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
T = TypeVar("T")

needs_prometheus = pytest.mark.skipif(
    not (os.access(PROMETHEUS, os.X_OK) and os.access(PROMTOOL, os.X_OK)),
    reason=f"no Prometheus at {PROMETHEUS} / {PROMTOOL} (Debian: apt install prometheus)",
)


def promtool(*args: str, stdin: bytes | None = None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """``promtool ARGS`` (status and output checked by the caller)."""
    return subprocess.run(
        [PROMTOOL, *args], input=None if stdin is None else stdin.decode("utf-8"),
        capture_output=True, text=True, timeout=timeout, check=False,
    )


class Prometheus:
    """A Prometheus process on 127.0.0.1, with its own storage under ``home``.

    ``argv`` is the whole command line when given (a shipped unit's
    ``ExecStart``, say); otherwise a server of ``config`` on ``listen``.
    """

    def __init__(
        self,
        home: Path,
        config: Path | None = None,
        *,
        argv: list[str] | None = None,
        listen: str | None = None,
        agent: bool = False,
        args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        ca_file: Path | None = None,
    ) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.listen = listen or f"127.0.0.1:{free_port()}"
        self.api = f"{'https' if ca_file else 'http'}://{self.listen}"
        self.output = home / "prometheus.log"
        self._auth = None if auth is None else "Basic " + base64.b64encode(":".join(auth).encode()).decode()
        self._opener = DIRECT if ca_file is None else urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=ca_file)))
        if argv is None:
            assert config is not None
            storage = f"--storage.agent.path={home / 'wal'}" if agent else f"--storage.tsdb.path={home / 'tsdb'}"
            argv = [PROMETHEUS, f"--config.file={config}", storage, f"--web.listen-address={self.listen}", *args]
            if agent:
                argv.append("--enable-feature=agent")
        self.argv = argv
        with self.output.open("wb") as out:
            self.process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                env=None if env is None else {**os.environ, **env},
            )

    # -- asking ------------------------------------------------------------------

    def get(self, path: str, timeout: float = 5) -> tuple[int, bytes]:
        request = urllib.request.Request(self.api + path)
        if self._auth:
            request.add_header("Authorization", self._auth)
        try:
            with self._opener.open(request, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def get_json(self, path: str) -> dict:
        status, body = self.get(path)
        assert status == 200, (status, body[:500])
        return json.loads(body)

    def query(self, promql: str) -> list[dict]:
        answer = self.get_json("/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
        assert answer["status"] == "success", answer
        return answer["data"]["result"]

    def ready(self) -> bool:
        return self.get("/-/ready", timeout=2)[0] == 200  # 503 until ready

    def until(self, what: str, check: Callable[[], T | None], timeout: float = 30) -> T:
        """Poll ``check`` until it returns something true; fail on timeout or if Prometheus dies."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                pytest.fail(f"Prometheus exited ({self.process.returncode}) while waiting for {what}:\n{self.log_tail()}")
            try:
                if found := check():
                    return found
            except (urllib.error.URLError, ConnectionError, TimeoutError):  # not listening yet
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout:g} s waiting for {what}:\n{self.log_tail()}")
            time.sleep(0.2)

    def wait_ready(self) -> Prometheus:
        self.until("/-/ready", self.ready)
        return self

    def log_tail(self) -> str:
        return self.output.read_text(errors="replace")[-3000:]

    # -- stopping ----------------------------------------------------------------

    def stop(self) -> None:
        terminate(self.process)
