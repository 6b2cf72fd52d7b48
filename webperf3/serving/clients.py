"""Who a network client is, how many connections it holds, and logging about it
without letting it write the journal.

Shared by the HTTP server (:mod:`.httpserver`), its middleware (:mod:`.guard`)
and the websocket push (:mod:`webperf3.live.server`): each counts connections per client and
refuses the one too many, and each logs a refusal at most once a minute per
client, so 1,000 hostile sockets cost a few journal lines, not 1,000.

Nothing here does I/O; the clock is injectable for tests.
"""

from __future__ import annotations

import ipaddress
import logging
import resource
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T", bound=Hashable)


def client_key(address: str | None) -> str:
    """The unit a per-client limit counts: the IP address, or its /64 for IPv6.

    One IPv6 host has a whole /64 to pick addresses from (privacy addresses
    rotate on their own), so counting single IPv6 addresses would be no limit
    at all. IPv4-mapped IPv6 addresses count as the IPv4 address they carry.
    """
    if not address:
        return "?"
    text = address.split("%", 1)[0]  # a zone id (fe80::1%wlan0)
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return address  # a Unix socket path or something else odd: itself
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class ConnectionBook(Generic[T]):
    """Open connections per client, with a cap per client and one in all.

    Thread-safe. ``admit()`` only answers; the caller ``add()``s the
    connection it keeps and ``remove()``s it once closed (twice is harmless).
    """

    def __init__(self, per_client: int, total: int) -> None:
        if per_client < 1 or total < 1:
            raise ValueError("connection caps must be at least 1")
        self.per_client = per_client
        self.total = total
        self._by_client: dict[str, dict[T, float]] = {}
        self._count = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self._count

    def count(self, key: str) -> int:
        with self._lock:
            return len(self._by_client.get(key, ()))

    def client_full(self, key: str) -> bool:
        with self._lock:
            return len(self._by_client.get(key, ())) >= self.per_client

    def full(self) -> bool:
        return self._count >= self.total

    def add(self, key: str, connection: T, now: float | None = None) -> None:
        with self._lock:
            held = self._by_client.setdefault(key, {})
            if connection not in held:
                held[connection] = time.monotonic() if now is None else now
                self._count += 1

    def remove(self, key: str, connection: T) -> None:
        with self._lock:
            held = self._by_client.get(key)
            if held is None or held.pop(connection, None) is None:
                return
            self._count -= 1
            if not held:
                del self._by_client[key]

    def of(self, key: str) -> list[T]:
        """The connections of one client, oldest first."""
        with self._lock:
            held = self._by_client.get(key, {})
            return sorted(held, key=held.__getitem__)

    def heaviest(self) -> list[T]:
        """The connections of the client holding the most, oldest first."""
        with self._lock:
            if not self._by_client:
                return []
            held = max(self._by_client.values(), key=len)
            return sorted(held, key=held.__getitem__)


class LogLimiter:
    """At most one log line per (what, client) per ``interval`` seconds.

    A suppressed line is counted, and the next line that gets through says
    how many were left out, so nothing is hidden, only summed up.
    """

    def __init__(
        self,
        logger: logging.Logger,
        interval: float = 60.0,
        *,
        max_keys: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.interval = interval
        self.max_keys = max_keys
        self.clock = clock
        self._last: OrderedDict[tuple[str, str], tuple[float, int]] = OrderedDict()
        self._lock = threading.Lock()

    def log(self, level: int, what: str, client: str, message: str, *args: object, exc_info: object = None) -> bool:
        """Log ``message % args`` unless (what, client) was logged lately; True if logged."""
        now = self.clock()
        key = (what, client)
        with self._lock:
            last, suppressed = self._last.get(key, (None, 0))
            if last is not None and now - last < self.interval:
                self._last[key] = (last, suppressed + 1)
                return False
            self._last[key] = (now, 0)
            self._last.move_to_end(key)
            while len(self._last) > self.max_keys:
                self._last.popitem(last=False)
        if suppressed:
            message += " (%d more like this in the last %.0f s)"
            args = (*args, suppressed, self.interval)
        self.logger.log(level, message, *args, exc_info=exc_info)
        return True


class Summarised(logging.Filter):
    """A logger's lines, at most one per ``interval`` seconds; the next one
    that passes says how many were left out. For another library's logger
    whose line repeats with load rather than with news: waitress warns "Task
    queue depth is N" for every request that waits for a worker thread, which
    under a burst is thousands of journal lines a minute."""

    def __init__(self, interval: float = 60.0, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.interval = interval
        self.clock = clock
        self._last: float | None = None
        self._suppressed = 0
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        now = self.clock()
        with self._lock:
            if self._last is not None and now - self._last < self.interval:
                self._suppressed += 1
                return False
            self._last, suppressed, self._suppressed = now, self._suppressed, 0
        if suppressed:
            record.msg = f"{record.getMessage()} (%d more like this in the last %.0f s)"
            record.args = (suppressed, self.interval)
        return True


def summarise(logger_name: str, interval: float = 60.0) -> Summarised:
    """Put one :class:`Summarised` on the named logger (once, however often called)."""
    logger = logging.getLogger(logger_name)
    for existing in logger.filters:
        if isinstance(existing, Summarised):
            return existing
    summary = Summarised(interval)
    logger.addFilter(summary)
    return summary


class RateLimit:
    """At most ``burst`` actions at once per client, then one each
    ``every`` seconds (a token bucket), for what a client may ask often but
    each of which costs every open page a push: a client over it is told
    how long to wait. Bounded: the least recently seen clients are
    forgotten past ``max_keys``. Thread-safe."""

    def __init__(self, burst: int, every: float, *, max_keys: int = 4096, clock: Callable[[], float] = time.monotonic) -> None:
        self.burst = burst
        self.every = every
        self.max_keys = max_keys
        self.clock = clock
        self._tokens: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, as of)
        self._lock = threading.Lock()

    def wait(self, key: str) -> float:
        """0 and one action taken if ``key`` may act now; else the seconds until it may."""
        now = self.clock()
        with self._lock:
            tokens, since = self._tokens.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - since) / self.every)
            if tokens < 1.0:
                self._tokens[key] = (tokens, now)
                return (1.0 - tokens) * self.every
            self._tokens[key] = (tokens - 1.0, now)
            self._tokens.move_to_end(key)
            while len(self._tokens) > self.max_keys:
                self._tokens.popitem(last=False)
            return 0.0


def raise_open_file_limit(wanted: int = 4096) -> int:
    """Raise the soft limit on open descriptors towards ``wanted``, as far as
    the hard limit allows (systemd: soft 1024, hard 524288); the soft limit
    now. Every socket is watched with poll() and epoll, so numbers past 1024
    are fine; what matters is that clients can never take the last ones.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return int(soft) if soft != resource.RLIM_INFINITY else wanted


def socket_budget(open_files: int, reserved: int) -> tuple[int, int]:
    """(web connections, websocket connections) that fit in ``open_files``
    descriptors with ``reserved`` kept for everything else (logs, iperf3's
    pipes, the watcher), so clients can never starve the log reader."""
    room = max(32, open_files - reserved)
    return max(16, min(400, room * 5 // 10)), max(16, min(320, room * 4 // 10))
