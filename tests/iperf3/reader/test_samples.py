"""Every real server log of iperf3 3.9, 3.12, 3.18 and 3.21 reads right.

Each expectation is checked against the log itself, read here with Python's
json module: the rates against the bytes of the intervals (which the reader
never decodes), the duration of a failure against its last interval, the
cookie and time against `start`.
"""

from __future__ import annotations

import pytest

from tests.support.samples import (
    KINDS,
    UTF8_NAME,
    VERSIONS,
    every_sample,
    interval_bytes,
    objects,
    path_of,
    written_tests,
)
from webperf3.iperf3.reader.logs import LogReader

CLOSED = "the client has unexpectedly closed the connection"

#: kind → (direction, protocol, streams, name, error or None)
EXPECTED = {
    "tcp": ("upload", "TCP", 1, None, None),
    "reverse": ("download", "TCP", 1, None, None),
    "bidir": ("bidirectional", "TCP", 1, None, None),
    "parallel": ("upload", "TCP", 2, None, None),
    "bidir_parallel": ("bidirectional", "TCP", 2, None, None),
    "udp": ("upload", "UDP", 1, None, None),
    "udp_reverse": ("download", "UDP", 1, None, None),
    "udp_bidir": ("bidirectional", "UDP", 1, None, None),
    "extra_data": ("upload", "TCP", 1, "Room 101", None),
    "extra_data_utf8": ("upload", "TCP", 1, UTF8_NAME, None),
    "client_killed": ("upload", "TCP", 1, None, CLOSED),
    "client_sigint": ("upload", "TCP", 1, "interrupted", "the client has terminated"),
    "bidir_killed": ("bidirectional", "TCP", 2, "bidir killed", CLOSED),
    # 3.21 adds "by signal Terminated(15)"
    "server_stopped": ("upload", "TCP", 1, "server stopped", "interrupt - the server has terminated"),
    "connect_close": ("upload", "TCP", 1, None, None),
    "udp_loss_from_3.18": ("upload", "UDP", 1, None, None),
}
SAMPLES = every_sample()


def read(version: str, kind: str):
    reader = LogReader(path_of(version, kind), 5201)
    found = reader.read()
    assert found.skipped == 0, "every object of a real log is iperf3's"
    return found.results


def test_every_version_has_every_kind():
    missing = [(v, k) for v in VERSIONS for k in KINDS if not path_of(v, k).exists()]
    assert missing == [], "run scripts/make-sample-logs"
    assert set(k for _, k in SAMPLES) <= set(EXPECTED)


@pytest.mark.parametrize(("version", "kind"), SAMPLES, ids=[f"{v}-{k}" for v, k in SAMPLES])
def test_sample_reads_right(version, kind):
    path = path_of(version, kind)
    written = written_tests(path)
    results = read(version, kind)
    # One test, once: the probes' and the termination records have no time.
    assert len(written) == 1 and len(results) == 1, results
    assert any("the server has terminated" in o.get("error", "") for o in objects(path))
    obj, r = written[0], results[0]
    direction, protocol, streams, name, error = EXPECTED[kind]

    assert (r.direction, r.protocol, r.streams, r.name) == (direction, protocol, streams, name)
    assert r.version == version and r.client == "127.0.0.1" and r.port == 5201
    assert r.time == obj["start"]["timestamp"]["timesecs"]
    assert r.cookie == obj["start"]["cookie"] and len(r.cookie) == 36

    if error is not None:
        assert r.error is not None and r.error.startswith(error) and not r.ok
        # What was measured of a failure means nothing: no rate at all.
        assert (r.upload_bps, r.download_bps, r.download_measured_by) == (None, None, None)
        assert (r.jitter_ms, r.loss_percent, r.retransmits) == (None, None, None)
        # How long it ran, as far as the log knows, never the 5 s asked for.
        assert r.duration == pytest.approx(obj["intervals"][-1]["sum"]["end"])
        assert 0.9 < r.duration < obj["start"]["test_start"]["duration"] - 2
        return

    assert r.ok and r.error is None
    assert r.duration == pytest.approx(1.0, abs=0.4)
    received, sent = interval_bytes(obj)
    uploads = direction in ("upload", "bidirectional")
    downloads = direction in ("download", "bidirectional")
    if uploads:
        assert r.upload_bps == pytest.approx(received * 8 / r.duration, rel=0.01)
    else:
        assert r.upload_bps is None and received == 0
    if downloads:
        # The station's log holds what it sent, and says so.
        assert r.download_bps == pytest.approx(sent * 8 / r.duration, rel=0.01)
        assert r.download_measured_by == "station"
    else:
        assert r.download_bps is None and r.download_measured_by is None and sent == 0
    assert r.download_jitter_ms is None and r.download_loss_percent is None  # the client measured those

    if protocol == "UDP":
        if kind == "udp_loss_from_3.18":
            assert r.upload_bps > 100e6
        else:
            for bps in (r.upload_bps, r.download_bps):
                assert bps is None or 8e6 < bps < 12e6  # -b 10M
        assert r.retransmits is None
        if uploads:
            assert r.jitter_ms is not None and 0 <= r.jitter_ms < 100
            assert r.loss_percent is not None and 0 <= r.loss_percent <= 100
        else:
            assert r.jitter_ms is None and r.loss_percent is None
    else:
        for bps in (r.upload_bps, r.download_bps):
            assert bps is None or bps > 50e6  # loopback TCP
        assert r.jitter_ms is None and r.loss_percent is None
        # Retransmits are the sender's: the station's only when it sent.
        assert (r.retransmits is not None) == downloads


@pytest.mark.parametrize("version", VERSIONS)
def test_every_kind_in_one_log_counts_each_test_once(tmp_path, version):
    log = tmp_path / "port-5201.json"
    with log.open("ab") as out:
        for kind in KINDS:
            out.write(path_of(version, kind).read_bytes())
    found = LogReader(log, 5201).read()
    assert found.skipped == 0
    assert len(found.results) == len(KINDS)
    assert len({r.cookie for r in found.results}) == len(KINDS)
    assert [r.time for r in found.results] == [written_tests(path_of(version, k))[0]["start"]["timestamp"]["timesecs"] for k in KINDS]
