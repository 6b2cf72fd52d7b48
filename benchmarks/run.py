"""Run every benchmark in turn (``make bench``); each prints its own table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = (
    "logs_bench.py", "decoders_bench.py", "live_bench.py", "xlsx_bench.py", "metrics_bench.py",
    "progress_bench.py", "survey_bench.py", "survey_push_bench.py", "hardening_bench.py",
    "log_faults_bench.py", "history_bench.py", "places_bench.py",
)


def main() -> int:
    failed = 0
    for name in BENCHMARKS:
        print(f"\n=== {name}\n", flush=True)
        failed |= subprocess.call([sys.executable, str(HERE / name), *sys.argv[1:]]) != 0
    return int(failed)


if __name__ == "__main__":
    sys.exit(main())
