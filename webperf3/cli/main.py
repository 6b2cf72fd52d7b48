"""``webperf3``: read the options, run the subcommand, map failures to exit codes."""

from __future__ import annotations

import codecs
import io
import logging
import os
import sys

from . import options as opts
from .exitstatus import ExitStatus

log = logging.getLogger("webperf3")


def setup_logging(level: str) -> None:
    # One line per event on stderr, where journald collects it.
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def main(argv: list[str] | None = None) -> int:
    # No argv: this process is the command (``webperf3 ...``, ``python -m
    # webperf3``), not a caller's library call, and may end as it likes.
    own_process = argv is None
    argv = sys.argv[1:] if argv is None else list(argv)
    _never_fail_to_print()
    try:
        command, options = opts.parse(argv)
    except SystemExit as exc:  # argparse: --help, --version or a usage error
        return int(exc.code or 0)
    setup_logging(options.log_level)
    try:
        if command == "export":
            from .export import export

            status = export(options)
            if own_process:
                _exit_now(status)
            return status
        if command == "install-service":
            from .service import install_service

            return install_service(options)
        if command == "pair":
            from .pair import pair

            return pair(options)
        if command == "status":
            from .status import show_status

            return show_status(options)
        from ..station import serve

        return serve(options)
    except KeyboardInterrupt:
        return ExitStatus.SUCCESS


def _exit_now(status: int) -> None:
    """End an export the moment its output is written: freeing 21,000 tests
    and every module one by one cost a cold export of 100 MB about 20 ms
    (a tenth of it), and the operating system frees them at once. What is
    written is flushed first, and the status is the export's."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader gone (`| head`) or a closed stream: nothing more to say
            pass
    os._exit(status)


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
