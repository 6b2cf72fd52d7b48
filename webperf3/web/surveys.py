"""What people add, over the API: places named from the browser, surveys,
and edits of a test's place or exclusion (see :mod:`webperf3.survey`).

Naming one's own place is open to any device: it only labels the tests of
the address it comes from. Everything else changes what others see and
follows the rules of the admin routes: same origin, and the admin token when
one is set. Every change reaches every open page through the live push,
which listens to the book.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import bottle
from bottle import HTTPResponse, request

from ..serving.clients import client_key
from ..survey import KEEP, BookConflict, BookError, BookInputError, BookNotFound, BookWriteError, parse_result_id
from ..survey.plans import place_key
from .common import json_body, json_error, json_response, param, require_admin, same_origin

if TYPE_CHECKING:
    from . import Dashboard

T = TypeVar("T")

#: Places named from one address (IPv6: a /64; a team behind one NAT shares
#: it): this many at once, then one every PLACE_EVERY_S seconds.
PLACE_BURST = 10
PLACE_EVERY_S = 2.0


def book_call(action: Callable[[], T]) -> T:
    """Run a change of the book; its errors, each written for people, as statuses."""
    try:
        return action()
    except BookInputError as exc:
        raise json_error(400, str(exc)) from None
    except BookNotFound as exc:
        raise json_error(404, str(exc)) from None
    except BookConflict as exc:
        raise json_error(409, str(exc)) from None
    except BookWriteError as exc:
        # A full disk is the station's trouble, not the request's: say so plainly.
        raise json_error(507 if getattr(exc, "disk_full", False) else 503, str(exc)) from None
    except BookError as exc:
        raise json_error(500, str(exc)) from None


def _text_field(body: dict[str, Any], key: str, *, nullable: bool = True) -> str | None:
    value = body.get(key)
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise json_error(400, f"{key!r} must be a string{' or null' if nullable else ''}")
    return value


class Surveys:
    def __init__(self, dash: Dashboard) -> None:
        self.dash = dash

    @property
    def book(self):
        return self.dash.book

    def route(self, app: bottle.Bottle) -> None:
        app.route("/api/place", "POST", self.name_place)
        app.route("/api/surveys", "GET", self.list)
        app.route("/api/surveys", "POST", self.start)
        app.route("/api/surveys/undo", "POST", self.undo_last)
        app.route("/api/surveys/<sid:int>", "PATCH", self.rename)
        app.route("/api/surveys/<sid:int>/reopen", "POST", self.reopen)
        app.route("/api/surveys/<sid:int>/undo", "POST", self.undo)
        app.route("/api/surveys/<sid:int>/restore", "POST", self.restore)
        app.route("/api/results/<tid>", "PATCH", self.edit)

    # -- this device's place ---------------------------------------------------

    def name_place(self) -> HTTPResponse:
        """``{"name": "Room 7"}`` (null: no place): tests from the calling
        device's address that start from now on belong to it. With ``plan``,
        ``x`` and ``y`` (fractions 0..1), the place is put there on that
        floor plan too, in the same change: where this device stands."""
        if not same_origin():  # another site's page must not relabel a visitor's tests
            raise json_error(403, "refused: the request comes from another site (Origin/Referer does not match Host)")
        body = json_body()
        name = _text_field(body, "name")
        device = _text_field(body, "device")
        spot = None
        if any(k in body for k in ("plan", "x", "y")):
            if not all(k in body for k in ("plan", "x", "y")):
                raise json_error(400, "a spot on a plan needs 'plan', 'x' and 'y' (fractions 0..1 of the plan) together")
            spot = (body["plan"], body["x"], body["y"])
        address = request.remote_addr
        if not address:
            raise json_error(400, "cannot tell this device's address")
        # Each place named pushes a change to every open page: a loop of
        # them from one address must not flood the others' live updates.
        wait = self.dash.place_limit.wait(client_key(address))
        if wait > 0:
            raise json_error(
                429,
                f"too many places named from {client_key(address)} just now (at most {PLACE_BURST} at once, then one every "
                f"{PLACE_EVERY_S:g} s): try again in {math.ceil(wait)} s",
                **{"Retry-After": str(math.ceil(wait))},
            )
        outcome = book_call(lambda: self.book.claim(address, name, device=device, user_agent=request.get_header("User-Agent"), spot=spot))
        claim = outcome.claim
        others = [c for c in outcome.conflicts if c.device_key != claim.device_key]
        shared = None
        if others:
            places = ", ".join(f"“{c.place}”" if c.place else "no place" for c in others)
            shared = (
                f"Another device at {claim.address} (behind the same router) named {places} a moment ago: "
                "the station tells devices apart by address, so tests from both now go to the place named last."
            )
        placed = self.book.spots().get(place_key(claim.place)) if spot is not None and claim.place else None
        return json_response({
            "address": claim.address,
            "place": claim.place,
            "at": claim.at,
            "conflicts": [{"place": c.place, "at": c.at} for c in outcome.conflicts],
            "shared_address": shared,
            "spot": None if placed is None else placed.to_dict(),
        })

    # -- surveys -------------------------------------------------------------------

    def list(self) -> HTTPResponse:
        self.dash.refresh()
        view = self.book.view()
        include_undone = param("undone") in ("1", "true", "yes")
        surveys = view.survey_list(self.dash.store.results(), include_undone=include_undone)
        return json_response({"surveys": [s.to_dict() for s in surveys], "current": view.timeline.current})

    def start(self) -> HTTPResponse:
        require_admin(self.dash.admin_token)
        name = _text_field(json_body(), "name")
        survey = book_call(lambda: self.book.start(name))
        return json_response({"survey": survey.to_dict()}, 201)

    def rename(self, sid: int) -> HTTPResponse:
        require_admin(self.dash.admin_token)
        name = _text_field(json_body(), "name", nullable=False)
        return json_response({"survey": book_call(lambda: self.book.rename(sid, name)).to_dict()})

    def reopen(self, sid: int) -> HTTPResponse:
        require_admin(self.dash.admin_token)
        return json_response({"survey": book_call(lambda: self.book.reopen(sid)).to_dict()})

    def undo(self, sid: int) -> HTTPResponse:
        require_admin(self.dash.admin_token)
        return json_response({"survey": book_call(lambda: self.book.undo_start(sid)).to_dict()})

    def undo_last(self) -> HTTPResponse:
        require_admin(self.dash.admin_token)
        return json_response({"survey": book_call(self.book.undo_last).to_dict()})

    def restore(self, sid: int) -> HTTPResponse:
        require_admin(self.dash.admin_token)
        return json_response({"survey": book_call(lambda: self.book.restore(sid)).to_dict()})

    # -- a test's place and exclusion --------------------------------------------------

    def edit(self, tid: str) -> HTTPResponse:
        """``{"place": "Room 7" | null, "excluded": true | false}``: either or both."""
        require_admin(self.dash.admin_token)
        body = json_body()
        unknown = set(body) - {"place", "excluded"}
        if unknown:
            raise json_error(400, f"unknown field(s) {sorted(unknown)}: a test's edit has 'place' and 'excluded'")
        if not body:
            raise json_error(400, "nothing to change: give 'place' (a string, or null for the test's own) and/or 'excluded'")
        place: Any = KEEP
        if "place" in body:
            place = _text_field(body, "place")
        excluded = body.get("excluded")
        if excluded is not None and not isinstance(excluded, bool):
            raise json_error(400, "'excluded' must be true or false")
        port = book_call(lambda: parse_result_id(tid))
        self.dash.refresh()
        found = self.book.view().find(self.dash.store.results(port=port), tid)
        if found is None:
            raise json_error(404, f"there is no test {tid!r}")
        book_call(lambda: self.book.edit(found, place=place, excluded=excluded, by=request.remote_addr))
        (record,) = self.dash.board.annotate([found])
        return json_response({"result": record})
