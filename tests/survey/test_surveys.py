"""Surveys over real sample logs: start, reopen, undo step by step,
restore, rename, the survey list, and what listeners hear."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest

from tests.support.logs import T_BIDIR, T_REVERSE, T_ROOM_101, T_TCP, T_UDP, by_time
from webperf3.survey import BookConflict, BookInputError, BookNotFound, result_id


def surveys_of(book, results):
    return [a.survey for a in book.view().annotate_all(results)]


# -- surveys ----------------------------------------------------------------------


def test_a_new_book_has_one_survey_holding_every_test(book, results):
    view = book.view()
    assert view.current.name == "First survey"
    assert surveys_of(book, results) == [view.current.id] * 5
    assert view.in_survey(results) == results


def test_a_new_survey_hides_earlier_tests_and_undoing_its_start_restores_them(book, results):
    first = book.view().current
    floor2 = book.start("Floor 2, before the new access point", at=T_BIDIR - 0.5)
    view = book.view()
    assert view.current == floor2
    assert [r.time for r in view.in_survey(results)] == [T_BIDIR, T_UDP, T_ROOM_101]
    assert [r.time for r in view.in_survey(results, first.id)] == [T_TCP, T_REVERSE]
    assert surveys_of(book, results) == [first.id, first.id, floor2.id, floor2.id, floor2.id]

    undone = book.undo_start(floor2.id)
    assert undone.undone and book.view().current == first
    assert book.view().in_survey(results) == results
    assert [s.name for s in book.view().survey_list(results)] == ["First survey"]  # undone: not listed
    assert [s.undone_at is not None for s in book.view().survey_list(results, include_undone=True)] == [False, True]

    book.restore(floor2.id)
    assert book.view().current.name == floor2.name
    assert [r.time for r in book.view().in_survey(results)] == [T_BIDIR, T_UDP, T_ROOM_101]


def test_undo_goes_back_step_by_step_to_the_first_survey(book, results):
    a = book.start("A", at=T_REVERSE)
    b = book.start("B", at=T_UDP)
    assert book.undo_last().id == b.id and book.view().current == a
    assert book.undo_last().id == a.id and book.view().current.name == "First survey"
    with pytest.raises(BookConflict, match="no survey start left to undo"):
        book.undo_last()
    assert book.view().in_survey(results) == results


def test_undoing_a_middle_survey_gives_its_tests_to_the_one_before(book, results):
    a = book.start("A", at=T_REVERSE)
    b = book.start("B", at=T_BIDIR)
    c = book.start("C", at=T_UDP)
    book.undo_start(b.id)
    assert surveys_of(book, results) == [1, a.id, a.id, c.id, c.id]


def test_the_first_survey_cannot_be_undone(book):
    with pytest.raises(BookConflict, match="'First survey' is the first survey"):
        book.undo_start(1)


def test_reopening_an_earlier_survey_takes_new_tests_and_leaves_those_between(book, results):
    a = book.start("A", at=T_REVERSE)
    b = book.start("B", at=T_BIDIR)
    assert book.reopen(a.id, at=T_UDP) == a
    view = book.view()
    assert view.current == a
    assert surveys_of(book, results) == [1, a.id, b.id, a.id, a.id]
    assert [s.spans for s in view.survey_list(results) if s.id == a.id] == [[(T_REVERSE, T_BIDIR), (T_UDP, None)]]
    book.reopen(a.id)  # already current: nothing happens
    assert book.version == view.version
    assert book.undo_last() == a  # undoes the reopening only
    assert book.view().current == b and not book.view().survey(a.id).undone


def test_a_survey_started_with_the_clock_behind_is_still_the_current_one(book):
    book.start("A", at=2000)
    b = book.start("B", at=1000)  # a Pi before NTP
    assert book.view().current == b


def test_rename_and_the_survey_list(book, results):
    book.edit(by_time(results, T_UDP), excluded=True)
    a = book.start("A", at=T_BIDIR)
    renamed = book.rename(a.id, "  Floor   2 ")
    assert renamed.name == "Floor 2"
    listed = book.view().survey_list(results)
    assert [(s.name, s.current, s.tests, s.excluded, s.places, s.first_test, s.last_test) for s in listed] == [
        ("First survey", False, 2, 0, 0, T_TCP, T_REVERSE),
        ("Floor 2", True, 3, 1, 1, T_BIDIR, T_ROOM_101),
    ]
    assert listed[0].spans == [(0, T_BIDIR)] and listed[1].spans == [(T_BIDIR, None)]


def test_a_survey_without_a_name_gets_one(book):
    assert book.start().name == "Survey 2"


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda b: b.start(""), BookInputError, "the survey's name is empty"),
        (lambda b: b.start("x" * 300), BookInputError, "at most 200"),
        (lambda b: b.start("A", at=-5), BookInputError, "seconds since the epoch"),
        (lambda b: b.start("A", at=float("nan")), BookInputError, "seconds since the epoch"),
        (lambda b: b.rename(99, "A"), BookNotFound, "there is no survey 99"),
        (lambda b: b.rename("1", "A"), BookInputError, "a survey id is a whole number"),
        (lambda b: b.reopen(42), BookNotFound, "there is no survey 42"),
        (lambda b: b.restore(1), BookConflict, "was not undone"),
        (lambda b: b.claim("not-an-ip", "Room"), BookInputError, "not an IP address"),
        (lambda b: b.claim("10.0.0.1", "  "), BookInputError, "the place is empty"),
        (lambda b: b.claim("10.0.0.1", 12), BookInputError, "the place must be text"),
        (lambda b: b.claim("10.0.0.1", "R", device=5), BookInputError, "the device id must be text"),
    ],
)
def test_bad_input_gets_a_clear_message_and_changes_nothing(book, log_dir, call, error, message):
    before = (book.version, book.view().surveys, len(book.view().claims))
    with pytest.raises(error, match=message):
        call(book)
    assert (book.version, book.view().surveys, len(book.view().claims)) == before
    with closing(sqlite3.connect(log_dir / "webperf3.sqlite3", isolation_level=None)) as conn:
        assert conn.execute("SELECT count(*) FROM surveys").fetchone()[0] == 1
        assert conn.execute("SELECT count(*) FROM claims").fetchone()[0] == 0


def test_undoing_an_undone_survey_or_reopening_it_is_refused(book):
    a = book.start("A", at=T_REVERSE)
    book.undo_start(a.id)
    with pytest.raises(BookConflict, match="already undone"):
        book.undo_start(a.id)
    with pytest.raises(BookConflict, match="restore it first"):
        book.reopen(a.id)


# -- change listeners ----------------------------------------------------------------


def test_listeners_hear_every_saved_change_in_order(book, results):
    heard = []
    book.subscribe(heard.append)
    a = book.start("A", at=T_REVERSE)
    book.rename(a.id, "B")
    book.claim("10.0.0.5", "Room 7", at=T_UDP, device="x")
    book.edit(results[0], excluded=True)
    book.reopen(1, at=T_UDP + 1)
    book.undo_last()
    book.undo_start(a.id)
    book.restore(a.id)
    with pytest.raises(BookInputError):
        book.start("")  # refused: not heard
    assert [(c.kind, c.version, c.current, c.everything) for c in heard] == [
        ("start", 1, a.id, True),
        ("rename", 2, a.id, False),
        ("claim", 3, a.id, False),
        ("edit", 4, a.id, False),
        ("reopen", 5, 1, True),
        ("undo", 6, a.id, True),
        ("undo", 7, 1, True),
        ("restore", 8, a.id, True),
    ]
    assert heard[1].survey.name == "B"
    assert (heard[2].address, heard[2].claim.place) == ("10.0.0.5", "Room 7")
    assert heard[3].ids == (result_id(results[0]),)
    assert heard[0].to_dict()["survey"]["name"] == "A"
    book.unsubscribe(heard.append)
    book.start("C")
    assert len(heard) == 8


def test_a_failing_listener_does_not_undo_the_change(book, caplog):
    book.subscribe(lambda change: 1 / 0)
    survey = book.start("A")
    assert book.view().current == survey and "listener failed" in caplog.text
