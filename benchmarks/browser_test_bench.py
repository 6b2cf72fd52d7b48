""""Test from this browser" on this machine's loopback: headless Chromium
against a real station, with iperf3 over the same loopback for scale.

    .venv/bin/python benchmarks/browser_test_bench.py [--quick]

Chromium is driven over a bare DevTools connection (``--driver cdp``, the
default): Playwright, as the tests drive it, enables DevTools' Network
domain, and Chromium then copies every websocket frame, payload and all, to
the driver; measured, that cost Chromium 20 s of CPU per GB (2 s without it)
and held the test to 0.4 Gbit/s on this machine. ``--driver playwright``
measures it that way, for comparison.

Measures, for one browser test (the page's button, as a person presses it):

* the download (what the browser received) and the upload (what the
  station received), as recorded;
* the station's own CPU (its process: the websocket loop, the web server,
  the store; not its iperf3 children) per gigabyte the browser test moved
  (what the station sent and received in all, from its record), against what iperf3's
  server spends per gigabyte (its ``cpu_utilization_percent``) for a 4-stream
  upload and download on the same loopback;
* ``GET /api/latest`` every 50 ms meanwhile: its 99th percentile, against
  the same poller's on the idle station just before (the machine's load
  alone), whose CPU per second is taken out of the station's figure above
  (the poller is the benchmark's, not the test's);
* Chromium's CPU (every process of the browser the benchmark started) per
  gigabyte: the other end, which on a loaded machine is what holds the rate;
* the live push's latency (a test appended to a log until a websocket page
  has it), idle and during the browser test: the test shares the push's loop.

Goals (the issue's): each direction >= 1 Gbit/s; the station's CPU per GB
<= 2x iperf3's server's; /api/latest p99 <= 100 ms. ``--quick``: shorter
iperf3 runs and fewer push samples; the browser test itself is as long as
the station makes it (about 20 s).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import _report  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
GOAL_GBIT = 1.0
GOAL_CPU_RATIO = 2.0
GOAL_LATEST_P99_MS = 100.0
HEAD = ("", "figure", "goal", "verdict")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def chromium_cpu() -> float:
    """CPU seconds of this process's Chromium descendants (not other sessions')."""
    parent: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parent[int(entry)] = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    mine, grown = {os.getpid()}, True
    while grown:
        grown = False
        for pid, ppid in parent.items():
            if ppid in mine and pid not in mine:
                mine.add(pid)
                grown = True
    total = 0.0
    for pid in mine - {os.getpid()}:
        try:
            if "chrom" in Path(f"/proc/{pid}/comm").read_text():
                total += cpu_seconds(pid)
        except OSError:
            pass
    return total


class Page(Protocol):
    def goto(self, url: str) -> None: ...
    def evaluate(self, expression: str) -> Any: ...


class _Waits:
    def wait_for(self: Any, expression: str, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.evaluate(expression):
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {seconds} s for {expression}")
            time.sleep(0.1)


class CdpPage(_Waits):
    """Chromium's page over a bare DevTools connection: Page.navigate and
    Runtime.evaluate only. No Network domain is enabled, so Chromium does not
    copy every websocket frame to the driver, as it does for Playwright
    (its ``page.on("websocket")`` events): that costs Chromium and the
    driver 10x what receiving the bytes does."""

    def __init__(self, url: str) -> None:
        from websockets.sync.client import connect

        self.ws = connect(url, max_size=None, open_timeout=10)
        self.n = 0

    def call(self, method: str, **params: Any) -> dict:
        self.n += 1
        self.ws.send(json.dumps({"id": self.n, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(30))
            if message.get("id") == self.n:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def goto(self, url: str) -> None:
        self.call("Page.navigate", url=url)

    def evaluate(self, expression: str) -> Any:
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True).get("result", {}).get("value")


class PlaywrightPage(_Waits):
    def __init__(self, page: Any) -> None:
        self.page = page

    def goto(self, url: str) -> None:
        self.page.goto(url)

    def evaluate(self, expression: str) -> Any:
        return self.page.evaluate(expression)


@contextlib.contextmanager
def open_chromium(driver: str, tmp: str) -> Iterator[Page]:
    if driver == "playwright":
        with _report.chromium(CHROMIUM) as browser:
            yield PlaywrightPage(browser.new_page())
        return
    from tests.support.ports import free_port

    port = free_port()
    chrome = subprocess.Popen([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", f"--remote-debugging-port={port}",
                               f"--user-data-dir={tmp}/chromium", "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=2) as answer:
                    targets = json.load(answer)
                break
            except OSError:
                if chrome.poll() is not None or time.monotonic() > deadline:
                    _report.skip("Chromium cannot start (its DevTools port never answered)")
                time.sleep(0.2)
        page = CdpPage(next(t for t in targets if t["type"] == "page")["webSocketDebuggerUrl"])
        try:
            page.goto("about:blank")
        except Exception:
            # Under qemu-aarch64 it may answer DevTools, then crash at its
            # first page (as in _report.chromium); a Chromium still running
            # failed for another reason, which the run reports.
            try:
                code = chrome.wait(5)
            except subprocess.TimeoutExpired:
                code = None
            if code is None:
                raise
            _report.skip(f"Chromium cannot open a page: it exited ({code}) at its first page")
        try:
            yield page
        finally:
            page.ws.close()
    finally:
        chrome.terminate()
        try:
            chrome.wait(10)
        except subprocess.TimeoutExpired:
            chrome.kill()
            chrome.wait()


PYTHON_CLIENT = """
import json, sys
from tests.support.browsertest import run_test
run = run_test(int(sys.argv[1]))
print(json.dumps(run.result["record"] if run.result else {"error": run.error}))
"""


def python_client_test(station, pid: int) -> tuple[float, float, float, dict]:
    """The same protocol driven by a Python websocket client in a process of
    its own, the poller running: (/api/latest p99 ms, station CPU per GB net
    of the poller's, seconds, record). What the station's loop does to
    /api/latest without Chromium's CPU on the same two cores."""
    poller = Poller(station.url + "api/latest")
    cpu0, t0 = cpu_seconds(pid), time.perf_counter()
    poller.start()
    done = subprocess.run([sys.executable, "-c", PYTHON_CLIENT, str(station.ws_port)], capture_output=True, text=True,
                          timeout=120, cwd=HERE.parent, check=True)
    cpu1, t1 = cpu_seconds(pid), time.perf_counter()
    poller.halt.set()
    poller.join(15)
    record = json.loads(done.stdout.splitlines()[-1])
    times = sorted(poller.times)
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))] if times else float("nan")
    return p99, cpu1 - cpu0, t1 - t0, record


def iperf3_cpu_per_gb(port: int, seconds: int, *args: str) -> tuple[float, float]:
    """(server CPU seconds per GB, Gbit/s) of one 4-stream iperf3 test."""
    done = subprocess.run(["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", str(seconds), "-P", "4", "-J", *args],
                          capture_output=True, text=True, timeout=seconds + 30, check=True)
    end = json.loads(done.stdout)["end"]
    moved = end["sum_received"]["bytes"]
    cpu = end["cpu_utilization_percent"]["remote_total"] / 100 * end["sum_received"]["seconds"]
    return cpu / (moved / 1e9), end["sum_received"]["bits_per_second"] / 1e9


class Poller(threading.Thread):
    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.times, self.errors = url, [], 0
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(0.05):
            start = time.perf_counter()
            try:
                with urllib.request.urlopen(self.url, timeout=10) as answer:
                    answer.read()
                self.times.append((time.perf_counter() - start) * 1000)
            except OSError:
                self.errors += 1


def push_latency(station, samples: int) -> list[float]:
    """ms from a test appended to a log to a websocket page's results message."""
    from tests.support.live import Client
    from tests.support.logs import make_entry

    client = Client(station.ws_port)
    client.next_of("snapshot")
    out = []
    try:
        for _ in range(samples):
            start = time.perf_counter()
            with (station.log_dir / "port-5999.json").open("ab") as log:
                log.write(make_entry("tcp", name="bench", at=time.time()))
            client.next_of("results", timeout=10)
            out.append((time.perf_counter() - start) * 1000)
            time.sleep(0.3)
    finally:
        client.close()
    return out


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--iperf3-seconds", type=int, default=8)
    p.add_argument("--push-samples", type=int, default=10)
    p.add_argument("--driver", choices=("cdp", "playwright"), default="cdp",
                   help="cdp: Chromium driven over a bare DevTools connection (Runtime only); playwright: as the tests drive it, "
                        "whose Network instrumentation reports every websocket frame, payload included (10x Chromium's CPU)")
    p.add_argument("--idle-seconds", type=float, default=10.0, help="the poller on the idle station, before the test")
    return _report.parse_args(p, argv, {"iperf3_seconds": 2, "push_samples": 3, "idle_seconds": 3.0})


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if shutil.which("iperf3") is None or not Path(CHROMIUM).exists():
        _report.skip("needs iperf3 and /usr/bin/chromium")
    from tests.support.station import Station

    with tempfile.TemporaryDirectory() as tmp:
        station = Station(Path(tmp) / "logs", servers=1)
        try:
            port = station.iperf3_port
            up_cpu, up_gbit = iperf3_cpu_per_gb(port, args.iperf3_seconds)
            time.sleep(1)
            down_cpu, down_gbit = iperf3_cpu_per_gb(port, args.iperf3_seconds, "-R")
            iperf3_cpu = (up_cpu + down_cpu) / 2
            idle_push = push_latency(station, args.push_samples)
            pid = station.proc.pid
            with open_chromium(args.driver, tmp) as page:
                page.goto(station.url)
                page.wait_for("document.getElementById('connection').textContent === 'live'", 20)
                idle_poller = Poller(station.url + "api/latest")
                idle0, idle_t0 = cpu_seconds(pid), time.perf_counter()
                idle_poller.start()
                time.sleep(args.idle_seconds)
                idle_poller.halt.set()
                idle_poller.join(15)
                poller_cpu_per_s = (cpu_seconds(pid) - idle0) / (time.perf_counter() - idle_t0)
                poller = Poller(station.url + "api/latest")
                cpu0, chrome0, t0 = cpu_seconds(pid), chromium_cpu(), time.perf_counter()
                poller.start()
                page.evaluate("document.getElementById('browser-test').click()")
                phase = "document.getElementById('browser-test-status').dataset.phase"
                page.wait_for(f"{phase} === 'download'", 20)
                busy_push = push_latency(station, args.push_samples)
                page.wait_for(f"['done', 'failed'].includes({phase})", 90)
                cpu1, chrome1, t1 = cpu_seconds(pid), chromium_cpu(), time.perf_counter()
                poller.halt.set()
                poller.join(15)
                status = page.evaluate("document.getElementById('browser-test-status').textContent")
            time.sleep(1)
            py_p99, py_cpu, py_seconds, py_record = python_client_test(station, pid)
            found = [r for r in station.api("api/results")["results"] if r["method"] == "browser"]
            if not found:
                print(f"the browser test recorded nothing: {status}")
                return 1
            # Bytes moved: what the station sent and received in all (warm-ups included).
            line = json.loads((station.log_dir / "browser-tests.json").read_text().splitlines()[0])
            moved = line["download_sent_bytes"] + line["upload_received_bytes"]
            # Chromium's test is the journal's first line; the Python client's the second.
            r = next(x for x in found if abs(x["download_bps"] - line["download_bps"]) < 1)
        finally:
            station.stop()
    station_cpu_gross = (cpu1 - cpu0) / (moved / 1e9)
    station_cpu = max(0.0, cpu1 - cpu0 - poller_cpu_per_s * (t1 - t0)) / (moved / 1e9)
    chrome_cpu = (chrome1 - chrome0) / (moved / 1e9)
    py_moved = py_record.get("download_sent_bytes", 0) + py_record.get("upload_received_bytes", 0)
    py_station_cpu = f"{max(0.0, py_cpu - poller_cpu_per_s * py_seconds) / (py_moved / 1e9):.2f}" if py_moved else "-"
    latest = sorted(poller.times)
    p99 = latest[min(len(latest) - 1, int(len(latest) * 0.99))] if latest else float("nan")
    idle_latest = sorted(idle_poller.times)
    idle_p99 = idle_latest[min(len(idle_latest) - 1, int(len(idle_latest) * 0.99))] if idle_latest else float("nan")
    down, up = r["download_bps"] / 1e9, r["upload_bps"] / 1e9
    ratio = station_cpu / iperf3_cpu
    rows = [
        ("download, browser received (Gbit/s)", f"{down:.2f}", f">= {GOAL_GBIT}", "met" if down >= GOAL_GBIT else "MISSED"),
        ("upload, station received (Gbit/s)", f"{up:.2f}", f">= {GOAL_GBIT}", "met" if up >= GOAL_GBIT else "MISSED"),
        ("iperf3 -P 4 on loopback, up / down (Gbit/s)", f"{up_gbit:.1f} / {down_gbit:.1f}", "", ""),
        ("station CPU per GB moved, the poller's taken out (s)", f"{station_cpu:.2f} (with it {station_cpu_gross:.2f})", "", ""),
        ("Chromium's CPU per GB moved (s)", f"{chrome_cpu:.2f}", "", ""),
        ("iperf3 server CPU per GB (s)", f"{iperf3_cpu:.2f}", "", ""),
        ("station / iperf3 CPU per GB", f"{ratio:.1f}x", f"<= {GOAL_CPU_RATIO}x", "met" if ratio <= GOAL_CPU_RATIO else "MISSED"),
        ("/api/latest p99 during the test (ms)", f"{p99:.0f} ({len(latest)} requests, {poller.errors} failed)", f"<= {GOAL_LATEST_P99_MS:.0f}",
         "met" if p99 <= GOAL_LATEST_P99_MS and not poller.errors else "MISSED"),
        ("/api/latest p99 on the idle station, same poller (ms)", f"{idle_p99:.0f} ({len(idle_latest)} requests)", "", ""),
        ("Python client instead of Chromium: down / up (Gbit/s)",
         f"{py_record.get('download_bps', 0) / 1e9:.2f} / {py_record.get('upload_bps', 0) / 1e9:.2f}", "", ""),
        ("Python client: station CPU per GB, the poller's taken out (s)", py_station_cpu, "", ""),
        ("Python client: /api/latest p99 (ms)", f"{py_p99:.0f}", "", ""),
        ("push latency idle, median / max (ms)", f"{statistics.median(idle_push):.0f} / {max(idle_push):.0f}", "", ""),
        ("push latency during the test, median / max (ms)", f"{statistics.median(busy_push):.0f} / {max(busy_push):.0f}", "", ""),
        ("browser latency idle / download / upload (ms)", f"{r['latency_idle_ms']} / {r['latency_download_ms']} / {r['latency_upload_ms']}", "", ""),
    ]
    print(_report.describe_machine())
    print(_report.text_table(rows, HEAD))
    print()
    print("| | figure | goal | |\n| --- | ---: | --- | --- |")
    for row in rows:
        print("| " + " | ".join(str(c).replace(">=", "≥").replace("<=", "≤") for c in row) + " |")
    goals = all(row[3] != "MISSED" for row in rows)
    return _report.exit_status(args, goals)


if __name__ == "__main__":
    sys.exit(main())
