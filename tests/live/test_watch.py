"""The log watcher on its own: it keeps a store current from the log
directory, with no websocket server around it."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from tests.support.logs import append_entry
from tests.support.waiting import wait_until
from webperf3.live.watch import LogWatcher
from webperf3.store.results import ResultsStore


def watching(store: ResultsStore, **options) -> tuple[threading.Thread, asyncio.Event, list[asyncio.AbstractEventLoop]]:
    loops: list[asyncio.AbstractEventLoop] = []
    stop = asyncio.Event()

    async def main() -> None:
        loops.append(asyncio.get_running_loop())
        await LogWatcher(store, **options).run(stop)

    # Its own thread and loop: a browser test earlier in the session may
    # leave an event loop running in the main thread.
    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    wait_until(lambda: loops, 5, what="the watcher's loop")
    return thread, stop, loops


def test_an_appended_test_reaches_the_store_without_anyone_refreshing(log_dir: Path):
    store = ResultsStore(log_dir)
    thread, stop, loops = watching(store)
    try:
        time.sleep(0.2)  # watching by now
        append_entry(log_dir, 5201, "extra_data", name="Room 7")
        found = wait_until(lambda: store.results(), 5, what="the appended test in the store")
        assert [r.name for r in found] == ["Room 7"]
    finally:
        loops[0].call_soon_threadsafe(stop.set)
        thread.join(5)
    assert not thread.is_alive(), "the watcher did not stop when asked"


def test_a_log_directory_that_appears_later_is_watched(tmp_path: Path):
    later = tmp_path / "not-yet"
    store = ResultsStore(later)
    thread, stop, loops = watching(store, force_polling=True)
    try:
        later.mkdir()
        append_entry(later, 5202, "tcp")
        assert wait_until(lambda: store.results(), 10, what="the test of a directory made after the start")
    finally:
        loops[0].call_soon_threadsafe(stop.set)
        thread.join(5)
    assert not thread.is_alive()
