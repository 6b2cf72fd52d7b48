"""The JSON API: the table, the results, the servers, and the old "clear"."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

import bottle
from bottle import HTTPResponse, request, response

from .. import __version__
from ..ops.health import problems
from ..exports.results import json_chunks
from .common import JSON_TYPE, dumps, json_response, require_admin, wrapped
from .downloads import filtered_results, json_download
from .surveys import book_call

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
            # Whether this browser may change the survey without a token: paired, or the station is --open.
            "paired": d.admission.paired(),
            "open": d.admission.open and d.admin_token is None,
            "version": __version__,
            "station_name": d.station_name,
        })

    def latest(self) -> HTTPResponse:
        """The current survey's table: a row per port, its survey, ``can_undo``."""
        self.dash.refresh()
        return json_response(self.dash.board.state())

    def results(self) -> Iterator[str]:
        if request.query.get("format") == "json":
            return json_download(self.dash)  # the export's bare array, kept for old scripts
        found = filtered_results(self.dash)
        response.content_type = JSON_TYPE
        response.set_header("Cache-Control", "no-store")
        # Streamed: with 100 MB of logs this is big, and never whole in memory.
        notes = self.dash.board.notes(found)  # place, its source, survey, id
        return wrapped('{"results":', json_chunks(found, dumps=dumps, notes=notes), "}\n")

    def server_status(self) -> HTTPResponse:
        servers = self.dash.servers()
        return json_response({"servers": servers, "problems": problems(servers, self.dash.book.problem)})

    # -- "Clear table", as before surveys ------------------------------------------

    def clear(self) -> HTTPResponse:
        """Kept for scripts written for the old dashboard: starts a new survey."""
        require_admin(self.dash.admin_token)
        book_call(self.dash.book.start)
        return self._answer()

    def undo(self) -> HTTPResponse:
        """Undoes the latest survey start (the old "Undo clear")."""
        require_admin(self.dash.admin_token)
        book_call(self.dash.book.undo_last)
        return self._answer()

    def _answer(self) -> HTTPResponse:
        state = self.dash.board.state()
        try:
            self.dash.on_change()  # the live push hears from the book itself; this is any other hook
        except Exception:
            log.exception("on_change after a survey change failed")
        return json_response({"ok": True, "generation": state["generation"], "can_undo": state["can_undo"], "survey": state["survey"]})
