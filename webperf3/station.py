"""``webperf3 --servers N``: check the options, start every part, stop them all.

Parts start in data-flow order and stop in reverse: the store (reading what
is already logged), the websocket push, the iperf3 servers, the web server.
Every check that can fail is made before anything starts, so a bad option
costs one clear line and exit status 2, never half a running station.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .cli.exitstatus import ExitStatus
from .config import StationConfig
from .iperf3.fleet.ports import held_by_another, probe_port
from .iperf3.fleet.process import Iperf3Error, iperf3_version
from .ops.memory import tune_allocator
from .store.record import Result
from .store.results import Changes, ResultsStore
from .survey import BookOpenError, SurveyBook
from .survey.pairing import JOURNAL_CODE_TTL_S, load_or_make_secret, make_code
from .text import printable, quoted

log = logging.getLogger("webperf3")


class UsageError(Exception):
    """A bad option or environment, found before anything started."""


@dataclass(frozen=True)
class Plan:
    ports: list[int]  # the iperf3 servers'
    log_dir: Path
    iperf3_version: str | None


def check(options: StationConfig) -> Plan:
    """Every check that can be made before starting anything."""
    # Checked before the list is built: a configuration made elsewhere than
    # by the parser (which refuses this already) must not cost a huge list.
    if options.first_port + options.servers - 1 > 65535:
        raise UsageError(f"{options.servers} servers from port {options.first_port} would go past port 65535")
    ports = options.ports
    if options.port == options.ws_port:
        raise UsageError(f"--port and --ws-port are both {options.port}: they need two ports")
    for name, port in (("--port", options.port), ("--ws-port", options.ws_port)):
        if port in ports:
            raise UsageError(f"{name} {port} is one of the iperf3 ports {ports[0]}-{ports[-1]}: choose another or move --first-port")
    _check_log_dir(options.log_dir)
    for name, port in (("--port", options.port), ("--ws-port", options.ws_port)):
        _check_free(options.host, port, name)
    version = None
    if ports:
        try:
            version = iperf3_version(options.iperf3)
        except Iperf3Error as exc:
            raise UsageError(str(exc)) from None
        for port in ports:
            holder = held_by_another(port, options.iperf3_bind)
            if holder is not None:
                raise UsageError(f"iperf3 {holder}: tests there would never be recorded; stop it or choose another --first-port")
    return Plan(ports, options.log_dir, version)


def _check_log_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
        # os.access lies for root and on some mounts: really write something.
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise UsageError(f"log directory {path} is not writable: {exc.strerror or exc}") from None


def _check_free(host: str, port: int, option: str) -> None:
    # The same probe the fleet makes of its ports: listen as a server would.
    error = probe_port(port, host)
    if error is not None:
        raise UsageError(f"{option} {port} on {host} is not available: {error.strerror or error}")


def serve(options: StationConfig) -> int:
    tune_allocator()  # before any thread: see ops/memory.py
    try:
        plan = check(options)
    except UsageError as exc:
        print(f"webperf3: {exc}", file=sys.stderr)
        return ExitStatus.USAGE
    try:
        # What people add (surveys, places, edits), beside the logs; the old
        # clear marks are migrated into it the first time.
        book = SurveyBook.open(plan.log_dir)
    except BookOpenError as exc:
        print(f"webperf3: {exc}", file=sys.stderr)
        return ExitStatus.USAGE
    stop = threading.Event()
    _on_signals(stop)
    station = Station(options, plan, book)
    try:
        station.start()
    except OSError as exc:
        print(f"webperf3: {exc}", file=sys.stderr)
        station.stop()
        return ExitStatus.ERROR
    print(banner(options, plan), flush=True)
    if station.secret is not None and not options.open:
        # Only someone who reads the station's own journal sees it: good
        # once, for an hour (the secret itself is never logged).
        host = (addresses() if options.host in ("0.0.0.0", "::", "") else [options.host])[0]
        url = f"http://{_url_host(host)}:{options.port}/pair?code={make_code(station.secret, time.time(), JOURNAL_CODE_TTL_S)}"
        log.info("to pair a phone as an admin device (start surveys, edit tests), open %s (good once, for an hour; `webperf3 pair` shows a QR code)", url)
    try:
        # A signal's handler sets stop and ends the wait at once (POSIX); only
        # Windows needs the wait to end now and then to run the handler.
        while not stop.wait(0.5 if os.name == "nt" else 3600):
            pass
    finally:
        log.info("stopping")
        station.stop()
    log.info("stopped")
    return ExitStatus.SUCCESS


def _on_signals(stop: threading.Event) -> None:
    def handler(signum, _frame) -> None:
        log.info("received %s", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


class Station:
    """Every running part of webperf3, wired together: the composition root.

    The book and the board are made once, here, and handed to every part that
    reads them: a part that made its own would keep caches of its own, and a
    second writer of the survey book's file."""

    def __init__(self, options: StationConfig, plan: Plan, book: SurveyBook) -> None:
        from .board.join import Board
        from .live import LiveServer
        from .ops.metrics import build_registry, exposition
        from .ops.survey import CurrentSurvey
        from .serving.clients import raise_open_file_limit, socket_budget
        from .serving.guard import Guard
        from .serving.hosts import AllowedHosts
        from .serving.httpserver import HttpLimits, WebServer
        from .web import Dashboard

        self.store = ResultsStore(plan.log_dir, keep_index=True)  # the index beside the logs: a fast next start
        self.book = book
        self.fleet = None
        if plan.ports:
            from .iperf3.fleet.servers import ServerFleet

            self.fleet = ServerFleet(
                plan.ports,
                plan.log_dir,
                iperf3=options.iperf3,
                bind=options.iperf3_bind,
                max_test_seconds=options.max_test_seconds,
                version=plan.iperf3_version,
                on_change=self._servers_changed,
                on_progress=self._progress,
            )
        ports = lambda: list(plan.ports)  # noqa: E731
        self.board = Board(self.store, book, ports)
        allowed_hosts = AllowedHosts.for_this_machine(list(options.allowed_host))
        from .browsertest.server import BrowserTests

        # "Test from this browser", on the websocket port (docs/measuring.md).
        self.browser_tests = BrowserTests(self.store, plan.log_dir, port=lambda: self.live.port)
        # Clients get what is left after the logs and iperf3's pipes.
        web_sockets, ws_sockets = socket_budget(raise_open_file_limit(), reserved=64 + 8 * len(plan.ports))
        self.live = LiveServer(
            self.store,
            options.host,
            options.ws_port,
            servers=self.servers,
            ports=ports,
            board=self.board,
            force_polling=options.force_polling,
            allowed_host=allowed_hosts,
            max_clients=min(256, ws_sockets),
            max_connections=ws_sockets,
            browser_tests=self.browser_tests,
        )
        registry = build_registry(
            self.store, servers=self.servers, ports=ports, websocket_clients=lambda: self.live.clients,
            station_name=options.station_name, place_labels=options.metrics_place_labels,
            survey=CurrentSurvey(self.store, book),
        )
        # The admin secret pairing codes are made from: beside the book, made at the first start.
        try:
            self.secret: str | None = load_or_make_secret(plan.log_dir)
        except OSError as exc:
            log.warning("cannot make or read the admin secret in %s (%s): pairing devices is off", plan.log_dir, exc)
            self.secret = None
        self.dashboard = Dashboard(
            self.store,
            servers=self.servers,
            ports=ports,
            ws_port=options.ws_port,
            admin_token=options.admin_token,
            open=options.open,
            secret=lambda: self.secret,
            addresses=CachedAddresses(options.host),
            metrics=lambda: exposition(registry),
            station_name=options.station_name,
            book=book,
            board=self.board,
        )
        self.web = WebServer(Guard(self.dashboard.app, allowed_host=allowed_hosts), options.host, options.port, limits=HttpLimits(connections=web_sockets))
        self._started: list = []

    def servers(self) -> list[dict]:
        return [] if self.fleet is None else [s.to_dict() for s in self.fleet.status()]

    def _servers_changed(self, statuses) -> None:
        self.live.push_servers([s.to_dict() for s in statuses])

    def _progress(self, tests) -> None:
        self.live.push_progress(tests)

    def start(self) -> None:
        try:
            self.store.refresh()
        except OSError as exc:
            log.warning("%s", exc)
        # After the first read: the history is not news, each new test is.
        self.store.subscribe(self._log_changes)
        for part in (self.live, self.fleet, self.web):
            if part is not None:
                part.start()
                self._started.append(part)
        threading.Thread(target=self.dashboard.warm_up, name="webperf3-warm-up", daemon=True).start()

    def _log_changes(self, changes: Changes) -> None:
        """The journal's lines name each test's place as every page does: an
        edit, else the client's --extra-data, else the place its address named
        in a browser (the book, through the board)."""
        added = changes.added
        places = [a.place for a in self.board.view().annotate_all(added)] if added else []
        log_changes(changes, places)

    def stop(self) -> None:
        for part in reversed(self._started):
            try:
                part.stop()
            except Exception:  # one part failing to stop must not leave the others running
                log.exception("stopping %s failed", type(part).__name__)
        self._started.clear()
        self.book.close()


def log_changes(changes: Changes, places: Sequence[str | None] | None = None) -> None:
    """One journal line per test recorded, naming its place (``places[i]`` is
    ``changes.added[i]``'s, as the board annotates it; without them, the
    client's --extra-data). Place, address and error come from the network:
    escaped and capped, so none can forge a line of its own."""
    for i, r in enumerate(changes.added):
        place = quoted(r.name if places is None else places[i])
        if r.method == "browser" and r.ok:
            log.info(
                "browser test (browser, HTTP) recorded from %s, place %s: download %s (browser received), upload %s (station received)",
                printable(r.client or "-"), place, _mbps(r.download_bps), _mbps(r.upload_bps),
            )
        elif r.ok:
            log.info(
                "test recorded on port %d from %s, place %s: %s, download %s, upload %s",
                r.port, printable(r.client or "-"), place, r.direction, _download(r), _mbps(r.upload_bps),
            )
        elif r.interrupted:  # the station's own stop or restart cut it: not the place's failure
            log.info(
                "test on port %d from %s, place %s, interrupted by the station: %s",
                r.port, printable(r.client or "-"), place, printable(r.error or "-"),
            )
        else:
            log.info(
                "failed test on port %d from %s, place %s: %s",
                r.port, printable(r.client or "-"), place, printable(r.error or "-"),
            )
    for port in sorted(changes.reset_ports):
        log.info("log of port %d was truncated, replaced or removed: read again", port)


def _mbps(bps: float | None) -> str:
    return "-" if bps is None else f"{bps / 1e6:.1f} Mbit/s"


def _download(r: Result) -> str:
    """The download named for the side that measured it."""
    if r.download_bps is None:
        return "-"
    side = "client received" if r.download_measured_by == "client" else "station sent"
    return f"{_mbps(r.download_bps)} ({side})"


def banner(options: StationConfig, plan: Plan) -> str:
    hosts = addresses() if options.host in ("0.0.0.0", "::", "") else [options.host]
    lines = ["webperf3 is running."]
    lines += [f"  Dashboard: http://{_url_host(h)}:{options.port}/" for h in hosts]
    if plan.ports:
        lines.append(f"  iperf3 {plan.iperf3_version} {_servers_on(plan.ports)}, logs in {plan.log_dir}")
        lines.append(f'  Run a test from a client:  iperf3 -c {hosts[0]} -p {plan.ports[0]} --bidir --extra-data "Room 101"')
    else:
        lines.append(f"  No iperf3 servers (--servers 0): showing the logs in {plan.log_dir}")
    return "\n".join(lines)


def _servers_on(ports: list[int]) -> str:
    """``server on port 5201`` or ``servers on ports 5201-5204``."""
    return f"server on port {ports[0]}" if len(ports) == 1 else f"servers on ports {ports[0]}-{ports[-1]}"


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class CachedAddresses:
    """This machine's addresses for the QR codes, asked again at most once a
    minute: a Pi at boot may get its address after the station started."""

    def __init__(self, host: str) -> None:
        self.host = host
        self._at = -math.inf
        self._found: list[str] = []

    def __call__(self) -> list[str]:
        if self.host not in ("0.0.0.0", "::", ""):
            return [self.host]
        now = time.monotonic()
        if now - self._at > 60:
            self._found, self._at = addresses(), now
        return self._found


def addresses() -> list[str]:
    """This machine's non-loopback IPv4 addresses, the ones clients use."""
    try:
        out = subprocess.run(["ip", "-o", "-4", "addr", "show", "scope", "global"], capture_output=True, text=True, timeout=2).stdout
        found = [line.split()[3].split("/")[0] for line in out.splitlines() if len(line.split()) > 3]
    except (OSError, subprocess.SubprocessError):
        found = []
    if not found:
        try:
            found = sorted({ai[4][0] for ai in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)} - {"127.0.0.1", "127.0.1.1"})
        except OSError:
            found = []
    return found or [socket.gethostname() or "localhost"]

