"""WSGI middleware: what a request must be before the dashboard sees it.

:class:`Guard` wraps the dashboard's app (any WSGI app) and answers, without
calling it:

* **413** for a body over ``max_body_bytes`` (only the JSON routes take a
  body, a place's or a survey's name: a few hundred bytes; the server
  refuses bigger ones before reading them, see ``httpserver.py``, and this
  catches the rest, e.g. under another server);
* **400** for a header, path or admin token that would make the app fail:
  any header or path that is not UTF-8 (bottle decodes them as UTF-8 and
  would answer 500 with a traceback in the journal), an admin token that is
  not printable ASCII;
* **403** for a ``Host`` the station does not answer to (DNS rebinding,
  ``hosts.py``), except on ``/healthz`` and ``/metrics``, which hold no
  survey data and are what monitoring asks for by name;
* **429** on the admin routes for a client that gave a wrong token too often:
  after ``admin_free_failures`` failures it waits 1 s, then 2, 4, ... up to
  5 minutes, right token or not, so a token cannot be guessed at speed. No
  request is held: a wait would tie up one of the server's few threads;
* **503** for a download (``/csv``, ``/api/results``) beyond
  ``downloads_per_client`` at once from one client or ``downloads_total``
  in all. A download to a client that does not read holds a server thread
  until the server gives up on it (``httpserver.py``); the cap keeps
  threads free for the dashboard itself.
* **503** for a change (``POST``, ``PATCH``, ``PUT``, ``DELETE`` under
  ``/api/``) beyond ``changes_per_client`` under way from one client or
  ``changes_total`` in all: each waits for the survey book's lock and an
  fsync, and waitress serves its queue in order, so 60 writers at once
  would keep the dashboard's reads waiting behind them; refused at once,
  the extra ones free their thread in a millisecond.

Every refusal is logged, at most once a minute per client and kind.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import msgspec

from .clients import LogLimiter, client_key
from .uploads import MAX_UPLOAD_BYTES, is_upload, too_large_message

log = logging.getLogger("webperf3.guard")

ADMIN_PATHS = frozenset({"/api/clear", "/api/clear/undo"})
#: Routes that change what others see (web/surveys.py): an admin token, when
#: set, is checked there, so wrong guesses are counted there too.
ADMIN_PREFIXES = ("/api/surveys", "/api/results/", "/api/plans", "/api/places/spot")
ADMIN_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
DOWNLOAD_PATHS = frozenset({"/csv", "/xlsx", "/api/results", "/api/results.json"})


def is_admin(path: str, method: str | None) -> bool:
    """A request the admin token guards (when one is set)."""
    return method in ADMIN_METHODS and (path in ADMIN_PATHS or path.startswith(ADMIN_PREFIXES))
HOST_EXEMPT_PATHS = frozenset({"/healthz", "/metrics"})
TOKEN_HEADERS = ("HTTP_X_ADMIN_TOKEN", "HTTP_AUTHORIZATION")

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict, StartResponse], Iterable[bytes]]


@dataclass(frozen=True)
class GuardLimits:
    max_body_bytes: int = 4096
    admin_free_failures: int = 5
    admin_first_delay: float = 1.0
    admin_max_delay: float = 300.0
    #: A success forgets a client's failures at once; this, a client that
    #: stopped guessing (a day: waiting it out must not be a way around).
    admin_forget_after: float = 86400.0
    downloads_total: int = 4
    downloads_per_client: int = 2
    changes_total: int = 4
    changes_per_client: int = 2


class FailureThrottle:
    """Wrong admin tokens per client, and how long each must wait. Thread-safe."""

    def __init__(
        self,
        free: int = 5,
        first_delay: float = 1.0,
        max_delay: float = 300.0,
        forget_after: float = 86400.0,
        *,
        max_clients: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free, self.first_delay, self.max_delay = free, first_delay, max_delay
        self.forget_after, self.max_clients, self.clock = forget_after, max_clients, clock
        # key -> (failures, time of the last, may try again at)
        self._clients: OrderedDict[str, tuple[int, float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def wait(self, key: str) -> float:
        """Seconds before this client may try again; 0 if now."""
        with self._lock:
            entry = self._clients.get(key)
        return 0.0 if entry is None else max(0.0, entry[2] - self.clock())

    def failures(self, key: str) -> int:
        with self._lock:
            entry = self._clients.get(key)
        return 0 if entry is None else entry[0]

    def failed(self, key: str) -> float:
        """Count a failure; the wait it brings (0 while still free)."""
        now = self.clock()
        with self._lock:
            failures, last, _ = self._clients.get(key, (0, now, now))
            if now - last > self.forget_after:
                failures = 0
            failures += 1
            delay = 0.0
            if failures >= self.free:
                delay = min(self.first_delay * 2 ** min(failures - self.free, 30), self.max_delay)
            self._clients[key] = (failures, now, now + delay)
            self._clients.move_to_end(key)
            while len(self._clients) > self.max_clients:
                self._clients.popitem(last=False)
        return delay

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._clients.pop(key, None)


#: The methods of a change.
CHANGES = frozenset({"POST", "PATCH", "PUT", "DELETE"})


class DownloadSlots:
    """Requests under way (downloads, changes), per client and in all. Thread-safe."""

    def __init__(self, total: int, per_client: int) -> None:
        self.total, self.per_client = total, per_client
        self._by_client: dict[str, int] = {}
        self._count = 0
        self._lock = threading.Lock()

    def acquire(self, key: str) -> bool:
        with self._lock:
            held = self._by_client.get(key, 0)
            if held >= self.per_client or self._count >= self.total:
                return False
            self._by_client[key] = held + 1
            self._count += 1
            return True

    def release(self, key: str) -> None:
        with self._lock:
            held = self._by_client.get(key, 0)
            if held <= 0:
                return
            self._count -= 1
            if held == 1:
                del self._by_client[key]
            else:
                self._by_client[key] = held - 1

    def __len__(self) -> int:
        return self._count


# -- checks on one request (pure) ----------------------------------------------


def not_utf8(environ: dict) -> str | None:
    """The name of the first header (or the path) that is not UTF-8, if any.

    A WSGI server hands over header bytes as latin-1 text: encoding back to
    latin-1 gives the bytes the client sent.
    """
    for key, value in environ.items():
        if not (key.startswith("HTTP_") or key == "PATH_INFO") or not isinstance(value, str):
            continue
        try:
            value.encode("latin-1").decode("utf-8")
        except UnicodeEncodeError:
            continue  # already text beyond latin-1: the server decoded it
        except UnicodeDecodeError:
            return "the path" if key == "PATH_INFO" else _header_name(key)
    return None


def bad_token_header(environ: dict) -> str | None:
    """The name of an admin-token header that is not printable ASCII, if any."""
    for key in TOKEN_HEADERS:
        value = environ.get(key)
        if value and not (value.isascii() and value.isprintable()):
            return _header_name(key)
    return None


def gives_token(environ: dict) -> bool:
    return any(environ.get(key, "").strip() for key in TOKEN_HEADERS)


def body_too_large(environ: dict, limit: int) -> bool:
    length = environ.get("CONTENT_LENGTH") or "0"
    try:
        return int(length) > limit
    except ValueError:
        return True  # the server let a bad length through: refuse it here


def _header_name(key: str) -> str:
    return "-".join(part.capitalize() for part in key[5:].split("_"))


# -- the middleware --------------------------------------------------------------


class Guard:
    """The checks above around ``app``; see the module's docstring."""

    def __init__(
        self,
        app: WSGIApp,
        *,
        allowed_host: Callable[[str | None], bool] = lambda host: True,
        limits: GuardLimits = GuardLimits(),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.allowed_host = allowed_host
        self.limits = limits
        self.throttle = FailureThrottle(
            limits.admin_free_failures, limits.admin_first_delay, limits.admin_max_delay, limits.admin_forget_after, clock=clock
        )
        self.downloads = DownloadSlots(limits.downloads_total, limits.downloads_per_client)
        self.changes = DownloadSlots(limits.changes_total, limits.changes_per_client)
        self._log = LogLimiter(log, clock=clock)

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        client = client_key(environ.get("REMOTE_ADDR"))
        refusal = self._refusal(environ, path, client)
        if refusal is not None:
            status, message, headers = refusal
            return _answer(start_response, path, status, message, headers)
        if path.startswith("/api/") and environ.get("REQUEST_METHOD") in CHANGES:
            return self._change(environ, start_response, client, path)
        if is_admin(path, environ.get("REQUEST_METHOD")):
            return self._admin(environ, start_response, client)
        if path in DOWNLOAD_PATHS:
            return self._download(environ, start_response, client)
        return self.app(environ, start_response)

    def _refusal(self, environ: dict, path: str, client: str) -> tuple[int, str, dict[str, str]] | None:
        if is_upload(environ.get("REQUEST_METHOD"), path):  # a floor plan's picture: its own cap
            if body_too_large(environ, MAX_UPLOAD_BYTES):
                length = str(environ.get("CONTENT_LENGTH") or "0")
                return 413, too_large_message(int(length) if length.isdigit() else 0), {}
        elif body_too_large(environ, self.limits.max_body_bytes):
            self._log.log(logging.INFO, "body", client, "refused a request body of %s bytes from %s", environ.get("CONTENT_LENGTH"), client)
            return 413, f"request body too large: at most {self.limits.max_body_bytes} bytes", {}
        if (name := not_utf8(environ)) is not None:
            self._log.log(logging.INFO, "utf8", client, "refused a request from %s: %s is not UTF-8", client, name)
            return 400, f"{name} is not valid UTF-8", {}
        if (name := bad_token_header(environ)) is not None:
            self._log.log(logging.INFO, "token-ascii", client, "refused a request from %s: %s is not printable ASCII", client, name)
            return 400, f"{name}: an admin token is printable ASCII", {}
        host = environ.get("HTTP_HOST")
        if path not in HOST_EXEMPT_PATHS and not self.allowed_host(host):
            self._log.log(logging.WARNING, "host", client, "refused a request from %s for host %r: not a name this station answers to (--allowed-host adds one)", client, host)
            return 403, (
                f"this station does not answer to the name {host!r}: open it by its address, "
                "or start it with --allowed-host NAME"
            ), {}
        if is_admin(path, environ.get("REQUEST_METHOD")):
            wait = self.throttle.wait(client)
            if wait > 0:
                return 429, f"too many wrong admin tokens from {client}: try again in {max(1, math.ceil(wait))} s", {"Retry-After": str(max(1, math.ceil(wait)))}
        return None

    def _admin(self, environ: dict, start_response: StartResponse, client: str) -> Iterable[bytes]:
        with_token = gives_token(environ)
        outcome: list[int] = []

        def recording(status: str, headers: list, exc_info: Any = None) -> Any:
            outcome.append(_status_code(status))
            return start_response(status, headers, exc_info) if exc_info is not None else start_response(status, headers)

        body = self.app(environ, recording)
        code = outcome[-1] if outcome else 0
        if with_token and code in (401, 403):
            wait = self.throttle.failed(client)
            if wait > 0:
                self._log.log(
                    logging.WARNING, "token", client,
                    "admin token refused %d times from %s: it must wait %.0f s", self.throttle.failures(client), client, wait,
                )
        elif with_token and 200 <= code < 300:
            self.throttle.succeeded(client)
        return body

    def _change(self, environ: dict, start_response: StartResponse, client: str, path: str) -> Iterable[bytes]:
        if not self.changes.acquire(client):
            self._log.log(logging.INFO, "changes", client, "refused a change from %s: %d under way", client, len(self.changes))
            return _answer(start_response, path, 503, "too many changes at once: try again in a moment", {"Retry-After": "1"})
        try:  # a change's answer is a small JSON body: the slot is held until it is made
            if is_admin(path, environ.get("REQUEST_METHOD")):
                return list(self._admin(environ, start_response, client))
            return list(self.app(environ, start_response))
        finally:
            self.changes.release(client)

    def _download(self, environ: dict, start_response: StartResponse, client: str) -> Iterable[bytes]:
        if not self.downloads.acquire(client):
            self._log.log(logging.INFO, "downloads", client, "refused a download to %s: %d under way", client, len(self.downloads))
            return _answer(
                start_response, environ.get("PATH_INFO", "/"), 503,
                "too many downloads at once: try again in a few seconds", {"Retry-After": "5"},
            )
        try:
            body = self.app(environ, start_response)
        except BaseException:
            self.downloads.release(client)
            raise
        return _Releasing(body, lambda: self.downloads.release(client))


class _Releasing:
    """A response body that gives its download slot back when the server closes it."""

    def __init__(self, body: Iterable[bytes], release: Callable[[], None]) -> None:
        self._body = body
        self._release: Callable[[], None] | None = release

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            release, self._release = self._release, None
            if release is not None:
                release()


_REASONS = {400: "Bad Request", 403: "Forbidden", 413: "Content Too Large", 429: "Too Many Requests", 503: "Service Unavailable"}
_encode = msgspec.json.Encoder().encode


def _answer(start_response: StartResponse, path: str, status: int, message: str, headers: dict[str, str]) -> list[bytes]:
    """JSON for the API (as the dashboard's own errors), text elsewhere."""
    if path.startswith("/api/"):
        body, content_type = _encode({"error": message, "status": status}), "application/json"
    else:
        body, content_type = f"{status} {_REASONS[status]}: {message}\n".encode(), "text/plain; charset=utf-8"
    start_response(
        f"{status} {_REASONS[status]}",
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
            *headers.items(),
        ],
    )
    return [body]


def _status_code(status: str) -> int:
    try:
        return int(status.split(" ", 1)[0])
    except ValueError:
        return 0
