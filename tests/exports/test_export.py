"""CSV and JSON exports."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from datetime import datetime

import msgspec
import pytest

from tests.support.logs import append_entry, install, sample, store_of
from tests.support.paths import DATA, PROTOTYPE
from webperf3.exports.results import (
    CHUNK_CHARS,
    CSV_HEADER,
    CsvFigures,
    Notes,
    csv_chunks,
    csv_row,
    excel_serial,
    iso_time,
    json_chunks,
    safe_text,
)
from webperf3.store.record import BrowserFigures, Result
from webperf3.store.results import ResultsStore

PROTOTYPE_COLUMNS = ["Port", "Name", "Timestamp", "Send rate (bps)", "Receive rate (bps)"]


def rows_of(results, notes=None):
    return list(csv.reader(io.StringIO("".join(csv_chunks(results, notes)))))


def test_first_five_columns_are_the_prototypes(log_dir):
    store = store_of(log_dir, **{"5201": [PROTOTYPE / "single_iperf3_output.json"], "5202": [PROTOTYPE / "multiple_iperf3_output.json"]})
    rows = rows_of(store.results())
    assert rows[0][:5] == PROTOTYPE_COLUMNS
    assert rows[0] == list(CSV_HEADER)
    body = [r[:5] for r in rows[1:]]
    assert [(r[0], r[1], float(r[3]), float(r[4])) for r in body] == [
        ("5202", "UE name here", 5644924535.6456957, 4900633492.4580631),
        ("5202", "UE name 1 here", 5930752506.02558, 5060954075.1963663),
        ("5201", "UE name 2 here", 6218445861.06448, 5588500339.1611471),
    ]
    assert float(body[0][2]) == pytest.approx(excel_serial(1647307558))


def test_excel_serial_is_local_time():
    t = 1647312652
    local = time.localtime(t)
    days = (t + local.tm_gmtoff) / 86400 + 25569
    assert excel_serial(t) == days
    assert excel_serial(0) - 25569 == pytest.approx(time.localtime(0).tm_gmtoff / 86400)


@pytest.mark.parametrize("t", [0, 1647312652, 1795640507, 1647312652.25])
def test_iso_time_is_local_with_its_offset(t):
    assert iso_time(t) == datetime.fromtimestamp(t).astimezone().isoformat()


def test_failed_tests_are_rows_with_empty_rates_and_the_error(log_dir):
    store = store_of(log_dir, **{"5201": [sample("tcp"), sample("client_killed")]})
    rows = rows_of(store.results())
    failed = dict(zip(rows[0], rows[2]))
    assert failed["Send rate (bps)"] == failed["Receive rate (bps)"] == ""
    assert failed["Error"] == "the client has unexpectedly closed the connection"
    ok = dict(zip(rows[0], rows[1]))
    assert ok["Send rate (bps)"] == "" and float(ok["Receive rate (bps)"]) == 22578238782.102535
    assert ok["Direction"] == "upload" and ok["Protocol"] == "TCP" and ok["Client address"] == "127.0.0.1"
    assert ok["Time"].startswith("2026-11-25T") and ok["Error"] == ""


def test_columns_name_each_figures_side():
    assert CSV_HEADER[5:] == (
        "Time", "Client address", "Protocol", "Direction", "Duration (s)", "Streams",
        "Download measured by", "Download retransmits (station)",
        "Upload jitter (ms, station)", "Upload loss (%, station)",
        "Download jitter (ms, client)", "Download loss (%, client)",
        "Error",
        "Place source", "Client's --extra-data", "Survey", "Excluded", "Test id",
        "Interrupted by the station", "Error in plain words",  # new columns only ever at the end
        "Method",
        "Latency idle (ms, browser, median)", "Latency idle (ms, browser, 90th percentile)",
        "Latency during download (ms, browser, median)", "Latency during download (ms, browser, 90th percentile)",
        "Latency during upload (ms, browser, median)", "Latency during upload (ms, browser, 90th percentile)",
        "Browser",
        "Station RTT under load (ms, station, min)", "Station RTT under load (ms, station, mean)",
        "Station RTT under load (ms, station, max)",
    )


def test_name_is_the_place_and_the_raw_extra_data_is_kept(log_dir):
    from webperf3.exports.results import Notes

    store = store_of(log_dir, **{"5201": [sample("extra_data"), sample("tcp")]})
    named = next(r for r in store.results() if r.name)
    nameless = next(r for r in store.results() if not r.name)
    notes = [
        Notes("5201-a", "Kitchen", "edited", "Floor 2", False),  # a person renamed "Room 101"
        Notes("5201-b", "=Stairs", "browser", "Floor 2", True),
    ]
    rows = [dict(zip(rows_of([])[0], row)) for row in rows_of([named, nameless], notes)[1:]]
    assert rows[0]["Name"] == "Kitchen" and rows[0]["Place source"] == "edited"
    assert rows[0]["Client's --extra-data"] == "Room 101" and rows[0]["Survey"] == "Floor 2"
    assert rows[0]["Excluded"] == "" and rows[0]["Test id"] == "5201-a"
    assert rows[1]["Name"] == "'=Stairs"  # a place from a browser is text from the network too
    assert rows[1]["Client's --extra-data"] == "" and rows[1]["Excluded"] == "yes"


def test_udp_upload_jitter_and_loss_are_the_stations(log_dir):
    store = store_of(log_dir, **{"5201": [sample("udp")]})
    row = dict(zip(*rows_of(store.results())))
    assert float(row["Upload jitter (ms, station)"]) == pytest.approx(0.0371355826)
    assert float(row["Upload loss (%, station)"]) == 0
    assert row["Send rate (bps)"] == row["Download measured by"] == row["Download retransmits (station)"] == ""
    assert row["Download jitter (ms, client)"] == row["Download loss (%, client)"] == ""  # no download at all


def test_a_udp_downloads_jitter_and_loss_are_unknown_to_the_station_and_say_so(log_dir):
    # The station only sent: how much arrived, and how late, only the client
    # knows. An empty cell would read as "no loss".
    store = store_of(log_dir, **{"5201": [sample("udp_reverse")]})
    row = dict(zip(*rows_of(store.results())))
    assert row["Direction"] == "download" and float(row["Send rate (bps)"]) > 0
    assert row["Download measured by"] == "station sent"
    assert row["Download jitter (ms, client)"] == row["Download loss (%, client)"] == "unknown"
    assert row["Upload jitter (ms, station)"] == row["Upload loss (%, station)"] == ""


def test_a_tcp_download_is_what_the_station_sent_with_its_retransmits(log_dir):
    store = store_of(log_dir, **{"5201": [sample("reverse")]})
    row = dict(zip(*rows_of(store.results())))
    assert row["Download measured by"] == "station sent"
    assert int(row["Download retransmits (station)"]) == store.results()[0].retransmits
    assert row["Download jitter (ms, client)"] == row["Upload jitter (ms, station)"] == ""


def test_the_clients_own_download_figures_are_named_as_the_clients():
    result = Result(
        port=5201, time=1e9, protocol="UDP", direction="bidirectional", upload_bps=9e6, download_bps=8e6,
        download_measured_by="client", jitter_ms=0.5, loss_percent=1.5, download_jitter_ms=0.25, download_loss_percent=2.5,
    )
    row = dict(zip(*rows_of([result])))
    assert row["Download measured by"] == "client received" and float(row["Send rate (bps)"]) == 8e6
    assert (row["Upload jitter (ms, station)"], row["Upload loss (%, station)"]) == ("0.5", "1.5")
    assert (row["Download jitter (ms, client)"], row["Download loss (%, client)"]) == ("0.25", "2.5")


def test_a_failed_test_claims_no_figure(log_dir):
    store = store_of(log_dir, **{"5201": [sample("client_killed")]})
    row = dict(zip(*rows_of(store.results())))
    assert row["Error"] and all(row[c] == "" for c in CSV_HEADER[11:17])


@pytest.mark.parametrize("name", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_formula_injection_is_neutralised(name):
    assert safe_text(name) == "'" + name
    rows = rows_of([Result(port=5201, time=1e9, name=name, error="=HYPERLINK(1)")])
    assert rows[1][1] == "'" + name
    assert dict(zip(*rows))["Error"] == "'=HYPERLINK(1)"
    assert dict(zip(*rows))["Client's --extra-data"] == "'" + name


@pytest.mark.parametrize(
    "name",
    [
        " =1+1", "  @SUM(1)", "\n=1+1", "\r\n+1", "\t\t-1", "\u00a0=1+1", "\u3000=1+1", "\u2003@SUM(1)",
        "\u200b=1+1", "\ufeff=1+1", "\u202e=1+1",  # zero-width space, BOM, a bidi override first
        "\uff1d1+1", "\uff0b1", "\uff0d1", "\uff20SUM(1)",  # full-width = + - @
        "\ufe661+1", "\ufe621", "\ufe631", "\ufe6bSUM(1)", "\u22121",  # small forms, minus sign
        " \u3000\uff1d1+1", "\n", "\r", "\t",
    ],
)
def test_formulas_behind_spaces_newlines_and_look_alikes_are_neutralised(name):
    assert safe_text(name) == "'" + name
    assert rows_of([Result(port=5201, time=1e9, name=name)])[1][1] == "'" + name


@pytest.mark.parametrize("name", ["Room 101", " Room 101", "\u00a0Hall", "Büro 3", "会議室", "1+1", "(=)", "#1", "a=b", "'=1"])
def test_harmless_names_are_untouched(name):
    assert safe_text(name) == name


def test_no_name_is_an_empty_cell():
    assert safe_text(None) == "" and safe_text("") == ""


def test_csv_is_streamed_in_chunks():
    results = [Result(port=5201, time=1e9 + i, upload_bps=1.0) for i in range(2000)]
    chunks = list(csv_chunks(results))
    assert len(chunks) > 5 and max(map(len, chunks)) < 64_000
    assert len(rows_of(results)) == 2001


def test_json_export_holds_the_same_records(log_dir):
    store = store_of(log_dir, **{"5201": [sample("extra_data"), sample("client_killed")]})
    records = json.loads("".join(json_chunks(store.results())))
    assert [r["name"] for r in records] == ["Room 101", None]
    assert records[0] == store.results()[0].to_dict()
    # every field, the sides' included; a browser test's own figures flat, as for every test
    assert set(records[0]) == set(Result.__struct_fields__) - {"browser", "station_rtt"} | set(BrowserFigures.__struct_fields__) | {
        "station_rtt_min_ms", "station_rtt_mean_ms", "station_rtt_max_ms"}
    assert {"download_measured_by", "download_jitter_ms", "download_loss_percent"} <= set(records[0])
    assert json.loads("".join(json_chunks([]))) == []


def written_by_csv_module(results, notes=None) -> str:
    """The CSV as the export has always written it: each row of the pure
    :func:`csv_row` through :func:`csv.writer`, one after the other."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_HEADER)
    writer.writerows(csv_row(r, n) for r, n in zip(results, notes or [None] * len(results)))
    return buffer.getvalue()


#: Names that quoting, the formula guard and the streaming must all get right.
AWKWARD_NAMES = [
    "Room 101", "a, b", 'say "hi"', '"', "two\nlines", "cr\rlf\r\n", "=1+1", "\t-1", " @x", "Büro 3", "会議室",
    "", " ", "'=1", "x" * 70_000, ",", '","', "\u2028",
]


def awkward_store(log_dir):
    """Every real sample of every iperf3 version, then tests named awkwardly
    from several addresses, some of them failed."""
    for i, path in enumerate(sorted(DATA.glob("iperf3.*.json"))):
        install(log_dir, 5201 + i % 4, path)
    for i in range(300):  # more than one group of 256 kept figures
        name = AWKWARD_NAMES[i % len(AWKWARD_NAMES)]
        kind = ("extra_data", "client_killed", "udp_reverse", "bidir", "udp")[i % 5]
        append_entry(log_dir, 5205 + i % 2, kind, name=name, client=f"10.0.0.{i % 3 + 1}", at=1795650000 + i)
    store = ResultsStore(log_dir)
    store.refresh()
    return store


def notes_for(results):
    survey = ('Floor 2, "east"', "=Survey", "Hall")
    sources = ("edited", "client", "browser", None)
    places = ("Kitchen", None, "a,b", "=Stairs", 'q"q', "\nx")
    return [
        Notes(f"{r.port}-{i}", places[i % len(places)], sources[i % len(sources)], survey[i % len(survey)], i % 5 == 0, i % 3)
        for i, r in enumerate(results)
    ]


def test_the_csv_is_byte_for_byte_what_the_csv_module_writes_of_each_row(log_dir):
    # What users rely on: the same file as before, whatever the names and
    # whether the figures are formatted afresh or kept between downloads.
    store = awkward_store(log_dir)
    found = store.results()
    notes = notes_for(found)
    assert len(found) > 256
    assert "".join(csv_chunks(found)) == written_by_csv_module(found)
    assert "".join(csv_chunks(found, notes)) == written_by_csv_module(found, notes)
    assert "".join(csv_chunks(found, iter(notes))) == written_by_csv_module(found, notes)  # notes made as read
    kept = CsvFigures()
    for _ in range(2):  # formatted, then from what was kept
        assert "".join(csv_chunks(found, notes, kept)) == written_by_csv_module(found, notes)
    # A test more, and a test less: never a line of another test.
    append_entry(log_dir, 5206, "tcp", name="new, last", at=1795660000)
    store.refresh()
    found = store.results()
    assert "".join(csv_chunks(found, figures=kept)) == written_by_csv_module(found)
    fewer = found[:7] + found[8:]
    assert "".join(csv_chunks(fewer, figures=kept)) == written_by_csv_module(fewer)


@pytest.fixture
def local_zone(monkeypatch):
    """Set the process's local time zone (TZ): the one the exports' times are in."""

    def set_zone(name: str) -> None:
        monkeypatch.setenv("TZ", name)
        time.tzset()

    yield set_zone
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("zone", ["Europe/Berlin", "Australia/Lord_Howe", "America/St_Johns", "UTC"])
def test_times_across_the_clocks_changing_are_written_as_before(log_dir, local_zone, zone):
    # The clocks go forward and back (by an hour; by half an hour on Lord
    # Howe Island, at half past a UTC hour): each test's Timestamp and Time
    # are those of its own second's local time, however the rows are made.
    # The real samples of every iperf3 version, moved to 8-minute steps
    # through a night the clocks change, some with a fraction of a second.
    local_zone(zone)
    samples = [r for r in awkward_store(log_dir).results() if r.method == "iperf3"]
    results = []
    for changes in (1679792400, 1698541200, 1680364800, 1696089600, 1699164000, 1678586400):  # around each zone's changes
        for i in range(-60, 60):
            r = samples[i % len(samples)]
            at = changes + i * 480 + (0.25 if i % 7 == 0 else 0)
            results.append(msgspec.structs.replace(r, time=at))
    assert "".join(csv_chunks(results)) == written_by_csv_module(results)
    kept = CsvFigures()
    kept.warm_up(results)
    assert "".join(csv_chunks(results, notes_for(results), kept)) == written_by_csv_module(results, notes_for(results))


@pytest.mark.parametrize("error", ["line\r\nbreak", "line\nbreak", 'a "quoted", error'])
def test_an_error_text_with_line_breaks_keeps_its_row_whole(error):
    # The kept figures are lines: a cell holding its own line break must not
    # split a test's row in two, formatted afresh or kept.
    results = [Result(port=5201, time=1e9 + i, error=error if i % 3 == 0 else None, upload_bps=1.5) for i in range(300)]
    kept = CsvFigures()
    for _ in range(2):
        assert "".join(csv_chunks(results, figures=kept)) == written_by_csv_module(results)


def test_kept_figures_are_compact_and_hold_no_names(log_dir):
    # A station keeps the figures of 100,000 tests: what people add (and a
    # client's name, any length) is written anew on each download.
    bomb = "y" * 120_000
    for i in range(300):
        append_entry(log_dir, 5201, "extra_data", name=bomb if i % 2 else f"Room {i}", at=1795650000 + i)
    store = ResultsStore(log_dir)
    store.refresh()
    kept = CsvFigures()
    kept.warm_up(store.results())
    assert kept.kept_bytes() < 300 * 100  # under 100 bytes a test
    assert "".join(csv_chunks(store.results(), figures=kept)) == written_by_csv_module(store.results())


def test_a_streamed_csv_piece_holds_at_most_one_long_row(log_dir):
    # A 256-row chunk of 120 kB names was 61 MB, handed whole to the web
    # server: what a client that reads nothing made the station hold.
    bomb = "z" * 120_000
    for i in range(300):
        append_entry(log_dir, 5201, "extra_data", name=bomb, at=1795650000 + i)
    store = ResultsStore(log_dir)
    store.refresh()
    pieces = list(csv_chunks(store.results()))
    row = max(map(len, written_by_csv_module(store.results()).split("\r\n")))
    assert 2 * len(bomb) < row < 3 * len(bomb)  # the name twice: Name and the client's --extra-data
    assert max(map(len, pieces)) < CHUNK_CHARS + row
    assert "".join(pieces) == written_by_csv_module(store.results())
    records = list(json_chunks(store.results()))
    assert max(map(len, records)) < CHUNK_CHARS + 2 * len(bomb)
    assert len(json.loads("".join(records))) == 300


# -- one order everywhere ----------------------------------------------------


def at_second(source, timesecs: int, name: str) -> bytes:
    """A real sample log with its test moved to ``timesecs`` and renamed."""
    text = source.read_text(encoding="utf-8")
    text = re.sub(r'("timesecs":\s*)\d+', lambda m: f"{m[1]}{timesecs}", text, count=1)
    return re.sub(r'("extra_data":\s*)"[^"]*"', lambda m: f'{m[1]}"{name}"', text, count=1).encode()


def write_log(log_dir, port: int, *entries: bytes) -> None:
    with (log_dir / f"port-{port}.json").open("ab") as f:
        for entry in entries:
            f.write(entry)


def test_tests_starting_in_the_same_second_have_one_order_however_they_were_read(log_dir):
    # Three tests in one second on two ports, and an earlier one: whether the
    # logs are read all at once (webperf3 export) or one by one as the watcher
    # sees them change, in either order (a running station's /csv), the CSV is
    # the same: time, then port, then place in the log.
    same = 1795640600
    entries = {
        5202: [at_second(sample("extra_data"), same, "B first"), at_second(sample("extra_data"), same, "B second")],
        5201: [at_second(sample("extra_data"), same, "A"), at_second(sample("extra_data"), same - 5, "earlier")],
    }
    for port, logs in entries.items():
        write_log(log_dir, port, *logs)
    at_once = ResultsStore(log_dir)
    changes = at_once.refresh()
    expected = ["earlier", "A", "B first", "B second"]
    assert [r.name for r in at_once.results()] == expected
    assert [r.name for r in changes.added] == expected  # what the live push and the journal are told
    for order in ([5202, 5201], [5201, 5202]):
        one_by_one = ResultsStore(log_dir)
        for port in order:
            one_by_one.refresh_port(port)
        assert [r.name for r in one_by_one.results()] == expected, order
        assert "".join(csv_chunks(one_by_one.results())) == "".join(csv_chunks(at_once.results()))
    # Appended later, in the same second: still in its place.
    write_log(log_dir, 5201, at_second(sample("extra_data"), same, "A again"))
    at_once.refresh_port(5201)
    assert [r.name for r in at_once.results()] == ["earlier", "A", "A again", "B first", "B second"]
    assert [r.name for r in at_once.results(since=same)] == ["A", "A again", "B first", "B second"]
