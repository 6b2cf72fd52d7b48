"""The log side of the live push: watch the log directory, read what changed.

:class:`LogWatcher` is held by :class:`webperf3.live.server.LiveServer` and
runs in its event loop (the websocket side and the file side are separate
jobs). A ``watchfiles`` watcher over the log directory; when a
``port-*.json`` changes, the store reads only what was appended (in a worker
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
