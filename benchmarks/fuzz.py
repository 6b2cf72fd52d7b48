"""Fuzz the log reader and the HTTP routes for a long time, outside CI.

    nice -n 19 python benchmarks/fuzz.py --minutes 70 --out /tmp/webperf3-fuzz

Runs the properties of tests/iperf3/reader/test_fuzz.py under hypothesis's ``long``
profile (tests/support/fuzz.py: thousands of examples a round, no
deadline), round after round with fresh random seeds, until the time is
up. Every input that fails is written to ``OUT/failures/`` as it is found;
copy them to tests/data/fuzz/, where the fuzz tests replay them in
every CI run. Loopback only: the HTTP properties call the WSGI app in
process, no socket is opened.

With ``--atheris`` it runs instead atheris (coverage-guided, libFuzzer;
``pip install atheris``: a manylinux wheel exists for CPython 3.11 on
x86_64, none for 32-bit ARM, so not on a Pi) on the reader and on the
entry decoder, with the same checks; a crash input is kept in
``OUT/failures/`` the same way.

``--quick``: one round of 5 examples per property, into a temporary
directory removed afterwards unless something failed: the test suite runs it
so that this runner keeps working (it is not a benchmark: ``run.py`` leaves
it out).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import _report  # noqa: E402

PROPERTIES = "not every_input_that_ever_failed"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--examples", type=int, default=20000, help="per property per round")
    parser.add_argument("--out", type=Path, default=Path("/tmp/webperf3-fuzz"))
    parser.add_argument("--atheris", action="store_true", help="coverage-guided, with atheris")
    parser.add_argument("--atheris-once", action="store_true", help=argparse.SUPPRESS)
    args = _report.parse_args(parser, None, quick={"minutes": 0.0, "examples": 5, "out": None})
    scratch = args.out is None  # a quick run's own directory: nothing left behind when all went well
    if scratch:
        args.out = Path(tempfile.mkdtemp(prefix="webperf3-fuzz-quick-"))
    status = run(args)
    if scratch and status == 0:
        shutil.rmtree(args.out, ignore_errors=True)
    elif scratch:
        print(f"kept {args.out}", flush=True)
    return status


def run(args: argparse.Namespace) -> int:
    failures = args.out / "failures"
    failures.mkdir(parents=True, exist_ok=True)
    if args.atheris_once:
        return run_atheris(args.minutes, failures)
    if args.atheris:
        # libFuzzer stops at the first crash: run it again (a fresh process,
        # the corpus kept) until the time is up, every crash kept.
        deadline = time.monotonic() + args.minutes * 60
        runs = 0
        while (left := deadline - time.monotonic()) > 5:
            runs += 1
            done = subprocess.run([sys.executable, __file__, "--atheris-once", "--minutes", str(left / 60),
                                   "--out", str(args.out)], check=False)
            print(f"atheris run {runs}: exit {done.returncode}", flush=True)
        crashes = sorted(p.name for p in failures.glob("crash-*"))
        print(json.dumps({"atheris_runs": runs, "crashes": crashes}, indent=2))
        return 1 if crashes else 0
    env = dict(os.environ, WEBPERF3_FUZZ="long", WEBPERF3_FUZZ_EXAMPLES=str(args.examples),
               WEBPERF3_FUZZ_SAVE=str(failures), PYTHONPATH=str(ROOT))
    deadline = time.monotonic() + args.minutes * 60
    rounds = failed_rounds = 0
    started = time.time()
    while rounds == 0 or time.monotonic() < deadline:  # one round at least
        rounds += 1
        t0 = time.monotonic()
        # -p no:cacheprovider: nothing written into the repository.
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "tests/iperf3/reader/test_fuzz.py", "-q", "-p", "no:cacheprovider", "-k", PROPERTIES,
             "--timeout=0",  # pytest-timeout's CI limit is for one CI-sized property, not for thousands of examples
             "--hypothesis-show-statistics"],
            cwd=ROOT, env=env, capture_output=True, text=True, check=False,
            timeout=max(60.0, deadline - time.monotonic() + 600),
        )
        failed_rounds += done.returncode != 0
        (args.out / f"round-{rounds}.log").write_text(done.stdout + done.stderr)
        print(f"round {rounds}: exit {done.returncode} in {time.monotonic() - t0:.0f} s", flush=True)
    summary = {
        "started": started, "minutes": (time.time() - started) / 60, "rounds": rounds,
        "examples_per_property_per_round": args.examples, "failed_rounds": failed_rounds,
        "failures_kept": sorted(p.name for p in failures.glob("*.json")),
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return 1 if failed_rounds else 0


def run_atheris(minutes: float, failures: Path) -> int:
    """libFuzzer's loop in this process; -max_total_time bounds it."""
    import logging

    import atheris

    # A warning per damaged input, thousands a second: not into the run's log.
    logging.disable(logging.WARNING)
    os.environ["WEBPERF3_FUZZ_SAVE"] = str(failures)
    sys.path.insert(0, str(ROOT))
    with atheris.instrument_imports():
        import webperf3.iperf3.reader.entries  # noqa: F401
        import webperf3.iperf3.reader.logs  # noqa: F401
    from tests.iperf3.reader.test_fuzz import check_entry, check_log

    def one(data: bytes) -> None:
        fdp = atheris.FuzzedDataProvider(data)
        which = fdp.ConsumeIntInRange(0, 1)
        cuts = [fdp.ConsumeIntInRange(0, 1 << 16) for _ in range(fdp.ConsumeIntInRange(0, 4))]
        rest = fdp.ConsumeBytes(fdp.remaining_bytes())
        if which == 0:
            check_log(rest, cuts)
        else:
            check_entry(rest)

    corpus = failures.parent / "corpus"
    corpus.mkdir(exist_ok=True)
    seeds = sorted((ROOT / "tests" / "data").glob("iperf3.*.json"))
    for seed in seeds:  # real logs as the first inputs: the fuzzer starts inside the format
        (corpus / seed.name).write_bytes(b"\x00\x00" + seed.read_bytes())
    atheris.Setup([sys.argv[0], f"-max_total_time={int(minutes * 60)}", f"-artifact_prefix={failures}/",
                   str(corpus)], one)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main())
