"""The dashboard's web app: the app factory and the views, one module per concern.

As datasette splits its views, each concern has its module: ``pages`` (the
HTML pages and static files), ``api`` (the JSON API), ``downloads`` (the
CSV, xlsx and JSON downloads), ``ops`` (health and metrics), ``history``,
``places`` (with the report), ``surveys`` and ``device``; ``common`` holds what they
share. Every answer comes from the :class:`ResultsStore`, the export
functions and the callables the caller wires in (the server fleet's status,
the live push, the metrics). :class:`Dashboard` owns its own ``Bottle()`` —
no module-level state, never bottle's default app — so tests and the CLI can
build as many as they like. :class:`webperf3.serving.httpserver.WebServer` serves it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import bottle

from ..board.join import Board
from ..exports.results import CsvFigures
from ..ops.memory import give_back_freed_memory
from ..serving.clients import RateLimit
from ..store.results import LogDirError, ResultsStore
from ..survey import SurveyBook
from . import api, device, downloads, history, ops, pages, places, plans, surveys
from .common import add_security_headers, error_body, json_error


class Dashboard:
    """Everything the views need, and ``.app``, the WSGI app that routes to them."""

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
        station_name: str | None = None,
        book: SurveyBook,
        board: Board,
    ) -> None:
        # The book and the board are the station's (station.py makes them
        # once): a second board would keep its own caches, and a book opened
        # here would be a second writer of the same file.
        self.store = store
        self.book = book
        self.board = board
        self.servers = servers
        self.ports = ports
        self.ws_port = ws_port
        self.ws_path = ws_path
        self.admin_token = admin_token or None  # "" means no token, as unset
        self.on_change = on_change
        self.metrics = metrics
        self.station_name = station_name or None
        # The CSV cells each result alone decides, formatted once, shared by every download.
        self.csv_figures = CsvFigures()
        self.place_limit = RateLimit(surveys.PLACE_BURST, surveys.PLACE_EVERY_S)  # POST /api/place, per address
        self.app = bottle.Bottle()
        # Each survey's places, kept between requests: the places API, its CSV
        # and the report add only the tests logged since.
        self.place_tallies = places.Tallies()
        # Other views render their pages through this one: one look, one base.tpl.
        self.pages = pages.Pages(self)
        self.history = history.HistoryView(self)
        self.places = places.Places(self)
        views = (
            self.pages, api.Api(self), surveys.Surveys(self), device.Device(self), downloads.Downloads(self),
            ops.Ops(self), self.history, self.places, plans.Plans(self),
        )
        for view in views:
            view.route(self.app)
        self.app.add_hook("after_request", add_security_headers)
        # Bottle's own error page is HTML; API clients want JSON. Bottle
        # calls this for every HTTPError it raises itself (404, 405, 500).
        self.app.default_error_handler = error_body

    def refresh(self) -> None:
        """Cheap (one stat per log) and keeps answers right without the watcher."""
        try:
            self.store.refresh()
        except LogDirError as exc:
            raise json_error(503, str(exc)) from None

    def warm_up(self) -> None:
        """What the first visitor would otherwise wait for (a thread's job at
        start): the current survey's places and history, then the CSV's figures."""
        self.places.warm_up()
        self.history.warm_up()
        self.csv_figures.warm_up(self.store.results())
        give_back_freed_memory()  # what annotating every test needed for a moment


def create_app(store: ResultsStore, **kwargs: Any) -> bottle.Bottle:
    """The dashboard's WSGI app (see :class:`Dashboard` for the keywords)."""
    return Dashboard(store, **kwargs).app
