"""Where the server's log carries what the client received, it is used as such.

No released iperf3 writes it: every server up to 3.21 writes its log before
the client's results arrive, so the receiver figures of what it sent are
zeros (esnet/iperf#1410; iperf_server_api.c calls the reporter before
iperf_exchange_results). esnet/iperf PR #1908 (open) reports after the
exchange. The entries below are real 3.21 and 3.9 entries with those zeros
replaced by non-zero figures, in cJSON's own layout, as a server with that
change would write them.
"""

from __future__ import annotations

import re

import pytest

from tests.support.samples import first_object
from webperf3.iperf3.reader.entries import parse_entry



def fill(raw: bytes, opening: bytes, nth: int = 0, **values: float) -> bytes:
    """Set fields of the ``nth`` object opened by ``opening`` (its line up
    to the brace, tabs included), keeping the layout byte for byte."""
    start = -1
    for _ in range(nth + 1):
        start = raw.index(opening, start + 1)
    indent = opening[: len(opening) - len(opening.lstrip(b"\t\n"))]
    stop = raw.index(indent + b"}", start + len(opening))
    block = raw[start:stop]
    for key, value in values.items():
        block, count = re.subn(rb'("%s":\t)[^,\n]+' % key.encode(), rb"\g<1>" + repr(value).encode(), block)
        assert count == 1, key
    return raw[:start] + block + raw[stop:]


SUM_RECEIVED = b'\n\t\t"sum_received":\t{'
SUM_RECEIVED_REVERSE = b'\n\t\t"sum_received_bidir_reverse":\t{'


@pytest.mark.parametrize("version", ["3.9", "3.12", "3.18", "3.21"])
@pytest.mark.parametrize("kind", ["reverse", "udp_reverse", "bidir"])
def test_a_released_server_writes_zeros_there(version, kind):
    # (A client that received nothing at all would look the same: then the
    # station's sent figure, named as such, is all there is.)
    r = parse_entry(first_object(version, kind), 5201)
    assert r.download_measured_by == "station" and r.download_bps > 0


def test_tcp_download_with_the_clients_figure():
    raw = first_object("3.21", "reverse")
    sent = parse_entry(raw, 5201)
    raw = fill(raw, SUM_RECEIVED, bytes=300000000, bits_per_second=2351234567.5)
    r = parse_entry(raw, 5201)
    assert r.download_bps == 2351234567.5 and r.download_measured_by == "client"
    assert r.retransmits == sent.retransmits  # still the sender's: the station's
    assert r.upload_bps is None and r.download_jitter_ms is None and r.download_loss_percent is None


def test_udp_download_with_the_clients_jitter_and_loss():
    raw = first_object("3.21", "udp_reverse")
    raw = fill(raw, SUM_RECEIVED, bytes=1114112, bits_per_second=8912896.0, jitter_ms=0.25, lost_packets=5, packets=39, lost_percent=12.82)
    r = parse_entry(raw, 5201)
    assert (r.download_bps, r.download_measured_by) == (8912896.0, "client")
    assert (r.download_jitter_ms, r.download_loss_percent) == (0.25, 12.82)
    assert r.jitter_ms is None and r.loss_percent is None  # no upload was measured


def test_udp_bidir_keeps_each_side_apart():
    raw = first_object("3.21", "udp_bidir")
    station = parse_entry(raw, 5201)
    raw = fill(raw, SUM_RECEIVED_REVERSE, bytes=983040, bits_per_second=7864320.0, jitter_ms=0.5, lost_packets=9, packets=39, lost_percent=23.08)
    r = parse_entry(raw, 5201)
    assert (r.download_bps, r.download_measured_by, r.download_jitter_ms, r.download_loss_percent) == (7864320.0, "client", 0.5, 23.08)
    # The upload is the station's own measurement, untouched.
    assert (r.upload_bps, r.jitter_ms, r.loss_percent) == (station.upload_bps, station.jitter_ms, station.loss_percent)


def test_tcp_bidir_with_the_clients_figure():
    raw = fill(first_object("3.18", "bidir_parallel"), SUM_RECEIVED_REVERSE, bytes=2000000000, bits_per_second=15000000000.25)
    r = parse_entry(raw, 5201)
    assert (r.direction, r.download_bps, r.download_measured_by) == ("bidirectional", 15000000000.25, "client")


def test_streams_of_an_old_bidir_with_the_clients_figures():
    # 3.9 --bidir is read stream by stream; the second stream is the one the server sent.
    raw = first_object("3.9", "bidir")
    assert parse_entry(raw, 5201).download_measured_by == "station"
    raw = fill(raw, b'\n\t\t\t\t"receiver":\t{', nth=1, bytes=1000000000, bits_per_second=7777777777.5)
    r = parse_entry(raw, 5201)
    assert (r.download_bps, r.download_measured_by) == (7777777777.5, "client")

