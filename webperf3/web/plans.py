"""Floor plans and the spots of places on them, over the API (see
:mod:`webperf3.survey.plans`), and the map page.

``POST /api/plans?name=`` (the picture as the body), ``GET /api/plans``,
``GET /api/plans/<id>/image``, ``PUT /api/plans/<id>/image`` (a new picture),
``PATCH``/``DELETE /api/plans/<id>``, ``PUT``/``DELETE /api/places/spot``.
Adding, replacing and removing plans and moving any place's spot change what
everyone sees: admin routes (same origin, the admin token when one is set).
A device putting its own place on a plan does it with ``POST /api/place``
(:mod:`.surveys`), open to any device as naming its place is.

What the bytes are decides (:func:`~webperf3.survey.images.sniff`), never
the ``Content-Type`` sent; a refused picture keeps nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import bottle
from bottle import HTTPResponse, request

from ..survey import KEEP
from ..survey.images import MAX_PLAN_BYTES, ImageInfo, ImageRefused, sniff
from ..serving.uploads import too_large_message
from .common import json_body, json_error, json_response, param, require_admin
from .surveys import book_call

if TYPE_CHECKING:
    from . import Dashboard

#: Nothing may run in a plan's picture, nor load anything, even opened on its own.
IMAGE_POLICY = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"


def read_image() -> tuple[bytes, ImageInfo]:
    """The request's body as a plan's picture; 413 / 415 / 400 say why not, before anything is kept."""
    length = request.content_length
    if length > MAX_PLAN_BYTES:  # refused from the header, the body unread
        raise json_error(413, too_large_message(length))
    if length <= 0:
        raise json_error(400, "the request has no body: send the plan's picture (PNG, JPEG or WebP) as the body")
    data = request.environ["wsgi.input"].read(min(length, MAX_PLAN_BYTES + 1))
    if len(data) > MAX_PLAN_BYTES:
        raise json_error(413, too_large_message(len(data)))
    if len(data) < length:
        raise json_error(400, f"the picture was cut short: {len(data)} of {length} bytes arrived; nothing was kept")
    try:
        info = sniff(data)
    except ImageRefused as exc:
        # A picture of a type the station does not keep: 415; a damaged or too big one: 400.
        kind = 415 if str(exc).startswith(("SVG", "this is not")) else 400
        raise json_error(kind, f"{exc}; nothing was kept") from None
    return data, info


def spot_fields(body: dict[str, Any], *, need_place: bool = True) -> tuple[Any, Any, Any, Any]:
    unknown = sorted(set(body) - {"name", "plan", "x", "y"})
    if unknown:
        raise json_error(400, f"unknown field(s) {unknown}: a spot is {{\"name\", \"plan\", \"x\", \"y\"}}")
    missing = [k for k in ("name", "plan", "x", "y") if k not in body and (need_place or k != "name")]
    if missing:
        raise json_error(400, f"missing {missing}: a spot is the place's name, the plan's id, and x and y from 0 to 1")
    return body.get("name"), body["plan"], body["x"], body["y"]


class Plans:
    def __init__(self, dash: Dashboard) -> None:
        self.dash = dash

    @property
    def book(self):
        return self.dash.book

    def route(self, app: bottle.Bottle) -> None:
        app.route("/map", "GET", self.page)
        app.route("/api/plans", "GET", self.list)
        app.route("/api/plans", "POST", self.add)
        app.route("/api/plans/<pid:int>", "PATCH", self.edit)
        app.route("/api/plans/<pid:int>", "DELETE", self.remove)
        app.route("/api/plans/<pid:int>/image", "GET", self.image)
        app.route("/api/plans/<pid:int>/image", "PUT", self.replace)
        app.route("/api/places/spot", "PUT", self.set_spot)
        app.route("/api/places/spot", "DELETE", self.clear_spot)

    def page(self) -> str:
        return self.dash.pages.render("map.tpl", page="map")

    def list(self) -> HTTPResponse:
        """Every plan, and every place on one (``spots``: name, plan, x, y)."""
        return json_response({
            "plans": [p.to_dict() for p in self.book.plans()],
            "spots": sorted((s.to_dict() for s in self.book.spots().values()), key=lambda s: (s["plan"], s["place"].casefold())),
        })

    def add(self) -> HTTPResponse:
        require_admin(self.dash.admin_token)
        name = param("name")
        if name is None:
            raise json_error(400, "give the plan a name: POST /api/plans?name=Ground%20floor")
        data, info = read_image()
        plan = book_call(lambda: self.book.add_plan(name, data, info))
        return json_response(_short(plan), 201)

    def replace(self, pid: int) -> HTTPResponse:
        require_admin(self.dash.admin_token)
        book_call(lambda: self.book.plan(pid))  # 404 before the picture is read
        data, info = read_image()
        return json_response(_short(book_call(lambda: self.book.replace_plan(pid, data, info))))

    def edit(self, pid: int) -> HTTPResponse:
        """``{"name": ..., "scale": {"ax", "ay", "bx", "by", "metres"} | null}``: either or both."""
        require_admin(self.dash.admin_token)
        body = json_body()
        unknown = sorted(set(body) - {"name", "scale"})
        if unknown or not body:
            raise json_error(400, f"a plan's edit has 'name' and/or 'scale'{f', not {unknown}' if unknown else ''}")
        plan = book_call(lambda: self.book.edit_plan(pid, name=body.get("name", KEEP), scale=body.get("scale", KEEP)))
        return json_response({"plan": plan.to_dict()})

    def remove(self, pid: int) -> HTTPResponse:
        require_admin(self.dash.admin_token)
        plan = book_call(lambda: self.book.remove_plan(pid))
        return json_response({"removed": plan.to_dict()})

    def image(self, pid: int) -> HTTPResponse:
        plan, data = book_call(lambda: self.book.plan_image(pid))
        etag = f'"plan-{plan.id}-{int(plan.updated_at * 1000)}"'
        headers = {
            "Content-Type": plan.mime,
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": IMAGE_POLICY,
            "Cache-Control": "no-cache",  # kept, but asked again: a replaced plan shows at once
            "ETag": etag,
        }
        if request.get_header("If-None-Match") == etag:
            return HTTPResponse(b"", 304, headers)
        return HTTPResponse(data, 200, headers)

    def set_spot(self) -> HTTPResponse:
        """``{"name", "plan", "x", "y"}``: put a place on a plan, or move it (any place: admin)."""
        require_admin(self.dash.admin_token)
        name, plan, x, y = spot_fields(json_body())
        spot = book_call(lambda: self.book.set_spot(name, plan, x, y, by=request.remote_addr))
        return json_response({"spot": spot.to_dict()})

    def clear_spot(self) -> HTTPResponse:
        """``{"name"}``: take a place off its plan (its tests keep their place)."""
        require_admin(self.dash.admin_token)
        body = json_body()
        if set(body) != {"name"}:
            raise json_error(400, "to take a place off its plan, send {\"name\": the place}")
        spot = book_call(lambda: self.book.clear_spot(body["name"]))
        return json_response({"removed": spot.to_dict()})


def _short(plan) -> dict[str, Any]:
    return {"id": plan.id, "name": plan.name, "width": plan.width, "height": plan.height, "plan": plan.to_dict()}
