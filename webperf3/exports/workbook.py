"""The export as an Excel workbook (.xlsx): typed cells, written in bounded memory.

The same columns as the CSV (:data:`~webperf3.exports.results.CSV_HEADER`), but typed:
the start of each test a date cell in the station's local time, rates numbers
in Mbit/s, text always a text cell. A name is written with ``write_string``
whatever it starts with, so it can never become a formula, and needs no
leading ``'`` as the CSV does.

XlsxWriter's ``constant_memory`` mode writes each row out as soon as the next
one starts, so memory stays flat however many tests there are; the workbook
is assembled in a temporary file. :func:`open_xlsx` hands that file back
already unlinked, so nothing is left behind whatever happens to the reader.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from .results import CSV_HEADER, Notes, iso_time, method_cells, notes_cells, outcome_cells, sided_cells
from ..store.record import Result

if TYPE_CHECKING:
    import xlsxwriter

#: The CSV's columns, with the rates in Mbit/s.
XLSX_HEADER = tuple(
    {"Send rate (bps)": "Send rate (Mbit/s)", "Receive rate (bps)": "Receive rate (Mbit/s)"}.get(c, c) for c in CSV_HEADER
)
#: For ``GET /xlsx``: the Content-Type and a download name beside the CSV's.
MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FILE_NAME = "iperf3_log.xlsx"
SHEET_NAME = "Tests"
#: Excel's limit is 1,048,576 rows; one is the header. Later tests go on to
#: another sheet rather than being dropped.
MAX_DATA_ROWS = 1_048_575
CHUNK_BYTES = 64 * 1024

# Column: (width in characters, number format or None).
_LAYOUT = {
    "Port": (7, "0"),
    "Name": (24, None),
    "Timestamp": (19, "yyyy-mm-dd hh:mm:ss"),
    "Send rate (Mbit/s)": (12, "#,##0.00"),
    "Receive rate (Mbit/s)": (12, "#,##0.00"),
    "Time": (25, None),
    "Client address": (16, None),
    "Duration (s)": (9, "0.00"),
    "Streams": (8, "0"),
    "Download measured by": (15, None),
    "Download retransmits (station)": (12, "0"),
    "Upload jitter (ms, station)": (11, "0.000"),
    "Upload loss (%, station)": (11, "0.00"),
    "Download jitter (ms, client)": (11, "0.000"),
    "Download loss (%, client)": (11, "0.00"),
    "Error": (40, None),
    "Place source": (10, None),
    "Client's --extra-data": (24, None),
    "Survey": (20, None),
    "Excluded": (9, None),
    "Test id": (20, None),
    "Interrupted by the station": (11, None),
    "Error in plain words": (40, None),
}


def _mbit(bps: float | None) -> float | None:
    return None if bps is None else bps / 1e6


def xlsx_row(r: Result, n: Notes | None = None) -> tuple[Any, ...]:
    """One test's cells, in :data:`XLSX_HEADER` order: ``None`` is an empty
    cell, a ``str`` a text cell, a ``datetime`` a date, anything else a number."""
    return (
        r.port,
        r.name if n is None else n.place,
        datetime.fromtimestamp(r.time),  # naive local time: what Excel shows
        _mbit(r.download_bps),
        _mbit(r.upload_bps),
        iso_time(r.time),
        r.client,
        r.protocol,
        r.direction,
        r.duration,
        r.streams,
        *(None if cell == "" else cell for cell in sided_cells(r)),
        r.error,
        *(None if cell == "" else cell for cell in notes_cells(r, n, guard=_text)),
        *(cell or None for cell in outcome_cells(r)),
        *(None if cell == "" else cell for cell in method_cells(r, guard=_text)),
    )


def _text(text: str | None) -> str:
    return text or ""  # written with write_string: never a formula, no guard needed


class _Sheets:
    """The workbook's sheets, a new one begun whenever one is full."""

    def __init__(self, book: xlsxwriter.Workbook, max_rows: int) -> None:
        self._book = book
        self._max_rows = max_rows
        self._header = book.add_format({"bold": True, "bottom": 1})
        self._formats = [
            book.add_format({"num_format": layout[1]}) if (layout := _LAYOUT.get(name)) and layout[1] else None
            for name in XLSX_HEADER
        ]
        self.sheet: Any = None
        self.row = 0
        self.count = 0

    def next_row(self) -> int:
        if self.sheet is None or self.row == self._max_rows:
            self._finish()
            self._begin()
        self.row += 1
        return self.row

    def _begin(self) -> None:
        self.count += 1
        sheet = self._book.add_worksheet(SHEET_NAME if self.count == 1 else f"{SHEET_NAME} ({self.count})")
        for col, name in enumerate(XLSX_HEADER):
            width = _LAYOUT.get(name, (max(10, len(name)), None))[0]
            sheet.set_column(col, col, width, self._formats[col])
            sheet.write_string(0, col, name, self._header)
        sheet.freeze_panes(1, 0)
        self.sheet, self.row = sheet, 0

    def _finish(self) -> None:
        if self.sheet is not None:
            self.sheet.autofilter(0, 0, max(self.row, 1), len(XLSX_HEADER) - 1)

    def close(self) -> None:
        if self.sheet is None:
            self._begin()  # no tests: still a sheet with its header
        self._finish()

    def write(self, cells: tuple[Any, ...]) -> None:
        row, sheet, formats = self.next_row(), self.sheet, self._formats
        for col, value in enumerate(cells):
            if value is None:
                continue
            if isinstance(value, str):
                sheet.write_string(row, col, value)
            elif isinstance(value, datetime):
                sheet.write_datetime(row, col, value, formats[col])
            else:
                sheet.write_number(row, col, value, formats[col])


def write_xlsx(
    results: Iterable[Result],
    target: str | os.PathLike[str] | IO[bytes],
    *,
    tmpdir: str | os.PathLike[str] | None = None,
    max_rows: int = MAX_DATA_ROWS,
    notes: Iterable[Notes | None] | None = None,
    spots: Iterable[tuple[Any, ...]] = (),
) -> int:
    """Write every result to an .xlsx at *target* (a path or a binary file);
    the number of tests written. XlsxWriter's own temporary files go to
    *tmpdir* (default: :func:`spool_dir`). ``spots``: where places are on
    the floor plans, rows of :data:`SPOTS_HEADER` on a sheet of their own."""
    options = {
        "constant_memory": True,
        "tmpdir": str(tmpdir or spool_dir()),
        # Belt and braces: every cell is written with its typed method anyway.
        "strings_to_formulas": False,
        "strings_to_urls": False,
        "strings_to_numbers": False,
    }
    # Imported here, not at start: 5 MiB of a station's memory for what is
    # asked for once a survey, if at all.
    import xlsxwriter
    import xlsxwriter.exceptions

    target = os.fspath(target) if isinstance(target, (str, os.PathLike)) else target
    book = xlsxwriter.Workbook(target, options)
    written = 0
    try:
        sheets = _Sheets(book, max_rows)
        pairs = zip(results, notes) if notes is not None else ((r, None) for r in results)
        for result, note in pairs:
            sheets.write(xlsx_row(result, note))
            written += 1
        sheets.close()
        _write_spots(book, spots)
    finally:
        try:
            book.close()
        except xlsxwriter.exceptions.FileCreateError as exc:
            # The OSError it wraps, which callers know how to report.
            raise (exc.args[0] if exc.args and isinstance(exc.args[0], OSError) else OSError(str(exc))) from None
    return written


#: The sheet of places on floor plans: fractions of the plan from its top left, metres where it has a scale.
SPOTS_SHEET = "Places on plans"
SPOTS_HEADER = ("Place", "Plan", "X (fraction of the plan)", "Y (fraction of the plan)", "X (m)", "Y (m)")


def _write_spots(book: xlsxwriter.Workbook, spots: Iterable[tuple[Any, ...]]) -> None:
    rows = list(spots)
    if not rows:
        return
    sheet = book.add_worksheet(SPOTS_SHEET)
    for col, title in enumerate(SPOTS_HEADER):
        sheet.write_string(0, col, title)
    for row, cells in enumerate(rows, start=1):
        for col, value in enumerate(cells):
            if isinstance(value, str):
                sheet.write_string(row, col, value)
            elif value is not None:
                sheet.write_number(row, col, value)


def open_xlsx(
    results: Iterable[Result], *, tmpdir: str | os.PathLike[str] | None = None, notes: Iterable[Notes | None] | None = None,
    spots: Iterable[tuple[Any, ...]] = (),
) -> IO[bytes]:
    """The workbook in an anonymous temporary file (already unlinked: it
    vanishes when closed, or when the process ends), positioned at its start.
    The caller closes it; its size is ``os.fstat(f.fileno()).st_size``.

    A temporary file cannot be avoided: XlsxWriter's constant-memory mode
    writes the rows to a file, and a zip's directory comes after its parts.
    So it is on disk (:func:`spool_dir`), never in memory, and a download
    holds a file, not the workbook: sent 32 KiB at a time as the client
    reads, closed (so gone) when the server drops a client that stopped.

    For ``GET /xlsx``: Bottle hands a file object to the server's
    ``wsgi.file_wrapper``, which streams it and closes it. Being eager, it
    fails (a full disk) before any header is sent, where :func:`xlsx_chunks`
    would fail half-way through the response.
    """
    spool = tmpdir or spool_dir()
    out = tempfile.TemporaryFile(dir=spool, prefix="webperf3-", suffix=".xlsx")
    try:
        # XlsxWriter's own files (the rows, then each part of the workbook)
        # are named files it removes only once the workbook is whole: in a
        # directory of their own, removed whatever happens (a full disk, a
        # failed write), none is ever left behind.
        with tempfile.TemporaryDirectory(dir=spool, prefix="webperf3-xlsx-") as parts:
            write_xlsx(results, out, tmpdir=parts, notes=notes, spots=spots)
        out.seek(0)
    except BaseException:
        out.close()
        raise
    return out


def xlsx_chunks(
    results: Iterable[Result],
    *,
    tmpdir: str | os.PathLike[str] | None = None,
    chunk_bytes: int = CHUNK_BYTES,
    notes: Iterable[Notes | None] | None = None,
) -> Iterator[bytes]:
    """The workbook's bytes in chunks, from a temporary file removed afterwards.

    The workbook is written on the first ``next()``; closing the iterator early
    (a client that went away) closes and frees the file.
    """
    with open_xlsx(results, tmpdir=tmpdir, notes=notes) as f:
        while chunk := f.read(chunk_bytes):
            yield chunk


def spool_dir() -> str:
    """Where to build workbooks: /var/tmp, which is on disk, where it can be
    written. Debian 13 (Raspberry Pi OS 13) mounts /tmp as tmpfs, in RAM: a
    large workbook there would cost the memory the streaming saves."""
    var_tmp = Path("/var/tmp")
    if var_tmp.is_dir() and os.access(var_tmp, os.W_OK | os.X_OK):
        return str(var_tmp)
    return tempfile.gettempdir()
