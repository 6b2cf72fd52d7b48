""""This device": what a phone needs to run its own test against the station.

A phone's iperf3 app and its browser come from the same address, so the page
can tell the phone which address the station sees, a port that is free for
it, and what to type — and show a QR code of ``HOST:PORT`` for apps that
scan one. ``GET /api/device`` and ``GET /qr.svg?port=P``.
"""

from __future__ import annotations

import io
import ipaddress
import re
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import bottle
import segno
from bottle import HTTPResponse, request

from ..store.results import PortRow
from ..text import printable, whole_number
from .common import json_error, json_response, param

if TYPE_CHECKING:
    from . import Dashboard

#: A port another device used this recently is left to it, when others are free:
#: surveyors walking a building each keep one port.
RECENT_S = 15 * 60
_HOSTNAME = re.compile(r"(?=.{1,253}\Z)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?")


def suggest_port(
    ports: Iterable[int],
    states: Mapping[int, str],
    rows: Mapping[int, PortRow],
    address: str | None,
    now: float,
) -> int | None:
    """The port this device should use: the one it used last if its server is
    free, else a free one nobody used lately, else any free one, else any."""
    ports = sorted(ports)
    if not ports:
        return None

    def newest(port: int):
        row = rows.get(port)
        found = [r for r in (row.latest, row.failure) if r is not None] if row else []
        return max(found, key=lambda r: r.time, default=None)

    free = [p for p in ports if states.get(p, "idle") == "idle"]
    mine = [p for p in free if (n := newest(p)) is not None and address is not None and n.client == address]
    if mine:
        return max(mine, key=lambda p: newest(p).time)
    quiet = [p for p in free if (n := newest(p)) is None or now - n.time > RECENT_S]
    for choice in (quiet, free, ports):
        if choice:
            return choice[0]
    return None


def station_host(host_header: str | None) -> str | None:
    """The host a client reached the station by (the browser's own), if it is
    a plain hostname or IP address: it goes into a command and a QR code."""
    if not host_header:
        return None
    host = host_header.strip()
    if host.startswith("["):  # [v6]:port
        host = host[1 : host.find("]")] if "]" in host else ""
    elif host.count(":") == 1:
        host = host.split(":")[0]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host.lower() if _HOSTNAME.fullmatch(host) else None


def qr_svg(text: str) -> bytes:
    out = io.BytesIO()
    # A viewBox and no fixed size: the page scales it; black on white in dark mode too (scanners want that).
    segno.make_qr(text).save(out, kind="svg", scale=8, border=4, xmldecl=False, omitsize=True, dark="#000", light="#fff", title=text)
    return out.getvalue()


class Device:
    def __init__(self, dash: Dashboard) -> None:
        self.dash = dash

    def route(self, app: bottle.Bottle) -> None:
        app.route("/api/device", "GET", self.device)
        app.route("/qr.svg", "GET", self.qr)

    def device(self) -> HTTPResponse:
        d = self.dash
        d.refresh()
        address = request.remote_addr or None
        ports = d.ports()
        rows = {row.port: row for row in d.store.rows(ports)}
        states = {s["port"]: s.get("state", "idle") for s in d.servers()}
        known = sorted(set(ports) | set(rows)) if not ports else ports
        now = time.time()
        port = suggest_port(known, states, rows, address, now)
        view = d.book.view()
        claim = view.claim_of(address, now) if address else None
        return json_response({
            "address": address,
            "host": station_host(request.get_header("Host")),
            "port": port,
            "ports": [{"port": p, "state": states.get(p)} for p in known],
            "place": claim.place if claim else None,
            # For "Where are you?": the places of this survey, most recent first.
            "places": view.places(d.store.results()),
            "survey": d.board.survey(view),
        })

    def qr(self) -> HTTPResponse:
        text = param("port")
        port = None if text is None else whole_number(text, 1, 65535)
        if port is None:
            raise json_error(400, f"bad 'port' parameter {printable(text or '', 40)!r}: expected a port number 1-65535")
        host = station_host(request.get_header("Host"))
        if host is None:
            raise json_error(400, "cannot tell this station's address from the request's Host header")
        text = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        return HTTPResponse(qr_svg(text), 200, {"Content-Type": "image/svg+xml", "Cache-Control": "no-store"})
