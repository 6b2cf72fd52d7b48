"""The station's status for people and monitors: problems as data.

Pure functions. The fleet's status (``ServerStatus.to_dict()`` of each
server, :mod:`webperf3.iperf3.fleet.servers`) says what may be losing a server's
tests (``problem_kind``, ``problem``) and which servers are not running;
:func:`problems` turns that into a short list for ``/healthz``,
``/api/servers``, the websocket snapshot and the page's banner, one entry
per distinct problem with the ports it touches:

``{"kind": "disk", "message": "...", "ports": [5201, 5202], "losing": true}``

``losing``: tests are being lost (or may be) right now. Such a problem makes
:func:`http_status` 503, so a monitor pages someone; others (a server that
could not start and is being retried) are shown but leave it 200.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: Kinds that lose tests, or what people add, while they last.
LOSING = frozenset({"disk", "log", "book"})


def problems(servers: Iterable[Mapping[str, Any]], book: str | None = None) -> list[dict[str, Any]]:
    """One entry per distinct problem, in port order of first appearance;
    ``book``: why the survey book cannot save now (``SurveyBook.problem``)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    if book:
        found[("book", book)] = {"kind": "book", "message": book, "ports": [], "losing": True}
    for server in sorted(servers, key=lambda s: s.get("port") or 0):
        kind, message = server.get("problem_kind"), server.get("problem")
        if kind is None and server.get("state") == "failed":
            kind, message = "server", f"iperf3 on port {server.get('port')} is not running: {server.get('last_exit')}"
        if kind is None or not message:
            continue
        entry = found.setdefault((kind, message), {"kind": kind, "message": message, "ports": [], "losing": kind in LOSING})
        entry["ports"].append(server.get("port"))
    return list(found.values())


def http_status(found: Iterable[Mapping[str, Any]]) -> int:
    """200 unless tests are being lost: then 503."""
    return 503 if any(p.get("losing") for p in found) else 200


def health_text(found: list[dict[str, Any]]) -> str:
    """``/healthz``'s body: ``ok``, or one line per problem."""
    if not found:
        return "ok"
    return "".join(f"{p['kind']}: {p['message']}\n" for p in found)
