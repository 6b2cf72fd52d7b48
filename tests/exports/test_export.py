"""CSV and JSON exports."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from datetime import datetime

import pytest

from tests.support.logs import install, sample, store_of
from tests.support.paths import PROTOTYPE
from webperf3.exports.results import CSV_HEADER, CsvLines, csv_chunks, excel_serial, iso_time, json_chunks, safe_text
from webperf3.store.record import Result
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
    assert set(records[0]) == set(Result.__struct_fields__)  # every field, the sides' included
    assert {"download_measured_by", "download_jitter_ms", "download_loss_percent"} <= set(records[0])
    assert json.loads("".join(json_chunks([]))) == []


def test_cached_csv_lines_match_the_plain_export(log_dir):
    store = store_of(log_dir, **{"5201": [sample("tcp"), sample("client_killed")], "5202": [sample("udp"), sample("bidir")]})
    lines = CsvLines()
    plain = "".join(csv_chunks(store.results()))
    assert "".join(lines.chunks(store.results())) == plain
    assert len(lines._lines) == 4
    # Asked again, nothing is formatted anew; a new test adds one line.
    install(log_dir, 5201, sample("extra_data"))
    store.refresh()
    assert "".join(lines.chunks(store.results())) == "".join(csv_chunks(store.results()))
    assert len(lines._lines) == 5


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
