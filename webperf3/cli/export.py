"""``webperf3 export``: the offline export, over ssh or from copied logs.

It writes what the dashboard's downloads write at the same moment, byte for
byte: the logs joined with the survey book (places named from a browser,
edits, surveys, exclusions) through the same :class:`~webperf3.board.join.Board`.
The book is the one beside the logs, or ``--book FILE`` (a copy); it is only
ever read, never created or migrated. Logs with no book beside them are
exported as a station would show them before anybody added anything.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

from ..board.join import Board
from ..exports.results import CsvFigures, Notes, csv_chunks, json_chunks
from ..iperf3.reader.index import kept_figures
from ..store.record import Result
from ..store.results import LogDirError, ResultsStore
from ..survey import BookOpenError, SurveyBook
from .exitstatus import ExitStatus
from .options import ExportOptions


def export(options: ExportOptions) -> int:
    """``webperf3 export``: the offline export, over ssh or from copied logs."""
    fmt = options.format or export_format(options.output)
    if fmt == "xlsx" and options.output is None and sys.stdout.isatty():
        print("webperf3 export: an .xlsx is binary and would garble the terminal: give -o FILE.xlsx or redirect it (> survey.xlsx)", file=sys.stderr)
        return ExitStatus.USAGE
    store = ResultsStore(options.log_dir)
    try:
        # A CSV copies the figures the station kept in its index, where they
        # hold for this process's local time, instead of formatting them.
        with kept_figures() if fmt == "csv" else contextlib.nullcontext({}) as known:
            changes = store.refresh()
    except LogDirError as exc:
        print(f"webperf3 export: {exc}", file=sys.stderr)
        return ExitStatus.USAGE
    try:
        book = open_book(options)
    except BookOpenError as exc:
        print(f"webperf3 export: {exc}", file=sys.stderr)
        return ExitStatus.USAGE
    if changes.skipped:
        print(f"webperf3 export: skipped {changes.skipped} damaged entries (see the log above)", file=sys.stderr)
    with book:
        found = store.results()
        notes = Board(store, book).notes(found)
    try:
        if options.output is None:
            _write(_encoded(fmt, found, notes, known), sys.stdout.buffer)
        else:
            # Opened first: a place that cannot be written fails before the work.
            with open(options.output, "wb") as out:
                if fmt == "xlsx":
                    from ..exports.workbook import write_xlsx

                    write_xlsx(found, out, notes=notes)  # straight in: no copy through a temporary file
                else:
                    _write(_encoded(fmt, found, notes, known), out)
    except BrokenPipeError:  # `webperf3 export | head`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitStatus.SUCCESS
    except OSError as exc:
        where = options.output or "standard output"
        print(f"webperf3 export: cannot write {where}: {exc.strerror or exc}", file=sys.stderr)
        return ExitStatus.ERROR
    return ExitStatus.SUCCESS


def open_book(options: ExportOptions) -> SurveyBook:
    """The survey book, read-only: ``--book``'s (which must exist), else the
    one in the log directory, else an empty one (nothing added: every test
    in the first survey, its place from the client). BookOpenError says
    what is wrong with a file that is not a webperf3 book."""
    path = options.book
    if path is None:
        return SurveyBook.open(options.log_dir, readonly=True)
    if not path.exists():
        raise BookOpenError(f"survey book {path} does not exist")
    if not path.is_file():
        raise BookOpenError(f"survey book {path} is not a file")
    return SurveyBook(path, readonly=True)


def export_format(output: Path | None) -> str:
    """The format a file's name asks for, when --format was not given."""
    suffix = output.suffix.lower() if output is not None else ""
    return {".xlsx": "xlsx", ".json": "json"}.get(suffix, "csv")


def _encoded(fmt: str, results: list[Result], notes: list[Notes], known: Mapping[int, str]) -> Iterator[bytes]:
    # Always UTF-8, whatever the locale: a file for another machine's
    # spreadsheet, not text for this terminal (LC_ALL=C would make it ASCII
    # and fail on the first accented name).
    if fmt == "xlsx":
        from ..exports.workbook import xlsx_chunks

        yield from xlsx_chunks(results, notes=notes)
        return
    if fmt == "csv":
        chunks = csv_chunks(results, notes, CsvFigures(keep=False, known=known))
    else:
        chunks = json_chunks(results, notes=notes)
    for chunk in chunks:
        yield chunk.encode("utf-8")


def _write(chunks: Iterator[bytes], out: BinaryIO) -> None:
    for chunk in chunks:
        out.write(chunk)
    out.flush()
