"""Logs made now by real iperf3 processes read as the clients saw the tests."""

from __future__ import annotations

import json
import shutil
import subprocess
import time

import pytest

from tests.support.ports import free_ports, listening
from tests.support.waiting import wait_until
from webperf3.iperf3.reader.logs import LogReader

pytestmark = pytest.mark.skipif(shutil.which("iperf3") is None, reason="iperf3 is not installed")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One real iperf3 server, its JSON on stdout appended to its log."""
    (port,) = free_ports(1)
    log = tmp_path_factory.mktemp("fresh") / f"port-{port}.json"
    with log.open("ab") as out:
        proc = subprocess.Popen(["iperf3", "--server", "--json", "--port", str(port), "--bind", "127.0.0.1"], stdout=out, stderr=subprocess.DEVNULL)
    try:
        # iperf3 accepts only after it listens; probing with a connect would
        # itself be logged as a failed test, so wait for the socket instead.
        wait_until(lambda: listening(port), 5, what="the server to listen")
        yield port, LogReader(log, port)
    finally:
        proc.terminate()
        proc.wait(timeout=5)


def client(port: int, *args: str) -> dict:
    done = subprocess.run(["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", "1", "--json", *args], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def read_one(reader: LogReader):
    deadline = time.monotonic() + 5
    found = []
    while not found and time.monotonic() < deadline:
        found = reader.read().results
        time.sleep(0.05)
    assert len(found) == 1, found
    return found[0]


def test_upload_with_a_name(server):
    port, reader = server
    seen = client(port, "--extra-data", "Room 101")
    r = read_one(reader)
    assert (r.name, r.direction, r.protocol, r.download_bps) == ("Room 101", "upload", "TCP", None)
    assert r.upload_bps == pytest.approx(seen["end"]["sum_received"]["bits_per_second"], rel=0.05)
    assert r.client == "127.0.0.1" and r.time == seen["start"]["timestamp"]["timesecs"]


def test_reverse_is_a_download(server):
    port, reader = server
    seen = client(port, "-R")
    r = read_one(reader)
    assert r.direction == "download" and r.upload_bps is None
    assert r.download_bps == pytest.approx(seen["end"]["sum_sent"]["bytes"] * 8 / r.duration, rel=0.01)
    assert r.download_measured_by == "station"


def test_bidir_has_both_directions(server):
    port, reader = server
    seen = client(port, "--bidir", "-P", "2")
    r = read_one(reader)
    assert r.direction == "bidirectional" and r.streams == 2
    # The station's log holds what it sent, and the client's JSON has the
    # same bytes (from the server); what the client received is its own.
    # Bytes, not rates: the client times the server's streams by its own
    # clock, which under load drifts from the server's by several percent.
    assert r.upload_bps == pytest.approx(seen["end"]["sum_received"]["bytes"] * 8 / r.duration, rel=0.01)
    assert r.download_measured_by == "station"
    assert r.download_bps == pytest.approx(seen["end"]["sum_sent_bidir_reverse"]["bytes"] * 8 / r.duration, rel=0.01)


def test_udp_has_jitter_and_loss(server):
    port, reader = server
    client(port, "-u", "-b", "10M")
    r = read_one(reader)
    assert r.protocol == "UDP" and r.upload_bps == pytest.approx(10e6, rel=0.2)
    assert r.jitter_ms is not None and r.loss_percent is not None
