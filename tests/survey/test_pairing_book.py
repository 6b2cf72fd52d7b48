"""The paired devices in the survey book: a book of the schema before them
is still read (read-only, as `webperf3 export --book` reads an older
station's copy) with no devices, and migrated when opened writable."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from webperf3.survey import SCHEMA_VERSION, SurveyBook, db


def older_book(log_dir: Path, version: int) -> Path:
    path = log_dir / db.DB_NAME
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    for step in db.MIGRATIONS[:version]:
        step(conn, time.time())
    conn.execute(f"PRAGMA user_version = {version}")
    conn.execute(f"PRAGMA application_id = {db.APPLICATION_ID}")
    conn.execute("COMMIT")
    conn.close()
    return path


# Schema 1: before plans and paired devices; schema 2: plans, no paired devices.
@pytest.mark.parametrize("version", [1, db.PAIRED_DEVICES_FROM - 1])
def test_an_older_book_is_read_with_no_paired_devices_then_migrated(log_dir: Path, version: int) -> None:
    path = older_book(log_dir, version)
    with SurveyBook.open(log_dir, readonly=True) as old:
        assert old.view().timeline.current == 1
        assert old.paired_devices() == [] and old.paired_device("any token") is None and not old.pairing_code_used("a.b.c")
    with SurveyBook.open(log_dir) as book:
        assert book.pair_device("a.b.c", "token", address="10.0.0.5", description="curl") == 1
        assert book.pair_device("a.b.c", "other", address="10.0.0.6", description="curl") is None  # a code pairs once
        assert book.paired_device("token").address == "10.0.0.5"
        assert book.revoke_devices(None) == 1 and book.paired_devices() == []
        assert book.paired_device("token").revoked_at is not None
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
