"""A test that failed: its own direction, name and cookie, and how long it ran."""

from __future__ import annotations

import json

import pytest

from tests.support.samples import first_object, path_of, written_tests
from webperf3.iperf3.reader.entries import parse_entry
from webperf3.iperf3.reader.logs import LogReader


def only(version: str, kind: str):
    (result,) = LogReader(path_of(version, kind), 5201).read().results
    return result



# -- direction -------------------------------------------------------------------


def test_bidir_killed_on_312_is_bidirectional():
    # 3.12 writes no test_start.bidir and, the client gone, no `end` streams:
    # only the four data connections (two streams, both ways) tell.
    (written,) = written_tests(path_of("3.12", "bidir_killed"))
    assert "bidir" not in written["start"]["test_start"] and written["end"] == {}
    assert written["start"]["test_start"]["num_streams"] == 2 and len(written["start"]["connected"]) == 4
    r = only("3.12", "bidir_killed")
    assert r.direction == "bidirectional" and r.name == "bidir killed" and not r.ok


@pytest.mark.parametrize("version", ["3.9", "3.12", "3.18", "3.21"])
def test_killed_upload_stays_an_upload(version):
    assert only(version, "client_killed").direction == "upload"


# -- duration --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "kind", "ran"),
    [
        ("3.12", "client_killed", 1.000009),  # killed after 1.5 s: its one interval
        ("3.12", "client_sigint", 1.000006),
        ("3.9", "client_killed", 2.000881),  # killed after 2.5 s: two intervals
        ("3.18", "bidir_killed", 2.11704),
        ("3.21", "client_sigint", 2.07133),
        ("3.12", "server_stopped", 2.488406),  # stopped after 2.5 s: a last, partial interval
    ],
)
def test_failure_lasts_what_its_intervals_cover_not_what_was_asked(version, kind, ran):
    r = only(version, kind)
    assert r.duration == ran
    (written,) = written_tests(path_of(version, kind))
    assert written["start"]["test_start"]["duration"] == 5
    assert r.end_time == r.time + ran


def test_failure_before_any_interval_has_no_duration():
    raw = first_object("3.12", "client_killed")
    cut, resume = raw.index(b'\n\t"intervals":'), raw.index(b'\n\t"end":')
    raw = raw[:cut] + b'\n\t"intervals":\t[],' + raw[resume:]
    r = parse_entry(raw, 5201)
    assert r.error is not None and r.duration is None  # unknown, not the 5 s asked for


def test_failure_in_another_layout_keeps_what_end_says():
    # Re-serialised (not cJSON's layout) the intervals cannot be cut out
    # cheaply: the duration then comes from the `end` sums, or is unknown.
    sigint = json.loads(first_object("3.21", "client_sigint"))
    assert parse_entry(json.dumps(sigint).encode(), 5201).duration == sigint["end"]["sum_received"]["seconds"]
    killed = json.loads(first_object("3.21", "client_killed"))
    assert parse_entry(json.dumps(killed).encode(), 5201).duration is None

