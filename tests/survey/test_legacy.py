"""The old clear marks (.webperf3-state.json) become surveys, once."""

from __future__ import annotations

import json

import pytest

from tests.support.logs import T_BIDIR, T_REVERSE, T_ROOM_101, T_TCP, T_UDP
from webperf3.survey import SurveyBook
from webperf3.survey.legacy import MIGRATED_NAME, STATE_FILE, clear_times


def old_clear(log_dir, ports, at):
    """What the old "Clear table" wrote: the marks after the clear, and the
    ones before it (what its Undo restored), ports as strings."""
    path = log_dir / STATE_FILE
    before = json.loads(path.read_text())["cleared_at"] if path.exists() else {}
    after = dict(before) | {str(port): at for port in ports}
    path.write_text(json.dumps({"cleared_at": after, "previous": before}, indent=1))


def _surveys(book, results):
    return [(s.name.startswith("Cleared"), s.current, s.tests) for s in book.view().survey_list(results)]


def test_each_clear_becomes_a_survey_started_then_and_the_file_is_kept_renamed(log_dir, results):
    old_clear(log_dir, [5201, 5202], at=T_REVERSE - 0.5)  # the old "Clear table", twice
    old_clear(log_dir, [5201, 5202, 5203], at=T_UDP - 0.5)
    content = (log_dir / STATE_FILE).read_bytes()

    with SurveyBook.open(log_dir) as book:
        assert _surveys(book, results) == [(False, False, 1), (True, False, 2), (True, True, 2)]
        assert [r.time for r in book.view().in_survey(results)] == [T_UDP, T_ROOM_101]
        book.undo_last()  # what the old Undo did
        assert [r.time for r in book.view().in_survey(results)] == [T_REVERSE, T_BIDIR, T_UDP, T_ROOM_101]

    assert not (log_dir / STATE_FILE).exists()
    assert (log_dir / MIGRATED_NAME).read_bytes() == content


def test_the_marks_are_migrated_only_once(log_dir, results):
    old_clear(log_dir, [5201], at=T_BIDIR)
    SurveyBook.open(log_dir).close()
    # The old code still running for a while writes a new state file: not migrated again.
    old_clear(log_dir, [5201], at=T_UDP)
    (log_dir / MIGRATED_NAME).unlink()
    with SurveyBook.open(log_dir) as book:
        assert len(book.view().surveys) == 2
    assert (log_dir / STATE_FILE).exists()


def test_no_state_file_means_one_survey(log_dir, results):
    with SurveyBook.open(log_dir) as book:
        assert _surveys(book, results) == [(False, True, 5)]


def test_an_unreadable_state_file_is_left_alone_with_a_warning(log_dir, caplog):
    (log_dir / STATE_FILE).write_text("{garbage")
    with SurveyBook.open(log_dir) as book:
        assert len(book.view().surveys) == 1
    assert "is unreadable" in caplog.text
    assert (log_dir / STATE_FILE).read_text() == "{garbage"


def test_a_taken_migrated_name_is_not_overwritten(log_dir):
    (log_dir / MIGRATED_NAME).write_text("older")
    old_clear(log_dir, [5201], at=T_TCP)
    SurveyBook.open(log_dir).close()
    assert (log_dir / MIGRATED_NAME).read_text() == "older"
    assert json.loads((log_dir / f"{MIGRATED_NAME}.1").read_text())["cleared_at"] == {"5201": T_TCP}


@pytest.mark.parametrize(
    ("state", "times"),
    [
        ({"cleared_at": {"5201": 20.0, "5202": 20.0}, "previous": {"5201": 10}}, (10.0, 20.0)),
        ({"cleared_at": {"5201": 20.0}, "previous": None}, (20.0,)),
        ({"cleared_at": {}}, ()),
        ({}, ()),
        ({"cleared_at": {"5201": float("inf"), "5202": 0}}, ()),
    ],
)
def test_clear_times(state, times):
    assert clear_times(state) == times


@pytest.mark.parametrize(
    ("state", "message"),
    [([], "not a JSON object"), ({"cleared_at": []}, "'cleared_at' is not an object"), ({"cleared_at": {"1": "x"}}, "holds 'x'")],
)
def test_clear_times_of_a_strange_file(state, message):
    with pytest.raises(ValueError, match=message):
        clear_times(state)


@pytest.mark.parametrize("mark", [1e300, 4102444800.0])  # no date at all; the year 2100
def test_a_mark_later_than_the_logs_and_the_clock_is_ignored_with_a_warning(log_dir, results, caplog, mark):
    old_clear(log_dir, [5201], at=T_BIDIR)
    old_clear(log_dir, [5202], at=mark)
    with SurveyBook.open(log_dir) as book:  # before: OverflowError, or a survey from 2100 hiding every test
        assert len(book.view().surveys) == 2  # the first survey and the one real clear
        assert [r.time for r in book.view().in_survey(results)] == [T_BIDIR, T_UDP, T_ROOM_101]
    assert "ignored a clear mark" in caplog.text
