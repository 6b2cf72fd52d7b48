"""The survey book over real sample logs: surveys, places named from the
browser, edits, and what a restart keeps."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import closing

import msgspec
import pytest

from tests.survey.conftest import T_BIDIR, T_REVERSE, T_ROOM_101, T_TCP, T_UDP, by_time, read_store
from webperf3.survey import (
    KEEP,
    BookConflict,
    BookInputError,
    BookNotFound,
    BookWriteError,
    PortLatest,
    SurveyBook,
    result_id,
)


def places(book, results):
    return [(a.place, a.place_source) for a in book.view().annotate_all(results)]


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


# -- places named from the browser -------------------------------------------------


def test_a_claim_names_that_address_s_next_test_and_not_another_address_s(book, results):
    tcp = by_time(results, T_TCP)
    elsewhere = msgspec.structs.replace(by_time(results, T_REVERSE), client="10.0.0.9")
    book.claim("127.0.0.1", "Room 7", at=T_TCP - 30)
    assert places(book, [tcp, elsewhere]) == [("Room 7", "browser"), (None, None)]


def test_a_claim_names_only_tests_that_start_after_it(book, results):
    book.claim("127.0.0.1", "Room 7", at=T_BIDIR + 0.9)  # same second as the bidir test: it came after
    assert places(book, results)[:4] == [(None, None), (None, None), ("Room 7", "browser"), ("Room 7", "browser")]


def test_the_next_claim_of_the_address_takes_over(book, results):
    book.claim("127.0.0.1", "Room 7", at=T_TCP)
    book.claim("127.0.0.1", "Hall", at=T_BIDIR)
    book.claim("127.0.0.1", None, at=T_UDP)  # stops naming
    assert [p for p, _ in places(book, results)[:4]] == ["Room 7", "Room 7", "Hall", None]


def test_extra_data_wins_over_a_claim_and_an_edit_wins_over_both(book, results):
    room101 = by_time(results, T_ROOM_101)
    book.claim("127.0.0.1", "Room 7", at=T_TCP)
    assert places(book, [room101]) == [("Room 101", "client")]
    book.edit(room101, place="Lab 3")
    assert places(book, [room101]) == [("Lab 3", "edited")]
    assert room101.name == "Room 101"  # the raw --extra-data stays in the result
    book.edit(room101, place=None)  # back to its own
    assert places(book, [room101]) == [("Room 101", "client")]


def test_a_new_survey_ends_every_claim(book, results):
    book.claim("127.0.0.1", "Room 7", at=T_TCP)
    book.start("Floor 2", at=T_BIDIR)
    assert [p for p, _ in places(book, results)[:4]] == ["Room 7", "Room 7", None, None]
    assert book.view().claim_of("127.0.0.1", T_UDP) is None
    book.undo_last()
    assert book.view().claim_of("127.0.0.1", T_UDP).place == "Room 7"


def test_a_claim_from_an_ipv4_mapped_address_names_the_ipv4_client(book, results):
    outcome = book.claim("::ffff:127.0.0.1", "Room 7", at=T_TCP)
    assert outcome.claim.address == "127.0.0.1"
    assert places(book, results[:1]) == [("Room 7", "browser")]


def test_two_devices_behind_one_address_are_told(book):
    first = book.claim("10.0.0.5", "Room 7", at=1000, device="phone-a", user_agent="iPhone")
    assert first.conflicts == ()
    second = book.claim("10.0.0.5", "Room 9", at=1060, device="phone-b", user_agent="Pixel")
    assert [(c.device, c.place) for c in second.conflicts] == [("phone-a", "Room 7"), ("phone-b", "Room 9")]
    assert book.view().conflicts("10.0.0.5", 1100) == second.conflicts
    assert book.view().conflicts("10.0.0.5", 1060 + 400) == ()  # long after: no more


# -- edits ------------------------------------------------------------------------------


def test_an_excluded_test_leaves_the_places_but_not_the_logs(book, store, results, log_dir):
    udp = by_time(results, T_UDP)
    book.claim("127.0.0.1", "Room 7", at=T_TCP)
    book.edit(udp, place="Cellar")
    edit = book.edit(udp, excluded=True)
    assert (edit.place, edit.excluded) == ("Cellar", True)  # the place is kept
    note = book.view().annotate(udp)
    assert note.excluded and note.place == "Cellar"
    assert "Cellar" not in book.view().places(results)
    assert len(store.results()) == 5
    book.edit(udp, excluded=False)
    assert not book.view().annotate(udp).excluded and book.view().places(results)[0] == "Room 101"
    with closing(sqlite3.connect(log_dir / "webperf3.sqlite3", isolation_level=None)) as conn:
        history = conn.execute("SELECT place, excluded FROM edit_history ORDER BY id").fetchall()
    assert history == [("Cellar", 0), ("Cellar", 1), ("Cellar", 0)]


def test_editing_several_tests_is_all_or_nothing(book, results):
    with pytest.raises(BookInputError, match="only tests can be edited"):
        book.edit_many([results[0], "5201-abc"], excluded=True)
    assert book.view().edits == {}
    edits = book.edit_many(results[:3], place="Hall", by="10.0.0.1")
    assert [e.test_id for e in edits] == [result_id(r) for r in results[:3]]
    assert places(book, results[:3]) == [("Hall", "edited")] * 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({}, "nothing to change"), ({"excluded": "yes"}, "excluded is true or false"), ({"place": ""}, "the place is empty")],
)
def test_a_bad_edit_gets_a_clear_message(book, results, kwargs, message):
    with pytest.raises(BookInputError, match=message):
        book.edit(results[0], **kwargs)
    assert book.view().edits == {}


def test_places_offered_are_those_of_the_current_survey_most_recent_first(book, results):
    book.edit(by_time(results, T_TCP), place="Old wing")
    book.start("Floor 2", at=T_BIDIR)
    book.claim("127.0.0.1", "room 7", at=T_BIDIR)
    book.claim("10.0.0.7", "Stairs", at=T_ROOM_101 + 60)  # named, no test yet
    book.edit(by_time(results, T_UDP), place="Room 7")
    assert book.view().places(results) == ["Stairs", "Room 101", "Room 7"]


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


# -- files ---------------------------------------------------------------------------


def test_a_restart_keeps_everything(log_dir, results):
    with SurveyBook.open(log_dir) as book:
        a = book.start("A", at=T_REVERSE)
        book.start("B", at=T_BIDIR)
        book.reopen(a.id, at=T_UDP)
        book.undo_start(book.start("Gone", at=T_ROOM_101 + 100).id)
        book.claim("127.0.0.1", "Room 7", at=T_REVERSE, device="d", user_agent="UA")
        book.edit(by_time(results, T_UDP), place="Cellar", excluded=True, by="admin")
        before = book.view()
        expected = (before.annotate_all(results), before.survey_list(results, include_undone=True), before.places(results))
    with SurveyBook.open(log_dir) as again:
        after = again.view()
        assert (after.annotate_all(results), after.survey_list(results, include_undone=True), after.places(results)) == expected
        assert after.edits == before.edits and after.surveys == before.surveys


def test_a_read_only_book_reads_and_refuses_to_write(log_dir, results):
    with SurveyBook.open(log_dir, readonly=True) as empty:  # no file yet: nothing is created
        assert empty.view().current.name == "First survey"
        with pytest.raises(BookWriteError, match="read-only"):
            empty.start("A")
    assert not (log_dir / "webperf3.sqlite3").exists()
    with SurveyBook.open(log_dir) as book:
        book.start("A", at=T_BIDIR)
    with SurveyBook.open(log_dir, readonly=True) as reader:
        assert reader.view().current.name == "A"
        with pytest.raises(BookWriteError, match="read-only"):
            reader.claim("10.0.0.1", "Room")


def test_a_change_made_by_another_program_is_picked_up(log_dir):
    book = SurveyBook.open(log_dir, outside_check_s=0)
    heard = []
    book.subscribe(heard.append)
    with closing(sqlite3.connect(log_dir / "webperf3.sqlite3", isolation_level=None)) as conn:  # e.g. someone in sqlite3 or datasette
        conn.execute("UPDATE surveys SET name = 'Renamed outside' WHERE id = 1")
    assert book.view().current.name == "Renamed outside"
    assert [c.kind for c in heard] == ["reload"]
    book.view()
    assert len(heard) == 1  # nothing more changed
    book.close()


def test_outside_changes_are_looked_for_at_most_so_often(log_dir):
    with SurveyBook.open(log_dir, outside_check_s=3600) as book:
        book.view()
        with closing(sqlite3.connect(log_dir / "webperf3.sqlite3", isolation_level=None)) as conn:
            conn.execute("UPDATE surveys SET name = 'Renamed outside' WHERE id = 1")
        assert book.view().current.name == "First survey"  # not looked for yet
        assert book.reload() and book.view().current.name == "Renamed outside"


def test_many_threads_writing_and_reading_lose_nothing(log_dir):
    with SurveyBook.open(log_dir) as book:
        versions: list[int] = []
        book.subscribe(lambda change: versions.append(change.version))
        errors: list[BaseException] = []

        def work(n: int) -> None:
            try:
                for i in range(20):
                    book.claim(f"10.0.{n}.{i + 1}", f"Room {n}-{i}", at=1000 + i)
                    assert book.view().claim_of(f"10.0.{n}.{i + 1}", 2000).place == f"Room {n}-{i}"
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert sorted(versions) == versions == list(range(1, 161))
    with SurveyBook.open(log_dir) as again:
        assert len(again.view().claims) == 160


def test_edit_keeps_what_is_not_given(book, results):
    tcp = results[0]
    book.edit(tcp, place="Hall")
    book.edit(tcp, excluded=True)
    assert (book.view().edit_of(result_id(tcp)).place, book.view().edit_of(result_id(tcp)).excluded) == ("Hall", True)
    book.edit(tcp, place=KEEP, excluded=False)
    assert book.view().annotate(tcp).place == "Hall"


def test_a_port_s_row_in_the_current_survey(log_dir):
    store = read_store(log_dir, "tcp", "client_killed", "extra_data", "client_sigint")  # ok, failed, ok, failed
    found = store.results(port=5201)
    with SurveyBook.open(log_dir) as book:
        row = book.view().latest(found)
        assert (row.success.name, row.failure.name, row.tests, row.excluded) == ("Room 101", "interrupted", 4, 0)
        book.edit(by_name(found, "Room 101"), excluded=True)
        book.edit(by_name(found, "interrupted"), excluded=True)
        row = book.view().latest(found)
        assert (row.success.time, row.failure.error, row.tests, row.excluded) == (T_TCP, "the client has unexpectedly closed the connection", 2, 2)
        book.start("Floor 2", at=found[-1].time + 60)
        assert book.view().latest(found) == PortLatest(success=None, failure=None, tests=0, excluded=0)


def by_name(results, name):
    return next(r for r in results if r.name == name)
