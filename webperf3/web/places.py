"""Places of a survey, two surveys compared, and the printable report:
``/places``, ``/report`` and ``GET /api/places``.

The figures are :mod:`webperf3.board.tally`' (pure); this module only picks the
survey's tests from the store and the book, reads the query, and answers.
``/csv?by=place`` (in :mod:`.exports`) uses :func:`survey_places` too, so
the page, the API, the CSV and the report never disagree.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import bottle
from bottle import HTTPResponse

from ..board.tally import WORST_FIRST, PlaceRow, PlaceTally, Thresholds, compare_rows, parse_thresholds, versions_seen
from ..store.record import Result
from ..survey import BookView
from ..survey.plans import spot_columns
from ..text import printable
from .common import json_error, json_response, param

if TYPE_CHECKING:
    from . import Dashboard

ALL = "all"
#: Failed tests listed with their reasons at most (the report's list); the count says how many more.
MAX_FAILURES = 1000
#: Tests annotated at once while a tally is made.
ANNOTATE_AT_ONCE = 4096


@dataclass(frozen=True)
class Chosen:
    """A survey picked by the query: a survey's number, or every test (``all``)."""

    id: int | str  # the survey's number, or "all"
    name: str
    current: bool

    def to_dict(self, rows: list[PlaceRow]) -> dict[str, Any]:
        firsts = [r.first for r in rows if r.first is not None]
        lasts = [r.last for r in rows if r.last is not None]
        return {
            "id": self.id, "name": self.name, "current": self.current,
            "first_test": min(firsts) if firsts else None, "last_test": max(lasts) if lasts else None,
        }


def choose_survey(view: BookView, text: str | None, what: str = "survey") -> Chosen:
    """``survey=`` (or ``compare=``): a number, ``current`` (the default) or ``all``; 400/404 say what is wrong."""
    if text is None or text == "current":
        sid = view.timeline.current
        if sid is None:
            raise json_error(404, "there is no current survey (the survey book has no timeline)")
    elif text == ALL:
        return Chosen(ALL, "All surveys", False)
    elif text.isascii() and text.isdigit() and len(text) < 10:
        sid = int(text)
    else:
        raise json_error(400, f"bad {what!r} parameter {printable(text, 40)!r}: expected a survey's number, 'current' or 'all'")
    survey = view.surveys.get(sid)
    if survey is None:
        raise json_error(404, f"there is no survey {sid}" + (" (see /api/surveys)" if view.surveys else ""))
    if survey.undone:
        raise json_error(404, f"survey {sid} (“{survey.name}”) was undone: its tests are back in the survey before it")
    return Chosen(sid, survey.name, sid == view.timeline.current)


def survey_results(dash: Dashboard, view: BookView, chosen: Chosen) -> list[Result]:
    everything = dash.store.results()
    return everything if chosen.id == ALL else view.in_survey(everything, int(chosen.id))


@dataclass
class _Kept:
    version: int  # the book's version it was made with
    tally: PlaceTally = field(default_factory=PlaceTally)
    count: int = 0  # how many of the survey's tests (in time order) it holds
    last: Result | None = None  # the last of them, to tell that they are still the first ``count``


class Tallies:
    """Each survey's tally, kept while the book does not change, so a
    request adds only the tests logged since the last one: annotating and
    adding up a long survey's 100,000 tests costs hundreds of milliseconds
    on a Pi-class CPU, on every request and from every open page.

    The store's results only ever grow in time order, nearly always at the
    end; when the kept tests are no longer the survey's first ones (a test
    logged late landed among them, or a log was rewritten), the tally is
    made afresh.

    One tally per survey, of the book's latest version: every request asks
    of the book as it is now, so a tally of an older version is never asked
    for again (kept per version, up to eight were held, each 13 MiB once
    clients had named 42,000 places)."""

    MAX_KEPT = 4  # surveys: the current one, one compared with it, all tests, one more

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: dict[int | str, _Kept] = {}

    @property
    def kept(self) -> int:
        """How many tallies are kept (for tests and benchmarks)."""
        return len(self._kept)

    def rows(self, view: BookView, chosen: Chosen, members: list[Result], thresholds: Thresholds) -> list[PlaceRow]:
        with self._lock:
            return self._tally(view, chosen, members).rows(thresholds)

    def fill(self, view: BookView, chosen: Chosen, members: list[Result]) -> None:
        """Add up the survey's tests ahead of the first request (no rows made)."""
        with self._lock:
            self._tally(view, chosen, members)

    def _tally(self, view: BookView, chosen: Chosen, members: list[Result]) -> PlaceTally:
        kept = self._kept.pop(chosen.id, None)
        if (
            kept is None or kept.version != view.version or kept.count > len(members)
            or (kept.count and members[kept.count - 1] is not kept.last)
        ):
            kept = _Kept(view.version)
        new = members[kept.count :]
        # Annotated a few thousand at a time: an annotation per test of
        # 100,000 at once cost 15 MiB more at the peak, for a moment.
        for start in range(0, len(new), ANNOTATE_AT_ONCE):
            batch = new[start : start + ANNOTATE_AT_ONCE]
            kept.tally.add(batch, view.annotate_all(batch))
        if new:
            kept.count, kept.last = len(members), members[-1]
        self._kept[chosen.id] = kept  # the most recently used last
        while len(self._kept) > self.MAX_KEPT:
            del self._kept[next(iter(self._kept))]
        return kept.tally


def survey_places(dash: Dashboard, view: BookView, chosen: Chosen, thresholds: Thresholds) -> tuple[list[PlaceRow], list[Result]]:
    """The survey's rows (worst first) and its tests."""
    members = survey_results(dash, view, chosen)
    return _tallies(dash).rows(view, chosen, members, thresholds), members


def _tallies(dash: Dashboard) -> Tallies:
    return dash.place_tallies  # one per Dashboard: /csv?by=place shares the API's


def choose_compare(view: BookView, chosen: Chosen) -> Chosen | None:
    """``compare=``, when given: another survey than *chosen* (400/404 say what is wrong)."""
    other = param("compare")
    if other is None:
        return None
    compared = choose_survey(view, other, "compare")
    if compared.id == chosen.id:
        raise json_error(400, f"'compare' names the same survey as 'survey' ({chosen.id}): compare two different surveys")
    return compared


def thresholds_param() -> Thresholds:
    try:
        return parse_thresholds(param("red"), param("amber"))
    except ValueError as exc:
        raise json_error(400, str(exc)) from None


def failures(view: BookView, members: list[Result]) -> tuple[list[dict[str, Any]], int]:
    """The failed tests that are not excluded, newest first, with their reasons
    (raw and in plain words). A test the station cut is not a failure."""
    tried = [r for r in members if r.failed]
    failed = [(r, a) for r, a in zip(tried, view.annotate_all(tried)) if not a.excluded]
    failed.reverse()
    return [
        {
            "id": a.id, "time": r.time, "port": r.port, "place": a.place, "client": r.client,
            "direction": r.direction, "protocol": r.protocol, "error": r.error, "error_plain": r.error_plain,
            "version": r.version,
        }
        for r, a in failed[:MAX_FAILURES]
    ], len(failed)


def totals(rows: list[PlaceRow]) -> dict[str, int]:
    """``places`` counts named places only: the tests with no place are
    ``unplaced_tests``, never a place."""
    return {
        "places": sum(1 for r in rows if r.tests and r.place is not None),
        "tests": sum(r.tests for r in rows),
        "failures": sum(r.failures for r in rows),
        "excluded": sum(r.excluded for r in rows),
        "interrupted": sum(r.interrupted for r in rows),
        "unplaced_tests": sum(r.tests for r in rows if r.place is None),
    }


class Places:
    def __init__(self, dash: Dashboard) -> None:
        self.dash = dash

    def route(self, app: bottle.Bottle) -> None:
        app.route("/places", "GET", self.page)
        app.route("/report", "GET", self.report)
        app.route("/api/places", "GET", self.api)

    def page(self) -> str:
        return self.dash.pages.render("places.tpl", page="places")

    def warm_up(self) -> None:
        """The current survey's tally, ahead of the first page that asks."""
        view = self.dash.book.view()
        if view.timeline.current is not None:
            chosen = choose_survey(view, None)
            _tallies(self.dash).fill(view, chosen, survey_results(self.dash, view, chosen))

    def report(self) -> str:
        return self.dash.pages.render("report.tpl", page="report")

    def _rows(self, rows: list[PlaceRow]) -> list[dict[str, Any]]:
        """Each row, with where its place is on a floor plan (``plan``, ``x``, ``y``, metres)."""
        spots, plans = self.dash.book.spots(), {p.id: p for p in self.dash.book.plans()}
        return [{**r.to_dict(), **spot_columns(r.place, spots, plans)} for r in rows]

    def api(self) -> HTTPResponse:
        """``?survey=`` (number, ``current``, ``all``), ``compare=`` (another
        survey), ``red=``/``amber=`` (Mbit/s), ``failures=1`` (the failed tests)."""
        thresholds = thresholds_param()  # a bad query is a 400 before anything is read
        self.dash.refresh()
        view = self.dash.book.view()
        generation = self.dash.store.generation  # read before the rows: they are at least this new
        chosen = choose_survey(view, param("survey"))
        compared = choose_compare(view, chosen)
        rows, members = survey_places(self.dash, view, chosen, thresholds)
        answer: dict[str, Any] = {
            "survey": chosen.to_dict(rows),
            "thresholds": thresholds.to_dict(),
            "order": WORST_FIRST,
            "totals": totals(rows),
            "versions": versions_seen(rows),
            "places": self._rows(rows),
            "generation": generation,
            "book_version": view.version,
        }
        if compared is not None:
            before, _ = survey_places(self.dash, view, compared, thresholds)
            answer["compare"] = {
                "survey": compared.to_dict(before), "totals": totals(before),
                "versions": versions_seen(before), "places": self._rows(before),
            }
            answer["compared"] = [c.to_dict() for c in compare_rows(rows, before)]
        if param("failures") in ("1", "true", "yes"):
            answer["failures"], answer["failures_total"] = failures(view, members)
        return json_response(answer)
