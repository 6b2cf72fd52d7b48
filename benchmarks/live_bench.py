"""The live dashboard: websocket push, /api/latest, /csv, fan-out to 200 pages.

    .venv/bin/python benchmarks/live_bench.py [--size-mb 100] [--quick]

Everything runs on 127.0.0.1 on free ports. This process starts the real
servers, wired as ``webperf3.station`` wires them: a ``ResultsStore`` loaded
once (``refresh()``), the survey book beside the logs and the ``Board``
joining the two, then a ``LiveServer`` (websockets + watchfiles, in its
thread) and a ``Dashboard`` under ``WebServer`` (waitress). Logs are a fresh
copy of a directory of real iperf3 entries (``_data.py``). It measures:

1. append → client: one websocket client (``websockets.asyncio.client``,
   this process); 50 times, 100-200 ms apart, one real entry with a unique
   ``extra_data`` and a later ``timesecs`` is appended to a log (open, write,
   close, as iperf3 does). The clock starts just before ``write()`` and stops
   when the client receives the ``results`` message whose ``results`` carry
   THAT name (any other message is not counted). On 100 MB of logs and on
   1 MB: the latency must not depend on the size of the logs.
2. ``GET /api/latest``: 200 requests on one kept-alive HTTP/1.1 connection
   (``http.client``), against the prototype's way of making the same table
   (``create_table``: per port, ``read_text`` the whole log, ``rindex("\\n{")``,
   ``json.loads`` of the last piece, extract the figures, ``json.dumps``).
3. ``GET /csv``: the full download through waitress (median of 5 after a
   first one, shown apart), against ``prototype.export_csv`` (which re-reads
   every log); checked to have one row per result of the store. The same CSV
   made in-process from the loaded store is shown for information.
4. fan-out: 200 websocket clients in ONE asyncio loop in a SEPARATE process
   (this script, ``--fanout-child``), so that client work does not take the
   server's CPU or GIL; that process appends an entry and times from the
   ``write()`` to the LAST of its clients receiving the message carrying it.

It prints a table (figure, goal, pass/fail) and the same table in Markdown
for the README. Nothing is asserted: this is a measurement. ``--out DIR``
also writes the figures as JSON and Markdown.

``--quick``: 1 MB and 0.5 MB of logs, 3 appends, 5 requests, one download,
3 clients for 2 fan-out rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import http.client
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import _data  # noqa: E402
import _report  # noqa: E402

MB = 1_000_000
HOST = "127.0.0.1"

# The goals: a finished test on every open page at once, however long the logs;
# the table and the CSV far cheaper than the prototype's re-reading of every log.
GOAL_APPEND_P95_MS = 100.0
GOAL_SIZE_RATIO = 1.5  # 1 MB no more than this many times faster than 100 MB
GOAL_LATEST_MS = 5.0
GOAL_CSV_SPEEDUP = 20.0
GOAL_FANOUT_MS = 200.0

#: How long to wait for one message before counting the append as lost.
RECEIVE_TIMEOUT_S = 5.0


def now_ns() -> int:
    """CLOCK_MONOTONIC: one system-wide clock, comparable across processes."""
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def percentile(values: list[float], q: float) -> float:
    """Nearest rank (as logs_bench.py): p95 of 50 values is the 48th."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(values_s: list[float]) -> dict[str, Any]:
    return {
        "runs": len(values_s),
        "p50_s": statistics.median(values_s),
        "p95_s": percentile(values_s, 0.95),
        "max_s": max(values_s),
        "min_s": min(values_s),
    }


# -- appending real entries with a known name -------------------------------------


class NamedAppender:
    """Appends real iperf3 tests that carry an ``extra_data`` name, each made
    unique (name and ``timesecs``, later than anything in the logs), and
    tells which name it wrote: the latency is taken to THAT message."""

    def __init__(self, log_dir: Path, ports: list[int], t_start: int, serial_start: int, seed: int = 4) -> None:
        tests, _ = _data.tests_and_events()
        self.entries = [e for e in tests if '"extra_data"' in e.text]
        if not self.entries:
            raise RuntimeError("no real entry with an extra_data name in tests/data")
        self.log_dir = log_dir
        self.ports = ports
        self.t = t_start
        self.serial = serial_start
        self.count = 0
        self._rng = random.Random(seed)

    def next(self) -> tuple[int, Path, bytes, str]:
        """(port, log path, bytes to append, the name they carry)."""
        entry = self.entries[self.count % len(self.entries)]
        port = self.ports[self.count % len(self.ports)]
        self.count += 1
        self.t += self._rng.randint(1, 60)
        self.serial += 1
        text = entry.varied(self.t, self.serial)
        name = json.loads(text)["extra_data"]
        return port, self.log_dir / _data.log_name(port), (text + "\n").encode("utf-8"), name


def write_timed(path: Path, data: bytes) -> int:
    """Append as iperf3 does (open, write, close); the clock just before write()."""
    with open(path, "ab") as f:
        t0 = now_ns()
        f.write(data)
    return t0


def carried_names(raw: bytes) -> tuple[str, list[str]]:
    message = json.loads(raw)
    return message.get("type", "?"), [r.get("name") for r in message.get("results", [])]


# -- the servers, as webperf3.station wires them -------------------------------------


class Servers:
    def __init__(self, log_dir: Path, ports: list[int]) -> None:
        from webperf3.board.join import Board
        from webperf3.live.server import LiveServer
        from webperf3.serving.httpserver import WebServer
        from webperf3.store.results import ResultsStore
        from webperf3.survey import SurveyBook

        self.log_dir = log_dir
        self.ports = ports
        self.store = ResultsStore(log_dir)
        # Beside the logs, as the station keeps it: the directory is this run's own copy.
        self.book = SurveyBook.open(log_dir)
        t0 = time.perf_counter()
        self.store.refresh()  # loaded once, before the live server starts
        self.load_s = time.perf_counter() - t0
        self.board = Board(self.store, self.book, lambda: ports)
        # The fan-out's 200 clients stand for 200 devices but all come from
        # 127.0.0.1: lift the per-address cap (16) that would refuse them.
        self.live = LiveServer(self.store, HOST, 0, ports=lambda: ports, board=self.board, max_connections_per_client=256)
        self.live.start()
        self.dashboard = _data.dashboard(self.store, book=self.book, board=self.board, ports=lambda: ports, ws_port=self.live.port)
        self.web = WebServer(self.dashboard.app, HOST, 0)
        self.web.start()

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.live.port}/"

    def stop(self) -> None:
        self.web.stop()
        self.live.stop()
        self.book.close()


def server_pid_cpu() -> float:
    t = os.times()
    return t.user + t.system


# -- 1. append → one client ------------------------------------------------------------


async def _append_latency(url: str, appender: NamedAppender, appends: int, warmup: int, seed: int) -> dict:
    from websockets.asyncio.client import connect

    rng = random.Random(seed)
    latencies: list[float] = []
    lost: list[str] = []
    other_messages: dict[str, int] = {}
    async with connect(url, proxy=None, compression=None, open_timeout=10, max_size=None) as ws:
        first = json.loads(await ws.recv(decode=False))
        if first.get("type") != "snapshot":
            raise RuntimeError(f"expected a snapshot first, got {first.get('type')!r}")
        waiting: dict[str, asyncio.Future[int]] = {}

        async def reader() -> None:
            while True:
                raw = await ws.recv(decode=False)
                t = now_ns()  # before any parsing
                kind, names = carried_names(raw)
                hit = False
                for name in names:
                    fut = waiting.pop(name, None)
                    if fut is not None and not fut.done():
                        fut.set_result(t)
                        hit = True
                if not hit:
                    other_messages[kind] = other_messages.get(kind, 0) + 1

        task = asyncio.create_task(reader())
        try:
            for i in range(warmup + appends):
                await asyncio.sleep(rng.uniform(0.100, 0.200))
                _, path, data, name = appender.next()
                fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
                waiting[name] = fut
                t0 = write_timed(path, data)
                try:
                    t1 = await asyncio.wait_for(fut, RECEIVE_TIMEOUT_S)
                except TimeoutError:
                    waiting.pop(name, None)
                    if i >= warmup:
                        lost.append(name)
                    continue
                if i >= warmup:
                    latencies.append((t1 - t0) / 1e9)
        finally:
            task.cancel()
    if not latencies:
        raise RuntimeError("no append reached the client")
    return {**summary(latencies), "lost": len(lost), "other_messages": other_messages, "values_s": latencies}


def measure_append(servers: Servers, appender: NamedAppender, appends: int, log_bytes: int) -> dict:
    gc.collect()
    result = asyncio.run(_append_latency(servers.ws_url, appender, appends, warmup=3, seed=log_bytes))
    result["log_bytes"] = log_bytes
    return result


# -- 2. GET /api/latest ---------------------------------------------------------------


def prototype_table(log_dir: Path, ports: list[int]) -> str:
    """The prototype's ``create_table()`` (see ../shared/prototype): per port,
    ``read_iperf3_json_log`` (read the whole log, ``rindex("\\n{")``,
    ``json.loads`` of the last piece, ``{}`` if that fails), the figures of
    that entry, then ``json.dumps`` of the list."""
    import prototype

    table: list[Any] = [None] * len(ports)
    for index, port in enumerate(ports):
        try:
            pseudo_json = (log_dir / _data.log_name(port)).read_text()
        except FileNotFoundError:
            continue
        try:
            start = pseudo_json.rindex("\n{") + 1
        except ValueError:
            start = 0
        try:
            last = json.loads(pseudo_json[start:])
        except json.JSONDecodeError:
            last = {}
        table[index] = prototype.extract(last)
    return json.dumps(table)


def measure_latest(servers: Servers, requests: int, proto_runs: int) -> dict:
    conn = http.client.HTTPConnection(HOST, servers.web.port, timeout=10)
    sockets_seen = set()

    def get(path: str = "/api/latest") -> bytes:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"{path} answered {response.status}")
        sockets_seen.add(id(conn.sock))
        return body

    for _ in range(10):  # warm-up
        body = get()
    rows = json.loads(body)["rows"]
    if len(rows) != len(servers.ports) or any(r["latest"] is None for r in rows):
        raise RuntimeError(f"/api/latest gave {len(rows)} rows, some empty")
    gc.collect()
    times = []
    for _ in range(requests):
        t0 = time.perf_counter()
        get()
        times.append(time.perf_counter() - t0)
    # The floor: a route that does nothing (/api/config), same connection.
    floor = []
    for _ in range(requests):
        t0 = time.perf_counter()
        get("/api/config")
        floor.append(time.perf_counter() - t0)
    conn.close()
    # In-process: what the route does, without HTTP (refresh, the board's
    # state: rows joined with the survey book, encode).
    import msgspec

    encode = msgspec.json.Encoder().encode  # as webperf3.web encodes

    store = servers.store
    inproc = []
    for _ in range(requests):
        t0 = time.perf_counter()
        store.refresh()
        encode(servers.board.state())
        inproc.append(time.perf_counter() - t0)
    proto = []
    for _ in range(proto_runs):
        t0 = time.perf_counter()
        prototype_table(servers.log_dir, servers.ports)
        proto.append(time.perf_counter() - t0)
    return {
        "http": summary(times),
        "in_process": summary(inproc),
        "http_floor": summary(floor),
        "prototype": summary(proto),
        "kept_alive": len(sockets_seen) == 1,
        "body_bytes": len(body),
    }


# -- 3. GET /csv ----------------------------------------------------------------------


def measure_csv(servers: Servers, repeat: int, proto_repeat: int) -> dict:
    import prototype

    from webperf3.exports.results import csv_chunks

    conn = http.client.HTTPConnection(HOST, servers.web.port, timeout=60)

    def download() -> bytes:
        conn.request("GET", "/csv")
        response = conn.getresponse()
        body = response.read()  # the whole download (chunked transfer)
        if response.status != 200 or "iperf3_log.csv" not in (response.getheader("Content-Disposition") or ""):
            raise RuntimeError(f"/csv answered {response.status}")
        return body

    gc.collect()
    t0 = time.perf_counter()
    download()  # the first after start: also any one-off work (a cache to fill)
    first_s = time.perf_counter() - t0
    wp, inproc, proto = [], [], []
    body = b""
    proto_csv = ""
    for i in range(max(repeat, proto_repeat)):  # alternated: load hits both alike
        if i < repeat:
            gc.collect()
            t0 = time.perf_counter()
            body = download()
            wp.append(time.perf_counter() - t0)
            gc.collect()
            t0 = time.perf_counter()
            servers.store.refresh()
            found = servers.store.results()
            # With each test's place, survey and id, as the route joins them.
            size = sum(len(c.encode()) for c in csv_chunks(found, servers.board.notes(found)))
            inproc.append(time.perf_counter() - t0)
        if i < proto_repeat:
            gc.collect()
            t0 = time.perf_counter()
            proto_csv = prototype.export_csv(servers.log_dir)
            proto.append(time.perf_counter() - t0)
    conn.close()
    rows = body.count(b"\n") - 1
    expected = len(servers.store.results())
    if rows != expected or size != len(body):
        raise RuntimeError(f"/csv gave {rows} rows ({len(body)} bytes); the store has {expected} ({size} bytes)")
    return {
        "http": {"median_s": statistics.median(wp), "min_s": min(wp), "runs": len(wp)},
        "first_http_s": first_s,
        "in_process": {"median_s": statistics.median(inproc), "min_s": min(inproc), "runs": len(inproc)},
        "prototype": {"median_s": statistics.median(proto), "min_s": min(proto), "runs": len(proto)},
        "rows": rows,
        "bytes": len(body),
        "prototype_rows": proto_csv.count("\n") - 1,
    }


# -- 4. fan-out (client side runs in its own process) ----------------------------------


async def _fanout_clients(url: str, clients: int, appender: NamedAppender, rounds: int, gap_s: float) -> dict:
    from websockets.asyncio.client import connect

    async def open_one():
        ws = await connect(url, proxy=None, compression=None, open_timeout=30, max_size=None, ping_interval=None)
        snap = json.loads(await ws.recv(decode=False))
        if snap.get("type") != "snapshot":
            raise RuntimeError("expected a snapshot first")
        return ws

    t0 = time.perf_counter()
    conns = await asyncio.gather(*(open_one() for _ in range(clients)))
    connect_s = time.perf_counter() - t0
    # One list of (receipt time, raw message) per client; checked after each round.
    inbox: list[list[tuple[int, bytes]]] = [[] for _ in conns]
    needle: list[bytes] = [b""]
    remaining = [0]
    done = asyncio.Event()

    async def reader(i: int, ws) -> None:
        box = inbox[i]
        while True:
            raw = await ws.recv(decode=False)
            t = now_ns()
            box.append((t, raw))
            if needle[0] and needle[0] in raw:  # cheap here; verified by parsing below
                remaining[0] -= 1
                if remaining[0] == 0:
                    done.set()

    tasks = [asyncio.create_task(reader(i, ws)) for i, ws in enumerate(conns)]
    lasts, firsts, medians, lost = [], [], [], 0
    try:
        for _ in range(rounds):
            await asyncio.sleep(gap_s)
            for box in inbox:
                box.clear()
            _, path, data, name = appender.next()
            needle[0] = json.dumps(name).encode()
            remaining[0] = len(conns)
            done.clear()
            t0 = write_timed(path, data)
            try:
                await asyncio.wait_for(done.wait(), RECEIVE_TIMEOUT_S)
            except TimeoutError:
                pass
            needle[0] = b""
            # Each client's receipt of the results message carrying THAT name.
            got = []
            for box in inbox:
                hit = next((t for t, raw in box if carried_names(raw)[0] == "results" and name in carried_names(raw)[1]), None)
                if hit is not None:
                    got.append((hit - t0) / 1e9)
            lost += len(conns) - len(got)
            if got:
                lasts.append(max(got))
                firsts.append(min(got))
                medians.append(statistics.median(got))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*(ws.close() for ws in conns), return_exceptions=True)
    return {
        "clients": len(conns),
        "connect_s": connect_s,
        "last": summary(lasts),
        "first": summary(firsts),
        "median_client": summary(medians),
        "lost_deliveries": lost,
        "last_values_s": lasts,
    }


def fanout_child(args: argparse.Namespace) -> None:
    ports = [int(p) for p in args.fanout_ports.split(",")]
    appender = NamedAppender(args.log_dir, ports, args.t_start, args.serial_start, seed=44)
    result = asyncio.run(_fanout_clients(args.ws_url, args.clients, appender, args.rounds, args.gap))
    print(json.dumps(result))


def measure_fanout(servers: Servers, clients: int, rounds: int, t_start: int, serial_start: int, gap_s: float) -> dict:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--fanout-child",
        "--ws-url", servers.ws_url,
        "--log-dir", str(servers.log_dir),
        "--fanout-ports", ",".join(map(str, servers.ports)),
        "--clients", str(clients),
        "--rounds", str(rounds),
        "--t-start", str(t_start),
        "--serial-start", str(serial_start),
        "--gap", str(gap_s),
    ]  # fmt: skip
    cpu0 = server_pid_cpu()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=240)
    if done.returncode != 0:
        raise RuntimeError(f"fan-out clients failed:\n{done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["server_cpu_s"] = server_pid_cpu() - cpu0
    return result


# -- reporting ------------------------------------------------------------------------


def ms(seconds: float) -> str:
    value = seconds * 1000
    if value >= 100:
        return f"{value:.0f} ms"
    if value >= 10:
        return f"{value:.1f} ms"
    return f"{value:.2f} ms"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


HEAD = ("", "webperf3", "prototype / reference", "ratio", "goal", "")


def build_rows(fig: dict) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    big, small = fig["append_big"], fig["append_small"]
    for ap in (big, small):
        rows.append(
            (
                f"Append -> websocket client, {ap['log_bytes'] / MB:.0f} MB of logs (p50 / p95 / max of {ap['runs']}"
                + (f", {ap['lost']} LOST" if ap["lost"] else "")
                + ")",
                f"{ms(ap['p50_s'])} / {ms(ap['p95_s'])} / {ms(ap['max_s'])}",
                "",
                "",
                f"p95 <= {GOAL_APPEND_P95_MS:.0f} ms",
                verdict(ap["p95_s"] * 1000 <= GOAL_APPEND_P95_MS and not ap["lost"]),
            )
        )
    r50 = big["p50_s"] / small["p50_s"]
    r95 = big["p95_s"] / small["p95_s"]
    rows.append(
        (
            f"  latency at {big['log_bytes'] / MB:.0f} MB / at {small['log_bytes'] / MB:.0f} MB (p50; p95 for information)",
            f"{r50:.2f}x (p95 {r95:.2f}x)",
            "",
            "",
            f"1 MB <= {GOAL_SIZE_RATIO}x faster",
            verdict(r50 <= GOAL_SIZE_RATIO),
        )
    )
    la = fig["latest"]
    rows.append(
        (
            f"GET /api/latest, {fig['data']['total_bytes'] / MB:.0f} MB, {len(fig['ports'])} ports, kept-alive (p50 / p95 of {la['http']['runs']}; prototype {la['prototype']['runs']})",
            f"{ms(la['http']['p50_s'])} / {ms(la['http']['p95_s'])}",
            f"{ms(la['prototype']['p50_s'])} / {ms(la['prototype']['p95_s'])}",
            f"{la['prototype']['p50_s'] / la['http']['p50_s']:.0f}x faster",
            f"<= {GOAL_LATEST_MS:.0f} ms (p95)",
            verdict(la["http"]["p95_s"] * 1000 <= GOAL_LATEST_MS),
        )
    )
    rows.append(
        (
            "  the same table in-process (refresh + the board's rows + encode, no HTTP; p50 / p95)",
            f"{ms(la['in_process']['p50_s'])} / {ms(la['in_process']['p95_s'])}",
            "",
            "",
            "(for information)",
            "",
        )
    )
    rows.append(
        (
            "  the HTTP floor: GET /api/config (no work) on the same connection (p50 / p95)",
            f"{ms(la['http_floor']['p50_s'])} / {ms(la['http_floor']['p95_s'])}",
            "",
            "",
            "(for information)",
            "",
        )
    )
    cv = fig["csv"]
    speedup = cv["prototype"]["median_s"] / cv["http"]["median_s"]
    rows.append(
        (
            f"GET /csv, full download through waitress, {cv['rows']} rows, {cv['bytes'] / MB:.1f} MB (median of {cv['http']['runs']} / {cv['prototype']['runs']})",
            ms(cv["http"]["median_s"]),
            ms(cv["prototype"]["median_s"]),
            f"{speedup:.1f}x faster",
            f">= {GOAL_CSV_SPEEDUP:.0f}x faster",
            verdict(speedup >= GOAL_CSV_SPEEDUP),
        )
    )
    rows.append(
        (
            "  the first GET /csv after start (not in the median above)",
            ms(cv["first_http_s"]),
            ms(cv["prototype"]["median_s"]),
            f"{cv['prototype']['median_s'] / cv['first_http_s']:.1f}x faster",
            "(for information)",
            "",
        )
    )
    rows.append(
        (
            "  the same CSV in-process (refresh + the board's notes + csv_chunks of the loaded store, no HTTP)",
            ms(cv["in_process"]["median_s"]),
            ms(cv["prototype"]["median_s"]),
            f"{cv['prototype']['median_s'] / cv['in_process']['median_s']:.1f}x faster",
            "(for information)",
            "",
        )
    )
    fo = fig["fanout"]
    rows.append(
        (
            f"Fan-out: append -> LAST of {fo['clients']} clients (other process), {fig['data']['total_bytes'] / MB:.0f} MB (p50 / max of {fo['last']['runs']}"
            + (f", {fo['lost_deliveries']} deliveries LOST" if fo["lost_deliveries"] else "")
            + ")",
            f"{ms(fo['last']['p50_s'])} / {ms(fo['last']['max_s'])}",
            f"first client {ms(fo['first']['p50_s'])}",
            "",
            f"<= {GOAL_FANOUT_MS:.0f} ms (max)",
            verdict(fo["last"]["max_s"] * 1000 <= GOAL_FANOUT_MS and not fo["lost_deliveries"]),
        )
    )
    return rows


def describe_machine() -> str:
    import websockets

    return _report.describe_machine(f"websockets {websockets.__version__}")


# -- main -----------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size-mb", type=float, default=100, help="size of the log directory (default 100)")
    p.add_argument("--small-mb", type=float, default=1, help="the small size for the append latency (default 1)")
    p.add_argument("--ports", type=int, default=10, help="log files in the directory (default 10)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--appends", type=int, default=50, help="appends timed per size (default 50)")
    p.add_argument("--requests", type=int, default=200, help="GET /api/latest requests (default 200)")
    p.add_argument("--csv-repeat", type=int, default=5, help="GET /csv downloads (prototype: 3)")
    p.add_argument("--clients", type=int, default=200, help="websocket clients for the fan-out (default 200)")
    p.add_argument("--rounds", type=int, default=10, help="fan-out appends (default 10)")
    p.add_argument("--out", type=Path, help="also write live_bench.json and live_bench.md here")
    # the fan-out's client process
    p.add_argument("--fanout-child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--ws-url", help=argparse.SUPPRESS)
    p.add_argument("--log-dir", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--fanout-ports", help=argparse.SUPPRESS)
    p.add_argument("--t-start", type=int, help=argparse.SUPPRESS)
    p.add_argument("--serial-start", type=int, help=argparse.SUPPRESS)
    p.add_argument("--gap", type=float, default=0.5, help=argparse.SUPPRESS)
    quick = {"size_mb": 1, "small_mb": 0.5, "appends": 3, "requests": 5, "csv_repeat": 1, "clients": 3, "rounds": 2, "gap": 0.1}
    return _report.parse_args(p, argv, quick)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.fanout_child:
        fanout_child(args)
        return 0
    started = time.perf_counter()
    big_src, big = _data.cached_log_dir(int(args.size_mb * MB), args.ports, args.seed)
    small_src, small = _data.cached_log_dir(int(args.small_mb * MB), args.ports, args.seed)
    ports = [_data.FIRST_PORT + i for i in range(args.ports)]
    load_before = os.getloadavg()[0]
    print(f"webperf3 live benchmark, {time.strftime('%Y-%m-%d %H:%M')}: {describe_machine()}")
    print(f"data: {big_src}: {big['ports']} logs, {big['total_bytes'] / MB:.1f} MB, {big['tests']} tests; and {small['total_bytes'] / MB:.1f} MB")
    fig: dict = {"data": big, "small_data": small, "ports": ports, "machine": describe_machine()}

    # Names and times of appended entries: unique, later than anything in the logs.
    serial = 10_000_000
    big_dir = _data.working_copy(big_src, "live-big")
    small_dir = _data.working_copy(small_src, "live-small")
    try:
        servers = Servers(big_dir, ports)
        try:
            print(f"  {big['total_bytes'] / MB:.0f} MB loaded in {servers.load_s:.2f} s; ws {servers.ws_url}, web port {servers.web.port}", file=sys.stderr, flush=True)
            appender = NamedAppender(big_dir, ports, big["last_timesecs"] + 1000, serial)
            fig["append_big"] = measure_append(servers, appender, args.appends, big["total_bytes"])
            print(f"  append latency measured ({big['total_bytes'] / MB:.0f} MB)", file=sys.stderr, flush=True)
            fig["latest"] = measure_latest(servers, args.requests, 20)
            print("  /api/latest measured", file=sys.stderr, flush=True)
            fig["csv"] = measure_csv(servers, args.csv_repeat, 3)
            print("  /csv measured", file=sys.stderr, flush=True)
            fig["fanout"] = measure_fanout(servers, args.clients, args.rounds, appender.t + 1000, serial + 1_000_000, args.gap)
            print("  fan-out measured", file=sys.stderr, flush=True)
        finally:
            servers.stop()
        gc.collect()
        servers = Servers(small_dir, ports)
        try:
            appender = NamedAppender(small_dir, ports, small["last_timesecs"] + 1000, serial + 2_000_000)
            fig["append_small"] = measure_append(servers, appender, args.appends, small["total_bytes"])
            print(f"  append latency measured ({small['total_bytes'] / MB:.0f} MB)", file=sys.stderr, flush=True)
        finally:
            servers.stop()
    finally:
        shutil.rmtree(big_dir, ignore_errors=True)
        shutil.rmtree(small_dir, ignore_errors=True)
    fig["load_average"] = [load_before, os.getloadavg()[0]]
    fig["runtime_s"] = time.perf_counter() - started

    rows = build_rows(fig)
    print()
    print(_report.text_table(rows, HEAD))
    print()
    fo, cv = fig["fanout"], fig["csv"]
    print(
        f"fan-out: {fo['clients']} clients connected in {fo['connect_s']:.2f} s; per append, the median client got it after "
        f"{ms(fo['median_client']['p50_s'])} (p50 over {fo['median_client']['runs']} appends); server process CPU during the fan-out run {fo['server_cpu_s']:.2f} s"
    )
    others = {k: v for ap in (fig["append_big"], fig["append_small"]) for k, v in ap["other_messages"].items()}
    print(f"append latency is to the results message carrying the appended name; other messages seen and not counted: {others or 'none'}")
    print(f"/api/latest: {fig['latest']['http']['runs']} requests on {'ONE kept-alive connection' if fig['latest']['kept_alive'] else 'SEVERAL connections (keep-alive failed)'}, {fig['latest']['body_bytes']} bytes each")
    print(f"/csv: {cv['rows']} rows, {cv['bytes'] / MB:.1f} MB, as many rows as the store holds; the prototype's CSV: {cv['prototype_rows']} rows")
    if max(fig["load_average"]) > 0.5:
        print(f"note: load average {fig['load_average'][0]:.2f} -> {fig['load_average'][1]:.2f}: other work shared the CPUs, figures are noisy")
    print(f"total runtime {fig['runtime_s']:.0f} s")
    md = _report.markdown_table(rows, 'prototype / reference')
    print()
    print("Markdown:")
    print()
    print(md)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "live_bench.json").write_text(json.dumps(fig, indent=1) + "\n")
        (args.out / "live_bench.md").write_text(md + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
