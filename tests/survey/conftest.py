"""Fixtures of the survey book's tests: real sample logs read by a real store,
and a book in a real SQLite file beside them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import install, sample
from webperf3.store.record import Result
from webperf3.store.results import ResultsStore
from webperf3.survey import SurveyBook

#: Start times of the samples (iperf3 3.12 on 127.0.0.1, see tests/data/README.md).
T_TCP = 1795640507  # no --extra-data
T_REVERSE = 1795640509
T_BIDIR = 1795640511
T_UDP = 1795640517
T_ROOM_101 = 1795640521  # --extra-data "Room 101"
SAMPLES = ("tcp", "reverse", "bidir", "udp", "extra_data")


def read_store(log_dir: Path, *names: str, port: int = 5201) -> ResultsStore:
    """The samples, each as the next test in ``port-<port>.json``, read by a store."""
    install(log_dir, port, *(sample(n) for n in names))
    store = ResultsStore(log_dir)
    store.refresh()
    return store


@pytest.fixture
def store(log_dir: Path) -> ResultsStore:
    return read_store(log_dir, *SAMPLES)


@pytest.fixture
def results(store: ResultsStore) -> list[Result]:
    found = store.results()
    assert [r.time for r in found] == [T_TCP, T_REVERSE, T_BIDIR, T_UDP, T_ROOM_101]
    return found


@pytest.fixture
def book(log_dir: Path) -> Iterator[SurveyBook]:
    with SurveyBook.open(log_dir) as opened:
        yield opened


def by_time(results: list[Result], t: float) -> Result:
    return next(r for r in results if r.time == t)
