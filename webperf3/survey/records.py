"""The records of the survey book, as the rest of webperf3 sees them.

msgspec Structs (frozen) like :class:`~webperf3.store.record.Result`: cheap to build
by the hundred thousand (one :class:`Annotation` per test), and ``to_dict()``
gives the JSON the web layer sends.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from ..store.record import Result

#: Where a test's place came from, in order of precedence: set by a person on
#: the station afterwards, the client's ``--extra-data``, or the place its
#: address named in the browser.
PlaceSource = Literal["edited", "client", "browser"]

SegmentKind = Literal["initial", "start", "reopen", "migrated"]

ChangeKind = Literal["claim", "edit", "start", "rename", "reopen", "undo", "restore", "reload", "plan", "spot"]


class _Record(msgspec.Struct, frozen=True, kw_only=True):
    def to_dict(self) -> dict[str, Any]:
        return msgspec.to_builtins(self)


class Survey(_Record):
    """A named walk through a building. Which tests it holds is the timeline's business."""

    id: int
    name: str
    created_at: float
    undone_at: float | None = None  # its start was undone: its tests went back to the survey before

    @property
    def undone(self) -> bool:
        return self.undone_at is not None


class Segment(_Record):
    """One step of the timeline: from ``started_at`` on, tests belong to ``survey``
    (until the next segment). A survey's start is one; each reopening adds one."""

    id: int
    survey: int
    started_at: float
    kind: SegmentKind
    undone_at: float | None = None


class Claim(_Record):
    """A device named its place from the browser: tests from ``address`` that start
    from ``at`` on belong to ``place`` (``None``: no place any more), until that
    address names another place or a survey is started or reopened."""

    id: int
    address: str
    place: str | None
    at: float
    device: str | None = None  # a random id the page keeps, to tell devices behind one NAT apart
    user_agent: str | None = None

    @property
    def device_key(self) -> str | None:
        """What tells this device from another behind the same address."""
        return self.device or self.user_agent


class Edit(_Record):
    """What a person set for one test afterwards. The test's start time is kept so a
    survey's counts need no log."""

    test_id: str
    port: int
    started_at: float
    place: str | None = None  # None: the place is not set by a person
    excluded: bool = False
    updated_at: float = 0.0
    by: str | None = None


class Annotation(msgspec.Struct, frozen=True, gc=False):
    """What the survey book adds to one :class:`~webperf3.store.record.Result`."""

    id: str  # the test's identity, e.g. "5201-v6mpac6qx5znedp5i4yy62w4pvszrju7zke6"
    place: str | None
    place_source: PlaceSource | None
    survey: int | None  # None only if the timeline is empty (the file was edited by hand)
    excluded: bool

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "place": self.place, "place_source": self.place_source, "survey": self.survey, "excluded": self.excluded}


class SurveySummary(_Record):
    """One line of the survey list."""

    id: int
    name: str
    created_at: float
    current: bool
    #: When it held new tests: ``[start, end]`` pairs, ``end`` None while current;
    #: the first survey starts at 0 (the beginning of the logs).
    spans: list[tuple[float, float | None]]
    tests: int  # every test in its spans, the excluded ones too
    excluded: int
    places: int  # distinct places among its tests that are not excluded
    first_test: float | None  # start of its first test
    last_test: float | None
    undone_at: float | None = None


class PortLatest(_Record):
    """One port's row of a survey's table: its latest successful and failed
    tests in the survey (excluded ones skipped) and how many it has there."""

    success: Result | None
    failure: Result | None
    tests: int  # not counting the excluded ones
    excluded: int


class ClaimOutcome(_Record):
    """What naming a place did: the claim saved, and the other devices naming
    other places from the same address at about the same time (NAT)."""

    claim: Claim
    conflicts: tuple[Claim, ...] = ()


class BookChange(_Record):
    """What a listener of the book hears after each saved change.

    * ``claim``: ``address`` named ``claim.place``; ``conflicts`` lists every
      device (this one included) naming different places from that address
      within the NAT window, empty when there is no clash. Tests of that
      address starting from ``claim.at`` on may have a new place.
    * ``edit``: the tests ``ids`` have a new place or exclusion.
    * ``start`` / ``rename`` / ``reopen`` / ``undo`` / ``restore``: ``survey``
      is the survey acted on; ``current`` the current survey afterwards.
      ``everything`` is true: any test's survey and browser place may differ.
    * ``reload``: another program changed the file; everything may differ.
    * ``plan`` / ``spot``: a floor plan was added, replaced, edited or removed;
      a place was put on a plan, moved or taken off (no test's place changes).
    """

    kind: ChangeKind
    version: int
    current: int | None
    everything: bool = False
    ids: tuple[str, ...] = ()
    address: str | None = None
    claim: Claim | None = None
    conflicts: tuple[Claim, ...] = ()
    survey: Survey | None = None
