"""What a station costs while it waits, and on its cold paths: a real
``python -m webperf3`` measured from outside, as a Pi's battery would see it.

For each tree measured (this one; with ``--against REV`` also the tree at
git revision REV, unpacked with ``git archive``, so one run shows before and
after side by side, the two taken in turns scenario by scenario):

* **CPU**: the station's own utime + stime (``/proc/PID/stat``: every thread,
  those ended too) over the window, as % of one core; its iperf3 children
  apart (their own ``/proc/CPID/stat``).
* **wakeups/s**: *voluntary* context switches summed over the station's
  threads (``/proc/PID/task/*/status``): a thread that sleeps (poll, select,
  a timed wait) and wakes. Involuntary switches are left out: on a shared
  machine they count the other processes, not us.
* **threads**: at the end of the window.

Scenarios: ``--servers 0``, ``4`` and ``10`` idle (an empty log directory);
``--servers 4`` idle with 5 pages open (websocket clients connected as the
dashboard's, which sends no pings: the station's own keepalive counts);
the same during one 10 s TCP test (``iperf3 -c``, loopback) with the 5
pages; RSS with the ``_data.py`` directories of 100 MB and 505 MB (100,145
tests) loaded (``--servers 0``, the logs hard-linked into a directory of
their own, the warm-up let finish); the time from starting the process to
its first ``200`` of ``/api/latest`` on 100 MB (page cache warm); and a cold
``webperf3 export`` (a new process, CSV to /dev/null) of 100 MB against the
prototype's ``export_csv`` in a new process of its own. Both again once
the station has kept its index beside the logs (its first start writes it):
the start-up of every later start, and an export of the station's own log
directory, the one measured against the goal of 10x (with ``--against``,
the two trees' exports taken in turns, one of each: the machine is shared).

Over 400 lines: every scenario shares the one ``Station`` runner and one
table, so that a before and an after are always measured the same way.

Every tree (and the prototype) runs from bytecode compiled beforehand
(``compileall``), as an installed program does (pip and Debian's packages
compile at install): with ``PYTHONDONTWRITEBYTECODE`` set, as on the build
machine, each new process would otherwise compile webperf3's ~90 modules
again, some 40 ms of every start and export that no user's station pays.

``--cold-only``: only the cold paths (start-up, RSS at 100 MB, the exports),
no idle windows. ``--quick``: 1-2 s windows, 2 servers, 1 MB of logs, one repeat.
Every run writes ``benchmarks/out/idle_bench.json``; ``--before FILE`` shows
such a file (an earlier run) as the "before" column instead of ``--against``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import _data  # noqa: E402
import _report  # noqa: E402
from _hostile import free_port, free_range, stop_station  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
PAGES = 5

GOALS = {
    "idle10_cpu": 0.3,
    "idle10_wakeups": 20.0,
    "test_cpu": 1.0,
    "rss_100k": 120.0,
    "startup_s": 0.5,
    "export_x": 10.0,
}


# --------------------------------------------------------------- /proc readers


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process (all its threads, ended ones too)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def voluntary_switches(pid: int) -> dict[int, int]:
    """Each live thread's voluntary context switches."""
    found: dict[int, int] = {}
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/task/{tid}/status").read_text().splitlines():
                    if line.startswith("voluntary_ctxt_switches:"):
                        found[int(tid)] = int(line.split()[1])
    return found


def children(pid: int) -> list[int]:
    kids: list[int] = []
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                kids += [int(k) for k in Path(f"/proc/{pid}/task/{tid}/children").read_text().split()]
    return kids


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure(pid: int, seconds: float, during: threading.Event | None = None) -> dict:
    """CPU, wakeups and threads of *pid* over *seconds* (or until *during* is set)."""
    kids0 = {k: cpu_seconds(k) for k in children(pid)}
    vol0, cpu0, t0 = voluntary_switches(pid), cpu_seconds(pid), time.monotonic()
    if during is None:
        time.sleep(seconds)
    else:
        during.wait()
    vol1, cpu1, t1 = voluntary_switches(pid), cpu_seconds(pid), time.monotonic()
    kids1 = {k: cpu_seconds(k) for k in children(pid)}
    wall = t1 - t0
    woke = sum(n - vol0.get(tid, 0) for tid, n in vol1.items())
    child = sum(c - kids0.get(k, 0.0) for k, c in kids1.items())
    return {"seconds": wall, "cpu_pct": 100 * (cpu1 - cpu0) / wall, "wakeups_s": woke / wall, "threads": len(vol1),
            "children_cpu_pct": 100 * child / wall}


# ------------------------------------------------------------------ the trees


def tree_of(rev: str) -> Path:
    """The source tree at *rev*, unpacked once under the benchmark cache."""
    sha = subprocess.run(["git", "rev-parse", rev], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    target = _data.CACHE / f"tree-{sha[:12]}"
    if not (target / "webperf3").is_dir():
        tmp = Path(tempfile.mkdtemp(dir=_data.CACHE, prefix="tree-building-"))
        archive = subprocess.run(["git", "archive", sha], cwd=ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive, check=True)
        with contextlib.suppress(OSError):
            tmp.rename(target)
        shutil.rmtree(tmp, ignore_errors=True)
    return target


class Station:
    """``python -m webperf3`` from *tree*, on free loopback ports."""

    def __init__(self, tree: Path, log_dir: Path, servers: int) -> None:
        compiled(tree / "webperf3")
        self.port, self.ws_port = free_port(), free_port()
        self.log_dir = log_dir
        first = free_range(servers) if servers else 5201
        self.iperf3_ports = list(range(first, first + servers))
        argv = [sys.executable, "-m", "webperf3", "--servers", str(servers), "--first-port", str(first),
                "--log-dir", str(log_dir), "--host", "127.0.0.1", "--port", str(self.port),
                "--ws-port", str(self.ws_port), "--iperf3-bind", "127.0.0.1", "--log-level", "warning"]
        self.log_file = log_dir.parent / f"{log_dir.name}.station.log"
        with self.log_file.open("wb") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=tree,
                                         env={**os.environ, "PYTHONPATH": str(tree)})
        self.started = time.monotonic()
        self.url = f"http://127.0.0.1:{self.port}/"

    def get(self, path: str, timeout: float = 5.0) -> bytes:
        with urllib.request.urlopen(self.url + path, timeout=timeout) as response:
            return response.read()

    def first_answer(self, path: str = "api/latest", timeout: float = 60.0) -> float:
        """Seconds from the start of the process to the first answer of *path*."""
        while time.monotonic() - self.started < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the station exited:\n{self.log_file.read_text(errors='replace')[-3000:]}")
            with contextlib.suppress(OSError, ValueError):
                self.get(path, timeout=2)
                return time.monotonic() - self.started
            time.sleep(0.01)
        raise TimeoutError("the station did not answer")

    def wait_idle(self, timeout: float = 60.0) -> None:
        self.first_answer("api/config", timeout)
        while time.monotonic() - self.started < timeout:
            servers = json.loads(self.get("api/servers"))["servers"]
            if len(servers) == len(self.iperf3_ports) and all(s["state"] == "idle" for s in servers):
                return
            time.sleep(0.1)
        raise TimeoutError("the servers did not come up")

    def stop(self) -> None:
        stop_station(self.proc)


@contextlib.contextmanager
def station(tree: Path, servers: int, logs: Path | None = None):
    """A station on an empty log directory, or on *logs* hard-linked into one."""
    work = Path(tempfile.mkdtemp(dir=_data.CACHE, prefix="idle-"))
    log_dir = work / "logs"
    log_dir.mkdir()
    if logs is not None:
        for path in _data.log_files(logs):
            try:
                os.link(path, log_dir / path.name)
            except OSError:
                shutil.copy2(path, log_dir / path.name)
    s = Station(tree, log_dir, servers)
    try:
        yield s
    finally:
        s.stop()
        shutil.rmtree(work, ignore_errors=True)


class Pages:
    """*count* websocket clients, connected as the dashboard connects (no
    pings of their own), reading everything, in a thread of their own."""

    def __init__(self, s: Station, count: int) -> None:
        self.uri, self.origin, self.count = f"ws://127.0.0.1:{s.ws_port}/", s.url.rstrip("/"), count
        self.loop = asyncio.new_event_loop()
        self.messages = 0
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    async def _one(self, opened: asyncio.Event) -> None:
        from websockets.asyncio.client import connect

        async with connect(self.uri, origin=self.origin, ping_interval=None, max_size=None) as ws:
            opened.set()
            async for _ in ws:
                self.messages += 1

    async def _open(self) -> None:
        events = [asyncio.Event() for _ in range(self.count)]
        self.tasks = [asyncio.create_task(self._one(e)) for e in events]
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in events)), 10)

    def __enter__(self) -> Pages:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._open(), self.loop).result(15)
        return self

    def __exit__(self, *exc: object) -> None:
        async def close() -> None:
            for task in self.tasks:
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


# ------------------------------------------------------------------ scenarios


def idle(tree: Path, servers: int, args: argparse.Namespace) -> dict:
    with station(tree, servers) as s:
        s.wait_idle()
        time.sleep(args.settle)
        return measure(s.proc.pid, args.seconds)


def pages_and_test(tree: Path, args: argparse.Namespace) -> dict:
    with station(tree, args.test_servers) as s:
        s.wait_idle()
        with Pages(s, PAGES) as pages:
            time.sleep(args.settle)
            out = {"pages": measure(s.proc.pid, args.seconds)}
            done = threading.Event()

            def client() -> None:
                try:
                    subprocess.run(["iperf3", "-c", "127.0.0.1", "-p", str(s.iperf3_ports[0]), "-t", str(args.test_seconds),
                                    "--json"], capture_output=True, timeout=args.test_seconds + 30, check=False)
                    time.sleep(1.0)  # the result's push
                finally:
                    done.set()

            threading.Thread(target=client, daemon=True).start()
            out["test"] = measure(s.proc.pid, 0, during=done)
            out["test"]["messages"] = pages.messages
            time.sleep(2.0)  # sampling must have stopped: the station idle again
            out["after"] = measure(s.proc.pid, max(2.0, args.seconds / 3))
        return out


def memory_and_start(tree: Path, logs: Path, args: argparse.Namespace, repeat: int) -> dict:
    starts, rss = [], 0.0
    for _ in range(repeat):
        with station(tree, 0, logs) as s:
            starts.append(s.first_answer())
            s.wait_idle()
            rss = settled_rss(s.proc.pid, args)
    return {"startup_s": statistics.median(starts), "startups": starts, "rss_mib": rss}


def settled_rss(pid: int, args: argparse.Namespace) -> float:
    """VmRSS once the warm-up has finished: unchanged (±1 MiB) for 2 s."""
    deadline, last = time.monotonic() + (5 if args.quick else 60), rss_mib(pid)
    while time.monotonic() < deadline:
        time.sleep(2.0)
        now = rss_mib(pid)
        if abs(now - last) < 1.0:
            return now
        last = now
    return last


def compiled(source: Path) -> None:
    """Write *source*'s bytecode (a package directory or one module) beside
    it, as an install does; ``compileall`` writes it whatever
    ``PYTHONDONTWRITEBYTECODE`` says, and Python reads it back even then."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(source)], check=True, stdout=subprocess.DEVNULL)


def cold_export(tree: Path | None, logs: Path, repeat: int) -> dict[str, float]:
    """Median seconds of a whole new process writing the CSV of *logs* to
    /dev/null: wall clock (``s``) and its CPU time, user and system
    (``cpu_s``: steadier than the wall clock on a shared machine)."""
    compiled(HERE / "prototype.py" if tree is None else tree / "webperf3")
    if tree is None:
        code = ("import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]); import prototype; "
                "sys.stdout.write(prototype.export_csv(Path(sys.argv[2])))")
        argv, env, cwd = [sys.executable, "-c", code, str(HERE), str(logs)], dict(os.environ), HERE
    else:
        argv, env, cwd = [sys.executable, "-m", "webperf3", "export", "--log-dir", str(logs)], {**os.environ, "PYTHONPATH": str(tree)}, tree
    times, cpu = [], []
    for _ in range(repeat):
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=cwd, check=True)
        times.append(time.monotonic() - started)
        now = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(now.ru_utime - used.ru_utime + now.ru_stime - used.ru_stime)
    return {"s": statistics.median(times), "cpu_s": statistics.median(cpu)}


def indexed(trees: dict[str, Path], logs: Path, repeat: int) -> dict[str, dict]:
    """Start-up and a cold export once the station has kept its index beside
    the logs (.webperf3-index/, written by its first start): the station's
    every later start, and an export on the station's own log directory.
    The trees' exports are interleaved, one of each in turn: on a shared
    machine, a minute of another's load would otherwise fall on one tree."""
    fig: dict[str, dict] = {}
    with contextlib.ExitStack() as stack:
        dirs = {}
        for label, tree in trees.items():
            print(f"  {label}: indexed", file=sys.stderr, flush=True)
            first = stack.enter_context(station(tree, 0, logs))
            first.first_answer()
            first.wait_idle()
            first.stop()
            dirs[label] = first.log_dir
            starts = []
            for _ in range(repeat):
                s = Station(tree, first.log_dir, 0)
                try:
                    starts.append(s.first_answer())
                finally:
                    s.stop()
            index = first.log_dir / ".webperf3-index"
            fig[label] = {"startup_s": statistics.median(starts), "startups": starts,
                          "indexed": index.is_dir() and any(index.iterdir())}
        walls: dict[str, list[float]] = {label: [] for label in trees}
        cpus: dict[str, list[float]] = {label: [] for label in trees}
        for _ in range(repeat):
            for label, tree in trees.items():
                got = cold_export(tree, dirs[label], 1)
                walls[label].append(got["s"])
                cpus[label].append(got["cpu_s"])
    for label in trees:
        fig[label].update(export_s=statistics.median(walls[label]), export_cpu_s=statistics.median(cpus[label]))
    return fig


def run_tree(trees: dict[str, Path], args: argparse.Namespace) -> dict[str, dict]:
    """Every figure for every tree, the trees taken in turns."""
    fig: dict[str, dict] = {label: {} for label in trees}

    def each(step, *a):
        for label, tree in trees.items():
            print(f"  {label}: {step.__name__} {a[:1] if a and not isinstance(a[0], argparse.Namespace) else ''}",
                  file=sys.stderr, flush=True)
            yield label, step(tree, *a)

    if not args.cold_only:
        for n in args.idle_servers:
            for label, got in each(idle, n, args):
                fig[label][f"idle{n}"] = got
        for label, got in each(pages_and_test, args):
            fig[label].update(got)
    small, _ = _data.cached_log_dir(args.startup_bytes)
    for label, got in each(memory_and_start, small, args, args.repeat):
        fig[label]["small"] = got
    if args.large_bytes and not args.cold_only:
        large, manifest = _data.cached_log_dir(args.large_bytes)
        for label, got in each(memory_and_start, large, args, 1):
            fig[label]["large"] = {**got, "tests": manifest["tests"]}
    for label, got in each(cold_export, small, args.repeat):
        fig[label]["export_s"], fig[label]["export_cpu_s"] = got["s"], got["cpu_s"]
    for label, got in indexed(trees, small, args.repeat).items():
        fig[label]["indexed"] = got
    return fig


# ------------------------------------------------------------------ the table


def table(fig: dict[str, dict], proto_s: float, args: argparse.Namespace, proto_cpu_s: float | None = None) -> list[tuple]:
    labels = list(fig)
    before, after = (labels[0], labels[-1]) if len(labels) > 1 else (None, labels[0])

    def cell(label: str | None, key: str, field: str, fmt: str) -> str:
        if label is None:
            return ""
        value = fig[label].get(key, {})
        value = value.get(field) if isinstance(value, dict) else value
        return "" if value is None else format(value, fmt)

    rows = []
    goals = {f"idle{max(args.idle_servers)}": ("idle10_cpu", "idle10_wakeups"), "test": ("test_cpu", None)}
    names = {"pages": f"--servers {args.test_servers}, idle, {PAGES} pages open",
             "test": f"--servers {args.test_servers}, one {args.test_seconds} s TCP test, {PAGES} pages",
             "after": f"--servers {args.test_servers}, 2 s after the test, {PAGES} pages"}
    for key in [] if args.cold_only else [f"idle{n}" for n in args.idle_servers] + ["pages", "test", "after"]:
        name = names.get(key, f"--servers {key[4:]}, idle")
        cpu_goal, wake_goal = goals.get(key, (None, None))
        now_cpu = fig[after].get(key, {}).get("cpu_pct")
        rows.append((f"{name}: CPU % of one core", cell(before, key, "cpu_pct", ".2f"), cell(after, key, "cpu_pct", ".2f"),
                     f"≤ {GOALS[cpu_goal]} %" if cpu_goal else "",
                     verdict(now_cpu, GOALS[cpu_goal]) if cpu_goal and not args.quick else ""))
        now_wake = fig[after].get(key, {}).get("wakeups_s")
        rows.append((f"{name}: wakeups/s", cell(before, key, "wakeups_s", ".0f"), cell(after, key, "wakeups_s", ".0f"),
                     f"≤ {GOALS[wake_goal]:g}" if wake_goal else "",
                     verdict(now_wake, GOALS[wake_goal]) if wake_goal and not args.quick else ""))
        rows.append((f"{name}: threads", cell(before, key, "threads", "d"), cell(after, key, "threads", "d"), "", ""))
        if key == "test":
            rows.append((f"{name}: its iperf3 children, CPU %", cell(before, key, "children_cpu_pct", ".1f"),
                         cell(after, key, "children_cpu_pct", ".1f"), "", ""))
    mb = args.startup_bytes / 1e6
    rows.append((f"RSS, {mb:g} MB of logs loaded (MiB)", cell(before, "small", "rss_mib", ".0f"), cell(after, "small", "rss_mib", ".0f"), "", ""))
    if args.large_bytes and not args.cold_only:
        tests = fig[after]["large"]["tests"]
        rows.append((f"RSS, {tests:,} tests loaded (MiB)", cell(before, "large", "rss_mib", ".0f"), cell(after, "large", "rss_mib", ".0f"),
                     f"≤ {GOALS['rss_100k']:g} MiB", verdict(fig[after]["large"]["rss_mib"], GOALS["rss_100k"]) if not args.quick else ""))
    rows.append((f"start → first /api/latest, {mb:g} MB of logs (s, median of {args.repeat})", cell(before, "small", "startup_s", ".2f"),
                 cell(after, "small", "startup_s", ".2f"), f"≤ {GOALS['startup_s']} s",
                 verdict(fig[after]["small"]["startup_s"], GOALS["startup_s"]) if not args.quick else ""))
    rows.append((f"cold `webperf3 export`, {mb:g} MB (s; prototype {proto_s:.2f} s)", cell(before, "export_s", "", ".2f"),
                 cell(after, "export_s", "", ".2f"), "", ""))
    ratio = {label: proto_s / fig[label]["export_s"] for label in fig}
    rows.append(("  the same, times faster than the prototype", f"{ratio[before]:.1f}x" if before else "", f"{ratio[after]:.1f}x",
                 "", ""))
    # Once the station has kept its index (a revision with none reads the logs as above).
    rows.append(("  the same, the station's index beside the logs: start → first /api/latest (s)", cell(before, "indexed", "startup_s", ".2f"),
                 cell(after, "indexed", "startup_s", ".2f"), f"≤ {GOALS['startup_s']} s",
                 verdict(fig[after]["indexed"]["startup_s"], GOALS["startup_s"]) if not args.quick else ""))
    rows.append(("  the same: cold `webperf3 export` (s)", cell(before, "indexed", "export_s", ".2f"),
                 cell(after, "indexed", "export_s", ".2f"), "", ""))
    iratio = {label: proto_s / fig[label]["indexed"]["export_s"] for label in fig if "indexed" in fig[label]}
    rows.append(("  the same, times faster than the prototype", f"{iratio[before]:.1f}x" if before in iratio else "",
                 f"{iratio[after]:.1f}x", f"≥ {GOALS['export_x']:g}x", verdict(-iratio[after], -GOALS["export_x"]) if not args.quick else ""))
    if proto_cpu_s:
        cpu = {label: fig[label]["indexed"].get("export_cpu_s") for label in fig if "indexed" in fig[label]}
        rows.append((f"  the same in CPU seconds (prototype {proto_cpu_s:.2f} s): times faster",
                     f"{cell(before, 'indexed', 'export_cpu_s', '.2f')} s, {proto_cpu_s / cpu[before]:.1f}x" if cpu.get(before) else "",
                     f"{cell(after, 'indexed', 'export_cpu_s', '.2f')} s, {proto_cpu_s / cpu[after]:.1f}x" if cpu.get(after) else "", "", ""))
    return rows


def verdict(value: float | None, goal: float) -> str:
    return "" if value is None else ("pass" if value <= goal else "fail")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--against", metavar="REV", default=None, help="also measure the tree at this git revision (e.g. main)")
    p.add_argument("--before", type=Path, default=None, metavar="FILE", help="an earlier run's idle_bench.json as the before column")
    p.add_argument("--seconds", type=float, default=30.0, help="each idle window (default: %(default)s)")
    p.add_argument("--settle", type=float, default=3.0, help="wait after start before measuring")
    p.add_argument("--idle-servers", type=int, nargs="+", default=[0, 4, 10])
    p.add_argument("--test-servers", type=int, default=4)
    p.add_argument("--test-seconds", type=int, default=10)
    p.add_argument("--startup-bytes", type=int, default=100_000_000, help="logs for the start-up, RSS and export figures")
    p.add_argument("--large-bytes", type=int, default=505_500_000, help="logs for the RSS at 100,000 tests (0: skip)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--cold-only", action="store_true", help="only the start-up, RSS and export cases (no idle windows)")
    p.add_argument("--out", type=Path, default=HERE / "out")
    args = _report.parse_args(p, argv, {"seconds": 1.5, "settle": 0.5, "idle_servers": [0, 2], "test_servers": 2,
                                        "test_seconds": 1, "startup_bytes": 1_000_000, "large_bytes": 0, "repeat": 1})
    if shutil.which("iperf3") is None:
        _report.skip("no iperf3 on PATH")
    if not Path("/proc/self/task").is_dir():
        _report.skip("no /proc: Linux only")
    trees = {}
    if args.against:
        trees[f"{args.against}"] = tree_of(args.against)
    trees["this tree"] = ROOT
    load0 = os.getloadavg()
    fig = run_tree(trees, args)
    if args.before and not args.against:
        fig = {"before": json.loads(args.before.read_text())["figures"]["this tree"], **fig}
    small, _ = _data.cached_log_dir(args.startup_bytes)
    proto = cold_export(None, small, args.repeat)
    proto_s = proto["s"]
    load1 = os.getloadavg()
    rows = table(fig, proto_s, args, proto["cpu_s"])
    labels = list(fig)
    head = ("", labels[0] if len(labels) > 1 else "", labels[-1], "goal", "")
    print(_report.describe_machine())
    print(f"load average {load0[0]:.2f} before, {load1[0]:.2f} after; windows of {args.seconds:g} s")
    print(_report.text_table(rows, head))
    print()
    md = [f"| | {head[1]} | {head[2]} | goal | |", "| --- | ---: | ---: | --- | --- |"]
    md += ["| " + " | ".join(str(c).replace("|", "\\|") if i or not c.startswith("  ") else c.strip() for i, c in enumerate(r))
           + " |" for r in rows]
    print("\n".join(md))
    if not args.quick:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / ("idle_bench_cold.json" if args.cold_only else "idle_bench.json")).write_text(json.dumps({"figures": fig, "prototype_s": proto_s, "prototype_cpu_s": proto["cpu_s"]}, indent=1))
    met = all(r[-1] != "fail" for r in rows)
    return _report.exit_status(args, met)


if __name__ == "__main__":
    sys.exit(main())
