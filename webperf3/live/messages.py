"""What the live push says: the websocket's messages, as pure functions.

Every message is a JSON object with a ``type``. :mod:`.server` sends them;
the page's ``static/js/socket.js`` and the tests read them. Kept apart from
the server so their shapes can be read (and tested) without a loop, a
socket or a watcher.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from ..board.leasing import Holders
from ..ops.health import problems
from ..survey import BookChange

_encoder = msgspec.json.Encoder()


def snapshot_message(state: dict[str, Any], servers: list[dict]) -> dict[str, Any]:
    """The whole table (``Board.state()``: rows, survey, generation, can_undo):
    sent on connect and after anything but an append."""
    return {"type": "snapshot", **state, "servers": servers, "problems": problems(servers)}


def results_message(results: list[dict[str, Any]], rows: list[dict[str, Any]], generation: int) -> dict[str, Any]:
    """New tests (annotated: place, survey, id) and the rows they changed:
    all a browser needs to update."""
    return {"type": "results", "results": results, "rows": rows, "generation": generation}


def book_message(change: BookChange) -> dict[str, Any]:
    """What people changed in the survey book: a place named from a browser,
    an edit, a survey started, renamed, reopened or undone. Device ids and
    user agents stay on the station: pages get the places and times, enough
    for two devices behind one address (NAT) to see each other's claims."""
    claim = change.claim
    return {
        "type": "book",
        "kind": change.kind,
        "version": change.version,
        "current": change.current,
        "survey": None if change.survey is None else change.survey.to_dict(),
        "ids": list(change.ids),
        "address": change.address,
        "place": None if claim is None else claim.place,
        "conflicts": [{"place": c.place, "at": c.at} for c in change.conflicts],
    }


def servers_message(servers: list[dict]) -> dict[str, Any]:
    return {"type": "servers", "servers": servers, "problems": problems(servers)}


def progress_message(tests: Iterable[Any]) -> dict[str, Any]:
    """The live figures of every running test, one poll's worth (about 4 a second).

    ``tests`` holds one ``Progress.to_dict()`` per testing port (see
    ``webperf3/iperf3/progress.py``); sent only while some test runs.
    """
    return {"type": "progress", "tests": [test.to_dict() for test in tests]}


def leases_message(holders: Holders) -> dict[str, Any]:
    """Who holds which iperf3 port now (sent whenever that changes): each
    held port's holder token (a keyed hash: a page finds its own in it, and
    learns no other device's id), address and short description ("iPhone,
    Safari"). A page whose token is gone asks for a lease again."""
    return {"type": "leases", "version": holders.version, "ttl": holders.ttl, "ports": list(holders.ports)}


def encode(message: dict[str, Any]) -> bytes:
    """UTF-8 JSON. msgspec, unlike json.dumps, never writes NaN (invalid JSON)."""
    return _encoder.encode(message)
