"""The history page's questions over a survey's tests: filter, sort, page, and
the chart's series. Pure: it is handed the results (time order) and their
annotations from the board and does no I/O.

A :class:`History` is built once per (store generation, book version, survey)
by the web view and asked many times: each sort order is computed once, on
first use, so a filter or page change is one pass over the tests.
"""

from __future__ import annotations

import ipaddress
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..store.record import Result
from ..survey import Annotation
from ..text import printable, whole_number

DIRECTIONS = ("upload", "download", "bidirectional")
#: "failed": the test's own failures; "interrupted": tests the station cut (its stop or restart).
OUTCOMES = ("ok", "failed", "interrupted", "excluded")
SORT_KEYS = ("time", "port", "place", "client", "direction", "download", "upload", "protocol", "quality", "error")
GROUPINGS = ("port", "place")
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
#: The filter menus offer at most this many places (and clients), the most used.
MAX_FACETS = 500
#: A chart with more series than this is unreadable: the places with the
#: fewest tests share one series, "other".
MAX_SERIES = 12
OTHER = "other"
NO_PLACE = "(no place)"


class QueryError(ValueError):
    """A bad query parameter; the message says which and what is expected."""


@dataclass(frozen=True, slots=True)
class Query:
    place: str | None = None  # exact, case-insensitive
    unplaced: bool = False  # only tests with no place
    port: int | None = None
    client: str | None = None  # part of the address
    direction: str | None = None
    outcome: str | None = None
    since: float | None = None  # test start >= since (epoch seconds)
    until: float | None = None  # test start < until
    sort: str = "time"
    descending: bool = True
    offset: int = 0
    limit: int = DEFAULT_LIMIT


def _number(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise QueryError(f"bad {name!r} parameter {printable(text, 40)!r}: expected seconds since the epoch")
    return value


def _count(name: str, text: str, low: int, high: int) -> int:
    value = whole_number(text, low, high)
    if value is None:
        raise QueryError(f"bad {name!r} parameter {printable(text, 40)!r}: expected a whole number {low}-{high}")
    return value


def _choice(name: str, text: str, allowed: Sequence[str]) -> str:
    if text not in allowed:
        raise QueryError(f"bad {name!r} parameter {text!r}: expected one of {', '.join(allowed)}")
    return text


def parse_query(params: Mapping[str, str | None]) -> Query:
    """A :class:`Query` from URL parameters (empty counts as absent)."""
    get = lambda name: params.get(name) or None  # noqa: E731
    fields: dict[str, Any] = {}
    if (place := get("place")) is not None:
        fields["place"] = place
    if get("unplaced") is not None:
        fields["unplaced"] = _choice("unplaced", get("unplaced"), ("0", "1")) == "1"
    if (port := get("port")) is not None:
        fields["port"] = _count("port", port, 1, 65535)
    if (client := get("client")) is not None:
        fields["client"] = client.strip()
    if (direction := get("direction")) is not None:
        fields["direction"] = _choice("direction", direction, DIRECTIONS)
    if (outcome := get("outcome")) is not None:
        fields["outcome"] = _choice("outcome", outcome, OUTCOMES)
    for name in ("since", "until"):
        if (value := get(name)) is not None:
            fields[name] = _number(name, value)
    if (sort := get("sort")) is not None:
        fields["sort"] = _choice("sort", sort, SORT_KEYS)
    if (order := get("order")) is not None:
        fields["descending"] = _choice("order", order, ("asc", "desc")) == "desc"
    if (offset := get("offset")) is not None:
        fields["offset"] = _count("offset", offset, 0, 10**9)
    if (limit := get("limit")) is not None:
        fields["limit"] = _count("limit", limit, 1, MAX_LIMIT)
    query = Query(**fields)
    if query.since is not None and query.until is not None and query.until <= query.since:
        raise QueryError("bad time range: 'until' must be later than 'since'")
    return query


def _address_key(client: str) -> tuple[int, int, str]:
    """Addresses in numeric order (192.168.1.9 before 192.168.1.10)."""
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return (9, 0, client)
    return (address.version, int(address), "")


def _quality(result: Result) -> tuple[int, float] | None:
    """TCP by retransmits, then UDP by loss: one column in the table."""
    if result.retransmits is not None:
        return (0, float(result.retransmits))
    if result.loss_percent is not None:
        return (1, result.loss_percent)
    if result.download_loss_percent is not None:
        return (1, result.download_loss_percent)
    return None


def _casefold(text: str | None) -> str | None:
    return None if text is None else text.casefold()


class History:
    """One survey's tests (or all), with their annotations, in time order."""

    def __init__(self, results: Sequence[Result], annotations: Sequence[Annotation]) -> None:
        if len(results) != len(annotations):
            raise ValueError("every result needs its annotation")
        self.results = list(results)
        self.annotations = list(annotations)
        self._places = [_casefold(a.place) for a in self.annotations]
        self._orders: dict[str, tuple[list[int], list[int]]] = {}
        self._addresses: dict[str, tuple[int, int, str]] = {}
        self._facets: dict[str, Any] | None = None
        self._rate_columns: tuple[list[float], list[float | None], list[float | None], list[bool]] | None = None

    def prepare(self) -> None:
        """Compute what every request uses (menus, chart columns) ahead, once."""
        self.facets()
        self._rates()

    def __len__(self) -> int:
        return len(self.results)

    # -- sorting --------------------------------------------------------------

    def _key(self, sort: str) -> Callable[[int], Any]:
        r = self.results
        if sort == "place":
            places = self._places
            return lambda i: places[i]
        if sort == "client":
            addresses = self._addresses

            def client(i: int) -> Any:
                c = r[i].client
                if c is None:
                    return None
                key = addresses.get(c)
                if key is None:
                    key = addresses[c] = _address_key(c)
                return key

            return client
        if sort == "quality":
            return lambda i: _quality(r[i])
        attribute = {"download": "download_bps", "upload": "upload_bps"}.get(sort, sort)
        return lambda i: getattr(r[i], attribute)

    def order(self, sort: str) -> tuple[list[int], list[int]]:
        """(indices with a value in ascending order, indices without one in
        time order): a missing figure sorts last either way."""
        cached = self._orders.get(sort)
        if cached is None:
            key = self._key(sort)
            keys = [key(i) for i in range(len(self.results))]
            have = [i for i, k in enumerate(keys) if k is not None]
            have.sort(key=keys.__getitem__)  # stable: ties stay in time order
            cached = self._orders[sort] = (have, [i for i, k in enumerate(keys) if k is None])
        return cached

    # -- filtering ------------------------------------------------------------

    def matches(self, query: Query) -> list[bool]:
        """Whether each test (time order) passes the query's filters."""
        checks: list[Callable[[Result, Annotation, int], bool]] = []
        places = self._places
        if query.place is not None:
            wanted = query.place.casefold()
            checks.append(lambda r, a, i: places[i] == wanted)
        if query.unplaced:
            checks.append(lambda r, a, i: places[i] is None)
        if query.port is not None:
            port = query.port
            checks.append(lambda r, a, i: r.port == port)
        if query.client:
            part = query.client
            checks.append(lambda r, a, i: r.client is not None and part in r.client)
        if query.direction is not None:
            direction = query.direction
            checks.append(lambda r, a, i: r.direction == direction)
        if query.outcome == "excluded":
            checks.append(lambda r, a, i: a.excluded)
        elif query.outcome == "ok":
            checks.append(lambda r, a, i: not a.excluded and r.error is None)
        elif query.outcome == "failed":
            checks.append(lambda r, a, i: not a.excluded and r.failed)
        elif query.outcome == "interrupted":
            checks.append(lambda r, a, i: not a.excluded and r.interrupted)
        if query.since is not None:
            since = query.since
            checks.append(lambda r, a, i: r.time >= since)
        if query.until is not None:
            until = query.until
            checks.append(lambda r, a, i: r.time < until)
        results, annotations = self.results, self.annotations
        if not checks:
            return [True] * len(results)
        if len(checks) == 1:
            (check,) = checks
            return [check(r, a, i) for i, (r, a) in enumerate(zip(results, annotations))]
        return [all(c(r, a, i) for c in checks) for i, (r, a) in enumerate(zip(results, annotations))]

    def select(self, query: Query) -> list[int]:
        """The indices of the tests that match, in the query's order."""
        match = self.matches(query)
        have, missing = self.order(query.sort)
        ordered = reversed(have) if query.descending else have
        return [i for i in ordered if match[i]] + [i for i in missing if match[i]]

    def page(self, query: Query) -> dict[str, Any]:
        """The page of rows the query asks for, and how many match in all."""
        chosen = self.select(query)
        shown = chosen[query.offset : query.offset + query.limit]
        return {
            "total": len(chosen),
            "offset": query.offset,
            "limit": query.limit,
            "sort": query.sort,
            "order": "desc" if query.descending else "asc",
            "rows": [self.row(i) for i in shown],
        }

    def row(self, i: int) -> dict[str, Any]:
        """A test as the API sends it everywhere (see ``board.annotated``)."""
        return {**self.results[i].to_dict(), **self.annotations[i].to_dict()}

    # -- what the filters can offer -------------------------------------------

    def facets(self) -> dict[str, Any]:
        """The places, ports and clients of these tests, for the filter menus."""
        if self._facets is None:
            self._facets = self._facets_now()
        return self._facets

    def _facets_now(self) -> dict[str, Any]:
        places: Counter[str] = Counter()
        spelling: dict[str, str] = {}
        for a in self.annotations:
            if a.place is not None:
                key = a.place.casefold()
                spelling.setdefault(key, a.place)
                places[key] += 1
        clients = Counter(r.client for r in self.results if r.client)
        # A menu of thousands helps nobody (and would ride along with every
        # page): the most used, and a flag; any place still works in the URL.
        kept = [spelling[key] for key, _ in places.most_common(MAX_FACETS)]
        return {
            "places": sorted(kept, key=str.casefold),
            "ports": sorted({r.port for r in self.results}),
            "clients": sorted((c for c, _ in clients.most_common(MAX_FACETS)), key=_address_key),
            "unplaced": any(p is None for p in self._places),
            "truncated": len(places) > MAX_FACETS or len(clients) > MAX_FACETS,
        }

    # -- the chart --------------------------------------------------------------

    def series(self, query: Query, by: str = "port") -> dict[str, Any]:
        """The matching tests' rates over time, compact: ``t`` (start, s),
        ``g`` (index into ``groups``), ``download`` and ``upload`` in Mbit/s
        (null: not measured), time order. Excluded tests are left out unless
        the query asks for them; so are tests with no rate (failed)."""
        match = self.matches(query)
        keep_excluded = query.outcome == "excluded"
        times, down_all, up_all, drawable = self._rates()
        excluded = self._excluded()
        picked = [i for i, ok in enumerate(match) if ok and drawable[i] and (keep_excluded or not excluded[i])]
        labels = self._groups(picked, by)
        names = sorted(set(labels), key=lambda n: (n == OTHER, n == NO_PLACE, int(n) if by == "port" else n.casefold()))
        index = {name: k for k, name in enumerate(names)}
        t = [times[i] for i in picked]
        g = [index[label] for label in labels]
        down = [down_all[i] for i in picked]
        up = [up_all[i] for i in picked]
        results = self.results
        sides = {results[i].download_measured_by or "station" for i in picked if down_all[i] is not None}
        return {
            "by": by,
            "unit": "Mbit/s",
            "groups": names,
            "t": t,
            "g": g,
            "download": down,
            "upload": up,
            "download_measured_by": None if not sides else sides.pop() if len(sides) == 1 else "mixed",
        }

    def _rates(self) -> tuple[list[float], list[float | None], list[float | None], list[bool]]:
        """Every test's start and rates in Mbit/s, once: a chart is asked for often."""
        if self._rate_columns is None:
            mbps = lambda bps: None if bps is None else round(bps / 1e6, 3)  # noqa: E731
            down = [mbps(r.download_bps) for r in self.results]
            up = [mbps(r.upload_bps) for r in self.results]
            self._rate_columns = ([r.time for r in self.results], down, up, [d is not None or u is not None for d, u in zip(down, up)])
        return self._rate_columns

    def _excluded(self) -> list[bool]:
        return [a.excluded for a in self.annotations]

    def _groups(self, picked: list[int], by: str) -> list[str]:
        if by == "port":
            return [str(self.results[i].port) for i in picked]
        labels = [self.annotations[i].place or NO_PLACE for i in picked]
        # One spelling per place, whatever the case people typed.
        spelling: dict[str, str] = {}
        labels = [spelling.setdefault(label.casefold(), label) for label in labels]
        counts = Counter(labels)
        if len(counts) <= MAX_SERIES:
            return labels
        kept = {name for name, _ in counts.most_common(MAX_SERIES - 1)}
        return [label if label in kept else OTHER for label in labels]
