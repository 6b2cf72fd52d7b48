"""The places table: ``GET /api/places`` with 100,000 results.

    .venv/bin/python benchmarks/places_bench.py [--results 100000] [--repeat 15] [--quick]

Everything is local: the cached log directory of real iperf3 entries
(``_data.py``, about 500 MB for 100,000 tests, built once in
/tmp/webperf3-bench/, never written to) read by a real store, a survey book
in a temporary directory, and the Bottle app called as WSGI (WebTest, no
socket). It measures, ``--repeat`` times each (p50, p95, max):

1. ``/api/places`` of the current survey holding every test (the book's
   first survey), ``survey=all``, two surveys of half each compared, and
   ``/csv?by=place``. ``_data.py`` makes every ``--extra-data`` unique, so
   these have about a third as many places as tests (33,000 rows): the
   worst case, far from a survey's tens of places.
2. The same survey folded to 40 places (each test's annotation given one of
   40 names): what a real survey of 100,000 tests costs, split into the
   book's annotation of every test and the aggregation (``place_rows``).

Goal: ``/api/places`` <= 100 ms. Prints the figures and the same in
Markdown. Nothing is asserted.

``--quick``: 200 tests, 2 runs of each.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import msgspec

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import _data  # noqa: E402
import _report  # noqa: E402
from webtest import TestApp  # noqa: E402

from webperf3.board.join import Board  # noqa: E402
from webperf3.board.tally import PlaceTally, Thresholds, place_rows  # noqa: E402
from webperf3.store.results import ResultsStore  # noqa: E402
from webperf3.survey import SurveyBook  # noqa: E402
from webperf3.web.places import Tallies  # noqa: E402

BYTES_PER_TEST = 5055  # _data.py's mix: 100 MB held 19,783 tests
GOAL_MS = 100.0
FOLDED_PLACES = 40


def timed(fn: Callable[[], object], repeat: int) -> dict[str, float]:
    fn()  # warm: the first call compiles the template, fills caches
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    times.sort()
    return {"p50_s": statistics.median(times), "p95_s": times[min(len(times) - 1, round(0.95 * (len(times) - 1)))], "max_s": times[-1]}


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = _report.parse_args(parser, None, quick={"results": 200, "repeat": 2})

    print(_report.describe_machine(""))
    print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    log_dir, manifest = _data.cached_log_dir(args.results * BYTES_PER_TEST)
    store = ResultsStore(log_dir)
    store.refresh()
    results = store.results()
    print(f"logs: {log_dir} ({manifest['total_bytes'] / 1e6:.0f} MB, {len(results)} results)", flush=True)

    figures: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="webperf3-places-bench-") as tmp:
        with SurveyBook(Path(tmp) / "book.sqlite3") as book:
            dashboard = _data.dashboard(store, book=book, board=Board(store, book))
            app = TestApp(dashboard.app, extra_environ={"HTTP_HOST": "bench.example"})
            places = len(app.get("/api/places").json["places"])

            # Replacing an attribute the dashboard no longer reads would make
            # every "cold" figure below a warm one, silently.
            if not isinstance(getattr(dashboard, "place_tallies", None), Tallies):
                raise RuntimeError("the Dashboard keeps its place tallies elsewhere now: follow it in cold()")

            def cold(path: str) -> Callable[[], object]:
                def call() -> object:
                    dashboard.place_tallies = Tallies()  # nothing kept: every test annotated and added
                    return app.get(path)
                return call

            figures[f"/api/places cold, current survey: every test ({places} places)"] = timed(cold("/api/places"), args.repeat)
            figures["/api/places warm (nothing new since the last request)"] = timed(lambda: app.get("/api/places"), args.repeat)
            figures["/api/places?survey=all cold"] = timed(cold("/api/places?survey=all"), args.repeat)
            figures["/csv?by=place warm"] = timed(lambda: app.get("/csv?by=place"), args.repeat)
            book.start("Second half", at=results[len(results) // 2].time)
            figures["/api/places?survey=2&compare=1 cold (half each)"] = timed(cold("/api/places?survey=2&compare=1"), args.repeat)

            # A real survey: the same tests at 40 places.
            view = book.view()
            members = view.in_survey(results, 1) + view.in_survey(results, 2)
            notes = view.annotate_all(members)
            folded = [msgspec.structs.replace(a, place=f"Room {i % FOLDED_PLACES}") for i, a in enumerate(notes)]
            figures[f"annotate every test (the book, {len(members)} tests)"] = timed(lambda: view.annotate_all(members), args.repeat)
            figures[f"place_rows at {FOLDED_PLACES} places"] = timed(lambda: place_rows(members, folded, Thresholds()), args.repeat)
            # What a request after one new test costs at 40 places: the kept tally, one test added, the rows.
            tally = PlaceTally()
            tally.add(members[:-1], folded[:-1])
            figures[f"one new test: add it, then the {FOLDED_PLACES} rows"] = timed(lambda: (tally.add(members[-1:], folded[-1:]), tally.rows(Thresholds())), args.repeat)

    print(f"load average after: {os.getloadavg()[0]:.2f}")
    annotate = next(v for k, v in figures.items() if k.startswith("annotate"))["p50_s"]
    rows_s = next(v for k, v in figures.items() if k.startswith("place_rows"))["p50_s"]
    table = []
    for name, f in figures.items():
        goal = f"<= {GOAL_MS:g} ms" if name.startswith("/api/places") or name.startswith("one new") else ""
        verdict = ("pass" if f["p50_s"] * 1000 <= GOAL_MS else "FAIL") if goal else ""
        table.append((name, ms(f["p50_s"]), ms(f["p95_s"]), ms(f["max_s"]), goal, verdict))
    table.append((f"a real survey: annotate + place_rows ({FOLDED_PLACES} places)", ms(annotate + rows_s), "", "", f"<= {GOAL_MS:g} ms", "pass" if (annotate + rows_s) * 1000 <= GOAL_MS else "FAIL"))
    headers = ("", "p50", "p95", "max", "goal", "")
    print(_report.text_table(table, headers))
    print()
    print("| | p50 | p95 | max | goal | |\n| --- | ---: | ---: | ---: | --- | --- |")
    for row in table:
        print("| " + " | ".join(str(c) for c in row) + " |")


if __name__ == "__main__":
    main()
