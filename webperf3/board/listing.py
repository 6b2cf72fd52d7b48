"""The history page's questions over a survey's tests: filter, sort, page, and
the chart's series. Pure: it is handed the results (time order) and their
annotations from the board and does no I/O.

A :class:`History` is built once per (store generation, book version, survey)
by the web view and asked many times: each sort order is computed once, on
first use, so a filter or page change is one pass over the tests.

About 400 lines, one job: every question the history page asks of the tests
(each filter, sort and the chart's series) is answered here, over one set of
columns, so a new filter cannot disagree with the chart.
"""

from __future__ import annotations

import ipaddress
import math
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence, Sized
from dataclasses import dataclass
from typing import Any

from ..store.record import Result
from ..survey import Annotation
from ..text import printable, whole_number

DIRECTIONS = ("upload", "download", "bidirectional")
#: How a test was made (``Result.method``): an iperf3 client, or the dashboard's browser test.
METHODS = ("iperf3", "browser")
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
    method: str | None = None  # "iperf3" or "browser"
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
    if (method := get("method")) is not None:
        fields["method"] = _choice("method", method, METHODS)
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


def _shared_casefold(text: str) -> str:
    """``text.casefold()``, or ``text`` itself when that is the same: most
    places are spelt in lower case, and one string is kept rather than two."""
    folded = text.casefold()
    return text if folded == text else folded


class History:
    """One survey's tests (or all), with their annotations, in time order.

    Kept between requests for 100,000 tests, so what the annotations say is
    kept as columns rather than as an object per test (about 160 bytes a
    test less): the place as spelt and casefolded, each distinct spelling
    once, the place's source and the survey (shared values), whether it is
    excluded (a byte), and the test's id only where it is not
    ``<port>-<cookie>``, which a shown row makes again.
    """

    def __init__(self, results: Sequence[Result], annotations: Iterable[Annotation]) -> None:
        # The store's snapshot is never changed: kept as it is, not copied.
        self.results = results if isinstance(results, list) else list(results)
        places: list[str | None] = []
        sources: list[str | None] = []
        surveys: list[int | None] = []
        excluded = bytearray()
        ids: dict[int, str] = {}
        spellings: dict[str, str] = {}  # each spelling once, however many tests have it
        i = -1
        for i, (r, a) in enumerate(zip(self.results, annotations)):
            place = a.place
            if place is not None:
                place = spellings.setdefault(place, place)
            places.append(place)
            sources.append(a.place_source)
            surveys.append(a.survey)
            excluded.append(a.excluded)
            if a.id != f"{r.port}-{r.cookie}":
                ids[i] = a.id
        if i + 1 != len(self.results) or (isinstance(annotations, Sized) and len(annotations) != len(self.results)):
            raise ValueError("every result needs its annotation")
        folded = {place: _shared_casefold(place) for place in spellings}
        self._spelt = places
        self._places = [None if p is None else folded[p] for p in places]
        self._sources = sources
        self._surveys = surveys
        self._excluded = excluded
        self._ids = ids
        self._orders: dict[str, tuple[Sequence[int], Sequence[int]]] = {}
        self._addresses: dict[str, tuple[int, int, str]] = {}
        self._facets: dict[str, Any] | None = None
        self._rate_columns: tuple[array[float], array[float], bytearray] | None = None

    def prepare(self) -> None:
        """Compute what every request uses (menus, chart columns) ahead, once."""
        self.facets()
        self._rates()

    def __len__(self) -> int:
        return len(self.results)

    def annotation(self, i: int) -> Annotation:
        """What the book said of the ``i``-th test."""
        r = self.results[i]
        tid = self._ids.get(i)
        return Annotation(
            f"{r.port}-{r.cookie}" if tid is None else tid, self._spelt[i], self._sources[i], self._surveys[i],  # type: ignore[arg-type]
            bool(self._excluded[i]),
        )

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

    def order(self, sort: str) -> tuple[Sequence[int], Sequence[int]]:
        """(indices with a value in ascending order, indices without one in
        time order): a missing figure sorts last either way."""
        if sort == "time":
            return range(len(self.results)), ()  # the tests are in time order already
        cached = self._orders.get(sort)
        if cached is None:
            key = self._key(sort)
            keys = [key(i) for i in range(len(self.results))]
            have = [i for i, k in enumerate(keys) if k is not None]
            have.sort(key=keys.__getitem__)  # stable: ties stay in time order
            # Kept as machine integers: 4 bytes an index, not an int object each.
            cached = self._orders[sort] = (array("i", have), array("i", (i for i, k in enumerate(keys) if k is None)))
        return cached

    # -- filtering ------------------------------------------------------------

    def matches(self, query: Query) -> list[bool]:
        """Whether each test (time order) passes the query's filters."""
        # Each check is asked (result, excluded, index).
        checks: list[Callable[[Result, int, int], bool]] = []
        places = self._places
        if query.place is not None:
            wanted = query.place.casefold()
            checks.append(lambda r, x, i: places[i] == wanted)
        if query.unplaced:
            checks.append(lambda r, x, i: places[i] is None)
        if query.port is not None:
            port = query.port
            checks.append(lambda r, x, i: r.port == port)
        if query.client:
            part = query.client
            checks.append(lambda r, x, i: r.client is not None and part in r.client)
        if query.direction is not None:
            direction = query.direction
            checks.append(lambda r, x, i: r.direction == direction)
        if query.method is not None:
            method = query.method
            checks.append(lambda r, x, i: r.method == method)
        if query.outcome == "excluded":
            checks.append(lambda r, x, i: bool(x))
        elif query.outcome == "ok":
            checks.append(lambda r, x, i: not x and r.error is None)
        elif query.outcome == "failed":
            checks.append(lambda r, x, i: not x and r.failed)
        elif query.outcome == "interrupted":
            checks.append(lambda r, x, i: not x and r.interrupted)
        if query.since is not None:
            since = query.since
            checks.append(lambda r, x, i: r.time >= since)
        if query.until is not None:
            until = query.until
            checks.append(lambda r, x, i: r.time < until)
        results, excluded = self.results, self._excluded
        if not checks:
            return [True] * len(results)
        if len(checks) == 1:
            (check,) = checks
            return [check(r, x, i) for i, (r, x) in enumerate(zip(results, excluded))]
        return [all(c(r, x, i) for c in checks) for i, (r, x) in enumerate(zip(results, excluded))]

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
        return {**self.results[i].to_dict(), **self.annotation(i).to_dict()}

    # -- what the filters can offer -------------------------------------------

    def facets(self) -> dict[str, Any]:
        """The places, ports and clients of these tests, for the filter menus."""
        if self._facets is None:
            self._facets = self._facets_now()
        return self._facets

    def _facets_now(self) -> dict[str, Any]:
        places: Counter[str] = Counter()
        spelling: dict[str, str] = {}
        for place, key in zip(self._spelt, self._places):
            if key is not None:
                spelling.setdefault(key, place)  # type: ignore[arg-type]
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
        down_all, up_all, drawable = self._rates()
        excluded = self._excluded
        picked = [i for i, ok in enumerate(match) if ok and drawable[i] and (keep_excluded or not excluded[i])]
        labels = self._groups(picked, by)
        names = sorted(set(labels), key=lambda n: (n == OTHER, n == NO_PLACE, int(n) if by == "port" else n.casefold()))
        index = {name: k for k, name in enumerate(names)}
        results = self.results
        t = [results[i].time for i in picked]
        g = [index[label] for label in labels]
        # NaN stands for "not measured" in the columns: null in the answer.
        down = [None if (v := down_all[i]) != v else v for i in picked]
        up = [None if (v := up_all[i]) != v else v for i in picked]
        sides = {results[i].download_measured_by or "station" for i, v in zip(picked, down) if v is not None}
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

    def _rates(self) -> tuple[array[float], array[float], bytearray]:
        """Every test's rates in Mbit/s (NaN: not measured) and whether it has
        one, once: a chart is asked for often. Machine numbers, 17 bytes a
        test, not a float object per rate."""
        if self._rate_columns is None:
            nan = math.nan
            down = array("d", (nan if (b := r.download_bps) is None else round(b / 1e6, 3) for r in self.results))
            up = array("d", (nan if (b := r.upload_bps) is None else round(b / 1e6, 3) for r in self.results))
            drawable = bytearray(r.download_bps is not None or r.upload_bps is not None for r in self.results)
            self._rate_columns = (down, up, drawable)
        return self._rate_columns

    def _groups(self, picked: list[int], by: str) -> list[str]:
        if by == "port":
            return [str(self.results[i].port) for i in picked]
        spelt = self._spelt
        labels = [spelt[i] or NO_PLACE for i in picked]
        # One spelling per place, whatever the case people typed.
        spelling: dict[str, str] = {}
        labels = [spelling.setdefault(label.casefold(), label) for label in labels]
        counts = Counter(labels)
        if len(counts) <= MAX_SERIES:
            return labels
        kept = {name for name, _ in counts.most_common(MAX_SERIES - 1)}
        return [label if label in kept else OTHER for label in labels]
