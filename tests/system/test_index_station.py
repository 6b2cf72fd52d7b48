"""A real station keeps its index beside the logs, starts from it, and a
real ``webperf3 export`` reads it: neither ever shows a test as the index
remembers it rather than as the log now holds it."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys

from tests.support.logs import T_ROOM_101, make_entry
from tests.support.paths import ROOT
from tests.support.station import Station
from webperf3.iperf3.reader.index import index_path

PORT = 5201


def _export_names(log_dir) -> list[str]:
    done = subprocess.run([sys.executable, "-m", "webperf3", "export", "--log-dir", str(log_dir)], capture_output=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    rows = list(csv.DictReader(io.StringIO(done.stdout.decode("utf-8"))))
    return [row["Client's --extra-data"] for row in rows]


def test_a_station_starts_from_its_index_and_an_export_sees_the_log_as_it_is(log_dir):
    log = log_dir / f"port-{PORT}.json"
    count = 0
    with log.open("wb") as out:
        while out.tell() < (1 << 20) + 4096:  # past the 1 MiB a station indexes at
            out.write(make_entry("extra_data", name=f"Room {count:04d}", at=T_ROOM_101 + 60 * count))
            count += 1
    with Station(log_dir, servers=0) as station:
        rows = station.api("api/latest")["rows"]
        assert [r["latest"]["name"] for r in rows if r["port"] == PORT] == [f"Room {count - 1:04d}"]
    assert index_path(log).exists()
    names = _export_names(log_dir)
    assert len(names) == count and names[7] == "Room 0007"
    # The log rewritten in place, its size and inode kept: the index no longer holds.
    data = log.read_bytes()
    with log.open("r+b") as f:
        f.write(data.replace(b'"Room 0007"', b'"Hall 0007"'))
    names = _export_names(log_dir)
    assert names[7] == "Hall 0007" and "Room 0007" not in names
    with Station(log_dir, servers=0) as station:
        rows = station.api("api/latest")["rows"]
        assert [r["latest"]["name"] for r in rows if r["port"] == PORT] == [f"Room {count - 1:04d}"]
    assert _export_names(log_dir)[7] == "Hall 0007"
