"""The rules that give each test its identity, survey and place. Pure functions.

Times: iperf3 records a test's start in whole seconds (``timesecs``), so a
boundary made in the browser (a place named, a survey started) counts from
the start of its second. A test started in the same second as "New survey"
belongs to the new survey; one started in the same second as a place was
named gets that place: from a phone, the test always comes after.
"""

from __future__ import annotations

import bisect
import ipaddress
import math
import re
import unicodedata
from collections.abc import Iterable, Sequence

from ..store.record import Result
from .errors import BookInputError
from .records import Claim, PlaceSource, Segment

#: Longest survey or place name, in characters.
NAME_LIMIT = 200
#: Device ids and user agents longer than this are cut (they only tell devices apart).
DEVICE_LIMIT = 300
#: Two devices naming different places from one address this close together
#: are taken to share it (NAT): the pages of both are told.
NAT_WINDOW_S = 300.0

_COOKIE_MAX = 64
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# What a name may not hold, after Unicode's identifier-security guidance (UTS
# #39) and its Default_Ignorable_Code_Point property. Refused, with the
# character named: the bidi embeddings, overrides and isolates, which make
# a name read backwards in the report ("\u202eRoom 101"); noncharacters and
# lone surrogates, which are no text. Removed: the characters that show as
# nothing (zero-width spaces, the Hangul fillers, soft hyphens, the BOM,
# direction marks, tags), so "Room\u200b101" is the "Room101" it looks like
# and a name of only those is empty. Kept: the zero-width joiner and
# non-joiner and the variation selectors, which emoji and some scripts need.
_BIDI_CONTROL = re.compile("[\u202a-\u202e\u2066-\u2069]")
_NONCHARACTER = re.compile("[\ufdd0-\ufdef\ufffe\uffff\U0001fffe\U0001ffff\U0010fffe\U0010ffff\ud800-\udfff]")
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b\u200e\u200f"
    "\u2060-\u2065\u206a-\u206f\u2800\u3164\ufeff\uffa0\ufff0-\ufff8\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)
_TEST_ID = re.compile(r"(\d{1,5})-(?:([A-Za-z0-9]{1,64})|x-([0-9a-f]{2,256})|t(\d{1,12})-(\d{1,15}))")


# -- identity -------------------------------------------------------------------


def result_id(result: Result) -> str:
    """A test's identity, stable across re-reading, truncation and restarts.

    ``"<port>-<cookie>"`` from iperf3's per-test ``start.cookie`` (a 36-letter
    random string every real test has). A cookie that is not plain letters and
    digits (a crafted client) is hex-encoded as ``"<port>-x-<hex>"`` so every
    id can go in a URL path. An entry without a cookie falls back to
    ``"<port>-t<start second>-<byte offset in its log>"``: stable while the log
    only grows, but it changes if the log is rewritten before that entry.
    """
    cookie = result.cookie
    if cookie:
        if len(cookie) <= _COOKIE_MAX and cookie.isascii() and cookie.isalnum():
            return f"{result.port}-{cookie}"
        return f"{result.port}-x-{cookie.encode('utf-8', 'replace').hex()[:256]}"
    return f"{result.port}-t{int(result.time)}-{result.offset}"


def parse_result_id(text: object) -> int:
    """Check an id given from outside (a URL); its port. Raises :class:`BookInputError`."""
    if not isinstance(text, str) or (match := _TEST_ID.fullmatch(text)) is None:
        shown = repr(text)[:80]
        raise BookInputError(f"{shown} is not a test id (expected <port>-<iperf3 cookie>, e.g. 5201-v6mpac6qx5znedp5i4yy62w4pvszrju7zke6)")
    port = int(match.group(1))
    if not 1 <= port <= 65535:
        raise BookInputError(f"{text!r} is not a test id: port {port} is out of range")
    return port


# -- precedence -----------------------------------------------------------------


def choose_place(edited: str | None, client: str | None, browser: str | None) -> tuple[str | None, PlaceSource | None]:
    """A test's place and where it came from: what a person set afterwards,
    else the client's ``--extra-data``, else the place its address named in the
    browser, else none. A blank value (``--extra-data " "``) names nothing;
    the place is given without surrounding whitespace."""
    for value, source in ((edited, "edited"), (client, "client"), (browser, "browser")):
        if value:
            place = value.strip()
            if place:
                return place, source  # type: ignore[return-value]
    return None, None


# -- input ----------------------------------------------------------------------


def clean_name(value: object, what: str) -> str:
    """A survey or place name as kept: whitespace runs made one space, Unicode
    in NFC (so "Café" typed on two phones is one place)."""
    if not isinstance(value, str):
        raise BookInputError(f"{what} must be text, not {_kind(value)}")
    spaced = " ".join(value.split())  # runs of whitespace (tabs, newlines too) are one space
    if _CONTROL.search(spaced):
        raise BookInputError(f"{what} holds control characters")
    if found := _BIDI_CONTROL.search(spaced):
        raise BookInputError(f"{what} holds U+{ord(found.group()):04X}, which changes the direction the rest is read in: type the name without it")
    if found := _NONCHARACTER.search(spaced):
        raise BookInputError(f"{what} holds U+{ord(found.group()):04X}, which is not a character")
    text = unicodedata.normalize("NFC", " ".join(_INVISIBLE.sub("", spaced).split()))
    if not text:
        raise BookInputError(f"{what} is empty" + (" (it holds only characters that show as nothing)" if spaced else ""))
    if len(text) > NAME_LIMIT:
        raise BookInputError(f"{what} is {len(text)} characters long; at most {NAME_LIMIT}")
    return text


def clean_optional(value: object, what: str, limit: int = DEVICE_LIMIT) -> str | None:
    """A device id, user agent or editor: None if absent or blank, cut to ``limit``."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise BookInputError(f"{what} must be text, not {_kind(value)}")
    text = _CONTROL.sub("", value).strip()[:limit]
    return text or None


def clean_address(value: object) -> str:
    """A client address as iperf3's log gives it: IPv4 dotted, IPv6 in its
    canonical form, an IPv4-mapped IPv6 address as plain IPv4."""
    if not isinstance(value, str):
        raise BookInputError(f"the address must be text, not {_kind(value)}")
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        raise BookInputError(f"{value[:60]!r} is not an IP address") from None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def clean_time(value: object, what: str = "the time") -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise BookInputError(f"{what} must be seconds since the epoch, not {value!r}")
    return float(value)


def _kind(value: object) -> str:
    return "nothing" if value is None else type(value).__name__


def boundary(at: float) -> int:
    """The second from which a boundary counts (see the module's docstring)."""
    return math.floor(at)


# -- the timeline ---------------------------------------------------------------


class Timeline:
    """The live segments in time order: which survey a start time falls in.

    Equal start times keep the order the segments were made in, so a survey
    started and at once reopened over gives the later one.
    """

    __slots__ = ("segments", "starts", "surveys")

    def __init__(self, segments: Iterable[Segment]) -> None:
        live = sorted((s for s in segments if s.undone_at is None), key=lambda s: (s.started_at, s.id))
        self.segments: tuple[Segment, ...] = tuple(live)
        self.starts: list[int] = [boundary(s.started_at) for s in live]
        self.surveys: list[int] = [s.survey for s in live]

    def index(self, t: float) -> int:
        """The segment a test starting at ``t`` falls in; -1 if there is none."""
        if not self.starts:
            return -1
        return max(bisect.bisect_right(self.starts, t) - 1, 0)

    def survey_at(self, t: float) -> int | None:
        i = self.index(t)
        return None if i < 0 else self.surveys[i]

    @property
    def current(self) -> int | None:
        return self.surveys[-1] if self.surveys else None

    @property
    def last(self) -> Segment | None:
        return self.segments[-1] if self.segments else None

    def spans(self, survey: int) -> list[tuple[int, int | None]]:
        """``[start, end)`` second ranges in which new tests went to ``survey``;
        consecutive segments of one survey make one span."""
        out: list[tuple[int, int | None]] = []
        for i, owner in enumerate(self.surveys):
            if owner != survey:
                continue
            end = self.starts[i + 1] if i + 1 < len(self.starts) else None
            if out and out[-1][1] == self.starts[i]:
                out[-1] = (out[-1][0], end)
            else:
                out.append((self.starts[i], end))
        return out


# -- claims ---------------------------------------------------------------------


class ClaimIndex:
    """Every claim by address, in time order: the place an address named for a test."""

    __slots__ = ("_ats", "_claims")

    def __init__(self, claims: Iterable[Claim] = ()) -> None:
        self._claims: dict[str, list[Claim]] = {}
        for claim in sorted(claims, key=lambda c: (c.at, c.id)):
            self._claims.setdefault(claim.address, []).append(claim)
        self._ats: dict[str, list[int]] = {a: [boundary(c.at) for c in cs] for a, cs in self._claims.items()}

    def with_claim(self, claim: Claim) -> ClaimIndex:
        """A copy with one more claim; only that address's lists are copied."""
        new = ClaimIndex.__new__(ClaimIndex)
        new._claims, new._ats = dict(self._claims), dict(self._ats)
        claims = [*self._claims.get(claim.address, ()), claim]
        if len(claims) > 1 and (claims[-2].at, claims[-2].id) > (claim.at, claim.id):
            claims.sort(key=lambda c: (c.at, c.id))  # named with a time in the past
        new._claims[claim.address] = claims
        new._ats[claim.address] = [boundary(c.at) for c in claims]
        return new

    def __len__(self) -> int:
        return sum(len(cs) for cs in self._claims.values())

    def of(self, address: str) -> Sequence[Claim]:
        return self._claims.get(address, ())

    def tables(self) -> tuple[dict[str, list[int]], dict[str, list[Claim]]]:
        """Per address, the claims' boundary seconds and the claims, for a hot
        loop to search without a call per test (read only)."""
        return self._ats, self._claims

    def all(self) -> list[Claim]:
        """Every claim, in time order."""
        return sorted((c for cs in self._claims.values() for c in cs), key=lambda c: (c.at, c.id))

    def at(self, address: str, t: float, since: int) -> Claim | None:
        """The claim in force for a test from ``address`` starting at ``t``:
        the address's latest claim at or before ``t``, unless it was made
        before ``since`` (the start of the test's timeline segment)."""
        ats = self._ats.get(address)
        if ats is None:
            return None
        i = bisect.bisect_right(ats, t) - 1
        if i < 0 or ats[i] < since:
            return None
        return self._claims[address][i]

    def places_between(self, start: int, end: int | None) -> list[tuple[float, str]]:
        """(time, place) of every claim naming a place within ``[start, end)``."""
        return [
            (c.at, c.place)
            for cs in self._claims.values()
            for c in cs
            if c.place is not None and boundary(c.at) >= start and (end is None or boundary(c.at) < end)
        ]


def nat_conflict(claims: Sequence[Claim], at: float, window: float = NAT_WINDOW_S) -> tuple[Claim, ...]:
    """Claims of one address: if, within ``window`` seconds before ``at``,
    two or more devices named two or more different places from it, the
    latest claim of each such device (oldest first); else nothing.
    Claims with no device id nor user agent cannot be told apart and are left out."""
    latest: dict[str, Claim] = {}
    for claim in claims:
        key = claim.device_key
        if key is not None and at - window <= claim.at <= at:
            if key not in latest or (claim.at, claim.id) >= (latest[key].at, latest[key].id):
                latest[key] = claim
    naming = [c for c in latest.values() if c.place is not None]  # a device that stopped naming clashes with nobody
    if len(naming) < 2 or len({c.place.casefold() for c in naming if c.place}) < 2:
        return ()
    return tuple(sorted(naming, key=lambda c: (c.at, c.id)))
