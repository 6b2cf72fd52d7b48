"""``/csv?by=place``: the places table (:mod:`webperf3.board.tally`) as CSV, and
with ``compare=`` the two surveys side by side.

The same columns as ``/api/places``' rows, each figure named for the side
that measured it as the per-test CSV's later columns are (see
:mod:`webperf3.exports.results`): an upload is what the station received, a download
what the station sent unless ``Download measured by`` says the client
received it, and a UDP download's jitter and loss, the client's alone, are
``unknown`` where the log does not hold them. Text from the network goes
through the same formula guard. A UDP download the station sent is shown but not
graded (``Download not graded because``); the tests with no place come last,
never ranked among the places.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator

from .results import CHUNK_CHARS, MEASURED_BY, UNKNOWN, iso_time, safe_text
from ..board.tally import Change, ComparedRow, PlaceRow, Side
from ..survey.plans import SPOT_COLUMNS

SPOT_HEADER = ("Plan", "X (fraction of the plan)", "Y (fraction of the plan)", "X (m)", "Y (m)")
#: A place's spot columns, by :func:`webperf3.survey.plans.spot_columns`' keys.
_SPOT_KEYS = tuple(k for k in SPOT_COLUMNS if k != "plan")

NO_PLACE = "(no place)"

PLACES_HEADER = (
    "Place",
    "Tests",
    "Failures",
    "Excluded",
    "First test",
    "Last test",
    "Download tests",
    "Download median (bps)",
    "Download min (bps)",
    "Download max (bps)",
    "Download measured by",
    "Upload tests",
    "Upload median (bps, station received)",
    "Upload min (bps, station received)",
    "Upload max (bps, station received)",
    "Upload jitter median (ms, station)",
    "Upload loss median (%, station)",
    "Download jitter median (ms, client)",
    "Download loss median (%, client)",
    "Worst median (bps)",
    "Grade",
    "iperf3 versions",
    "Survey",
    "Interrupted by the station",
    "UDP downloads not graded (station sent)",
    "Download not graded because",
    # Where the place is on a floor plan (survey/plans.py): fractions of the
    # plan's width and height from its top left corner, metres where it has a scale.
    *SPOT_HEADER,
    # Browser tests (browser, HTTP): apart from the iperf3 figures, never in their medians.
    "Browser tests",
    "Browser download median (bps, browser received)",
    "Browser upload median (bps, station received)",
    "Browser latency idle (ms, median)",
    "Browser latency during download (ms, median)",
    "Browser latency during upload (ms, median)",
    # "browser, HTTP" where no iperf3 figure graded the place: its worst median and grade are the browser's.
    "Graded by",
)

_MEASURED = {**MEASURED_BY, "mixed": "both (station sent / client received)"}


def _cell(value: float | int | None) -> object:
    return "" if value is None else value


def spot_cells(spot: dict | None) -> tuple[object, ...]:
    """The spot columns of a place (:func:`~webperf3.survey.plans.spot_columns`); blank when on no plan."""
    if not spot or spot.get("plan") is None:
        return ("",) * len(SPOT_HEADER)
    return tuple("" if spot[k] is None else (safe_text(spot[k]) if k == "plan_name" else spot[k]) for k in _SPOT_KEYS)


def place_row(row: PlaceRow, survey_name: str, spot: dict | None = None) -> tuple[object, ...]:
    # Only the client measures a UDP download's quality: "unknown" where it was not logged, never blank.
    unknown = UNKNOWN if row.download_quality_unknown else ""
    return (
        NO_PLACE if row.place is None else safe_text(row.place),
        row.tests,
        row.failures,
        row.excluded,
        "" if row.first is None else iso_time(row.first),
        "" if row.last is None else iso_time(row.last),
        row.download_tests,
        _cell(row.download_median_bps),
        _cell(row.download_min_bps),
        _cell(row.download_max_bps),
        _MEASURED.get(row.download_measured_by or "", ""),
        row.upload_tests,
        _cell(row.upload_median_bps),
        _cell(row.upload_min_bps),
        _cell(row.upload_max_bps),
        _cell(row.upload_jitter_ms),
        _cell(row.upload_loss_percent),
        unknown if row.download_jitter_ms is None else row.download_jitter_ms,
        unknown if row.download_loss_percent is None else row.download_loss_percent,
        _cell(row.worst_bps),
        row.grade,
        " ".join(row.versions),
        safe_text(survey_name),
        row.interrupted,
        row.download_ungraded_tests,
        row.download_ungraded or "",
        *spot_cells(spot),
        row.browser_tests,
        _cell(row.browser_download_median_bps),
        _cell(row.browser_upload_median_bps),
        _cell(row.browser_latency_idle_ms),
        _cell(row.browser_latency_download_ms),
        _cell(row.browser_latency_upload_ms),
        "browser, HTTP" if row.graded_by == "browser" else ("iperf3" if row.worst_bps is not None else ""),
    )


def places_csv(rows: Iterable[PlaceRow], survey_name: str, spot_of: Callable[[str | None], dict | None] = lambda place: None) -> Iterator[str]:
    """The header, then one line per place: a survey has tens of places, but
    clients naming every test anew make thousands, so it is streamed.
    ``spot_of(place)``: where the place is on a floor plan, if it is."""
    return _streamed(PLACES_HEADER, (place_row(row, survey_name, spot_of(row.place)) for row in rows))


def _streamed(header: tuple[str, ...], rows: Iterable[tuple[object, ...]]) -> Iterator[str]:
    """CSV in pieces of about :data:`CHUNK_CHARS` (a longer row is a piece of its own)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:
        writer.writerow(row)
        if buffer.tell() >= CHUNK_CHARS:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


COMPARE_HEADER = (
    "Place",
    "In",
    "Download median (bps, survey)",
    "Download median (bps, compared with)",
    "Download change (bps)",
    "Download change (%)",
    "Download measured by (survey)",
    "Download measured by (compared with)",
    "Upload median (bps, station received, survey)",
    "Upload median (bps, station received, compared with)",
    "Upload change (bps)",
    "Upload change (%)",
    "Tests (survey)",
    "Tests (compared with)",
    "Failures (survey)",
    "Failures (compared with)",
    "Grade (survey)",
    "Grade (compared with)",
    "Survey",
    "Compared with",
)

_IN = {None: "both", "survey": "survey only", "compare": "compared-with only"}


def compared_row(row: ComparedRow, survey_name: str, compare_name: str) -> tuple[object, ...]:
    """Each figure of the two sides; a side without the place is blank, as is a
    change that needs both (and a % of a 0 bit/s median)."""
    now, before = row.survey, row.compare

    def of(side: Side | None, name: str) -> object:
        return "" if side is None else _cell(getattr(side, name))

    def measured(side: Side | None) -> str:
        return "" if side is None else _MEASURED.get(side.download_measured_by or "", "")

    def changed(c: Change) -> tuple[object, object]:
        return _cell(c.bps), _cell(c.percent)

    return (
        NO_PLACE if row.place is None else safe_text(row.place),
        _IN[row.only_in],
        of(now, "download_median_bps"),
        of(before, "download_median_bps"),
        *changed(row.download_change),
        measured(now),
        measured(before),
        of(now, "upload_median_bps"),
        of(before, "upload_median_bps"),
        *changed(row.upload_change),
        of(now, "tests"),
        of(before, "tests"),
        of(now, "failures"),
        of(before, "failures"),
        of(now, "grade"),
        of(before, "grade"),
        safe_text(survey_name),
        safe_text(compare_name),
    )


def compare_csv(rows: Iterable[ComparedRow], survey_name: str, compare_name: str) -> Iterator[str]:
    """The header, then each place of either survey: ``survey``'s worst first,
    then the places only the compared-with survey has."""
    return _streamed(COMPARE_HEADER, (compared_row(row, survey_name, compare_name) for row in rows))
