"""Fixtures of the fleet's tests: fleets of real iperf3 servers on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.iperf3 import FAST
from webperf3.iperf3.fleet.servers import ServerFleet


@pytest.fixture
def make_fleet(no_iperf3_left: None, tmp_path: Path) -> Iterator[Callable[..., ServerFleet]]:
    """Build fleets on 127.0.0.1 logging under tmp_path (or the ``log_dir``
    given); stopped after the test even when it fails, before no_iperf3_left
    looks."""
    fleets: list[ServerFleet] = []

    def make(ports: list[int], log_dir: Path | None = None, **options) -> ServerFleet:
        options.setdefault("bind", "127.0.0.1")
        options.setdefault("backoff", FAST)
        options.setdefault("poll_interval", 0.1)
        fleet = ServerFleet(ports, log_dir or tmp_path / "logs", **options)
        fleets.append(fleet)
        return fleet

    yield make
    for fleet in fleets:
        fleet.stop()
