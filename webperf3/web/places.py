"""Places of a survey, two surveys compared, and the printable report:
``/places``, ``/report`` and ``GET /api/places``.

The figures are :mod:`webperf3.places`' (pure); this module only picks the
survey's tests from the store and the book, reads the query, and answers.
``/csv?by=place`` (in :mod:`.exports`) uses :func:`survey_places` too, so
the page, the API, the CSV and the report never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import bottle
from bottle import HTTPResponse

from ..places import WORST_FIRST, PlaceRow, Thresholds, compare_rows, parse_thresholds, place_rows, versions_seen
from ..result import Result
from ..survey import BookView
from .common import json_error, json_response, param

if TYPE_CHECKING:
    from . import Dashboard

ALL = "all"
#: Failed tests listed with their reasons at most (the report's list); the count says how many more.
MAX_FAILURES = 1000


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
        raise json_error(400, f"bad {what!r} parameter {text!r}: expected a survey's number, 'current' or 'all'")
    survey = view.surveys.get(sid)
    if survey is None:
        raise json_error(404, f"there is no survey {sid}" + (" (see /api/surveys)" if view.surveys else ""))
    if survey.undone:
        raise json_error(404, f"survey {sid} (“{survey.name}”) was undone: its tests are back in the survey before it")
    return Chosen(sid, survey.name, sid == view.timeline.current)


def survey_results(dash: Dashboard, view: BookView, chosen: Chosen) -> list[Result]:
    everything = dash.store.results()
    return everything if chosen.id == ALL else view.in_survey(everything, int(chosen.id))


def survey_places(dash: Dashboard, view: BookView, chosen: Chosen, thresholds: Thresholds) -> tuple[list[PlaceRow], list[Result], list]:
    """The survey's rows, its tests and their annotations."""
    members = survey_results(dash, view, chosen)
    notes = view.annotate_all(members)
    return place_rows(members, notes, thresholds), members, notes


def thresholds_param() -> Thresholds:
    try:
        return parse_thresholds(param("red"), param("amber"))
    except ValueError as exc:
        raise json_error(400, str(exc)) from None


def failures(members: list[Result], notes: list) -> tuple[list[dict[str, Any]], int]:
    """The failed tests that are not excluded, newest first, with their reasons."""
    failed = [(r, a) for r, a in zip(members, notes) if r.error is not None and not a.excluded]
    failed.reverse()
    return [
        {
            "id": a.id, "time": r.time, "port": r.port, "place": a.place, "client": r.client,
            "direction": r.direction, "protocol": r.protocol, "error": r.error, "version": r.version,
        }
        for r, a in failed[:MAX_FAILURES]
    ], len(failed)


def totals(rows: list[PlaceRow]) -> dict[str, int]:
    return {
        "places": sum(1 for r in rows if r.tests),
        "tests": sum(r.tests for r in rows),
        "failures": sum(r.failures for r in rows),
        "excluded": sum(r.excluded for r in rows),
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

    def report(self) -> str:
        return self.dash.pages.render("report.tpl", page="report")

    def api(self) -> HTTPResponse:
        """``?survey=`` (number, ``current``, ``all``), ``compare=`` (another
        survey), ``red=``/``amber=`` (Mbit/s), ``failures=1`` (the failed tests)."""
        thresholds = thresholds_param()  # a bad query is a 400 before anything is read
        self.dash.refresh()
        view = self.dash.book.view()
        generation = self.dash.store.generation  # read before the rows: they are at least this new
        chosen = choose_survey(view, param("survey"))
        other = param("compare")
        compared = choose_survey(view, other, "compare") if other is not None else None
        if compared is not None and compared.id == chosen.id:
            raise json_error(400, f"'compare' names the same survey as 'survey' ({chosen.id}): compare two different surveys")
        rows, members, notes = survey_places(self.dash, view, chosen, thresholds)
        answer: dict[str, Any] = {
            "survey": chosen.to_dict(rows),
            "thresholds": thresholds.to_dict(),
            "order": WORST_FIRST,
            "totals": totals(rows),
            "versions": versions_seen(rows),
            "places": [r.to_dict() for r in rows],
            "generation": generation,
            "book_version": view.version,
        }
        if compared is not None:
            before, _, _ = survey_places(self.dash, view, compared, thresholds)
            answer["compare"] = {
                "survey": compared.to_dict(before), "totals": totals(before),
                "versions": versions_seen(before), "places": [r.to_dict() for r in before],
            }
            answer["compared"] = [c.to_dict() for c in compare_rows(rows, before)]
        if param("failures") in ("1", "true", "yes"):
            answer["failures"], answer["failures_total"] = failures(members, notes)
        return json_response(answer)
