"""What every benchmark does alike: its quick mode, the machine, and its
table in Markdown."""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

#: The exit status of a quick run that cannot run here (no iperf3, no
#: Chromium): tests/benchmarks/test_quick.py reports it as skipped, with the
#: last line of the output as the reason.
SKIPPED = 77

QUICK_NOTE = "quick mode: small data, a few seconds; the figures mean nothing and no goal is checked"


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None, quick: dict[str, Any]) -> argparse.Namespace:
    """``parser``'s options plus ``--quick``: every option in ``quick`` takes
    that value unless given on the command line. A quick run goes through the
    same code end to end and prints the same table, on data small enough to
    take a few seconds: the test suite runs it to catch a benchmark broken by
    a change elsewhere."""
    parser.add_argument("--quick", action="store_true", help="small data, a few seconds: does it still run? (figures mean nothing)")
    args = parser.parse_args(argv)
    unknown = set(quick) - set(vars(args))
    if unknown:
        raise ValueError(f"quick defaults for options the parser does not have: {sorted(unknown)}")
    if args.quick:
        parser.set_defaults(**quick)
        args = parser.parse_args(argv)
        print(QUICK_NOTE, flush=True)
    return args


def exit_status(args: argparse.Namespace, goals_met: bool) -> int:
    """1 when a goal is missed in a full run; a quick run fails only by breaking."""
    return 0 if goals_met or getattr(args, "quick", False) else 1


def skip(reason: str) -> NoReturn:
    """End a quick run that cannot run here, saying why in one line."""
    print(f"skipped: {reason}", flush=True)
    sys.exit(SKIPPED)


def describe_machine(libraries: str = "") -> str:
    """``Python 3.11.7, <libraries>, <CPU> x 2, Linux 6.1``."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    parts = [f"Python {platform.python_version()}", libraries, f"{cpu} x {os.cpu_count()}", f"{platform.system()} {platform.release()}"]
    return ", ".join(p for p in parts if p)


def markdown_table(rows, reference: str = "prototype") -> str:
    """Rows of (what, webperf3, reference, ratio, goal, verdict) as Markdown."""
    out = [f"| | webperf3 | {reference} | ratio | goal | |", "| --- | ---: | ---: | ---: | --- | --- |"]
    for r in rows:
        cells = [str(c) for c in r]
        cells[0] = cells[0].strip().replace("->", "→")
        if r[5]:
            cells[5] = f"**{r[5].lower()}**"
        out.append("| " + " | ".join(c.replace("|", "\\|").replace(">=", "≥").replace("<=", "≤") for c in cells) + " |")
    return "\n".join(out)


def text_table(rows, head: tuple[str, ...]) -> str:
    """The same rows for a terminal: names left, figures right, verdicts left."""
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]

    def line(r) -> str:
        cells = zip(r, widths, strict=True)
        return "  ".join(str(c).ljust(w) if i == 0 or i >= 4 else str(c).rjust(w) for i, (c, w) in enumerate(cells)).rstrip()

    rule = "-" * (sum(widths) + 2 * (len(widths) - 1))
    return "\n".join([line(head), rule, *(line(r) for r in rows)])


@contextlib.contextmanager
def chromium(path: str = "/usr/bin/chromium") -> Iterator[Any]:
    """Playwright's Chromium, closed on leaving, or a skip where either
    cannot start or open a page: playwright has no Node.js on armv7l (its
    driver fails to connect), and Chromium segfaults under qemu-user, at
    its launch or its first page (the browser tests skip there too)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip("playwright is not installed (scripts/bootstrap test installs it)")
    manager = sync_playwright()
    try:
        playwright = manager.__enter__()
    except Exception as exc:  # noqa: BLE001 - whatever its driver raises, the reason is its first line
        skip(f"Playwright cannot start: {_first_line(exc)}")
    try:
        browser = launch_chromium(playwright, path)
        try:
            # Under qemu-aarch64 it may start and then crash at its first page.
            browser.new_page().close()
        except Exception as exc:  # noqa: BLE001 - the same: its first line says why
            skip(f"Chromium cannot open a page: {_first_line(exc)}")
        try:
            yield browser
        finally:
            browser.close()
    finally:
        manager.__exit__(None, None, None)


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def launch_chromium(playwright: Any, path: str = "/usr/bin/chromium") -> Any:
    """Playwright's Chromium, or a skip where it cannot start (under
    qemu-user it segfaults: the browser tests skip there too)."""
    try:
        return playwright.chromium.launch(executable_path=path, args=["--no-sandbox", "--disable-gpu"])
    except Exception as exc:  # noqa: BLE001 - whatever the launch raises, the reason is its first line
        skip(f"Chromium cannot start: {_first_line(exc)}")
