"""The station's one table of port leases (:mod:`.leases`), shared across
threads: the web views lease and renew from waitress's threads, the live
push expires and moves leases on its tick and tells every page when the
holders change. This module is the edge around the pure table: the clock,
the lock, the ports' state read from the store and the fleet, the listeners.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..store.results import ResultsStore
from .leases import HEARTBEAT_S, LEASE_S, Grant, Lease, LeaseTable, PortState, describe, holder_token, port_states

log = logging.getLogger("webperf3.leases")


@dataclass(frozen=True, slots=True)
class Holders:
    """Who holds which port, as every page may see it: the ports, each
    holder's address and description and a token (a keyed hash of its id:
    a page finds its own, never learns another's id)."""

    version: int
    ttl: float
    ports: tuple[dict[str, Any], ...]


Listener = Callable[[Holders], None]


class Leases:
    """Leases of the station's iperf3 ports to the devices surveying with it."""

    def __init__(
        self,
        store: ResultsStore,
        ports: Callable[[], list[int]],
        *,
        clock: Callable[[], float] = time.time,
        ttl: float = LEASE_S,
        heartbeat: float = HEARTBEAT_S,
        per_address: int | None = None,
    ) -> None:
        self.store = store
        self.ports = ports
        self.clock = clock
        self.heartbeat = heartbeat
        self._table = LeaseTable(ttl, per_address=per_address)
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []
        # Per process: a token means nothing after a restart, when pages lease again.
        self._secret = os.urandom(16)

    @property
    def ttl(self) -> float:
        return self._table.ttl

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(holders)`` whenever who holds which port changes.
        Called under the lock, in change order: hand it on, never block."""
        with self._lock:
            self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def token(self, device: str, address: str) -> str:
        return holder_token(self._secret, device, address)

    # -- asked by the web views ------------------------------------------------------

    def lease(self, device: str, address: str, user_agent: str | None, servers: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
        """Lease (or renew) a port for ``device`` at ``address``: the API's answer."""
        states = self._states(servers)
        with self._lock:
            grant = self._table.lease(device, address, describe(user_agent), states, self.clock())
            if grant.changed:
                self._tell()
            return self._answer(device, address, grant)

    def release(self, device: str, address: str) -> bool:
        with self._lock:
            released = self._table.release(device, address, self.clock())
            if released:
                self._tell()
            return released

    def held(self) -> set[int]:
        with self._lock:
            return {lease.port for lease in self._table.holders()}

    def holders(self) -> Holders:
        with self._lock:
            return self._holders()

    # -- the live push's tick ----------------------------------------------------------

    def tick(self, servers: Iterable[Mapping[str, Any]]) -> bool:
        """Expire, renew by tests, move off down ports; tell listeners if the holders changed."""
        states = self._states(servers)
        with self._lock:
            changed = self._table.update(states, self.clock())
            if changed:
                self._tell()
            return changed

    # -- inside ------------------------------------------------------------------------

    def _states(self, servers: Iterable[Mapping[str, Any]]) -> list[PortState]:
        """The ports as the device view lists them: the fleet's, or where
        there is none (a station reading logs only), every log's. Read
        outside the lock: the store's lock may be held by a long read."""
        by_port = {s["port"]: s for s in servers if isinstance(s.get("port"), int)}
        ports = self.ports() or [row.port for row in self.store.rows()]
        newest: dict[int, tuple[str | None, float]] = {}
        for row in self.store.rows(ports):
            found = [r for r in (row.latest, row.failure) if r is not None]
            if found:
                last = max(found, key=lambda r: r.time)
                newest[row.port] = (last.client, last.time + (last.duration or 0.0))
        return port_states(ports, by_port, newest)

    def _holders(self) -> Holders:
        return Holders(self._table.version, self._table.ttl, tuple(self._public(lease) for lease in self._table.holders()))

    def _public(self, lease: Lease) -> dict[str, Any]:
        return {"port": lease.port, "holder": self.token(lease.device, lease.address), "address": lease.address, "device": lease.description}

    def _tell(self) -> None:
        holders = self._holders()
        for listener in list(self._listeners):
            try:
                listener(holders)
            except Exception:  # a broken listener must not undo a lease
                log.exception("lease listener failed")

    def _answer(self, device: str, address: str, grant: Grant) -> dict[str, Any]:
        lease = grant.lease
        return {
            "port": None if lease is None else lease.port,
            "expires": None if lease is None else lease.expires,
            "ttl": self._table.ttl,
            "heartbeat": self.heartbeat,
            "holder": self.token(device, address),
            "version": self._table.version,
            "reason": grant.reason,
            "holders": [self._public(h) for h in grant.holders],
        }
