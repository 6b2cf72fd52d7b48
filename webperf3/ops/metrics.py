"""Prometheus metrics for one webperf3 station, computed at scrape time.

:func:`build_registry` gives each app its own
:class:`~prometheus_client.CollectorRegistry` holding one custom collector
that reads the live objects (the results store, the server fleet's status,
the live push's client count, the current survey) on every scrape. Nothing
is counted on the side, so the numbers cannot drift from the logs, and two
apps in one process (tests, mostly) never share a registry. The dashboard's
clear marks are ignored on purpose: clearing hides rows from a table, while
a counter that went down would read to Prometheus as a restart.

Names follow Prometheus's conventions, so ``promtool check metrics`` has
nothing to say: base units (bytes, seconds, ratios), ``_total`` on counters,
build information in ``webperf3_info``. Each figure's help text names the
side that measured it: an iperf3 server log holds the station's view, so a
download is what the station *sent* unless the client's own figures are in
the log (``measured_by``).

Every per-port series is labelled by ``port`` (a string, as Prometheus
labels are). The station is *not* a label of the exposition: Prometheus
attaches the target's labels (``station`` from service discovery or an
agent's external labels, see docs/fleet/), as its maintainers recommend;
``--station-name`` is in ``webperf3_info`` to check them against. The
client's name or address is never a label: a survey station sees an
unbounded number of them and each would become its own time series. Place
names are, only when asked for (``place_labels``), capped and cut short
(:mod:`webperf3.ops.labels`).

A scrape never fails: a part that raises (an unreadable log directory, a
fleet that is shutting down) is logged and its metrics are left out of that
scrape, while the rest is still served. A scrape costs the same whatever the
size of the logs: the store keeps each port's totals as results arrive.
"""

from __future__ import annotations

import logging
import platform
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector, CollectorRegistry

from .. import __version__
from .health import LOSING
from .labels import Family, SurveyCounts, label_value, place_families, survey_families
from ..store.results import PortTotals, ResultsStore

log = logging.getLogger("webperf3.metrics")

T = TypeVar("T")  # not PEP 695 syntax: webperf3 supports Python 3.11

__all__ = ["build_registry", "exposition", "StationCollector", "CONTENT_TYPE"]

# generate_latest() writes the classic Prometheus text format, version 0.0.4
# (with names escaped to underscores). In recent prometheus_client releases
# (0.26 here) CONTENT_TYPE_LATEST names text format *1.0.0* instead, and
# Prometheus 3 picks its parser from this header; the library itself pairs
# generate_latest() with CONTENT_TYPE_PLAIN_0_0_4 when a scraper negotiates
# nothing. Older releases have no such constant: their CONTENT_TYPE_LATEST
# is the 0.0.4 one.
try:
    from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4 as CONTENT_TYPE
except ImportError:  # an older prometheus_client
    CONTENT_TYPE = CONTENT_TYPE_LATEST

# Server states in which iperf3 is running and accepting (or running) tests.
UP_STATES = frozenset({"idle", "testing"})


# -- the metric families ---------------------------------------------------------

_PORT = ("port",)
_LATEST = "of the latest successful test on this port"

TESTS = Family(
    "webperf3_tests_total", CounterMetricFamily,
    "Tests in the iperf3 server's log, by outcome: ok, failed, or interrupted (cut by the station's own "
    "stop or restart, not a failure).", ("port", "outcome"))
LAST_TIME = Family(
    "webperf3_last_test_timestamp_seconds", GaugeMetricFamily,
    "Start time of the latest successful test on this port, seconds since the epoch.", _PORT)
LAST_UPLOAD = Family(
    "webperf3_last_upload_bytes_per_second", GaugeMetricFamily,
    f"Upload (client to station) {_LATEST}, in bytes per second, as the station received it. "
    "Absent if that test measured no upload.", _PORT)
LAST_DOWNLOAD = Family(
    "webperf3_last_download_bytes_per_second", GaugeMetricFamily,
    f"Download (station to client) {_LATEST}, in bytes per second. "
    'measured_by="station": what the station SENT (over TCP the client received at most this, '
    "over UDP anything up to all of it may have been lost); "
    'measured_by="client": what the client received, when the log holds the client\'s figures. '
    "Absent if that test measured no download.", ("port", "measured_by"))
LAST_RETRANSMITS = Family(
    "webperf3_last_retransmits", GaugeMetricFamily,
    f"TCP retransmits {_LATEST}, as counted by the sender: "
    'direction="download" is the station\'s own count (its log holds no client-side count).',
    ("port", "direction"))
LAST_JITTER = Family(
    "webperf3_last_jitter_seconds", GaugeMetricFamily,
    f"UDP jitter {_LATEST}, in seconds, as measured by the receiver: "
    'direction="upload" by the station, direction="download" by the client '
    "(only when the log holds the client's figures).", ("port", "direction"))
LAST_LOSS = Family(
    "webperf3_last_loss_ratio", GaugeMetricFamily,
    f"UDP datagrams lost (0-1) {_LATEST}, as measured by the receiver: "
    'direction="upload" by the station, direction="download" by the client '
    "(only when the log holds the client's figures).", ("port", "direction"))
SKIPPED = Family(
    "webperf3_log_skipped_entries_total", CounterMetricFamily,
    "Damaged log entries skipped since the logs were first read.")
LOG_DIR_READABLE = Family(
    "webperf3_log_dir_readable", GaugeMetricFamily,
    "1 if the log directory could be read at this scrape; if 0 the test metrics are the last ones read.")
SERVER_UP = Family(
    "webperf3_server_up", GaugeMetricFamily,
    "1 if the port's iperf3 server is running (idle or testing).", _PORT)
SERVER_TESTING = Family(
    "webperf3_server_testing", GaugeMetricFamily,
    "1 if the port's iperf3 server is running a test now.", _PORT)
SERVER_RESTARTS = Family(
    "webperf3_server_restarts_total", CounterMetricFamily,
    "Times webperf3 restarted the port's iperf3 server.", _PORT)
SERVER_LOSING = Family(
    "webperf3_server_losing_tests", GaugeMetricFamily,
    "1 while the port's tests are being lost or may be: the disk under the logs is full, or its log file "
    "was moved away from under iperf3 (webperf3 is restarting it onto a new file).", _PORT)
WEBSOCKET_CLIENTS = Family(
    "webperf3_websocket_clients", GaugeMetricFamily,
    "Browsers connected to the live push now.")
# An info family named "webperf3" is exposed as webperf3_info (a gauge of 1).
INFO = Family(
    "webperf3", InfoMetricFamily,
    "The station (its --station-name) and the software it runs: webperf3, iperf3 (empty without servers), Python.",
    ("station_name", "version", "iperf3_version", "python_version"))

# Browser tests ("Test from this browser", browser, HTTP): HTTP goodput
# through a browser, not iperf3's TCP, so families of their own.
BROWSER_TESTS = Family(
    "webperf3_browser_tests_total", CounterMetricFamily,
    'Browser tests ("Test from this browser": HTTP goodput through a browser over a websocket, not iperf3) '
    "recorded, by outcome.", ("outcome",))
BROWSER_LAST_TIME = Family(
    "webperf3_browser_last_test_timestamp_seconds", GaugeMetricFamily,
    "Start time of the latest browser test, seconds since the epoch.")
BROWSER_LAST_RATE = Family(
    "webperf3_browser_last_bytes_per_second", GaugeMetricFamily,
    'The latest browser test\'s rates: direction="download" is what the BROWSER received, '
    'direction="upload" what the station received, in bytes per second.', ("direction",))
BROWSER_LAST_LATENCY = Family(
    "webperf3_browser_last_latency_seconds", GaugeMetricFamily,
    "The latest browser test's round trips as the browser measured them (small messages on a connection of "
    'their own), median: load="idle", "download" (during the download) or "upload".', ("load",))
BROWSER_FAMILIES = (BROWSER_TESTS, BROWSER_LAST_TIME, BROWSER_LAST_RATE, BROWSER_LAST_LATENCY)

LATEST_FAMILIES = (LAST_TIME, LAST_UPLOAD, LAST_DOWNLOAD, LAST_RETRANSMITS, LAST_JITTER, LAST_LOSS)
RESULT_FAMILIES = (TESTS, *LATEST_FAMILIES, SKIPPED, LOG_DIR_READABLE, *BROWSER_FAMILIES)
SERVER_FAMILIES = (SERVER_UP, SERVER_TESTING, SERVER_RESTARTS, SERVER_LOSING)


def latest_families(totals: dict[int, PortTotals]) -> list[Metric]:
    """The latest successful test of each port, one series per figure it measured."""
    last = {family: family.new() for family in LATEST_FAMILIES}

    def put(family: Family, labels: list[str], value: float | None, scale: float = 1.0) -> None:
        if value is not None:  # not measured: no series, never a 0
            last[family].add_metric(labels, value / scale)

    for port, total in sorted(totals.items()):
        result, label = total.latest, str(port)
        if result is None:
            continue
        put(LAST_TIME, [label], result.time)
        put(LAST_UPLOAD, [label], result.upload_bps, 8)
        # A reader that predates download_measured_by leaves it None: then the
        # figure is the station's, as every iperf3 server log held before.
        put(LAST_DOWNLOAD, [label, result.download_measured_by or "station"], result.download_bps, 8)
        put(LAST_RETRANSMITS, [label, "download"], result.retransmits)
        put(LAST_JITTER, [label, "upload"], result.jitter_ms, 1000)
        put(LAST_LOSS, [label, "upload"], result.loss_percent, 100)
        put(LAST_JITTER, [label, "download"], result.download_jitter_ms, 1000)
        put(LAST_LOSS, [label, "download"], result.download_loss_percent, 100)
    return list(last.values())


def browser_families(total: PortTotals) -> list[Metric]:
    """The browser tests' counts and the latest one's figures (none before the first)."""
    tests, when, rate, latency = (family.new() for family in BROWSER_FAMILIES)
    tests.add_metric(["ok"], total.ok)
    tests.add_metric(["failed"], total.failed)
    r = total.latest
    if r is not None:
        when.add_metric([], r.time)
        for direction, bps in (("download", r.download_bps), ("upload", r.upload_bps)):
            if bps is not None:
                rate.add_metric([direction], bps / 8)
        b = r.browser
        if b is not None:
            for load, ms in (("idle", b.latency_idle_ms), ("download", b.latency_download_ms), ("upload", b.latency_upload_ms)):
                if ms is not None:
                    latency.add_metric([load], ms / 1000)
    return [tests, when, rate, latency]


# -- the collector ---------------------------------------------------------------


class StationCollector(Collector):
    """Reads the station's live objects into metric families at each scrape."""

    def __init__(
        self,
        store: ResultsStore,
        *,
        servers: Callable[[], list[dict]] = lambda: [],
        ports: Callable[[], list[int]] = lambda: [],
        websocket_clients: Callable[[], int] | None = None,
        station_name: str | None = None,
        survey: Callable[[], SurveyCounts | None] | None = None,
        place_labels: int = 0,
    ) -> None:
        self.store = store
        self.servers = servers
        self.ports = ports
        self.websocket_clients = websocket_clients
        self.station_name = label_value(station_name if station_name is not None else socket.gethostname())
        self.survey = survey
        self.place_labels = place_labels
        # Parts failing now: a broken part is logged at WARNING once, then at
        # DEBUG on every further scrape (one a few seconds), until it recovers.
        self._failing: set[str] = set()
        self._failing_lock = threading.Lock()

    def describe(self) -> Iterable[Metric]:
        # Lets the registry know our names without calling collect() (which
        # reads the logs) at registration, and catch a clashing collector.
        families = [*RESULT_FAMILIES, *SERVER_FAMILIES, INFO]
        if self.websocket_clients is not None:
            families.append(WEBSOCKET_CLIENTS)
        metrics = [family.new() for family in families]
        if self.survey is not None:
            metrics += survey_families(self.place_labels)
        return metrics

    def collect(self) -> Iterator[Metric]:
        # servers() is asked once per scrape: the server metrics, the list of
        # ports and iperf3's version all come from the same snapshot.
        servers = self._ask("servers", self.servers)
        # Each part builds all its families before any is yielded, so a part
        # that fails halfway leaves nothing half-written in the exposition.
        yield from self._part("info", lambda: self._info(servers or []))
        yield from self._part("results", lambda: self._results(servers or []))
        if servers is not None:
            yield from self._part("servers", lambda: self._servers(servers))
        if self.websocket_clients is not None:
            yield from self._part("websocket clients", self._websocket)
        if self.survey is not None:
            survey = self.survey
            yield from self._part("survey", lambda: place_families(survey(), self.place_labels))

    # -- parts -------------------------------------------------------------------

    def _ask(self, part: str, get: Callable[[], T]) -> T | None:
        """``get()``, or None (logged) if it raises."""
        try:
            value = get()
        except Exception:
            self._failed(part, "cannot get the %s: left out of this scrape", part, exc_info=True)
            return None
        self._recovered(part)
        return value

    def _part(self, part: str, build: Callable[[], list[Metric]]) -> list[Metric]:
        return self._ask(f"{part} metrics", build) or []

    def _info(self, servers: list[dict]) -> list[Metric]:
        # Every server runs the same iperf3 program: the first that knows its version says it.
        iperf3 = next((str(s["version"]) for s in servers if s.get("version")), "")
        info = INFO.new()
        info.add_metric([], {
            "station_name": self.station_name,
            "version": __version__,
            "iperf3_version": iperf3,
            "python_version": platform.python_version(),
        })
        return [info]

    def _results(self, servers: list[dict]) -> list[Metric]:
        readable = LOG_DIR_READABLE.new()
        try:
            self.store.refresh()
        except Exception as exc:
            # What the store read before is still right, merely not current:
            # serve it, and say so in webperf3_log_dir_readable.
            # An OSError (LogDirError) says it all; anything else is a bug: trace it.
            self._failed("log directory", "cannot refresh the results: %s", exc, exc_info=not isinstance(exc, OSError))
            readable.add_metric([], 0)
        else:
            self._recovered("log directory")
            readable.add_metric([], 1)

        # The configured ports and the servers' count 0 tests until their first.
        known = self._ask("ports", lambda: {int(port) for port in [*self.ports(), *(s["port"] for s in servers)]})
        totals = {port: PortTotals() for port in known or ()} | self.store.totals()

        tests = TESTS.new()
        for port, total in sorted(totals.items()):
            # Every outcome from the start, so rate() sees a port's first failure.
            tests.add_metric([str(port), "ok"], total.ok)
            tests.add_metric([str(port), "failed"], total.failed)
            tests.add_metric([str(port), "interrupted"], total.interrupted)

        skipped = SKIPPED.new()
        skipped.add_metric([], self.store.skipped)
        return [tests, *latest_families(totals), skipped, readable, *browser_families(self.store.browser_totals())]

    def _servers(self, servers: list[dict]) -> list[Metric]:
        up, testing, restarts, losing = (family.new() for family in SERVER_FAMILIES)
        for server in sorted(servers, key=lambda s: int(s["port"])):
            label = str(int(server["port"]))
            state = server.get("state")
            up.add_metric([label], 1 if state in UP_STATES else 0)
            testing.add_metric([label], 1 if state == "testing" else 0)
            if server.get("restarts") is not None:
                restarts.add_metric([label], int(server["restarts"]))
            losing.add_metric([label], 1 if server.get("problem_kind") in LOSING else 0)
        return [up, testing, restarts, losing]

    def _websocket(self) -> list[Metric]:
        assert self.websocket_clients is not None
        clients = WEBSOCKET_CLIENTS.new()
        clients.add_metric([], int(self.websocket_clients()))
        return [clients]

    # -- logging a failing part once -------------------------------------------

    def _failed(self, part: str, message: str, *args: object, exc_info: bool = False) -> None:
        with self._failing_lock:
            first = part not in self._failing
            self._failing.add(part)
        log.log(logging.WARNING if first else logging.DEBUG, message, *args, exc_info=exc_info)

    def _recovered(self, part: str) -> None:
        with self._failing_lock:
            if part not in self._failing:
                return
            self._failing.discard(part)
        log.info("metrics: the %s are back", part)


# -- the API the web app uses -----------------------------------------------------


def build_registry(
    store: ResultsStore,
    *,
    servers: Callable[[], list[dict]] = lambda: [],
    ports: Callable[[], list[int]] = lambda: [],
    websocket_clients: Callable[[], int] | None = None,
    station_name: str | None = None,
    survey: Callable[[], SurveyCounts | None] | None = None,
    place_labels: int = 0,
) -> CollectorRegistry:
    """A fresh registry whose only collector reads these live objects.

    ``servers`` returns the fleet's status dicts (``port``, ``state``,
    ``restarts``, ``version``...), ``ports`` the configured ports,
    ``websocket_clients`` the live push's client count (its metric is left
    out when not given), ``station_name`` goes into ``webperf3_info``
    (default: the hostname), ``survey`` returns the current survey or None
    (its metrics are left out when it is not given or returns None), and
    ``place_labels`` > 0 gives that many of its places a series of their own.
    """
    # auto_describe=False: the collector's describe() names its metrics, so
    # registering it does not scrape (and read every log) up front.
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StationCollector(
        store, servers=servers, ports=ports, websocket_clients=websocket_clients,
        station_name=station_name, survey=survey, place_labels=place_labels,
    ))
    return registry


def exposition(registry: CollectorRegistry) -> tuple[bytes, str]:
    """The registry's metrics in the Prometheus text format, and its content type."""
    return generate_latest(registry), CONTENT_TYPE
