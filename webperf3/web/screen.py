"""``/screen``: the station's own display (the Pi's 7" touchscreen at 800x480,
a TV at 1920x1080), read from across a room.

A large tile per port (idle / testing from whom, its live rate moving / down),
each port's last result with its place, the survey's name and counts, the
worst places, a QR code of the station's page (``/qr.svg?page=1``) and, only
in a browser on the station itself, the pairing QR code (``/pair.svg``: see
``pairing.py``). Nothing on it changes anything. The page (``screen.js``)
uses the dashboard's push messages and modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import bottle
from bottle import request

from .pairing import is_local

if TYPE_CHECKING:
    from . import Dashboard


class Screen:
    def __init__(self, dash: Dashboard) -> None:
        self.dash = dash

    def route(self, app: bottle.Bottle) -> None:
        app.route("/screen", "GET", self.page)

    def page(self) -> str:
        # The pairing code goes only to a browser on the station itself: a
        # viewer of /screen from the network (or a TV fed by another
        # computer) must not be handed admin rights. The page asks
        # /pair.svg, which checks again.
        pairing = is_local(request.remote_addr) and self.dash.admission.secret is not None and not (
            self.dash.admission.open and self.dash.admission.admin_token is None
        )
        return self.dash.pages.render("screen.tpl", page="screen", title="Station screen", script="screen", pairing="1" if pairing else "")
