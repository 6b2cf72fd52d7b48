"""webperf3.board.tally: one row per place, worst first, and two surveys compared.

The figures come from real iperf3 logs (tests/data, read by a real store) of
3.9, 3.12 and 3.18; a client-measured download, which no server log of those
versions holds, is a Result built by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.paths import DATA
from webperf3.board.tally import (
    UDP_SENT_UNGRADED,
    WORST_FIRST,
    PlaceRow,
    Thresholds,
    compare_rows,
    median,
    parse_thresholds,
    place_rows,
    versions_seen,
)
from webperf3.store.record import Result
from webperf3.store.results import ResultsStore
from webperf3.survey import Annotation


def read(log_dir: Path, version: str, *kinds: str) -> list[Result]:
    """Each sample on a port of its own, read by a real store, in the order given."""
    for i, kind in enumerate(kinds):
        (log_dir / f"port-{5201 + i}.json").write_bytes((DATA / f"iperf{version}-{kind}.json").read_bytes())
    store = ResultsStore(log_dir)
    store.refresh()
    found = sorted(store.results(), key=lambda r: r.port)
    assert len(found) == len(kinds)
    return found


def at(place: str | None, *, excluded: bool = False, n: int = 0) -> Annotation:
    return Annotation(f"5201-t{n}", place, None if place is None else "client", 1, excluded)


def rows_of(results: list[Result], places: list[str | None], excluded: set[int] = frozenset(), **kw) -> list[PlaceRow]:
    return place_rows(results, [at(p, excluded=i in excluded, n=i) for i, p in enumerate(places)], **kw)


def by_place(rows: list[PlaceRow]) -> dict[str | None, PlaceRow]:
    return {row.place: row for row in rows}


def test_median_of_odd_and_even_counts() -> None:
    assert median([]) is None
    assert median([5.0]) == 5.0
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5  # the mean of the two middle ones


@pytest.mark.parametrize("version", ["3.9", "3.12", "3.18"])
def test_each_side_only_from_the_tests_that_measured_it(log_dir: Path, version: str) -> None:
    tcp, reverse, bidir = read(log_dir, version, "tcp", "reverse", "bidir")
    row = rows_of([tcp, reverse, bidir], ["Hall"] * 3)[0]
    assert row.tests == 3 and row.failures == 0
    # Upload: the upload test and the bidir's upload, never the -R test's "nothing".
    assert row.upload_tests == 2
    assert row.upload_median_bps == pytest.approx((tcp.upload_bps + bidir.upload_bps) / 2)
    assert (row.upload_min_bps, row.upload_max_bps) == (min(tcp.upload_bps, bidir.upload_bps), max(tcp.upload_bps, bidir.upload_bps))
    # Download: the -R test and the bidir's download, what the station sent.
    assert row.download_tests == 2
    assert row.download_median_bps == pytest.approx((reverse.download_bps + bidir.download_bps) / 2)
    assert row.download_measured_by == "station"
    assert row.versions == [version]


def test_a_one_sided_place_has_no_figure_for_the_other_side(log_dir: Path) -> None:
    (tcp,) = read(log_dir, "3.12", "tcp")
    row = rows_of([tcp], ["Hall"])[0]
    assert row.upload_median_bps == tcp.upload_bps
    assert row.download_tests == 0
    assert row.download_median_bps is None and row.download_min_bps is None and row.download_measured_by is None
    assert row.download_grade == "none"
    assert row.worst_bps == tcp.upload_bps  # the side it has


def test_failures_are_counted_never_zero_and_a_failed_only_place_comes_first(log_dir: Path) -> None:
    tcp, killed, udp = read(log_dir, "3.12", "tcp", "client_killed", "udp")
    rows = rows_of([tcp, killed, udp, killed], ["Hall", "Hall", "Kitchen", "Cellar"])
    assert [r.place for r in rows] == ["Cellar", "Kitchen", "Hall"]
    cellar, kitchen, hall = rows
    assert cellar.tests == 1 and cellar.failures == 1 and cellar.grade == "failed"
    assert cellar.upload_median_bps is None and cellar.download_median_bps is None and cellar.worst_bps is None
    # The failure in the Hall does not pull its median down.
    assert hall.tests == 2 and hall.failures == 1
    assert hall.upload_tests == 1 and hall.upload_median_bps == tcp.upload_bps and hall.upload_min_bps == tcp.upload_bps
    assert kitchen.worst_bps == pytest.approx(udp.upload_bps)


def test_excluded_tests_are_left_out_but_counted_as_excluded(log_dir: Path) -> None:
    tcp, reverse = read(log_dir, "3.12", "tcp", "reverse")
    (row,) = rows_of([tcp, reverse], ["Hall", "Hall"], excluded={1})
    assert row.tests == 1 and row.excluded == 1
    assert row.download_tests == 0 and row.download_median_bps is None
    assert row.last == tcp.time
    # A place whose every test is excluded still shows, last, with nothing measured.
    rows = rows_of([tcp, reverse], ["Hall", "Attic"], excluded={1})
    assert [(r.place, r.tests, r.excluded, r.grade) for r in rows] == [("Hall", 1, 0, "good"), ("Attic", 0, 1, "none")]


def test_tests_without_a_place_are_one_row_and_names_match_case_insensitively(log_dir: Path) -> None:
    tcp, reverse, bidir, udp = read(log_dir, "3.12", "tcp", "reverse", "bidir", "udp")
    rows = rows_of([tcp, reverse, bidir, udp], [None, "room 7", "Room 7", None])
    places = by_place(rows)
    assert set(places) == {None, "Room 7"}  # shown as most recently spelt
    assert places[None].tests == 2 and places["Room 7"].tests == 2


def test_udp_upload_quality_is_the_station_s_and_a_download_s_is_unknown(log_dir: Path) -> None:
    udp, udp_reverse, udp_bidir = read(log_dir, "3.12", "udp", "udp_reverse", "udp_bidir")
    (row,) = rows_of([udp, udp_reverse, udp_bidir], ["Yard"] * 3)
    assert row.upload_jitter_ms == pytest.approx((udp.jitter_ms + udp_bidir.jitter_ms) / 2)
    assert row.upload_loss_percent == 0.0
    # The station sent the downloads: their jitter and loss are the client's, not in the log.
    assert row.download_jitter_ms is None and row.download_loss_percent is None
    assert row.download_quality_unknown == 2


def test_udp_loss_measured_by_the_station(log_dir: Path) -> None:
    (lossy,) = read(log_dir, "3.12", "udp_loss_from_3.18")
    (row,) = rows_of([lossy], ["Yard"])
    assert lossy.loss_percent and row.upload_loss_percent == lossy.loss_percent


def test_a_client_measured_download_gives_its_jitter_and_loss_and_says_so() -> None:
    base = dict(port=5201, protocol="UDP", direction="download", version="3.21")
    client = Result(time=10, download_bps=9e6, download_measured_by="client", download_jitter_ms=0.5, download_loss_percent=2.0, **base)
    station = Result(time=20, download_bps=11e6, download_measured_by="station", **base)
    (row,) = rows_of([client], ["Yard"])
    assert (row.download_jitter_ms, row.download_loss_percent, row.download_quality_unknown) == (0.5, 2.0, 0)
    assert row.download_measured_by == "client" and row.download_grade != "none" and row.download_ungraded is None
    # The station's sent UDP rate beside it: counted, its quality unknown, never in the median.
    (both,) = rows_of([client, station], ["Yard", "Yard"])
    assert both.download_measured_by == "client" and both.download_quality_unknown == 1
    assert (both.download_median_bps, both.download_tests, both.download_ungraded_tests) == (9e6, 1, 1)


def test_tcp_downloads_sent_and_received_are_mixed_and_both_graded() -> None:
    base = dict(port=5201, protocol="TCP", direction="download")
    sent = Result(time=10, download_bps=80e6, download_measured_by="station", **base)
    received = Result(time=20, download_bps=60e6, download_measured_by="client", **base)
    (row,) = rows_of([sent, received], ["Hall", "Hall"], thresholds=Thresholds(50, 100))
    assert row.download_measured_by == "mixed" and row.download_median_bps == 70e6
    assert (row.download_grade, row.grade, row.download_ungraded, row.download_ungraded_tests) == ("fair", "fair", None, 0)


def test_a_udp_download_the_station_sent_is_shown_but_not_graded_nor_ranked(log_dir: Path) -> None:
    """Seen in the field: a client received 145 Mbit/s with 42 % loss, the
    station "sent 250 Mbit/s": green, and among the best places."""
    udp_reverse, reverse = read(log_dir, "3.12", "udp_reverse", "reverse")
    assert (udp_reverse.protocol, udp_reverse.download_measured_by) == ("UDP", "station")
    fast_tcp = Result(port=5203, time=udp_reverse.time + 5, protocol="TCP", direction="download",
                      download_bps=2 * udp_reverse.download_bps, download_measured_by="station")
    low = Thresholds(red_mbps=udp_reverse.download_bps / 4e6, amber_mbps=udp_reverse.download_bps / 2e6)
    rows = rows_of([udp_reverse, fast_tcp, udp_reverse, reverse], ["Yard", "Cellar", "Lab", "Lab"], thresholds=low)
    # Cellar is graded on twice the Yard's sent rate; the Yard, ungraded, goes after it.
    assert [r.place for r in rows].index("Cellar") < [r.place for r in rows].index("Yard")
    yard, lab = by_place(rows)["Yard"], by_place(rows)["Lab"]
    assert yard.download_median_bps == udp_reverse.download_bps  # shown, as what the station sent
    assert yard.download_measured_by == "station" and yard.download_tests == 1 and yard.download_ungraded_tests == 1
    assert (yard.download_grade, yard.grade, yard.worst_bps) == ("none", "none", None)
    assert yard.download_ungraded == UDP_SENT_UNGRADED == "UDP: the station's sent rate, not what the client received"
    assert yard.failures == 0
    # Beside a graded (TCP) download, the sent UDP rate is left out of the median that is graded.
    assert lab.download_median_bps == reverse.download_bps and lab.download_tests == 1
    assert (lab.download_ungraded_tests, lab.download_ungraded) == (1, None)
    assert lab.worst_bps == reverse.download_bps and lab.download_grade == lab.grade != "none"
    assert "UDP download the station sent is shown but not graded" in WORST_FIRST


@pytest.mark.parametrize("version", ["3.9", "3.12", "3.18", "3.21"])
def test_a_test_the_station_cut_is_not_a_failure_of_its_place(log_dir: Path, version: str) -> None:
    tcp, stopped = read(log_dir, version, "tcp", "server_stopped")
    assert stopped.interrupted and stopped.error.startswith("interrupt - the server has terminated")
    rows = rows_of([tcp, stopped, stopped], ["Hall", "Hall", "Attic"])
    hall, attic = by_place(rows)["Hall"], by_place(rows)["Attic"]
    assert (hall.tests, hall.failures, hall.interrupted, hall.upload_tests) == (2, 0, 1, 1)
    assert hall.grade == "good"
    # A place whose only test the station cut did not fail: not "failed", not at the top.
    assert (attic.tests, attic.failures, attic.interrupted, attic.grade) == (1, 0, 1, "none")
    assert [r.place for r in rows] == ["Hall", "Attic"]


def test_tests_with_no_place_are_never_ranked_among_the_places(log_dir: Path) -> None:
    tcp, killed = read(log_dir, "3.12", "tcp", "client_killed")
    slow = Result(port=5201, time=tcp.time + 1, protocol="TCP", direction="upload", upload_bps=tcp.upload_bps / 100)
    rows = rows_of([tcp, slow, killed, killed], ["Hall", None, "Cellar", None])
    # The nameless tests are the slowest and failed: still after every place.
    assert [r.place for r in rows] == ["Cellar", "Hall", None]
    assert "tests with no place come after the places" in WORST_FIRST


def test_worst_first_is_the_lower_of_the_two_medians_then_more_failures(log_dir: Path) -> None:
    def test(t: float, up: float | None = None, down: float | None = None, error: str | None = None) -> Result:
        direction = "bidirectional" if up and down else "download" if down else "upload"
        return Result(port=5201, time=t, protocol="TCP", direction=direction, upload_bps=up, download_bps=down, error=error)

    results = [
        test(1, up=900e6, down=20e6),  # A: fast upload, slow download → 20
        test(2, up=60e6),  # B: 60
        test(3, up=20e6), test(4, error="gone"),  # C: 20 with a failure: before A
        test(5, down=500e6), test(6, down=700e6),  # D: 600
    ]
    rows = rows_of(results, ["A", "B", "C", "C", "D", "D"], thresholds=Thresholds(50, 100))
    assert [r.place for r in rows] == ["C", "A", "B", "D"]
    assert [r.grade for r in rows] == ["bad", "bad", "fair", "good"]
    a = rows[1]
    assert (a.download_grade, a.upload_grade) == ("bad", "good")
    assert "lower of the median download and the median upload" in WORST_FIRST
    # Other thresholds, other colours; the same order.
    again = rows_of(results, ["A", "B", "C", "C", "D", "D"], thresholds=Thresholds(10, 30))
    assert [(r.place, r.grade) for r in again] == [("C", "fair"), ("A", "fair"), ("B", "good"), ("D", "good")]


def test_a_place_with_only_browser_tests_is_graded_by_them_and_says_so() -> None:
    def iperf3(t: float, up: float) -> Result:
        return Result(port=5201, time=t, protocol="TCP", direction="upload", upload_bps=up)

    def browser(t: float, down: float, up: float) -> Result:
        return Result(port=8765, time=t, protocol="TCP", direction="bidirectional", download_bps=down, upload_bps=up, method="browser")

    results = [
        iperf3(1, 60e6),  # Hall: iperf3 60, and a slow browser test that must not grade it
        browser(2, 5e6, 5e6),
        browser(3, 40e6, 90e6), browser(4, 30e6, 120e6), browser(5, 50e6, 110e6),  # Attic: browser only, down median 40
        browser(6, 200e6, 150e6),  # Porch: browser only, good
    ]
    rows = rows_of(results, ["Hall", "Hall", "Attic", "Attic", "Attic", "Porch"], thresholds=Thresholds(50, 100))
    places = by_place(rows)
    attic = places["Attic"]
    assert (attic.graded_by, attic.grade, attic.worst_bps) == ("browser", "bad", 40e6)
    assert (attic.browser_download_grade, attic.browser_upload_grade) == ("bad", "good")
    # The iperf3 columns stay empty: nothing mixed into them.
    assert attic.download_median_bps is None and attic.upload_median_bps is None and attic.download_grade == "none"
    # A place with any iperf3 figure is graded by iperf3's alone.
    hall = places["Hall"]
    assert (hall.graded_by, hall.worst_bps, hall.grade) == (None, 60e6, "fair")
    assert places["Porch"].grade == "good"
    # Ranked among the others by the figure it is graded by.
    assert [r.place for r in rows] == ["Attic", "Hall", "Porch"]


def test_versions_seen_across_places(log_dir: Path) -> None:
    (new,) = read(log_dir, "3.18", "tcp")
    old = Result(port=5202, time=new.time + 1, protocol="TCP", direction="upload", upload_bps=1e6, version="3.9")
    rows = rows_of([new, old], ["A", "B"])
    assert versions_seen(rows) == ["3.9", "3.18"]  # numerically, not as text


def test_thresholds_from_the_query() -> None:
    assert parse_thresholds(None, None) == Thresholds(50, 100)
    assert parse_thresholds("20", "40") == Thresholds(20, 40)
    assert parse_thresholds("150", None) == Thresholds(150, 150)  # amber follows a red above its default
    for red, amber, says in [
        ("fast", None, "bad 'red' threshold 'fast'"),
        ("-1", None, "bad 'red' threshold"),
        (None, "nan", "bad 'amber' threshold"),
        ("inf", None, "bad 'red' threshold"),
        ("60", "30", "must not be below the 'red' one"),
    ]:
        with pytest.raises(ValueError, match=says):
            parse_thresholds(red, amber)


def test_comparing_two_surveys(log_dir: Path) -> None:
    def up(t: float, bps: float) -> Result:
        return Result(port=5201, time=t, protocol="TCP", direction="upload", upload_bps=bps)

    before = rows_of([up(1, 40e6), up(2, 100e6), up(3, 5e6)], ["Hall", "Lab", "Old wing"])
    after = rows_of([up(11, 80e6), up(12, 90e6), up(13, 1e6), up(14, 3e6)], ["hall", "Lab", "New wing", None])
    rows = compare_rows(after, before)
    by = {r.place: r for r in rows}
    # After's order, then the places only before had; the tests with no place last, never ranked.
    assert [r.place for r in rows] == ["New wing", "hall", "Lab", "Old wing", None]
    hall = by["hall"]
    assert hall.only_in is None
    assert (hall.survey.upload_median_bps, hall.compare.upload_median_bps) == (80e6, 40e6)
    assert hall.upload_change.bps == 40e6 and hall.upload_change.percent == pytest.approx(100.0)
    assert by["Lab"].upload_change.percent == pytest.approx(-10.0)
    assert hall.download_change.bps is None and hall.download_change.percent is None  # neither measured it
    assert by["New wing"].only_in == "survey" and by["New wing"].compare is None
    assert by["Old wing"].only_in == "compare" and by["Old wing"].survey is None
    assert by["Old wing"].upload_change.bps is None
    assert by[None].only_in == "survey"
    assert hall.to_dict()["survey"]["upload_median_bps"] == 80e6
