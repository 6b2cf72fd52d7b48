"""Run every benchmark in turn; each prints its own table.

    .venv/bin/python benchmarks/run.py            # full runs (make bench): tens of minutes
    .venv/bin/python benchmarks/run.py --quick    # each on small data, about a minute in all

Every ``*_bench.py`` of this folder, so a new one is run without editing
this file; the arguments are passed to each. ``fuzz.py`` is not a benchmark
(it fuzzes for an hour): it is left out. All run to the end even when one
fails; the exit status is 1 if any failed (a crash, or a goal missed in a
full run), and a quick run that cannot run here (exit status 77, e.g. no
iperf3) counts as skipped.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _report import SKIPPED  # noqa: E402


def benchmarks() -> list[Path]:
    return sorted(HERE.glob("*_bench.py"))


def main() -> int:
    outcomes = []
    started = time.monotonic()
    for path in benchmarks():
        print(f"\n=== {path.name}\n", flush=True)
        t0 = time.monotonic()
        status = subprocess.call([sys.executable, str(path), *sys.argv[1:]])
        outcomes.append((path.name, status, time.monotonic() - t0))
    print(f"\n=== {len(outcomes)} benchmarks in {time.monotonic() - started:.0f} s\n")
    for name, status, seconds in outcomes:
        verdict = "ok" if status == 0 else "skipped" if status == SKIPPED else f"FAILED (exit status {status})"
        print(f"{name:<24} {seconds:7.1f} s  {verdict}")
    return int(any(status not in (0, SKIPPED) for _, status, _ in outcomes))


if __name__ == "__main__":
    sys.exit(main())
