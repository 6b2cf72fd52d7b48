"""Reading the logs and exporting them as CSV: webperf3 against the
prototype's algorithm.

    .venv/bin/python benchmarks/logs_bench.py [--size-mb 100] [--quick]

On a log directory built from real iperf3 entries (see ``_data.py``) it
measures, side by side in one run:

1. a cold CSV export of everything (files already in the page cache):
   webperf3 = a new ``ResultsStore``, ``refresh()``, ``csv_chunks`` consumed
   into a sink that counts characters; prototype = ``export_csv`` (one string);
   and, for information, the same CSV from a store already loaded (what a
   running webperf3 does for Download CSV; the prototype re-read every log);
2. re-reading after ONE appended test, on 1 MB and on the full size:
   webperf3 = ``store.refresh()`` on a store already loaded; prototype = its
   whole export again (it has no other way);
3. peak memory of a cold export, each side in a fresh subprocess: growth of
   the peak RSS (VmHWM, see :func:`peak_rss_bytes`) over the peak after
   imports, and the tracemalloc peak (in a separate run: tracemalloc slows a
   process down and costs memory itself);
4. the floor: reading every log from the page cache in 4 MB chunks.

It prints a table with its goals and pass/fail, the same table in
Markdown for the README, and a one-line check that both CSVs agree on the
prototype's own kind of test (iperf3 3.10.1 --bidir). Figures go to
``benchmarks/out/`` too. Nothing is asserted: this is a measurement.

``--quick``: 1 MB and 0.5 MB of logs, one export, 3 appends; its figures go
to /tmp/webperf3-bench/quick-out/, never over a full run's.
"""

from __future__ import annotations

import argparse
import csv
import gc
import io
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import _data  # noqa: E402
import _report  # noqa: E402

MB = 1_000_000
CHUNK = 4 << 20
OUT = HERE / "out"

# The goals: what makes webperf3 worth having over the prototype.
GOAL_EXPORT_SPEEDUP = 10.0  # webperf3 at least this many times faster
GOAL_MEMORY_SHARE = 0.5  # webperf3's peak at most this share of the prototype's
GOAL_APPEND_MS = 5.0  # re-reading after one appended test, whatever the size


# -- the two sides ---------------------------------------------------------------


def webperf3_export(log_dir: Path) -> int:
    """A cold export: a new store, read everything, stream the CSV to a sink."""
    from webperf3.exports.results import csv_chunks
    from webperf3.store.results import ResultsStore

    store = ResultsStore(log_dir)
    store.refresh()
    size = 0
    for chunk in csv_chunks(store.results()):
        size += len(chunk)
    return size


def prototype_export(log_dir: Path) -> str:
    import prototype

    return prototype.export_csv(log_dir)


# -- measuring -------------------------------------------------------------------


def timed(fn, *args) -> tuple[float, object]:
    gc.collect()
    t0 = time.perf_counter()
    value = fn(*args)
    return time.perf_counter() - t0, value


def read_floor(log_dir: Path) -> int:
    """Read every log in 4 MB chunks; the bytes read."""
    buf = bytearray(CHUNK)
    total = 0
    for path in _data.log_files(log_dir):
        with open(path, "rb", buffering=0) as f:
            while n := f.readinto(buf):
                total += n
    return total


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure_floor(log_dir: Path, repeat: int) -> dict:
    times = []
    for _ in range(repeat):
        t, nbytes = timed(read_floor, log_dir)
        times.append(t)
    return {"median_s": statistics.median(times), "min_s": min(times), "bytes": nbytes}


def measure_cold_export(log_dir: Path, repeat_wp: int, repeat_proto: int) -> dict:
    wp, proto = [], []
    proto_csv = ""
    # Alternate the sides so a burst of load elsewhere hits both alike.
    for i in range(max(repeat_wp, repeat_proto)):
        if i < repeat_wp:
            t, wp_chars = timed(webperf3_export, log_dir)
            wp.append(t)
        if i < repeat_proto:
            t, proto_csv = timed(prototype_export, log_dir)
            proto.append(t)
    return {
        "webperf3": {"median_s": statistics.median(wp), "min_s": min(wp), "runs": len(wp), "csv_chars": wp_chars},
        "prototype": {"median_s": statistics.median(proto), "min_s": min(proto), "runs": len(proto), "csv_chars": len(proto_csv)},
        "_prototype_csv": proto_csv,
    }


def measure_warm_export(log_dir: Path, repeat: int) -> dict:
    """The CSV from a store already loaded: what a running webperf3 does for
    the dashboard's Download CSV (the prototype re-read every log for it)."""
    from webperf3.exports.results import csv_chunks
    from webperf3.store.results import ResultsStore

    store = ResultsStore(log_dir)
    store.refresh()
    times = []
    for _ in range(repeat):
        t, _ = timed(lambda: sum(len(chunk) for chunk in csv_chunks(store.results())))
        times.append(t)
    return {"median_s": statistics.median(times), "min_s": min(times), "runs": len(times)}


def measure_append(source: Path, manifest: dict, appends: int, proto_budget_s: float) -> dict:
    """Re-reading after one appended test, on a copy of ``source``."""
    from webperf3.store.results import ResultsStore

    work = _data.working_copy(source, f"append-{manifest['total_bytes']}")
    try:
        store = ResultsStore(work)
        store.refresh()
        appender = _data.Appender(work, manifest)
        for _ in range(3):  # warm-up: not measured
            appender.append()
            store.refresh()
        wp, appended = [], []
        gc.collect()
        for _ in range(appends):
            _, nbytes = appender.append()
            t0 = time.perf_counter()
            changes = store.refresh()
            wp.append(time.perf_counter() - t0)
            appended.append(nbytes)
            if len(changes.added) != 1:
                raise RuntimeError(f"webperf3 found {len(changes.added)} new tests after one append")
        # The prototype re-does its whole export; few runs when that is slow.
        proto = []
        spent = 0.0
        while len(proto) < appends and (len(proto) < 3 or spent < proto_budget_s):
            appender.append()
            t, _ = timed(prototype_export, work)
            proto.append(t)
            spent += t
        return {
            "log_bytes": manifest["total_bytes"],
            "appended_bytes_median": statistics.median(appended),
            "webperf3": {"median_s": statistics.median(wp), "p95_s": percentile(wp, 0.95), "max_s": max(wp), "runs": len(wp)},
            "prototype": {"median_s": statistics.median(proto), "p95_s": percentile(proto, 0.95), "runs": len(proto)},
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure_memory(log_dir: Path) -> dict:
    """Each side's cold export in fresh subprocesses (one per kind of figure)."""
    out: dict = {}
    for side in ("webperf3", "prototype"):
        out[side] = {}
        for kind in ("rss", "tracemalloc"):
            cmd = [sys.executable, str(Path(__file__).resolve()), "--child", side, "--measure", kind, "--log-dir", str(log_dir)]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr}")
            out[side].update(json.loads(done.stdout.strip().splitlines()[-1]))
    return out


def peak_rss_bytes() -> int:
    """The peak resident set size of this process image (Linux: VmHWM).

    Not ``ru_maxrss``: on Linux that survives fork + exec, so a child started
    by this (large) benchmark process would inherit the parent's peak and
    show no growth at all. VmHWM belongs to the process's own memory map,
    which exec makes anew. Elsewhere, fall back to ``ru_maxrss``.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def child(side: str, kind: str, log_dir: Path) -> None:
    """Run in a fresh interpreter: one cold export, report its peak memory."""
    import tracemalloc

    if side == "webperf3":
        import webperf3.exports.results  # noqa: F401
        import webperf3.store.results  # noqa: F401

        run = webperf3_export
    else:
        import prototype  # noqa: F401

        run = prototype_export
    gc.collect()
    base = peak_rss_bytes()
    if kind == "tracemalloc":
        tracemalloc.start()
    t0 = time.perf_counter()
    value = run(log_dir)
    elapsed = time.perf_counter() - t0
    peak = peak_rss_bytes()
    report: dict = {}
    if kind == "tracemalloc":
        report["tracemalloc_peak_bytes"] = tracemalloc.get_traced_memory()[1]
        report["tracemalloc_run_s"] = elapsed
        tracemalloc.stop()
    else:
        report["rss_base_bytes"] = base
        report["rss_peak_growth_bytes"] = peak - base
        report["rss_run_s"] = elapsed
    del value
    print(json.dumps(report))


def check_csv_agreement(log_dir: Path, proto_csv: str) -> dict:
    """The prototype's first five columns against webperf3's, row by row."""
    from webperf3.exports.results import csv_chunks
    from webperf3.store.results import ResultsStore

    store = ResultsStore(log_dir)
    store.refresh()
    results = store.results()
    wp_rows = list(csv.reader(io.StringIO("".join(csv_chunks(results)))))
    proto_rows = list(csv.reader(io.StringIO(proto_csv)))
    header_ok = wp_rows[0][:5] == proto_rows[0]
    wp_rows, proto_rows = wp_rows[1:], proto_rows[1:]
    same_rows = len(wp_rows) == len(proto_rows)
    same_times = same_rows and all(w[2] == p[2] and w[0] == p[0] for w, p in zip(wp_rows, proto_rows, strict=True))
    bidir_311 = equal_311 = equal_all = 0
    for r, w, p in zip(results, wp_rows, proto_rows, strict=False):
        agree = w[:5] == p
        equal_all += agree
        if r.version == "3.10.1" and r.direction == "bidirectional":
            bidir_311 += 1
            equal_311 += agree
    return {
        "header_ok": header_ok,
        "rows_webperf3": len(wp_rows),
        "rows_prototype": len(proto_rows),
        "same_rows_in_same_order": same_times,
        "bidir_311_rows": bidir_311,
        "bidir_311_equal": equal_311,
        "all_equal": equal_all,
        "ok": header_ok and same_times and bidir_311 > 0 and bidir_311 == equal_311,
    }


# -- reporting -------------------------------------------------------------------


def ms(seconds: float) -> str:
    value = seconds * 1000
    if value >= 100:
        return f"{value:.0f} ms"
    if value >= 10:
        return f"{value:.1f} ms"
    return f"{value:.2f} ms"


def mib(nbytes: float) -> str:
    return f"{nbytes / (1 << 20):.1f} MiB"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def build_rows(fig: dict) -> list[tuple[str, str, str, str, str, str]]:
    """(what, webperf3, prototype, ratio, goal, verdict) rows of the table."""
    size = fig["data"]["total_bytes"] / MB
    ex = fig["export"]
    wp_t, pr_t = ex["webperf3"]["median_s"], ex["prototype"]["median_s"]
    speedup = pr_t / wp_t
    rows = [
        (
            f"Cold CSV export of {size:.0f} MB of logs (median, {ex['webperf3']['runs']} / {ex['prototype']['runs']} runs)",
            ms(wp_t),
            ms(pr_t),
            f"{speedup:.1f}x faster",
            f">= {GOAL_EXPORT_SPEEDUP:.0f}x faster",
            verdict(speedup >= GOAL_EXPORT_SPEEDUP),
        )
    ]
    warm = fig["warm_export"]["median_s"]
    rows.append(
        (
            "  same CSV, store already loaded (a running webperf3's Download CSV)",
            ms(warm),
            ms(pr_t),
            f"{pr_t / warm:.1f}x faster",
            "for information",
            "",
        )
    )
    for ap in fig["append"]:
        w, p = ap["webperf3"], ap["prototype"]
        rows.append(
            (
                f"Re-read after 1 appended test, {ap['log_bytes'] / MB:.0f} MB of logs (median / p95, {w['runs']} / {p['runs']} runs)",
                f"{ms(w['median_s'])} / {ms(w['p95_s'])}",
                f"{ms(p['median_s'])} / {ms(p['p95_s'])}",
                f"{p['median_s'] / w['median_s']:.0f}x faster",
                f"<= {GOAL_APPEND_MS:.0f} ms (p95)",
                verdict(w["p95_s"] * 1000 <= GOAL_APPEND_MS),
            )
        )
    if len(fig["append"]) == 2:
        small, big = fig["append"]
        growth = big["webperf3"]["median_s"] / small["webperf3"]["median_s"]
        size_ratio = big["log_bytes"] / small["log_bytes"]
        rows.append(
            (
                f"  re-read time at {big['log_bytes'] / MB:.0f} MB over at {small['log_bytes'] / MB:.0f} MB ({size_ratio:.0f}x the bytes)",
                f"{growth:.2f}x",
                f"{big['prototype']['median_s'] / small['prototype']['median_s']:.0f}x",
                "",
                "independent of size",
                verdict(growth <= 2.0 and big["webperf3"]["p95_s"] * 1000 <= GOAL_APPEND_MS),
            )
        )
    mem = fig.get("memory")
    if mem:
        w, p = mem["webperf3"], mem["prototype"]
        share = w["rss_peak_growth_bytes"] / p["rss_peak_growth_bytes"]
        rows.append(
            (
                "Peak memory of a cold export: RSS growth",
                mib(w["rss_peak_growth_bytes"]),
                mib(p["rss_peak_growth_bytes"]),
                f"{share:.2f}x",
                f"<= {GOAL_MEMORY_SHARE}x",
                verdict(share <= GOAL_MEMORY_SHARE),
            )
        )
        share = w["tracemalloc_peak_bytes"] / p["tracemalloc_peak_bytes"]
        rows.append(
            (
                "Peak memory of a cold export: tracemalloc peak",
                mib(w["tracemalloc_peak_bytes"]),
                mib(p["tracemalloc_peak_bytes"]),
                f"{share:.2f}x",
                f"<= {GOAL_MEMORY_SHARE}x",
                verdict(share <= GOAL_MEMORY_SHARE),
            )
        )
    fl = fig["floor"]
    rows.append(
        (
            f"Floor: read the {fl['bytes'] / MB:.0f} MB from the page cache (4 MB reads)",
            ms(fl["median_s"]),
            "",
            f"exports: {wp_t / fl['median_s']:.0f}x / {pr_t / fl['median_s']:.0f}x it",
            "",
            "",
        )
    )
    return rows


HEAD = ("", "webperf3", "prototype", "ratio", "goal", "")


def describe_machine() -> str:
    import msgspec

    return _report.describe_machine(f"msgspec {msgspec.__version__}")


# -- main ------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size-mb", type=float, default=100, help="size of the log directory (default 100)")
    p.add_argument("--small-mb", type=float, default=1, help="the small size for the append test (default 1)")
    p.add_argument("--ports", type=int, default=10, help="log files in the directory (default 10)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeat", type=int, default=5, help="cold exports of webperf3 (the prototype: 3)")
    p.add_argument("--appends", type=int, default=30, help="appended tests measured per size (default 30)")
    p.add_argument("--no-memory", action="store_true", help="skip the subprocess memory runs")
    p.add_argument("--out", type=Path, default=OUT, help="where to write the figures (default benchmarks/out)")
    p.add_argument("--child", choices=("webperf3", "prototype"), help=argparse.SUPPRESS)
    p.add_argument("--measure", choices=("rss", "tracemalloc"), help=argparse.SUPPRESS)
    p.add_argument("--log-dir", type=Path, help=argparse.SUPPRESS)
    quick = {"size_mb": 1, "small_mb": 0.5, "repeat": 1, "appends": 3, "out": _data.CACHE / "quick-out"}
    return _report.parse_args(p, argv, quick)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        child(args.child, args.measure, args.log_dir)
        return 0
    started = time.perf_counter()
    import prototype  # noqa: F401  (imported before any timing)
    import webperf3.exports.results  # noqa: F401
    import webperf3.store.results  # noqa: F401

    big_dir, big = _data.cached_log_dir(int(args.size_mb * MB), args.ports, args.seed)
    small_dir, small = _data.cached_log_dir(int(args.small_mb * MB), args.ports, args.seed)
    load_before = os.getloadavg()[0]

    print(f"webperf3 logs benchmark, {time.strftime('%Y-%m-%d %H:%M')}: {describe_machine()}")
    print(
        f"data: {big_dir}: {big['ports']} logs, {big['total_bytes'] / MB:.1f} MB, {big['entries']} objects "
        f"({big['tests']} tests, {big['bidir_311']} of them iperf3 3.10.1 --bidir; {big['events']} server records)"
    )
    read_floor(big_dir)  # warm-up: every log in the page cache
    read_floor(small_dir)
    fig: dict = {"data": big, "machine": describe_machine()}

    fig["floor"] = measure_floor(big_dir, 7)
    print(f"  floor measured ({ms(fig['floor']['median_s'])})", file=sys.stderr, flush=True)
    export = measure_cold_export(big_dir, args.repeat, 3)
    proto_csv = export.pop("_prototype_csv")
    fig["export"] = export
    fig["warm_export"] = measure_warm_export(big_dir, args.repeat)
    print("  cold and warm export measured", file=sys.stderr, flush=True)
    fig["csv_check"] = check_csv_agreement(big_dir, proto_csv)
    del proto_csv
    budget = 10.0
    fig["append"] = [measure_append(small_dir, small, args.appends, budget)]
    if big["total_bytes"] != small["total_bytes"]:
        fig["append"].append(measure_append(big_dir, big, args.appends, budget))
    print("  re-reads measured", file=sys.stderr, flush=True)
    if not args.no_memory:
        fig["memory"] = measure_memory(big_dir)
        print("  memory measured", file=sys.stderr, flush=True)
    fig["load_average"] = [load_before, os.getloadavg()[0]]
    fig["runtime_s"] = time.perf_counter() - started

    rows = build_rows(fig)
    print()
    print(_report.text_table(rows, HEAD))
    print()
    c = fig["csv_check"]
    print(
        f"CSV check: {'OK' if c['ok'] else 'MISMATCH'}: both exports have {c['rows_webperf3']} / {c['rows_prototype']} rows"
        f"{' in the same order' if c['same_rows_in_same_order'] else ' (NOT the same rows)'}; "
        f"first five columns equal in {c['bidir_311_equal']} of {c['bidir_311_rows']} iperf3 3.10.1 --bidir rows "
        f"(and in {c['all_equal']} of all rows: the others are tests the prototype misreads, -R, -P, UDP, Ctrl-C)"
    )
    print(
        f"load average (1 min) {fig['load_average'][0]:.2f} before, {fig['load_average'][1]:.2f} after "
        f"(this run adds up to 1; more means other work shared the CPUs); total runtime {fig['runtime_s']:.0f} s"
    )
    md = _report.markdown_table(rows, 'prototype')
    print()
    print("Markdown:")
    print()
    print(md)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "logs_bench.json").write_text(json.dumps(fig, indent=1) + "\n")
    (args.out / "logs_bench.md").write_text(md + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
