"""A scrape of /metrics costs the same at 100 and at 100,000 results.

Two log directories from ``_data.py`` (real iperf3 entries, 10 ports), one of
about 100 tests and one of about 100,000 (~500 MB), each a fresh working
copy. For each: a ``ResultsStore`` loaded once (not timed), then the
registry ``webperf3.station`` builds (10 servers, websocket clients, a survey
of 100 places with place labels on), and ``exposition()`` timed:

1. **Scrape, logs unchanged**: N scrapes back to back (after 20 not timed).
   Each one refreshes the store (a ``stat`` per log), reads each port's
   totals and formats the text.
2. **Scrape after one appended test**: a real test appended to the next log
   in turn (as iperf3 would), then one scrape timed; N/5 times. The scrape
   reads that test too.

Both sizes are loaded side by side and scraped in turns, so a busy moment
of the (shared) machine falls on both alike.

Goal: the p50 at 100,000 results within 1.5x of the p50 at 100. Loopback
and in-process only; no HTTP (waitress adds the same ~0.3 ms to both).

    .venv/bin/python benchmarks/metrics_bench.py [--scrapes 500] [--large 100000] [--quick]

``--quick``: 20 and 200 tests, 10 scrapes; exit status 0 whatever the ratio.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from _data import Appender, cached_log_dir, working_copy  # noqa: E402
from _report import describe_machine, exit_status, markdown_table, parse_args, text_table  # noqa: E402

from webperf3.ops.labels import SurveyCounts  # noqa: E402
from webperf3.ops.metrics import build_registry, exposition  # noqa: E402
from webperf3.store.results import ResultsStore  # noqa: E402

#: Bytes of log per test in the _data.py mix (100 MB held 19,783 tests).
BYTES_PER_TEST = 100_000_000 / 19_783


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


@dataclass
class Setup:
    """A loaded store over a working copy, and the registry webperf3.station builds for it."""

    tests: int
    work: Path = field(init=False)
    manifest: dict = field(init=False)

    def __post_init__(self) -> None:
        source, self.manifest = cached_log_dir(int(self.tests * BYTES_PER_TEST))
        self.work = working_copy(source, f"metrics-{self.tests}")
        self.store = ResultsStore(self.work)
        self.store.refresh()
        self.results = len(self.store.results())
        ports = list(range(5201, 5201 + self.manifest["ports"]))
        servers = [{"port": p, "state": "idle", "restarts": 0, "version": "3.12"} for p in ports]
        survey = SurveyCounts("Main building", {f"Room {i}": i % 7 for i in range(100)}, 300)
        self.registry = build_registry(self.store, servers=lambda: servers, ports=lambda: ports,
                                       websocket_clients=lambda: 3, station_name="bench",
                                       survey=lambda: survey, place_labels=100)
        self.body, _ = exposition(self.registry)
        self.appender = Appender(self.work, self.manifest)
        self.still: list[float] = []
        self.appended: list[float] = []

    def scrape(self) -> float:
        start = time.perf_counter()
        exposition(self.registry)
        return time.perf_counter() - start

    def close(self) -> None:
        assert len(self.store.results()) == self.results + self.appender.count, "a scrape missed an appended test"
        shutil.rmtree(self.work, ignore_errors=True)


def measure(setups: list[Setup], scrapes: int) -> None:
    """The sizes in turns, so a busy moment of the machine falls on both."""
    for _ in range(20):
        for setup in setups:
            setup.scrape()
    for i in range(scrapes):
        for setup in setups:
            setup.still.append(setup.scrape())
        if i % 5 == 0:
            for setup in setups:
                setup.appender.append()
                setup.appended.append(setup.scrape())


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=100, help="tests in the small directory (default: %(default)s)")
    parser.add_argument("--large", type=int, default=100_000, help="tests in the large directory (default: %(default)s)")
    parser.add_argument("--scrapes", type=int, default=500, help="timed scrapes per size (default: %(default)s)")
    args = parse_args(parser, argv, quick={"small": 20, "large": 200, "scrapes": 10})

    small, large = Setup(args.small), Setup(args.large)
    try:
        measure([small, large], args.scrapes)
    finally:
        small.close()
        large.close()
    rows = []
    for what, key in (("Scrape, logs unchanged", "still"), ("Scrape after one appended test", "appended")):
        for size in (small, large):
            runs = getattr(size, key)
            rows.append((f"{what}, {size.results:,} results ({size.manifest['total_bytes'] / 1e6:.1f} MB) p50 / p95 / max of {len(runs)}",
                         f"{ms(statistics.median(runs))} / {ms(percentile(runs, 0.95))} / {ms(max(runs))}", "", "", "", ""))
        ratio = statistics.median(getattr(large, key)) / statistics.median(getattr(small, key))
        rows.append((f"{what}: p50 at {large.results:,} over at {small.results:,}", f"{ratio:.2f}x", "", "",
                     "<= 1.5x", "pass" if ratio <= 1.5 else "fail"))
    samples = sum(1 for line in large.body.splitlines() if line and not line.startswith(b"#"))
    rows.append(("Exposition (10 ports, 100 places labelled)", f"{samples} samples, {len(large.body):,} bytes",
                 "", "", "", ""))

    print(describe_machine(f"prometheus_client {version('prometheus_client')}"))
    print()
    print(text_table(rows, ("", "webperf3", "", "ratio", "goal", "")))
    print()
    print(markdown_table(rows, reference=""))
    return exit_status(args, all(r[5] != "fail" for r in rows))


if __name__ == "__main__":
    sys.exit(main())
