"""The JSON API: the table, the results, the servers, and clearing the table."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

import bottle
from bottle import HTTPResponse, request, response

from .. import __version__
from ..export import json_chunks
from ..marks import MarksError
from .common import JSON_TYPE, dumps, json_error, json_response, require_admin, wrapped
from .exports import filtered_results, json_download

if TYPE_CHECKING:
    from . import Dashboard

log = logging.getLogger(__name__)


class Api:
    def __init__(self, dash: Dashboard) -> None:
        self.dash = dash

    def route(self, app: bottle.Bottle) -> None:
        app.route("/api/config", "GET", self.config)
        app.route("/api/latest", "GET", self.latest)
        app.route("/api/results", "GET", self.results)
        app.route("/api/servers", "GET", self.server_status)
        app.route("/api/clear", "POST", self.clear)
        app.route("/api/clear/undo", "POST", self.undo)

    def config(self) -> HTTPResponse:
        d = self.dash
        return json_response({
            "ws_port": d.ws_port,
            "ws_path": d.ws_path,
            "admin_token_required": d.admin_token is not None,
            "version": __version__,
            "station_name": d.station_name,
        })

    def latest(self) -> HTTPResponse:
        self.dash.refresh()
        rows = self.dash.store.rows(self.dash.ports())
        return json_response({"rows": [row.to_dict() for row in rows], "generation": self.dash.store.generation, "can_undo": self._can_undo()})

    def results(self) -> Iterator[str]:
        if request.query.get("format") == "json":
            return json_download(self.dash)  # the export's bare array, kept for old scripts
        found = filtered_results(self.dash)
        response.content_type = JSON_TYPE
        response.set_header("Cache-Control", "no-store")
        # Streamed: with 100 MB of logs this is big, and never whole in memory.
        return wrapped('{"results":', json_chunks(found, dumps=dumps), "}\n")

    def server_status(self) -> HTTPResponse:
        return json_response({"servers": self.dash.servers()})

    # -- clearing ------------------------------------------------------------

    def clear(self) -> HTTPResponse:
        self._guard_post()
        self.dash.refresh()  # so every port with a log gets its mark
        try:
            self.dash.store.clear(self.dash.ports())
        except MarksError as exc:
            return json_error(500, str(exc))
        self._changed()
        return json_response({"ok": True, "generation": self.dash.store.generation, "can_undo": self._can_undo()})

    def undo(self) -> HTTPResponse:
        self._guard_post()
        try:
            undone = self.dash.store.undo_clear()
        except MarksError as exc:
            return json_error(500, str(exc))
        if not undone:
            return json_error(409, "there is no clear to undo")
        self._changed()
        return json_response({"ok": True, "generation": self.dash.store.generation, "can_undo": self._can_undo()})

    def _guard_post(self) -> None:
        if self.dash.store.marks is None:
            raise json_error(503, "clearing is not available: the store has no clear marks")
        require_admin(self.dash.admin_token)

    def _changed(self) -> None:
        # The live push hears of a clear from the store itself; this hook is
        # for anything else a caller wires in. Its failure must not turn a
        # done clear into an error response.
        try:
            self.dash.on_change()
        except Exception:
            log.exception("on_change after clear/undo failed")

    def _can_undo(self) -> bool:
        marks = self.dash.store.marks
        return bool(marks and marks.can_undo)

