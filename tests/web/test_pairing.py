"""Pairing instead of typing a token: an unpaired device's admin action is
refused with a message saying how to pair; the pairing code, shown only to
the station itself, pairs the browser that opens it (once); a paired device
may then change the survey, until it is revoked; another site's request is
refused cookie or not; ``--open`` restores what anyone could do before."""

from __future__ import annotations

import logging
import stat
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from webtest import TestApp

from tests.support.logs import append_entry as append
from tests.support.parts import app_of
from webperf3.store.results import ResultsStore
from webperf3.survey import SurveyBook
from webperf3.survey.pairing import COOKIE, SECRET_NAME, make_code

HOST = "station.example:8080"
PHONE, OTHER_PHONE = "192.168.1.77", "192.168.1.78"
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"


def station(logs: Path, **kwargs) -> TestApp:
    kwargs.setdefault("open", False)
    return TestApp(app_of(ResultsStore(logs), ports=lambda: [5201], **kwargs), extra_environ={"HTTP_HOST": HOST, "REMOTE_ADDR": "127.0.0.1"})


def seen_from(app: TestApp, address: str) -> TestApp:
    """The same station from another device (a cookie jar of its own)."""
    return TestApp(app.app, extra_environ={"HTTP_HOST": HOST, "REMOTE_ADDR": address, "HTTP_USER_AGENT": IPHONE})


def pairing_url(app: TestApp) -> str:
    """What the station's own screen shows (asked from 127.0.0.1)."""
    return app.get("/api/pairing").json["url"]


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_an_unpaired_phone_is_told_how_to_pair_then_pairs_acts_and_is_revoked(logs: Path) -> None:
    append(logs, 5201, "tcp", client=PHONE, at=time.time() - 5)
    app = station(logs)
    phone = seen_from(app, PHONE)
    (test,) = phone.get("/api/results").json["results"]

    refused = phone.post_json("/api/surveys", {"name": "Floor 2"}, status=403).json
    assert refused["pair"] is True and "paired device" in refused["error"] and "webperf3 pair" in refused["error"]
    phone.patch_json(f"/api/results/{test['id']}", {"excluded": True}, status=403)
    # What concerns only the device itself stays open.
    phone.post_json("/api/place", {"name": "Room 7"}, status=200)

    assert phone.get("/api/config").json["paired"] is False
    url = pairing_url(app)
    assert url.startswith("http://station.example:8080/pair?code=")
    paired = phone.get(path_of(url), status=200)
    assert "iPhone, Safari" in paired.text
    cookie = paired.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "samesite=strict" in cookie.lower() and "Max-Age=" in cookie
    token = cookie.split(";")[0].split("=", 1)[1]

    assert phone.get("/api/config").json["paired"] is True
    assert phone.post_json("/api/surveys", {"name": "Floor 2"}, status=201).json["survey"]["name"] == "Floor 2"
    phone.post_json("/api/surveys/undo", status=200)
    phone.patch_json(f"/api/results/{test['id']}", {"excluded": True}, status=200)

    # The code was good once: another phone opening it is not paired.
    other = seen_from(app, OTHER_PHONE)
    again = other.get(path_of(url), status=403)
    assert "used already" in again.text and COOKIE not in again.headers.get("Set-Cookie", "")
    other.post_json("/api/surveys", {"name": "Mine"}, status=403)

    # The book keeps a hash, with when, where and what: never the token.
    book = SurveyBook.open(logs)
    try:
        (device,) = book.paired_devices()
        assert (device.address, device.description) == (PHONE, "iPhone, Safari")
        assert token not in (logs / "webperf3.sqlite3").read_bytes().decode("latin-1")
        assert book.revoke_devices(device.id) == 1  # as `webperf3 pair --revoke` does, from another connection
    finally:
        book.close()
    revoked = phone.post_json("/api/surveys", {"name": "Floor 3"}, status=403).json
    assert "revoked" in revoked["error"] and revoked["pair"] is True


def test_another_site_s_request_is_refused_even_with_a_paired_cookie(logs: Path) -> None:
    app = station(logs)
    phone = seen_from(app, PHONE)
    phone.get(path_of(pairing_url(app)), status=200)
    for header in ({"Origin": "http://evil.example"}, {"Referer": "http://evil.example/page"}, {"Origin": "null"}):
        refused = phone.post_json("/api/surveys", {"name": "Hacked"}, headers=header, status=403).json
        assert "another site" in refused["error"]
    assert phone.post_json("/api/surveys", {"name": "Mine"}, headers={"Origin": f"http://{HOST}"}, status=201)


def test_the_pairing_code_is_shown_only_to_the_station_itself(logs: Path) -> None:
    app = station(logs, addresses=lambda: ["192.168.1.10"])
    remote = seen_from(app, PHONE)
    assert "station's own screen" in remote.get("/api/pairing", status=403).json["error"]
    remote.get("/pair.svg", status=403)
    # The screen on the station's display reaches it by 127.0.0.1, which a
    # phone cannot: the code names the station's network address.
    local = TestApp(app.app, extra_environ={"HTTP_HOST": "127.0.0.1:8080", "REMOTE_ADDR": "::1"})
    url = local.get("/api/pairing").json["url"]
    assert url.startswith("http://192.168.1.10:8080/pair?code=")
    assert local.get("/api/pairing").json["url"] == url  # the same code until it is used
    assert local.get("/pair.svg").content_type == "image/svg+xml"
    remote.get(path_of(url), status=200)
    assert local.get("/api/pairing").json["url"] != url  # used: the screen shows a new one


@pytest.mark.parametrize(
    ("code", "why"),
    [
        ("nonsense", "not a pairing code"),
        ("ffffffff.abcdefgh.AAAAAAAAAAAAAAAA", "not a pairing code"),
    ],
)
def test_a_bad_code_pairs_nobody_and_says_why(logs: Path, code: str, why: str) -> None:
    phone = seen_from(station(logs), PHONE)
    answer = phone.get(f"/pair?code={code}", status=403)
    assert why in answer.text and "webperf3 pair" in answer.text and "Set-Cookie" not in answer.headers


def test_an_expired_code_or_another_station_s_code_pairs_nobody(logs: Path) -> None:
    app = station(logs)
    secret = (logs / SECRET_NAME).read_text().strip()
    phone = seen_from(app, PHONE)
    assert "expired" in phone.get(f"/pair?code={make_code(secret, time.time() - 3600, ttl=600)}", status=403).text
    assert "not a pairing code" in phone.get(f"/pair?code={make_code('another station secret', time.time())}", status=403).text
    phone.get(f"/pair?code={make_code(secret, time.time())}", status=200)  # what `webperf3 pair` makes


def test_the_secret_is_private_kept_across_starts_and_never_logged(logs: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    app = station(logs)
    path = logs / SECRET_NAME
    secret = path.read_text().strip()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(secret) >= 32
    seen_from(app, PHONE).get(path_of(pairing_url(app)), status=200)
    path.chmod(0o644)  # copied with the logs, say: readable by others
    station(logs)
    assert path.read_text().strip() == secret
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and "made private again" in caplog.text
    assert secret not in caplog.text
    # A script on the station may give the secret as the admin token.
    app.post_json("/api/surveys", {"name": "Scripted"}, headers={"X-Admin-Token": secret}, status=201)
    app.post_json("/api/surveys", {"name": "Guessed"}, headers={"X-Admin-Token": "guess"}, status=403)


def test_open_restores_what_anyone_could_do_and_a_token_still_works_for_scripts(logs: Path) -> None:
    seen_from(station(logs, open=True), PHONE).post_json("/api/surveys", {"name": "Anyone"}, status=201)
    scripted = seen_from(station(logs, admin_token="s3cret"), PHONE)
    assert "paired device" in scripted.post_json("/api/surveys", {"name": "x"}, status=401).json["error"]
    scripted.post_json("/api/surveys", {"name": "Script"}, headers={"X-Admin-Token": "s3cret"}, status=201)
    # With a token, a paired phone needs none.
    scripted.get(path_of(pairing_url(station(logs, admin_token="s3cret"))), status=200)
    scripted.post_json("/api/surveys", {"name": "Phone"}, status=201)


def test_the_station_screen_offers_the_pairing_code_only_on_the_station_itself(logs: Path) -> None:
    app = station(logs)
    local = TestApp(app.app, extra_environ={"HTTP_HOST": "127.0.0.1:8080", "REMOTE_ADDR": "127.0.0.1"})
    assert '<meta name="webperf3-pairing" content="1">' in local.get("/screen").text
    remote = seen_from(app, PHONE).get("/screen").text
    assert '<meta name="webperf3-pairing" content="">' in remote and "pair?code=" not in remote
    # Nothing on it changes anything.
    assert "<button" not in remote and "<form" not in remote and "<input" not in remote


def test_a_station_that_cannot_keep_a_secret_says_how_to_open_it_instead(logs: Path) -> None:
    phone = seen_from(station(logs, secret=lambda: None), PHONE)
    refused = phone.post_json("/api/surveys", {"name": "x"}, status=403).json
    assert "cannot pair devices" in refused["error"] and "--open" in refused["error"]
    assert "Pairing is off" in phone.get(f"/pair?code={make_code('whatever secret', time.time())}", status=503).text
