"""The log side of the live push: watch the log directory, read what changed.

:class:`LogWatcher` is held by :class:`webperf3.live.server.LiveServer` and
runs in its event loop (the websocket side and the file side are separate
jobs). On Linux an inotify descriptor in the loop (:mod:`.inotify`), which
wakes the station only when a file changes; elsewhere, and when polling is
asked for (network filesystems), a ``watchfiles`` watcher, which wakes every
``STEP_MS`` to look. When a ``port-*.json`` changes, the store reads only what was appended (in a worker
thread) and the store's listeners (the live push among them) hear of it. It
survives the directory's absence and notices it being replaced. Logs as
``webperf3.live``, as it did when it was part of the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path

from watchfiles import Change, awatch

from ..serving.clients import LogLimiter
from . import inotify
from ..store.results import LogDirError, ResultsStore, port_of

log = logging.getLogger("webperf3.live")

# Latency budget (goal: p95 ≤ 100 ms from append to browser). Once a change
# is seen the watcher waits one quiet step for more before reporting, so a
# change is reported ~1-2 steps after it happens; DEBOUNCE_MS caps how long
# a burst of writes can delay the report.
STEP_MS = 20
DEBOUNCE_MS = 100
#: When the watcher has been quiet this long, re-scan the directory anyway:
#: catches anything the OS failed to report and notices a replaced log dir.
RESYNC_MS = 1000
#: With inotify, which misses nothing on a local disk (an overflow of its
#: queue is reported, and read as "look at everything"), the same safety net
#: is spread out: a quiet station wakes for it only this often.
INOTIFY_RESYNC_S = 10.0
#: Polling (network filesystems): how often every log is stat()ed.
POLL_DELAY_MS = 200
#: How often to look for a log directory that does not exist yet.
DIR_RETRY_S = 0.5


def is_log(change: Change, path: str) -> bool:
    """watchfiles filter: only ``port-P.json`` files matter."""
    return port_of(os.path.basename(path)) is not None


def _dir_identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


class LogWatcher:
    """Keeps ``store`` current from its log directory until ``stop`` is set."""

    def __init__(self, store: ResultsStore, *, force_polling: bool = False, errors: LogLimiter | None = None) -> None:
        self.store = store
        self.force_polling = force_polling
        # A failure that repeats on every retry (out of descriptors) is
        # logged once a minute, not once a retry.
        self._errors = errors or LogLimiter(log)
        self._stop: asyncio.Event | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Watch the log directory until ``stop`` is set, surviving its absence."""
        self._stop = stop
        while not stop.is_set():
            identity = await self._wait_for_dir()
            if identity is None:
                return
            try:
                # Catch what was written while nothing watched.
                await self._update(None)
                await self._watch_dir(identity)
            except Exception as exc:
                self._errors.log(logging.ERROR, "watch", "*", "watching %s failed; retrying", self.store.log_dir, exc_info=exc)
                await self._sleep(DIR_RETRY_S)

    async def _wait_for_dir(self) -> tuple[int, int] | None:
        """The directory's identity once it exists; None when stopped first."""
        waiting = False
        while (identity := _dir_identity(self.store.log_dir)) is None:
            if not waiting:
                log.warning("log directory %s does not exist (yet): waiting for it", self.store.log_dir)
                waiting = True
            if await self._sleep(DIR_RETRY_S):
                return None
        if waiting:
            log.info("log directory %s appeared", self.store.log_dir)
        return identity

    async def _sleep(self, seconds: float) -> bool:
        """Sleep unless stopped meanwhile; True if stopped."""
        assert self._stop is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)
        return self._stop.is_set()

    async def _watch_dir(self, identity: tuple[int, int]) -> None:
        if inotify.available() and not self.force_polling and not os.environ.get("WATCHFILES_FORCE_POLLING"):
            try:
                watch = inotify.DirectoryWatch(self.store.log_dir)
            except OSError as exc:  # out of watches or descriptors: watchfiles may still poll
                self._errors.log(logging.WARNING, "inotify", "*", "cannot watch %s with inotify (%s); polling it", self.store.log_dir, exc)
            else:
                with watch:
                    await self._update(None)  # what was written before the watch began
                    await self._watch_events(watch, identity)
                return
        await self._watch_polling(identity)

    async def _watch_events(self, watch: inotify.DirectoryWatch, identity: tuple[int, int]) -> None:
        """Sleep until the kernel reports a change; then gather the changes
        of one burst (iperf3 writes an entry in 4096-byte pieces) until a
        quiet ``STEP_MS``, at most ``DEBOUNCE_MS``, and read them."""
        loop = asyncio.get_running_loop()
        readable = asyncio.Event()
        loop.add_reader(watch.fileno(), readable.set)
        try:
            while True:
                if not await self._either(readable, INOTIFY_RESYNC_S):
                    if self._stop is None or self._stop.is_set():
                        return
                    if _dir_identity(self.store.log_dir) != identity:
                        log.info("log directory %s was removed or replaced", self.store.log_dir)
                        await self._update(None)
                        return
                    await self._update(None)
                    continue
                ports: set[int] = set()
                everything = gone = False
                until = loop.time() + DEBOUNCE_MS / 1000
                while True:
                    readable.clear()
                    batch = watch.read()
                    if batch is not None:
                        ports.update(p for name in batch.names if (p := port_of(name)) is not None)
                        everything = everything or batch.overflow
                        gone = gone or batch.gone
                    left = until - loop.time()
                    if gone or left <= 0 or not await self._either(readable, min(STEP_MS / 1000, left)):
                        break
                if self._stop is None or self._stop.is_set():
                    return
                # The directory's own deletion is reported only once nothing
                # holds it (an open book may): its identity tells at once.
                if gone or _dir_identity(self.store.log_dir) != identity:
                    log.info("log directory %s was removed or replaced", self.store.log_dir)
                    if ports:  # the logs deleted with it leave the store
                        await self._update(ports)
                    await self._update(None)
                    return
                if everything or ports:
                    await self._update(None if everything else ports)
        finally:
            loop.remove_reader(watch.fileno())

    async def _either(self, event: asyncio.Event, timeout: float) -> bool:
        """Wait for *event* or the stop, at most *timeout*; whether *event* is set."""
        assert self._stop is not None
        if event.is_set() or self._stop.is_set():
            return event.is_set()
        waits = [asyncio.ensure_future(event.wait()), asyncio.ensure_future(self._stop.wait())]
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()
        return event.is_set()

    async def _watch_polling(self, identity: tuple[int, int]) -> None:
        changes = awatch(
            self.store.log_dir,
            watch_filter=is_log,
            debounce=DEBOUNCE_MS,
            step=STEP_MS,
            stop_event=self._stop,
            rust_timeout=RESYNC_MS,
            yield_on_timeout=True,
            # None, not False, so WATCHFILES_FORCE_POLLING still works.
            force_polling=True if self.force_polling else None,
            poll_delay_ms=POLL_DELAY_MS,
            recursive=False,
        )
        async with contextlib.aclosing(changes):
            async for batch in changes:
                if batch:
                    ports = {p for _, path in batch if (p := port_of(os.path.basename(path))) is not None}
                    await self._update(ports)
                    continue
                # Quiet for RESYNC_MS. A removed or replaced directory sends
                # no more events: start again on the new one.
                if _dir_identity(self.store.log_dir) != identity:
                    log.info("log directory %s was removed or replaced", self.store.log_dir)
                    await self._update(None)
                    return
                await self._update(None)

    async def _update(self, ports: set[int] | None) -> None:
        """Read the changed logs (every log if None); the store's listeners
        tell the clients. In a worker thread: a big append must not stall the
        loop."""
        await asyncio.to_thread(self._refresh, ports)

    def _refresh(self, ports: set[int] | None) -> None:
        if ports is None:
            try:
                self.store.refresh()
            except LogDirError as exc:
                log.debug("cannot rescan: %s", exc)
            return
        for port in sorted(ports):
            self.store.refresh_port(port)


def quiet_watchfiles() -> None:
    # watchfiles logs "N changes detected" at INFO on every append: that
    # would be a journal line per iperf3 test. Left alone if configured.
    logger = logging.getLogger("watchfiles.main")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.WARNING)
