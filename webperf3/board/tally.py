"""One row per place of a survey, and two surveys side by side: pure
functions of results, their annotations and the user's thresholds (no I/O).

Each figure comes only from the tests that measured its side: a download
from download and bidirectional tests (what the station *sent*, unless the
log holds the client's received figure, see ``download_measured_by``), an
upload from upload and bidirectional tests (what the station received).
Excluded tests are left out; a failed test is a failure, never 0 Mbit/s; a
test the station itself cut (its stop or restart, ``Result.interrupted``) is
neither: it is counted apart. UDP jitter and loss of a download are the
client's alone: only tests whose log holds the client's figures give them,
the others count as unknown.

A UDP download whose only figure is what the station *sent* says nothing of
what the client received (anything up to all of it may have been lost): it
is shown, with :data:`UDP_SENT_UNGRADED` as the reason, but kept out of the
median that is graded, of the grade and of the order. A TCP download the
station sent was acknowledged by the client, so it stays graded.

Tests with no place are one row, never ranked among the places: it always
comes after them.

A browser test ("Test from this browser", ``Result.method == "browser"``)
measures HTTP goodput through a browser, not iperf3's TCP: its figures are
never in the iperf3 medians, grades or order above, but in the row's own
``browser_*`` medians (download received by the browser, upload received by
the station, the browser's latency idle and under load). Its failures count
with the place's. Only a place with no iperf3 figure at all is graded (and
ordered) by its browser medians instead, ``graded_by = "browser"``: each
row's grade still comes from one method's medians.

"Worst" is defined once here (:data:`WORST_FIRST`) and said on the pages.

About 500 lines: one place's figures (its iperf3 ones and, apart, its
browser tests'), the compact way they are added up (a station keeps them
for tens of thousands of places) and two surveys compared follow one set of
rules, kept together.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import msgspec

from ..store.record import Result
from ..survey import Annotation

Grade = Literal["failed", "bad", "fair", "good", "none"]

#: What the pages say about the order of the places table.
WORST_FIRST = (
    "Worst first: places where every test failed, then by the lower of the median download and "
    "the median upload (slowest first); on a tie, the place with more failures first. "
    "A UDP download the station sent is shown but not graded (what the client received is unknown); "
    "tests the station interrupted are not failures; tests with no place come after the places."
)
#: Why a place's download median is shown but not graded (``PlaceRow.download_ungraded``).
UDP_SENT_UNGRADED = "UDP: the station's sent rate, not what the client received"

DEFAULT_RED_MBPS = 50.0
DEFAULT_AMBER_MBPS = 100.0
#: A threshold above this is a typo (10 Tbit/s), not a survey's goal.
MAX_THRESHOLD_MBPS = 10_000_000.0


class Thresholds(msgspec.Struct, frozen=True):
    """Below ``red`` a median is bad (red), below ``amber`` fair (amber), else good."""

    red_mbps: float = DEFAULT_RED_MBPS
    amber_mbps: float = DEFAULT_AMBER_MBPS

    def grade(self, bps: float | None) -> Grade:
        if bps is None:
            return "none"
        mbps = bps / 1e6
        if mbps < self.red_mbps:
            return "bad"
        if mbps < self.amber_mbps:
            return "fair"
        return "good"

    def to_dict(self) -> dict[str, float]:
        return {"red_mbps": self.red_mbps, "amber_mbps": self.amber_mbps}


def parse_thresholds(red: str | None, amber: str | None) -> Thresholds:
    """The thresholds from the query's text (Mbit/s); ValueError says what is wrong."""

    def number(text: str | None, name: str, default: float) -> float:
        if text is None:
            return default
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 0 or value > MAX_THRESHOLD_MBPS:
            raise ValueError(f"bad {name!r} threshold {text!r}: expected Mbit/s, a number from 0 to {MAX_THRESHOLD_MBPS:.0f}")
        return value

    red_mbps = number(red, "red", DEFAULT_RED_MBPS)
    amber_mbps = number(amber, "amber", max(DEFAULT_AMBER_MBPS, red_mbps))
    if amber_mbps < red_mbps:
        raise ValueError(f"the 'amber' threshold ({amber_mbps:g} Mbit/s) must not be below the 'red' one ({red_mbps:g} Mbit/s)")
    return Thresholds(red_mbps, amber_mbps)


class PlaceRow(msgspec.Struct, kw_only=True):
    """One place of a survey. Rates in bit/s; ``None`` where no test measured it."""

    place: str | None  # None: the tests nobody named ("(no place)")
    tests: int  # not counting the excluded ones
    failures: int
    excluded: int
    first: float | None  # start of its first and last test (excluded ones left out)
    last: float | None
    download_tests: int  # successful tests that measured a download
    download_median_bps: float | None
    download_min_bps: float | None
    download_max_bps: float | None
    #: "station" (what it sent), "client" (what the client received), "mixed", or None
    download_measured_by: str | None
    upload_tests: int
    upload_median_bps: float | None
    upload_min_bps: float | None
    upload_max_bps: float | None
    upload_jitter_ms: float | None  # medians over its UDP uploads, measured by the station
    upload_loss_percent: float | None
    download_jitter_ms: float | None  # medians over its UDP downloads whose log holds the client's figures
    download_loss_percent: float | None
    #: UDP downloads whose jitter and loss only the client knew: "unknown", never "no loss"
    download_quality_unknown: int
    worst_bps: float | None  # the lower of the two medians: what the order and the row's colour go by
    grade: Grade
    download_grade: Grade
    upload_grade: Grade
    versions: list[str]  # iperf3 versions of the station's logs for these tests
    interrupted: int = 0  # tests the station cut (its stop or restart): among ``tests``, not failures
    #: UDP downloads whose only figure is the station's sent rate: never in the graded median
    download_ungraded_tests: int = 0
    #: Set when the download figures shown are such rates only (then ``download_grade`` is
    #: "none" and the download has no part in ``worst_bps``): the reason, for the page.
    download_ungraded: str | None = None
    #: Browser tests (browser, HTTP), apart from the iperf3 figures above:
    #: their successful tests and medians.
    browser_tests: int = 0
    browser_download_median_bps: float | None = None  # what the browser received
    browser_upload_median_bps: float | None = None  # what the station received
    browser_latency_idle_ms: float | None = None  # medians of the tests' medians
    browser_latency_download_ms: float | None = None  # during the download
    browser_latency_upload_ms: float | None = None  # during the upload
    browser_download_grade: Grade = "none"  # the browser medians' own grades
    browser_upload_grade: Grade = "none"
    #: "browser" where the place has no iperf3 figure and is graded (and
    #: ordered, and its worst_bps is) by its browser tests' medians: a survey
    #: done only from browsers still says which places are bad. Never a
    #: median of both methods. None: graded by iperf3's figures, or not graded.
    graded_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return msgspec.structs.asdict(self)


def median(values: list[float]) -> float | None:
    """The median: the middle value, or the mean of the two middle ones."""
    n = len(values)
    if not n:
        return None
    ordered = sorted(values)
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2


#: ``_Acc.down_by``: which sides measured the graded downloads, as bits.
_STATION, _CLIENT = 1, 2
_MEASURED_BY = {0: None, _STATION: "station", _CLIENT: "client", _STATION | _CLIENT: "mixed"}


class _Acc:
    """What one place's tests add up to, while they are read.

    Kept for every place of a survey between requests, and clients naming
    every test anew make tens of thousands of places: a list is made only
    when a figure comes for it, the sides are bits, the versions a tuple
    shared by every place with the same ones, and the UDP figures, which
    most places never have, are in :class:`_Udp`. About 300 bytes a place,
    where a list and a set of each made 1,100 (46 MiB at 42,360 places)."""

    __slots__ = ("browser", "down", "down_by", "excluded", "failures", "first", "interrupted", "last", "name", "name_at", "tests",
                 "udp", "up", "versions")

    def __init__(self) -> None:
        self.name: str | None = None
        self.name_at = -math.inf
        self.tests = self.failures = self.excluded = self.interrupted = self.down_by = 0
        self.first = math.inf
        self.last = -math.inf
        self.down: list[float] | None = None
        self.up: list[float] | None = None
        self.versions: tuple[str, ...] = ()
        self.udp: _Udp | None = None
        self.browser: _Browser | None = None


class _Browser:
    """A place's browser tests' figures, made for its first one."""

    __slots__ = ("down", "idle", "loaded_down", "loaded_up", "tests", "up")

    def __init__(self) -> None:
        self.tests = 0
        self.down: list[float] = []
        self.up: list[float] = []
        self.idle: list[float] = []
        self.loaded_down: list[float] = []
        self.loaded_up: list[float] = []

    def add(self, r: Result) -> None:
        self.tests += 1
        for values, value in ((self.down, r.download_bps), (self.up, r.upload_bps)):
            if value is not None:
                values.append(value)
        b = r.browser
        if b is not None:
            for values, value in ((self.idle, b.latency_idle_ms), (self.loaded_down, b.latency_download_ms), (self.loaded_up, b.latency_upload_ms)):
                if value is not None:
                    values.append(value)


class _Udp:
    """A place's UDP figures, made for its first UDP test."""

    __slots__ = ("down_jitter", "down_loss", "down_sent", "unknown", "up_jitter", "up_loss")

    def __init__(self) -> None:
        self.down_sent: list[float] = []  # UDP downloads the station sent: shown, never graded
        self.up_jitter: list[float] = []
        self.up_loss: list[float] = []
        self.down_jitter: list[float] = []
        self.down_loss: list[float] = []
        self.unknown = 0  # downloads whose jitter and loss only the client knew


_NO_UDP = _Udp()  # what a place without UDP tests reads (never added to)


class PlaceTally:
    """Tests added up by place, as they come: :meth:`add` more (a survey's
    new tests), then :meth:`rows` for any thresholds. Lets a caller keep a
    survey's tally and add only the tests that arrived since (the 100,000
    tests of a long survey are then added once, not on every request).
    Not thread-safe: the caller holds a lock around ``add`` and ``rows``."""

    def __init__(self) -> None:
        self._groups: dict[str | None, _Acc] = {}
        self._keys: dict[str, str] = {}  # place → its casefolded key, once per spelling
        self._versions: dict[tuple[tuple[str, ...], str], tuple[str, ...]] = {}  # one tuple per set of versions

    def add(self, results: Sequence[Result], annotations: Sequence[Annotation]) -> None:
        """``annotations[i]`` is ``results[i]``'s."""
        groups = self._groups
        keys = self._keys
        for r, a in zip(results, annotations, strict=True):
            place = a.place
            if place is None:
                key = None
            elif (key := keys.get(place)) is None:
                folded = place.casefold()
                key = keys[place] = place if folded == place else folded  # one string where they are the same
            acc = groups.get(key)
            if acc is None:
                acc = groups[key] = _Acc()
            t = r.time
            if place is not None and t >= acc.name_at:
                acc.name, acc.name_at = place, t
            if a.excluded:
                acc.excluded += 1
                continue
            acc.tests += 1
            if t < acc.first:
                acc.first = t
            if t > acc.last:
                acc.last = t
            if (version := r.version) and version not in acc.versions:
                acc.versions = self._with_version(acc.versions, version)
            if r.error is not None:
                if r.interrupted:  # the station's own doing, not the place's
                    acc.interrupted += 1
                else:
                    acc.failures += 1
                continue
            if r.method == "browser":  # never in the iperf3 medians: its own
                if acc.browser is None:
                    acc.browser = _Browser()
                acc.browser.add(r)
                continue
            direction = r.direction
            udp = None
            if r.protocol == "UDP":
                udp = acc.udp
                if udp is None:
                    udp = acc.udp = _Udp()
            if direction != "download" and (up := r.upload_bps) is not None:
                if acc.up is None:
                    acc.up = [up]
                else:
                    acc.up.append(up)
                if udp is not None:
                    if r.jitter_ms is not None:
                        udp.up_jitter.append(r.jitter_ms)
                    if r.loss_percent is not None:
                        udp.up_loss.append(r.loss_percent)
            if direction != "upload" and (down := r.download_bps) is not None:
                by = r.download_measured_by or "station"  # a Result read before the field existed
                if udp is not None and by == "station":
                    udp.down_sent.append(down)
                else:
                    if acc.down is None:
                        acc.down = [down]
                    else:
                        acc.down.append(down)
                    acc.down_by |= _CLIENT if by == "client" else _STATION
                if udp is not None:
                    if by == "client" and (r.download_jitter_ms is not None or r.download_loss_percent is not None):
                        if r.download_jitter_ms is not None:
                            udp.down_jitter.append(r.download_jitter_ms)
                        if r.download_loss_percent is not None:
                            udp.down_loss.append(r.download_loss_percent)
                    else:
                        udp.unknown += 1

    def _with_version(self, versions: tuple[str, ...], version: str) -> tuple[str, ...]:
        both = self._versions.get((versions, version))
        if both is None:
            both = self._versions[(versions, version)] = (*versions, version)
        return both

    def rows(self, thresholds: Thresholds = Thresholds()) -> list[PlaceRow]:
        """One row per place (names compared case-insensitively, shown as
        most recently spelt), worst first (:data:`WORST_FIRST`)."""
        rows = [_row(key, acc, thresholds) for key, acc in self._groups.items() if acc.tests or acc.excluded]
        rows.sort(key=worst_first_key)
        return rows


def place_rows(results: Sequence[Result], annotations: Sequence[Annotation], thresholds: Thresholds = Thresholds()) -> list[PlaceRow]:
    """The places of ``results`` (``annotations[i]`` is ``results[i]``'s), worst first."""
    tally = PlaceTally()
    tally.add(results, annotations)
    return tally.rows(thresholds)


def _row(key: str | None, acc: _Acc, thresholds: Thresholds) -> PlaceRow:
    udp = acc.udp or _NO_UDP
    down, up = acc.down or [], acc.up or []
    graded = median(down)  # the downloads a grade may go by
    up_median = median(up)
    medians = [m for m in (graded, up_median) if m is not None]
    worst = min(medians) if medians else None
    graded_by = None
    if worst is None and acc.browser is not None:
        # No iperf3 figure at all: the browser's medians grade it, named so.
        browser_medians = [m for m in (median(acc.browser.down), median(acc.browser.up)) if m is not None]
        if browser_medians:
            worst, graded_by = min(browser_medians), "browser"
    if worst is not None:
        grade: Grade = thresholds.grade(worst)
    else:
        # "failed": nothing came through at all; a place with only ungraded figures is not graded.
        grade = "failed" if acc.failures and not udp.down_sent else "none"
    # Shown: the graded downloads; only where there are none, the station's sent UDP rates.
    shown, measured_by, ungraded = down, _MEASURED_BY[acc.down_by], None
    if not shown and udp.down_sent:
        shown, measured_by, ungraded = udp.down_sent, "station", UDP_SENT_UNGRADED
    return PlaceRow(
        place=acc.name if key is not None else None,
        tests=acc.tests,
        failures=acc.failures,
        excluded=acc.excluded,
        first=acc.first if acc.tests else None,
        last=acc.last if acc.tests else None,
        download_tests=len(shown),
        download_median_bps=graded if ungraded is None else median(shown),
        download_min_bps=min(shown) if shown else None,
        download_max_bps=max(shown) if shown else None,
        download_measured_by=measured_by,
        upload_tests=len(up),
        upload_median_bps=up_median,
        upload_min_bps=min(up) if up else None,
        upload_max_bps=max(up) if up else None,
        upload_jitter_ms=median(udp.up_jitter),
        upload_loss_percent=median(udp.up_loss),
        download_jitter_ms=median(udp.down_jitter),
        download_loss_percent=median(udp.down_loss),
        download_quality_unknown=udp.unknown,
        worst_bps=worst,
        grade=grade,
        download_grade=thresholds.grade(graded),
        upload_grade=thresholds.grade(up_median),
        versions=sorted(acc.versions, key=_version_key),
        interrupted=acc.interrupted,
        download_ungraded_tests=len(udp.down_sent),
        download_ungraded=ungraded,
        graded_by=graded_by,
        **_browser_figures(acc.browser, thresholds),
    )


def _browser_figures(b: _Browser | None, thresholds: Thresholds) -> dict[str, Any]:
    if b is None:
        return {}
    return {
        "browser_download_grade": thresholds.grade(median(b.down)),
        "browser_upload_grade": thresholds.grade(median(b.up)),
        "browser_tests": b.tests,
        "browser_download_median_bps": median(b.down),
        "browser_upload_median_bps": median(b.up),
        "browser_latency_idle_ms": median(b.idle),
        "browser_latency_download_ms": median(b.loaded_down),
        "browser_latency_upload_ms": median(b.loaded_up),
    }


def _version_key(version: str) -> tuple:
    return tuple(int(p) if p.isdigit() else 0 for p in version.split("."))


def worst_first_key(row: PlaceRow) -> tuple:
    """:data:`WORST_FIRST` as a sort key. Rows with nothing graded and no
    failure (every test excluded, interrupted, or a UDP download's sent rate
    only) go last; the tests with no place after every place."""
    if row.worst_bps is None:
        rank, figure = (0, 0.0) if row.grade == "failed" else (2, 0.0)
    else:
        rank, figure = 1, row.worst_bps
    return (row.place is None, rank, figure, -row.failures, (row.place or "").casefold())


def versions_seen(rows: Iterable[PlaceRow]) -> list[str]:
    """Every iperf3 version of the rows' tests, oldest first."""
    return sorted({v for row in rows for v in row.versions}, key=_version_key)


# -- two surveys ------------------------------------------------------------------


class Side(msgspec.Struct, kw_only=True):
    """One survey's figures for a place in a comparison."""

    tests: int
    failures: int
    download_median_bps: float | None
    upload_median_bps: float | None
    download_measured_by: str | None
    grade: Grade
    download_grade: Grade
    upload_grade: Grade
    interrupted: int = 0
    download_ungraded: str | None = None


class Change(msgspec.Struct, kw_only=True):
    """``survey`` minus ``compare``, in bit/s and as a percentage of ``compare``."""

    bps: float | None
    percent: float | None


class ComparedRow(msgspec.Struct, kw_only=True):
    place: str | None
    survey: Side | None  # None: the place is only in the other survey
    compare: Side | None
    only_in: Literal["survey", "compare"] | None
    download_change: Change
    upload_change: Change

    def to_dict(self) -> dict[str, Any]:
        return msgspec.to_builtins(self)


def _side(row: PlaceRow) -> Side:
    return Side(
        tests=row.tests, failures=row.failures, download_median_bps=row.download_median_bps,
        upload_median_bps=row.upload_median_bps, download_measured_by=row.download_measured_by, grade=row.grade,
        download_grade=row.download_grade, upload_grade=row.upload_grade, interrupted=row.interrupted,
        download_ungraded=row.download_ungraded,
    )


def change(now: float | None, before: float | None) -> Change:
    if now is None or before is None:
        return Change(bps=None, percent=None)
    return Change(bps=now - before, percent=(now - before) / before * 100 if before else None)


def compare_rows(survey: Sequence[PlaceRow], compare: Sequence[PlaceRow]) -> list[ComparedRow]:
    """Each place of either survey once: both medians and the change from
    ``compare`` to ``survey``. In ``survey``'s order (worst first), then the
    places only ``compare`` has, in its order; the tests with no place last."""
    def key(row: PlaceRow) -> str | None:
        return None if row.place is None else row.place.casefold()

    before = {key(row): row for row in compare}
    out: list[ComparedRow] = []
    for row in survey:
        old = before.pop(key(row), None)
        out.append(ComparedRow(
            place=row.place,
            survey=_side(row),
            compare=None if old is None else _side(old),
            only_in="survey" if old is None else None,
            download_change=change(row.download_median_bps, old and old.download_median_bps),
            upload_change=change(row.upload_median_bps, old and old.upload_median_bps),
        ))
    for old in before.values():
        out.append(ComparedRow(
            place=old.place, survey=None, compare=_side(old), only_in="compare",
            download_change=change(None, None), upload_change=change(None, None),
        ))
    # Never ranked among the places, whichever survey has them.
    return [row for row in out if row.place is not None] + [row for row in out if row.place is None]
