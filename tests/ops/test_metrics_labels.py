"""The current survey's metrics, and text from the network as label values."""

from __future__ import annotations

import logging

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.logs import install, sample
from tests.support.prometheus import needs_prometheus, promtool
from webperf3.ops.labels import SurveyCounts
from webperf3.ops.metrics import build_registry, exposition
from webperf3.ops.labels import LABEL_VALUE_MAX, PLACE_LABELS_MAX, label_value
from webperf3.store.results import ResultsStore

NASTY = {
    'Room "101"': 3,  # quotes
    "C:\\lab\\": 1,  # backslashes, one at the end
    "Hall\nB": 2,  # a newline
    "Hall B": 5,  # the same once the newline is a space: still its own series
    "x" * 10_000: 4,  # 10 kB
    "x" * 10_000 + "y": 6,  # another 10 kB name with the same beginning
    "\ud800 lone surrogate": 1,  # not encodable as UTF-8
    "": 0,  # an empty label reads as no label at all
    "\x00\r\t\x1b[31m": 1,  # control characters, an escape sequence
    "Café ☕ 3.OG": 2,  # plain Unicode, kept as it is
}


@pytest.fixture
def store(log_dir) -> ResultsStore:
    install(log_dir, 5201, sample("tcp"))
    return ResultsStore(log_dir)


def families(store: ResultsStore, survey, place_labels: int = 0) -> dict[str, list]:
    """{family name: [(labels, value)]}, parsed from the text as Prometheus would."""
    body, _ = exposition(build_registry(store, survey=survey, place_labels=place_labels))
    return {
        family.name: [(s.labels, s.value) for s in family.samples]
        for family in text_string_to_metric_families(body.decode("utf-8"))
    }


def test_no_survey_no_series(store):
    for survey in (None, lambda: None):  # none wired in, or no current survey
        got = families(store, survey, place_labels=10)
        assert not any(name.startswith("webperf3_survey") for name in got)
        assert got["webperf3_tests"]  # a counter family, named without _total


def test_the_survey_in_brief(store):
    survey = SurveyCounts("Main building", {"Room 101": 3, "Room 102": 0, "Hall": 2}, tests=6)
    got = families(store, lambda: survey)
    assert got["webperf3_survey_info"] == [({"survey": "Main building"}, 1)]
    assert got["webperf3_survey_places"] == [({}, 3)]
    assert got["webperf3_survey_tests"] == [({}, 6)]
    # Place names are labels only when asked for.
    assert "webperf3_survey_place_tests" not in got and "webperf3_survey_places_unlabelled" not in got


def test_places_as_labels_in_survey_order(store):
    survey = SurveyCounts("S", {"Room 102": 1, "Room 101": 3, "Hall": 2}, tests=6)
    got = families(store, lambda: survey, place_labels=2)
    assert got["webperf3_survey_place_tests"] == [({"place": "Room 102"}, 1), ({"place": "Room 101"}, 3)]
    assert got["webperf3_survey_places_unlabelled"] == [({}, 1)]
    assert got["webperf3_survey_places"] == [({}, 3)]


def test_the_cap_holds_with_10000_distinct_names(store):
    survey = SurveyCounts("S", {f"place {i}": i for i in range(10_000)}, tests=10_000)
    got = families(store, lambda: survey, place_labels=50)
    assert [labels["place"] for labels, _ in got["webperf3_survey_place_tests"]] == [f"place {i}" for i in range(50)]
    assert got["webperf3_survey_places_unlabelled"] == [({}, 9_950)]
    # Asking for more than the hard cap gets the hard cap.
    got = families(store, lambda: survey, place_labels=1_000_000)
    assert len(got["webperf3_survey_place_tests"]) == PLACE_LABELS_MAX
    assert got["webperf3_survey_places_unlabelled"] == [({}, 10_000 - PLACE_LABELS_MAX)]


def test_nasty_names_give_valid_distinct_labels(store):
    survey = SurveyCounts('Floor 2 "east"\n' + "\\" * 5_000, NASTY, tests=25)
    body, _ = exposition(build_registry(store, survey=lambda: survey, place_labels=100))
    got = {family.name: family for family in text_string_to_metric_families(body.decode("utf-8"))}

    places = [(s.labels["place"], s.value) for s in got["webperf3_survey_place_tests"].samples]
    assert len(places) == len(NASTY) and len({label for label, _ in places}) == len(NASTY)
    assert [value for _, value in places] == list(NASTY.values())
    by_count = dict(zip(NASTY, (label for label, _ in places)))
    # Clean names stay as typed, quotes and backslashes included (the text format escapes them).
    for name in ('Room "101"', "C:\\lab\\", "Hall B", "Café ☕ 3.OG"):
        assert by_count[name] == name
    # Changed names say so: a tag with a hash of the whole name, never a clean name's value.
    for name in ("Hall\nB", "\ud800 lone surrogate", "", "\x00\r\t\x1b[31m", "x" * 10_000, "x" * 10_000 + "y"):
        label = by_count[name]
        assert label != name and "…#" in label and len(label) <= LABEL_VALUE_MAX, label
        assert not any(ord(c) < 32 or 127 <= ord(c) < 160 for c in label)
    assert by_count["Hall\nB"].startswith("Hall B…#")
    assert by_count["x" * 10_000].startswith("x" * 80)
    [(survey_labels, _)] = [(s.labels, s.value) for s in got["webperf3_survey_info"].samples]
    assert survey_labels["survey"].startswith('Floor 2 "east" \\\\\\') and len(survey_labels["survey"]) == LABEL_VALUE_MAX
    # The help texts say what was done to the names.
    assert "cut short" in got["webperf3_survey_place_tests"].documentation
    assert "first 100 places" in got["webperf3_survey_place_tests"].documentation


@needs_prometheus
def test_nasty_names_pass_promtool(store):
    survey = SurveyCounts("Survey\n\"2\"\\", NASTY, tests=25)
    body, _ = exposition(build_registry(store, survey=lambda: survey, place_labels=100))
    checked = promtool("check", "metrics", stdin=body)
    assert (checked.returncode, checked.stdout + checked.stderr) == (0, "")


def test_label_value():
    assert label_value("Room 101") == "Room 101"
    assert label_value("Room 101", tagged=True) != label_value("Room 101")
    assert label_value("a" * LABEL_VALUE_MAX) == "a" * LABEL_VALUE_MAX
    assert len(label_value("a" * (LABEL_VALUE_MAX + 1))) == LABEL_VALUE_MAX
    assert label_value("same") == label_value("same")  # stable from scrape to scrape: one series


def test_a_failing_survey_leaves_out_only_its_metrics(store, caplog):
    def broken() -> SurveyCounts:
        raise RuntimeError("the survey book is locked")

    with caplog.at_level(logging.WARNING, logger="webperf3.metrics"):
        got = families(store, broken, place_labels=10)
    assert not any(name.startswith("webperf3_survey") for name in got)
    assert got["webperf3_tests"]  # a counter family, named without _total
    assert "cannot get the survey metrics" in caplog.text and "locked" in caplog.text
