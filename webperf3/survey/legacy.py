"""The old clear marks (``.webperf3-state.json``) made into surveys, once.

A clear at T becomes a survey started at T ("Cleared YYYY-MM-DD HH:MM"). The
migration is written in the same transaction as a ``meta`` row
(``legacy_state``: what was found), so it never happens twice; only after
the commit is the state file renamed (kept, never deleted).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from pathlib import Path

from .. import marks

log = logging.getLogger(__name__)

META_KEY = "legacy_state"


def migrate_clears(conn: sqlite3.Connection, log_dir: Path, now: float) -> marks.LegacyClears:
    """Within the caller's transaction: a survey per clear time of ``log_dir``'s
    state file, and the ``meta`` row. Call only if the row is not there yet."""
    found = marks.read_legacy_clears(log_dir)
    if found.problem:
        log.warning("%s: no surveys made from it", found.problem)
    last_start = conn.execute("SELECT coalesce(max(started_at), 0) FROM segments WHERE undone_at IS NULL").fetchone()[0]
    for at in found.times:
        name = "Cleared " + time.strftime("%Y-%m-%d %H:%M", time.localtime(at))
        sid = conn.execute("INSERT INTO surveys (name, created_at) VALUES (?, ?)", (name, at)).lastrowid
        conn.execute("INSERT INTO segments (survey_id, started_at, kind) VALUES (?, ?, 'migrated')", (sid, max(at, last_start)))
    record = {"found": found.found, "clears": list(found.times), "problem": found.problem, "at": now}
    conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (META_KEY, json.dumps(record)))
    return found


def retire(log_dir: Path, found: marks.LegacyClears) -> None:
    """After the commit: rename a state file that was read."""
    if found.found and not found.problem:
        retired = marks.retire_state_file(log_dir)
        log.info("made %d survey(s) from the clear marks of %s; it is now %s", len(found.times), marks.STATE_FILE, retired)
