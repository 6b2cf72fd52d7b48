"""What a station does with what clients send it: hostile request inputs on
every route, floods of what would each be a journal line, a legacy state
file with marks that are no dates, and names that look like something else.
With figures.

    .venv/bin/python benchmarks/inputs_bench.py [--case NAME ...] [--seconds 60] [--quick] [--out DIR]

Each case starts a real station (``python -m webperf3 --servers 0`` in a
subprocess, ``_hostile.Station``, on the 1 MB ``_data.py`` logs) on
127.0.0.1; other clients are other loopback addresses. Nothing leaves
loopback; every loop is bounded in count and time (about 90 seconds for
all cases). Cases:

* ``inputs``: every route the dashboard has (read from the app itself, as
  ``tests/web/test_hostile_input.py`` does): each that takes a body given a
  JSON array and a JSON object nested 1,000 deep, each ``GET`` given a
  5,000-digit number in every query parameter any route reads. The answers
  by status (the goal: no 500), and the journal lines written per 200
  requests.
* ``journal``: for ``--seconds`` (60: one minute of the limiter), at once:
  1,000 websocket connects and closes from 10 addresses; refused requests
  (300 connections held from one address, 20 allowed; a foreign ``Host``;
  places named past the rate limit); and a queue for waitress's 8 threads
  (60 clients from 10 addresses asking ``/api/history`` in a loop). The
  journal lines written, by kind.
* ``legacy``: a ``.webperf3-state.json`` with a clear mark of ``1e300`` on
  one port and one in 2100 on another: does the station start, what it
  warns, and how many tests the current survey shows.
* ``names``: the names of Unicode's identifier-security guidance (UTS #39)
  cases, each as a place (``POST /api/place``, each from its own address)
  and a survey (``POST /api/surveys``): stored as what, or refused with
  which message.

It prints the table (case, inputs tried, handled, figure) and the same in
Markdown; ``--out DIR`` also writes it and the figures as JSON.

``--quick``: the inputs on 3 routes, 3 s of journal flood with 50
websocket connects; about 15 seconds.
"""

from __future__ import annotations

import http.client
import json
import shutil
import sys
import tempfile
import threading
import time
import types
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _data  # noqa: E402
import _hostile as h  # noqa: E402

from tests.web.test_hostile_input import DEEP, DEEP_OBJECT, HUGE, PARAMETERS, routes  # noqa: E402

#: Journal lines a minute of these floods may write: one per kind and address (10 addresses) and a few more.
JOURNAL_CEILING = 60
MARKS = {"5201": 1e300, "5202": 4102444800.0}  # no date at all; 2100-01-01
NAMES = {
    "zero-width space": "\u200b",
    "Hangul filler": "\u3164",
    "right-to-left override": "\u202eRoom 101",
    "zero-width space inside": "Room\u200b101",
    "noncharacter U+FDD0": "Room\ufdd0101",
    "noncharacter U+FFFF": "Room 101\uffff",
    "noncharacter U+10FFFE": "\U0010fffe",
    "soft hyphen": "Room\u00ad101",
    "zero-width joiner (kept: emoji need it)": "\U0001f469\u200d\U0001f4bb Lab",
}


def small_station(work: Path, name: str, prepare=None) -> h.Station:
    source, _ = _data.cached_log_dir(1_000_000)
    log_dir = Path(tempfile.mkdtemp(dir=work, prefix=f"{name}-"))
    shutil.copytree(source, log_dir, dirs_exist_ok=True)
    if prepare:
        prepare(log_dir)
    station = h.Station(log_dir, work / f"{name}.log")
    station.wait_ready()
    return station


def route_list(work: Path) -> list[tuple[str, str]]:
    """(method, path) of every route of the dashboard, its path arguments filled."""
    from tests.support.parts import app_of
    from webperf3.store.results import ResultsStore

    store = ResultsStore(Path(tempfile.mkdtemp(dir=work, prefix="routes-")))
    return routes(types.SimpleNamespace(app=app_of(store, ports=lambda: [5201])))


def raw(method: str, path: str, port: int, body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    return head.encode() + body


def case_inputs(work: Path, quick: bool, seconds: float) -> list[tuple]:
    station = small_station(work, "inputs")
    try:
        found = route_list(work)
        bodies = [(m, p) for m, p in found if m in ("POST", "PATCH", "PUT", "DELETE")]
        gets = [(m, p) for m, p in found if m == "GET"]
        if quick:
            bodies, gets = bodies[:3], gets[:3]
        lines_before = len(station.log_lines())
        statuses: dict[int, int] = {}
        worst: list[str] = []
        sent = 0
        started = time.monotonic()
        for n, (method, path) in enumerate(bodies):
            for body in (DEEP, DEEP_OBJECT):
                # Each from its own address: the per-address limits of changes
                # and places would otherwise answer before the body is read.
                status = h.status_of(h.request(station.port, raw(method, path, station.port, body), source=f"127.0.{1 + n // 200}.{2 + n % 200}"))
                statuses[status] = statuses.get(status, 0) + 1
                sent += 1
                if status >= 500 or status == 0:
                    worst.append(f"{method} {path} {status}")
        for _, path in gets:
            for name in PARAMETERS:
                query = urllib.parse.urlencode({name: HUGE})
                status = h.status_of(h.request(station.port, raw("GET", f"{path}?{query}", station.port)))
                statuses[status] = statuses.get(status, 0) + 1
                sent += 1
                if status >= 500 or status == 0:
                    worst.append(f"GET {path}?{name}= {status}")
        took = time.monotonic() - started
        lines = len(station.log_lines()) - lines_before
        tracebacks = station.log().count("Traceback")
        return [("hostile inputs on every route", f"{len(bodies)} routes taking a body x 2 bodies nested 1,000 deep; {len(gets)} GET routes x {len(PARAMETERS)} parameters of 5,000 digits: {sent} requests in {took:.1f} s",
                 "pass" if not worst and tracebacks == 0 else "fail",
                 f"answers {dict(sorted(statuses.items()))} (500s: {statuses.get(500, 0)}; was a 500 with a traceback each); journal lines {lines} ({lines * 200 / max(1, sent):.1f} per 200 requests; was 2,800); "
                 f"tracebacks {tracebacks}{'; failed: ' + ', '.join(worst[:5]) if worst else ''}")]
    finally:
        station.stop()


def case_journal(work: Path, quick: bool, seconds: float) -> list[tuple]:
    station = small_station(work, "journal")
    try:
        lines_before = len(station.log_lines())
        stop = time.monotonic() + seconds
        counts = {"websocket connects": 0, "held connections": 0, "foreign Host": 0, "places named": 0, "history requests": 0}
        lock = threading.Lock()

        def count(what: str, n: int = 1) -> None:
            with lock:
                counts[what] += n

        def churn() -> None:
            for i in range(50 if quick else 1000):
                if time.monotonic() > stop:
                    break
                try:
                    _, sock = h.websocket_handshake(station.ws_port, source=h.OTHER_CLIENTS[i % 10], origin=f"http://127.0.0.1:{station.port}")
                    sock.close()
                    count("websocket connects")
                except OSError:
                    pass

        def refused() -> None:
            with h.Hostile() as held:
                while time.monotonic() < stop:
                    for _ in range(30):  # one address, 20 allowed: each past that closes its quietest
                        try:
                            held.sockets.append(h.connect_from("127.0.0.2", station.port, timeout=2))
                            count("held connections")
                        except OSError:
                            pass
                    for _ in range(30):
                        h.request(station.port, h.get("/", host="rebind.evil.example"), source="127.0.0.3")
                        count("foreign Host")
                    for _ in range(10):
                        station.api("POST", "api/place", {"name": "Loop"}, source="127.0.0.4")
                        count("places named")
                    time.sleep(0.2)
                    for sock in held.sockets[:-20]:
                        sock.close()
                    held.sockets = held.sockets[-20:]

        def backlog(address: str) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", station.port, timeout=30, source_address=(address, 0))
            while time.monotonic() < stop:
                try:
                    conn.request("GET", "/api/history?limit=500", headers={"Host": f"127.0.0.1:{station.port}"})
                    conn.getresponse().read()
                    count("history requests")
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", station.port, timeout=30, source_address=(address, 0))
            conn.close()

        threads = [threading.Thread(target=churn), threading.Thread(target=refused)]
        threads += [threading.Thread(target=backlog, args=(h.OTHER_CLIENTS[i % 10],)) for i in range(60)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(seconds + 60)
        took = time.monotonic() - started
        time.sleep(0.5)
        lines = station.log_lines()[lines_before:]
        kinds = {"disconnected": 0, "connected": 0, "Task queue depth": 0, "dropped a connection": 0, "refused": 0}
        other = 0
        for line in lines:
            kind = next((k for k in kinds if k in line), None)
            if kind:
                kinds[kind] += 1
            else:
                other += 1
        return [("journal floods", ", ".join(f"{v:,} {k}" for k, v in counts.items()) + f" in {took:.0f} s, at once (60 clients for 8 threads)",
                 "pass" if len(lines) <= JOURNAL_CEILING * max(1.0, took / 60) else "fail",
                 f"{len(lines)} journal lines in {took:.0f} s (ceiling {JOURNAL_CEILING} a minute; at most one a minute per kind and address): " + ", ".join(f"{v} '{k}'" for k, v in kinds.items()) + f", {other} others "
                 f"(was 4,058 lines for 4,000 websocket churns, 4,254 queue warnings in 15 s)")]
    finally:
        station.stop()


def case_legacy(work: Path, quick: bool, seconds: float) -> list[tuple]:
    _, manifest = _data.cached_log_dir(1_000_000)

    def old_state(log_dir: Path) -> None:
        (log_dir / ".webperf3-state.json").write_text(json.dumps({"cleared_at": MARKS, "previous": {}}))

    try:
        station = small_station(work, "legacy", prepare=old_state)
    except (RuntimeError, TimeoutError) as exc:
        return [("legacy marks", "a state file with marks 1e300 and 2100", "fail", f"the station did not start: {str(exc)[-300:]}")]
    try:
        surveys = json.loads(station.fetch("api/surveys"))
        current = next((s for s in surveys["surveys"] if s["current"]), {})
        warnings = [line.split(" ", 3)[-1] for line in station.log_lines() if "ignored a clear mark" in line]
        return [("legacy marks", f"a state file with clear marks {MARKS['5201']:g} (port 5201) and {MARKS['5202']:.0f} (2100-01-01, port 5202)",
                 "pass" if warnings and current.get("tests") == manifest["tests"] else "fail",
                 f"started; {len(warnings)} warnings ({warnings[0][:160] if warnings else '-'}...); the current survey shows {current.get('tests')} of {manifest['tests']} tests "
                 f"(was: no start, OverflowError; or 0 shown)")]
    finally:
        station.stop()


def case_names(work: Path, quick: bool, seconds: float) -> list[tuple]:
    station = small_station(work, "names")
    rows = []
    try:
        for n, (what, name) in enumerate(NAMES.items()):
            status, place = station.api("POST", "api/place", {"name": name, "device": f"d{n}"}, source=f"127.0.0.{20 + n}")
            s_status, survey = station.api("POST", "api/surveys", {"name": name}, source=f"127.0.0.{20 + n}")

            def said(status: int, body: dict, key: str) -> str:
                if status in (200, 201):
                    stored = body.get(key)
                    return f"{status}, stored as {stored!r}" if stored is not None else f"{status}, no name (empty)"
                return f"{status}: {body.get('error', '')[:160]}"

            rows.append((f"name: {what}", ascii(name), "pass" if status < 500 and s_status < 500 else "fail",
                         f"place {said(status, place, 'place')}; survey {said(s_status, survey.get('survey', survey), 'name')}"))
    finally:
        station.stop()
    return rows


CASES = ("inputs", "journal", "legacy", "names")


def main() -> int:
    return h.run_cases("inputs", __doc__, CASES, globals(), seconds=60.0, seconds_help="length of the journal flood (default 60: the limiter's minute)", quick_seconds=3.0)


if __name__ == "__main__":
    sys.exit(main())
