"""Every script of benchmarks/ still runs: each in its quick mode (small
data, a few seconds, the same code end to end), as ``make bench`` would run
it, must exit 0.

The benchmarks measure and assert nothing, yet they import webperf3's
modules and drive its servers, so a change elsewhere can break one that is
otherwise run only now and then. The scripts are found in the folder: a new
one is covered without editing this file. A quick run that cannot run here
(no iperf3, no Chromium) exits 77 and is reported as skipped, with its
reason. About 45 s for all on a 2-core machine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"
#: Scripts there that are not benchmarks (helper modules start with "_").
NOT_BENCHMARKS = frozenset({"prototype.py", "run.py"})
#: benchmarks/_report.py's SKIPPED: the exit status of a quick run that cannot run here.
SKIPPED = 77
#: The slowest quick run (hardening_bench.py) takes about 15 s here.
TIMEOUT_S = 300


def scripts() -> list[str]:
    return sorted(p.name for p in BENCHMARKS.glob("*.py") if not p.name.startswith("_") and p.name not in NOT_BENCHMARKS)


def tail(text: str, lines: int = 120) -> str:
    kept = text.splitlines()[-lines:]
    return "\n".join(kept) or "(nothing)"


def test_every_benchmark_run_py_runs_is_covered() -> None:
    benches = {p.name for p in BENCHMARKS.glob("*_bench.py")}
    assert benches, f"no *_bench.py in {BENCHMARKS}"
    assert benches <= set(scripts())


@pytest.mark.timeout(TIMEOUT_S + 30)
@pytest.mark.parametrize("script", scripts())
def test_runs_in_quick_mode(script: str, request: pytest.FixtureRequest) -> None:
    marker = request.node.get_closest_marker("timeout")  # stretched by conftest.py on a slow machine
    deadline = float(marker.args[0]) - 30 if marker and marker.args else TIMEOUT_S
    # A session of its own: on a timeout the whole group goes, the stations
    # and iperf3 servers a benchmark started included.
    proc = subprocess.Popen([sys.executable, str(BENCHMARKS / script), "--quick"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=deadline)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"{script} --quick did not finish in {deadline:.0f} s\n--- stdout\n{tail(out)}\n--- stderr\n{tail(err)}")
    if proc.returncode == SKIPPED:
        pytest.skip(f"{script} --quick: {tail(out, 1)}")
    assert proc.returncode == 0, f"{script} --quick: exit status {proc.returncode}\n--- stdout\n{tail(out)}\n--- stderr\n{tail(err)}"
