"""Floor plans and spots over the API: a plan uploaded is listed and served
as it was sent, with headers that let nothing run in it; every bad upload is
refused with its reason and keeps nothing; a device puts its own place on a
plan, an admin moves anyone's; the places carry their plan, x and y (and
metres with a scale); removing a plan loses no test; a restart keeps it all."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from webtest import TestApp

from tests.support import images
from tests.support.logs import append_entry as append
from tests.support.parts import app_of
from webperf3.store.results import ResultsStore
from webperf3.survey.images import MAX_PLAN_BYTES

HOST = "station.example:8080"
PHONE, LAPTOP = "192.168.1.77", "192.168.1.80"


def station(logs: Path, **kwargs) -> TestApp:
    return TestApp(app_of(ResultsStore(logs), ports=lambda: [5201, 5202], **kwargs), extra_environ={"HTTP_HOST": HOST})


def device(app: TestApp, address: str) -> TestApp:
    return TestApp(app.app, extra_environ={"HTTP_HOST": HOST, "REMOTE_ADDR": address})


def upload(app: TestApp, data: bytes, name: str = "Ground floor", content_type: str = "image/png", status: int | str = 201, **headers: str):
    return app.post(f"/api/plans?name={name}", data, headers={"Content-Type": content_type, **headers}, status=status)


def test_a_plan_uploaded_is_listed_and_served_as_sent(logs: Path) -> None:
    app = station(logs)
    picture = images.png(400, 300)
    made = upload(app, picture).json
    assert {k: made[k] for k in ("name", "width", "height")} == {"name": "Ground floor", "width": 400, "height": 300}
    listed = app.get("/api/plans").json["plans"]
    assert [(p["id"], p["name"], p["mime"], p["bytes"]) for p in listed] == [(made["id"], "Ground floor", "image/png", len(picture))]
    served = app.get(f"/api/plans/{made['id']}/image")
    assert served.body == picture and served.content_type == "image/png"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'none'" in served.headers["Content-Security-Policy"] and "sandbox" in served.headers["Content-Security-Policy"]
    # A photo from a phone held upright: as wide as it is shown.
    photo = upload(app, images.jpeg(4000, 3000, 6), "Lift lobby", "image/jpeg").json
    assert (photo["width"], photo["height"]) == (3000, 4000)
    # What the bytes are decides, whatever the Content-Type says.
    assert upload(app, images.webp_lossy(800, 600), "Roof", "application/octet-stream").json["plan"]["mime"] == "image/webp"


@pytest.mark.parametrize(
    "data, content_type, status, says",
    [
        (images.SVG, "image/svg+xml", 415, "SVG and other markup are refused (they can carry scripts)"),
        (images.SVG, "image/png", 415, "SVG and other markup are refused"),
        (b"just some text", "image/png", 415, "this is not a PNG, JPEG or WebP image"),
        (images.png(100, 100)[:25], "image/png", 400, "the PNG is cut short"),
        (images.png_header(100_000, 100_000), "image/png", 400, "at most 50 megapixels"),
        (b"", "image/png", 400, "the request has no body"),
    ],
)
def test_a_bad_upload_is_refused_with_its_reason_and_keeps_nothing(logs: Path, data: bytes, content_type: str, status: int, says: str) -> None:
    app = station(logs)
    refused = upload(app, data, content_type=content_type, status=status).json
    assert says in refused["error"] and refused["status"] == status
    assert app.get("/api/plans").json["plans"] == []
    assert app.get("/api/plans/1/image", status=404).json["error"] == "there is no plan 1"


def test_a_plan_over_the_size_cap_is_refused_from_its_length(logs: Path) -> None:
    app = station(logs)
    big = images.png(10, 10) + b"\x00" * (MAX_PLAN_BYTES)
    refused = upload(app, big, status=413).json
    assert "at most 20 MB are kept" in refused["error"]
    assert app.get("/api/plans").json["plans"] == []


def test_a_plan_needs_a_name(logs: Path) -> None:
    app = station(logs)
    assert "give the plan a name" in app.post("/api/plans", images.png(10, 10), headers={"Content-Type": "image/png"}, status=400).json["error"]


def test_plans_are_admin_s_but_a_device_places_itself(logs: Path) -> None:
    app = station(logs, admin_token="s3cret")
    token = {"X-Admin-Token": "s3cret"}
    assert upload(app, images.png(10, 10), status=401).json["status"] == 401
    plan = upload(app, images.png(100, 50), **token).json
    # Another site's page cannot move anyone's spot, nor add plans.
    app.put_json("/api/places/spot", {"name": "Room 7", "plan": plan["id"], "x": 0.5, "y": 0.5}, headers={**token, "Origin": "http://evil.example"}, status=403)
    app.put_json("/api/places/spot", {"name": "Room 7", "plan": plan["id"], "x": 0.5, "y": 0.5}, status=401)
    app.delete(f"/api/plans/{plan['id']}", status=401)
    app.patch_json(f"/api/plans/{plan['id']}", {"name": "x"}, status=401)
    # A device names its place and puts it on the plan: no token.
    placed = device(app, PHONE).post_json("/api/place", {"name": "Room 7", "plan": plan["id"], "x": 0.25, "y": 0.75}).json
    assert placed["place"] == "Room 7" and placed["spot"] == {**placed["spot"], "plan": plan["id"], "x": 0.25, "y": 0.75}
    assert app.get("/api/plans").json["spots"] == [{**placed["spot"], "place": "Room 7"}]


@pytest.mark.parametrize(
    "body, says",
    [
        ({"name": "Room 7", "plan": 1, "x": 1.5, "y": 0.5}, "x is 1.5: a spot is on the plan, from 0 to 1"),
        ({"name": "Room 7", "plan": 1, "x": "left", "y": 0.5}, "x must be a number from 0 to 1"),
        ({"name": "Room 7", "plan": 1, "x": 0.5}, "a spot on a plan needs 'plan', 'x' and 'y'"),
        ({"name": None, "plan": 1, "x": 0.5, "y": 0.5}, "a spot on a plan is a place's: give the place a name"),
        ({"name": "Room 7", "plan": 9, "x": 0.5, "y": 0.5}, "there is no plan 9"),
        ({"name": "Room 7", "plan": "1", "x": 0.5, "y": 0.5}, "a plan id is a whole number"),
    ],
)
def test_a_bad_spot_is_refused_and_names_nothing(logs: Path, body: dict, says: str) -> None:
    app = station(logs)
    upload(app, images.png(100, 50))
    refused = device(app, PHONE).post_json("/api/place", body, status="4*").json
    assert says in refused["error"]
    assert device(app, PHONE).get("/api/device").json["place"] is None
    assert app.get("/api/plans").json["spots"] == []


def test_places_carry_their_spot_and_metres_and_survive_a_plan_s_removal_and_a_restart(logs: Path) -> None:
    app = station(logs)
    plan = upload(app, images.png(1000, 500)).json
    device(app, PHONE).post_json("/api/place", {"name": "Room 7", "plan": plan["id"], "x": 0.5, "y": 0.2})
    time.sleep(1.05)
    now = float(int(time.time()))
    append(logs, 5201, "tcp", client=PHONE, at=now)
    append(logs, 5202, "tcp", client=LAPTOP, at=now, name="Kitchen")
    # A laptop's --extra-data place, put on the plan afterwards (lower case: the same place).
    app.put_json("/api/places/spot", {"name": "kitchen", "plan": plan["id"], "x": 0.1, "y": 0.9})
    # A scale: 0..1 across is 20 m (1000 px), so 1 px is 2 cm.
    app.patch_json(f"/api/plans/{plan['id']}", {"scale": {"ax": 0, "ay": 0.5, "bx": 1, "by": 0.5, "metres": 20}})
    rows = {r["place"]: r for r in app.get("/api/places").json["places"]}
    assert {k: rows["Room 7"][k] for k in ("plan", "plan_name", "x", "y", "x_m", "y_m")} == {
        "plan": plan["id"], "plan_name": "Ground floor", "x": 0.5, "y": 0.2, "x_m": 10.0, "y_m": 2.0,
    }
    assert (rows["Kitchen"]["x"], rows["Kitchen"]["y"], rows["Kitchen"]["x_m"]) == (0.1, 0.9, 2.0)
    # A restart keeps the plan, its picture, its scale and the spots.
    again = station(logs)
    assert again.get(f"/api/plans/{plan['id']}/image").body == images.png(1000, 500)
    assert again.get("/api/plans").json["plans"][0]["scale"]["metres"] == 20
    assert {r["place"]: r["x"] for r in again.get("/api/places").json["places"]} == {"Room 7": 0.5, "Kitchen": 0.1}
    # Removing the plan loses no test, and no place: only where they were.
    again.delete(f"/api/plans/{plan['id']}")
    rows = {r["place"]: r for r in again.get("/api/places").json["places"]}
    assert set(rows) == {"Room 7", "Kitchen"} and rows["Room 7"]["plan"] is None and rows["Room 7"]["tests"] == 1
    assert again.get("/api/plans").json == {"plans": [], "spots": []}


def test_a_plan_is_renamed_replaced_and_a_spot_moved_and_cleared(logs: Path) -> None:
    app = station(logs)
    plan = upload(app, images.png(100, 100)).json
    assert app.patch_json(f"/api/plans/{plan['id']}", {"name": "Floor 1"}).json["plan"]["name"] == "Floor 1"
    app.put_json("/api/places/spot", {"name": "Room 7", "plan": plan["id"], "x": 0.1, "y": 0.1})
    replaced = app.put(f"/api/plans/{plan['id']}/image", images.png(200, 100), headers={"Content-Type": "image/png"}).json
    assert (replaced["width"], replaced["name"]) == (200, "Floor 1")
    assert app.get(f"/api/plans/{plan['id']}/image").body == images.png(200, 100)
    # A replacement refused keeps the plan it would have replaced.
    app.put(f"/api/plans/{plan['id']}/image", images.SVG, headers={"Content-Type": "image/svg+xml"}, status=415)
    assert app.get(f"/api/plans/{plan['id']}/image").body == images.png(200, 100)
    app.put_json("/api/places/spot", {"name": "Room 7", "plan": plan["id"], "x": 0.9, "y": 0.2})
    assert app.get("/api/plans").json["spots"][0]["x"] == 0.9
    app.delete_json("/api/places/spot", {"name": "room 7"})
    assert app.get("/api/plans").json["spots"] == []
    assert "is on no plan" in app.delete_json("/api/places/spot", {"name": "room 7"}, status=404).json["error"]


def test_a_device_cannot_move_a_place_someone_else_put_on_the_plan(logs: Path) -> None:
    app = station(logs, admin_token="s3cret")
    plan = upload(app, images.png(100, 100), **{"X-Admin-Token": "s3cret"}).json
    device(app, LAPTOP).post_json("/api/place", {"name": "Room 7", "plan": plan["id"], "x": 0.1, "y": 0.1})
    # The phone stands in Room 7 too: it is named there, and the spot stays where it was.
    answer = device(app, PHONE).post_json("/api/place", {"name": "room 7", "plan": plan["id"], "x": 0.9, "y": 0.9}).json
    assert answer["place"] == "room 7" and (answer["spot"]["x"], answer["spot"]["y"]) == (0.1, 0.1)
    assert [(s["x"], s["y"]) for s in app.get("/api/plans").json["spots"]] == [(0.1, 0.1)]


def test_the_places_csv_and_the_workbook_say_where_each_place_is(logs: Path) -> None:
    import csv
    import io

    import openpyxl

    app = station(logs)
    plan = upload(app, images.png(1000, 500)).json
    append(logs, 5202, "tcp", client=LAPTOP, at=time.time() - 5, name="Kitchen")
    append(logs, 5201, "tcp", client=PHONE, at=time.time() - 5, name="Hall")
    app.put_json("/api/places/spot", {"name": "Kitchen", "plan": plan["id"], "x": 0.1, "y": 0.9})
    app.patch_json(f"/api/plans/{plan['id']}", {"scale": {"ax": 0, "ay": 0, "bx": 1, "by": 0, "metres": 50}})
    rows = {r["Place"]: r for r in csv.DictReader(io.StringIO(app.get("/csv?by=place").text))}
    assert (rows["Kitchen"]["Plan"], rows["Kitchen"]["X (fraction of the plan)"], rows["Kitchen"]["Y (m)"]) == ("Ground floor", "0.1", "22.5")
    assert rows["Hall"]["Plan"] == "" and rows["Hall"]["X (m)"] == ""
    book = openpyxl.load_workbook(io.BytesIO(app.get("/xlsx").body), read_only=True)
    sheet = list(book["Places on plans"].iter_rows(values_only=True))
    assert sheet == [("Place", "Plan", "X (fraction of the plan)", "Y (fraction of the plan)", "X (m)", "Y (m)"), ("Kitchen", "Ground floor", 0.1, 0.9, 5.0, 22.5)]
