"""The history page with 100,000 tests: its API, and the page in Chromium.

    .venv/bin/python benchmarks/history_bench.py [--results 100000] [--repeat 5] [--quick]

Everything is local: the cached log directory of real iperf3 entries
(``_data.py``, about 5 KB per test, built once in /tmp/webperf3-bench/; never
written: the survey book goes in a temporary directory), the web app under
waitress on 127.0.0.1, headless Debian Chromium. It measures:

1. the API in-process: ``/api/history`` cold (the survey's tests annotated
   and cached), warm, with a filter, with a new sort (its order computed
   once) and again; ``/api/history/series`` of every test and filtered.
2. the page in Chromium: first render (navigation to the first page of rows
   in the table, and to the chart of every test drawn), a filter change (the
   select's change event to the new rows in the table; and to the chart
   redrawn), a sort change, at 1280 px and on a 360 px phone.
3. the chart alone: ``TimeChart.set`` of the 100,000-point payload until the
   next frame (uPlot's draw included), per port and per place.

Goals: first render ≤ 1 s, filter change ≤ 200 ms, chart of 100,000 points
≤ 500 ms. Prints the figures and the same in Markdown.

``--quick``: 200 tests, one run of each; without Chromium or Playwright it
says so and exits 77 (skipped).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import _data  # noqa: E402
import _report  # noqa: E402
from webtest import TestApp  # noqa: E402

from webperf3.board.join import Board  # noqa: E402
from webperf3.serving.httpserver import WebServer  # noqa: E402
from webperf3.store.results import ResultsStore  # noqa: E402
from webperf3.survey import SurveyBook  # noqa: E402
from webperf3.web import Dashboard  # noqa: E402  (the type only: _data.dashboard() builds it)

BYTES_PER_TEST = 5055  # as survey_bench.py: _data.py's mix
CHROMIUM = "/usr/bin/chromium"


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def timed(call, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        call()
        out.append(time.perf_counter() - t)
    return out


def api_figures(dash: Dashboard, repeat: int) -> list[tuple[str, float, str]]:
    app = TestApp(dash.app)
    rows: list[tuple[str, float, str]] = []
    t = time.perf_counter()
    first = app.get("/api/history").json
    rows.append(("/api/history cold (annotate + cache)", ms(time.perf_counter() - t), f"{first['total']:,} tests"))
    for label, path in (
        ("/api/history warm", "/api/history"),
        ("/api/history?port=5203", "/api/history?port=5203"),
        ("/api/history?direction=upload&outcome=ok&offset=500", "/api/history?direction=upload&outcome=ok&offset=500"),
        ("/api/history?sort=download (order cached)", "/api/history?sort=download&order=asc"),
        ("/api/history/series (every test)", "/api/history/series"),
        ("/api/history/series?by=place", "/api/history/series?by=place"),
        ("/api/history/series?port=5203", "/api/history/series?port=5203"),
    ):
        if "sort=download" in path:  # the first sort by a key computes its order
            t = time.perf_counter()
            app.get("/api/history?sort=upload&order=asc")
            rows.append(("/api/history?sort=upload, first time", ms(time.perf_counter() - t), "order computed"))
        times = timed(lambda p=path: app.get(p), repeat)
        size = len(app.get(path).body)
        rows.append((label, ms(statistics.median(times)), f"median of {repeat}, {size / 1e6:.2f} MB"))
    return rows


WAIT_ROWS = """(n) => document.querySelectorAll('#h-rows tr[data-id]').length === n"""
WAIT_CHART = """(n) => { const u = document.getElementById('h-chart-download').uplot; return u && u.data[0].length === n; }"""

# Changes a select and resolves when the table (and then the chart) changed.
CHANGE = """async ([id, value]) => {
    const rows = document.getElementById('h-rows');
    const chartEl = document.getElementById('h-chart-download');
    const plotBefore = chartEl.uplot;
    const t0 = performance.now();
    const select = document.getElementById(id);
    select.value = value;
    select.dispatchEvent(new Event('change', { bubbles: true }));
    const rowsAt = await new Promise((resolve) => {
        // The table's rows are replaced on every answer (render()).
        const obs = new MutationObserver(() => { obs.disconnect(); requestAnimationFrame(() => resolve(performance.now())); });
        obs.observe(rows, { childList: true });
    });
    const chartAt = await new Promise((resolve) => {
        const check = () => (chartEl.uplot !== plotBefore ? requestAnimationFrame(() => resolve(performance.now())) : setTimeout(check, 2));
        check();
    });
    return { rows: rowsAt - t0, chart: chartAt - t0 };
}"""

CHART_ALONE = """async (by) => {
    const { TimeChart } = await import('./static/js/charts.js');
    const data = await (await fetch(`api/history/series?survey=all&by=${by}`)).json();
    const el = document.createElement('div');
    el.style.width = '800px';
    document.querySelector('main').append(el);
    const t0 = performance.now();
    const chart = new TimeChart(el, { side: 'download' });
    chart.set(data);
    await new Promise((r) => requestAnimationFrame(() => r()));
    const t1 = performance.now();
    const n = el.uplot.data[0].length;
    chart.destroy();
    el.remove();
    return { ms: t1 - t0, points: n, series: data.groups.length };
}"""


def browser_figures(url: str, total: int, points: int, repeat: int) -> list[tuple[str, float, str]]:
    rows: list[tuple[str, float, str]] = []
    with _report.chromium(CHROMIUM) as browser:
        for label, viewport in (("1280 px", {"width": 1280, "height": 900}), ("phone 360 px", {"width": 360, "height": 740})):
            context = browser.new_context(viewport=viewport, locale="en-US", is_mobile=viewport["width"] < 500)
            page = context.new_page()
            first_rows, first_chart = [], []
            for _ in range(repeat):
                t = time.perf_counter()
                page.goto(f"{url}history")
                page.wait_for_function(WAIT_ROWS, arg=min(100, total), polling="raf")
                first_rows.append(time.perf_counter() - t)
                page.wait_for_function(WAIT_CHART, arg=points, polling="raf", timeout=60_000)
                first_chart.append(time.perf_counter() - t)
            rows.append((f"{label}: first render, table", ms(statistics.median(first_rows)), f"median of {repeat} (goal 1000)"))
            rows.append((f"{label}: first render, chart of {points:,}", ms(statistics.median(first_chart)), f"median of {repeat}"))
            changes: dict[str, list[dict]] = {"filter": [], "sort": []}
            for i in range(repeat):
                changes["filter"].append(page.evaluate(CHANGE, ["h-port", "5203" if i % 2 == 0 else ""]))
                changes["sort"].append(page.evaluate(CHANGE.replace("chartEl.uplot !== plotBefore", "true"), ["h-sort", "download" if i % 2 == 0 else "time"]))
            for kind in ("filter", "sort"):
                rows.append((f"{label}: {kind} change, table", round(statistics.median(c["rows"] for c in changes[kind]), 1), f"median of {repeat} (goal 200)"))
            rows.append((f"{label}: filter change, chart redrawn", round(statistics.median(c["chart"] for c in changes["filter"]), 1), f"median of {repeat}"))
            context.close()
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
        page = context.new_page()
        page.goto(f"{url}history")
        page.wait_for_function(WAIT_ROWS, arg=min(100, total))
        for by in ("port", "place"):
            runs = [page.evaluate(CHART_ALONE, by) for _ in range(repeat)]
            rows.append((
                f"chart alone, per {by}: set + first frame",
                round(statistics.median(r["ms"] for r in runs), 1),
                f"{runs[0]['points']:,} points, {runs[0]['series']} series (goal 500)",
            ))
        context.close()
    return rows


def show(rows: list[tuple[str, float, str]]) -> None:
    for name, value, note in rows:
        print(f"  {name}: {value:.1f} ms  {note}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = _report.parse_args(parser, None, quick={"results": 200, "repeat": 1})
    if args.quick:
        if not Path(CHROMIUM).exists():
            _report.skip(f"no {CHROMIUM}: the page is measured in Debian's Chromium")
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            _report.skip("playwright is not installed (scripts/bootstrap test installs it)")
    log_dir, manifest = _data.cached_log_dir(args.results * BYTES_PER_TEST)
    store = ResultsStore(log_dir)
    t = time.perf_counter()
    store.refresh()
    load = time.perf_counter() - t
    total = len(store.results())
    with tempfile.TemporaryDirectory() as book_dir:
        book = SurveyBook.open(Path(book_dir))
        try:
            dash = _data.dashboard(store, book=book, board=Board(store, book))
            t = time.perf_counter()
            members = book.view().in_survey(store.results())
            book.view().annotate_all(members)
            annotate = time.perf_counter() - t
            print(f"{total:,} tests in {log_dir} (read in {load:.1f} s); annotating all: {ms(annotate)} ms", flush=True)
            rows = api_figures(dash, args.repeat)
            show(rows)
            points = len(TestApp(dash.app).get("/api/history/series").json["t"])
            server = WebServer(dash.app, "127.0.0.1", 0, threads=4)
            server.start()
            try:
                more = browser_figures(f"http://127.0.0.1:{server.port}/", total, points, args.repeat)
                show(more)
                rows += more
            finally:
                server.stop()
        finally:
            book.close()
    width = max(len(r[0]) for r in rows)
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>9.1f} ms  {note}")
    print("\n| what | ms | |\n| --- | ---: | --- |")
    for name, value, note in rows:
        print(f"| {name} | {value:.1f} | {note} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
