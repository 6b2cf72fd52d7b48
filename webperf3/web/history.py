"""The history page: every test of a survey, filtered, sorted and paged on the
server (a phone never downloads 100,000 rows), and the chart's series.

``GET /api/history?survey=&place=&unplaced=&port=&client=&direction=&method=&outcome=&since=&until=&sort=&order=&offset=&limit=``
→ ``{survey, total, offset, limit, sort, order, rows, facets, generation, book_version}``;
``GET /api/history/series?...same filters...&by=port|place`` → the compact
columns of :meth:`webperf3.board.listing.History.series`. ``survey`` is a survey's
id, ``all``, or absent for the current one. A bad parameter is a 400 that
names it; an unknown survey a 404.

The annotated tests of a survey are kept per (store generation, book
version, survey): a filter, sort or page change then costs one pass over
them, not a new join with the book.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import bottle
from bottle import HTTPResponse

from ..board.listing import GROUPINGS, History, QueryError, parse_query
from ..text import printable, whole_number
from .common import json_error, json_response, param

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ..store.record import Result
    from ..survey import Annotation, BookView
    from . import Dashboard

#: Histories kept: the current survey's and a few others a page may be showing,
#: each only as the store and the book are now (see HistoryView.prepared).
CACHED = 4
_PARAMS = ("place", "unplaced", "port", "client", "direction", "method", "outcome", "since", "until", "sort", "order", "offset", "limit")


class HistoryView:
    def __init__(self, dash: Dashboard) -> None:
        self.dash = dash
        self._lock = threading.Lock()
        # survey → (store generation, book version, its history)
        self._cache: dict[int | None, tuple[int, int, History]] = {}

    def route(self, app: bottle.Bottle) -> None:
        app.route("/history", "GET", self.page)
        app.route("/api/history", "GET", self.tests)
        app.route("/api/history/series", "GET", self.series)

    def page(self) -> str:
        return self.dash.pages.render("history.tpl", page="history")

    def prepared(self, view: BookView, sid: int | None) -> tuple[History, int]:
        """The survey's tests annotated and sorted, and the store generation
        they are exactly of (the page skips pushed tests of a generation its
        chart already has: history.js, applyResults). Made once per (store
        generation, book version, survey): with 100,000 tests that is
        hundreds of milliseconds, paid by the start-up warm-up or one request.

        One per survey, of the latest generation and version: a request asks
        of the store and the book as they are now, so an older one is never
        asked for again (kept per generation, each new test left the
        previous history held, up to four, 8 MiB each at 100,000 tests)."""
        with self._lock:
            # An entry is of the generation its results are exactly of.
            generation = self.dash.store.generation
            kept = self._cache.pop(sid, None)
            if kept is not None and kept[:2] == (generation, view.version):
                self._cache[sid] = kept  # the most recently used last
                return kept[2], generation
            kept = None  # let the old one go before the new one is made
            generation, found = self.dash.store.snapshot()  # read together
            if sid is not None:
                found = view.in_survey(found, sid)
            history = History(found, _annotated(view, found))
            history.prepare()  # once, under the lock, for every later request
            self._cache[sid] = (generation, view.version, history)
            while len(self._cache) > CACHED:
                self._cache.pop(next(iter(self._cache)))
            return history, generation

    @property
    def kept(self) -> int:
        """How many histories are kept (for tests and benchmarks)."""
        return len(self._cache)

    def warm_up(self) -> None:
        """The current survey's history, ahead of the first page that asks."""
        view = self.dash.book.view()
        if view.timeline.current is not None:
            self.prepared(view, view.timeline.current)

    # -- the API ------------------------------------------------------------------

    def tests(self) -> HTTPResponse:
        query = self._query()
        history, survey, generation, version = self._history()
        return json_response({
            "survey": survey,
            **history.page(query),
            "facets": history.facets(),
            "generation": generation,
            "book_version": version,
        })

    def series(self) -> HTTPResponse:
        query = self._query()
        by = param("by") or "port"
        if by not in GROUPINGS:
            raise json_error(400, f"bad 'by' parameter {by!r}: expected one of {', '.join(GROUPINGS)}")
        history, survey, generation, version = self._history()
        return json_response({"survey": survey, **history.series(query, by), "generation": generation, "book_version": version})

    # -- shared -----------------------------------------------------------------------

    def _query(self):
        params = {name: param(name) for name in _PARAMS}
        try:
            return parse_query(params)
        except QueryError as exc:
            raise json_error(400, str(exc)) from None

    def _survey_id(self, view) -> int | None:
        """The survey asked for: its id, None for all tests."""
        text = param("survey")
        if text is None:
            if view.timeline.current is None:
                raise json_error(404, "there is no current survey")
            return view.timeline.current
        if text == "all":
            return None
        sid = whole_number(text, 0, 2**63 - 1)  # SQLite's largest row id
        if sid is None:
            raise json_error(400, f"bad 'survey' parameter {printable(text, 40)!r}: expected a survey's id or 'all'")
        if sid not in view.surveys:
            raise json_error(404, f"there is no survey {sid}")
        return sid

    def _history(self) -> tuple[History, dict[str, Any] | None, int, int]:
        dash = self.dash
        dash.refresh()
        view = dash.book.view()
        sid = self._survey_id(view)
        history, generation = self.prepared(view, sid)
        survey = None
        if sid is not None:
            record = view.surveys[sid]
            survey = {**record.to_dict(), "current": sid == view.timeline.current}
        return history, survey, generation, view.version



def _annotated(view: BookView, results: list[Result], batch: int = 4096) -> Iterator[Annotation]:
    """Each result's annotation, made a few thousand at a time as the history
    takes them in: an annotation per test of 100,000 at once cost 15 MiB more
    at the peak, and the history keeps only a few columns of them."""
    for start in range(0, len(results), batch):
        yield from view.annotate_all(results[start : start + batch])
