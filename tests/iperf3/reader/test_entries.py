"""One iperf3 JSON object → one Result: every case iperf3 writes."""

from __future__ import annotations

import pytest

from tests.support.logs import first_entry, sample
from tests.support.paths import PROTOTYPE
from webperf3.iperf3.reader.entries import EntryError, parse_entry
from webperf3.iperf3.reader.logs import LogReader


def results_of(path, port=5201):
    return LogReader(path, port).read().results


def only(path):
    found = results_of(path)
    assert len(found) == 1, found
    return found[0]


# -- the prototype's fixtures give the prototype's numbers ----------------------
# (timestamp, send bps = server→client = download, receive bps = upload, name)


def prototype_view(r):
    return (r.time, r.download_bps, r.upload_bps, r.name)


def test_prototype_single():
    assert prototype_view(only(PROTOTYPE / "single_iperf3_output.json")) == (
        1647312652, 6218445861.06448, 5588500339.1611471, "UE name 2 here")


def test_prototype_multiple_all_and_latest():
    found = results_of(PROTOTYPE / "multiple_iperf3_output.json")
    assert [prototype_view(r) for r in found] == [
        (1647307558, 5644924535.6456957, 4900633492.4580631, "UE name here"),
        (1647312637, 5930752506.02558, 5060954075.1963663, "UE name 1 here"),
    ]
    assert max(found, key=lambda r: r.time).name == "UE name 1 here"


@pytest.mark.parametrize("name", ["error_0", "error_1"])
def test_prototype_errors_give_no_result(name):
    # Server start-up failures and termination records: no timestamp, no test.
    assert results_of(PROTOTYPE / f"{name}_iperf3_output.json") == []


def test_prototype_no_bidir():
    r = only(PROTOTYPE / "no_bidir_iperf3_output.json")
    assert prototype_view(r) == (1647873959, None, 39130143.4457638, None)
    assert r.direction == "upload" and r.version == "3.9"


def test_prototype_bidir_311_uses_streams_and_knows_it_is_bidir():
    # 3.10.1 writes no *_bidir_reverse sums and a zero sum_received.
    r = only(PROTOTYPE / "single_iperf3_output.json")
    assert r.direction == "bidirectional"
    assert r.client == "10.0.0.18" and r.version == "3.10.1" and r.protocol == "TCP"


# -- iperf3 3.12, every mode -----------------------------------------------------


def test_tcp_upload():
    r = only(sample("tcp"))
    assert r.direction == "upload" and r.protocol == "TCP" and r.streams == 1
    assert r.upload_bps == 22578238782.102535
    assert r.download_bps is None  # not measured: absent, not 0
    assert r.retransmits is None and r.jitter_ms is None and r.loss_percent is None
    assert r.client == "127.0.0.1" and r.time == 1795640507 and r.version == "3.12"
    assert r.duration == pytest.approx(1.000544) and r.ok and r.error is None


def test_reverse_is_download_with_server_retransmits():
    r = only(sample("reverse"))
    assert r.direction == "download"
    assert r.download_bps == 18356488677.961807 and r.upload_bps is None
    assert r.retransmits == 30


def test_bidir_uses_bidir_reverse_sum_for_download():
    r = only(sample("bidir"))
    assert r.direction == "bidirectional"
    assert r.upload_bps == 11287253901.027405
    assert r.download_bps == 9897813241.0115833
    assert r.retransmits == 0


def test_parallel_sums_streams():
    r = only(sample("parallel"))
    assert r.streams == 2 and r.upload_bps == 13182734289.887608 and r.download_bps is None


def test_bidir_parallel():
    r = only(sample("bidir_parallel"))
    assert (r.direction, r.streams) == ("bidirectional", 2)
    assert r.upload_bps == 7540048448.178425 and r.download_bps == 12028668449.787405
    assert r.retransmits == 35


def test_udp_upload_has_jitter_and_loss():
    r = only(sample("udp"))
    assert r.protocol == "UDP" and r.direction == "upload"
    assert r.upload_bps == 10219967.471612634
    assert r.jitter_ms == 0.03713558269097547 and r.loss_percent == 0


def test_udp_download_has_no_server_side_jitter():
    r = only(sample("udp_reverse"))
    assert r.direction == "download" and r.download_bps == 10221980.4831227
    # The client measured jitter and loss there; the server's log cannot say.
    assert r.jitter_ms is None and r.loss_percent is None


def test_extra_data_is_the_name():
    assert only(sample("extra_data")).name == "Room 101"


def test_client_killed_mid_test_is_a_failure():
    r = only(sample("client_killed"))
    assert r.error == "the client has unexpectedly closed the connection"
    assert not r.ok and r.upload_bps is None and r.download_bps is None


def test_client_interrupted_is_a_failure_without_rates():
    # SIGINT leaves `error` and a filled `end` whose rates mean nothing.
    r = only(sample("client_sigint"))
    assert r.error == "the client has terminated" and r.name == "interrupted"
    assert r.upload_bps is None and r.download_bps is None


def test_connect_and_close_is_not_a_test():
    # "unable to receive parameters" has no timestamp: only the real test counts.
    r = only(sample("connect_close"))
    assert r.ok and r.upload_bps == 11846539492.10158


def test_server_termination_record_is_not_a_test():
    record = b'{\n\t"start":\t{\n\t\t"connected":\t[],\n\t\t"version":\t"iperf 3.12"\n\t},\n\t"intervals":\t[],\n\t"end":\t{\n\t},\n\t"error":\t"interrupt - the server has terminated"\n}\n'
    assert parse_entry(record, 5201) is None


# -- bad objects -------------------------------------------------------------------


def test_invalid_utf8_in_the_name_keeps_the_test():
    raw = first_entry(sample("extra_data")).replace(b"Room 101", b"Room \xff101")
    r = parse_entry(raw, 5201)
    assert r is not None and r.name == "Room \ufffd101" and r.upload_bps is not None


@pytest.mark.parametrize(
    "raw",
    [
        b'{"start": "not an object"}',
        b'{"hello": "world"}',
        b"[1, 2, 3]",
        b"{not json}",
        b'{"start": {"timestamp": {"timesecs": "yesterday"}}}',
        b'{"start": {}, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    ],
    ids=["wrong-type", "other-schema", "array", "malformed", "bad-timestamp", "nested-100000"],
)
def test_objects_that_are_not_iperf3s_raise_entry_error(raw):
    with pytest.raises(EntryError):
        parse_entry(raw, 5201)
