"""The current survey as the metrics count it: its name, its places' tests.

Worked out again only when a test landed or the survey book changed, so a
scrape costs the same with 100 tests as with 100,000 (Prometheus scrapes
every few seconds, for months).
"""

from __future__ import annotations

import threading

from ..store.results import ResultsStore
from ..survey import SurveyBook
from .labels import SurveyCounts


class CurrentSurvey:
    """A callable for :func:`~webperf3.ops.metrics.build_registry`'s ``survey``:
    the current survey's counts, or None when there is no survey."""

    def __init__(self, store: ResultsStore, book: SurveyBook) -> None:
        self.store = store
        self.book = book
        self._lock = threading.Lock()  # two scrapes at once count once
        self._cached: tuple[tuple[int, int], SurveyCounts | None] | None = None

    def __call__(self) -> SurveyCounts | None:
        with self._lock:
            view = self.book.view()
            key = (self.store.generation, view.version)
            if self._cached is not None and self._cached[0] == key:
                return self._cached[1]
            counts = None
            current = view.current
            if current is not None:
                places: dict[str, int] = {}
                tests = 0
                members = view.in_survey(self.store.results())
                # A few thousand at a time: an annotation per test of 100,000
                # at once cost 16 MiB more at the peak of a scrape.
                for start in range(0, len(members), 4096):
                    for annotation in view.annotate_all(members[start : start + 4096]):
                        if annotation.excluded:
                            continue
                        tests += 1
                        if annotation.place:
                            places[annotation.place] = places.get(annotation.place, 0) + 1
                counts = SurveyCounts(name=current.name, places=places, tests=tests)
            self._cached = (key, counts)
            return counts
