"""``webperf3 export``: the offline export, over ssh or from copied logs."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ..exports.results import csv_chunks, json_chunks
from ..store.results import LogDirError, ResultsStore
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
        changes = store.refresh()
    except LogDirError as exc:
        print(f"webperf3 export: {exc}", file=sys.stderr)
        return ExitStatus.USAGE
    if changes.skipped:
        print(f"webperf3 export: skipped {changes.skipped} damaged entries (see the log above)", file=sys.stderr)
    try:
        if options.output is None:
            _write(_encoded(fmt, store.results()), sys.stdout.buffer)
        else:
            # Opened first: a place that cannot be written fails before the work.
            with open(options.output, "wb") as out:
                if fmt == "xlsx":
                    from ..exports.workbook import write_xlsx

                    write_xlsx(store.results(), out)  # straight in: no copy through a temporary file
                else:
                    _write(_encoded(fmt, store.results()), out)
    except BrokenPipeError:  # `webperf3 export | head`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitStatus.SUCCESS
    except OSError as exc:
        where = options.output or "standard output"
        print(f"webperf3 export: cannot write {where}: {exc.strerror or exc}", file=sys.stderr)
        return ExitStatus.ERROR
    return ExitStatus.SUCCESS


def export_format(output: Path | None) -> str:
    """The format a file's name asks for, when --format was not given."""
    suffix = output.suffix.lower() if output is not None else ""
    return {".xlsx": "xlsx", ".json": "json"}.get(suffix, "csv")


def _encoded(fmt: str, results: list) -> Iterator[bytes]:
    # Always UTF-8, whatever the locale: a file for another machine's
    # spreadsheet, not text for this terminal (LC_ALL=C would make it ASCII
    # and fail on the first accented name).
    if fmt == "xlsx":
        from ..exports.workbook import xlsx_chunks

        yield from xlsx_chunks(results)
        return
    for chunk in (csv_chunks if fmt == "csv" else json_chunks)(results):
        yield chunk.encode("utf-8")


def _write(chunks: Iterator[bytes], out: BinaryIO) -> None:
    for chunk in chunks:
        out.write(chunk)
    out.flush()
