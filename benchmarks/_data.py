"""Benchmark log directories built from real iperf3 entries.

Every object in ``tests/data/iperf3.12-*.json`` (iperf3 3.12) and
``tests/data/prototype/*.json`` (the prototype's 3.10.1 / 3.9 logs) is cut out
as text, byte for byte as iperf3 wrote it. A log directory is then filled
with copies of them, each made distinct by rewriting its timestamp
(``"time"`` and ``"timesecs"``), its ``cookie`` (iperf3's per-test random
string: webperf3 knows a test by its port and cookie, so copies sharing one
would be one test to the survey book) and, where it has one, its
``extra_data`` name, and written as iperf3 does: objects one after another,
each followed by ``\\n``.

* Timestamps increase strictly across the whole directory (not just per
  file), so sorting by time gives one order whatever the sort's stability.
* The mix is every real test object with the same chance, plus now and then
  (2 %) one of the records iperf3 writes with no timestamp (a server stopped
  by a signal, a listener that failed, "unable to receive parameters"),
  sometimes followed by ``iperf3: exiting`` as the Windows build writes.
  No other text goes between objects: the prototype drops an object followed
  by text, and both sides must see the same tests for the comparison to hold.

Directories are cached under ``/tmp/webperf3-bench/`` keyed by size, number of
ports, seed and :data:`LAYOUT` (bump it when the mix changes). Never write to
a cached directory: copy it with :func:`working_copy` first.

Reusable: ``cached_log_dir(total_bytes)`` for any benchmark that needs a log
directory, ``Appender`` to append real tests to one as iperf3 would, and
``dashboard()``, the one place a benchmark builds webperf3's web app.
"""

from __future__ import annotations

import email.utils
import json
import random
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
CACHE = Path("/tmp/webperf3-bench")
#: Bumped whenever the way directories are built changes: old caches are ignored.
#: 2: each copy has a cookie of its own.
LAYOUT = 2
FIRST_PORT = 5201
#: Where the generated timestamps begin: 2024-01-01T00:00:00Z.
EPOCH = 1_704_067_200
#: Chance that a record without a timestamp follows a test.
NO_TIMESTAMP_SHARE = 0.02

_TIMESTAMP = re.compile(r'("time":\s*)"[^"]*"(,\s*"timesecs":\s*)\d+')
_EXTRA_DATA = re.compile(r'("extra_data":\s*)"((?:[^"\\]|\\.)*)"')
_COOKIE = re.compile(r'("cookie":\s*)"[a-z0-9]{36}"')


@dataclass(frozen=True)
class Entry:
    """One top-level object of a real log, as text."""

    source: str  # the fixture file it comes from
    text: str  # from its "{" to its "}", exactly as iperf3 wrote it
    version: str | None  # "3.12", "3.10.1", ...
    has_timestamp: bool  # a test (possibly failed) rather than a server event
    bidir_311: bool  # a --bidir test of iperf3 <= 3.11 (the prototype's kind)

    def varied(self, timesecs: int, serial: int) -> str:
        """This entry as if run at ``timesecs``, its cookie and its name (if
        any) made unique by ``serial``. The cookie keeps iperf3's length, so a
        directory of a given size holds the same tests as before."""
        text = _COOKIE.sub(lambda m: f'{m[1]}"{serial:036d}"', self.text, count=1)
        if self.has_timestamp:
            when = email.utils.formatdate(timesecs, usegmt=True)
            text, n = _TIMESTAMP.subn(lambda m: f'{m[1]}"{when}"{m[2]}{timesecs}', text, count=1)
            if n != 1:
                raise ValueError(f"no timestamp to rewrite in an entry of {self.source}")
        return _EXTRA_DATA.sub(lambda m: f'{m[1]}"{m[2]} #{serial}"', text, count=1)


def objects_in(path: Path) -> Iterator[str]:
    """The text of each top-level object: each ``{`` at a line start that
    decodes as JSON (iperf3's own text lines between them are left out)."""
    text = path.read_text(encoding="utf-8")
    decoder = json.JSONDecoder()
    for match in re.finditer(r"(?m)^\{", text):
        try:
            _, end = decoder.raw_decode(text, match.start())
        except json.JSONDecodeError:
            continue
        yield text[match.start() : end]


def real_entries() -> list[Entry]:
    """Every object of the real fixture logs, in a fixed order."""
    files = sorted(DATA.glob("iperf3.12-*.json")) + sorted((DATA / "prototype").glob("*.json"))
    entries = []
    for path in files:
        for text in objects_in(path):
            obj = json.loads(text)
            start = obj.get("start", {})
            version = start.get("version", "").removeprefix("iperf ").strip() or None
            has_ts = "timesecs" in start.get("timestamp", {})
            streams = obj.get("end", {}).get("streams", [])
            roles = {bool(s.get("sender", {}).get("sender")) for s in streams if "sender" in s}
            bidir_311 = has_ts and len(roles) == 2 and "sum_sent_bidir_reverse" not in obj.get("end", {})
            entries.append(Entry(str(path.relative_to(DATA)), text, version, has_ts, bidir_311))
    if not any(e.bidir_311 for e in entries) or not any(not e.has_timestamp for e in entries):
        raise RuntimeError(f"unexpected fixtures in {DATA}")
    return entries


def tests_and_events(entries: list[Entry] | None = None) -> tuple[list[Entry], list[Entry]]:
    """(real tests, records with no timestamp)."""
    entries = real_entries() if entries is None else entries
    return [e for e in entries if e.has_timestamp], [e for e in entries if not e.has_timestamp]


def log_name(port: int) -> str:
    return f"port-{port}.json"


def build_log_dir(path: Path, total_bytes: int = 100_000_000, ports: int = 10, seed: int = 0) -> dict:
    """Fill ``path`` with ``ports`` logs of about ``total_bytes`` in all.

    Returns (and writes to ``path/manifest.json``) what went in: entries,
    tests, the tests of the prototype's kind, the last timestamp.
    """
    rng = random.Random(seed)
    tests, events = tests_and_events()
    path.mkdir(parents=True, exist_ok=True)
    per_port = total_bytes // ports
    files = {FIRST_PORT + i: open(path / log_name(FIRST_PORT + i), "w", encoding="utf-8", newline="") for i in range(ports)}
    sizes = dict.fromkeys(files, 0)
    counts = {"entries": 0, "tests": 0, "bidir_311": 0, "events": 0, "text_lines": 0}
    by_source: dict[str, int] = {}
    t = EPOCH
    try:
        open_ports = list(files)
        while open_ports:
            port = rng.choice(open_ports)
            if rng.random() < NO_TIMESTAMP_SHARE:
                entry = rng.choice(events)
                counts["events"] += 1
            else:
                entry = rng.choice(tests)
                counts["tests"] += 1
                counts["bidir_311"] += entry.bidir_311
            t += rng.randint(1, 60)  # strictly increasing over the whole directory
            text = entry.varied(t, counts["entries"]) + "\n"
            if not entry.has_timestamp and rng.random() < 0.5:
                text += "iperf3: exiting\n"
                counts["text_lines"] += 1
            data = text.encode("utf-8")
            files[port].write(text)
            sizes[port] += len(data)
            counts["entries"] += 1
            by_source[entry.source] = by_source.get(entry.source, 0) + 1
            if sizes[port] >= per_port:
                open_ports.remove(port)
    finally:
        for f in files.values():
            f.close()
    manifest = {
        "layout": LAYOUT,
        "total_bytes": sum(sizes.values()),
        "ports": ports,
        "seed": seed,
        "last_timesecs": t,
        **counts,
        "by_source": dict(sorted(by_source.items())),
    }
    (path / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def cached_log_dir(total_bytes: int = 100_000_000, ports: int = 10, seed: int = 0) -> tuple[Path, dict]:
    """A log directory of about ``total_bytes``, built once and kept in /tmp.

    Treat it as read-only; :func:`working_copy` gives one to append to.
    """
    path = CACHE / f"logs-{total_bytes}b-{ports}p-seed{seed}-v{LAYOUT}"
    manifest = path / "manifest.json"
    if not manifest.exists():
        # Built aside under a name of its own, then renamed into place: two
        # runs at once (the test suite's quick runs, on a shared machine)
        # never see half a directory, nor remove each other's.
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=CACHE, prefix=f"{path.name}.building-"))
        tmp.chmod(0o755)  # mkdtemp's 0700 would hide the shared cache from other users
        try:
            print(f"building {total_bytes / 1e6:g} MB of logs in {path} ...", file=sys.stderr, flush=True)
            build_log_dir(tmp, total_bytes, ports, seed)
            try:
                tmp.rename(path)
            except OSError:
                if manifest.exists():
                    pass  # another run finished the same directory first
                else:  # a directory left incomplete by an older version of this code
                    shutil.rmtree(path, ignore_errors=True)
                    tmp.rename(path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return path, json.loads(manifest.read_text())


def working_copy(source: Path, name: str) -> Path:
    """A fresh copy of a cached directory under /tmp/webperf3-bench/work/,
    named ``name-XXXX``: its own even when two runs copy at once. The caller
    removes it when done."""
    parent = CACHE / "work"
    parent.mkdir(parents=True, exist_ok=True)
    target = Path(tempfile.mkdtemp(dir=parent, prefix=f"{name}-"))
    shutil.copytree(source, target, dirs_exist_ok=True)
    return target


def log_files(log_dir: Path) -> list[Path]:
    return sorted(log_dir.glob("port-*.json"))


class Appender:
    """Appends real tests to the logs of a directory, as iperf3 would: one
    object and a newline, later than every test already there."""

    def __init__(self, log_dir: Path, manifest: dict, seed: int = 1) -> None:
        self.log_dir = log_dir
        self.ports = [FIRST_PORT + i for i in range(manifest["ports"])]
        self._rng = random.Random(seed)
        self._tests, _ = tests_and_events()
        self._t = manifest["last_timesecs"]
        self._serial = manifest["entries"]
        self.count = 0

    def append(self, port: int | None = None) -> tuple[int, int]:
        """Append one test (to ``port`` or the next in turn): (port, bytes)."""
        if port is None:
            port = self.ports[self.count % len(self.ports)]
        entry = self._tests[self.count % len(self._tests)]
        self._t += self._rng.randint(1, 60)
        self._serial += 1
        data = (entry.varied(self._t, self._serial) + "\n").encode("utf-8")
        with open(self.log_dir / log_name(port), "ab") as f:
            f.write(data)
        self.count += 1
        return port, len(data)


def dashboard(store: Any, *, book: Any, board: Any, **options: Any) -> Any:
    """webperf3's dashboard (``webperf3.web.Dashboard``) over ``store``, with
    the survey book and the board (``Board(store, book, ports)``) the rest of
    the benchmark uses: every benchmark builds its web app here, so a change
    of the Dashboard's signature is followed in one place."""
    from webperf3.web import Dashboard

    # Open (as --open): the benchmarks time admin actions, not pairing.
    options.setdefault("open", True)
    return Dashboard(store, book=book, board=board, **options)


if __name__ == "__main__":
    size = int(float(sys.argv[1]) * 1e6) if len(sys.argv) > 1 else 100_000_000
    where, info = cached_log_dir(size)
    print(where)
    print(json.dumps(info, indent=1))
