"""What every page, push and export shows: the tests iperf3 logged (the
results store) joined with what people added (the survey book).

The store and the book each stay one thing: the logs are the record and are
never written; the book never reads a log. This module is the one place
where the two meet, so a test has the same place, survey and id on the
dashboard, in the websocket's messages, in ``/api/results`` and in the CSV.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from ..exports.results import Notes
from ..store.record import Result
from ..store.results import ResultsStore
from ..survey import Annotation, BookView, SurveyBook
from .leasing import Leases


def annotated(result: Result, annotation: Annotation) -> dict[str, Any]:
    """A result as the API sends it: iperf3's figures plus the book's place,
    its source, the survey and the test's id. ``name`` stays the client's raw
    ``--extra-data``."""
    return {**result.to_dict(), **annotation.to_dict()}


class Board:
    """The current survey's table, and results as people see them."""

    def __init__(self, store: ResultsStore, book: SurveyBook, ports: Callable[[], list[int]] = lambda: []) -> None:
        self.store = store
        self.book = book
        self.ports = ports
        # Which device holds which iperf3 port: here, because the board is what
        # the station hands both the web views (heartbeats) and the live push
        # (the message when holders change); see leases.py.
        self.leases = Leases(store, ports)

    def view(self) -> BookView:
        return self.book.view()

    # -- results -------------------------------------------------------------

    def annotate(self, results: Sequence[Result], view: BookView | None = None) -> list[dict[str, Any]]:
        view = view or self.book.view()
        return [annotated(r, a) for r, a in zip(results, view.annotate_all(results))]

    def notes(self, results: Sequence[Result], view: BookView | None = None) -> list[Notes]:
        """The exports' notes: each result's place, its source, the survey's name."""
        view = view or self.book.view()
        names = {sid: survey.name for sid, survey in view.surveys.items()}
        return [
            Notes(a.id, a.place, a.place_source, names.get(a.survey, "") if a.survey is not None else "", a.excluded, a.survey)
            for a in view.annotate_all(results)
        ]

    def iter_notes(self, results: Sequence[Result], view: BookView | None = None, batch: int = 256) -> Iterator[Notes]:
        """:meth:`notes`, made ``batch`` at a time as they are read, all of one
        book view: a download holds a few hundred notes, never one per test
        of the survey (100,000 of them cost some 20 MiB)."""
        view = view or self.book.view()
        for start in range(0, len(results), batch):
            yield from self.notes(results[start : start + batch], view)

    # -- the table -------------------------------------------------------------

    def known_ports(self) -> list[int]:
        """The servers' ports and every log's."""
        return sorted(set(self.store.ports) | set(self.ports()))

    def rows(self, ports: Iterable[int] | None = None, view: BookView | None = None) -> list[dict[str, Any]]:
        """One row per port of the current survey: its newest good and failed
        tests there (excluded ones skipped), annotated, and its counts."""
        view = view or self.book.view()
        return [self._row(view, port) for port in (self.known_ports() if ports is None else sorted(ports))]

    def _row(self, view: BookView, port: int) -> dict[str, Any]:
        latest = view.latest(self.store.results(port=port))
        shown = [r for r in (latest.success, latest.failure) if r is not None]
        by_result = dict(zip((id(r) for r in shown), self.annotate(shown, view)))
        return {
            "port": port,
            "latest": by_result.get(id(latest.success)) if latest.success else None,
            "failure": by_result.get(id(latest.failure)) if latest.failure else None,
            "tests": latest.tests,
            "excluded": latest.excluded,
        }

    def survey(self, view: BookView | None = None) -> dict[str, Any] | None:
        """The current survey, and whether its start (or reopening) can be undone."""
        view = view or self.book.view()
        current = view.current
        if current is None:
            return None
        last = view.timeline.last
        return {
            **current.to_dict(),
            # When it last became current: its tests from then on are on the table.
            "since": 0.0 if last is None or last.kind == "initial" else float(last.started_at),
            "can_undo": last is not None and last.kind != "initial",
        }

    def state(self) -> dict[str, Any]:
        """The table as a page loads it: ``/api/latest`` and the websocket's snapshot."""
        view = self.book.view()
        generation = self.store.generation  # read before the rows: the rows are at least this new
        survey = self.survey(view)
        return {
            "rows": self.rows(view=view),
            "survey": survey,
            "generation": generation,
            "book_version": view.version,
            "can_undo": bool(survey and survey["can_undo"]),
        }
