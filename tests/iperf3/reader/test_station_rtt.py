"""The station's round trips while it sends a TCP download (-R, --bidir):
read from its sending streams in real logs of every version, shown as the
station's measure of latency under load, never for an upload or UDP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.logs import DATA, first_entry
from webperf3.exports.results import CSV_HEADER, csv_row
from webperf3.iperf3.reader.entries import parse_entry

SENDING = sorted(p for p in DATA.glob("iperf3.*.json") if p.stem.split("-", 1)[1] in ("reverse", "bidir", "bidir_parallel"))


@pytest.mark.parametrize("path", SENDING, ids=lambda p: p.stem)
def test_a_tcp_download_carries_the_stations_round_trips(path: Path) -> None:
    raw = first_entry(path)
    result = parse_entry(raw, 5201)
    assert result is not None and result.error is None
    logged = json.loads(raw)
    sending = [s["sender"] for s in logged["end"]["streams"] if s.get("sender", {}).get("sender") and "mean_rtt" in s["sender"]]
    if not sending:  # a platform whose iperf3 logs no rtt: nothing is made up
        assert result.station_rtt is None
        return
    rtt = result.station_rtt
    assert rtt.min_ms == min(s["min_rtt"] for s in sending) / 1000
    assert rtt.max_ms == max(s["max_rtt"] for s in sending) / 1000
    assert rtt.min_ms <= rtt.mean_ms <= rtt.max_ms
    shown = result.to_dict()
    assert shown["station_rtt_mean_ms"] == rtt.mean_ms
    row = dict(zip(CSV_HEADER, csv_row(result)))
    assert row["Station RTT under load (ms, station, max)"] == rtt.max_ms


@pytest.mark.parametrize("name", ["tcp", "udp", "udp_reverse", "parallel", "client_killed"])
def test_no_station_rtt_without_a_tcp_download(name: str) -> None:
    result = parse_entry(first_entry(DATA / f"iperf3.12-{name}.json"), 5201)
    assert result is not None and result.station_rtt is None
    assert result.to_dict()["station_rtt_mean_ms"] is None
