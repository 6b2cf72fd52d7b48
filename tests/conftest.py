"""Shared test fixtures: the sample logs and a log directory to put them in."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import slowness
from webperf3.store.results import ResultsStore

DATA = Path(__file__).parent / "data"
PROTOTYPE = DATA / "prototype"


def pytest_report_header() -> str:
    return (f"webperf3: deadlines x{slowness.SLOWNESS:.1f} ({slowness.SOURCE}; "
            "tests/slowness.py: 1 on the build machine, 10-30 under qemu-user)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """pytest-timeout's limits are the build machine's too: stretch them alike."""
    if slowness.SLOWNESS == 1:
        return
    default = float(config.getini("timeout") or 0)
    for item in items:
        marker = item.get_closest_marker("timeout")
        seconds = (marker.args[0] if marker.args else marker.kwargs.get("timeout", default)) if marker else default
        if seconds:
            item.add_marker(pytest.mark.timeout(slowness.scaled(float(seconds))), append=False)


def sample(name: str) -> Path:
    """A real iperf3 3.12 server log made on 127.0.0.1 (see tests/data/README.md)."""
    return DATA / f"iperf3.12-{name}.json"


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    path = tmp_path / "logs"
    path.mkdir()
    return path


def install(log_dir: Path, port: int, *sources: Path) -> Path:
    """Concatenate sample logs into ``log_dir/port-P.json`` as iperf3 would."""
    target = log_dir / f"port-{port}.json"
    with target.open("ab") as out:
        for source in sources:
            out.write(source.read_bytes())
    return target


def store_of(log_dir: Path, **ports: list[Path]) -> ResultsStore:
    """A store read from sample logs: ``store_of(log_dir, **{"5201": [a, b]})``."""
    for port, sources in ports.items():
        install(log_dir, int(port), *sources)
    store = ResultsStore(log_dir)
    store.refresh()
    return store

