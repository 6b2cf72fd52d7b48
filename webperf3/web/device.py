""""This device": what a phone needs to run its own test against the station.

A phone's iperf3 app and its browser come from the same address, so the page
can tell the phone which address the station sees, a port of its own, and
what to type — and show a QR code of ``HOST:PORT`` for apps that scan one.

``GET /api/device?device=ID`` leases the page a port of its own (see
:mod:`webperf3.board.leases`) and ``POST /api/device/lease`` renews it (the
page's heartbeat); without an id (a script) the answer suggests a port as
before, one no device holds when it can. ``GET /qr.svg?port=P``;
``GET /qr.svg?page=1``: the station's page (for its own screen).
"""

from __future__ import annotations

import io
import ipaddress
import re
import time
from collections.abc import Collection, Iterable, Mapping
from typing import TYPE_CHECKING

import bottle
from bottle import HTTPResponse, request

from ..board.leases import DEVICE_ID_MAX, describe, normal_address, valid_device_id
from ..store.results import PortRow
from ..text import printable, whole_number
from .common import json_body, json_error, json_response, param, same_origin

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
    held: Collection[int] = (),
) -> int | None:
    """The port a device with no lease (a script) should use: the one it used
    last if its server is free, else a free one nobody used lately, else any
    free one, else any; a port a device holds (``held``) only when every
    free one is held."""
    ports = sorted(ports)
    if held and any(p not in held and states.get(p, "idle") == "idle" for p in ports):
        ports = [p for p in ports if p not in held]
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


def check_device_id(value: object, kind: str) -> None:
    """A device id is the page's random id: short ASCII, or a 400 naming it."""
    if not valid_device_id(value):
        kinds = {bool: "true or false", int: "a number", float: "a number", list: "a list", dict: "an object", type(None): "null"}
        shown = repr(printable(value, 40)) if isinstance(value, str) else kinds.get(type(value), type(value).__name__)
        raise json_error(400, f"bad 'device' {kind} {shown}: expected 1-{DEVICE_ID_MAX} letters, digits, '-' or '_' (the page's random id)")


def qr_svg(text: str) -> bytes:
    import segno  # here, not at start: 3.7 MiB of a station's memory for a code drawn once in a while

    out = io.BytesIO()
    # A viewBox and no fixed size: the page scales it; black on white in dark mode too (scanners want that).
    segno.make_qr(text).save(out, kind="svg", scale=8, border=4, xmldecl=False, omitsize=True, dark="#000", light="#fff", title=text)
    return out.getvalue()


class Device:
    def __init__(self, dash: Dashboard) -> None:
        self.dash = dash

    def route(self, app: bottle.Bottle) -> None:
        app.route("/api/device", "GET", self.device)
        app.route("/api/device/lease", "POST", self.lease)
        app.route("/qr.svg", "GET", self.qr)

    def device(self) -> HTTPResponse:
        d = self.dash
        device_id = param("device")
        if device_id is not None:
            check_device_id(device_id, "parameter")
            if not same_origin():  # another site's page must not hold ports in a visitor's name
                raise json_error(403, "refused: the request comes from another site (Origin/Referer does not match Host)")
        d.refresh()
        address = normal_address(request.remote_addr)
        ports = d.ports()
        rows = {row.port: row for row in d.store.rows(ports)}
        servers = d.servers()
        states = {s["port"]: s.get("state", "idle") for s in servers}
        known = sorted(set(ports) | set(rows)) if not ports else ports
        now = time.time()
        lease = None
        if device_id is not None and address is not None:
            lease = d.board.leases.lease(device_id, address, request.get_header("User-Agent"), servers)
            port = lease["port"]
        else:
            port = suggest_port(known, states, rows, address, now, d.board.leases.held())
        view = d.book.view()
        claim = view.claim_of(address, now) if address else None
        mine = None if claim is None or device_id is None else claim.device == device_id
        return json_response({
            "address": address,
            "host": station_host(request.get_header("Host")),
            "port": port,
            # This device's port of its own (null without a device id): see POST /api/device/lease.
            "lease": lease,
            "ports": [{"port": p, "state": states.get(p)} for p in known],
            # The place tests from this address go to now: named by this device
            # (place_mine), or by another device behind the same address (NAT).
            "place": claim.place if claim else None,
            "place_mine": mine,
            "place_named_by": None if claim is None or claim.place is None or mine else describe(claim.user_agent),
            "place_named_at": claim.at if claim else None,
            # For "Where are you?": the places of this survey, most recent first.
            "places": view.places(d.store.results()),
            "survey": d.board.survey(view),
        })

    def lease(self) -> HTTPResponse:
        """``{"device": ID}``: renew this device's lease (or lease it a port):
        the page's heartbeat, every ``heartbeat`` seconds while it is open.
        ``{"device": ID, "release": true}``: done, the port is free at once."""
        if not same_origin():
            raise json_error(403, "refused: the request comes from another site (Origin/Referer does not match Host)")
        body = json_body()
        unknown = sorted(set(body) - {"device", "release"})
        if unknown:
            raise json_error(400, f"unknown field(s) {unknown}: a lease request has 'device' and, to give the port back, 'release'")
        if "device" not in body:
            raise json_error(400, "'device' is required: the page's random id")
        check_device_id(body["device"], "field")
        release = body.get("release", False)
        if not isinstance(release, bool):
            raise json_error(400, "'release' must be true or false")
        address = normal_address(request.remote_addr)
        if address is None:
            raise json_error(400, "cannot tell this device's address")
        if release:
            return json_response({"released": self.dash.board.leases.release(body["device"], address)})
        self.dash.refresh()
        return json_response(self.dash.board.leases.lease(body["device"], address, request.get_header("User-Agent"), self.dash.servers()))

    def qr(self) -> HTTPResponse:
        if param("page"):  # ?page=1: the station's page as a phone opens it (the station screen's code)
            return HTTPResponse(qr_svg(self.dash.pairing.page_url()), 200, {"Content-Type": "image/svg+xml", "Cache-Control": "no-store"})
        text = param("port")
        port = None if text is None else whole_number(text, 1, 65535)
        if port is None:
            raise json_error(400, f"bad 'port' parameter {printable(text or '', 40)!r}: expected a port number 1-65535")
        host = station_host(request.get_header("Host"))
        if host is None:
            raise json_error(400, "cannot tell this station's address from the request's Host header")
        text = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        return HTTPResponse(qr_svg(text), 200, {"Content-Type": "image/svg+xml", "Cache-Control": "no-store"})
