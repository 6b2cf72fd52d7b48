"""For the people who run stations: ``/healthz`` and ``/metrics``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import bottle
from bottle import HTTPError, HTTPResponse

from ..ops.health import health_text, http_status, problems
from ..store.results import LogDirError

if TYPE_CHECKING:
    from . import Dashboard

_TEXT = {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store"}


class Ops:
    def __init__(self, dash: Dashboard) -> None:
        self.dash = dash

    def route(self, app: bottle.Bottle) -> None:
        app.route("/healthz", "GET", self.healthz)
        app.route("/metrics", "GET", self.metrics)

    def healthz(self) -> HTTPResponse:
        try:
            self.dash.store.refresh()
        except LogDirError as exc:
            return HTTPResponse(f"log directory unreadable: {exc}\n", 503, _TEXT)
        # Not 200 while tests are being lost (a full disk, a log moved away).
        found = problems(self.dash.servers(), self.dash.book.problem)
        return HTTPResponse(health_text(found), http_status(found), _TEXT)

    def metrics(self) -> HTTPResponse:
        if self.dash.metrics is None:
            raise HTTPError(404, "metrics are not enabled")
        body, content_type = self.dash.metrics()
        return HTTPResponse(body, 200, {"Content-Type": content_type, "Cache-Control": "no-store"})
