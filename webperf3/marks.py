"""The old per-port "cleared at" marks (``.webperf3-state.json``), and their migration.

Surveys (:mod:`webperf3.survey`) replace "Clear table": a clear at time T is a
survey started at T. :func:`read_legacy_clears` reads the times a state file
holds and :func:`retire_state_file` renames it (``….migrated``) once the
survey book has saved them, so it is never migrated twice; the book also
records the migration in its own file.

:class:`ClearMarks` is the clearing itself, kept only until the routes use
surveys. Clearing must never write to an iperf3 log (the prototype appended
``{}`` to each, corrupting them for every other reader): the marks live in
their own file, replaced atomically so a crash leaves the old or the new one.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

STATE_FILE = ".webperf3-state.json"
#: What a migrated state file is renamed to (``.1``, ``.2``… if taken).
MIGRATED_NAME = STATE_FILE + ".migrated"


@dataclass(frozen=True, slots=True)
class LegacyClears:
    """What an old state file held: the times the table was cleared, oldest first."""

    found: bool  # there was a state file
    times: tuple[float, ...] = ()
    problem: str | None = None  # it could not be read: why


def clear_times(state: object) -> tuple[float, ...]:
    """The distinct clear times of a state file's content, oldest first: the
    current marks and the previous ones (those Undo would have restored: an
    earlier clear). Raises ValueError for content of another shape."""
    if not isinstance(state, dict):
        raise ValueError("not a JSON object")
    times: set[float] = set()
    for key in ("cleared_at", "previous"):
        marks = state.get(key)
        if marks is None:
            continue
        if not isinstance(marks, dict):
            raise ValueError(f"{key!r} is not an object")
        for at in marks.values():
            if isinstance(at, bool) or not isinstance(at, int | float):
                raise ValueError(f"{key!r} holds {at!r}, not a time")
            if math.isfinite(at) and at > 0:
                times.add(float(at))
    return tuple(sorted(times))


def read_legacy_clears(log_dir: Path) -> LegacyClears:
    path = Path(log_dir) / STATE_FILE
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return LegacyClears(found=False)
    except OSError as exc:
        return LegacyClears(found=True, problem=f"cannot read {path}: {exc.strerror or exc}")
    try:
        return LegacyClears(found=True, times=clear_times(json.loads(raw)))
    except ValueError as exc:
        return LegacyClears(found=True, problem=f"{path} is unreadable ({exc})")


def retire_state_file(log_dir: Path) -> Path | None:
    """Rename the migrated state file out of the way, keeping its content;
    where it went, or None if it was not there or could not be renamed."""
    path = Path(log_dir) / STATE_FILE
    target = path.with_name(MIGRATED_NAME)
    n = 0
    while target.exists():
        n += 1
        target = path.with_name(f"{MIGRATED_NAME}.{n}")
    try:
        path.rename(target)
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("cannot rename the migrated %s (%s): the survey book will not migrate it again", path, exc.strerror or exc)
        return None
    return target


class MarksError(OSError):
    """The state file could not be written."""


class ClearMarks:
    """``cleared_at[port]``: the table shows only tests ending after it.
    Replaced by surveys: goes once the routes use the survey book."""

    def __init__(self, log_dir: Path) -> None:
        self.path = log_dir / STATE_FILE
        self._lock = threading.Lock()
        self._marks: dict[int, float] = {}
        self._previous: dict[int, float] | None = None  # what Undo restores
        self._load()

    def _load(self) -> None:
        try:
            state = json.loads(self.path.read_text(encoding="utf-8"))
            self._marks = _ports(state.get("cleared_at", {}))
            previous = state.get("previous")
            self._previous = None if previous is None else _ports(previous)
        except FileNotFoundError:
            pass
        except (OSError, ValueError, AttributeError, TypeError) as exc:
            log.warning("%s is unreadable (%s): starting with no clear marks", self.path, exc)

    def get(self, port: int) -> float | None:
        return self._marks.get(port)

    def snapshot(self) -> dict[int, float]:
        with self._lock:
            return dict(self._marks)

    @property
    def can_undo(self) -> bool:
        return self._previous is not None

    def clear(self, ports: Iterable[int], at: float) -> None:
        with self._lock:
            marks = dict(self._marks)
            marks.update({port: at for port in ports})
            self._save(marks, previous=dict(self._marks))

    def undo(self) -> bool:
        """Restore the marks as they were before the last clear; False if none."""
        with self._lock:
            if self._previous is None:
                return False
            self._save(self._previous, previous=None)
            return True

    def _save(self, marks: dict[int, float], previous: dict[int, float] | None) -> None:
        state = {
            "cleared_at": {str(p): t for p, t in sorted(marks.items())},
            "previous": None if previous is None else {str(p): t for p, t in sorted(previous.items())},
        }
        try:
            _write_atomically(self.path, json.dumps(state, indent=1))
        except OSError as exc:
            raise MarksError(f"cannot write {self.path}: {exc.strerror or exc}") from exc
        self._marks, self._previous = marks, previous


def _ports(raw: dict) -> dict[int, float]:
    return {int(port): float(at) for port, at in raw.items()}


def _write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
