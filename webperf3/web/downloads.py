"""Downloads for a spreadsheet or a script: ``/csv``, ``/xlsx`` and ``/api/results.json``.

Each is streamed from a snapshot of the store, so a large export is never
whole in memory and the store may go on changing while it is sent.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

import bottle
from bottle import response

from ..exports.results import csv_chunks, json_chunks
from ..exports.placetable import compare_csv, places_csv
from ..survey.plans import spot_columns
from ..board.tally import compare_rows
from ..store.record import Result
from ..exports.workbook import FILE_NAME as XLSX_NAME
from ..exports.workbook import MEDIA_TYPE as XLSX_TYPE
from ..exports.workbook import open_xlsx
from ..ops.memory import give_back_freed_memory
from . import places
from .common import JSON_TYPE, dumps, json_error, param, result_filters

if TYPE_CHECKING:
    from . import Dashboard

CSV_NAME = "iperf3_log.csv"
#: How long an Excel download waits for another's workbook to be made.
XLSX_WAIT_S = 60.0
PLACES_CSV_NAME = "iperf3_places.csv"
COMPARE_CSV_NAME = "iperf3_places_compared.csv"


class Downloads:
    def __init__(self, dash: Dashboard) -> None:
        self.dash = dash
        self._building = threading.Lock()  # one workbook made at a time

    def route(self, app: bottle.Bottle) -> None:
        app.route("/csv", "GET", self.csv)
        app.route("/xlsx", "GET", self.xlsx)
        app.route("/api/results.json", "GET", self.results_json)

    def csv(self) -> Iterator[str]:
        by = param("by")
        if by is not None:
            return self.csv_by(by)
        self.dash.refresh()
        found = self.dash.store.results()  # a snapshot: the store may change while this streams
        response.content_type = "text/csv; charset=utf-8"
        response.set_header("Content-Disposition", f"attachment; filename={CSV_NAME}")
        response.set_header("Cache-Control", "no-store")
        # The notes are made as the rows are written: a download to a client
        # that reads nothing holds the snapshot and one piece, never the export.
        return csv_chunks(found, self.dash.board.iter_notes(found), self.dash.csv_figures)

    def csv_by(self, by: str) -> Iterator[str]:
        """``?by=place``: one line per place of ``survey=`` (default the current
        one; ``all``), the columns of ``/api/places``' rows; with ``compare=``
        another survey, the two side by side with the change (``compared``)."""
        if by != "place":
            raise json_error(400, f"bad 'by' parameter {by!r}: the CSV is by test (no 'by') or by=place")
        thresholds = places.thresholds_param()
        self.dash.refresh()
        view = self.dash.book.view()
        chosen = places.choose_survey(view, param("survey"))
        compared = places.choose_compare(view, chosen)
        rows, _ = places.survey_places(self.dash, view, chosen, thresholds)
        response.content_type = "text/csv; charset=utf-8"
        response.set_header("Cache-Control", "no-store")
        if compared is None:
            response.set_header("Content-Disposition", f"attachment; filename={PLACES_CSV_NAME}")
            spots, plans = self.dash.book.spots(), {p.id: p for p in self.dash.book.plans()}
            return places_csv(rows, chosen.name, lambda place: spot_columns(place, spots, plans))
        before, _ = places.survey_places(self.dash, view, compared, thresholds)
        response.set_header("Content-Disposition", f"attachment; filename={COMPARE_CSV_NAME}")
        return compare_csv(compare_rows(rows, before), chosen.name, compared.name)

    def xlsx(self):
        """Download for Excel: the workbook is built whole into an unlinked
        temporary file before anything is sent, so a failure is an error
        status, never half a file; then it is sent from that file.

        One workbook is built at a time (another request waits for it, up to
        :data:`XLSX_WAIT_S`): building 100,000 tests takes a core for seconds
        and tens of MB of XlsxWriter's files on disk, and the downloads the
        guard lets through at once (four) would each make their own."""
        self.dash.refresh()
        found = self.dash.store.results()
        if not self._building.acquire(timeout=XLSX_WAIT_S):
            raise json_error(503, "an Excel workbook is being made for another download: try again in a minute", **{"Retry-After": "60"})
        try:
            workbook = open_xlsx(found, notes=self.dash.board.iter_notes(found), spots=self._spot_rows())
        finally:
            give_back_freed_memory()  # else each server thread that made one keeps 5 MiB
            self._building.release()
        response.content_type = XLSX_TYPE
        response.set_header("Content-Disposition", f"attachment; filename={XLSX_NAME}")
        response.set_header("Content-Length", str(os.fstat(workbook.fileno()).st_size))
        response.set_header("Cache-Control", "no-store")
        return workbook  # the WSGI server's file_wrapper sends it and closes it

    def _spot_rows(self) -> list[tuple[object, ...]]:
        """Every place on a floor plan, for the workbook's sheet of them."""
        spots, plans = self.dash.book.spots(), {p.id: p for p in self.dash.book.plans()}
        rows = []
        for spot in sorted(spots.values(), key=lambda s: (s.plan, s.place.casefold())):
            c = spot_columns(spot.place, spots, plans)
            rows.append((spot.place, c["plan_name"], c["x"], c["y"], c["x_m"], c["y_m"]))
        return rows

    def results_json(self) -> Iterator[str]:
        return json_download(self.dash)


def filtered_results(dash: Dashboard) -> list[Result]:
    filters = result_filters()  # a bad one is a 400 before anything is read
    client = filters.pop("client", None)
    dash.refresh()
    found = dash.store.results(**filters)
    return found if client is None else [r for r in found if r.client == client]


def json_download(dash: Dashboard) -> Iterator[str]:
    """The JSON export: a bare array, like ``webperf3 export --format json``."""
    found = filtered_results(dash)
    response.content_type = JSON_TYPE
    response.set_header("Content-Disposition", "attachment; filename=iperf3_log.json")
    return json_chunks(found, dumps=dumps, notes=dash.board.iter_notes(found))
