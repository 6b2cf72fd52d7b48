"""The dashboard's web app: routes over the results store.

Only routing lives here: every answer comes from the :class:`ResultsStore`,
the export functions and the callables the caller wires in (the server
fleet's status, the live push, the metrics). :class:`Dashboard` owns its own
``Bottle()`` — no module-level state, never bottle's default app — so tests
and the CLI can build as many as they like. ``httpserver.WebServer`` serves it.
"""

from __future__ import annotations

import hmac
import logging
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import bottle
import msgspec
from bottle import HTTPError, HTTPResponse, request, response

from . import __version__
from .export import CsvLines, json_chunks
from .marks import MarksError
from .result import Result
from .results import LogDirError, ResultsStore

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
PAGE_TEMPLATE = STATIC_DIR / "index.tpl"
JSON_TYPE = "application/json"
CSV_NAME = "iperf3_log.csv"

# The page loads only its own script and stylesheet; live updates come over
# a websocket on another port, which 'self' does not cover, hence ws:/wss:.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
}

_encode = msgspec.json.Encoder().encode  # NaN → null: always valid JSON


def _json(data: Any, status: int = 200, **headers: str) -> HTTPResponse:
    return HTTPResponse(_encode(data), status, {"Content-Type": JSON_TYPE, "Cache-Control": "no-store", **headers})


def _json_error(status: int, message: str, **headers: str) -> HTTPResponse:
    return _json({"error": message, "status": status}, status, **headers)


def _dumps(record: dict) -> str:
    return _encode(record).decode()


class Dashboard:
    """The dashboard's routes, bound to one store; ``.app`` is the WSGI app."""

    def __init__(
        self,
        store: ResultsStore,
        *,
        servers: Callable[[], list[dict]] = lambda: [],
        ports: Callable[[], list[int]] = lambda: [],
        ws_port: int | None = None,
        ws_path: str = "/",
        admin_token: str | None = None,
        on_change: Callable[[], None] = lambda: None,
        metrics: Callable[[], tuple[bytes, str]] | None = None,
    ) -> None:
        self.store = store
        self.servers = servers
        self.ports = ports
        self.ws_port = ws_port
        self.ws_path = ws_path
        self.admin_token = admin_token or None  # "" means no token, as unset
        self.on_change = on_change
        self.metrics = metrics
        self._page = bottle.SimpleTemplate(PAGE_TEMPLATE.read_text(encoding="utf-8"))
        self._csv_lines = CsvLines()
        self.app = bottle.Bottle()
        self._route()

    def _route(self) -> None:
        app = self.app
        app.route("/", "GET", self.page)
        app.route("/api/config", "GET", self.config)
        app.route("/api/latest", "GET", self.latest)
        app.route("/api/results", "GET", self.results)
        app.route("/api/results.json", "GET", self.results_json)
        app.route("/api/servers", "GET", self.server_status)
        app.route("/csv", "GET", self.csv)
        app.route("/api/clear", "POST", self.clear)
        app.route("/api/clear/undo", "POST", self.undo)
        app.route("/healthz", "GET", self.healthz)
        app.route("/metrics", "GET", self.metrics_page)
        app.route("/static/<filename:path>", "GET", self.static)
        app.add_hook("after_request", _add_security_headers)
        # Bottle's own error page is HTML; API clients want JSON. Bottle
        # calls this for every HTTPError it raises itself (404, 405, 500).
        app.default_error_handler = _error_body

    # -- the page ----------------------------------------------------------

    def page(self) -> str:
        response.content_type = "text/html; charset=utf-8"
        response.set_header("Cache-Control", "no-cache")
        return self._page.render(
            ws_port="" if self.ws_port is None else str(self.ws_port),
            ws_path=self.ws_path,
            admin="token" if self.admin_token else "none",
            version=__version__,
        )

    def config(self) -> HTTPResponse:
        return _json(
            {"ws_port": self.ws_port, "ws_path": self.ws_path, "admin_token_required": self.admin_token is not None, "version": __version__}
        )

    def static(self, filename: str) -> HTTPResponse:
        # no-cache: revalidate (cheap, ETag) so an upgrade reaches every browser.
        return bottle.static_file(filename, root=str(STATIC_DIR), headers={"Cache-Control": "no-cache"})

    # -- data ----------------------------------------------------------------

    def _refresh(self) -> None:
        """Cheap (one stat per log) and keeps answers right without the watcher."""
        try:
            self.store.refresh()
        except LogDirError as exc:
            raise _json_error(503, str(exc)) from None

    def latest(self) -> HTTPResponse:
        self._refresh()
        rows = self.store.rows(self.ports())
        return _json({"rows": [row.to_dict() for row in rows], "generation": self.store.generation, "can_undo": self._can_undo()})

    def results(self) -> Iterator[str]:
        if request.query.get("format") == "json":
            return self.results_json()
        found = self._filtered_results()
        response.content_type = JSON_TYPE
        response.set_header("Cache-Control", "no-store")
        # Streamed: with 100 MB of logs this is big, and never whole in memory.
        return _wrapped('{"results":', json_chunks(found, dumps=_dumps), "}\n")

    def results_json(self) -> Iterator[str]:
        """The JSON export: a bare array, like ``webperf3 export --format json``."""
        found = self._filtered_results()
        response.content_type = JSON_TYPE
        response.set_header("Content-Disposition", "attachment; filename=iperf3_log.json")
        return json_chunks(found, dumps=_dumps)

    def _filtered_results(self) -> list[Result]:
        filters = _result_filters()  # a bad one is a 400 before anything is read
        self._refresh()
        return self.store.results(**filters)

    def server_status(self) -> HTTPResponse:
        return _json({"servers": self.servers()})

    def warm_up(self) -> None:
        """Format the CSV once ahead of the first Download CSV (a thread's job at start)."""
        for _ in self._csv_lines.chunks(self.store.results()):
            pass

    def csv(self) -> Iterator[str]:
        self._refresh()
        found = self.store.results()  # a snapshot: the store may change while this streams
        response.content_type = "text/csv; charset=utf-8"
        response.set_header("Content-Disposition", f"attachment; filename={CSV_NAME}")
        response.set_header("Cache-Control", "no-store")
        return self._csv_lines.chunks(found)

    # -- clearing ------------------------------------------------------------

    def clear(self) -> HTTPResponse:
        self._guard_post()
        self._refresh()  # so every port with a log gets its mark
        try:
            self.store.clear(self.ports())
        except MarksError as exc:
            return _json_error(500, str(exc))
        self._changed()
        return _json({"ok": True, "generation": self.store.generation, "can_undo": self._can_undo()})

    def undo(self) -> HTTPResponse:
        self._guard_post()
        try:
            undone = self.store.undo_clear()
        except MarksError as exc:
            return _json_error(500, str(exc))
        if not undone:
            return _json_error(409, "there is no clear to undo")
        self._changed()
        return _json({"ok": True, "generation": self.store.generation, "can_undo": self._can_undo()})

    def _guard_post(self) -> None:
        """Refuse another site's page (CSRF) and, when set, a missing token."""
        if self.store.marks is None:
            raise _json_error(503, "clearing is not available: the store has no clear marks")
        if not _same_origin():
            raise _json_error(403, "refused: the request comes from another site (Origin/Referer does not match Host)")
        if self.admin_token is None:
            return
        given = _given_token()
        if given is None:
            raise _json_error(401, "an admin token is required (X-Admin-Token or Authorization: Bearer)", **{"WWW-Authenticate": "Bearer"})
        if not hmac.compare_digest(given.encode(), self.admin_token.encode()):
            raise _json_error(403, "wrong admin token")

    def _changed(self) -> None:
        # The live push hears of a clear from the store itself; this hook is
        # for anything else a caller wires in. Its failure must not turn a
        # done clear into an error response.
        try:
            self.on_change()
        except Exception:
            log.exception("on_change after clear/undo failed")

    def _can_undo(self) -> bool:
        return bool(self.store.marks and self.store.marks.can_undo)

    # -- operations ----------------------------------------------------------

    def healthz(self) -> HTTPResponse:
        try:
            self.store.refresh()
        except LogDirError as exc:
            return HTTPResponse(f"log directory unreadable: {exc}\n", 503, {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store"})
        return HTTPResponse("ok", 200, {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store"})

    def metrics_page(self) -> HTTPResponse:
        if self.metrics is None:
            raise HTTPError(404, "metrics are not enabled")
        body, content_type = self.metrics()
        return HTTPResponse(body, 200, {"Content-Type": content_type, "Cache-Control": "no-store"})


def create_app(store: ResultsStore, **kwargs: Any) -> bottle.Bottle:
    """The dashboard's WSGI app (see :class:`Dashboard` for the keywords)."""
    return Dashboard(store, **kwargs).app


# -- request helpers ----------------------------------------------------------


def _result_filters() -> dict[str, Any]:
    """``port``, ``name``, ``since`` from the query; a 400 names a bad one."""
    filters: dict[str, Any] = {}
    if port := _param("port"):
        if not (port.isascii() and port.isdigit()) or not 0 < int(port) <= 65535:
            raise _json_error(400, f"bad 'port' parameter {port!r}: expected a port number 1-65535")
        filters["port"] = int(port)
    if name := _param("name"):
        filters["name"] = name
    if since := _param("since"):
        try:
            value = float(since)
        except ValueError:
            value = float("nan")
        if not math.isfinite(value):
            raise _json_error(400, f"bad 'since' parameter {since!r}: expected seconds since the epoch")
        filters["since"] = value
    return filters


def _param(name: str) -> str | None:
    """A query parameter as text; empty counts as absent."""
    value = request.query.getunicode(name)
    if value is None and name in request.query:
        raise _json_error(400, f"bad {name!r} parameter: not valid UTF-8")
    return value or None


def _authority(url_or_host: str, scheme: str) -> tuple[str, int | None] | None:
    """(host, port) of an Origin/Referer URL or a Host header; None if unparsable."""
    text = url_or_host if "//" in url_or_host else f"//{url_or_host}"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    default = {"http": 80, "https": 443}.get(parts.scheme or scheme)
    return parts.hostname.lower(), port if port is not None else default


def _same_origin() -> bool:
    """True unless Origin (or, lacking it, Referer) names another host than Host.

    A request with neither (curl, scripts) is allowed: browsers always send
    Origin on a cross-site POST, and this is what stops another site's page.
    """
    claimed = request.get_header("Origin") or request.get_header("Referer")
    if not claimed:
        return True
    scheme = request.urlparts.scheme
    host = request.get_header("Host") or request.urlparts.netloc
    mine = _authority(host, scheme)
    theirs = _authority(claimed, scheme)  # Origin "null" (sandboxed page) → None: refused
    return mine is not None and mine == theirs


def _given_token() -> str | None:
    token = request.get_header("X-Admin-Token")
    if token:
        return token
    auth = request.get_header("Authorization") or ""
    scheme, _, credentials = auth.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


def _wrapped(head: str, chunks: Iterator[str], tail: str) -> Iterator[str]:
    yield head
    yield from chunks
    yield tail


def _add_security_headers() -> None:
    for name, value in SECURITY_HEADERS.items():
        response.set_header(name, value)


def _error_body(error: HTTPError) -> bytes | str:
    """Bottle's own errors (404, 405, an unexpected 500) as JSON or plain text."""
    _add_security_headers()  # after_request does not run for a crashed handler
    message = str(error.body or error.status_line)
    if request.path.startswith("/api/"):
        response.content_type = JSON_TYPE
        return _encode({"error": message, "status": error.status_code})
    response.content_type = "text/plain; charset=utf-8"
    return f"{error.status_line}: {message}\n"
