"""The record of browser tests: appended whole, read like the iperf3 logs,
a torn line never taken for a test."""

from __future__ import annotations

from pathlib import Path

import pytest

from webperf3.browsertest.records import BrowserRecord, append_record, record_path
from webperf3.store.results import ResultsStore


def record(n: int) -> BrowserRecord:
    return BrowserRecord(id=f"t{n}", port=8765, time=1_700_000_000.0 + n, duration=17.0, client="10.0.0.2", download_bps=9e7, upload_bps=8e7, streams=6)


def test_each_test_is_read_once_as_it_is_appended(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path)
    append_record(tmp_path, record(1))
    assert [r.cookie for r in store.refresh().added] == ["t1"]
    append_record(tmp_path, record(2))
    assert [r.cookie for r in store.refresh_records().added] == ["t2"]
    assert [r.cookie for r in store.results()] == ["t1", "t2"]
    assert store.rows() == []  # no row of the iperf3 table


def test_a_torn_last_line_is_skipped_and_the_next_test_kept(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    append_record(tmp_path, record(1))
    path = record_path(tmp_path)
    whole = path.read_bytes()
    with path.open("ab") as f:  # a crash (or a full disk) in the middle of a write
        f.write(whole[: len(whole) // 2])
    store = ResultsStore(tmp_path)
    store.refresh()
    assert [r.cookie for r in store.results()] == ["t1"]  # the half line waits for its end
    append_record(tmp_path, record(2))
    store.refresh()
    assert [r.cookie for r in store.results()] == ["t1", "t2"]
    assert store.skipped == 1 and "not a whole browser test" in caplog.text


def test_a_file_replaced_is_read_again(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path)
    append_record(tmp_path, record(1))
    store.refresh()
    record_path(tmp_path).unlink()
    append_record(tmp_path, record(3))
    changes = store.refresh()
    assert [r.cookie for r in store.results()] == ["t3"]
    assert changes.reset_ports == {8765}


def test_a_full_disk_raises_and_loses_nothing_written_before(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    append_record(tmp_path, record(1))
    real_write = os.write

    def short_write(fd: int, data: bytes) -> int:
        return real_write(fd, data[:10])  # ENOSPC part way: a short write

    monkeypatch.setattr(os, "write", short_write)
    with pytest.raises(OSError):
        append_record(tmp_path, record(2))
    monkeypatch.undo()
    append_record(tmp_path, record(3))
    store = ResultsStore(tmp_path)
    store.refresh()
    assert [r.cookie for r in store.results()] == ["t1", "t3"]


def test_the_journal_names_a_browser_test_and_who_measured_each_side(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from webperf3.station import log_changes

    store = ResultsStore(tmp_path)
    append_record(tmp_path, record(1))
    caplog.set_level("INFO", logger="webperf3")
    log_changes(store.refresh(), ["Room 7"])
    assert "browser test (browser, HTTP) recorded from 10.0.0.2, place 'Room 7': download 90.0 Mbit/s (browser received), upload 80.0 Mbit/s (station received)" in caplog.text
