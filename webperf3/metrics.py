"""Prometheus metrics for one webperf3 station, computed at scrape time.

:func:`build_registry` gives each app its own
:class:`~prometheus_client.CollectorRegistry` holding one custom collector
that reads the live objects (the results store, the server fleet's status,
the live push's client count) on every scrape. Nothing is counted on the
side, so the numbers cannot drift from the logs, and two apps in one
process (tests, mostly) never share a registry. The dashboard's clear marks
are ignored on purpose: clearing hides rows from a table, while a counter
that went down would read to Prometheus as a restart.

Every series is labelled by ``port`` (a string, as Prometheus labels are)
and, where one metric family covers both sides of a test, ``outcome`` or
``direction``. The client's name or address is never a label: a survey
station sees an unbounded number of them and each would become its own time
series in Prometheus.

A scrape never fails: a part that raises (an unreadable log directory, a
fleet that is shutting down) is logged and its metrics are left out of that
scrape, while the rest is still served.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector, CollectorRegistry

from . import __version__
from .results import PortTotals, ResultsStore

log = logging.getLogger(__name__)

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


@dataclass(frozen=True, slots=True)
class _Family:
    name: str  # as exposed; a counter's ends in _total
    kind: type[Metric]
    help: str
    labels: tuple[str, ...] = ()

    def new(self) -> Metric:
        return self.kind(self.name, self.help, labels=self.labels)


_PORT = ("port",)

TESTS = _Family(
    "webperf3_tests_total", CounterMetricFamily,
    "Tests in the iperf3 server's log, by outcome (ok or failed).", ("port", "outcome"))
LAST_TIME = _Family(
    "webperf3_last_test_timestamp_seconds", GaugeMetricFamily,
    "Start time of the latest successful test, seconds since the epoch.", _PORT)
LAST_UPLOAD = _Family(
    "webperf3_last_upload_bits_per_second", GaugeMetricFamily,
    "Client-to-server rate of the latest successful test (absent if it did not measure upload).", _PORT)
LAST_DOWNLOAD = _Family(
    "webperf3_last_download_bits_per_second", GaugeMetricFamily,
    "Server-to-client rate of the latest successful test (absent if it did not measure download).", _PORT)
LAST_RETRANSMITS = _Family(
    "webperf3_last_retransmits", GaugeMetricFamily,
    "TCP retransmits of the latest successful test; iperf3's server only counts the side it sent.",
    ("port", "direction"))
LAST_JITTER = _Family(
    "webperf3_last_jitter_seconds", GaugeMetricFamily,
    "UDP jitter of the latest successful test; iperf3's server only measures the side it received.",
    ("port", "direction"))
LAST_LOSS = _Family(
    "webperf3_last_loss_ratio", GaugeMetricFamily,
    "UDP datagram loss (0-1) of the latest successful test; measured on the side the server received.",
    ("port", "direction"))
SKIPPED = _Family(
    "webperf3_log_skipped_entries_total", CounterMetricFamily,
    "Damaged log entries skipped since the logs were first read.")
LOG_DIR_READABLE = _Family(
    "webperf3_log_dir_readable", GaugeMetricFamily,
    "1 if the log directory could be read at this scrape; if 0 the test metrics are the last ones read.")
SERVER_UP = _Family(
    "webperf3_server_up", GaugeMetricFamily,
    "1 if the port's iperf3 server is running (idle or testing).", _PORT)
SERVER_TESTING = _Family(
    "webperf3_server_testing", GaugeMetricFamily,
    "1 if the port's iperf3 server is running a test now.", _PORT)
SERVER_RESTARTS = _Family(
    "webperf3_server_restarts_total", CounterMetricFamily,
    "Times webperf3 restarted the port's iperf3 server.", _PORT)
WEBSOCKET_CLIENTS = _Family(
    "webperf3_websocket_clients", GaugeMetricFamily,
    "Browsers connected to the live push now.")
# An info family named "webperf3" is exposed as webperf3_info (a gauge of 1).
INFO = _Family("webperf3", InfoMetricFamily, "The webperf3 software running this station.")

RESULT_FAMILIES = (TESTS, LAST_TIME, LAST_UPLOAD, LAST_DOWNLOAD, LAST_RETRANSMITS, LAST_JITTER, LAST_LOSS, SKIPPED, LOG_DIR_READABLE)
SERVER_FAMILIES = (SERVER_UP, SERVER_TESTING, SERVER_RESTARTS)


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
    ) -> None:
        self.store = store
        self.servers = servers
        self.ports = ports
        self.websocket_clients = websocket_clients
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
        return [family.new() for family in families]

    def collect(self) -> Iterator[Metric]:
        # servers() is asked once per scrape: both the server metrics and the
        # list of ports come from the same snapshot.
        servers = self._ask("servers", self.servers)
        # Each part builds all its families before any is yielded, so a part
        # that fails halfway leaves nothing half-written in the exposition.
        yield from self._part("info", self._info)
        yield from self._part("results", lambda: self._results(servers or []))
        if servers is not None:
            yield from self._part("servers", lambda: self._servers(servers))
        if self.websocket_clients is not None:
            yield from self._part("websocket clients", self._websocket)

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

    def _info(self) -> list[Metric]:
        info = INFO.new()
        info.add_metric([], {"version": __version__})
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
            # Both outcomes from the start, so rate() sees a port's first failure.
            tests.add_metric([str(port), "ok"], total.ok)
            tests.add_metric([str(port), "failed"], total.failed)

        last = {family: family.new() for family in (LAST_TIME, LAST_UPLOAD, LAST_DOWNLOAD, LAST_RETRANSMITS, LAST_JITTER, LAST_LOSS)}

        def put(family: _Family, labels: list[str], value: float | None) -> None:
            if value is not None:  # not measured: no series, never a 0
                last[family].add_metric(labels, value)

        for port, total in sorted(totals.items()):
            result, label = total.latest, str(port)
            if result is None:
                continue
            put(LAST_TIME, [label], result.time)
            put(LAST_UPLOAD, [label], result.upload_bps)
            put(LAST_DOWNLOAD, [label], result.download_bps)
            # Result's retransmits are of the side the server sent (download);
            # jitter and loss of the side it received (upload).
            put(LAST_RETRANSMITS, [label, "download"], result.retransmits)
            put(LAST_JITTER, [label, "upload"], None if result.jitter_ms is None else result.jitter_ms / 1000)
            put(LAST_LOSS, [label, "upload"], None if result.loss_percent is None else result.loss_percent / 100)

        skipped = SKIPPED.new()
        skipped.add_metric([], self.store.skipped)
        return [tests, *last.values(), skipped, readable]

    def _servers(self, servers: list[dict]) -> list[Metric]:
        up, testing, restarts = (family.new() for family in SERVER_FAMILIES)
        for server in sorted(servers, key=lambda s: int(s["port"])):
            label = str(int(server["port"]))
            state = server.get("state")
            up.add_metric([label], 1 if state in UP_STATES else 0)
            testing.add_metric([label], 1 if state == "testing" else 0)
            if server.get("restarts") is not None:
                restarts.add_metric([label], int(server["restarts"]))
        return [up, testing, restarts]

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
) -> CollectorRegistry:
    """A fresh registry whose only collector reads these live objects.

    ``servers`` returns the fleet's status dicts (``port``, ``state``,
    ``restarts``...), ``ports`` the configured ports, ``websocket_clients``
    the live push's client count (its metric is left out when not given).
    """
    # auto_describe=False: the collector's describe() names its metrics, so
    # registering it does not scrape (and read every log) up front.
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StationCollector(store, servers=servers, ports=ports, websocket_clients=websocket_clients))
    return registry


def exposition(registry: CollectorRegistry) -> tuple[bytes, str]:
    """The registry's metrics in the Prometheus text format, and its content type."""
    return generate_latest(registry), CONTENT_TYPE
