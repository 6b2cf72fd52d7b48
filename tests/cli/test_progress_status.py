"""``webperf3 status`` and the websocket message, given a running test's live figures."""

from __future__ import annotations

import json

from webperf3.iperf3.sockets.progress import Progress
from webperf3.live.messages import encode, progress_message
from webperf3.cli.status import live, table


def figures(**changes) -> dict:
    base = dict(
        port=5201, elapsed=12.4, protocol="TCP", upload_bps=94.1e6, download_bps=None, download_measured_by=None,
        upload_bytes=140_000_000, download_bytes=None, streams=1, interval=0.25,
    )
    return {**base, **changes}


def test_status_shows_the_live_figures_of_a_running_test():
    rows = [{"port": 5201, "latest": None, "failure": None}]
    servers = [{"port": 5201, "state": "testing", "client": "10.0.0.9", "progress": figures()}]
    line = table(rows, servers, now=0.0).splitlines()[1]
    assert "testing from 10.0.0.9 (12 s, up 94.1 Mbit/s)" in line


def test_each_direction_is_named_and_a_udp_download_is_said_to_be_sent():
    assert live(figures(upload_bps=None, download_bps=1.2e9, download_measured_by="client")) == " (12 s, down 1.20 Gbit/s)"
    both = live(figures(protocol="UDP", upload_bps=5e6, download_bps=50e6, download_measured_by="station"))
    assert both == " (12 s, up 5.0 Mbit/s, down 50.0 Mbit/s sent)"


def test_a_test_without_figures_says_only_what_is_known():
    assert live(None) == ""
    assert live(figures(protocol="UDP", upload_bps=None)) == " (12 s, UDP test running)"
    assert live(figures(protocol=None, upload_bps=None, elapsed=0.0)) == " (0 s)"
    servers = [{"port": 5201, "state": "testing", "client": "10.0.0.9"}]  # an older webperf3: no progress key
    assert "testing from 10.0.0.9" in table([{"port": 5201, "latest": None, "failure": None}], servers, 0.0)


def test_one_progress_message_carries_every_running_test():
    tests = [Progress(**figures()), Progress(**figures(port=5202, protocol="UDP", upload_bps=None, streams=None))]
    message = json.loads(encode(progress_message(tests)))
    assert message["type"] == "progress"
    assert [t["port"] for t in message["tests"]] == [5201, 5202]
    assert message["tests"][0] == figures()
    assert message["tests"][1]["upload_bps"] is None
