"""Fixtures of the live push's tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.logs import install, sample
from webperf3.store.results import ResultsStore


@pytest.fixture
def store(log_dir: Path) -> ResultsStore:
    """The "Room 101" sample on port 5201, read by a real store."""
    install(log_dir, 5201, sample("extra_data"))
    store = ResultsStore(log_dir)
    store.refresh()
    return store
