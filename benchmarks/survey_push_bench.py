"""How fast what people change (places, edits, surveys) reaches every open page.

A real station (``python -m webperf3 --servers 0``, 127.0.0.1, a log
directory holding a few hundred real tests) and 20 real websocket clients
(pages). Each change is made over HTTP as the page makes it, and timed from
just before the request until each client has the station's ``book``
message for it: 60 places named (``POST /api/place``), 60 edits of a test's
place (``PATCH /api/results/<id>``), 20 surveys started and 20 undone.
Goal: p95 ≤ 100 ms. Loopback only, bounded: 160 changes.

    .venv/bin/python benchmarks/survey_push_bench.py [--pages 20] [--quick]

``--quick``: 5 pages, 5 places, 5 edits, 3 surveys started and undone.
"""

from __future__ import annotations

import argparse
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
import urllib.request
from pathlib import Path

from websockets.sync.client import connect

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from benchmarks._report import describe_machine, markdown_table, parse_args, text_table  # noqa: E402
from tests.support.logs import make_entry  # noqa: E402  (real iperf3 entries, re-dated)

GOAL_MS = 100.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(url: str, method: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as response:
        return json.load(response)


class Page:
    """A websocket client that notes when each ``book`` message came."""

    def __init__(self, port: int, source: str) -> None:
        # From several loopback addresses: the station caps connections per address.
        self.ws = connect(f"ws://127.0.0.1:{port}/", open_timeout=10, max_size=None, source_address=(source, 0))
        self.seen: list[tuple[float, dict]] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for raw in self.ws:
                message = json.loads(raw)
                if message.get("type") == "book":
                    self.seen.append((time.perf_counter(), message))
        except Exception:
            pass

    def arrival(self, after: int, timeout: float = 5.0) -> float | None:
        """When the first ``book`` message past the first ``after`` came."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if len(self.seen) > after:
                return self.seen[after][0]
            time.sleep(0.0005)
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=20, help="websocket clients (default 20)")
    parser.add_argument("--places", type=int, default=60, help="places named (default 60)")
    parser.add_argument("--edits", type=int, default=60, help="tests edited (default 60)")
    parser.add_argument("--surveys", type=int, default=20, help="surveys started, then as many undone (default 20)")
    args = parse_args(parser, None, quick={"pages": 5, "places": 5, "edits": 5, "surveys": 3})
    pages_n = args.pages
    work = Path(tempfile.mkdtemp(prefix="webperf3-survey-push-"))
    logs = work / "logs"
    logs.mkdir()
    start = time.time() - 3600
    for port in (5201, 5202):
        with (logs / f"port-{port}.json").open("wb") as out:
            for i in range(150):
                out.write(make_entry("tcp", name=f"Room {i % 30}", client=f"192.168.1.{i % 50 + 2}", at=start + i * 10))
    web, ws = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "webperf3", "--open", "--servers", "0", "--log-dir", str(logs), "--host", "127.0.0.1", "--port", str(web), "--ws-port", str(ws)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    base = f"http://127.0.0.1:{web}/"
    try:
        for _ in range(100):
            try:
                request(base + "api/results", "GET")
                break
            except OSError:
                time.sleep(0.1)
        pages = [Page(ws, f"127.0.0.{2 + i % 10}") for i in range(pages_n)]
        time.sleep(0.5)
        ids = [r["id"] for r in request(base + "api/results", "GET")["results"]]
        kinds: dict[str, list[float]] = {"name a place": [], "edit a test": [], "new survey": [], "undo a survey": []}

        def change(kind: str, method: str, path: str, body: dict | None) -> None:
            counts = [len(page.seen) for page in pages]
            before = time.perf_counter()
            request(base + path, method, body)
            for page, count in zip(pages, counts):
                at = page.arrival(count)
                kinds[kind].append(float("inf") if at is None else (at - before) * 1000)

        for i in range(args.places):
            change("name a place", "POST", "api/place", {"name": f"Corridor {i}"})
        for i in range(args.edits):
            change("edit a test", "PATCH", f"api/results/{ids[i]}", {"place": f"Edited {i}"})
        for i in range(args.surveys):
            change("new survey", "POST", "api/surveys", {"name": f"Walk {i}"})
        for _ in range(args.surveys):
            change("undo a survey", "POST", "api/surveys/undo", None)
        rows = []
        every: list[float] = []
        for kind, times in kinds.items():
            every += times
            q = statistics.quantiles(times, n=20)
            rows.append((f"{kind}: request → all {pages_n} pages (p50 / p95 / max)", f"{statistics.median(times):.1f} / {q[18]:.1f} / {max(times):.1f} ms", "", "", "", ""))
        p95 = statistics.quantiles(every, n=20)[18]
        rows.append((f"every change, {len(every)} arrivals: p95", f"{p95:.1f} ms", "", "", f"≤ {GOAL_MS:.0f} ms", "pass" if p95 <= GOAL_MS else "fail"))
        print(describe_machine())
        print(text_table(rows, ("", "webperf3", "", "", "goal", "")))
        print()
        print(markdown_table(rows, reference=""))
        for page in pages:
            page.ws.close()
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)  # the logs and the book: a run in the test suite leaves nothing
    return 0


if __name__ == "__main__":
    sys.exit(main())
