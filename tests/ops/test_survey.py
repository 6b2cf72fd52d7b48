"""The current survey as the metrics count it: worked out again only when a
test lands or the survey book changes."""

from __future__ import annotations

from pathlib import Path

from tests.support.logs import append_entry, install, sample
from webperf3.ops.survey import CurrentSurvey
from webperf3.store.results import ResultsStore
from webperf3.survey import SurveyBook


def test_counts_follow_new_tests_and_book_changes_and_are_cached_between(log_dir: Path):
    install(log_dir, 5201, sample("extra_data"), sample("tcp"))
    store = ResultsStore(log_dir)
    store.refresh()
    with SurveyBook.open(log_dir) as book:
        survey = CurrentSurvey(store, book)
        first = survey()
        assert first is not None and first.tests == 2 and dict(first.places) == {"Room 101": 1}
        assert survey() is first  # nothing changed: not counted again

        append_entry(log_dir, 5201, "tcp", name="Hall")
        store.refresh()
        after_test = survey()
        assert after_test is not first and after_test.tests == 3 and dict(after_test.places) == {"Room 101": 1, "Hall": 1}

        book.start("Second floor")
        fresh = survey()
        assert fresh.name == "Second floor" and fresh.tests == 0 and dict(fresh.places) == {}
