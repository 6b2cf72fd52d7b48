"""A snapshot of the survey book, and everything the routes ask of it.

A :class:`BookView` never changes: the book makes a new one after each saved
change and hands it out to any thread, so reading needs no lock and no SQLite
at all. Every question takes the results it is about (from the
:class:`~webperf3.store.results.ResultsStore`, in time order), so the data keeps
flowing one way: logs → store → (book view) → routes.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence

from ..store.record import Result
from .records import Annotation, Claim, Edit, PortLatest, Survey, SurveySummary
from .rules import NAT_WINDOW_S, ClaimIndex, Timeline, clean_address, nat_conflict, result_id


def _by_time(result: Result) -> float:
    return result.time


class BookView:
    """The book as it was at ``version``."""

    __slots__ = ("_address_cache", "claims", "edits", "nat_window", "surveys", "timeline", "version")

    def __init__(
        self,
        version: int,
        surveys: Mapping[int, Survey],
        timeline: Timeline,
        claims: ClaimIndex,
        edits: Mapping[str, Edit],
        nat_window: float = NAT_WINDOW_S,
    ) -> None:
        self.version = version
        self.surveys = surveys  # every survey, the undone ones too
        self.timeline = timeline
        self.claims = claims
        self.edits = edits
        self.nat_window = nat_window
        self._address_cache: dict[str, str] = {}

    # -- surveys ----------------------------------------------------------------

    @property
    def current(self) -> Survey | None:
        """The survey new tests go to: the one whose start (or reopening) is latest."""
        sid = self.timeline.current
        return None if sid is None else self.surveys.get(sid)

    def survey(self, survey_id: int) -> Survey | None:
        return self.surveys.get(survey_id)

    def in_survey(self, results: Sequence[Result], survey_id: int | None = None) -> list[Result]:
        """The results (in time order) that started within the survey's spans
        (default: the current survey), excluded ones included."""
        sid = self.timeline.current if survey_id is None else survey_id
        if sid is None:
            return []
        out: list[Result] = []
        for start, end in self.timeline.spans(sid):
            lo = bisect.bisect_left(results, start, key=_by_time) if start > 0 else 0
            hi = len(results) if end is None else bisect.bisect_left(results, end, key=_by_time)
            out.extend(results[lo:hi])
        return out

    def latest(self, results: Sequence[Result], survey_id: int | None = None) -> PortLatest:
        """For one port's results (``store.results(port=P)``, time order): its
        row of the survey's table (default: the current survey)."""
        members = self.in_survey(results, survey_id)
        edits_get = self.edits.get if self.edits else None
        success = failure = None
        excluded = 0
        for r in reversed(members):
            if edits_get is not None and (edit := edits_get(result_id(r))) is not None and edit.excluded:
                excluded += 1
            elif r.ok:
                success = success or r
            else:
                failure = failure or r
            if edits_get is None and success is not None and failure is not None:
                break  # with no edits nothing is excluded: the count is the length
        return PortLatest(success=success, failure=failure, tests=len(members) - excluded, excluded=excluded)

    def survey_list(self, results: Sequence[Result], include_undone: bool = False) -> list[SurveySummary]:
        """Every survey, oldest first, with its spans and counts. ``results`` in time order."""
        current = self.timeline.current
        out = []
        for survey in sorted(self.surveys.values(), key=lambda s: s.id):
            if survey.undone and not include_undone:
                continue
            members = self.in_survey(results, survey.id) if not survey.undone else []
            excluded, used = self._tally(members)
            out.append(
                SurveySummary(
                    id=survey.id,
                    name=survey.name,
                    created_at=survey.created_at,
                    current=survey.id == current,
                    spans=[(float(s), None if e is None else float(e)) for s, e in self.timeline.spans(survey.id)],
                    tests=len(members),
                    excluded=excluded,
                    places=len({place.casefold() for _, place in used}),
                    first_test=members[0].time if members else None,
                    last_test=members[-1].time if members else None,
                    undone_at=survey.undone_at,
                )
            )
        return out

    def _tally(self, members: Sequence[Result]) -> tuple[int, list[tuple[float, str]]]:
        """One pass over tests: how many are excluded, and (start, place) of
        the others that have a place. The rules of :meth:`annotate_all`
        without an annotation per test (a test checks that they agree)."""
        edits_get = self.edits.get if self.edits else None
        claimed, claim_lists = self.claims.tables() if len(self.claims) else (None, {})
        known = self._address_cache
        starts = self.timeline.starts
        right = bisect.bisect_right
        lo, hi, since = math.inf, -math.inf, 0  # the segment in hand, as in annotate_all
        excluded = 0
        used: list[tuple[float, str]] = []
        for r in members:
            if edits_get is not None and (edit := edits_get(result_id(r))) is not None:
                if edit.excluded:
                    excluded += 1
                    continue
                if edit.place:
                    used.append((r.time, edit.place))
                    continue
            if (name := r.name) and (name := name.strip()):
                used.append((r.time, name))
            elif claimed is not None and (client := r.client):
                t = r.time
                if not lo <= t < hi and starts:
                    i = max(right(starts, t) - 1, 0)
                    lo = starts[i] if i else -math.inf
                    hi = starts[i + 1] if i + 1 < len(starts) else math.inf
                    since = starts[i]
                address = known.get(client) or self._address(client)
                ats = claimed.get(address)
                if ats is not None:
                    j = right(ats, t) - 1
                    if j >= 0 and ats[j] >= since and (place := claim_lists[address][j].place):
                        used.append((t, place))
        return excluded, used

    # -- annotations -------------------------------------------------------------

    def annotate(self, result: Result) -> Annotation:
        return self.annotate_all((result,))[0]

    def annotate_all(self, results: Iterable[Result]) -> list[Annotation]:
        """Each result's id, place, place source, survey and exclusion.

        The hot loop of a start (every test) and of a survey change (every
        test of the survey), so :func:`~.rules.result_id` and
        :func:`~.rules.choose_place` are inlined here (a test checks that the
        two agree): the survey is found by walking the segments while the
        results come in time order, an address is normalised once per
        distinct string.
        """
        edits_get = self.edits.get if self.edits else None
        starts = self.timeline.starts
        surveys = self.timeline.surveys
        count = len(starts)
        claimed, claim_lists = self.claims.tables() if len(self.claims) else (None, {})
        known = self._address_cache
        address_of = self._address
        right = bisect.bisect_right
        inf = math.inf
        lo, hi, sid, since = inf, -inf, None, 0  # the segment in hand: [lo, hi)
        out: list[Annotation] = []
        append = out.append
        for r in results:
            cookie = r.cookie
            if cookie and len(cookie) <= 64 and cookie.isascii() and cookie.isalnum():
                tid = f"{r.port}-{cookie}"
            else:
                tid = result_id(r)
            t = r.time
            if not lo <= t < hi and count:
                i = right(starts, t) - 1
                if i < 0:
                    i = 0
                lo = starts[i] if i else -inf
                hi = starts[i + 1] if i + 1 < count else inf
                sid, since = surveys[i], starts[i]
            edit = edits_get(tid) if edits_get is not None else None
            if edit is not None and edit.place:
                place, source = edit.place, "edited"
            elif (name := r.name) and (name := name.strip()):
                place, source = name, "client"
            elif claimed is not None and (client := r.client):
                # ClaimIndex.at, inlined: a call per test is a tenth of the loop.
                address = known.get(client) or address_of(client)
                place = source = None
                ats = claimed.get(address)
                if ats is not None:
                    j = right(ats, t) - 1
                    if j >= 0 and ats[j] >= since and (place := claim_lists[address][j].place):
                        source = "browser"
            else:
                place = source = None
            append(Annotation(tid, place, source, sid, edit is not None and edit.excluded))
        return out

    def _address(self, client: str) -> str:
        # iperf3 writes addresses canonically already; parse each distinct one once anyway.
        cached = self._address_cache.get(client)
        if cached is None:
            try:
                cached = clean_address(client)
            except ValueError:
                cached = client
            self._address_cache[client] = cached
        return cached

    def find(self, results: Sequence[Result], tid: str) -> Result | None:
        """The result with id ``tid`` among ``results`` (e.g. one port's)."""
        for result in results:
            if result_id(result) == tid:
                return result
        return None

    def edit_of(self, tid: str) -> Edit | None:
        return self.edits.get(tid)

    # -- places ------------------------------------------------------------------

    def places(self, results: Sequence[Result], survey_id: int | None = None) -> list[str]:
        """The places used in a survey (default: the current one), most recently
        used first, each once (case-insensitively): for the "Where are you?"
        autocomplete. Those of its tests that are not excluded, and those
        named in the browser during it, even with no test yet."""
        sid = self.timeline.current if survey_id is None else survey_id
        if sid is None:
            return []
        _, used = self._tally(self.in_survey(results, sid))
        for start, end in self.timeline.spans(sid):
            used.extend(self.claims.places_between(start, end))
        seen: set[str] = set()
        out = []
        for _, place in sorted(used, key=lambda u: u[0], reverse=True):
            key = place.casefold()
            if key not in seen:
                seen.add(key)
                out.append(place)
        return out

    def claim_of(self, address: str, at: float) -> Claim | None:
        """The claim naming the tests ``address`` would start at ``at``: what
        "Where are you?" shows that device now. ``address`` as iperf3 writes it."""
        i = self.timeline.index(at)
        since = self.timeline.starts[i] if i >= 0 else 0
        return self.claims.at(self._address(address), at, since)

    def conflicts(self, address: str, at: float) -> tuple[Claim, ...]:
        """Devices naming different places from ``address`` within the NAT window before ``at``."""
        return nat_conflict(self.claims.of(self._address(address)), at, self.nat_window)
