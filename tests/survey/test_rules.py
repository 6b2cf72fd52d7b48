"""The pure rules: precedence, identity, input cleaning, the timeline, NAT."""

from __future__ import annotations

import itertools

import msgspec
import pytest

from webperf3.store.record import Result
from webperf3.survey import BookInputError, choose_place, parse_result_id, result_id
from webperf3.survey.records import Claim, Segment
from webperf3.survey.rules import ClaimIndex, Timeline, clean_address, clean_name, nat_conflict

# -- precedence -----------------------------------------------------------------

SLOT_VALUES = (None, "", "   ", "Lab", " Room 7 ")


@pytest.mark.parametrize(("edited", "client", "browser"), list(itertools.product(SLOT_VALUES, repeat=3)))
def test_precedence_edit_then_client_then_browser_then_none(edited, client, browser):
    place, source = choose_place(edited, client, browser)
    # A blank value names nothing; the first slot that names something wins.
    if edited and edited.strip():
        assert (place, source) == (edited.strip(), "edited")
    elif client and client.strip():
        assert (place, source) == (client.strip(), "client")
    elif browser and browser.strip():
        assert (place, source) == (browser.strip(), "browser")
    else:
        assert (place, source) == (None, None)


@pytest.mark.parametrize(
    ("edited", "client", "browser", "expected"),
    [
        ("Lab", "Room 101", "Hall", ("Lab", "edited")),
        (None, "Room 101", "Hall", ("Room 101", "client")),
        (None, None, "Hall", ("Hall", "browser")),
        (None, "  ", "Hall", ("Hall", "browser")),  # --extra-data " " names nothing
        (None, None, None, (None, None)),
        ("Lab", None, None, ("Lab", "edited")),
    ],
)
def test_precedence_table(edited, client, browser, expected):
    assert choose_place(edited, client, browser) == expected


# -- identity -------------------------------------------------------------------


def _result(**fields) -> Result:
    return Result(port=5203, time=1795640511.0, offset=4096, **fields)


def test_a_test_is_its_port_and_iperf3_cookie():
    assert result_id(_result(cookie="el27hnrfjbjotahqf56qgek6qs34vjt6qbum")) == "5203-el27hnrfjbjotahqf56qgek6qs34vjt6qbum"


def test_the_id_ignores_where_the_entry_sits_in_its_log():
    a = _result(cookie="el27hnrfjbjotahqf56qgek6qs34vjt6qbum")
    assert result_id(msgspec.structs.replace(a, offset=0)) == result_id(a)


def test_an_entry_without_cookie_falls_back_to_start_second_and_offset():
    assert result_id(_result()) == "5203-t1795640511-4096"
    assert result_id(_result(cookie="")) == "5203-t1795640511-4096"


def test_a_crafted_cookie_still_makes_an_id_that_fits_a_url():
    tid = result_id(_result(cookie="../a b"))
    assert tid == "5203-x-" + b"../a b".hex()
    assert parse_result_id(tid) == 5203


@pytest.mark.parametrize("tid", ["5201-v6mpac6qx5znedp5i4yy62w4pvszrju7zke6", "5201-t1795640507-0", "65535-x-2e2e"])
def test_well_formed_ids_parse_to_their_port(tid):
    assert parse_result_id(tid) == int(tid.split("-")[0])


@pytest.mark.parametrize("tid", ["", "5201", "5201-", "port-abc", "5201-t12-", "99999-abc", "0-abc", "5201-a/b", "5201-abc ", 5201, None])
def test_malformed_ids_are_refused_with_the_expected_shape(tid):
    with pytest.raises(BookInputError, match="not a test id"):
        parse_result_id(tid)


# -- input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("Room 7", "Room 7"), ("  Room \t 7 \n", "Room 7"), ("Cafe\u0301", "Caf\u00e9"), ("Salle 2 — étage", "Salle 2 — étage"),
        # What shows as nothing is removed: two names that look alike are one place.
        ("Room\u200b101", "Room101"), ("\ufeffHall\u00ad", "Hall"), ("Lab \u3164 2", "Lab 2"), ("A\u2060B\u200e", "AB"),
        # What emoji and scripts need stays.
        ("Kitchen \U0001f468\u200d\U0001f373", "Kitchen \U0001f468\u200d\U0001f373"), ("\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"),
        ("Room \u2764\ufe0f", "Room \u2764\ufe0f"),
    ],
)
def test_names_are_kept_tidy(raw, kept):
    assert clean_name(raw, "the place") == kept


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "the place is empty"),
        ("   ", "the place is empty"),
        ("x" * 201, "201 characters long; at most 200"),
        ("a\x00b", "control characters"),
        ("\u202eRoom 101", "U\\+202E, which changes the direction the rest is read in"),
        ("Room \u2067101\u2069", "U\\+2067, which changes the direction"),
        ("Room \ufdd0", "U\\+FDD0, which is not a character"),
        ("Lab \ud800", "U\\+D800, which is not a character"),
        ("\u200b", "the place is empty \\(it holds only characters that show as nothing\\)"),
        ("\u3164", "the place is empty \\(it holds only characters that show as nothing\\)"),
        (7, "must be text, not int"),
        (None, "must be text, not nothing"),
    ],
)
def test_bad_names_get_a_clear_message(raw, message):
    with pytest.raises(BookInputError, match=message):
        clean_name(raw, "the place")


@pytest.mark.parametrize(
    ("raw", "kept"),
    [("127.0.0.1", "127.0.0.1"), (" 10.0.0.2 ", "10.0.0.2"), ("::ffff:192.168.1.9", "192.168.1.9"), ("2001:DB8:0:0::1", "2001:db8::1")],
)
def test_addresses_are_written_as_iperf3_writes_them(raw, kept):
    assert clean_address(raw) == kept


@pytest.mark.parametrize("raw", ["", "localhost", "10.0.0.256", "1.2.3.4:80"])
def test_a_bad_address_is_refused(raw):
    with pytest.raises(BookInputError, match="not an IP address"):
        clean_address(raw)


# -- the timeline ---------------------------------------------------------------


def _seg(i: int, survey: int, at: float, kind="start", undone=None) -> Segment:
    return Segment(id=i, survey=survey, started_at=at, kind=kind, undone_at=undone)


def test_the_timeline_gives_each_start_time_its_survey():
    tl = Timeline([_seg(1, 1, 0, "initial"), _seg(2, 2, 100.6), _seg(3, 3, 200), _seg(4, 2, 300, "reopen")])
    # 100.6 counts from second 100: a test that started in that second is the new survey's.
    assert [tl.survey_at(t) for t in (0, 99, 100, 150, 199, 200, 299, 300, 10**10)] == [1, 1, 2, 2, 2, 3, 3, 2, 2]
    assert tl.current == 2
    assert tl.spans(2) == [(100, 200), (300, None)]
    assert tl.spans(1) == [(0, 100)]


def test_undone_segments_leave_the_timeline_and_ties_keep_creation_order():
    tl = Timeline([_seg(1, 1, 0, "initial"), _seg(2, 2, 100, undone=5.0), _seg(4, 4, 200), _seg(3, 3, 200)])
    assert [tl.survey_at(t) for t in (150, 200)] == [1, 4]
    assert tl.spans(1) == [(0, 200)]
    assert tl.current == 4


def test_an_empty_timeline_has_no_survey():
    assert Timeline([]).survey_at(5) is None and Timeline([]).current is None


# -- claims ---------------------------------------------------------------------


def _claim(i: int, at: float, place: str | None, address="10.0.0.5", device: str | None = "phone-a", ua: str | None = None) -> Claim:
    return Claim(id=i, address=address, place=place, at=at, device=device, user_agent=ua)


def test_a_claim_holds_from_its_second_until_the_next_one_or_the_segment_start():
    index = ClaimIndex([_claim(2, 200.9, "Hall"), _claim(1, 100.4, "Room 7")])
    assert index.at("10.0.0.5", 99, since=0) is None
    assert index.at("10.0.0.5", 100, since=0).place == "Room 7"  # same second: the test came after
    assert index.at("10.0.0.5", 199, since=0).place == "Room 7"
    assert index.at("10.0.0.5", 200, since=0).place == "Hall"
    assert index.at("10.0.0.5", 250, since=201) is None  # a survey started after the claim
    assert index.at("10.0.0.6", 250, since=0) is None


def test_adding_a_claim_leaves_the_old_index_alone():
    old = ClaimIndex([_claim(1, 100, "Room 7")])
    new = old.with_claim(_claim(2, 50, "Earlier"))
    assert old.at("10.0.0.5", 60, 0) is None and new.at("10.0.0.5", 60, 0).place == "Earlier"
    assert new.at("10.0.0.5", 150, 0).place == "Room 7" and len(new) == 2 and len(old) == 1


def test_nat_two_devices_two_places_in_the_window():
    claims = [_claim(1, 1000, "Room 7", device="a"), _claim(2, 1100, "Room 9", device="b")]
    assert [c.id for c in nat_conflict(claims, 1100, window=300)] == [1, 2]


@pytest.mark.parametrize(
    "claims",
    [
        [_claim(1, 1000, "Room 7", device="a"), _claim(2, 1100, "Room 9", device="a")],  # one device walking
        [_claim(1, 700, "Room 7", device="a"), _claim(2, 1100, "Room 9", device="b")],  # long apart
        [_claim(1, 1000, "Room 7", device="a"), _claim(2, 1100, "room 7", device="b")],  # the same place
        [_claim(1, 1000, "Room 7", device=None), _claim(2, 1100, "Room 9", device=None)],  # cannot tell devices apart
        [_claim(1, 1000, "Room 7", device="a"), _claim(3, 1050, None, device="a"), _claim(2, 1100, "Room 9", device="b")],  # a stopped
    ],
)
def test_nat_no_clash(claims):
    assert nat_conflict(claims, 1100, window=300) == ()


def test_nat_tells_devices_apart_by_user_agent_without_device_id():
    claims = [_claim(1, 1000, "Room 7", device=None, ua="iPhone"), _claim(2, 1001, "Room 9", device=None, ua="Pixel")]
    assert len(nat_conflict(claims, 1001, window=300)) == 2
