"""The HTML pages and their static files.

Pages are Bottle SimpleTemplates under ``webperf3/templates`` sharing
``base.tpl``; each loads one ES module from ``static/js`` (no build step),
which imports the shared ones. Static files are revalidated on every load
(``no-cache`` with an ETag): cheap, and an upgrade reaches every browser.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import bottle
from bottle import HTTPResponse, response

from .. import __version__
from ..config import DEFAULT_FIRST_PORT

if TYPE_CHECKING:
    from . import Dashboard

PACKAGE_DIR = Path(__file__).resolve().parents[1]
STATIC_DIR = PACKAGE_DIR / "static"
TEMPLATE_DIR = PACKAGE_DIR / "templates"

# Python's mimetypes reads /etc/mime.types, which may lack (or misname) the
# types a browser insists on for ES modules: name them here.
_TYPES = {".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}


class Pages:
    def __init__(self, dash: Dashboard) -> None:
        self.dash = dash
        self._templates: dict[str, bottle.SimpleTemplate] = {}

    def route(self, app: bottle.Bottle) -> None:
        app.route("/", "GET", self.dashboard)
        app.route("/static/<filename:path>", "GET", self.static)

    def render(self, name: str, **values: object) -> str:
        template = self._templates.get(name)
        if template is None:
            template = self._templates[name] = bottle.SimpleTemplate(name=name, lookup=[str(TEMPLATE_DIR)])
        d = self.dash
        response.content_type = "text/html; charset=utf-8"
        response.set_header("Cache-Control", "no-cache")
        return template.render(
            ws_port="" if d.ws_port is None else str(d.ws_port),
            ws_path=d.ws_path,
            admin="token" if d.admin_token else "none",
            version=__version__,
            station=d.station_name or "",
            **values,
        )

    def dashboard(self) -> str:
        return self.render("dashboard.tpl", page="dashboard", first_port=str(self.first_port()))

    def first_port(self) -> int:
        """The port the empty table's example command names: the station's
        first iperf3 server (``--first-port``); the default without servers."""
        ports = self.dash.ports()
        return min(ports) if ports else DEFAULT_FIRST_PORT

    def static(self, filename: str) -> HTTPResponse:
        mimetype = _TYPES.get(Path(filename).suffix, "auto")
        return bottle.static_file(filename, root=str(STATIC_DIR), mimetype=mimetype, headers={"Cache-Control": "no-cache"})
