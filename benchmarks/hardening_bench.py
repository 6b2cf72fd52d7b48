"""The station's HTTP and websocket sides against what a hostile laptop on
the same Wi-Fi can do, with figures.

    .venv/bin/python benchmarks/hardening_bench.py [--case NAME ...] [--seconds 10] [--quick]

Each case starts a real station (``python -m webperf3`` in a subprocess;
``_hostile.py``) on 127.0.0.1 and attacks it from 127.0.0.2-.11; nothing
leaves loopback, and every loop is bounded in count and time (about 3
minutes for all cases). Cases:

* ``memory``: 100,000 results loaded (the ``_data.py`` 505 MB directory,
  copied); then, ``--seconds`` each: (1) 160 websockets that never read,
  1,000 idle or slow sockets, 8 ``/csv`` downloads that never read and two
  loops of ordinary ``iperf3 -n 1K`` tests; (2) a name bomb alone (two loops
  of ``iperf3 -n 1K --extra-data <120 kB>``); (3) the bomb with the hostile
  clients of (1). Peak RSS of each, and ``GET /api/latest`` meanwhile.
* ``downloads``: the same 100,000 results; 8 ``/csv`` downloads that never
  read (4 get through the guard's cap, the rest a 503), then 8 ``/xlsx``:
  RSS, and the temporary files the station holds meanwhile and afterwards.
* ``sockets``: 1,000 sockets from 10 addresses, half idle, half sending a
  request a byte a second; 300 ``GET /api/latest`` from 127.0.0.1.
* ``servers``: the same slow sockets (200) against the dashboard app under
  webperf3's server, waitress as it was configured before (defaults), and
  cheroot if it is importable: the measurement behind keeping waitress.
* ``fds``: every descriptor below 1100 taken before the station starts.
* ``emfile``: a hard limit of 128 descriptors and 360 connections.
* ``bodies``: 8 requests announcing 500 MB bodies, sent as fast as accepted.
* ``requests``: headers that are not UTF-8, DNS rebinding; ``token``: wrong
  admin tokens. What each bad request gets.

The admin route attacked is ``POST /api/surveys`` (a new survey: what
"Clear table" became).

It prints the table (case, inputs tried, handled, figure) and the same in
Markdown; ``--out DIR`` also writes it and the figures as JSON.

Nearly 500 lines: each case is a short script of its own, and one file
keeps the table they print together.

``--quick``: every case, each at a tenth or so of its load on 1 MB of logs,
half-second phases, about 15 seconds in all; the memory case is skipped (a row
says so) where there is no iperf3.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _data  # noqa: E402
import _hostile as h  # noqa: E402
import _report  # noqa: E402

RESULTS_100K_BYTES = 505_500_000  # the _data.py directory of 100,145 tests
IPERF3 = shutil.which("iperf3") or "iperf3"
CEILING_MIB = 150
#: What downloads nobody reads may add to the station's memory, all together.
DOWNLOADS_CEILING_MIB = 8
#: The admin route every bad request goes to: a new survey ("Clear table" was).
ADMIN_ROUTE = "/api/surveys"


@dataclass(frozen=True)
class Load:
    """How hard each case pushes: the full run's figures by default."""

    memory_bytes: int = RESULTS_100K_BYTES  # the logs the memory case loads
    settle_s: float = 8.0  # the CSV lines are formatted once, in a thread, at start
    websockets: int = 160  # websockets that never read
    sockets: int = 1000  # idle or slow sockets
    downloads: int = 8  # /csv downloads that never read
    probes: int = 300  # GET /api/latest during the sockets case
    past_deadline_s: float = 11.0  # past the station's 10 s request deadline
    server_sockets: tuple[int, ...] = (8, 200)
    server_attack_s: float = 1.0  # the sockets opened, before the first request
    server_probes: int = 50
    fds_probes: int = 200
    emfile_web: int = 200  # with emfile_ws, well past the 128 descriptors allowed
    emfile_ws: int = 160
    emfile_probes: int = 50
    bodies: int = 8
    body_seconds: float = 10.0
    stall_s: float = 5.0  # downloads nobody reads: how long they are left so
    build_wait_s: float = 180.0  # for a workbook to be made (one at a time, 10-15 s each at 100,000 tests)


#: A few seconds a case, every code path still taken (the emfile case still
#: goes past its 128 descriptors); the figures mean nothing.
QUICK = Load(memory_bytes=1_000_000, settle_s=0.5, websockets=16, sockets=60, downloads=2, probes=20, past_deadline_s=0.2,
             server_sockets=(4, 20), server_attack_s=0.2, server_probes=10, fds_probes=20, emfile_web=100, emfile_ws=40, emfile_probes=10,
             bodies=2, body_seconds=2.0, stall_s=0.5, build_wait_s=30.0)


def case_memory(work: Path, load: Load, seconds: float) -> list[tuple]:
    if shutil.which(IPERF3) is None:
        return [("memory", "skipped: iperf3 not found (the tests run against the station are real ones)", "-", "-")]
    source, manifest = _data.cached_log_dir(load.memory_bytes)
    log_dir = _data.working_copy(source, "hardening-memory")
    station = h.Station(log_dir, work / "memory.log", servers=2, iperf3=IPERF3)
    rows = []
    try:
        station.wait_ready(120)
        time.sleep(load.settle_s)
        idle = station.rss_mib()
        figures = {}
        for phase, name, hostile in (("ordinary", "Room 101", True), ("bomb", "x" * 120_000, False), ("bomb+hostile", "y" * 120_000, True)):
            with h.Hostile() as attacker:
                opened = 0
                if hostile:
                    opened = attacker.websockets_not_reading(station.ws_port, load.websockets)
                    attacker.idle_and_slow(station.port, load.sockets)
                    attacker.downloads_not_reading(station.port, load.downloads)
                with h.RssSampler(station) as rss, h.Iperf3Loop(IPERF3, station.iperf3_ports, name) as loop:
                    probe = h.latency_probe(station.port, int(seconds * 10), gap_s=0.1)
                ws_left = _metric(station, "webperf3_websocket_clients")
            figures[phase] = {"start": rss.start_mib, "peak": rss.peak, "tests": loop.ok, "ws_opened": opened, "ws_left": ws_left, "latest": probe}
        o, b, bh = figures["ordinary"], figures["bomb"], figures["bomb+hostile"]
        rows.append((f"memory: {manifest['tests']:,} results, idle", f"{manifest['tests']} tests loaded", "-", f"RSS {idle:.0f} MiB"))
        rows.append((
            "memory: hostile clients + ordinary tests",
            f"{o['ws_opened']} non-reading websockets, {load.sockets:,} idle/slow sockets, {load.downloads} non-reading /csv, {o['tests']} tests in {seconds:g} s",
            "pass" if o["peak"] <= CEILING_MIB else "fail",
            f"RSS {o['start']:.0f} -> peak {o['peak']:.0f} MiB (ceiling {CEILING_MIB}); websockets dropped {o['ws_opened'] - o['ws_left']:.0f} of {o['ws_opened']}; /api/latest {h.describe(o['latest'])}",
        ))
        grow_b, grow_bh = b["peak"] - b["start"], bh["peak"] - bh["start"]
        per_test = grow_b / max(1, b["tests"])
        rows.append(("memory: name bomb alone", f"{b['tests']} tests x 120 kB names in {seconds:g} s", "-", f"RSS +{grow_b:.0f} MiB ({per_test * 1024:.0f} KiB a test: a name sent again is kept once)"))
        rows.append((
            "memory: name bomb + hostile clients",
            f"{bh['tests']} tests x 120 kB + the clients above",
            "pass" if bh["ws_left"] == 0 and bh["peak"] <= CEILING_MIB else "fail",
            f"RSS {bh['start']:.0f} -> peak {bh['peak']:.0f} MiB, +{grow_bh:.0f} (the names alone: +{per_test * bh['tests']:.0f}); websockets dropped {bh['ws_opened'] - bh['ws_left']:.0f} of {bh['ws_opened']}; /api/latest {h.describe(bh['latest'])}",
        ))
        rows.append(("", "", "", f"log: {station.log().count('dropped websocket client')} 'dropped websocket client' lines, {station.log().count('dropped a connection')} 'dropped a connection' lines"))
    finally:
        station.stop()
        shutil.rmtree(log_dir, ignore_errors=True)
    return rows


def case_downloads(work: Path, load: Load, seconds: float) -> list[tuple]:
    """Downloads nobody reads: what the station holds meanwhile (memory,
    temporary files), and that it lets go once the clients have gone."""
    source, manifest = _data.cached_log_dir(load.memory_bytes)
    log_dir = _data.working_copy(source, "hardening-downloads")
    station = h.Station(log_dir, work / "downloads.log")
    rows = []
    try:
        station.wait_ready(120)
        time.sleep(load.settle_s)
        for path in ("/csv", "/xlsx"):
            idle = station.rss_mib()
            with h.Hostile() as attacker, h.RssSampler(station) as rss:
                socks = attacker.downloads_not_reading(station.port, load.downloads, path)
                # Each answer's first bytes: a workbook is made (one at a time) before it is sent.
                statuses = [_first_status(sock, load.build_wait_s) for sock in socks]
                time.sleep(load.stall_s)  # the station writes what the sockets take, then waits
                held = station.deleted_files()
                stalled_mib = station.rss_mib()
            # The clients gone: every file let go (the server's write fails at once).
            deadline = time.monotonic() + 10
            while station.deleted_files() and time.monotonic() < deadline:
                time.sleep(0.1)
            left = station.deleted_files()
            served = statuses.count(200)
            rows.append((
                f"downloads nobody reads: {path}",
                f"{load.downloads} GET {path} of {manifest['tests']:,} tests from 10 addresses, 4 KiB receive buffers, nothing read for {load.stall_s:g} s",
                "pass" if stalled_mib - idle <= DOWNLOADS_CEILING_MIB and len(held) <= (1 if path == "/xlsx" else 0) * served and not left else "fail",
                f"answers {sorted(statuses)}; RSS {idle:.0f} -> {stalled_mib:.0f} MiB (peak {rss.peak:.0f}; ceiling +{DOWNLOADS_CEILING_MIB}); "
                f"temporary files held {len(held)} ({sum(held) / 2**20:.1f} MiB on disk), left after the clients went {len(left)}",
            ))
    finally:
        station.stop()
        shutil.rmtree(log_dir, ignore_errors=True)
    return rows


def _first_status(sock, timeout: float) -> int:
    """The status of the answer on ``sock``, peeked (nothing is read from the socket)."""
    import socket

    sock.settimeout(timeout)
    try:
        return h.status_of(sock.recv(12, socket.MSG_PEEK))
    except OSError:
        return 0


def _metric(station: h.Station, name: str, within_s: float = 60.0) -> float:
    """A figure of /metrics, asked again until the station answers: right
    after a flood its workers can still be serving the probe's requests
    that timed out, and a 21st connection from one address is refused."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            text = station.fetch("metrics").decode()
            break
        except OSError:
            if time.monotonic() > deadline:
                return float("nan")
            time.sleep(1.0)
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return float("nan")


def _small_station(work: Path, name: str, **kwargs) -> h.Station:  # 1 MB of logs
    source, _ = _data.cached_log_dir(1_000_000)
    log_dir = Path(tempfile.mkdtemp(dir=work, prefix=f"{name}-"))
    shutil.copytree(source, log_dir, dirs_exist_ok=True)
    station = h.Station(log_dir, work / f"{name}.log", **kwargs)
    station.wait_ready()
    return station


def case_sockets(work: Path, load: Load, seconds: float) -> list[tuple]:
    station = _small_station(work, "sockets")
    try:
        with h.Hostile() as attacker:
            attacker.idle_and_slow(station.port, load.sockets)
            held = station.fds()
            latest = h.latency_probe(station.port, load.probes)
            time.sleep(load.past_deadline_s)
            slow_closed = attacker.closed_by_station(attacker.slow_all)
        half = load.sockets // 2
        return [(
            f"{load.sockets:,} slow or idle sockets",
            f"{load.sockets:,} sockets from 10 addresses ({load.sockets - half} idle, {half} sending headers a byte a second); {load.probes} GET /api/latest from another",
            "pass" if latest["failures"] == 0 and latest.get("p99_ms", 1e9) <= 100 else "fail",
            f"/api/latest {h.describe(latest)}; station held {held} descriptors; of the {half} slow ones, {slow_closed} closed by the station {load.past_deadline_s:g} s later (beyond a cap at once, the rest at the 10 s request deadline)",
        )]
    finally:
        station.stop()


def case_servers(work: Path, load: Load, seconds: float) -> list[tuple]:
    """The same app and attack under three servers, in this process."""
    from webperf3.board.join import Board
    from webperf3.serving.guard import Guard
    from webperf3.store.results import ResultsStore
    from webperf3.survey import SurveyBook

    source, _ = _data.cached_log_dir(1_000_000)
    store = ResultsStore(source)
    store.refresh()
    ports = lambda: list(range(5201, 5211))  # noqa: E731
    # The cached logs are never written: the book goes in this run's directory.
    book = SurveyBook.open(Path(tempfile.mkdtemp(dir=work)))
    app = Guard(_data.dashboard(store, book=book, board=Board(store, book, ports), ports=ports).app)
    rows = []
    try:
        for kind in ("webperf3", "waitress defaults", "cheroot"):
            try:
                port, stop = _serve(kind, app)
            except ImportError:
                rows.append((f"server choice: {kind}", "not installed here", "-", "-"))
                continue
            try:
                for sockets in load.server_sockets:
                    with h.Hostile() as attacker:
                        attacker.idle_and_slow(port, sockets)
                        time.sleep(load.server_attack_s)
                        latest = h.latency_probe(port, load.server_probes, timeout=3, give_up_after=5)
                    rows.append((
                        f"server choice: {kind}",
                        f"{sockets} sockets from {min(sockets, 10)} addresses, half sending headers a byte a second; {load.server_probes} GET /api/latest (3 s timeout; 5 failures in a row end it)",
                        "-", f"/api/latest {h.describe(latest)}",
                    ))
            finally:
                stop()
    finally:
        book.close()
    return rows


def _serve(kind: str, app):
    if kind == "webperf3":
        from webperf3.serving.httpserver import WebServer

        server = WebServer(app, "127.0.0.1", 0, threads=8)
        server.start()
        return server.port, server.stop
    if kind == "waitress defaults":
        import waitress

        from waitress import wasyncore

        # As httpserver.WebServer was before it was hardened: waitress's defaults.
        server = waitress.create_server(app, host="127.0.0.1", port=0, threads=8)

        def run() -> None:
            try:
                server.run()
            except (OSError, ValueError):
                pass  # its sockets closed under select() by stop()

        def stop() -> None:
            server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map, ignore_all=True))
            server.task_dispatcher.shutdown(timeout=2)

        threading.Thread(target=run, daemon=True).start()
        return int(server.effective_port), stop
    from cheroot import wsgi  # raises ImportError when absent

    server = wsgi.Server(("127.0.0.1", 0), app, numthreads=8, timeout=10)
    server.prepare()
    threading.Thread(target=server.serve, daemon=True).start()
    return server.socket.getsockname()[1], server.stop


def case_fds(work: Path, load: Load, seconds: float) -> list[tuple]:
    station = _small_station(work, "fds", nofile=4096, fill_fds_to=1100)
    try:
        latest = h.latency_probe(station.port, load.fds_probes)
        lowest = min(int(n) for n in _sockets(station.proc.pid))
        return [("descriptors past 1024", f"every descriptor below 1100 taken before start; {load.fds_probes} GET /api/latest",
                 "pass" if latest["failures"] == 0 and "out of range" not in station.log() else "fail",
                 f"lowest socket descriptor {lowest}; /api/latest {h.describe(latest)}")]
    finally:
        station.stop()


def _sockets(pid: int) -> list[str]:
    import os

    out = []
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{name}").startswith("socket:"):
                out.append(name)
        except OSError:
            pass
    return out


def case_emfile(work: Path, load: Load, seconds: float) -> list[tuple]:
    station = _small_station(work, "emfile", nofile=128)
    try:
        with h.Hostile() as attacker:
            attacker.idle_and_slow(station.port, load.emfile_web)
            attacker.websockets_not_reading(station.ws_port, load.emfile_ws)
            latest = h.latency_probe(station.port, load.emfile_probes)
        log = station.log()
        return [("out of descriptors", f"hard limit 128; {load.emfile_web} web and {load.emfile_ws} websocket connections from 10 addresses; {load.emfile_probes} GET /api/latest",
                 "pass" if latest["failures"] == 0 and "Traceback" not in log else "fail",
                 f"/api/latest {h.describe(latest)}; {len(log.splitlines())} log lines, {log.count('Too many open files')} saying 'Too many open files', {log.count('Traceback')} tracebacks")]
    finally:
        station.stop()


def case_bodies(work: Path, load: Load, seconds: float) -> list[tuple]:
    station = _small_station(work, "bodies")
    try:
        before = station.rss_mib()
        results = []

        def send() -> None:
            sock = h.connect_from("127.0.0.2", station.port, timeout=10)
            sock.sendall(f"POST {ADMIN_ROUTE} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 500000000\r\n\r\n".encode())
            sent, chunk, started = 0, b"z" * 65536, time.monotonic()
            try:
                while sent < 500_000_000 and time.monotonic() - started < load.body_seconds:
                    sock.sendall(chunk)
                    sent += len(chunk)
            except OSError:
                pass
            answer = h.status_of(h.read_all(sock))
            results.append((sent, answer, time.monotonic() - started))
            sock.close()

        threads = [threading.Thread(target=send) for _ in range(load.bodies)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        spooled = sum(1 for n in _fd_targets(station.proc.pid) if "(deleted)" in n)
        sent_mb = max(r[0] for r in results) / 1e6
        return [("request bodies", f"{load.bodies} POST {ADMIN_ROUTE} announcing 500 MB, body sent as fast as taken",
                 "pass" if spooled == 0 and sent_mb < 50 else "fail",
                 f"answers {sorted({r[1] for r in results})}; at most {sent_mb:.1f} MB taken before the station closed; temporary files {spooled}; RSS {before:.0f} -> {station.rss_mib():.0f} MiB")]
    finally:
        station.stop()


def _fd_targets(pid: int) -> list[str]:
    import os

    out = []
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            out.append(os.readlink(f"/proc/{pid}/fd/{name}"))
        except OSError:
            pass
    return out


BAD_HEADERS = [b"X-Admin-Token: caf\xe9", b"X-Admin-Token: caf\xc3\xa9", b"Authorization: Bearer \xff", b"Origin: http://caf\xe9",
               b"Referer: http://\xff/", b"Host: \xff\xfe", b"Cookie: a=\xff", b"User-Agent: \xc3\x28"]


def case_requests(work: Path, load: Load, seconds: float) -> list[tuple]:
    station = _small_station(work, "requests")
    rows = []
    try:
        answers = {}
        for header in BAD_HEADERS:
            host = b"" if header.startswith(b"Host") else b"Host: 127.0.0.1\r\n"
            raw = f"POST {ADMIN_ROUTE} HTTP/1.1\r\n".encode() + host + header + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            answers[header.split(b":")[0].decode()] = h.status_of(h.request(station.port, raw))
        rows.append(("headers not UTF-8, tokens not ASCII", f"{len(BAD_HEADERS)} requests: " + ", ".join(repr(b)[2:-1] for b in BAD_HEADERS),
                     "pass" if set(answers.values()) == {400} and "Traceback" not in station.log() else "fail",
                     f"statuses {sorted(set(answers.values()))}; tracebacks in the log: {station.log().count('Traceback')}"))
        evil = "rebind.evil.example"
        page = h.status_of(h.request(station.port, h.get("/", host=evil)))
        clear = h.status_of(h.request(station.port, f"POST {ADMIN_ROUTE} HTTP/1.1\r\nHost: {evil}\r\nOrigin: http://{evil}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()))
        ws, sock = h.websocket_handshake(station.ws_port, host=f"{evil}:{station.ws_port}", origin=f"http://{evil}")
        sock.close()
        good, sock = h.websocket_handshake(station.ws_port, host=f"127.0.0.1:{station.ws_port}", origin=f"http://127.0.0.1:{station.port}")
        sock.close()
        rows.append(("DNS rebinding", f"Host: {evil} with a matching Origin: GET /, POST {ADMIN_ROUTE}, websocket; then Host 127.0.0.1",
                     "pass" if (page, clear, ws, good) == (403, 403, 403, 101) else "fail",
                     f"GET / {page}, POST {ADMIN_ROUTE} {clear}, websocket {ws}; by address: websocket {good}"))
    finally:
        station.stop()
    return rows


def case_token(work: Path, load: Load, seconds: float) -> list[tuple]:
    station = _small_station(work, "token", extra=("--admin-token", "correct-horse-battery"))
    try:
        counts: dict[int, int] = {}
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            raw = f"POST {ADMIN_ROUTE} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Admin-Token: guess{sum(counts.values())}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            status = h.status_of(h.request(station.port, raw.encode(), source="127.0.0.2"))
            counts[status] = counts.get(status, 0) + 1
        hour, day = _guesses_within(3600), _guesses_within(86400)
        return [("wrong admin tokens", f"{sum(counts.values())} wrong tokens from one address in {seconds:g} s",
                 "pass" if counts.get(403, 0) <= 10 else "fail",
                 f"checked {counts.get(403, 0)} (403), refused unchecked {counts.get(429, 0)} (429); "
                 f"the schedule allows {hour} guesses in an hour, {day} in a day, per address")]
    finally:
        station.stop()


def _guesses_within(seconds: float) -> int:
    """Guesses one address can have checked in ``seconds``, trying whenever allowed."""
    from webperf3.serving.guard import FailureThrottle, GuardLimits

    limits, now = GuardLimits(), [0.0]
    throttle = FailureThrottle(limits.admin_free_failures, limits.admin_first_delay, limits.admin_max_delay, limits.admin_forget_after, clock=lambda: now[0])
    guesses = 0
    while now[0] < seconds:
        now[0] += throttle.wait("a")
        if now[0] >= seconds:
            break
        throttle.failed("a")
        guesses += 1
    return guesses


CASES = ("memory", "downloads", "sockets", "servers", "fds", "emfile", "bodies", "requests", "token")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", action="append", choices=CASES, help="run only these (repeatable; default all)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each load phase (default 10)")
    parser.add_argument("--out", type=Path, default=None)
    args = _report.parse_args(parser, None, quick={"seconds": 0.5})
    load = QUICK if args.quick else Load()
    h.raise_nofile(8192)
    work = Path(tempfile.mkdtemp(prefix="webperf3-hardening-"))
    rows: list[tuple] = []
    load_before = Path("/proc/loadavg").read_text().split()[0]
    try:
        for case in args.case or CASES:
            print(f"... {case}", file=sys.stderr, flush=True)
            run = globals()[f"case_{case}"]
            rows += run(work, load, args.seconds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load_after = Path("/proc/loadavg").read_text().split()[0]
    head = ("case", "inputs tried", "handled", "figure")
    print(_report.describe_machine() + f"; load average {load_before} before, {load_after} after")
    for row in rows:  # a terminal is too narrow for the table: one block each
        print(f"\n{row[0]}  [{row[2]}]\n  tried:  {row[1]}\n  figure: {row[3]}" if row[0] else f"  figure: {row[3]}")
    markdown = "\n".join(["| case | inputs tried | handled | figure |", "| --- | --- | --- | --- |",
                          *("| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |" for r in rows)])
    print("\n" + markdown)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "hardening_bench.md").write_text(markdown + "\n")
        (args.out / "hardening_bench.json").write_text(json.dumps([dict(zip(head, r)) for r in rows], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
