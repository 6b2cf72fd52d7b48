"""Floor plans and spots: the records, their tables in the book's file, and
the checks of what people send.

A plan is a picture of a floor (PNG, JPEG or WebP, see :mod:`.images`),
kept as a BLOB in the survey book's SQLite file beside the surveys and
places: one file to back up, which moves with the book when the log
directory is made again, and a spot is saved in the same transaction as
the place it names. A spot puts a place on a plan: ``x`` and ``y`` are
fractions (0..1) of the plan's displayed width and height, so the same spot
holds on a phone and on a printed page. Plans and spots are the station's,
not a survey's: a second survey of the same floor finds the same spots.
Places are matched as the places table matches them, whatever the case.

The pictures are never held in memory: a :class:`Plan` is the metadata,
the bytes are read from the file when a page asks for them.
"""

from __future__ import annotations

import math
import sqlite3
from typing import Any

import msgspec

from .errors import BookInputError
from .rules import clean_name


class Scale(msgspec.Struct, frozen=True, kw_only=True):
    """Two points of the plan (fractions) and the distance between them in metres."""

    ax: float
    ay: float
    bx: float
    by: float
    metres: float

    def metres_per_px(self, width: int, height: int) -> float:
        """Metres per pixel of the displayed plan."""
        px = math.hypot((self.bx - self.ax) * width, (self.by - self.ay) * height)
        return self.metres / px


class Plan(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    name: str
    mime: str
    width: int  # as displayed (EXIF orientation applied)
    height: int
    bytes: int
    created_at: float
    updated_at: float
    scale: Scale | None = None

    def to_dict(self) -> dict[str, Any]:
        out = msgspec.to_builtins(self)
        out["image"] = f"/api/plans/{self.id}/image?v={int(self.updated_at * 1000)}"
        out["metres_per_px"] = None if self.scale is None else self.scale.metres_per_px(self.width, self.height)
        return out


class Spot(msgspec.Struct, frozen=True, kw_only=True):
    place: str  # as spelt when it was put on the plan
    plan: int
    x: float  # fractions of the plan's width and height, from its top left corner
    y: float
    at: float

    def to_dict(self) -> dict[str, Any]:
        return msgspec.to_builtins(self)


def place_key(place: str) -> str:
    """The places table's grouping of a name: one spot for "Room 7" and "room 7"."""
    return place.casefold()


SCHEMA = (
    """CREATE TABLE plans (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL CHECK (typeof(name) = 'text' AND length(name) BETWEEN 1 AND 200),
        mime TEXT NOT NULL CHECK (mime IN ('image/png', 'image/jpeg', 'image/webp')),
        width INTEGER NOT NULL CHECK (width > 0),
        height INTEGER NOT NULL CHECK (height > 0),
        image BLOB NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        scale TEXT
    )""",
    # A place's spot; removing a plan removes its spots (never a test).
    """CREATE TABLE spots (
        key TEXT PRIMARY KEY,
        place TEXT NOT NULL CHECK (typeof(place) = 'text' AND length(place) BETWEEN 1 AND 200),
        plan_id INTEGER NOT NULL REFERENCES plans(id) ON DELETE CASCADE,
        x REAL NOT NULL CHECK (x BETWEEN 0 AND 1),
        y REAL NOT NULL CHECK (y BETWEEN 0 AND 1),
        at REAL NOT NULL,
        by TEXT
    )""",
    "CREATE INDEX spots_plan ON spots(plan_id)",
    """CREATE VIEW plan_list AS
        SELECT id, name, mime, width, height, length(image) AS bytes,
               datetime(updated_at, 'unixepoch', 'localtime') AS updated, scale
        FROM plans ORDER BY id""",
)


def create_tables(conn: sqlite3.Connection) -> None:
    for statement in SCHEMA:
        conn.execute(statement)


def load_plans(conn: sqlite3.Connection) -> tuple[dict[int, Plan], dict[str, Spot]]:
    plans = {
        pid: Plan(id=pid, name=name, mime=mime, width=w, height=h, bytes=n, created_at=c, updated_at=u, scale=_scale(s))
        for pid, name, mime, w, h, n, c, u, s in conn.execute(
            "SELECT id, name, mime, width, height, length(image), created_at, updated_at, scale FROM plans"
        )
    }
    spots = {
        key: Spot(place=place, plan=pid, x=x, y=y, at=at)
        for key, place, pid, x, y, at in conn.execute("SELECT key, place, plan_id, x, y, at FROM spots")
    }
    return plans, spots


def _scale(text: str | None) -> Scale | None:
    if not text:
        return None
    try:
        return msgspec.json.decode(text, type=Scale)
    except msgspec.DecodeError:
        return None  # edited by hand into something else: the plan stands, without a scale


def encode_scale(scale: Scale | None) -> str | None:
    return None if scale is None else msgspec.json.encode(scale).decode()


# -- what people send ------------------------------------------------------------


def clean_fraction(value: object, what: str) -> float:
    """A spot's x or y: a number from 0 to 1 (a fraction of the plan's width or height)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BookInputError(f"{what} must be a number from 0 to 1 (a fraction of the plan), not {value!r}"[:200])
    if not 0 <= value <= 1:
        raise BookInputError(f"{what} is {value:g}: a spot is on the plan, from 0 to 1 across and down")
    return float(value)


def clean_plan_name(value: object) -> str:
    return clean_name(value, "the plan's name")


def clean_scale(value: object) -> Scale | None:
    """``{"ax", "ay", "bx", "by", "metres"}`` (null: no scale)."""
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"ax", "ay", "bx", "by", "metres"}:
        raise BookInputError("a scale is {\"ax\", \"ay\", \"bx\", \"by\", \"metres\"}: two points of the plan and the distance between them")
    points = {k: clean_fraction(value[k], f"the scale's {k}") for k in ("ax", "ay", "bx", "by")}
    metres = value["metres"]
    if isinstance(metres, bool) or not isinstance(metres, int | float) or not math.isfinite(metres) or metres <= 0:
        raise BookInputError("the scale's metres must be a distance greater than 0")
    if points["ax"] == points["bx"] and points["ay"] == points["by"]:
        raise BookInputError("the scale's two points are the same point: tap two points apart")
    return Scale(**points, metres=float(metres))


# -- a place's columns -----------------------------------------------------------

SPOT_COLUMNS = ("plan", "plan_name", "x", "y", "x_m", "y_m")


def spot_columns(place: str | None, spots: dict[str, Spot], plans: dict[int, Plan]) -> dict[str, Any]:
    """Where a place is, for its row of the places table, CSV and workbook:
    the plan, x and y as fractions, and in metres from the plan's top left
    corner where the plan has a scale (else None)."""
    spot = spots.get(place_key(place)) if place else None
    plan = None if spot is None else plans.get(spot.plan)
    if spot is None or plan is None:
        return dict.fromkeys(SPOT_COLUMNS)
    x_m = y_m = None
    if plan.scale is not None:
        per_px = plan.scale.metres_per_px(plan.width, plan.height)
        x_m, y_m = round(spot.x * plan.width * per_px, 2), round(spot.y * plan.height * per_px, 2)
    return {"plan": plan.id, "plan_name": plan.name, "x": spot.x, "y": spot.y, "x_m": x_m, "y_m": y_m}
