"""The fixtures and hooks every test may use. Helpers live in tests/support/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import waiting
from tests.support.processes import iperf3_children, kill_iperf3_children


def pytest_report_header() -> str:
    return (f"webperf3: deadlines x{waiting.SLOWNESS:.1f} ({waiting.SOURCE}; "
            "tests/support/waiting.py: 1 on the build machine, 10-30 under qemu-user)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """pytest-timeout's limits are the build machine's too: stretch them alike."""
    if waiting.SLOWNESS == 1:
        return
    default = float(config.getini("timeout") or 0)
    for item in items:
        marker = item.get_closest_marker("timeout")
        seconds = (marker.args[0] if marker.args else marker.kwargs.get("timeout", default)) if marker else default
        if seconds:
            item.add_marker(pytest.mark.timeout(waiting.scaled(float(seconds))), append=False)


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    path = tmp_path / "logs"
    path.mkdir()
    return path


@pytest.fixture
def no_iperf3_left() -> Iterator[None]:
    """Fail the test if it leaves an iperf3 child behind, and kill it so one
    failure does not cascade into the next test. Use it with
    ``pytestmark = pytest.mark.usefixtures("no_iperf3_left")``."""
    yield
    try:
        waiting.wait_until(lambda: not iperf3_children(), timeout=1.0, what="iperf3 children to end")
    except AssertionError:
        pytest.fail(f"the test left iperf3 children behind (killed now): {kill_iperf3_children()}")
