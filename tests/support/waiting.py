"""Waiting in tests: :func:`wait_until`, the one poll with a deadline, and how
much slower than the build machine this one runs Python, so that every
deadline stretches with it.

The deadlines in the tests ("the station answers within 15 s", "the server
is back within 3 s") were set on the project's x86-64 build machine, where
they hold with a wide margin. A Raspberry Pi runs Python several times
slower, and ARM under qemu-user 10-30 times slower, so the same waits miss
there although nothing is wrong. Every wait that is a deadline (not a
measured figure) goes through :func:`scaled`. A condition that never comes
true still fails, only later.

The factor is measured once per session: the best of five runs of a fixed
pure-Python loop, against what it takes on the build machine. It is never
below 1 (a faster machine keeps the deadlines as set) and never above 40.
``WEBPERF3_TEST_SLOWNESS=N`` sets it instead; pytest's header shows it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

#: Seconds the loop below takes on the build machine (2 cores, Python 3.11:
#: 0.021 s, best of five, idle or not), rounded up.
REFERENCE_SECONDS = 0.025
MAX_FACTOR = 40.0


def _loop() -> float:
    started = time.perf_counter()
    x = 0
    for i in range(300_000):
        x += i * i % 7
    return time.perf_counter() - started


def measure() -> float:
    """This machine's factor: 1 on the build machine, 10-30 under qemu-user."""
    best = min(_loop() for _ in range(5))
    return min(MAX_FACTOR, max(1.0, best / REFERENCE_SECONDS))


def _factor() -> tuple[float, str]:
    given = os.environ.get("WEBPERF3_TEST_SLOWNESS", "").strip()
    if given:
        try:
            return max(1.0, float(given)), "WEBPERF3_TEST_SLOWNESS"
        except ValueError:
            raise SystemExit(f"WEBPERF3_TEST_SLOWNESS must be a number, not {given!r}") from None
    return measure(), "measured"


SLOWNESS, SOURCE = _factor()


def scaled(seconds: float) -> float:
    """A deadline of *seconds* on the build machine, on this one."""
    return seconds * SLOWNESS


def wait_until(condition: Callable[[], T], timeout: float = 5.0, interval: float = 0.05, what: str = "condition") -> T:
    """Poll *condition* until it returns something truthy, and return that.

    *timeout* is the build machine's deadline, stretched on slower ones; past
    it, AssertionError naming *what* (so ``assert wait_until(...)`` and a bare
    ``wait_until(...)`` fail alike). The condition is tried once more at the
    deadline, so a slow last poll still counts.
    """
    timeout = scaled(timeout)
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)
