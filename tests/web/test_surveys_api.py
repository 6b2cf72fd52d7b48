"""Surveys and places over the API, against real log entries: a place named
from a browser labels that address's next tests and nobody else's; the
client's --extra-data wins over it; an edit wins over both; a new survey
empties the table and undoing it restores it; everything survives a restart;
and every way in says what is wrong with a bad request."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from webtest import TestApp

from tests.support.logs import append_entry as append
from webperf3.store.results import ResultsStore
from tests.support.parts import app_of

HOST = "station.example:8080"
PHONE, LAPTOP = "192.168.1.77", "192.168.1.80"


def station(logs: Path, **kwargs) -> TestApp:
    return TestApp(app_of(ResultsStore(logs), ports=lambda: [5201, 5202], **kwargs), extra_environ={"HTTP_HOST": HOST})


def device(app: TestApp, address: str) -> TestApp:
    """The same station as seen from another address."""
    return TestApp(app.app, extra_environ={"HTTP_HOST": HOST, "REMOTE_ADDR": address})


def results(app: TestApp) -> list[dict]:
    return app.get("/api/results").json["results"]


def test_a_place_named_in_the_browser_labels_that_address_s_next_test_only(logs: Path) -> None:
    app = station(logs)
    append(logs, 5201, "tcp", client=PHONE, at=time.time() - 60)  # before naming: stays nameless
    saved = device(app, PHONE).post_json("/api/place", {"name": "Room 7"}).json
    assert saved["address"] == PHONE and saved["place"] == "Room 7" and saved["shared_address"] is None
    time.sleep(1.05)  # iperf3 logs whole seconds: the next test starts a second later
    now = float(int(time.time()))
    append(logs, 5201, "tcp", client=PHONE, at=now)
    append(logs, 5201, "reverse", client=PHONE, at=now + 1)  # an upload then a -R: one place, both figures
    append(logs, 5202, "tcp", client=LAPTOP, at=now)  # another address: not named by the phone
    found = results(app)
    by_client = {(r["client"], r["direction"], r["time"] >= now): r for r in found}
    assert by_client[(PHONE, "upload", False)]["place"] is None
    assert by_client[(PHONE, "upload", True)]["place"] == "Room 7"
    assert by_client[(PHONE, "upload", True)]["place_source"] == "browser"
    assert by_client[(PHONE, "download", True)]["place"] == "Room 7"
    assert by_client[(LAPTOP, "upload", True)]["place"] is None
    assert all(r["name"] is None for r in found)  # the raw --extra-data is kept, and there was none
    # The CSV's Name column is the place, and says where it came from.
    csv = app.get("/csv").text
    assert ",Room 7," in csv and "browser" in csv
    # The device's own view: its place, and the places of this survey.
    mine = device(app, PHONE).get("/api/device").json
    assert mine["place"] == "Room 7" and "Room 7" in mine["places"]
    assert device(app, LAPTOP).get("/api/device").json["place"] is None


def test_extra_data_wins_over_the_browser_and_an_edit_wins_over_both(logs: Path) -> None:
    app = station(logs)
    device(app, PHONE).post_json("/api/place", {"name": "Room 7"})
    time.sleep(1.05)
    append(logs, 5201, "tcp", client=PHONE, name="Lab", at=time.time())
    (test,) = results(app)
    assert (test["place"], test["place_source"], test["name"]) == ("Lab", "client", "Lab")
    edited = app.patch_json(f"/api/results/{test['id']}", {"place": "Lab 2"}).json["result"]
    assert (edited["place"], edited["place_source"], edited["name"]) == ("Lab 2", "edited", "Lab")
    assert results(app)[0]["place"] == "Lab 2"
    # null: back to the test's own place.
    app.patch_json(f"/api/results/{test['id']}", {"place": None})
    assert results(app)[0]["place"] == "Lab"


def test_an_excluded_test_leaves_the_table_but_not_the_exports(logs: Path) -> None:
    app = station(logs)
    append(logs, 5201, "tcp", name="Mistake", at=time.time() - 5)
    (test,) = results(app)
    app.patch_json(f"/api/results/{test['id']}", {"excluded": True})
    row = app.get("/api/latest").json["rows"][0]
    assert row["latest"] is None and row["excluded"] == 1 and row["tests"] == 0
    assert results(app)[0]["excluded"] is True
    assert "Mistake" in app.get("/csv").text


def test_a_new_survey_empties_the_table_and_undoing_it_restores_it_across_a_restart(logs: Path) -> None:
    app = station(logs)
    append(logs, 5201, "tcp", name="Before", at=time.time() - 30)
    started = app.post_json("/api/surveys", {"name": "Floor 2, after the new access point"}, status=201).json["survey"]
    latest = app.get("/api/latest").json
    assert latest["survey"]["name"] == "Floor 2, after the new access point" and latest["can_undo"] is True
    assert all(row["latest"] is None for row in latest["rows"])
    surveys = app.get("/api/surveys").json
    assert [s["name"] for s in surveys["surveys"]] == ["First survey", "Floor 2, after the new access point"]
    assert surveys["current"] == started["id"] and surveys["surveys"][0]["tests"] == 1
    app.patch_json(f"/api/surveys/{started['id']}", {"name": "Floor 2"})
    restarted = station(logs)  # the survey book lives beside the logs
    assert restarted.get("/api/latest").json["survey"]["name"] == "Floor 2"
    restarted.post("/api/surveys/undo")
    assert restarted.get("/api/latest").json["rows"][0]["latest"]["name"] == "Before"
    assert not (logs / "port-5201.json").read_bytes().count(b"Floor")  # nothing written to iperf3's logs


def test_reopening_an_earlier_survey_sends_new_tests_to_it(logs: Path) -> None:
    app = station(logs)
    first = app.get("/api/surveys").json["surveys"][0]["id"]
    app.post_json("/api/surveys", {"name": "Second"})
    app.post(f"/api/surveys/{first}/reopen")
    time.sleep(1.05)
    append(logs, 5201, "tcp", name="Back", at=time.time())
    assert results(app)[-1]["survey"] == first
    assert app.get("/api/latest").json["survey"]["id"] == first


def test_two_devices_behind_one_address_are_told(logs: Path) -> None:
    phone = device(station(logs), PHONE)
    phone.post_json("/api/place", {"name": "Room 7", "device": "aaaa1111"})
    other = phone.post_json("/api/place", {"name": "Room 9", "device": "bbbb2222"}).json
    assert "Room 7" in other["shared_address"] and "same router" in other["shared_address"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "says"),
    [
        ("post", "/api/place", {"name": 7}, 400, "'name' must be a string"),
        ("post", "/api/place", {"name": ""}, 400, "place"),
        ("post", "/api/place", {"name": "x" * 1000}, 400, "at most"),
        ("post", "/api/place", {"name": "Room \u001b[2J7"}, 400, "control characters"),
        ("post", "/api/place", [1, 2], 400, "JSON object"),
        ("post", "/api/surveys", {"name": 5}, 400, "'name' must be a string"),
        ("patch", "/api/surveys/999", {"name": "x"}, 404, "no survey 999"),
        ("patch", "/api/surveys/1", {}, 400, "'name' must be a string"),
        ("post", "/api/surveys/1/undo", None, 409, "first survey"),
        ("patch", "/api/results/nonsense", {"place": "x"}, 400, "not a test id"),
        ("patch", "/api/results/5201-abc", {"place": "x"}, 404, "no test"),
        ("patch", "/api/results/5201-abc", {"colour": "red"}, 400, "unknown field"),
        ("patch", "/api/results/5201-abc", {"excluded": "yes"}, 400, "true or false"),
        ("patch", "/api/results/5201-abc", {}, 400, "nothing to change"),
    ],
)
def test_each_bad_request_says_what_is_wrong_and_changes_nothing(logs: Path, method, path, body, status, says) -> None:
    app = device(station(logs), PHONE)
    before = app.get("/api/surveys").json
    if body is None:
        response = getattr(app, method)(path, status=status)
    else:
        response = getattr(app, f"{method}_json")(path, body, status=status)
    assert says in response.json["error"]
    assert app.get("/api/surveys").json == before
    assert app.get("/api/device").json["place"] is None


def test_a_body_that_is_not_json_or_too_big_is_refused(logs: Path) -> None:
    app = device(station(logs), PHONE)
    bad = app.post("/api/place", "{nope", content_type="application/json", status=400).json
    assert "not valid JSON" in bad["error"]
    big = app.post("/api/place", "x" * 20000, content_type="application/json", status=413).json
    assert "at most" in big["error"]
    # Not UTF-8: msgspec before 0.23 raised UnicodeDecodeError here, not DecodeError.
    latin1 = app.post("/api/place", b'{"name": "Caf\xe9"}', content_type="application/json", status=400).json
    assert "not valid JSON" in latin1["error"]
    assert app.get("/api/device").json["place"] is None


def test_changing_others_tests_needs_the_admin_token_but_naming_ones_own_place_does_not(logs: Path) -> None:
    append(logs, 5201, "tcp", at=time.time() - 5)
    app = device(station(logs, admin_token="s3cret"), PHONE)
    (test,) = results(app)
    app.post_json("/api/place", {"name": "Room 7"}, status=200)
    app.post_json("/api/surveys", {"name": "x"}, status=401)
    app.patch_json(f"/api/results/{test['id']}", {"excluded": True}, status=401)
    app.patch_json(f"/api/results/{test['id']}", {"excluded": True}, headers={"X-Admin-Token": "s3cret"}, status=200)


def test_another_site_cannot_name_a_visitor_s_place(logs: Path) -> None:
    app = device(station(logs), PHONE)
    app.post_json("/api/place", {"name": "Hacked"}, headers={"Origin": "http://evil.example"}, status=403)
    assert app.get("/api/device").json["place"] is None


def test_naming_places_in_a_loop_gets_a_429_that_says_when_to_try_again(logs):
    shared = station(logs)
    app = device(shared, "10.0.0.7")
    answers = [app.post_json("/api/place", {"name": f"Room {i}"}, expect_errors=True) for i in range(12)]
    assert [a.status_int for a in answers] == [200] * 10 + [429] * 2
    refused = answers[-1]
    assert "too many places named from 10.0.0.7" in refused.json["error"] and "try again in" in refused.json["error"]
    assert int(refused.headers["Retry-After"]) >= 1
    assert device(shared, "10.0.0.8").post_json("/api/place", {"name": "Hall"}).status_int == 200  # others are not held back
