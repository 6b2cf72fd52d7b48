"""The old clear marks (``.webperf3-state.json``) made into surveys, once.

Before surveys, "Clear table" wrote per-port "cleared at" times to that file
(never to an iperf3 log: the prototype appended ``{}`` to each, corrupting
them for every other reader). A clear at T becomes a survey started at T
("Cleared YYYY-MM-DD HH:MM"). The migration is written in the same
transaction as a ``meta`` row (``legacy_state``: what was found), so it never
happens twice; only after the commit is the state file renamed
(``….migrated``: kept, never deleted).
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("webperf3.marks")

META_KEY = "legacy_state"
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


def migrate_clears(conn: sqlite3.Connection, log_dir: Path, now: float) -> LegacyClears:
    """Within the caller's transaction: a survey per clear time of ``log_dir``'s
    state file, and the ``meta`` row. Call only if the row is not there yet."""
    found = read_legacy_clears(log_dir)
    if found.problem:
        log.warning("%s: no surveys made from it", found.problem)
    last_start = conn.execute("SELECT coalesce(max(started_at), 0) FROM segments WHERE undone_at IS NULL").fetchone()[0]
    latest = latest_possible_clear(log_dir, now)
    for at in found.times:
        if at > latest:
            # A clear after every log was last written and after now never
            # happened (a damaged or hand-edited file): a survey from then on
            # would hide every test, and 1e300 is no date at all.
            log.warning("ignored a clear mark of %s at %r: later than the logs and the clock (%s)", STATE_FILE, at, time.strftime("%Y-%m-%d %H:%M", time.localtime(latest)))
            continue
        name = "Cleared " + time.strftime("%Y-%m-%d %H:%M", time.localtime(at))
        sid = conn.execute("INSERT INTO surveys (name, created_at) VALUES (?, ?)", (name, at)).lastrowid
        conn.execute("INSERT INTO segments (survey_id, started_at, kind) VALUES (?, ?, 'migrated')", (sid, max(at, last_start)))
    record = {"found": found.found, "clears": list(found.times), "problem": found.problem, "at": now}
    conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (META_KEY, json.dumps(record)))
    return found


#: A Pi without a real-time clock may boot with its clock behind until NTP
#: answers: a mark this far past the newest log or the clock still counts.
CLOCK_SLACK_S = 24 * 3600


def latest_possible_clear(log_dir: Path, now: float) -> float:
    """The latest time a real clear mark can have: the newer of the clock and
    the newest log's modification, plus :data:`CLOCK_SLACK_S`."""
    newest = now
    for log_file in Path(log_dir).glob("port-*.json"):
        try:
            newest = max(newest, log_file.stat().st_mtime)
        except OSError:
            continue
    return newest + CLOCK_SLACK_S


def retire(log_dir: Path, found: LegacyClears) -> None:
    """After the commit: rename a state file that was read."""
    if found.found and not found.problem:
        retired = retire_state_file(log_dir)
        log.info("made %d survey(s) from the clear marks of %s; it is now %s", len(found.times), STATE_FILE, retired)
