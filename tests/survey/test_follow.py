"""The survey book under the log directory's accidents: the directory removed
and made again (or moved away), and another program holding the file's
write lock. What people add is never lost quietly and no request hangs."""

from __future__ import annotations

import shutil
import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pytest
from webtest import TestApp

from tests.support.parts import dashboard_of
from webperf3.store.results import ResultsStore
from webperf3.survey import BookWriteError, SurveyBook


def test_a_log_directory_made_again_gets_a_new_book_with_what_the_old_one_held(log_dir: Path):
    with SurveyBook.open(log_dir) as book:
        book.start("Ground floor")
        book.claim("10.0.0.7", "Room 1", at=1000)
        shutil.rmtree(log_dir)  # rm -rf LOGDIR; mkdir LOGDIR, under the running station
        log_dir.mkdir()
        book.claim("10.0.0.8", "Room 2", at=1001)  # before: saved into the deleted file
        book.start("First floor")
        assert book.problem is None
    with SurveyBook.open(log_dir) as again:  # the next start
        assert [s.name for s in again.view().surveys.values()][-2:] == ["Ground floor", "First floor"]
        assert {again.view().claim_of(a, 2000) is not None for a in ("10.0.0.7", "10.0.0.8")} == {True}
        assert again.view().claim_of("10.0.0.8", 2000).place == "Room 2"


def test_a_log_directory_gone_refuses_changes_loudly_and_health_says_so(log_dir: Path):
    store = ResultsStore(log_dir)
    book = SurveyBook.open(log_dir)
    app = TestApp(dashboard_of(store, book=book, ports=lambda: []).app, extra_environ={"HTTP_HOST": "127.0.0.1:8080"})
    try:
        shutil.rmtree(log_dir)
        with pytest.raises(BookWriteError, match="is gone: the survey book cannot save"):
            book.claim("10.0.0.7", "Room 1")
        answer = app.post_json("/api/place", {"name": "Room 1"}, extra_environ={"REMOTE_ADDR": "10.0.0.7"}, expect_errors=True)
        assert answer.status_int == 503 and "is gone" in answer.json["error"]
        health = app.get("/healthz", expect_errors=True)
        assert health.status_int == 503
        servers = app.get("/api/servers").json
        assert [p["kind"] for p in servers["problems"]] == ["book"]
        log_dir.mkdir()  # back: the next change writes a new book and health clears
        book.claim("10.0.0.7", "Room 1")
        assert book.problem is None and (log_dir / "webperf3.sqlite3").exists()
        assert app.get("/api/servers").json["problems"] == []
    finally:
        book.close()


def test_another_program_holding_the_write_lock_gets_a_503_in_seconds_and_reads_go_on(log_dir: Path):
    with SurveyBook.open(log_dir) as book:
        store = ResultsStore(log_dir)
        app = TestApp(dashboard_of(store, book=book, ports=lambda: [5201]).app, extra_environ={"HTTP_HOST": "127.0.0.1:8080"})
        with closing(sqlite3.connect(log_dir / "webperf3.sqlite3", isolation_level=None)) as other:
            other.execute("BEGIN IMMEDIATE")  # e.g. someone's sqlite3 shell, mid-change
            try:
                began = time.monotonic()
                answer = app.post_json("/api/place", {"name": "Room 1"}, extra_environ={"REMOTE_ADDR": "10.0.0.7"}, expect_errors=True)
                waited = time.monotonic() - began
                assert answer.status_int == 503 and "locked" in answer.json["error"], answer.text
                assert waited < 10, f"a change waited {waited:.1f} s for another program's lock"
                assert app.get("/api/latest").status_int == 200  # the dashboard's reads never take the lock
            finally:
                other.execute("ROLLBACK")
        assert app.post_json("/api/place", {"name": "Room 1"}, extra_environ={"REMOTE_ADDR": "10.0.0.7"}).status_int == 200
