"""What watching running tests (their progress, live) costs the station.

    .venv/bin/python benchmarks/progress_bench.py [--tests 10] [--seconds 8] [--quick]

Everything on 127.0.0.1, free ports, bandwidth-limited clients. It starts
``--tests`` real iperf3 servers (a ``ServerFleet``, as ``webperf3`` runs
them) and as many real clients at once (``-b 20M`` each, TCP; with
``--udp``, UDP), and measures while they all run:

1. **Each way of reading the counters, per poll** (CPU time of this thread,
   user + system, the mean of many polls): sock_diag as the fleet uses it
   (``SocketWatch.tcp`` + ``ProgressSampler.sample``: TCP with tcp_info,
   connected UDP sockets, /proc/PID/io where UDP); ``ss -tin`` with a port
   filter, one subprocess per poll (this process's CPU and the child's); for
   comparison what the fleet read before, /proc/net/tcp and tcp6 (no byte
   counters); and psutil's ``net_connections("tcp")`` (no byte counters)
   when psutil can be imported (``--psutil-path DIR`` adds a directory
   holding it, e.g. from ``pip install --target DIR psutil``). Each is also
   given as a share of one core at the fleet's 4 polls a second.
2. **The fleet itself**, measured first, while this thread sleeps (a busy
   thread here would hold the GIL and delay the fleet's polls): the
   supervisor thread's CPU time (``/proc/self/task/TID/schedstat``) per
   second of wall time, while the tests run and while all ports are idle,
   and the progress messages it produced. The goal: sampling ≤ 2 % of one
   core with 10 tests running.

Nothing is asserted: this is a measurement.

``--quick``: 2 tests, half a second per measurement; without iperf3 it says
so and exits 77 (skipped).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import _report  # noqa: E402

from tests.support.ports import free_ports  # noqa: E402
from tests.support.waiting import wait_until  # noqa: E402
from webperf3.iperf3.sockets import netstat  # noqa: E402
from webperf3.iperf3.sockets.sampler import ProgressSampler, Running, SocketWatch  # noqa: E402
from webperf3.iperf3.fleet.servers import ServerFleet  # noqa: E402

POLLS_PER_SECOND = 4


def cpu_per_call(fn: Callable[[], object], seconds: float, children: bool = False) -> tuple[float, int]:
    """Mean CPU seconds per call of *fn* (this thread; plus reaped children's)."""
    fn()
    calls = 0
    child0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    start, deadline = time.thread_time(), time.monotonic() + seconds
    while time.monotonic() < deadline:
        fn()
        calls += 1
    used = time.thread_time() - start
    if children:
        child1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        used += (child1.ru_utime - child0.ru_utime) + (child1.ru_stime - child0.ru_stime)
    return used / calls, calls


def thread_cpu(native_id: int) -> float:
    """CPU seconds a thread of this process has run (schedstat: ns on the CPU)."""
    try:
        return int(Path(f"/proc/self/task/{native_id}/schedstat").read_text().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        fields = Path(f"/proc/self/task/{native_id}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_clients(iperf3: str, ports: list[int], seconds: float, udp: bool) -> list[subprocess.Popen]:
    argv = ["-t", f"{seconds:g}", "-b", "20M", "--connect-timeout", "3000"] + (["-u"] if udp else [])
    return [
        subprocess.Popen([iperf3, "-c", "127.0.0.1", "-p", str(p), *argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for p in ports
    ]


def ss_poll(low: int, high: int) -> Callable[[], object]:
    ss = shutil.which("ss")
    if ss is None:
        return lambda: None
    argv = [ss, "-tin", "state", "established", f"( sport >= :{low} and sport <= :{high} )"]

    def poll() -> object:
        out = subprocess.run(argv, capture_output=True, check=True).stdout
        # The figures are on the info lines: find them as a caller would.
        return [line for line in out.split(b"\n") if b"bytes_received" in line or b"bytes_acked" in line]

    return poll


def psutil_poll(extra_path: str | None) -> Callable[[], object] | None:
    if extra_path:
        sys.path.insert(0, extra_path)
    try:
        import psutil  # type: ignore[import-not-found]
    except ImportError:
        return None
    return lambda: psutil.net_connections("tcp")


def pct(seconds_per_poll: float) -> str:
    return f"{seconds_per_poll * POLLS_PER_SECOND * 100:.2f} %"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=8.0, help="how long each measurement of part 1 runs")
    parser.add_argument("--iperf3", default="iperf3")
    parser.add_argument("--udp", action="store_true", help="UDP tests instead of TCP")
    parser.add_argument("--psutil-path", help="a directory to import psutil from")
    parser.add_argument("--idle-seconds", type=float, default=4.0, help="how long the idle fleet is measured (default 4)")
    args = _report.parse_args(parser, None, quick={"tests": 2, "seconds": 0.5, "idle_seconds": 0.5})
    if args.quick and shutil.which(args.iperf3) is None:
        _report.skip(f"{args.iperf3} not found: the tests it watches are real iperf3 tests")

    ports = free_ports(args.tests)
    progress: list[tuple[float, int]] = []
    last: list = []  # the fleet's latest figures
    rows: list[tuple] = []
    with tempfile.TemporaryDirectory(prefix="webperf3-progress-bench-") as logs:
        fleet = ServerFleet(
            ports, logs, iperf3=args.iperf3, bind="127.0.0.1",
            on_progress=lambda tests: (progress.append((time.monotonic(), len(tests))), last.__setitem__(slice(None), tests)),
        )
        with fleet:
            wait_until(lambda: all(s.state == "idle" for s in fleet.status()), 10, what="servers to listen")
            supervisor = next(t for t in threading.enumerate() if t.name == "iperf3-supervisor")
            assert supervisor.native_id is not None
            tid = supervisor.native_id

            idle_cpu0, idle_t0 = thread_cpu(tid), time.monotonic()
            time.sleep(args.idle_seconds)
            idle = (thread_cpu(tid) - idle_cpu0) / (time.monotonic() - idle_t0)

            psutil_fn = psutil_poll(args.psutil_path)
            part1 = 4 if psutil_fn is None else 5
            duration = part1 * args.seconds + args.seconds + 8
            clients = start_clients(args.iperf3, ports, duration, args.udp)
            try:
                wait_until(lambda: all(s.state == "testing" for s in fleet.status()), 10, what="every test to start")
                time.sleep(1.0)
                # The fleet alone first: this thread sleeps, so the supervisor
                # polls on time and its CPU is its own.
                busy_cpu0, busy_t0, messages0 = thread_cpu(tid), time.monotonic(), len(progress)
                time.sleep(args.seconds)
                busy_wall = time.monotonic() - busy_t0
                busy = (thread_cpu(tid) - busy_cpu0) / busy_wall
                messages = [n for t, n in progress[messages0:]]
                # Part 1 runs in this thread meanwhile: a second poller, as if
                # the fleet had it; its own watch and sampler.
                watch = SocketWatch(ports)
                sampler = ProgressSampler(watch, "127.0.0.1")
                pids = {s.port: s.pid for s in fleet.status()}
                running = {port: Running(time.monotonic(), pids[port]) for port in ports}

                def ours() -> object:
                    return sampler.sample(running, watch.tcp(), time.monotonic())

                measured = [
                    ("sock_diag: the fleet's poll with progress (SocketWatch + ProgressSampler)", *cpu_per_call(ours, args.seconds)),
                    ("ss -tin with a port filter, one subprocess per poll", *cpu_per_call(ss_poll(min(ports), max(ports)), args.seconds, children=True)),
                    ("/proc/net/tcp + tcp6 read and parsed (no byte counters; before)", *cpu_per_call(netstat.read_tcp_sockets, args.seconds)),
                ]
                if psutil_fn is not None:
                    measured.append(("psutil.net_connections('tcp') (no byte counters)", *cpu_per_call(psutil_fn, args.seconds)))
                watch.close()
            finally:
                for client in clients:
                    client.terminate()
                for client in clients:
                    client.wait()

    print(f"\n{_report.describe_machine()}; load average {os.getloadavg()[0]:.2f}")
    print(f"{args.tests} {'UDP' if args.udp else 'TCP'} tests at 20 Mbit/s each, on 127.0.0.1\n")
    for what, per_poll, calls in measured:
        rows.append((what, f"{per_poll * 1e3:.3f} ms", f"{calls} polls", pct(per_poll), "", ""))
    rows.append((f"the fleet's supervisor thread, {args.tests} tests running (CPU / wall)", "", "", f"{busy * 100:.2f} %", "<= 2 %", "pass" if busy <= 0.02 else "fail"))
    rows.append(("the fleet's supervisor thread, all ports idle (CPU / wall)", "", "", f"{idle * 100:.2f} %", "", ""))
    rows.append((f"progress messages in those {busy_wall:.1f} s: {len(messages)}, tests per message (median)", f"{statistics.median(messages) if messages else 0:g}", "", "", "", ""))
    head = ("", "CPU per poll", "polls", "of one core at 4 polls/s", "goal", "")
    print(_report.text_table(rows, head))
    print()
    print("| | CPU per poll | polls | of one core at 4 polls/s | goal | |")
    print("| --- | ---: | ---: | ---: | --- | --- |")
    for r in rows:
        print("| " + " | ".join(str(c).replace("<=", "≤") for c in r) + " |")
    figures = [(round(x.upload_bps / 1e6, 1) if x.upload_bps else None, round(x.download_bps / 1e6, 1) if x.download_bps else None) for x in last]
    print(f"\nthe fleet's last figures (upload, download Mbit/s), port by port: {figures}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
