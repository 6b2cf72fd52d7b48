"""The SQLite file itself: schema and migrations, files that are not ours,
a restart, other programs and threads, a process killed mid-write, a full disk."""

from __future__ import annotations

import errno
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from tests.support.logs import T_BIDIR, T_REVERSE, T_ROOM_101, T_UDP, by_time
from tests.support.paths import ROOT
from webperf3.survey import DB_NAME, SCHEMA_VERSION, BookOpenError, BookWriteError, SurveyBook, db



def _sql(path: Path, query: str) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(query).fetchall()
    finally:
        conn.close()


# -- schema -------------------------------------------------------------------------


def test_the_file_is_a_versioned_webperf3_database_in_wal_mode(log_dir):
    SurveyBook.open(log_dir).close()
    path = log_dir / DB_NAME
    assert _sql(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert _sql(path, "PRAGMA application_id") == [(db.APPLICATION_ID,)]
    assert _sql(path, "PRAGMA journal_mode") == [("wal",)]
    tables = {name for (name,) in _sql(path, "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
    assert {"surveys", "segments", "claims", "edits", "edit_history", "meta", "timeline", "named_places", "test_edits"} <= tables
    # Readable in any SQLite tool: the views give times as dates.
    assert _sql(path, "SELECT survey, kind, started = datetime(0, 'unixepoch', 'localtime') FROM timeline") == [("First survey", "initial", 1)]


def test_an_empty_sqlite_file_is_given_the_schema(log_dir):
    sqlite3.connect(log_dir / DB_NAME).close()  # 0 bytes
    with SurveyBook.open(log_dir) as book:
        assert book.view().current.name == "First survey"


def test_a_migration_step_is_all_or_nothing(log_dir, monkeypatch):
    with SurveyBook.open(log_dir) as book:
        book.start("Kept", at=1000)

    def broken(conn: sqlite3.Connection, now: float) -> None:
        conn.execute("CREATE TABLE half_done (x)")
        conn.execute("INSERT INTO no_such_table VALUES (1)")

    monkeypatch.setattr(db, "MIGRATIONS", (*db.MIGRATIONS, broken))
    monkeypatch.setattr(db, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with pytest.raises(BookWriteError, match="no such table"):
        SurveyBook.open(log_dir)
    path = log_dir / DB_NAME
    assert _sql(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert _sql(path, "SELECT count(*) FROM sqlite_master WHERE name = 'half_done'") == [(0,)]

    def adds_a_column(conn: sqlite3.Connection, now: float) -> None:
        conn.execute("ALTER TABLE surveys ADD COLUMN note TEXT")

    monkeypatch.setattr(db, "MIGRATIONS", (*db.MIGRATIONS[:-1], adds_a_column))
    with SurveyBook.open(log_dir) as book:
        assert book.view().current.name == "Kept"
    assert _sql(path, "PRAGMA user_version") == [(SCHEMA_VERSION + 1,)]


def test_a_file_from_a_newer_webperf3_is_refused_and_left_alone(log_dir):
    SurveyBook.open(log_dir).close()
    path = log_dir / DB_NAME
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(BookOpenError, match=f"newer webperf3 \\(schema {SCHEMA_VERSION + 1}; this one knows up to {SCHEMA_VERSION}\\)"):
        SurveyBook.open(log_dir)
    assert path.read_bytes() == before


def test_another_program_s_database_is_refused_and_left_alone(log_dir):
    path = log_dir / DB_NAME
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE photos (id INTEGER)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(BookOpenError, match="another program's SQLite file"):
        SurveyBook.open(log_dir)
    assert path.read_bytes() == before


def test_a_file_that_is_not_sqlite_is_refused_and_left_alone(log_dir):
    path = log_dir / DB_NAME
    path.write_bytes(b"these are my notes, not a database\n" * 200)
    with pytest.raises(BookOpenError, match="cannot use .*file is not a database"):
        SurveyBook.open(log_dir)
    assert path.read_bytes() == b"these are my notes, not a database\n" * 200


def test_a_missing_log_directory_is_a_clear_error(tmp_path):
    with pytest.raises(BookOpenError, match="cannot use .*unable to open database file"):
        SurveyBook.open(tmp_path / "nowhere")


# -- restarts, other programs, threads ------------------------------------------------


def test_a_restart_keeps_everything(log_dir, results):
    with SurveyBook.open(log_dir) as book:
        a = book.start("A", at=T_REVERSE)
        book.start("B", at=T_BIDIR)
        book.reopen(a.id, at=T_UDP)
        book.undo_start(book.start("Gone", at=T_ROOM_101 + 100).id)
        book.claim("127.0.0.1", "Room 7", at=T_REVERSE, device="d", user_agent="UA")
        book.edit(by_time(results, T_UDP), place="Cellar", excluded=True, by="admin")
        before = book.view()
        expected = (before.annotate_all(results), before.survey_list(results, include_undone=True), before.places(results))
    with SurveyBook.open(log_dir) as again:
        after = again.view()
        assert (after.annotate_all(results), after.survey_list(results, include_undone=True), after.places(results)) == expected
        assert after.edits == before.edits and after.surveys == before.surveys


def test_a_read_only_book_reads_and_refuses_to_write(log_dir, results):
    with SurveyBook.open(log_dir, readonly=True) as empty:  # no file yet: nothing is created
        assert empty.view().current.name == "First survey"
        with pytest.raises(BookWriteError, match="read-only"):
            empty.start("A")
    assert not (log_dir / "webperf3.sqlite3").exists()
    with SurveyBook.open(log_dir) as book:
        book.start("A", at=T_BIDIR)
    with SurveyBook.open(log_dir, readonly=True) as reader:
        assert reader.view().current.name == "A"
        with pytest.raises(BookWriteError, match="read-only"):
            reader.claim("10.0.0.1", "Room")


def test_a_change_made_by_another_program_is_picked_up(log_dir):
    book = SurveyBook.open(log_dir, outside_check_s=0)
    heard = []
    book.subscribe(heard.append)
    with closing(sqlite3.connect(log_dir / "webperf3.sqlite3", isolation_level=None)) as conn:  # e.g. someone in sqlite3 or datasette
        conn.execute("UPDATE surveys SET name = 'Renamed outside' WHERE id = 1")
    assert book.view().current.name == "Renamed outside"
    assert [c.kind for c in heard] == ["reload"]
    book.view()
    assert len(heard) == 1  # nothing more changed
    book.close()


def test_outside_changes_are_looked_for_at_most_so_often(log_dir):
    with SurveyBook.open(log_dir, outside_check_s=3600) as book:
        book.view()
        with closing(sqlite3.connect(log_dir / "webperf3.sqlite3", isolation_level=None)) as conn:
            conn.execute("UPDATE surveys SET name = 'Renamed outside' WHERE id = 1")
        assert book.view().current.name == "First survey"  # not looked for yet
        assert book.reload() and book.view().current.name == "Renamed outside"


def test_many_threads_writing_and_reading_lose_nothing(log_dir):
    with SurveyBook.open(log_dir) as book:
        versions: list[int] = []
        book.subscribe(lambda change: versions.append(change.version))
        errors: list[BaseException] = []

        def work(n: int) -> None:
            try:
                for i in range(20):
                    book.claim(f"10.0.{n}.{i + 1}", f"Room {n}-{i}", at=1000 + i)
                    assert book.view().claim_of(f"10.0.{n}.{i + 1}", 2000).place == f"Room {n}-{i}"
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert sorted(versions) == versions == list(range(1, 161))
    with SurveyBook.open(log_dir) as again:
        assert len(again.view().claims) == 160


# -- a process killed mid-write ------------------------------------------------------------


def _run_writer(log_dir: Path, start: int, stop_after: int, done: dict[str, set[int]]) -> int:
    """Run the writer until it has reported ``stop_after`` writes, SIGKILL it
    (it is then in the middle of the next one), and collect what it reported."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.book_writer", str(log_dir), str(start)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        seen = 0
        for line in proc.stdout:
            seen += 1
            kind, n = line.split()
            done[kind].add(int(n))
            if seen >= stop_after:
                break
        proc.send_signal(signal.SIGKILL)
        rest, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL, err
    for line in rest.splitlines():  # reported before the kill: committed too
        kind, n = line.split()
        done[kind].add(int(n))
    return max(done["claim"] | done["edit"], default=start)


def test_sigkill_during_writes_loses_nothing_committed_and_never_corrupts(log_dir):
    done: dict[str, set[int]] = {"claim": set(), "edit": set(), "survey": set()}
    start = 0
    for stop_after in (7, 40, 111):
        start = _run_writer(log_dir, start, stop_after, done) + 1000  # past anything written unreported
        path = log_dir / DB_NAME
        assert _sql(path, "PRAGMA integrity_check") == [("ok",)]
        with SurveyBook.open(log_dir) as book:
            view = book.view()
            claimed = {c.place for c in view.claims.all()}
            assert {f"Place {n}" for n in done["claim"]} <= claimed
            assert {f"5201-cookie{n}" for n in done["edit"]} <= set(view.edits)
            for n in done["edit"]:
                edit = view.edits[f"5201-cookie{n}"]
                assert (edit.place, edit.excluded) == (f"Edited {n}", n % 2 == 0)
            assert {f"Survey at {n}" for n in done["survey"]} <= {s.name for s in view.surveys.values()}
    assert sum(len(v) for v in done.values()) >= 7 + 40 + 111


# -- a full disk ---------------------------------------------------------------------------


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs, mounted for the test and unmounted after."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill ({mounted.stderr.strip() or 'mount failed'}): needs root with CAP_SYS_ADMIN")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def _fill(directory: Path) -> Path:
    filler = directory / "filler"
    with filler.open("wb", buffering=0) as f:
        for size in (65536, 4096, 1):
            try:
                while True:
                    f.write(b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    return filler


def test_a_full_disk_gives_a_clear_error_and_loses_nothing_saved(small_fs):
    log_dir = small_fs / "logs"
    log_dir.mkdir()
    book = SurveyBook.open(log_dir)
    try:
        saved = []
        for i in range(5):
            book.claim(f"10.0.0.{i + 1}", f"Room {i}", at=1000 + i)
            saved.append(i)
        filler = _fill(small_fs)
        failure = None
        for i in range(5, 3000):  # until the WAL has no room left
            try:
                book.claim(f"10.0.{i // 256}.{i % 256}", f"Room {i} " + "x" * 150, at=1000 + i)
            except BookWriteError as exc:
                failure = exc
                break
            saved.append(i)
        assert failure is not None, "the disk never filled"
        assert failure.disk_full
        assert str(failure).startswith(f"cannot save: the disk holding {log_dir} is full; nothing was changed")
        version = book.version
        assert len(book.view().claims) == len(saved)  # the failed write left memory alone
        with pytest.raises(BookWriteError, match="is full"):
            book.start("Floor 2")
        assert book.version == version and book.view().current.name == "First survey"

        path = log_dir / DB_NAME
        assert _sql(path, "PRAGMA integrity_check") == [("ok",)]
        assert _sql(path, "SELECT count(*) FROM claims") == [(len(saved),)]

        filler.unlink()  # space again: the same book writes again, no restart
        book.claim("10.9.9.9", "After", at=5000)
    finally:
        book.close()
    with SurveyBook.open(log_dir) as again:
        assert len(again.view().claims) == len(saved) + 1
