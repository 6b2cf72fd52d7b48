"""The results store: every ``port-*.json`` in a log directory, kept current.

:meth:`ResultsStore.refresh` costs one ``stat`` per unchanged log and reads
only what was appended to the others, so every caller (a web request, the
file watcher, an export) may call it freely. Queries return snapshots: a
caller can stream an export while the store goes on changing. A snapshot of
every result is shared by every caller until the store changes (100,000
results are 0.8 MiB of list, held by each download for as long as its
client takes to read), so a caller never changes a list it is given.
"""

from __future__ import annotations

import bisect
import errno
import logging
import operator
import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..browsertest.records import RecordReader
from ..iperf3.reader.index import Saver
from ..iperf3.reader.logs import LogReader
from .record import Result, SharedText

log = logging.getLogger("webperf3.results")

LOG_NAME = re.compile(r"port-(\d{1,5})\.json")


def log_path(log_dir: Path, port: int) -> Path:
    return log_dir / f"port-{port}.json"


def port_of(name: str) -> int | None:
    match = LOG_NAME.fullmatch(name)
    return int(match.group(1)) if match else None


class LogDirError(OSError):
    """The log directory does not exist or cannot be read."""


@dataclass(frozen=True, slots=True)
class PortRow:
    """One row of the dashboard's table."""

    port: int
    latest: Result | None  # the latest successful test
    failure: Result | None  # the latest failed test
    tests: int = 0

    def to_dict(self) -> dict:
        return {
            "port": self.port,
            "latest": None if self.latest is None else self.latest.to_dict(),
            "failure": None if self.failure is None else self.failure.to_dict(),
            "tests": self.tests,
        }


@dataclass(slots=True)
class Changes:
    """What a refresh found: new results, and ports whose history was redone."""

    added: list[Result] = field(default_factory=list)
    reset_ports: set[int] = field(default_factory=set)
    skipped: int = 0
    generation: int = 0  # the store's generation once this change was made

    def __bool__(self) -> bool:
        return bool(self.added or self.reset_ports)


@dataclass(slots=True)
class PortTotals:
    """One port's whole history in brief, kept up as results arrive, so the
    table and the metrics cost the same whatever the size of the logs."""

    latest: Result | None = None  # the latest success, by start time
    failure: Result | None = None  # the latest test with an error (interrupted ones too), by start time
    ok: int = 0
    failed: int = 0  # failures of the test, not those the station cut
    interrupted: int = 0  # cut by the station's own stop or restart

    def add(self, results: list[Result]) -> None:
        for result in results:
            if result.ok:
                self.ok += 1
                if self.latest is None or result.time >= self.latest.time:
                    self.latest = result
            else:
                if result.interrupted:
                    self.interrupted += 1
                else:
                    self.failed += 1
                if self.failure is None or result.time >= self.failure.time:
                    self.failure = result


def _by_time(result: Result) -> float:
    return result.time


#: The one order of results everywhere (the table, /csv, ``webperf3
#: export``): start time, then port, then place in the log. Time alone left
#: tests of one second in whatever order their logs happened to be read.
#: An attrgetter, not a function: a start sorts every test by it, and a
#: Python call per test cost as much as decoding the whole index (profiled).
_order: Callable[[Result], tuple[float, int, int]] = operator.attrgetter("time", "port", "offset")


def _merge_in_time_order(seq: list[Result], new: list[Result]) -> None:
    seq.extend(new)
    # Tests almost always arrive in order, so this is usually a no-op check
    # (the tuple is built only for tests of the same second); otherwise
    # timsort merges the sorted runs in linear time.
    start = max(0, len(seq) - len(new) - 1)
    for i in range(start, len(seq) - 1):
        a, b = seq[i], seq[i + 1]
        if a.time > b.time or (a.time == b.time and _order(a) > _order(b)):
            seq.sort(key=_order)
            return


class ResultsStore:
    """All results of one log directory, per port and in order (:func:`_order`)."""

    def __init__(self, log_dir: Path, keep_index: bool = False) -> None:
        self.log_dir = Path(log_dir)
        # Every store starts from a verified index beside a log when there is
        # one (iperf3/reader/index.py); only the station's writes them
        # (``keep_index``): an export leaves the log directory as it was.
        self.keep_index = keep_index
        self._index_saver = Saver()
        self._lock = threading.RLock()
        self._readers: dict[int, LogReader] = {}
        self._by_port: dict[int, list[Result]] = {}
        self._totals: dict[int, PortTotals] = {}
        self._all: list[Result] = []
        self._all_handed_out = False  # then it is copied before it changes
        # One copy of each repeated text (address, protocol, error, name)
        # among every port's results: kept under the lock, as the reads are.
        self._shared = SharedText()
        self.generation = 0  # bumped on every change: a cheap "anything new?"
        self._listeners: list[Callable[[Changes], None]] = []
        # Browser tests (<log-dir>/browser-tests.json): in every list of
        # results, under the websocket port they ran on, but in no port's
        # totals and no row of the table (that is the iperf3 servers').
        self._records = RecordReader(self.log_dir, share=self._shared)
        self._browser_totals = PortTotals()

    # -- telling others ---------------------------------------------------------

    def subscribe(self, listener: Callable[[Changes], None]) -> None:
        """Call ``listener(changes)`` after every change, whoever's read found
        it (the file watcher, a web request, an export): what one caller reads
        is never lost to the others. Called under the store's lock, in change
        order, so a listener must only hand the changes on, never block."""
        with self._lock:
            self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[Changes], None]) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def _changed(self, changes: Changes) -> Changes:
        if changes:
            self.generation += 1
            changes.generation = self.generation
            for listener in self._listeners:
                try:
                    listener(changes)
                except Exception:  # a broken listener must not break reading
                    log.exception("results listener failed")
        return changes

    # -- reading -------------------------------------------------------------

    def refresh(self) -> Changes:
        """Pick up new, changed and removed logs."""
        try:
            ports = self._scan()
        except FileNotFoundError:
            raise LogDirError(f"log directory {self.log_dir} does not exist") from None
        except NotADirectoryError:
            raise LogDirError(f"{self.log_dir} is not a directory") from None
        except PermissionError:
            raise LogDirError(f"log directory {self.log_dir} cannot be read (permission denied)") from None
        except OSError as exc:
            if exc.errno not in (errno.EMFILE, errno.ENFILE):
                raise
            # Out of descriptors for a moment (a burst of connections): the
            # tests already read are served, and the next refresh reads on.
            log.debug("log directory %s not scanned: out of descriptors", self.log_dir)
            return Changes()
        with self._lock:
            changes = Changes()
            for port in self._readers.keys() - ports:
                self._forget(port, changes)
            for port in sorted(ports):
                self._read(port, changes)
            self._read_records(changes)
            changes.added.sort(key=_order)  # listeners see new tests in the store's order too
            self._add_to_all(changes.added)
            return self._changed(changes)

    def refresh_port(self, port: int) -> Changes:
        """Read one log after the watcher saw it change (or vanish)."""
        with self._lock:
            changes = Changes()
            if not log_path(self.log_dir, port).exists():
                self._forget(port, changes)
            else:
                self._read(port, changes)
            changes.added.sort(key=_order)
            self._add_to_all(changes.added)
            return self._changed(changes)

    def refresh_records(self) -> Changes:
        """Read the browser tests' record after the station appended to it."""
        with self._lock:
            changes = Changes()
            self._read_records(changes)
            changes.added.sort(key=_order)
            self._add_to_all(changes.added)
            return self._changed(changes)

    def _read_records(self, changes: Changes) -> None:
        try:
            found = self._records.read()
        except OSError as exc:
            log.warning("cannot read %s: %s", self._records.path, exc.strerror or exc)
            return
        changes.skipped += found.skipped
        if found.reset:
            dropped = {r.port for r in self._all if r.method == "browser"}
            for port in dropped:
                if port in self._by_port:
                    self._by_port[port] = [r for r in self._by_port[port] if r.method != "browser"]
            self._all = [r for r in self._all if r.method != "browser"]
            self._all_handed_out = False
            changes.reset_ports |= dropped
            self._browser_totals = PortTotals()
        for result in found.results:
            _merge_in_time_order(self._by_port.setdefault(result.port, []), [result])
        self._browser_totals.add(found.results)
        changes.added.extend(found.results)

    def _add_to_all(self, added: list[Result]) -> None:
        if not added:
            return
        if self._all_handed_out:  # callers hold it as it is: change a copy
            self._all = list(self._all)
            self._all_handed_out = False
        _merge_in_time_order(self._all, added)

    def _scan(self) -> set[int]:
        with os.scandir(self.log_dir) as entries:
            return {p for e in entries if (p := port_of(e.name)) is not None}

    def _read(self, port: int, changes: Changes) -> None:
        reader = self._readers.get(port)
        if reader is None:
            reader = self._readers[port] = LogReader(
                log_path(self.log_dir, port), port, share=self._shared, use_index=True, keep_index=self.keep_index
            )
        try:
            found = reader.read()
        except OSError as exc:
            # One unreadable log must not hide the others.
            log.warning("cannot read %s: %s", reader.path, exc.strerror or exc)
            return
        changes.skipped += found.skipped
        if found.reset:
            self._drop(port)
            changes.reset_ports.add(port)
        if found.results:
            _merge_in_time_order(self._by_port.setdefault(port, []), found.results)
            self._totals.setdefault(port, PortTotals()).add(found.results)
            changes.added.extend(found.results)
        self._keep_index(port, reader)

    def _keep_index(self, port: int, reader: LogReader) -> None:
        """Write the log's index when its reader says it is due."""
        now = time.monotonic()
        if not (self.keep_index and reader.index_due(now)):
            return
        if self._index_saver.save(reader.path, reader.index_of(self._by_port.get(port, []))):
            reader.index_written(now)
        elif self._index_saver.refused is not None:  # a read-only directory: no CRC kept up for nothing
            self.keep_index = False
            for each in self._readers.values():
                each.keep_index = False

    def _forget(self, port: int, changes: Changes) -> None:
        if self._readers.pop(port, None) is not None:
            self._drop(port)
            changes.reset_ports.add(port)

    def _drop(self, port: int) -> None:
        self._totals.pop(port, None)
        if self._by_port.pop(port, None):
            self._all = [r for r in self._all if r.port != port or r.method == "browser"]
            self._all_handed_out = False

    # -- asking ----------------------------------------------------------------

    @property
    def ports(self) -> list[int]:
        """Every log's port, and the websocket port browser tests ran on (the
        table's row of the latest browser test; :meth:`rows` stays iperf3's)."""
        with self._lock:
            browser = {r.port for r in (self._browser_totals.latest, self._browser_totals.failure) if r is not None}
            return sorted(set(self._readers) | browser)

    def results(
        self,
        port: int | None = None,
        name: str | None = None,
        since: float | None = None,
    ) -> list[Result]:
        """Every result in time order, optionally of one port, one client
        name (case-insensitive substring) or starting at ``since``. Never
        change the list: every result's is shared (see the module)."""
        with self._lock:
            seq = self._all if port is None else self._by_port.get(port, [])
            if since is not None:
                seq = seq[bisect.bisect_left(seq, since, key=_by_time) :]
            elif port is None:
                self._all_handed_out = True
            else:
                seq = list(seq)
        if name is not None:
            needle = name.casefold()
            seq = [r for r in seq if r.name is not None and needle in r.name.casefold()]
        return seq

    def snapshot(self) -> tuple[int, list[Result]]:
        """The generation and every result of exactly that generation, read
        together: a page that adds pushed tests to what it fetched skips those
        of a generation it already has, and that holds only if the fetched
        results are neither older nor newer than the generation they carry."""
        with self._lock:
            self._all_handed_out = True
            return self.generation, self._all

    def row(self, port: int) -> PortRow:
        """One port's whole history in brief (surveys are the board's business)."""
        with self._lock:
            totals = self._totals.get(port) or PortTotals()
            return PortRow(port, totals.latest, totals.failure, totals.ok + totals.failed + totals.interrupted)

    def rows(self, ports: Iterable[int] = ()) -> list[PortRow]:
        """One row per port: the ports given (the servers') and every log's."""
        with self._lock:
            known = set(self._readers) | set(ports)
        return [self.row(port) for port in sorted(known)]

    def totals(self) -> dict[int, PortTotals]:
        """Every port's totals, clear marks ignored (a copy: safe to keep)."""
        with self._lock:
            return {port: PortTotals(t.latest, t.failure, t.ok, t.failed, t.interrupted) for port, t in self._totals.items()}

    def browser_totals(self) -> PortTotals:
        """The browser tests in brief (a copy): counts and the latest, for the metrics."""
        with self._lock:
            t = self._browser_totals
            return PortTotals(t.latest, t.failure, t.ok, t.failed, t.interrupted)

    @property
    def skipped(self) -> int:
        with self._lock:
            return sum(r.skipped for r in self._readers.values()) + self._records.skipped
