"""Exports of results as CSV (for a spreadsheet) and JSON, streamed in chunks.

The first five CSV columns are exactly the prototype's, so spreadsheets made
for it keep working: ``Port, Name, Timestamp, Send rate (bps), Receive rate
(bps)`` with Timestamp an Excel serial date in local time, *send* being
server → client (download) and *receive* client → server (upload).

The columns after them name the side that measured each figure: iperf3's
server log holds the station's view, so a download is what the station sent
(``Download measured by``) unless the client's own figures are in the log,
and a UDP download's jitter and loss, which only the client can measure, say
``unknown`` rather than leave an empty cell that reads as "no loss".

The Name column holds the test's *place* (see :mod:`webperf3.survey`: set on
the station, the client's ``--extra-data``, or named from the browser), and
the last columns say where it came from, keep the client's raw
``--extra-data``, and name the survey: :class:`Notes`, one per result, given
alongside the results. Without notes, Name is the ``--extra-data``.

The last two say whether the station itself cut the test (its stop or
restart: not a failure of the place) and the error in plain words beside
iperf3's own text in ``Error``. New columns go at the end, always.
"""

from __future__ import annotations

import csv
import functools
import io
import itertools
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import NamedTuple

import msgspec

from ..store.record import Result

CSV_HEADER = (
    "Port",
    "Name",
    "Timestamp",
    "Send rate (bps)",
    "Receive rate (bps)",
    "Time",
    "Client address",
    "Protocol",
    "Direction",
    "Duration (s)",
    "Streams",
    "Download measured by",
    "Download retransmits (station)",
    "Upload jitter (ms, station)",
    "Upload loss (%, station)",
    "Download jitter (ms, client)",
    "Download loss (%, client)",
    "Error",
    "Place source",
    "Client's --extra-data",
    "Survey",
    "Excluded",
    "Test id",
    "Interrupted by the station",
    "Error in plain words",
)


class Notes(NamedTuple):
    """What people added to one test (from the survey book), for the exports."""

    id: str
    place: str | None
    place_source: str | None  # "edited", "client", "browser"
    survey_name: str
    excluded: bool
    survey: int | None = None  # the survey's id

    def to_dict(self) -> dict[str, object]:
        # The same keys as the live push's annotated results, and the survey's name.
        return {
            "id": self.id, "place": self.place, "place_source": self.place_source,
            "survey": self.survey, "survey_name": self.survey_name, "excluded": self.excluded,
        }
#: What the cells of ``Download measured by`` say, per ``Result.download_measured_by``.
MEASURED_BY = {"station": "station sent", "client": "client received"}
#: A figure the test had but the log cannot tell (a UDP download's jitter and
#: loss, measured by the client alone).
UNKNOWN = "unknown"
#: Days from Excel's epoch to 1970-01-01: DATE(1970,1,1) == 25569.
_EXCEL_UNIX_EPOCH = 25569
#: A cell starting with one of these is a formula to a spreadsheet.
_FORMULA_START = frozenset("=+-@\u2212")  # U+2212 MINUS SIGN, which some read as "-"
#: Leading characters a spreadsheet may skip before it sees a formula: a cell
#: starting with any of these is quoted outright.
_FORMULA_LEAD = ("\t", "\r", "\n")
_ROWS_PER_CHUNK = 256


def excel_serial(timesecs: float, local: time.struct_time | None = None) -> float:
    """Seconds since the epoch → an Excel serial date in local time."""
    offset = (local or time.localtime(timesecs)).tm_gmtoff
    return (timesecs + offset) / 86400 + _EXCEL_UNIX_EPOCH


def iso_time(timesecs: float, local: time.struct_time | None = None) -> str:
    """ISO 8601 in local time with its UTC offset, e.g. 2022-03-15T02:50:52+00:00."""
    if timesecs != int(timesecs):
        return datetime.fromtimestamp(timesecs).astimezone().isoformat()
    # strftime and a cached offset: datetime.astimezone() costs three times
    # as much, once per row of an export of thousands.
    local = local or time.localtime(timesecs)
    return time.strftime("%Y-%m-%dT%H:%M:%S", local) + _utc_offset(local.tm_gmtoff)


@functools.lru_cache(maxsize=16)
def _utc_offset(seconds: int) -> str:
    sign = "-" if seconds < 0 else "+"
    hours, minutes = divmod(abs(seconds) // 60, 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


def safe_text(text: str | None) -> str:
    """Text from the network must not become a spreadsheet formula.

    A leading ``'`` is added when the text starts with ``= + - @``, tab, CR or
    LF, or with one of ``= + - @`` behind spaces of any kind, invisible
    (format) characters, or as a full-width or small look-alike (＝, ﹦):
    spreadsheets and their import filters trim or fold those.
    """
    if not text:
        return ""
    first = text[0]
    if first.isalnum():  # nearly every name: no more work
        return text
    return "'" + text if first in _FORMULA_LEAD or _starts_formula(text) else text


def _starts_formula(text: str) -> bool:
    for char in text:
        if char.isspace() or unicodedata.category(char) in ("Cc", "Cf", "Zs", "Zl", "Zp"):
            continue
        return char in _FORMULA_START or unicodedata.normalize("NFKC", char) in _FORMULA_START
    return False


def _blank(value: object) -> object:
    return "" if value is None else value


def sided_cells(r: Result) -> tuple[object, ...]:
    """The cells from ``Download measured by`` to ``Download loss``: each
    figure under the side that measured it, ``unknown`` for one the test had
    but nobody logged, empty for one the test did not have."""
    if r.download_bps is None:
        measured_by = ""
    else:
        # A Result read before the field existed is the station's view.
        measured_by = _CLIENT if r.download_measured_by == "client" else _STATION
    if r.protocol != "UDP" or r.error is not None:  # most tests: no jitter or loss to tell
        return (measured_by, "" if r.retransmits is None else r.retransmits, "", "", "", "")
    up = r.upload_bps is not None
    down = r.download_bps is not None
    return (
        measured_by,
        _blank(r.retransmits),
        _figure(r.jitter_ms, up),
        _figure(r.loss_percent, up),
        _figure(r.download_jitter_ms, down),
        _figure(r.download_loss_percent, down),
    )


_STATION, _CLIENT = MEASURED_BY["station"], MEASURED_BY["client"]


def _figure(value: float | None, expected: bool) -> object:
    if value is not None:
        return value
    return UNKNOWN if expected else ""


def notes_cells(r: Result, n: Notes | None, guard: Callable[[str | None], str] = safe_text) -> tuple[object, ...]:
    """The last columns: where the place came from, the raw --extra-data, the
    survey. ``guard`` keeps text from the network from being a formula (a
    CSV's cells need it; an .xlsx's text cells do not)."""
    if n is None:
        return ("client" if r.name else "", guard(r.name), "", "", "")
    return (n.place_source or "", guard(r.name), guard(n.survey_name), "yes" if n.excluded else "", n.id)


def outcome_cells(r: Result) -> tuple[str, str]:
    """``Interrupted by the station`` and ``Error in plain words`` (our own words: no guard needed)."""
    return ("yes" if r.interrupted else "", r.error_plain or "")


def csv_row(r: Result, n: Notes | None = None) -> tuple[object, ...]:
    local = time.localtime(r.time)
    return (
        r.port,
        safe_text(r.name if n is None else n.place),
        excel_serial(r.time, local),
        _blank(r.download_bps),
        _blank(r.upload_bps),
        iso_time(r.time, local),
        safe_text(r.client),
        safe_text(r.protocol),
        _blank(r.direction),
        _blank(r.duration),
        _blank(r.streams),
        *sided_cells(r),
        safe_text(r.error),
        *notes_cells(r, n),
        *outcome_cells(r),
    )


def csv_chunks(results: Iterable[Result], notes: Iterable[Notes | None] | None = None) -> Iterator[str]:
    """The CSV export, a few hundred rows per chunk, never whole in memory."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_HEADER)
    pairs = zip(results, notes) if notes is not None else ((r, None) for r in results)
    for batch in _batched(pairs, _ROWS_PER_CHUNK):
        writer.writerows(csv_row(r, n) for r, n in batch)
        yield _take(buffer)
    yield _take(buffer)


def _batched_311(items: Iterable[Result], size: int) -> Iterator[list[Result]]:
    batch: list[Result] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


_batched = getattr(itertools, "batched", _batched_311)  # itertools.batched is 3.12+


class CsvLines:
    """The CSV export, each result's line formatted once and kept.

    A Result never changes, and formatting its floats and local time is most
    of an export's cost: a running webperf3 serving Download CSV again and
    again formats only the tests it has not exported before. Safe to share
    between the web server's threads (a lost race formats a line twice).
    """

    def __init__(self) -> None:
        # id → (the result, kept alive so its id stays its own; its notes; its line)
        self._lines: dict[int, tuple[Result, Notes | None, str]] = {}

    def chunks(self, results: list[Result], notes: Sequence[Notes | None] | None = None) -> Iterator[str]:
        if len(self._lines) > 2 * len(results) + 1024:
            self._lines = {}  # results dropped by a rewritten log: start afresh
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_HEADER)
        yield _take(buffer)
        lines = self._lines
        pairs = zip(results, notes) if notes is not None else ((r, None) for r in results)
        for batch in _batched(pairs, _ROWS_PER_CHUNK):
            out = []
            for result, note in batch:
                known = lines.get(id(result))
                # A place edited since the last download makes a new line.
                if known is None or known[0] is not result or known[1] != note:
                    writer.writerow(csv_row(result, note))
                    known = lines[id(result)] = (result, note, _take(buffer))
                out.append(known[2])
            yield "".join(out)


def _take(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


_encode = msgspec.json.Encoder().encode  # NaN → null: always valid JSON


def json_record(record: dict) -> str:
    """One record as the JSON exports write it, online and offline alike (compact, NaN as null)."""
    return _encode(record).decode()


def json_chunks(
    results: Iterable[Result], dumps: Callable[[dict], str] = json_record, notes: Iterable[Notes | None] | None = None
) -> Iterator[str]:
    """A JSON array of result records (with their notes, when given), streamed."""
    yield "["
    sep = "\n"
    batch: list[str] = []
    pairs = zip(results, notes) if notes is not None else ((r, None) for r in results)
    for result, note in pairs:
        record = result.to_dict() if note is None else {**result.to_dict(), **note.to_dict()}
        batch.append(sep + dumps(record))
        sep = ",\n"
        if len(batch) == _ROWS_PER_CHUNK:
            yield "".join(batch)
            batch = []
    yield "".join(batch) + "\n]\n"
