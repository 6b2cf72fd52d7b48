"""No request gets a 500: every route of the dashboard, given the inputs a
hostile client on a shared network sends, answers with a status that says
what was wrong (4xx) or serves as usual — never a traceback. The cases: a
JSON body nested a thousand deep (msgspec's depth guard raises
RecursionError) and a 5,000-digit number in any query parameter (Python's
int() raises past 4,300 digits)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from webtest import TestApp

from tests.support.logs import install, sample
from tests.support.parts import app_of
from webperf3.store.results import ResultsStore
from webperf3.web.common import MAX_JSON_DEPTH, nested_deeper

HOST = "station.example:8080"
DEEP = b"[" * 1000 + b"]" * 1000
DEEP_OBJECT = b'{"name":' * 500 + b"1" + b"}" * 500
HUGE = "9" * 5000
#: Every query parameter any route reads (`param(` in webperf3/web, parse_query in board/listing.py).
PARAMETERS = ("port", "survey", "compare", "offset", "limit", "since", "until", "sort", "order", "client", "name", "by", "red", "amber", "failures", "undone", "place", "direction", "outcome", "unplaced", "group")


@pytest.fixture
def app(log_dir: Path) -> TestApp:
    install(log_dir, 5201, sample("extra_data"), sample("udp"))
    store = ResultsStore(log_dir)
    store.refresh()
    return TestApp(app_of(store, ports=lambda: [5201, 5202]), extra_environ={"HTTP_HOST": HOST}, lint=False)


def routes(app: TestApp) -> list[tuple[str, str]]:
    found = []
    for route in app.app.routes:
        # Fill path arguments with something that exists or is plainly wrong.
        path = re.sub(r"<[^>]*:int>", "1", route.rule)
        path = re.sub(r"<[^>]*>", "x", path)
        found.append((route.method, path))
    return found


def test_the_route_list_is_whole(app):
    # If this fails, a route was added or removed: the tests below cover what is found.
    methods = {m for m, _ in routes(app)}
    assert {"GET", "POST", "PATCH"} <= methods and len(routes(app)) >= 25


def test_a_body_nested_a_thousand_deep_is_a_400_on_every_route_that_takes_one(app):
    for method, path in routes(app):
        if method not in ("POST", "PATCH", "PUT"):
            continue
        for body in (DEEP, DEEP_OBJECT):
            answer = app.request(path, method=method, body=body, headers={"Content-Type": "application/json"}, expect_errors=True)
            assert answer.status_int < 500, (method, path, answer.status, answer.text[:300])
    # The same answer whatever the Python: msgspec's own guard stops at 1,000
    # levels on 3.11 and far deeper on 3.13 (Debian 13).
    just_over = b'{"name": ' + b"[" * MAX_JSON_DEPTH + b'"x"' + b"]" * MAX_JSON_DEPTH + b"}"
    deep_object = b'{"a":' * 300 + b"1" + b"}" * 300  # an object, so past the "must be an object" check
    for body in (DEEP, deep_object, just_over):
        answer = app.post("/api/place", body, headers={"Content-Type": "application/json"}, expect_errors=True)
        assert answer.status_int == 400 and "nested too deeply" in answer.json["error"], body[:40]
    # What the API does take nests far less: a plan's spots are three deep.
    assert not nested_deeper({"spots": [{"x": 1, "y": [2]}]}, MAX_JSON_DEPTH)


def test_a_five_thousand_digit_number_in_any_query_parameter_never_gets_a_500(app):
    for method, path in routes(app):
        if method != "GET":
            continue
        for name in PARAMETERS:
            answer = app.get(path, params={name: HUGE}, expect_errors=True)
            assert answer.status_int < 500, (path, name, answer.status, answer.text[:300])


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/history", "offset"), ("/api/history", "limit"), ("/api/history", "survey"), ("/api/history", "port"),
        ("/api/history/series", "survey"), ("/qr.svg", "port"), ("/api/results", "port"), ("/api/results.json", "port"),
    ],
)
def test_the_400_names_the_parameter_and_does_not_echo_all_of_it(app, path, name):
    answer = app.get(path, params={name: HUGE}, expect_errors=True)
    assert answer.status_int == 400, answer.text[:300]
    assert repr(name) in answer.text and len(answer.text) < 500
