"""Shared test fixtures: the sample logs and a log directory to put them in."""

from __future__ import annotations

from pathlib import Path

import pytest

from webperf3.results import ResultsStore

DATA = Path(__file__).parent / "data"
PROTOTYPE = DATA / "prototype"


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

