"""The Excel export: time and peak memory of 100,000 tests written as .xlsx.

    .venv/bin/python benchmarks/xlsx_bench.py [--tests 100000] [--repeat 3] [--quick]

The tests are real: every test object of tests/data (iperf3 3.12, 3.10.1 and
3.9, see ``_data.real_entries``) is decoded by webperf3's own reader into a
Result, and copies of them fill the list, each with its own start time
(strictly increasing), port (10 ports) and name. Each figure comes from a
fresh interpreter that builds the list first and only then measures, so the
list itself is not counted:

* ``write_xlsx`` to a file (constant-memory mode, as webperf3 writes it);
* the same rows with XlsxWriter's default mode, which holds every cell until
  the end: what constant-memory mode saves;
* ``xlsx_chunks``: the workbook built in a temporary file and read back in
  64 KiB chunks, as a web download streams it;
* the CSV of the same tests, for scale.

Peak memory is the growth of the process's peak RSS (VmHWM, reset through
/proc/self/clear_refs once the list is built) over its RSS then, and separately the tracemalloc peak (another run:
tracemalloc slows a process down and costs memory itself). Time is the median
of ``--repeat`` runs without tracemalloc.

``--quick``: 200 tests, one run of each.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import _data  # noqa: E402
from _report import describe_machine, parse_args  # noqa: E402

CASES = ("xlsx", "xlsx-default-mode", "xlsx-chunks", "csv")


def build_results(count: int) -> list:
    """``count`` Results from the real test entries, each made distinct."""
    import msgspec

    from webperf3.iperf3.reader.entries import parse_entry

    tests, _ = _data.tests_and_events()
    base = [r for e in tests if (r := parse_entry(e.text.encode(), _data.FIRST_PORT)) is not None]
    out = []
    t = _data.EPOCH
    for i in range(count):
        r = base[i % len(base)]
        t += 1 + i % 59
        name = None if r.name is None else f"{r.name} #{i}"
        out.append(msgspec.structs.replace(r, time=float(t), port=_data.FIRST_PORT + i % 10, name=name, offset=i * 4096))
    return out


def status_bytes(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field}: this benchmark reads Linux's /proc")


def reset_peak_rss() -> int:
    """Start the peak RSS (VmHWM) afresh at the current RSS and return it:
    building the list of tests peaked higher than what is left of it, and
    would hide the export's own peak under its own."""
    Path("/proc/self/clear_refs").write_text("5")
    return status_bytes("VmRSS")


def run_case(case: str, results: list, out_dir: Path) -> int:
    """One export; the bytes it produced."""
    target = out_dir / f"bench-{case}.{'csv' if case == 'csv' else 'xlsx'}"
    if case == "csv":
        from webperf3.exports.results import csv_chunks

        with open(target, "w", encoding="utf-8", newline="") as f:
            for chunk in csv_chunks(results):
                f.write(chunk)
    elif case == "xlsx-chunks":
        from webperf3.exports.workbook import xlsx_chunks

        with open(target, "wb") as f:
            for chunk in xlsx_chunks(results, tmpdir=out_dir):
                f.write(chunk)
    else:
        import xlsxwriter

        from webperf3.exports import workbook as xlsx

        if case == "xlsx-default-mode":
            original = xlsxwriter.Workbook

            def workbook(target, options):
                return original(target, {**options, "constant_memory": False})

            # On the module itself: write_xlsx imports xlsxwriter when it runs.
            xlsxwriter.Workbook = workbook  # type: ignore[misc]
        xlsx.write_xlsx(results, target, tmpdir=out_dir)
    size = target.stat().st_size
    target.unlink()
    return size


def child(case: str, kind: str, count: int, out_dir: Path) -> None:
    import tracemalloc

    import webperf3.exports.results  # noqa: F401
    import webperf3.exports.workbook  # noqa: F401

    results = build_results(count)
    gc.collect()
    base = reset_peak_rss()
    if kind == "tracemalloc":
        tracemalloc.start()
    t0 = time.perf_counter()
    size = run_case(case, results, out_dir)
    elapsed = time.perf_counter() - t0
    report = {"case": case, "bytes": size, "seconds": elapsed}
    if kind == "tracemalloc":
        report["tracemalloc_peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    else:
        report["rss_growth"] = status_bytes("VmHWM") - base
        report["rss_base"] = base
    print(json.dumps(report))


def measure(case: str, kind: str, count: int, out_dir: Path) -> dict:
    cmd = [sys.executable, __file__, "--child", case, "--measure", kind, "--tests", str(count), "--out-dir", str(out_dir)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def mib(n: float) -> str:
    return f"{n / 2**20:.1f} MiB"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tests", type=int, default=100_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--child", choices=CASES)
    p.add_argument("--measure", choices=("rss", "tracemalloc"), default="rss")
    p.add_argument("--out-dir", type=Path, default=None)
    args = parse_args(p, argv, quick={"tests": 200, "repeat": 1})
    if args.child:
        child(args.child, args.measure, args.tests, args.out_dir)
        return 0
    import xlsxwriter

    print(describe_machine(f"XlsxWriter {xlsxwriter.__version__}"))
    print(f"{args.tests:,} tests from the real entries of tests/data; median of {args.repeat} runs, each in a fresh interpreter")
    rows = []
    _data.CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=_data.CACHE, prefix="xlsx-") as out:
        out_dir = Path(out)
        for case in CASES:
            runs = [measure(case, "rss", args.tests, out_dir) for _ in range(args.repeat)]
            traced = measure(case, "tracemalloc", args.tests, out_dir)
            rows.append((
                case,
                f"{statistics.median(r['seconds'] for r in runs):.2f} s",
                mib(statistics.median(r["rss_growth"] for r in runs)),
                mib(traced["tracemalloc_peak"]),
                mib(runs[0]["bytes"]),
            ))
    head = ("export", "time", "peak RSS growth", "tracemalloc peak", "file")
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    print()
    for r in [head, *rows]:
        print("  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
    print("\nMarkdown:\n")
    print("| " + " | ".join(head) + " |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
