"""Places over real sample logs: named from the browser, from --extra-data,
set by a person; exclusions; the autocomplete; a port's row."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import msgspec
import pytest

from tests.support.logs import T_BIDIR, T_REVERSE, T_ROOM_101, T_TCP, T_UDP, by_time, read_store
from webperf3.survey import KEEP, BookInputError, PortLatest, SurveyBook, result_id


def places(book, results):
    return [(a.place, a.place_source) for a in book.view().annotate_all(results)]


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
