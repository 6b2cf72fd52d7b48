"""``webperf3``: read the options, wire the parts together, map failures to exit codes."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from . import options as opts
from .exitstatus import ExitStatus
from .export import csv_chunks, json_chunks
from .results import LogDirError, ResultsStore

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
        from .serve import serve

        return serve(options)
    except KeyboardInterrupt:
        return ExitStatus.SUCCESS


def export(options) -> int:
    """``webperf3 export``: the offline export, over ssh or from copied logs."""
    store = ResultsStore(options.log_dir)
    try:
        changes = store.refresh()
    except LogDirError as exc:
        print(f"webperf3 export: {exc}", file=sys.stderr)
        return ExitStatus.USAGE
    if changes.skipped:
        print(f"webperf3 export: skipped {changes.skipped} damaged entries (see the log above)", file=sys.stderr)
    chunks = (csv_chunks if options.format == "csv" else json_chunks)(store.results())
    try:
        if options.output is None:
            _write(chunks, sys.stdout)
        else:
            with open(options.output, "w", encoding="utf-8", newline="") as out:
                _write(chunks, out)
    except OSError as exc:
        print(f"webperf3 export: cannot write {options.output}: {exc.strerror or exc}", file=sys.stderr)
        return ExitStatus.ERROR
    return ExitStatus.SUCCESS


def _write(chunks, out: TextIO) -> None:
    for chunk in chunks:
        out.write(chunk)
    out.flush()

