"""Per-port "cleared at" marks, kept in a small state file in the log directory.

Clearing the table must never write to an iperf3 log (the prototype appended
``{}`` to each, corrupting them for every other reader): the marks live in
their own file, replaced atomically so a crash leaves the old or the new one.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

STATE_FILE = ".webperf3-state.json"


class MarksError(OSError):
    """The state file could not be written."""


class ClearMarks:
    """``cleared_at[port]``: the table shows only tests ending after it."""

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
