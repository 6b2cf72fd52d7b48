"""Do readers wait on writers? `/api/latest` while the survey book is written
hard, and while another program holds the book's write lock.

A real station (``python -m webperf3 --servers 0`` on 127.0.0.1, a log
directory of real tests), and three phases, each ``--seconds`` long, with a
reader asking ``GET /api/latest`` in a loop (as an open dashboard's fallback
does, and as a monitor would):

1. quiet: the reader alone;
2. writers: ``--writers`` threads each starting surveys (``POST
   /api/surveys``, fsync'd SQLite transactions) as fast as they are answered;
3. locked: another program (a second SQLite connection, as a ``sqlite3``
   shell mid-transaction would) holds the book's write lock for the whole
   phase, while the writers go on: each change must be refused with a 503
   within a few seconds, never hang, and the reader must not notice.

Goals: `/api/latest` p99 ≤ 100 ms in phases 2 and 3; in phase 3 every
change answered (a 503 that says why) within 5 s. Loopback only, bounded by
``--seconds``.

    .venv/bin/python benchmarks/book_writers_bench.py [--writers 60] [--seconds 12] [--quick]

``--quick``: 4 writers, 1.5 s per phase.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from benchmarks._report import describe_machine, exit_status, parse_args  # noqa: E402
from tests.support.logs import install, sample  # noqa: E402
from tests.support.ports import free_ports  # noqa: E402

GOAL_P99_MS = 100.0
GOAL_ANSWER_S = 5.0


def call(url: str, method: str = "GET", body: bytes | None = None, timeout: float = 30.0) -> tuple[int, float]:
    """(status, seconds) of one request."""
    began = time.perf_counter()
    req = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        exc.read()
        status = exc.code
    except (OSError, http.client.HTTPException):
        status = 0  # refused or reset: past the per-client connection cap
    return status, time.perf_counter() - began


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def write_hard(base: str, writers: int, seconds: float, out: "multiprocessing.Queue") -> None:
    """In a process of its own (the reader must not share a GIL with 60
    writer threads): ``writers`` threads starting surveys for ``seconds``."""
    stop = time.monotonic() + seconds
    writes: list[tuple[int, float]] = []

    def writer(n: int) -> None:
        i = 0
        while time.monotonic() < stop:
            i += 1
            writes.append(call(base + "api/surveys", "POST", f'{{"name": "w{n}-{i}"}}'.encode()))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    out.put(writes)


def phase(base: str, seconds: float, writers: int) -> tuple[list[float], list[tuple[int, float]]]:
    """The reader's latencies (s) and every writer's (status, seconds)."""
    results: multiprocessing.Queue = multiprocessing.Queue()
    hard = multiprocessing.Process(target=write_hard, args=(base, writers, seconds, results)) if writers else None
    if hard is not None:
        hard.start()
    reads: list[float] = []
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        status, took = call(base + "api/latest")
        if status == 200:
            reads.append(took)
        time.sleep(0.01)
    writes: list[tuple[int, float]] = []
    if hard is not None:
        writes = results.get(timeout=120)
        hard.join(30)
    return reads, writes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writers", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=12.0)
    args = parse_args(parser, argv, {"writers": 4, "seconds": 1.5})
    work = Path(tempfile.mkdtemp(prefix="webperf3-book-writers-"))
    logs = work / "logs"
    logs.mkdir()
    install(logs, 5201, sample("extra_data"), sample("tcp"), sample("udp"))
    web, ws = free_ports(2)
    proc = subprocess.Popen(
        [sys.executable, "-m", "webperf3", "--open", "--servers", "0", "--log-dir", str(logs), "--host", "127.0.0.1",
         "--port", str(web), "--ws-port", str(ws), "--log-level", "warning"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{web}/"
    rows = []
    goals = True
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if call(base + "api/latest", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the station did not answer within 30 s")
            time.sleep(0.1)
        for name, writers, locked in (("quiet", 0, False), ("writers", args.writers, False), ("locked", args.writers, True)):
            holder = None
            if locked:
                holder = sqlite3.connect(logs / "webperf3.sqlite3", isolation_level=None, timeout=30)
                holder.execute("BEGIN IMMEDIATE")
            try:
                reads, writes = phase(base, args.seconds, writers)
            finally:
                if holder is not None:
                    holder.execute("ROLLBACK")
                    holder.close()
            p99 = percentile(reads, 0.99) * 1000
            slowest_write = max((took for _, took in writes), default=0.0)
            statuses = sorted({status for status, _ in writes})
            ok = (name == "quiet" or p99 <= GOAL_P99_MS) and (not locked or slowest_write <= GOAL_ANSWER_S)
            if proc.poll() is not None:
                raise SystemExit(f"the station exited during the {name} phase")
            goals = goals and ok
            rows.append([name, str(writers), f"{len(reads)}", f"{statistics.median(reads) * 1000 if reads else float('nan'):.1f}",
                         f"{p99:.1f}", f"{len(writes)}", ", ".join(map(str, statuses)) or "-", f"{slowest_write:.2f}",
                         "pass" if ok else "**fail**"])  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(20)
        shutil.rmtree(work, ignore_errors=True)
    header = ["phase", "writers", "reads", "/api/latest p50 ms", "p99 ms", "writes", "statuses", "slowest write s", "goal"]
    print(describe_machine())
    print("| " + " | ".join(header) + " |")
    print("|" + " --- |" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return exit_status(args, goals)


if __name__ == "__main__":
    sys.exit(main())
