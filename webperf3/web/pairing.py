"""Pairing a phone as an admin device, and the one decision of who is an admin.

:class:`Admission` decides whether a request may change what others see
(start, undo, rename surveys; edit or exclude tests; upload plans): every
admin route calls :func:`webperf3.web.common.require_admin`, which asks it.
A request is admitted when it comes from this site (the same-origin check
stops another site's page, cookie or not) and

* the station runs ``--open`` without ``--admin-token`` (a trusted network:
  anyone, as before pairing existed), or
* it gives the admin token (``X-Admin-Token`` or ``Authorization: Bearer``):
  ``--admin-token``'s, or the station's admin secret (scripts on the station), or
* it carries the cookie of a paired device that was not revoked.

``GET /pair?code=...`` (the URL in the pairing QR code) pairs the browser
that opens it. The code is shown only where someone at the station sees it:
``/pair.svg`` and ``/api/pairing`` answer only requests from the station
itself (loopback: the browser on its own display), ``webperf3 pair`` prints
one, and the journal's start line holds one.
"""

from __future__ import annotations

import hmac
import html
import ipaddress
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import bottle
from bottle import HTTPResponse, request, response

from ..board.leases import describe
from ..survey import BookError
from ..survey.pairing import COOKIE, COOKIE_MAX_AGE_S, CODE_TTL_S, check_code, code_expiry, make_code, new_device_token
from .common import given_token, json_error, json_response

if TYPE_CHECKING:
    from . import Dashboard

log = logging.getLogger("webperf3.pairing")

#: Where a station's environ key holds its Admission (see common.require_admin).
ADMISSION_KEY = "webperf3.admission"

HOW_TO_PAIR = (
    "To pair this phone, scan the pairing code on the station's own screen (/screen, opened on the station), "
    "or run `webperf3 pair` on the station and open the address it prints."
)
NOT_PAIRED = (
    "Only a paired device can do this (start, undo or rename a survey, edit or exclude a test). " + HOW_TO_PAIR
)
#: A screen's code is replaced this long before it expires: a phone scanning it has time to open it.
SCREEN_CODE_MARGIN_S = 3 * 60


def not_admin(status: int, message: str, **headers: str) -> HTTPResponse:
    """A refused admin action; ``"pair": true`` tells the page pairing is the way in."""
    return json_response({"error": message, "status": status, "pair": True}, status, **headers)


def is_local(address: str | None) -> bool:
    """A request from the station itself (its own display's browser)."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def _host_of(host_header: str | None) -> tuple[str | None, str | None]:
    """(host, port) of a Host header; either None when absent."""
    if not host_header:
        return None, None
    text = host_header.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host or None, rest[1:] if rest.startswith(":") else None
    host, sep, port = text.rpartition(":")
    return (host, port) if sep and port.isdigit() else (text, None)


def _loopback_name(host: str) -> bool:
    return host.lower() in ("localhost", "localhost.") or is_local(host)


class Admission:
    """Who may change what others see: see the module's docstring."""

    def __init__(self, *, admin_token: str | None, secret: str | None, open: bool, paired: Callable[[str], object | None]) -> None:
        self.admin_token = admin_token
        self.secret = secret
        self.open = open
        self._paired = paired  # token → the paired device (with revoked_at), or None

    def check(self) -> None:
        """Return if the current request is an admin's; else raise its 401/403."""
        if self.open and self.admin_token is None:
            return  # --open: anyone on the network, as before pairing
        given = given_token()
        if given is not None:
            for token in (self.admin_token, self.secret):
                if token and hmac.compare_digest(given.encode(), token.encode()):
                    return
            raise json_error(403, "wrong admin token")
        cookie = request.get_cookie(COOKIE)
        if cookie:
            try:
                device = self._paired(cookie)
            except (sqlite3.Error, BookError) as exc:
                raise json_error(503, f"cannot read the paired devices now ({exc}): try again in a moment") from None
            if device is not None and getattr(device, "revoked_at", None) is None:
                return
            if device is not None:
                raise not_admin(403, "this device's pairing was revoked at the station. " + HOW_TO_PAIR)
        if self.admin_token is not None:
            raise not_admin(
                401, "an admin token is required (X-Admin-Token or Authorization: Bearer), or a paired device. " + HOW_TO_PAIR,
                **{"WWW-Authenticate": "Bearer"},
            )
        if self.secret is None:
            raise not_admin(403, "Only a paired device can do this, and this station cannot pair devices (it has no admin "
                            "secret: its log directory is not writable?): start it with --open or --admin-token.")
        raise not_admin(403, NOT_PAIRED)

    def paired(self) -> bool:
        """Whether the current request comes from a paired device (for the page)."""
        cookie = request.get_cookie(COOKIE)
        if not cookie:
            return False
        try:
            device = self._paired(cookie)
        except (sqlite3.Error, BookError):
            return False
        return device is not None and getattr(device, "revoked_at", None) is None


class Pairing:
    """``/pair``, and the pairing code for the station's own screen."""

    def __init__(self, dash: Dashboard, addresses: Callable[[], list[str]]) -> None:
        self.dash = dash
        self.addresses = addresses
        self._screen_code: str | None = None
        self._lock = threading.Lock()

    def route(self, app: bottle.Bottle) -> None:
        app.route("/pair", "GET", self.pair)
        app.route("/pair.svg", "GET", self.pair_qr)
        app.route("/api/pairing", "GET", self.pairing)
        # Every admin route asks the Admission through require_admin.
        app.add_hook("before_request", lambda: request.environ.__setitem__(ADMISSION_KEY, self.dash.admission))

    # -- the station's address, as a phone reaches it -------------------------------------

    def page_url(self) -> str:
        """``http://HOST:PORT/``: the station's page as a phone on the network
        opens it. The screen on the station's own display reaches it by
        127.0.0.1, which a phone cannot: then the station's network address."""
        host, port = _host_of(request.get_header("Host"))
        if host is None or _loopback_name(host):
            found = self.addresses()
            host = found[0] if found else (host or "localhost")
        port = port or request.environ.get("SERVER_PORT") or "80"
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}/" if port == "80" else f"http://{shown}:{port}/"

    # -- the screen's code (local only) -------------------------------------------------------

    def screen_code(self) -> str:
        """The code the screen shows: the same one until it is used or about to expire."""
        secret = self.dash.admission.secret
        if secret is None:
            raise json_error(503, "this station has no admin secret (its log directory is not writable?): pairing is off")
        now = time.time()
        with self._lock:
            code = self._screen_code
            if code is None or (code_expiry(code) or 0) - now < SCREEN_CODE_MARGIN_S or self.dash.book.pairing_code_used(code):
                code = self._screen_code = make_code(secret, now, CODE_TTL_S)
            return code

    def _local_only(self) -> None:
        # The code pairs whoever opens it: only a browser on the station
        # itself (its own display) may see it. A viewer of /screen from the
        # network gets no code, so a screen shared on a TV by another
        # computer cannot hand out admin rights.
        if not is_local(request.remote_addr):
            raise json_error(403, "the pairing code is shown only on the station's own screen (a browser on the station itself)")

    def pairing(self) -> HTTPResponse:
        self._local_only()
        code = self.screen_code()
        return json_response({"url": f"{self.page_url()}pair?code={code}", "expires": code_expiry(code)})

    def pair_qr(self) -> HTTPResponse:
        from .device import qr_svg

        self._local_only()
        return HTTPResponse(qr_svg(f"{self.page_url()}pair?code={self.screen_code()}"), 200, {"Content-Type": "image/svg+xml", "Cache-Control": "no-store"})

    # -- pairing a device -----------------------------------------------------------------------

    def pair(self) -> str:
        """``GET /pair?code=C``: the pairing QR's URL; the browser that opens it
        becomes a paired device. A GET, as a scanned link is opened: another
        site making a visitor open it can only pair that visitor."""
        secret = self.dash.admission.secret
        code = request.query.getunicode("code") or ""
        if secret is None:
            return self._page(503, "Pairing is off", "This station has no admin secret (its log directory is not writable?).")
        why = check_code(secret, code, time.time())
        if why is not None:
            return self._page(403, "Not paired", f"{why[0].upper()}{why[1:]}. {HOW_TO_PAIR}")
        token = new_device_token()
        description = describe(request.get_header("User-Agent"))
        try:
            device_id = self.dash.book.pair_device(code, token, address=request.remote_addr, description=description)
        except BookError as exc:
            return self._page(503, "Not paired", f"The station could not save the pairing: {exc}")
        if device_id is None:
            return self._page(403, "Not paired", "This pairing code was used already: each code pairs one device. " + HOW_TO_PAIR)
        log.info("paired device %d (%s) from %s", device_id, description, request.remote_addr)
        # HttpOnly: no script (nor anything injected) can read it. SameSite=
        # Strict: no other site's request carries it; the page's own fetches
        # do, and a page opened from the camera app is a top-level load of
        # this site whose cookie is set all the same (tests/browser/test_pairing.py).
        response.set_cookie(COOKIE, token, max_age=COOKIE_MAX_AGE_S, httponly=True, samesite="strict", path="/")
        return self._page(200, "Paired", f"This device ({description}) may now start surveys and edit tests on this station. "
                          "It stays paired until it is revoked at the station (webperf3 pair --revoke).")

    def _page(self, status: int, title: str, text: str) -> str:
        response.status = status
        response.content_type = "text/html; charset=utf-8"
        response.set_header("Cache-Control", "no-store")
        return (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{html.escape(title)} · webperf3</title><link rel="stylesheet" href="/static/webperf3.css"></head>'
            f'<body><main class="pair-page"><h1 id="pair-title">{html.escape(title)}</h1><p id="pair-text">{html.escape(text)}</p>'
            '<p><a href="/">Open the dashboard</a></p></main></body></html>'
        )
