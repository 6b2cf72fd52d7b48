"""The live push's inotify watch (webperf3/live/inotify.py), on a real directory."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from webperf3.live import inotify

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux") or not inotify.available(), reason="inotify is Linux's")


def test_nothing_waiting_reads_as_none_and_changes_as_the_names_that_changed(tmp_path: Path) -> None:
    with inotify.DirectoryWatch(tmp_path) as watch:
        assert watch.read() is None  # never blocks: the loop calls it only when readable
        (tmp_path / "port-5201.json").write_bytes(b"{}\n")
        (tmp_path / "notes.txt").write_bytes(b"x")
        batch = watch.read()
        assert batch is not None and batch.names == {"port-5201.json", "notes.txt"}
        assert not batch.overflow and not batch.gone


def test_the_directory_removed_while_something_holds_it_is_reported_at_once(tmp_path: Path) -> None:
    # The kernel reports a directory's own deletion only once nothing holds
    # it; its parent's entry going is reported at once.
    logs = tmp_path / "logs"
    logs.mkdir()
    with inotify.DirectoryWatch(logs) as watch:
        held = os.open(logs, os.O_RDONLY)
        try:
            logs.rmdir()
            batch = watch.read()
            assert batch is not None and batch.gone
        finally:
            os.close(held)


def test_a_queue_that_overflowed_says_so(tmp_path: Path) -> None:
    # Then nothing can be known of what changed: the watcher reads every log.
    limit = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    if limit > 100_000:
        pytest.skip(f"max_queued_events is {limit}: too many files to make")
    with inotify.DirectoryWatch(tmp_path) as watch:
        for i in range(limit // 2 + 10):  # a create and a delete each
            path = tmp_path / f"f{i}"
            path.touch()
            path.unlink()
        batch = watch.read()
        assert batch is not None and batch.overflow


def test_a_directory_that_cannot_be_watched_is_an_error_that_says_which(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="missing"):
        inotify.DirectoryWatch(tmp_path / "missing")
