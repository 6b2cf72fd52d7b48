"""``webperf3 status``'s table, from what /api/latest and /api/servers answer."""

from __future__ import annotations

from webperf3.cli.status import ago, rate, table


def test_table_shows_servers_latest_results_and_a_newer_failure():
    rows = [
        {"port": 5201, "latest": {"time": 1000.0, "name": "Room 101", "client": "10.0.0.5", "download_bps": 9.9e9, "upload_bps": 94.2e6}, "failure": None},
        {"port": 5202, "latest": {"time": 900.0, "name": None, "client": "10.0.0.6", "download_bps": None, "upload_bps": 5e6},
         "failure": {"time": 950.0, "error": "the client has terminated"}},
        {"port": 5203, "latest": None, "failure": None},
    ]
    servers = [{"port": 5201, "state": "testing", "client": "10.0.0.9"}, {"port": 5202, "state": "idle"}]
    lines = table(rows, servers, now=1125.0).splitlines()
    assert lines[0].split("  ")[0] == "Port" and "Download (sent)" in lines[0] and "Upload (received)" in lines[0]
    assert "testing from 10.0.0.9" in lines[1] and "Room 101" in lines[1] and "2 min ago" in lines[1]
    assert "9.90 Gbit/s" in lines[1] and "94.2 Mbit/s" in lines[1]
    assert lines[2].rstrip().endswith("the client has terminated")
    assert "last good test on port 5202" in lines[3] and "upload 5.0 Mbit/s" in lines[3]
    assert lines[4].split()[:2] == ["5203", "-"]


def test_a_failure_shows_under_its_own_name_and_the_rates_under_theirs():
    # Seen in the field: "WS check" then "Basement" killed mid-way; the line
    # showed "WS check" with its rates and Basement's error.
    rows = [{
        "port": 5201,
        "latest": {"time": 900.0, "name": "WS check", "client": "10.0.0.5", "download_bps": 9.4e7, "upload_bps": 9.3e7},
        "failure": {"time": 1000.0, "name": "Basement", "client": "10.0.0.7", "error": "the client has unexpectedly closed the connection"},
    }]
    failed, previous = table(rows, [], now=1030.0).splitlines()[1:]
    assert "Basement" in failed and "10.0.0.7" in failed and "30 s ago" in failed
    assert "WS check" not in failed and "Mbit/s" not in failed
    assert failed.rstrip().endswith("the client has unexpectedly closed the connection")
    assert "WS check" in previous and "10.0.0.5" in previous and "download 94.0 Mbit/s" in previous


def test_units():
    assert rate(None) == "-" and rate(999e6) == "999.0 Mbit/s" and rate(1.5e9) == "1.50 Gbit/s"
    assert ago(None, 0) == "-" and ago(10, 15) == "5 s ago" and ago(0, 7200) == "2 h ago"


def test_names_from_the_network_cannot_break_the_table_or_drive_the_terminal():
    hostile = "Room\n101\x1b[2J\x1b]0;title\x07\u202eevil\r"
    rows = [
        {"port": 5201, "latest": {"time": 1000.0, "name": hostile, "client": "10.0.0.5\x1b[31m", "download_bps": None, "upload_bps": 1e6},
         "failure": {"time": 1001.0, "name": hostile, "client": "10.0.0.5\x1b[31m", "error": "bad\nerror\x9b"}},
        {"port": 5202, "latest": {"time": 1000.0, "name": "x" * 5000, "client": "10.0.0.6"}, "failure": None},
    ]
    servers = [{"port": 5201, "state": "testing", "client": "10.0.0.9\n"}]
    text = table(rows, servers, now=1010.0)
    lines = text.splitlines()
    # The header, the failed test, the last good one under it, and port 5202:
    # one line each, whatever the names hold.
    assert len(lines) == 4
    assert not any(ch in text for ch in "\x1b\x07\r\u202e\x9b")
    assert "Room\\n101\\x1b[2J\\x1b]0;title\\x07\\u202eevil\\r" in lines[1]
    assert "10.0.0.5\\x1b[31m" in lines[1] and "testing from 10.0.0.9\\n" in lines[1]
    assert lines[1].endswith("bad\\nerror\\x9b")
    assert "Room\\n101" in lines[2] and "10.0.0.5\\x1b[31m" in lines[2]
    assert "x" * 199 + "…" in lines[3] and "x" * 200 not in lines[3]  # capped; the CSV keeps it whole


def test_the_place_is_the_board_s_not_the_client_s_extra_data():
    # A phone's app sends no --extra-data: its browser named the place; an edit wins over both.
    rows = [
        {"port": 5201, "latest": {"time": 1000.0, "name": None, "place": "Kitchen", "place_source": "browser",
                                  "client": "10.0.0.5", "upload_bps": 9e7}, "failure": None},
        {"port": 5202, "latest": {"time": 1000.0, "name": "Room 101", "place": "Room 102", "place_source": "edited",
                                  "client": "10.0.0.6", "upload_bps": 9e7}, "failure": None},
        {"port": 5203, "latest": {"time": 900.0, "name": None, "place": "Hall", "client": "10.0.0.7", "upload_bps": 5e6},
         "failure": {"time": 950.0, "name": None, "place": "Hall", "client": "10.0.0.7", "interrupted": True,
                     "error": "interrupt - the server has terminated",
                     "error_plain": "Interrupted by the station: it was stopped or restarted during the test"}},
    ]
    lines = table(rows, [], now=1010.0).splitlines()
    assert lines[0].split()[:3] == ["Port", "Server", "Place"]
    assert "Kitchen" in lines[1] and "Room 102" in lines[2] and "Room 101" not in lines[2]
    assert "Hall" in lines[3] and lines[3].endswith("Interrupted by the station: it was stopped or restarted during the test")
    assert "last good test on port 5203: Hall from 10.0.0.7" in lines[4]
