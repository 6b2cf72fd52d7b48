"""A snapshot of the survey book, and everything the routes ask of it.

A :class:`BookView` never changes: the book makes a new one after each saved
change and hands it out to any thread, so reading needs no lock and no SQLite
at all. Every question takes the results it is about (from the
:class:`~webperf3.results.ResultsStore`, in time order), so the data keeps
flowing one way: logs → store → (book view) → routes.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence

from ..result import Result
from .records import Annotation, Claim, Edit, Survey, SurveySummary
from .rules import NAT_WINDOW_S, ClaimIndex, Timeline, choose_place, clean_address, nat_conflict, result_id


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

    def survey_list(self, results: Sequence[Result], include_undone: bool = False) -> list[SurveySummary]:
        """Every survey, oldest first, with its spans and counts. ``results`` in time order."""
        current = self.timeline.current
        out = []
        for survey in sorted(self.surveys.values(), key=lambda s: s.id):
            if survey.undone and not include_undone:
                continue
            members = self.in_survey(results, survey.id) if not survey.undone else []
            notes = self.annotate_all(members)
            kept = [a for a in notes if not a.excluded]
            out.append(
                SurveySummary(
                    id=survey.id,
                    name=survey.name,
                    created_at=survey.created_at,
                    current=survey.id == current,
                    spans=[(float(s), None if e is None else float(e)) for s, e in self.timeline.spans(survey.id)],
                    tests=len(members),
                    excluded=len(notes) - len(kept),
                    places=len({a.place.casefold() for a in kept if a.place}),
                    first_test=min((r.time for r in members), default=None),
                    last_test=max((r.time for r in members), default=None),
                    undone_at=survey.undone_at,
                )
            )
        return out

    # -- annotations -------------------------------------------------------------

    def annotate(self, result: Result) -> Annotation:
        return self.annotate_all((result,))[0]

    def annotate_all(self, results: Iterable[Result]) -> list[Annotation]:
        """Each result's id, place, place source, survey and exclusion.

        The hot loop of a start (every test) and of a survey change (every
        test of the survey): names are bound locally and an address is
        normalised once per distinct string.
        """
        edits_get = self.edits.get if self.edits else None
        starts = self.timeline.starts
        surveys = self.timeline.surveys
        claim_at = self.claims.at if len(self.claims) else None
        address_of = self._address
        right = bisect.bisect_right
        out: list[Annotation] = []
        append = out.append
        for r in results:
            tid = result_id(r)
            edit = edits_get(tid) if edits_get is not None else None
            i = right(starts, r.time) - 1 if starts else -1
            if i < 0 and starts:
                i = 0
            browser = None
            if claim_at is not None and r.client and (edit is None or edit.place is None) and not (r.name and r.name.strip()):
                claim = claim_at(address_of(r.client), r.time, starts[i] if i >= 0 else 0)
                browser = None if claim is None else claim.place
            place, source = choose_place(None if edit is None else edit.place, r.name, browser)
            append(Annotation(tid, place, source, surveys[i] if i >= 0 else None, edit is not None and edit.excluded))
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
        autocomplete. From its tests that are not excluded, and from the places
        named in the browser during it, even with no test yet."""
        sid = self.timeline.current if survey_id is None else survey_id
        if sid is None:
            return []
        used: list[tuple[float, str]] = []
        members = self.in_survey(results, sid)
        for result, note in zip(members, self.annotate_all(members), strict=True):
            if note.place and not note.excluded:
                used.append((result.time, note.place))
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
