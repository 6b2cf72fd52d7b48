"""``webperf3``: read the options, wire the parts together, map failures to exit codes."""

from __future__ import annotations

import codecs
import io
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from . import options as opts
from .exitstatus import ExitStatus
from ..exports.results import csv_chunks, json_chunks
from ..store.results import LogDirError, ResultsStore

log = logging.getLogger("webperf3")


def setup_logging(level: str) -> None:
    # One line per event on stderr, where journald collects it.
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    _never_fail_to_print()
    try:
        command, options = opts.parse(argv)
    except SystemExit as exc:  # argparse: --help, --version or a usage error
        return int(exc.code or 0)
    setup_logging(options.log_level)
    try:
        if command == "export":
            return export(options)
        if command == "install-service":
            from .service import install_service

            return install_service(options)
        if command == "status":
            from .status import show_status

            return show_status(options)
        from ..station import serve

        return serve(options)
    except KeyboardInterrupt:
        return ExitStatus.SUCCESS


def _never_fail_to_print() -> None:
    """Under LC_ALL=C (cron, some ssh sessions) without UTF-8 mode, Python's
    stdout is ASCII and the first accented name printed would end the
    command in a traceback: show it escaped instead. (Exports bypass this:
    they write UTF-8 bytes.)"""
    codecs.register_error(_PRINT_ERRORS, _restore_or_escape)
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors=_PRINT_ERRORS)


_PRINT_ERRORS = "webperf3-print"


def _restore_or_escape(exc: UnicodeError) -> tuple[str | bytes, int]:
    """Bytes that were never text (a file name in another encoding, carried
    as surrogates) go out as the bytes they were, as Python's own
    ``surrogateescape`` would; real characters the terminal cannot take are
    spelled out, as ``backslashreplace`` would."""
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    chunk = exc.object[exc.start : exc.end]
    if all("\udc80" <= c <= "\udcff" for c in chunk):
        return bytes(ord(c) - 0xDC00 for c in chunk), exc.end
    return codecs.backslashreplace_errors(exc)


def export(options) -> int:
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
