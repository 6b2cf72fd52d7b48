"""The survey book (webperf3/survey/): starting with 100,000 tests and
10,000 edits, how fast a change reaches its listeners, what the routes ask of it.

    .venv/bin/python benchmarks/survey_bench.py [--results 100000] [--edits 10000] [--quick]

Everything is local: a cached log directory of real iperf3 entries
(``_data.py``, about 5 KB per test, so 100,000 tests is about 500 MB, built
once in /tmp/webperf3-bench/) and SQLite files in a temporary directory (the
cached logs are never written to). It measures:

1. start: ``ResultsStore.refresh()`` of the whole directory, then
   ``SurveyBook`` opened and ``view().annotate_all()`` of every result — with
   an empty book, and with one holding ``--edits`` edits of random tests,
   ``--claims`` claims and 20 surveys — and loading alone, each ``--repeat``
   times in rotating order. Goal: with edits no more than 1.2x without. The
   verdict adds each kind's book part (median) to the median load of all
   runs (the same work in every kind); each kind's own whole-start medians
   are shown too.
2. change → listener: the time from calling ``claim``, ``edit``, ``start`` /
   ``undo_last`` and ``rename`` until the book's listener has the change (the
   commit, fsync'd, is inside), ``--changes`` of each. Goal: a small fraction
   (10 ms) of the 100 ms p95 from a change to every open page
   (``survey_push_bench.py``).
3. what the routes and the push ask of a view of the full book: the survey
   list, the autocomplete's places, the current survey's tests, annotating
   500 tests (a survey change's push), all of them, one (a new test), and
   ``view()`` itself.
4. connections: the same insert from 8 threads at once through one
   connection under a lock, and through a connection per thread (same
   pragmas, ``busy_timeout`` 5 s); and the book's whole ``claim()``.

It prints the figures and the same in Markdown. Nothing is asserted.

``--quick``: 200 tests, 50 edits, 10 claims, one start of each kind, 10 changes.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import _data  # noqa: E402
import _report  # noqa: E402

from webperf3.store.record import Result  # noqa: E402
from webperf3.store.results import ResultsStore  # noqa: E402
from webperf3.survey import SurveyBook  # noqa: E402

BYTES_PER_TEST = 5055  # _data.py's mix: 100 MB held 19,783 tests
GOAL_START_RATIO = 1.2
GOAL_CHANGE_P95_MS = 10.0  # a tenth of the 100 ms page budget


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


# -- 1. start ------------------------------------------------------------------------


def fill_book(path: Path, results: list[Result], edits: int, claims: int, seed: int = 9) -> None:
    rng = random.Random(seed)
    with SurveyBook(path) as book:
        first, last = results[0].time, results[-1].time
        for i in range(20):
            book.start(f"Floor {i}", at=first + (last - first) * (i + 1) / 21)
        chosen = rng.sample(results, min(edits, len(results)))
        half = len(chosen) // 2
        book.edit_many(chosen[:half], place="Edited place")
        book.edit_many(chosen[half:], excluded=True)
        clients = sorted({r.client for r in results if r.client}) or ["127.0.0.1"]
        for i in range(claims):
            book.claim(rng.choice(clients), f"Room {i}", at=rng.uniform(first, last), device=f"d{i % 7}")


def start_once(log_dir: Path, book_path: Path | None) -> tuple[float, float, int]:
    """(load s, open + annotate s, results) of one cold start."""
    gc.collect()
    t0 = time.perf_counter()
    store = ResultsStore(log_dir)
    store.refresh()
    results = store.results()
    t1 = time.perf_counter()
    if book_path is not None:
        with SurveyBook(book_path) as book:
            notes = book.view().annotate_all(results)
        assert len(notes) == len(results)
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, len(results)


def bench_start(log_dir: Path, work: Path, edits: int, claims: int, repeat: int) -> dict:
    store = ResultsStore(log_dir)
    store.refresh()
    results = store.results()
    empty_path, full_path = work / "empty.sqlite3", work / "edits.sqlite3"
    SurveyBook(empty_path).close()
    t = time.perf_counter()
    fill_book(full_path, results, edits, claims)
    fill_s = time.perf_counter() - t
    with SurveyBook(full_path) as book:
        view = book.view()
        notes = view.annotate_all(results)
        counts = (len(view.edits), len(view.claims), sum(n.place_source == "browser" for n in notes), sum(n.excluded for n in notes))
    del store, results, notes
    kinds = {"load only": None, "empty book": empty_path, "with edits": full_path}
    runs: dict[str, list[tuple[float, float, int]]] = {k: [] for k in kinds}
    order = list(kinds)
    for i in range(repeat):
        for kind in order[i % 3 :] + order[: i % 3]:  # each kind in each position in turn
            runs[kind].append(start_once(log_dir, kinds[kind]))
    med = {k: (statistics.median(a + b for a, b, _ in v), statistics.median(b for _, b, _ in v)) for k, v in runs.items()}
    # Loading the logs is the same work whatever the book: its median over
    # every run, plus each kind's own book part, is less at the mercy of
    # whatever else the machine does during one kind's runs.
    load = statistics.median(a for v in runs.values() for a, _, _ in v)
    return {
        "book_path": full_path,
        "load_median_s": load,
        "composed_ratio": (load + med["with edits"][1]) / (load + med["empty book"][1]),
        "results": runs["load only"][0][2],
        "edits": counts[0],
        "claims": counts[1],
        "browser_named": counts[2],
        "excluded": counts[3],
        "fill_s": fill_s,
        "median_total_s": {k: v[0] for k, v in med.items()},
        "median_book_s": {k: v[1] for k, v in med.items()},
        "ratio_edits_vs_empty": med["with edits"][0] / med["empty book"][0],
        "ratio_edits_vs_load": med["with edits"][0] / med["load only"][0],
    }


# -- 2. change → listener --------------------------------------------------------------


def bench_changes(work: Path, results: list[Result], n: int) -> dict:
    path = work / "changes.sqlite3"
    out: dict[str, dict] = {}
    with SurveyBook(path) as book:
        heard: list[float] = []
        book.subscribe(lambda change: heard.append(time.perf_counter()))
        sample = random.Random(3).sample(results, min(n, len(results)))
        ops: dict[str, Callable[[int], object]] = {
            "claim (name a place)": lambda i: book.claim(f"10.0.{i // 250}.{i % 250 + 1}", f"Room {i}", device="bench"),
            "edit (place, exclude)": lambda i: book.edit(sample[i % len(sample)], place=f"Lab {i}", excluded=i % 2 == 0),
            "new survey / undo": lambda i: book.start(f"S{i}") if i % 2 == 0 else book.undo_last(),
            "rename survey": lambda i: book.rename(book.view().current.id, f"Name {i}"),
        }
        for name, op in ops.items():
            took = []
            for i in range(n):
                t0 = time.perf_counter()
                op(i)
                took.append(heard[-1] - t0)
            out[name] = {"p50_s": statistics.median(took), "p95_s": percentile(took, 0.95), "max_s": max(took)}
    return out


def bench_queries(path: Path, results: list[Result]) -> dict:
    """What the routes and the push ask of a view of the full book."""
    out: dict[str, dict] = {}
    with SurveyBook(path) as book:
        view = book.view()

        def timed(name: str, fn: Callable[[], object], n: int = 1) -> None:
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            out[name] = {"p50_s": (time.perf_counter() - t0) / n}

        listed = view.survey_list(results)
        timed(f"survey list ({len(listed)} surveys, {len(results)} tests)", lambda: view.survey_list(results))
        biggest = max(listed, key=lambda s: s.tests)
        timed(f"places of a survey of {biggest.tests} tests", lambda: view.places(results, biggest.id))
        timed("current survey's tests (in_survey)", lambda: view.in_survey(results), 20)
        timed("annotate 500 tests", lambda: view.annotate_all(results[-500:]), 20)
        timed(f"annotate all {len(results)} tests", lambda: view.annotate_all(results))
        one = results[-1]
        timed("annotate one new test", lambda: view.annotate(one), 10000)
        timed("view() (a read)", book.view, 100000)
    return out


# -- 3. connections ------------------------------------------------------------------------


def _threads(threads: int, per_thread: int, write: Callable[[int, int], None]) -> tuple[list[float], float]:
    """``write(thread, i)`` from ``threads`` threads at once: each write's time, and the wall time."""
    took: list[float] = []
    lock = threading.Lock()
    go = threading.Barrier(threads)

    def work(n: int) -> None:
        go.wait()
        mine = []
        for i in range(per_thread):
            t0 = time.perf_counter()
            write(n, i)
            mine.append(time.perf_counter() - t0)
        with lock:
            took.extend(mine)

    pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    t0 = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return took, time.perf_counter() - t0


_INSERT = "INSERT INTO claims (address, place, at, device) VALUES (?, ?, ?, ?)"


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, timeout=5.0, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    return conn


def _insert(conn: sqlite3.Connection, n: int, i: int) -> None:
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(_INSERT, (f"10.1.{n}.{i % 250}", f"Room {i}", time.time(), "t"))
    conn.execute("COMMIT")


def bench_connections(work: Path, threads: int = 8, per_thread: int = 40) -> dict:
    """The same insert from 8 threads at once: through one connection under a
    lock, through a connection per thread (SQLite's busy handler makes them
    wait), and the book's whole ``claim()`` (one connection, its lock, the
    new view and the listeners)."""
    path = work / "threads.sqlite3"
    SurveyBook(path).close()
    shared, guard = _connect(path), threading.Lock()

    def through_shared(n: int, i: int) -> None:
        with guard:
            _insert(shared, n, i)

    local = threading.local()

    def through_own(n: int, i: int) -> None:
        if not hasattr(local, "conn"):
            local.conn = _connect(path)
        _insert(local.conn, n, i)

    out = {}
    with SurveyBook(path) as book:
        runs = {
            "SQL insert, one connection + lock": through_shared,
            "SQL insert, a connection per thread": through_own,
            "book.claim(), one connection + lock": lambda n, i: book.claim(f"10.2.{n}.{i % 250 + 1}", f"Room {i}", device="t"),
        }
        for name, write in runs.items():
            took, wall = _threads(threads, per_thread, write)
            out[name] = {"p50_s": statistics.median(took), "p95_s": percentile(took, 0.95), "max_s": max(took), "wall_s": wall}
    shared.close()
    return out


# -- report ---------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=int, default=100_000, help="tests in the logs (about 5 KB each)")
    parser.add_argument("--edits", type=int, default=10_000)
    parser.add_argument("--claims", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3, help="cold starts of each kind")
    parser.add_argument("--changes", type=int, default=200, help="changes of each kind timed")
    args = _report.parse_args(parser, None, quick={"results": 200, "edits": 50, "claims": 10, "repeat": 1, "changes": 10})

    print(_report.describe_machine(f"SQLite {sqlite3.sqlite_version}"))
    print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    log_dir, manifest = _data.cached_log_dir(args.results * BYTES_PER_TEST)
    print(f"logs: {log_dir} ({manifest['total_bytes'] / 1e6:.0f} MB, {manifest['tests']} tests)", flush=True)

    with tempfile.TemporaryDirectory(prefix="webperf3-survey-bench-") as tmp:
        work = Path(tmp)
        start = bench_start(log_dir, work, args.edits, args.claims, args.repeat)
        store = ResultsStore(log_dir)
        store.refresh()
        results = store.results()
        changes = bench_changes(work, results, args.changes)
        queries = bench_queries(start["book_path"], results)
        connections = bench_connections(work)

    total, book = start["median_total_s"], start["median_book_s"]
    verdict = "pass" if start["composed_ratio"] <= GOAL_START_RATIO else "FAIL"
    load = start["load_median_s"]
    print(
        f"\n1. start: {start['results']} results; the full book holds {start['edits']} edits, {start['claims']} claims, 20 surveys "
        f"({start['browser_named']} tests named by a claim, {start['excluded']} excluded; filled in {start['fill_s']:.2f} s)"
    )
    rows = [
        ("start: load (all runs) + open + annotate", f"{load + book['with edits']:.3f} s", f"{load + book['empty book']:.3f} s", f"{start['composed_ratio']:.3f}", f"<= {GOAL_START_RATIO}", verdict),
        ("  the book alone (open + annotate)", f"{book['with edits']:.3f} s", f"{book['empty book']:.3f} s", f"{book['with edits'] / book['empty book']:.2f}", "", ""),
        ("  each kind's own runs, whole start", f"{total['with edits']:.3f} s", f"{total['empty book']:.3f} s", f"{start['ratio_edits_vs_empty']:.3f}", "", ""),
        ("  with edits against loading alone", f"{total['with edits']:.3f} s", f"{total['load only']:.3f} s", f"{start['ratio_edits_vs_load']:.3f}", "", ""),
    ]
    print(_report.text_table(rows, ("", "with edits", "without", "ratio", "goal", "")))
    md_start = _report.markdown_table(rows, reference="without edits")

    print("\n2. change → listener (commit fsync'd), and what a survey change adds")
    rows2 = []
    for name, f in changes.items():
        p95 = f.get("p95_s")
        ok = "" if p95 is None else ("pass" if p95 * 1000 <= GOAL_CHANGE_P95_MS else "FAIL")
        rows2.append((name, ms(f["p50_s"]) if f["p50_s"] >= 1e-4 else f"{f['p50_s'] * 1e6:.1f} µs", "" if p95 is None else ms(p95), "" if p95 is None else ms(f["max_s"]), f"p95 <= {GOAL_CHANGE_P95_MS:g} ms" if p95 else "", ok))
    print(_report.text_table(rows2, ("", "p50", "p95", "max", "goal", "")))

    print(f"\n3. what the routes ask of a view of the full book ({start['edits']} edits, {start['claims']} claims)")
    rows4 = [(name, ms(f["p50_s"]) if f["p50_s"] >= 1e-4 else f"{f['p50_s'] * 1e6:.2f} µs", "", "", "", "") for name, f in queries.items()]
    print(_report.text_table(rows4, ("", "each", "", "", "", "")))

    print("\n4. threads: 8 writers at once, 40 writes each")
    rows3 = [(name, ms(f["p50_s"]), ms(f["p95_s"]), ms(f["max_s"]), f"{f['wall_s']:.2f} s in all", "") for name, f in connections.items()]
    print(_report.text_table(rows3, ("", "p50", "p95", "max", "", "")))
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")

    print("\nMarkdown:\n")
    print(md_start)
    print()
    print(_report.markdown_table(rows2, reference="p95").replace("| | webperf3 | p95 | ratio |", "| | p50 | p95 | max |"))
    print()
    print(_report.markdown_table(rows4, reference="").replace("| | webperf3 |  | ratio |", "| | each | | |"))
    print()
    print(_report.markdown_table(rows3, reference="p95").replace("| | webperf3 | p95 | ratio |", "| | p50 | p95 | max |"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
