"""Fixtures of the survey book's tests: real sample logs read by a real store,
and a book in a real SQLite file beside them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.logs import SAMPLES, T_BIDIR, T_REVERSE, T_ROOM_101, T_TCP, T_UDP, read_store
from webperf3.store.record import Result
from webperf3.store.results import ResultsStore
from webperf3.survey import SurveyBook


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
