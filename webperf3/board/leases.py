"""A port of one's own: each device surveying with the station holds an
iperf3 port for as long as it surveys, so two devices are never told the same
port while another is free (one of them would get "the server is busy").

A device is the page's random id (``device.js``, kept in localStorage) plus
the address it comes from. It holds a *lease*: ``LEASE_S`` seconds, renewed
while its page is open (a heartbeat every ``HEARTBEAT_S``) or while its tests
run (a test from the device's address on its port renews it: a phone's page
sleeps while its iperf3 app runs). A lease that is not renewed ends; a page
that comes back leases again and is given the port it held last if nobody
took it meanwhile.

Which port a device is given, in order: the one it held last; then one
whose newest test came from its address; then one nobody holds or used
lately (no test from another address, no other device's lease, for
``RECENT_S``); idle before one another address is testing on (a script
with no page); never one whose server is down. When every port is held, the
answer says so and who holds each. One address (an IPv6 /64) holds at most
half the ports, so a flood of made-up ids cannot take them all from the
real pages.

Pure: no I/O, no clock, no lock; the time is passed in and the ports' state
(up, who is testing, who tested last) is given by the caller. The station's
one table is held by the board (:class:`webperf3.board.leasing.Leases`):
the board is the one object the station makes once and hands to both the
web views, which take the page loads and heartbeats, and the live push,
which tells every page when the holders change and expires leases on its
tick; and it is where the store's tests (which renew a lease) meet what
people add. In memory only: after a restart the pages lease again when
their websocket reconnects.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

#: A lease lasts this long after its last renewal.
LEASE_S = 90.0
#: The page renews its lease this often (three chances before it ends).
HEARTBEAT_S = 30.0
#: A port another device used or held this recently is left to it while others are free:
#: surveyors walking a building each keep one port.
RECENT_S = 15 * 60.0
#: A lease on a port whose server is down moves to another port after this:
#: a server restarting for a second does not change anyone's port.
DOWN_GRACE_S = 15.0
#: Devices whose last port is remembered (the oldest forgotten first).
MEMORY = 1024
#: A device id: the page's random id, short ASCII.
DEVICE_ID_MAX = 64
DEVICE_ID = re.compile(r"[A-Za-z0-9_-]{1,%d}" % DEVICE_ID_MAX)
#: A device's description ("iPhone, Safari") is at most this long.
DESCRIPTION_MAX = 40
#: Server states in which a port can take a test; the others are "down".
UP_STATES = frozenset({"idle", "testing"})


def valid_device_id(value: object) -> bool:
    return isinstance(value, str) and DEVICE_ID.fullmatch(value) is not None


@functools.lru_cache(maxsize=4096)  # a few distinct addresses, asked for on every lease and tick
def normal_address(address: str | None) -> str | None:
    """An address as iperf3's log and the survey book write it: IPv4 dotted,
    IPv6 canonical, IPv4-mapped IPv6 as the IPv4 address it carries. So a
    dual-stack web server's ``::ffff:10.0.0.5`` and iperf3's ``10.0.0.5``
    are one device."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def address_group(address: str) -> str:
    """What the per-address cap counts: the address, an IPv6 address's /64
    (one host picks addresses from a whole /64), IPv4-mapped as IPv4."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


# -- who is it ------------------------------------------------------------------------

_DEVICES = (  # (pattern, name): the first that matches names the device
    (re.compile(r"iPhone"), "iPhone"),
    (re.compile(r"iPad"), "iPad"),
    (re.compile(r"Android.*Mobile"), "Android phone"),
    (re.compile(r"Android"), "Android tablet"),
    (re.compile(r"CrOS"), "Chromebook"),
    (re.compile(r"Windows"), "Windows PC"),
    (re.compile(r"Macintosh|Mac OS X"), "Mac"),
    (re.compile(r"Linux|X11"), "Linux PC"),
)
_BROWSERS = (
    (re.compile(r"EdgA?/|EdgiOS/|Edg/"), "Edge"),
    (re.compile(r"SamsungBrowser/"), "Samsung Internet"),
    (re.compile(r"OPR/|Opera"), "Opera"),
    (re.compile(r"Firefox/|FxiOS/"), "Firefox"),
    (re.compile(r"Chrome/|CriOS/|Chromium/"), "Chrome"),
    (re.compile(r"Safari/"), "Safari"),
)
_PRODUCT = re.compile(r"[A-Za-z][A-Za-z0-9._-]{0,23}")


def describe(user_agent: str | None) -> str:
    """A short description of a device from its User-Agent, for people:
    "iPhone, Safari", "Windows PC, Firefox", "curl". Only names from the
    lists above, or the first product token of an unknown agent (letters,
    digits, ".", "-", "_", cut short): nothing a client writes reaches a page
    as it wrote it."""
    if not user_agent:
        return "unknown device"
    device = next((name for pattern, name in _DEVICES if pattern.search(user_agent)), None)
    browser = next((name for pattern, name in _BROWSERS if pattern.search(user_agent)), None)
    if device and browser:
        return f"{device}, {browser}"[:DESCRIPTION_MAX]
    if device or browser:
        return (device or browser or "")[:DESCRIPTION_MAX]
    product = _PRODUCT.match(user_agent.strip())
    return product.group(0) if product else "unknown device"


def holder_token(secret: bytes, device: str, address: str) -> str:
    """What tells a device's lease from another's in messages every page
    reads: a keyed hash of its id and address, never the id itself (which
    would let any page renew, and so keep, another device's port)."""
    return hmac.new(secret, f"{address}\n{device}".encode(), hashlib.sha256).hexdigest()[:16]


# -- the table --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PortState:
    """What the table is told of one port at a moment."""

    port: int
    up: bool  # its server can take a test (idle or testing)
    testing_from: str | None = None  # the client of the test running now
    last_from: str | None = None  # the client of the newest logged test
    last_at: float | None = None  # when that test ended


@dataclass(frozen=True, slots=True)
class Lease:
    port: int
    device: str
    address: str
    description: str
    granted: float
    renewed: float
    expires: float


@dataclass(frozen=True, slots=True)
class Grant:
    """A device's answer: its lease, or why it has none (``reason``), and
    every lease now held (who holds each port)."""

    lease: Lease | None
    reason: str | None
    holders: tuple[Lease, ...]
    changed: bool  # the holders changed: every page should hear


def port_states(
    ports: Iterable[int],
    servers: Mapping[int, Mapping[str, Any]],
    newest: Mapping[int, tuple[str | None, float]],
) -> list[PortState]:
    """The ports' states from the fleet's status (``state``, ``client``; a
    port the fleet does not list counts as up: a station reading logs only)
    and each port's newest logged test (client, end time)."""
    out = []
    for port in sorted(set(ports)):
        status = servers.get(port)
        state = status.get("state") if status is not None else None
        up = state is None or state in UP_STATES
        testing = normal_address(status.get("client")) if status is not None and state == "testing" else None
        client, at = newest.get(port, (None, None))
        out.append(PortState(port, up, testing, normal_address(client), at))
    return out


class LeaseTable:
    """Who holds which port (see the module's docstring). Not thread-safe:
    its holder serialises the calls."""

    def __init__(self, ttl: float = LEASE_S, *, recent: float = RECENT_S, down_grace: float = DOWN_GRACE_S, per_address: int | None = None) -> None:
        self.ttl = ttl
        self.recent = recent
        self.down_grace = down_grace
        self.per_address = per_address  # None: half the ports, rounded up
        self.version = 0  # bumped whenever who holds which port changes
        self._leases: dict[tuple[str, str], Lease] = {}  # (device, address) -> its lease
        self._last: dict[str, int] = {}  # device id -> the port it held last (insertion order: oldest first)
        self._ended: dict[int, tuple[tuple[str, str], float]] = {}  # port -> (device, when) a lease there last ended
        self._down_since: dict[int, float] = {}

    def holders(self) -> tuple[Lease, ...]:
        return tuple(sorted(self._leases.values(), key=lambda lease: lease.port))

    def of(self, device: str, address: str) -> Lease | None:
        return self._leases.get((device, address))

    def cap(self, ports: int) -> int:
        """Leases one address may hold, of ``ports`` ports."""
        return self.per_address if self.per_address is not None else max(1, (ports + 1) // 2)

    # -- the passing of time ----------------------------------------------------------

    def update(self, ports: Sequence[PortState], now: float) -> bool:
        """Renew the leases whose device tests (or tested) on its port, end
        those that ran out or whose port is gone, and move those whose port's
        server has been down for ``down_grace``. True if the holders changed."""
        by_port = {p.port: p for p in ports}
        for p in ports:
            if p.up:
                self._down_since.pop(p.port, None)
            else:
                self._down_since.setdefault(p.port, now)
        for port in list(self._down_since):
            if port not in by_port:
                del self._down_since[port]
        changed = False
        moving: list[Lease] = []
        for key, lease in list(self._leases.items()):
            state = by_port.get(lease.port)
            if state is None:
                self._end(key, now)
                changed = True
                continue
            renewed = lease.renewed
            if state.testing_from == lease.address:
                renewed = now
            elif state.last_from == lease.address and state.last_at is not None:
                renewed = max(renewed, min(state.last_at, now))
            if renewed != lease.renewed:
                lease = self._leases[key] = replace(lease, renewed=renewed, expires=renewed + self.ttl)
            if lease.expires <= now:
                self._end(key, now)
                changed = True
            elif not state.up and now - self._down_since.get(lease.port, now) >= self.down_grace:
                moving.append(lease)
        for lease in moving:
            key = (lease.device, lease.address)
            free = self._free(ports)
            if free:
                port = self._choose(lease.device, lease.address, free, now).port
                self._leases[key] = replace(lease, port=port)
                self._remember(lease.device, port)
            else:
                self._end(key, now)
            changed = True
        if changed:
            self.version += 1
        return changed

    # -- a device asks ------------------------------------------------------------------

    def lease(self, device: str, address: str, description: str, ports: Sequence[PortState], now: float) -> Grant:
        """The lease of ``device`` at ``address``: renewed if it holds one,
        else a new one on the best free port, else none and why."""
        changed = self.update(ports, now)
        key = (device, address)
        mine = self._leases.get(key)
        if mine is not None:
            mine = self._leases[key] = replace(mine, description=description, renewed=now, expires=now + self.ttl)
            return Grant(mine, None, self.holders(), changed)
        up = [p for p in ports if p.up]
        if not ports:
            return Grant(None, "no iperf3 server runs on this station", self.holders(), changed)
        if not up:
            return Grant(None, "no iperf3 server is up on this station right now", self.holders(), changed)
        group = address_group(address)
        cap = self.cap(len(ports))
        here = sum(1 for lease in self._leases.values() if address_group(lease.address) == group)
        if here >= cap:
            held = "1 other device at {a} holds a port" if here == 1 else f"{here} other devices at {{a}} hold ports"
            return Grant(
                None,
                f"{held.format(a=address)} already: one address holds at most {cap} of the {len(ports)} ports, so it cannot take them all",
                self.holders(),
                changed,
            )
        free = self._free(ports)
        if not free:
            who = "; ".join(f"{lease.port} by {lease.address} ({lease.description})" for lease in self.holders())
            return Grant(None, f"every port is taken: {who}" if who else "every port is busy", self.holders(), changed)
        port = self._choose(device, address, free, now).port
        lease = self._leases[key] = Lease(port, device, address, description, now, now, now + self.ttl)
        self._remember(device, port)
        self.version += 1
        return Grant(lease, None, self.holders(), True)

    def release(self, device: str, address: str, now: float) -> bool:
        """The device is done: its port is free at once. True if it held one."""
        if (device, address) not in self._leases:
            return False
        self._end((device, address), now)
        self.version += 1
        return True

    # -- inside ------------------------------------------------------------------------

    def _free(self, ports: Sequence[PortState]) -> list[PortState]:
        held = {lease.port for lease in self._leases.values()}
        return [p for p in ports if p.up and p.port not in held]

    def _choose(self, device: str, address: str, free: Sequence[PortState], now: float) -> PortState:
        last = self._last.get(device)

        def rank(p: PortState) -> tuple:
            other_testing = p.testing_from is not None and p.testing_from != address
            mine = p.port == last
            tested_here = p.last_from == address
            ended = self._ended.get(p.port)
            other_lately = (
                (p.last_from is not None and not tested_here and p.last_at is not None and now - p.last_at < self.recent)
                or (ended is not None and ended[0] != (device, address) and now - ended[1] < self.recent)
            )
            return (other_testing, not mine, not tested_here, other_lately, p.port)

        return min(free, key=rank)

    def _end(self, key: tuple[str, str], now: float) -> None:
        lease = self._leases.pop(key)
        self._ended[lease.port] = (key, now)

    def _remember(self, device: str, port: int) -> None:
        self._last.pop(device, None)
        self._last[device] = port
        while len(self._last) > MEMORY:
            del self._last[next(iter(self._last))]
