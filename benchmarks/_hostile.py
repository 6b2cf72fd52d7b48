"""What ``hardening_bench.py``, ``abuse_bench.py`` and ``inputs_bench.py``
drive: a real station in a subprocess, the hostile clients (what a laptop on
the same Wi-Fi can do) and a page that reads the push, all on loopback
(127.0.0.1 for the station and the normal client, other 127.x addresses for
the others); and the table they print.

Everything here is bounded: each attacker opens a fixed number of sockets,
and every loop has a deadline. Just over 400 lines: the three benchmarks
share one station and one set of clients rather than each copying them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import signal
import socket
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
sys.path.insert(0, str(ROOT))

from tests.support.hostile import (  # noqa: E402
    FILL_FDS_THEN_EXEC,
    OTHER_CLIENTS,
    connect_from,
    get,
    read_all,
    request,
    status_of,
    websocket_handshake,
)

__all__ = ["OTHER_CLIENTS", "connect_from", "get", "read_all", "request", "status_of", "websocket_handshake"]


def stop_station(proc: subprocess.Popen) -> None:
    """SIGTERM, as systemd stops a station; SIGKILL after 15 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_range(count: int) -> int:
    """The first of ``count`` consecutive free ports."""
    for _ in range(200):
        first = free_port()
        if first + count < 65535 and all(_bindable(p) for p in range(first, first + count)):
            return first
    raise RuntimeError("no free port range")


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def raise_nofile(at_least: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < at_least:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(at_least, hard), hard))


class Station:
    """``python -m webperf3`` on free loopback ports, its log in a file."""

    def __init__(self, log_dir: Path, log_file: Path, *, servers: int = 0, iperf3: str = "iperf3", nofile: int | None = None, fill_fds_to: int = 0, extra: tuple[str, ...] = ()) -> None:
        self.port, self.ws_port = free_port(), free_port()
        self.first = free_range(servers) if servers else 5201
        self.iperf3_ports = list(range(self.first, self.first + servers))
        argv = [sys.executable, "-m", "webperf3", "--servers", str(servers), "--first-port", str(self.first),
                "--log-dir", str(log_dir), "--host", "127.0.0.1", "--port", str(self.port), "--ws-port", str(self.ws_port),
                "--iperf3", iperf3, "--iperf3-bind", "127.0.0.1", *extra]
        if fill_fds_to:
            argv = [sys.executable, "-c", FILL_FDS_THEN_EXEC, str(fill_fds_to), *argv]

        def limit() -> None:
            if nofile is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        self.log_file = log_file
        with log_file.open("wb") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, preexec_fn=limit,
                                         env={**os.environ, "PYTHONPATH": str(ROOT)})
        self.url = f"http://127.0.0.1:{self.port}/"
        self.ws_url = f"ws://127.0.0.1:{self.ws_port}/"

    def wait_ready(self, timeout: float = 60.0) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the station exited:\n{self.log()[-3000:]}")
            with contextlib.suppress(OSError, ValueError):
                servers = json.loads(self.fetch("api/servers"))["servers"]
                if len(servers) == len(self.iperf3_ports) and all(s["state"] == "idle" for s in servers):
                    return time.monotonic() - started
            time.sleep(0.2)
        raise TimeoutError(f"the station did not start:\n{self.log()[-3000:]}")

    def fetch(self, path: str, timeout: float = 10) -> bytes:
        with urllib.request.urlopen(self.url + path, timeout=timeout) as response:
            return response.read()

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def cpu_seconds(self) -> float:
        """The station's user + system CPU time so far (its iperf3s not counted)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log_lines(self) -> list[str]:
        return self.log().splitlines()

    def api(self, method: str, path: str, body: object = None, *, source: str = "127.0.0.1", timeout: float = 10) -> tuple[int, dict]:
        """(status, JSON answer) of one request from ``source``; 0 when refused or reset."""
        data = b"" if body is None else json.dumps(body).encode()
        raw = (f"{method} /{path.lstrip('/')} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n").encode() + data
        try:
            answer = request(self.port, raw, source=source, timeout=timeout)
        except OSError:
            return 0, {}
        try:
            parsed = json.loads(answer.split(b"\r\n\r\n", 1)[1] or b"{}")
        except (ValueError, IndexError):
            parsed = {}
        return status_of(answer), parsed if isinstance(parsed, dict) else {"value": parsed}

    def restart(self) -> None:
        """Stop, and start again on the same directory and ports."""
        self.stop()
        with self.log_file.open("ab") as log:
            self.proc = subprocess.Popen(self.proc.args, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(ROOT)})

    def deleted_files(self) -> list[int]:
        """The sizes of the files the station holds open that have no name
        any more (temporary files: waitress's spilled buffers, a workbook)."""
        sizes = []
        for name in os.listdir(f"/proc/{self.proc.pid}/fd"):
            path = f"/proc/{self.proc.pid}/fd/{name}"
            with contextlib.suppress(OSError):
                if os.readlink(path).endswith("(deleted)"):
                    sizes.append(os.stat(path).st_size)
        return sizes

    def stop(self) -> None:
        stop_station(self.proc)


class RssSampler:
    """The station's VmRSS every 100 ms, in a thread: the peak of a phase."""

    def __init__(self, station: Station) -> None:
        self.station = station
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self.start_mib = self.peak = self.station.rss_mib()
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            with contextlib.suppress(OSError):
                self.peak = max(self.peak, self.station.rss_mib())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.end_mib = self.station.rss_mib()


class Iperf3Loop:
    """Clients running ``iperf3 -c -n 1K --extra-data NAME`` back to back, one
    thread per server port, until stopped: a name bomb with a long NAME."""

    def __init__(self, iperf3: str, ports: list[int], name: str) -> None:
        self.iperf3, self.ports, self.name = iperf3, ports, name
        self.ok = self.failed = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(p,), daemon=True) for p in ports]

    def __enter__(self) -> Iperf3Loop:
        for t in self._threads:
            t.start()
        return self

    def _run(self, port: int) -> None:
        while not self._stop.is_set():
            done = subprocess.run([self.iperf3, "-c", "127.0.0.1", "-p", str(port), "-n", "1K", "--extra-data", self.name],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30, check=False)
            if done.returncode == 0:
                self.ok += 1
            else:
                self.failed += 1
                time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(40)


class Hostile:
    """The attacker's sockets: opened on entry, closed on exit."""

    def __init__(self) -> None:
        self.sockets: list[socket.socket] = []
        self.slow: list[socket.socket] = []  # still dripping
        self.slow_all: list[socket.socket] = []
        self.refused = 0
        self._stop = threading.Event()
        self._dripper: threading.Thread | None = None

    def idle_and_slow(self, port: int, count: int, sources: list[str] | None = None, slow_only: bool = False) -> None:
        """``count`` sockets from 10 addresses (or ``sources``), every other one
        sending a request's headers a byte a second (never finishing)."""
        sources = sources or OTHER_CLIENTS
        for i in range(count):
            if slow_only and not i % 2:
                continue
            try:
                sock = connect_from(sources[i % len(sources)], port, timeout=2)
            except OSError:
                self.refused += 1
                continue
            self.sockets.append(sock)
            if i % 2:
                with contextlib.suppress(OSError):
                    sock.send(b"GET /api/latest HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                self.slow.append(sock)
                self.slow_all.append(sock)
        if self._dripper is None:
            self._dripper = threading.Thread(target=self._drip, daemon=True)
            self._dripper.start()

    def _drip(self) -> None:
        while not self._stop.wait(1.0):
            for sock in list(self.slow):
                try:
                    sock.send(b"X")
                except OSError:
                    self.slow.remove(sock)

    def slow_from(self, source: str, port: int, count: int) -> None:
        """``count`` sockets from one address, each sending a request's headers
        a byte a second (never finishing): another device behind the same NAT."""
        self.idle_and_slow(port, 2 * count, sources=[source], slow_only=True)

    def websockets_not_reading(self, port: int, count: int, sources: list[str] | None = None) -> int:
        """Open websockets from 10 addresses (or ``sources``) that never read after the handshake."""
        opened = 0
        sources = sources or OTHER_CLIENTS
        for i in range(count):
            try:
                status, sock = websocket_handshake(port, source=sources[i % len(sources)], rcvbuf=4096)
            except OSError:
                self.refused += 1
                continue
            self.sockets.append(sock)
            opened += status == 101
        return opened

    def downloads_not_reading(self, port: int, count: int, path: str = "/csv") -> list[socket.socket]:
        """``count`` downloads of ``path`` from 10 addresses that read nothing (4 KiB receive buffers)."""
        opened = []
        for i in range(count):
            sock = connect_from(OTHER_CLIENTS[i % len(OTHER_CLIENTS)], port, rcvbuf=4096)
            sock.sendall(get(path))
            self.sockets.append(sock)
            opened.append(sock)
        return opened

    def closed_by_station(self, sockets: list[socket.socket] | None = None) -> int:
        closed = 0
        for sock in sockets if sockets is not None else self.sockets:
            try:
                sock.setblocking(False)
                data = sock.recv(1 << 20)
                closed += data == b""
            except BlockingIOError:
                pass
            except OSError:
                closed += 1
        return closed

    def __enter__(self) -> Hostile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for sock in self.sockets:
            sock.close()


class PageReader:
    """A dashboard page's websocket that reads everything, in a thread: the
    bytes and messages it got, the largest, and whether the station dropped it."""

    def __init__(self, station: Station, source: str = "127.0.0.1") -> None:
        from websockets.sync.client import connect

        self.bytes = self.messages = self.largest = 0
        self.types: dict[str, int] = {}
        self.closed: str | None = None  # why, once the station closed it
        sock = connect_from(source, station.ws_port, timeout=10)
        self.connection = connect(station.ws_url, sock=sock, origin=f"http://127.0.0.1:{station.port}", compression=None, max_size=None)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            for message in self.connection:
                size = len(message)
                self.bytes += size
                self.messages += 1
                self.largest = max(self.largest, size)
                with contextlib.suppress(ValueError, AttributeError):
                    kind = json.loads(message).get("type", "?")
                    self.types[kind] = self.types.get(kind, 0) + 1
        except ConnectionClosed as exc:
            self.closed = str(exc)
        else:
            self.closed = "closed"

    def close(self) -> None:
        self.connection.close()
        self._thread.join(5)


def latency_probe(port: int, count: int, gap_s: float = 0.0, timeout: float = 5.0, give_up_after: int | None = None, source: str = "127.0.0.1") -> dict:
    """``count`` GET /api/latest from ``source``, each on a new connection;
    after ``give_up_after`` failures in a row the rest count as failed too."""
    times, failures, in_a_row = [], 0, 0
    for done in range(count):
        if give_up_after is not None and in_a_row >= give_up_after:
            failures += count - done
            break
        started = time.perf_counter()
        try:
            ok = status_of(request(port, get("/api/latest"), timeout=timeout, source=source)) == 200
        except OSError:
            ok = False
        if ok:
            times.append(time.perf_counter() - started)
            in_a_row = 0
        else:
            failures += 1
            in_a_row += 1
        if gap_s:
            time.sleep(gap_s)
    return summarize(times, failures)


def summarize(times: list[float], failures: int) -> dict:
    if not times:
        return {"n": 0, "failures": failures}
    ordered = sorted(times)
    pick = lambda q: ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]  # noqa: E731
    return {"n": len(times), "failures": failures, "p50_ms": statistics.median(times) * 1e3, "p99_ms": pick(0.99) * 1e3, "max_ms": ordered[-1] * 1e3}


def describe(latency: dict) -> str:
    if not latency.get("n"):
        return f"no answer ({latency['failures']} failed)"
    return f"p50 {latency['p50_ms']:.1f} / p99 {latency['p99_ms']:.1f} / max {latency['max_ms']:.0f} ms, {latency['failures']} failed of {latency['n'] + latency['failures']}"


def print_cases(rows: list[tuple], out: Path | None, name: str) -> None:
    """Rows of (case, inputs tried, handled, figure): one block each for a
    terminal, then the Markdown table; with ``out``, also NAME.md and NAME.json."""
    for row in rows:
        print(f"\n{row[0]}  [{row[2]}]\n  tried:  {row[1]}\n  figure: {row[3]}" if row[0] else f"  figure: {row[3]}")
    markdown = "\n".join(["| case | inputs tried | handled | figure |", "| --- | --- | --- | --- |",
                          *("| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |" for r in rows)])
    print("\n" + markdown, flush=True)
    if out:
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{name}.md").write_text(markdown + "\n")
        head = ("case", "inputs tried", "handled", "figure")
        (out / f"{name}.json").write_text(json.dumps([dict(zip(head, r, strict=True)) for r in rows], indent=1))


def run_cases(name: str, doc: str | None, cases: tuple[str, ...], namespace: dict, *, seconds: float, seconds_help: str, quick_seconds: float) -> int:
    """The ``main()`` of a benchmark made of cases: ``--case`` (repeatable),
    ``--seconds``, ``--out``, ``--quick``; each case is the function
    ``case_<name>(work, quick, seconds)`` of *namespace*, returning table rows."""
    import _report  # beside this file, as the benchmarks import it

    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", action="append", choices=cases, help="run only these (repeatable; default all)")
    parser.add_argument("--seconds", type=float, default=seconds, help=seconds_help)
    parser.add_argument("--out", type=Path, default=None)
    args = _report.parse_args(parser, None, quick={"seconds": quick_seconds})
    raise_nofile(8192)
    work = Path(tempfile.mkdtemp(prefix=f"webperf3-{name}-"))
    rows: list[tuple] = []
    load_before = os.getloadavg()[0]
    try:
        for case in args.case or cases:
            print(f"... {case}", file=sys.stderr, flush=True)
            rows += namespace[f"case_{case}"](work, args.quick, args.seconds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(_report.describe_machine() + f"; load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    print_cases(rows, args.out, f"{name}_bench")
    return _report.exit_status(args, all(r[2] != "fail" for r in rows))
