"""``/api/places``, ``/csv?by=place``, ``/places`` and ``/report`` over
WebTest, against real iperf3 log entries and a real survey book: the rows
and their order, thresholds, two surveys compared, exclusions, the failed
tests' reasons, the CSV, and what each bad query gets."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from webtest import TestApp

from tests.support.logs import append_entry as append
from webperf3.exports.results import csv_chunks
from webperf3.exports.placetable import COMPARE_HEADER, PLACES_HEADER
from webperf3.store.results import ResultsStore
from webperf3.survey import BookView, SurveyBook
from tests.support.parts import dashboard_of

HOST = "station.example:8080"
T0 = 1_790_000_000.0  # the first survey's morning
T1 = T0 + 86_400  # the second survey starts a day later


class Station:
    def __init__(self, logs: Path) -> None:
        self.store = ResultsStore(logs)
        self.book = SurveyBook.open(logs)
        self.dash = dashboard_of(self.store, book=self.book, ports=lambda: [5201, 5202, 5203])
        self.app = TestApp(self.dash.app, extra_environ={"HTTP_HOST": HOST})

    def places(self, **query) -> dict:
        return self.app.get("/api/places", params=query).json


@pytest.fixture
def station(logs: Path) -> Iterator[Station]:
    """Survey 1 (the book's first) in the morning, then "After the new AP" from T1."""
    append(logs, 5201, "tcp", name="Hall", client="192.168.1.23", at=T0)
    append(logs, 5201, "reverse", name="Hall", client="192.168.1.23", at=T0 + 60)
    append(logs, 5202, "udp", name="Kitchen", client="192.168.1.41", at=T0 + 120)
    append(logs, 5202, "udp_reverse", name="Kitchen", client="192.168.1.41", at=T0 + 180)
    append(logs, 5203, "client_killed", name="Cellar", client="192.168.1.57", at=T0 + 240)
    append(logs, 5203, "bidir", client="192.168.1.60", at=T0 + 300)  # nobody named it
    opened = Station(logs)
    opened.book.start("After the new AP", at=T1)
    append(logs, 5201, "bidir", name="hall", client="192.168.1.23", at=T1 + 60)
    append(logs, 5202, "tcp", name="Attic", client="192.168.1.41", at=T1 + 120)
    append(logs, 5202, "udp", name="Kitchen", client="192.168.1.41", at=T1 + 180)
    try:
        yield opened
    finally:
        opened.book.close()


def by_place(rows: list[dict]) -> dict:
    return {row["place"]: row for row in rows}


def test_the_first_survey_s_places_worst_first_each_side_from_its_own_tests(station: Station) -> None:
    data = station.places(survey="1")
    found = {(r.name, r.direction): r for r in station.store.results()}
    assert data["survey"]["id"] == 1 and data["survey"]["current"] is False
    assert (data["survey"]["first_test"], data["survey"]["last_test"]) == (T0, T0 + 300)
    # The Cellar's one test failed: first. Then the slowest: the Kitchen's 10 Mbit/s UDP.
    # The test nobody named is slower than the Hall, but no place: after them all.
    assert [r["place"] for r in data["places"]] == ["Cellar", "Kitchen", "Hall", None]
    assert "lower of the median download and the median upload" in data["order"]
    rows = by_place(data["places"])
    cellar = rows["Cellar"]
    assert (cellar["tests"], cellar["failures"], cellar["grade"]) == (1, 1, "failed")
    assert cellar["upload_median_bps"] is None and cellar["download_median_bps"] is None  # never 0
    kitchen = rows["Kitchen"]
    assert kitchen["upload_median_bps"] == found[("Kitchen", "upload")].upload_bps
    assert kitchen["download_median_bps"] == found[("Kitchen", "download")].download_bps
    assert kitchen["download_measured_by"] == "station"
    # ...what the station sent over UDP: shown, not graded, and the page can say why.
    assert kitchen["download_grade"] == "none" and kitchen["download_ungraded_tests"] == 1
    assert kitchen["download_ungraded"] == "UDP: the station's sent rate, not what the client received"
    assert kitchen["upload_jitter_ms"] == found[("Kitchen", "upload")].jitter_ms
    assert kitchen["download_jitter_ms"] is None and kitchen["download_quality_unknown"] == 1
    assert kitchen["grade"] == "bad" and kitchen["upload_grade"] == "bad"
    hall = rows["Hall"]
    assert (hall["upload_tests"], hall["download_tests"]) == (1, 1)
    assert hall["upload_median_bps"] == found[("Hall", "upload")].upload_bps
    assert hall["download_median_bps"] == found[("Hall", "download")].download_bps
    assert rows[None]["tests"] == 1 and rows[None]["download_tests"] == 1 and rows[None]["upload_tests"] == 1
    assert data["totals"] == {"places": 3, "tests": 6, "failures": 1, "excluded": 0, "interrupted": 0, "unplaced_tests": 1}
    assert data["versions"] == ["3.12"]
    assert data["thresholds"] == {"red_mbps": 50.0, "amber_mbps": 100.0}


def test_the_current_survey_is_the_default_and_all_joins_them(station: Station) -> None:
    data = station.places()
    assert data["survey"] == {"id": 2, "name": "After the new AP", "current": True, "first_test": T1 + 60, "last_test": T1 + 180}
    assert [r["place"] for r in data["places"]] == ["Kitchen", "hall", "Attic"]
    everything = station.places(survey="all")
    assert everything["survey"]["id"] == "all"
    rows = by_place(everything["places"])
    assert rows["hall"]["tests"] == 3  # "Hall" and "hall" are one place, shown as spelt last
    assert rows["Kitchen"]["tests"] == 3
    assert everything["totals"]["tests"] == 9


def test_thresholds_colour_the_rows(station: Station) -> None:
    kitchen = by_place(station.places(survey="1", red="5", amber="20")["places"])["Kitchen"]
    assert kitchen["grade"] == "fair"
    assert by_place(station.places(survey="1", red="1", amber="2")["places"])["Kitchen"]["grade"] == "good"


def test_comparing_two_surveys(station: Station) -> None:
    data = station.places(survey="2", compare="1")
    assert data["compare"]["survey"]["id"] == 1
    rows = by_place(data["compared"])
    assert [r["place"] for r in data["compared"]] == ["Kitchen", "hall", "Attic", "Cellar", None]
    kitchen = rows["Kitchen"]
    now, before = kitchen["survey"]["upload_median_bps"], kitchen["compare"]["upload_median_bps"]
    assert kitchen["upload_change"]["bps"] == pytest.approx(now - before)
    assert kitchen["upload_change"]["percent"] == pytest.approx((now - before) / before * 100)
    assert kitchen["download_change"] == {"bps": None, "percent": None}  # no download this time
    assert rows["Attic"]["only_in"] == "survey" and rows["Attic"]["compare"] is None
    assert rows["Cellar"]["only_in"] == "compare" and rows["Cellar"]["survey"] is None
    assert rows["hall"]["only_in"] is None


def test_excluded_tests_are_left_out(station: Station) -> None:
    kitchen_udp = next(r for r in station.app.get("/api/results").json["results"] if r["place"] == "Kitchen" and r["time"] == T1 + 180)
    station.app.patch_json(f"/api/results/{kitchen_udp['id']}", {"excluded": True})
    rows = by_place(station.places()["places"])
    assert rows["Kitchen"]["tests"] == 0 and rows["Kitchen"]["excluded"] == 1
    assert rows["Kitchen"]["upload_median_bps"] is None
    assert [r["place"] for r in station.places()["places"]][-1] == "Kitchen"  # nothing measured: last


def test_failed_tests_with_their_reasons(station: Station) -> None:
    data = station.places(survey="1", failures="1")
    assert data["failures_total"] == 1
    (failed,) = data["failures"]
    assert failed["place"] == "Cellar" and failed["port"] == 5203 and failed["client"] == "192.168.1.57"
    assert failed["error"] == "the client has unexpectedly closed the connection"
    assert failed["error_plain"] == "The client went away mid-test: out of range, or its app was closed"
    assert "failures" not in station.places(survey="1")


def test_a_test_the_station_cut_is_shown_as_such_and_fails_no_place(station: Station) -> None:
    """A restart of the station cut the Hall's test ("interrupt - the server
    has terminated"): kept, marked, never the Hall's failure."""
    append(station.store.log_dir, 5201, "server_stopped", name="Hall", client="192.168.1.23", at=T0 + 100)
    data = station.places(survey="1", failures="1")
    hall = by_place(data["places"])["Hall"]
    assert (hall["tests"], hall["failures"], hall["interrupted"], hall["grade"]) == (3, 0, 1, "good")
    assert [r["place"] for r in data["places"]] == ["Cellar", "Kitchen", "Hall", None]
    assert [f["place"] for f in data["failures"]] == ["Cellar"] and data["failures_total"] == 1
    assert (data["totals"]["failures"], data["totals"]["interrupted"]) == (1, 1)
    (cut,) = [r for r in station.app.get("/api/results").json["results"] if r["time"] == T0 + 100]
    assert cut["interrupted"] is True and cut["error"] == "interrupt - the server has terminated"  # the raw text kept
    assert cut["error_plain"].startswith("Interrupted by the station")
    assert [r["place"] for r in station.app.get("/api/history", params={"survey": "1", "outcome": "interrupted"}).json["rows"]] == ["Hall"]
    assert "Hall" not in [r["place"] for r in station.app.get("/api/history", params={"survey": "1", "outcome": "failed"}).json["rows"]]
    lines = list(csv.DictReader(io.StringIO(station.app.get("/csv").text)))
    assert [(line["Name"], line["Interrupted by the station"]) for line in lines if line["Error"]] == [
        ("Hall", "yes"), ("Cellar", "")]
    assert lines[2]["Error in plain words"].startswith("Interrupted by the station")
    places = list(csv.DictReader(io.StringIO(station.app.get("/csv", params={"by": "place", "survey": "1"}).text)))
    assert {line["Place"]: (line["Failures"], line["Interrupted by the station"]) for line in places}["Hall"] == ("0", "1")


@pytest.mark.parametrize(
    ("query", "status", "says"),
    [
        ({"survey": "7"}, 404, "there is no survey 7"),
        ({"survey": "kitchen"}, 400, "bad 'survey' parameter 'kitchen'"),
        ({"survey": "-1"}, 400, "bad 'survey' parameter"),
        ({"compare": "x"}, 400, "bad 'compare' parameter 'x'"),
        ({"compare": "9"}, 404, "there is no survey 9"),
        ({"survey": "1", "compare": "1"}, 400, "compare two different surveys"),
        ({"red": "fast"}, 400, "bad 'red' threshold 'fast'"),
        ({"amber": "-3"}, 400, "bad 'amber' threshold"),
        ({"red": "80", "amber": "40"}, 400, "must not be below the 'red' one"),
    ],
)
def test_bad_queries_say_what_is_wrong(station: Station, query: dict, status: int, says: str) -> None:
    answer = station.app.get("/api/places", params=query, status=status)
    assert answer.content_type == "application/json"
    assert says in answer.json["error"]
    # The CSV of the same query says the same.
    assert station.app.get("/csv", params={"by": "place", **query}, status=status).json["error"] == answer.json["error"]


def test_an_undone_survey_is_not_found(station: Station) -> None:
    station.book.undo_last()
    assert "was undone" in station.app.get("/api/places", params={"survey": "2"}, status=404).json["error"]


def test_csv_by_place(station: Station, logs: Path) -> None:
    append(station.store.log_dir, 5201, "tcp", name="=HYPERLINK(\"http://x\")", at=T1 + 240)
    answer = station.app.get("/csv", params={"by": "place", "survey": "1"})
    assert answer.content_type == "text/csv"
    assert "attachment; filename=iperf3_places.csv" == answer.headers["Content-Disposition"]
    lines = list(csv.reader(io.StringIO(answer.text)))
    assert tuple(lines[0]) == PLACES_HEADER
    api = station.places(survey="1")["places"]
    assert [line[0] for line in lines[1:]] == ["Cellar", "Kitchen", "Hall", "(no place)"]
    kitchen = dict(zip(PLACES_HEADER, lines[2]))
    assert float(kitchen["Upload median (bps, station received)"]) == api[1]["upload_median_bps"]
    assert kitchen["Download measured by"] == "station sent"
    assert kitchen["Download jitter median (ms, client)"] == "unknown"  # not blank: blank reads as "no loss"
    assert kitchen["Grade"] == "bad" and kitchen["Survey"] == "First survey"
    cellar = dict(zip(PLACES_HEADER, lines[1]))
    assert (cellar["Failures"], cellar["Upload median (bps, station received)"], cellar["Grade"]) == ("1", "", "failed")
    # A place from the network never becomes a formula.
    current = list(csv.reader(io.StringIO(station.app.get("/csv?by=place").text)))
    assert "'=HYPERLINK(\"http://x\")" in [line[0] for line in current]
    assert station.app.get("/csv", params={"by": "port"}, status=400).json["error"].startswith("bad 'by' parameter 'port'")


def test_csv_of_two_surveys_compared(station: Station) -> None:
    answer = station.app.get("/csv", params={"by": "place", "survey": "2", "compare": "1"})
    assert answer.content_type == "text/csv"
    assert answer.headers["Content-Disposition"] == "attachment; filename=iperf3_places_compared.csv"
    lines = list(csv.reader(io.StringIO(answer.text)))
    assert tuple(lines[0]) == COMPARE_HEADER
    api = by_place(station.places(survey="2", compare="1")["compared"])
    # The API's order: the survey's places worst first, then those only the other has.
    assert [line[0] for line in lines[1:]] == ["Kitchen", "hall", "Attic", "Cellar", "(no place)"]
    rows = {line[0]: dict(zip(COMPARE_HEADER, line)) for line in lines[1:]}
    kitchen, api_kitchen = rows["Kitchen"], api["Kitchen"]
    assert kitchen["In"] == "both"
    assert float(kitchen["Upload median (bps, station received, survey)"]) == api_kitchen["survey"]["upload_median_bps"]
    assert float(kitchen["Upload median (bps, station received, compared with)"]) == api_kitchen["compare"]["upload_median_bps"]
    assert float(kitchen["Upload change (bps)"]) == pytest.approx(api_kitchen["upload_change"]["bps"])
    assert float(kitchen["Upload change (%)"]) == pytest.approx(api_kitchen["upload_change"]["percent"])
    assert kitchen["Download change (bps)"] == kitchen["Download change (%)"] == ""  # no download this time
    assert (kitchen["Survey"], kitchen["Compared with"]) == ("After the new AP", "First survey")
    attic, cellar = rows["Attic"], rows["Cellar"]
    assert attic["In"] == "survey only" and attic["Tests (compared with)"] == "" and attic["Upload change (bps)"] == ""
    assert cellar["In"] == "compared-with only" and cellar["Tests (survey)"] == "" and cellar["Failures (compared with)"] == "1"


def test_the_csv_by_test_is_unchanged(station: Station) -> None:
    found = station.store.results()
    station.store.refresh()
    found = station.store.results()
    expected = "".join(csv_chunks(found, station.dash.board.notes(found)))
    assert station.app.get("/csv").body == expected.encode()


def test_the_pages_share_the_nav(station: Station) -> None:
    for path, label in (("/places", "Places"), ("/report", "Report")):
        page = station.app.get(path)
        assert page.content_type == "text/html"
        assert f'aria-current="page">{label}</a>' in page.text


def test_tests_logged_after_a_request_are_counted_wherever_they_land(station: Station, logs: Path) -> None:
    """The API keeps each survey's tally between requests: a test appended
    later, and one logged late that starts among the earlier ones, both count."""
    assert by_place(station.places()["places"])["Attic"]["tests"] == 1
    append(logs, 5202, "tcp", name="Attic", client="192.168.1.41", at=T1 + 600)  # at the end
    assert by_place(station.places()["places"])["Attic"]["tests"] == 2
    append(logs, 5203, "reverse", name="Attic", client="192.168.1.57", at=T1 + 90)  # among the kept ones
    attic = by_place(station.places()["places"])["Attic"]
    assert (attic["tests"], attic["upload_tests"], attic["download_tests"]) == (3, 2, 1)
    assert by_place(station.places()["places"])["hall"]["tests"] == 1  # nothing counted twice
    # An edit is a new book: the excluded test leaves at once.
    first = next(r for r in station.app.get("/api/results").json["results"] if r["place"] == "Attic" and r["time"] == T1 + 600)
    station.app.patch_json(f"/api/results/{first['id']}", {"excluded": True})
    assert by_place(station.places()["places"])["Attic"]["tests"] == 2


def test_the_start_up_warm_up_leaves_the_first_places_and_history_requests_nothing_to_annotate(station: Station, monkeypatch) -> None:
    # With 100,000 tests annotating a survey takes hundreds of milliseconds:
    # the station does it in a thread at start, not in a visitor's request.
    station.dash.refresh()
    station.dash.warm_up()
    annotated: list[int] = []
    real = BookView.annotate_all

    def counting(self, results):
        annotated.append(len(results))
        return real(self, results)

    monkeypatch.setattr(BookView, "annotate_all", counting)
    assert station.places()["places"]
    station.app.get("/api/history")
    assert annotated == []
    append(station.store.log_dir, 5201, "tcp", name="Hall", client="192.168.1.23", at=T1 + 240)
    station.places()
    assert annotated == [1]  # the places add only the new test


def test_one_tally_per_survey_is_kept_as_the_book_changes(station: Station, logs: Path) -> None:
    # Every request adds up the places of the book as it is now: a tally of
    # an older version is never asked for again and must not stay (13 MiB
    # each once clients had named 42,000 places).
    station.places()
    station.places(survey="1")
    for i in range(6):
        station.book.claim("192.168.1.60", f"Desk {i}", at=T1 + 300 + 10 * i)  # a phone names its place: a new book
        append(logs, 5203, "tcp", client="192.168.1.60", at=T1 + 305 + 10 * i)
        assert by_place(station.places()["places"])[f"Desk {i}"]["tests"] == 1
        station.places(survey="1")
    assert station.dash.place_tallies.kept == 2
