"""What every view shares: JSON answers, query parameters, the same-origin and
admin-token checks, the security headers and the error bodies.

Pure helpers over Bottle's thread-local ``request``/``response``: no state.
"""

from __future__ import annotations

import hmac
import math
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

import msgspec
from bottle import HTTPError, HTTPResponse, request, response

from ..text import printable, whole_number

JSON_TYPE = "application/json"

# The page loads only its own scripts and stylesheet; live updates come over
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

encode = msgspec.json.Encoder().encode  # NaN → null: always valid JSON


def json_response(data: Any, status: int = 200, **headers: str) -> HTTPResponse:
    return HTTPResponse(encode(data), status, {"Content-Type": JSON_TYPE, "Cache-Control": "no-store", **headers})


def json_error(status: int, message: str, **headers: str) -> HTTPResponse:
    return json_response({"error": message, "status": status}, status, **headers)


def dumps(record: dict) -> str:
    return encode(record).decode()


def param(name: str) -> str | None:
    """A query parameter as text; empty counts as absent."""
    value = request.query.getunicode(name)
    if value is None and name in request.query:
        raise json_error(400, f"bad {name!r} parameter: not valid UTF-8")
    return value or None


def result_filters() -> dict[str, Any]:
    """``port``, ``name``, ``client``, ``since`` from the query; a 400 names a bad one."""
    filters: dict[str, Any] = {}
    if port := param("port"):
        number = whole_number(port, 1, 65535)
        if number is None:
            raise json_error(400, f"bad 'port' parameter {printable(port, 40)!r}: expected a port number 1-65535")
        filters["port"] = number
    if name := param("name"):
        filters["name"] = name
    if client := param("client"):
        filters["client"] = client
    if since := param("since"):
        try:
            value = float(since)
        except ValueError:
            value = float("nan")
        if not math.isfinite(value):
            raise json_error(400, f"bad 'since' parameter {printable(since, 40)!r}: expected seconds since the epoch")
        filters["since"] = value
    return filters


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


def same_origin() -> bool:
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


def given_token() -> str | None:
    token = request.get_header("X-Admin-Token")
    if token:
        return token
    auth = request.get_header("Authorization") or ""
    scheme, _, credentials = auth.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


def require_admin(admin_token: str | None) -> None:
    """Refuse another site's page (CSRF), then anyone but an admin: the one
    decision every admin route asks (a paired device, the admin token, or
    ``--open``; see :class:`webperf3.web.pairing.Admission`, which the
    dashboard puts in each request's environ). ``admin_token`` is the
    dashboard's; it alone decides only where no Admission is installed."""
    if not same_origin():
        raise json_error(403, "refused: the request comes from another site (Origin/Referer does not match Host)")
    admission = request.environ.get("webperf3.admission")
    if admission is not None:
        admission.check()
        return
    if admin_token is None:
        return
    given = given_token()
    if given is None:
        raise json_error(401, "an admin token is required (X-Admin-Token or Authorization: Bearer)", **{"WWW-Authenticate": "Bearer"})
    if not hmac.compare_digest(given.encode(), admin_token.encode()):
        raise json_error(403, "wrong admin token")


#: A JSON body of the API (a place's name, a survey's): a few hundred bytes.
#: The same cap as the HTTP server's and the guard's, which refuse a bigger
#: body before it is read; this one holds wherever the app is served.
MAX_JSON_BODY = 4 * 1024
#: How deep a body may nest: the API's deepest is a plan's spots (an object
#: of a list of objects). Checked here, not left to the decoder's recursion
#: guard, which stops at 1,000 on Python 3.11 and far deeper on 3.13
#: (Debian 13): the same body must get the same answer on every station.
MAX_JSON_DEPTH = 16
TOO_DEEP = f"the request body is nested too deeply (over {MAX_JSON_DEPTH} levels): the API takes a flat JSON object"


def nested_deeper(value: object, limit: int) -> bool:
    """Whether JSON ``value`` nests objects and lists more than ``limit``
    deep (the value itself is 1). Without recursion: a body deep enough to
    matter would reach the interpreter's own limit."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Iterable[object] = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def json_body() -> dict[str, Any]:
    """The request's JSON object; a 400 (413 when too big) says what is wrong with it."""
    length = request.content_length
    if length > MAX_JSON_BODY:
        raise json_error(413, f"the request body is {length} bytes: at most {MAX_JSON_BODY} are accepted")
    raw = request.body.read(MAX_JSON_BODY + 1)
    if len(raw) > MAX_JSON_BODY:
        raise json_error(413, f"the request body is over {MAX_JSON_BODY} bytes")
    if not raw.strip():
        return {}
    try:
        data = msgspec.json.decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        # Bytes that are not UTF-8: a DecodeError from msgspec 0.23 on, a
        # UnicodeDecodeError before.
        raise json_error(400, f"the request body is not valid JSON: {exc}") from None
    except RecursionError:
        # msgspec's own depth guard: `[[[...]]]` a thousand deep fits in 4 KiB.
        raise json_error(400, TOO_DEEP) from None
    if nested_deeper(data, MAX_JSON_DEPTH):
        raise json_error(400, TOO_DEEP)
    if not isinstance(data, dict):
        raise json_error(400, "the request body must be a JSON object")
    return data


def wrapped(head: str, chunks: Iterator[str], tail: str) -> Iterator[str]:
    yield head
    yield from chunks
    yield tail


def add_security_headers() -> None:
    for name, value in SECURITY_HEADERS.items():
        # A view's own stricter policy stands (a floor plan's picture: nothing may run in it).
        if name == "Content-Security-Policy" and name in response.headers:
            continue
        response.set_header(name, value)


def error_body(error: HTTPError) -> bytes | str:
    """Bottle's own errors (404, 405, an unexpected 500) as JSON or plain text."""
    add_security_headers()  # after_request does not run for a crashed handler
    message = str(error.body or error.status_line)
    if request.path.startswith("/api/"):
        response.content_type = JSON_TYPE
        return encode({"error": message, "status": error.status_code})
    response.content_type = "text/plain; charset=utf-8"
    return f"{error.status_line}: {message}\n"
