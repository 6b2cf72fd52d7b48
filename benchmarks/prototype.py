"""The prototype's log reading and CSV export, re-expressed for measurement.

Written from the prototype's description (../shared/prototype/
webperf3-prototype.txt), not copied from it, and kept to the same steps so
the benchmark measures the same work:

1. per port, ``Path.read_text()`` the whole log;
2. cut it into pieces at each ``"\\n{"`` (a piece runs from a ``{`` at a line
   start to just before the next one; the first piece starts at offset 0);
3. ``json.loads`` every piece, keeping each parsed dict of the file in a list
   (a piece that fails to parse is dropped, with the test in it);
4. from each dict take (timestamp = ``start.timestamp.timesecs``, send bps =
   ``end.streams[1].sender.bits_per_second``, receive bps =
   ``end.streams[0].receiver.bits_per_second``, name = ``extra_data``), a
   ``KeyError`` / ``IndexError`` leaving what was not yet found as ``None``;
5. gather (port, ts, send, recv, name) of every port in one list, drop rows
   with no timestamp, sort by timestamp, turn the timestamp into an Excel
   serial date in local time, write every row with ``csv.writer`` into one
   ``StringIO`` and return the whole string.

It has no incremental reading: after a new test it does all of this again.
The only liberty taken: it reads every ``port-*.json`` of a directory rather
than ports 5201 … 5200 + N under ``/home/pi/iperf3-logs``.
"""

from __future__ import annotations

import csv
import json
import re
import time
from io import StringIO
from pathlib import Path
from typing import Any

HEADER = ["Port", "Name", "Timestamp", "Send rate (bps)", "Receive rate (bps)"]
_LOG_NAME = re.compile(r"port-(\d+)\.json")

Row = tuple[int, Any, Any, Any, Any]


def read_all_log(log_path: Path) -> list[dict[str, Any]]:
    """Every object of one log, as parsed dicts."""
    pseudo_json = Path(log_path).read_text()
    parsed: list[dict[str, Any]] = []
    start = 0
    while True:
        end = pseudo_json.find("\n{", start) + 1 or len(pseudo_json)
        try:
            parsed.append(json.loads(pseudo_json[start:end]))
        except json.JSONDecodeError:
            pass
        start = end
        if start == len(pseudo_json):
            break
    return parsed


def extract(data: dict[str, Any]) -> tuple[Any, Any, Any, Any]:
    """(timestamp, send bps, receive bps, name) of one parsed object."""
    timestamp = send_bps = receive_bps = None
    try:
        timestamp = data["start"]["timestamp"]["timesecs"]
        streams = data["end"]["streams"]
        receive_bps = streams[0]["receiver"]["bits_per_second"]
        send_bps = streams[1]["sender"]["bits_per_second"]
    except (KeyError, IndexError):
        pass
    return timestamp, send_bps, receive_bps, data.get("extra_data")


def logs_of(log_dir: Path) -> list[tuple[int, Path]]:
    found = []
    for path in Path(log_dir).iterdir():
        match = _LOG_NAME.fullmatch(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def read_all_logs(log_dir: Path) -> list[Row]:
    rows: list[Row] = []
    for port, path in logs_of(log_dir):
        rows += [(port,) + extract(data) for data in read_all_log(path)]
    return rows


def export_csv(log_dir: Path) -> str:
    """The whole CSV export as one string."""
    data = [row for row in read_all_logs(log_dir) if row[1]]
    data.sort(key=lambda row: row[1])
    rows = [
        (port, name, (ts + time.localtime(ts).tm_gmtoff) / 86400 + 25569, send, recv)
        for port, ts, send, recv, name in data
    ]
    out = StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue()


if __name__ == "__main__":
    import sys

    sys.stdout.write(export_csv(Path(sys.argv[1])))
