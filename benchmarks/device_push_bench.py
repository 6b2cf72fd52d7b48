"""How fast a device's port, place or survey change reaches its page.

A real station (``python -m webperf3 --servers 0``, 127.0.0.1, a log
directory holding one real test on each of 2 x pages + 4 ports, so every page
can hold a port of its own) and 20 pages: each a real websocket client and
a device (its random id, its own loopback address for its HTTP requests).
Each change is made over HTTP as a page makes it, and timed from just before
the request until every page has what shows it:

* a port: a page leases one (``POST /api/device/lease``) or gives it back
  (``"release": true``); every page's ``leases`` message;
* a place named from a page (``POST /api/place``): every page's ``book`` message;
* a new survey (``POST /api/surveys``) and its undo: every page's ``book``
  message, and then every page's panel refreshed as the page does it on that
  message (``GET /api/device?device=ID`` from its address: place and port as
  the station now has them).

Goal: p95 ≤ 100 ms over every arrival. Loopback only, bounded.

    .venv/bin/python benchmarks/device_push_bench.py [--pages 20] [--quick]

``--quick``: 5 pages, 3 changes of each kind.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from websockets.sync.client import connect

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from benchmarks._report import describe_machine, exit_status, markdown_table, parse_args, text_table  # noqa: E402
from tests.support.logs import make_entry  # noqa: E402  (real iperf3 entries, re-dated)

GOAL_MS = 100.0
FIRST_PORT = 5201


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port: int, source: str, method: str, path: str, body: dict | None = None) -> dict:
    """One HTTP request from ``source`` (a loopback address: the device's own)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    try:
        data = None if body is None else json.dumps(body).encode()
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
        answer = conn.getresponse()
        payload = answer.read()
        if answer.status >= 400:
            raise RuntimeError(f"{method} {path}: {answer.status} {payload[:200]!r}")
        return json.loads(payload)
    finally:
        conn.close()


class Page:
    """A page of one device: a websocket client that notes when each message
    came, and refreshes its panel on a survey change as device.js does."""

    def __init__(self, ws_port: int, web_port: int, source: str, device: str) -> None:
        self.web_port, self.source, self.device = web_port, source, device
        self.ws = connect(f"ws://127.0.0.1:{ws_port}/", open_timeout=10, max_size=None, source_address=(source, 0))
        self.seen: dict[str, list[float]] = {"leases": [], "book": [], "refreshed": []}
        self.refresh = False  # set for the last phase: a refresh here would delay noting the next message
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for raw in self.ws:
                message = json.loads(raw)
                kind = message.get("type")
                if kind in self.seen:
                    self.seen[kind].append(time.perf_counter())
                if self.refresh and kind == "book" and message.get("kind") in ("start", "reopen", "undo", "restore", "reload"):
                    request(self.web_port, self.source, "GET", f"/api/device?device={self.device}")
                    self.seen["refreshed"].append(time.perf_counter())
        except Exception:
            pass

    def counts(self) -> dict[str, int]:
        return {kind: len(times) for kind, times in self.seen.items()}

    def arrival(self, kind: str, after: int, timeout: float = 5.0) -> float | None:
        """When the first ``kind`` past the first ``after`` came."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            times = self.seen[kind]
            if len(times) > after:
                return times[after]
            time.sleep(0.0005)
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=20, help="open pages, each a device (default 20)")
    parser.add_argument("--changes", type=int, default=20, help="changes of each kind (default 20)")
    args = parse_args(parser, None, quick={"pages": 5, "changes": 3})
    pages_n = args.pages
    ports = 2 * pages_n + 4
    work = Path(tempfile.mkdtemp(prefix="webperf3-device-push-"))
    logs = work / "logs"
    logs.mkdir()
    long_ago = time.time() - 3 * 3600  # nobody used them lately
    for port in range(FIRST_PORT, FIRST_PORT + ports):
        (logs / f"port-{port}.json").write_bytes(make_entry("tcp", client="192.168.9.9", at=long_ago))
    web, ws = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "webperf3", "--open", "--servers", "0", "--log-dir", str(logs), "--host", "127.0.0.1", "--port", str(web), "--ws-port", str(ws)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    kinds: dict[str, list[float]] = {}
    try:
        for _ in range(100):
            try:
                request(web, "127.0.0.1", "GET", "/api/servers")
                break
            except OSError:
                time.sleep(0.1)
        # From several loopback addresses: the station caps connections, and leases, per address.
        pages = [Page(ws, web, f"127.0.0.{2 + i % 10}", f"page{i:04d}") for i in range(pages_n)]
        time.sleep(0.5)

        def change(name: str, wanted: str, source: str, method: str, path: str, body: dict | None) -> None:
            counts = [page.counts() for page in pages]
            before = time.perf_counter()
            request(web, source, method, path, body)
            for page, count in zip(pages, counts):
                at = page.arrival(wanted, count[wanted])
                kinds.setdefault(name, []).append(float("inf") if at is None else (at - before) * 1000)

        for page in pages:  # every page leases its port, as on load
            change("a page leases a port → every page's leases message", "leases", page.source, "POST", "/api/device/lease", {"device": page.device})
        for i in range(args.changes):
            page = pages[i % pages_n]
            change("a port given back → every page's leases message", "leases", page.source, "POST", "/api/device/lease", {"device": page.device, "release": True})
            change("a page leases a port → every page's leases message", "leases", page.source, "POST", "/api/device/lease", {"device": page.device})
        for i in range(args.changes):
            page = pages[i % pages_n]
            change("a place named → every page's book message", "book", page.source, "POST", "/api/place", {"name": f"Room {i}", "device": page.device})
        for i in range(args.changes):
            change("new survey → every page's book message", "book", "127.0.0.1", "POST", "/api/surveys", {"name": f"Walk {i}"})
            change("undo a survey → every page's book message", "book", "127.0.0.1", "POST", "/api/surveys/undo", None)
        # The same changes, until each page's panel was refreshed from the station.
        for page in pages:
            page.refresh = True
        for i in range(args.changes):
            change("new survey → every page's panel refreshed (message + GET /api/device)", "refreshed", "127.0.0.1", "POST", "/api/surveys", {"name": f"Again {i}"})
        for page in pages:
            page.ws.close()
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)  # the logs and the book: a run in the test suite leaves nothing
    rows = []
    every: list[float] = []
    for kind, times in kinds.items():
        every += times
        q = statistics.quantiles(times, n=20, method="inclusive") if len(times) > 1 else times * 19
        rows.append((f"{kind}, {pages_n} pages (p50 / p95 / max)", f"{statistics.median(times):.1f} / {q[18]:.1f} / {max(times):.1f} ms", "", "", "", ""))
    p95 = statistics.quantiles(every, n=20, method="inclusive")[18]
    met = p95 <= GOAL_MS
    rows.append((f"every change, {len(every)} arrivals: p95", f"{p95:.1f} ms", "", "", f"≤ {GOAL_MS:.0f} ms", "pass" if met else "fail"))
    print(describe_machine())
    print(text_table(rows, ("", "webperf3", "", "", "goal", "")))
    print()
    print(markdown_table(rows, reference=""))
    return exit_status(args, met)


if __name__ == "__main__":
    sys.exit(main())
