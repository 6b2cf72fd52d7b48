"""What every benchmark prints alike: the machine, and its table in Markdown."""

from __future__ import annotations

import os
import platform
from pathlib import Path


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
