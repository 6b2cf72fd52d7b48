"""Live figures from successive looks at a test's counters (webperf3/iperf3/sockets/progress.py).

The looks here are the counters an iperf3 test leaves in the kernel, written
out: the real thing is driven in tests/system/test_progress_live.py.
"""

from __future__ import annotations

import pytest

from webperf3.iperf3.sockets.progress import (
    COOKIE_BYTES,
    Connection,
    Look,
    Progress,
    RunningTest,
    sort_streams,
)

MB = 1_000_000
# The control connection once the test runs: cookie + parameters in, state bytes out.
CONTROL = Connection(key=1, received=COOKIE_BYTES + 150, acked=3)


def upload(key: int, received: int) -> Connection:
    return Connection(key, COOKIE_BYTES + received, 0)


def download(key: int, acked: int) -> Connection:
    return Connection(key, COOKIE_BYTES, acked)


# ------------------------------------------------------- telling streams apart


def test_the_connection_with_bytes_both_ways_is_the_control_one():
    streams = sort_streams([upload(2, 5 * MB), CONTROL, download(3, 7 * MB)])
    assert streams.control == CONTROL
    assert [c.key for c in streams.upload] == [2] and [c.key for c in streams.download] == [3]


def test_a_lone_connection_is_the_control_one_even_before_it_carried_anything():
    # PARAM_EXCHANGE sent, the parameters not yet in: it looks like a download stream.
    lone = Connection(1, COOKIE_BYTES, 1)
    streams = sort_streams([lone])
    assert streams.control == lone and streams.count == 0
    assert sort_streams([]).control is None


def test_a_new_data_stream_and_a_turned_away_client_carry_no_direction():
    just_connected = Connection(2, COOKIE_BYTES, 0)
    turned_away = Connection(3, COOKIE_BYTES, 1)  # "the server is busy": one state byte
    streams = sort_streams([CONTROL, just_connected, turned_away])
    assert streams.upload == () and streams.download == ()
    assert streams.count == 2


# ------------------------------------------------------------------- TCP rates


def run(looks: list[Look], started: float = 0.0) -> list[Progress]:
    test = RunningTest(5201, started)
    return [test.update(look) for look in looks]


def test_upload_rate_is_the_change_of_bytes_received_and_starts_at_zero():
    out = run([
        Look(0.1, (CONTROL,)),
        Look(0.35, (CONTROL, upload(2, 2 * MB))),
        Look(0.6, (CONTROL, upload(2, 5 * MB))),
    ])
    assert out[0].protocol is None and out[0].upload_bps is None and out[0].interval is None
    assert out[1].protocol == "TCP" and out[1].upload_bps == pytest.approx(2 * MB * 8 / 0.25)
    assert out[2].upload_bps == pytest.approx(3 * MB * 8 / 0.25)
    assert out[2].upload_bytes == 5 * MB and out[2].download_bps is None and out[2].download_measured_by is None
    assert out[2].elapsed == pytest.approx(0.6) and out[2].interval == pytest.approx(0.25) and out[2].streams == 1


def test_first_look_at_a_running_test_gives_zero_not_a_guess():
    out = run([Look(1.0, (CONTROL, upload(2, 80 * MB)))], started=0.5)
    assert out[0].upload_bps == 0.0 and out[0].upload_bytes == 80 * MB and out[0].elapsed == pytest.approx(0.5)


def test_reverse_shows_download_from_bytes_the_client_acknowledged():
    out = run([Look(0.0, (CONTROL, download(2, 1 * MB))), Look(0.5, (CONTROL, download(2, 6 * MB)))])
    assert out[1].upload_bps is None
    assert out[1].download_bps == pytest.approx(5 * MB * 8 / 0.5)
    assert out[1].download_measured_by == "client"


def test_parallel_streams_are_summed_and_bidir_shows_both_ways():
    first = (CONTROL, upload(2, 1 * MB), upload(3, 1 * MB), download(4, 2 * MB), download(5, 2 * MB))
    second = (CONTROL, upload(2, 3 * MB), upload(3, 4 * MB), download(4, 3 * MB), download(5, 5 * MB))
    out = run([Look(0.0, first), Look(0.25, second)])
    assert out[1].upload_bps == pytest.approx(5 * MB * 8 / 0.25)
    assert out[1].download_bps == pytest.approx(4 * MB * 8 / 0.25)
    assert out[1].streams == 4 and out[1].upload_bytes == 7 * MB and out[1].download_bytes == 8 * MB


def test_a_stream_that_appears_between_looks_counts_from_its_cookie():
    out = run([Look(0.0, (CONTROL, upload(2, 1 * MB))), Look(0.25, (CONTROL, upload(2, 2 * MB), upload(3, 1 * MB)))])
    assert out[1].upload_bps == pytest.approx(2 * MB * 8 / 0.25)


def test_a_stream_gone_between_looks_drops_out_and_never_gives_a_negative_rate():
    out = run([Look(0.0, (CONTROL, upload(2, 4 * MB), upload(3, 4 * MB))), Look(0.25, (CONTROL, upload(2, 5 * MB)))])
    assert out[1].upload_bps == pytest.approx(1 * MB * 8 / 0.25)
    # The same key with smaller counters (cannot happen in one socket's life): 0, not negative.
    out = run([Look(0.0, (CONTROL, upload(2, 4 * MB))), Look(0.25, (CONTROL, upload(2, 3 * MB)))])
    assert out[1].upload_bps == 0.0


def test_the_control_connection_bytes_never_count():
    busy_control = Connection(1, COOKIE_BYTES + 4000, 9000)  # results exchanged at the end
    out = run([Look(0.0, (CONTROL, upload(2, 1 * MB))), Look(0.25, (busy_control, upload(2, 1 * MB)))])
    assert out[1].upload_bps == 0.0 and out[1].download_bps is None


def test_figures_serialise_with_bps_keys():
    out = run([Look(0.0, (CONTROL, upload(2, 1 * MB)))])[0].to_dict()
    assert set(out) == {
        "port", "elapsed", "protocol", "upload_bps", "download_bps", "download_measured_by",
        "upload_bytes", "download_bytes", "streams", "interval",
    }
    assert out["port"] == 5201 and out["protocol"] == "TCP"


# ------------------------------------------------------------------- UDP rates


def udp_run(ios: list[tuple[int, int] | None], step: float = 0.25) -> list[Progress]:
    control = Connection(1, COOKIE_BYTES + 150, 3)
    return run([Look(i * step, (control,), 1, io) for i, io in enumerate(ios)])


def test_udp_upload_is_what_the_server_process_read():
    rates = udp_run([(1000, 50), (1000 + 1 * MB, 50), (1000 + 2 * MB, 50), (1000 + 3 * MB, 50), (1000 + 4 * MB, 50)])
    assert [p.protocol for p in rates] == ["UDP"] * 5
    assert rates[0].upload_bps is None and rates[1].upload_bps is None  # one interval is not yet a direction
    assert rates[2].upload_bps == pytest.approx(1 * MB * 8 / 0.25)
    assert rates[4].upload_bytes == 4 * MB and rates[4].download_bps is None


def test_udp_download_is_what_the_station_sent_and_says_so():
    rates = udp_run([(0, 0), (0, 1 * MB), (0, 2 * MB), (0, 3 * MB)])
    assert rates[3].download_bps == pytest.approx(1 * MB * 8 / 0.25)
    assert rates[3].download_measured_by == "station" and rates[3].upload_bps is None


def test_udp_setup_reads_and_the_final_log_write_never_become_a_direction():
    # An upload test: iperf3 reads its random buffer once at the start (rchar)
    # and writes its results and its log at the end (wchar).
    ios = [(0, 0), (200_000, 0)] + [(200_000 + i * MB, 0) for i in range(1, 8)]
    ios += [(ios[-1][0] + MB, 30_000), (ios[-1][0] + 2 * MB, 60_000)]
    rates = udp_run(ios)
    assert all(p.download_bps is None for p in rates)
    assert rates[-1].upload_bps == pytest.approx(1 * MB * 8 / 0.25)


def test_udp_without_readable_counters_shows_only_that_it_runs():
    rates = udp_run([None, None, None])
    assert all(p.protocol == "UDP" and p.upload_bps is None and p.download_bps is None for p in rates)
    assert rates[-1].elapsed == pytest.approx(0.5)


def test_udp_received_without_read_counts_nothing_rather_than_zero():
    # iperf3 3.21 --skip-rx-copy receives with recv(MSG_TRUNC): rchar stays still.
    rates = udp_run([(5000, 100)] * 12)
    assert all(p.upload_bps is None and p.download_bps is None for p in rates)


def test_nothing_on_the_port_but_the_control_connection_is_no_protocol_yet():
    out = run([Look(0.0, (CONTROL,)), Look(0.25, (CONTROL,))])
    assert out[1].protocol is None and out[1].streams is None and out[1].interval == pytest.approx(0.25)


# ------------------------------------- without counters (sock_diag refused)


def io_only_run(established: list[int], ios: list[tuple[int, int]], step: float = 0.25) -> list[Progress]:
    return run([Look(i * step, (), 0, io, established=n) for i, (n, io) in enumerate(zip(established, ios, strict=True))])


def test_without_counters_a_tcp_download_is_what_the_station_sent():
    ios = [(500, 0), (500, 3 * MB), (500, 6 * MB), (500, 9 * MB), (500, 12 * MB)]
    rates = io_only_run([1, 2, 2, 2, 2], ios)
    assert rates[0].protocol is None and rates[-1].protocol == "TCP" and rates[-1].streams == 1
    assert rates[-1].download_bps == pytest.approx(3 * MB * 8 / 0.25)
    # Sent, not received: the client's acknowledgements are what sock_diag would have given.
    assert rates[-1].download_measured_by == "station" and rates[-1].upload_bps is None


def test_without_counters_a_tcp_download_s_last_bytes_are_still_tcp_when_its_stream_has_closed():
    """The data stream closes before the control connection: the sample of
    the test's last bytes saw one connection (and showed a rate with no
    protocol, seen on an armhf Pi's emulation and a loaded build machine)."""
    ios = [(500, 0), (500, 3 * MB), (500, 6 * MB), (500, 9 * MB), (500, 12 * MB), (500, 13 * MB)]
    rates = io_only_run([1, 2, 2, 2, 2, 1], ios)
    assert rates[-1].download_bps == pytest.approx(MB * 8 / 0.25)
    assert (rates[-1].protocol, rates[-1].streams) == ("TCP", 1)


def test_without_counters_a_tcp_upload_with_two_streams_is_what_the_station_read():
    ios = [(0, 0), (2 * MB, 0), (4 * MB, 0), (6 * MB, 0)]
    rates = io_only_run([3, 3, 3, 3], ios)
    assert rates[-1].upload_bps == pytest.approx(2 * MB * 8 / 0.25) and rates[-1].upload_bytes == 6 * MB
    assert rates[-1].streams == 2 and rates[-1].download_bps is None and rates[-1].download_measured_by is None


def test_without_counters_one_connection_is_no_protocol_yet_but_its_udp_figures_show():
    ios = [(0, 0), (0, MB), (0, 2 * MB), (0, 3 * MB)]
    rates = io_only_run([1, 1, 1, 1], ios)
    assert all(p.protocol is None and p.streams is None for p in rates)
    assert rates[-1].download_bps == pytest.approx(MB * 8 / 0.25) and rates[-1].download_measured_by == "station"
