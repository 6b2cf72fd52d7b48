"""Log files for tests, made of the real iperf3 3.12 samples in tests/data:
whole sample logs installed as ``port-P.json`` and read by a real store, and
single entries re-dated, renamed and moved to another client address, written
exactly as iperf3 writes them."""

from __future__ import annotations

import json
import secrets
import string
import time
from pathlib import Path
from typing import Any

from tests.support.paths import DATA
from webperf3.store.record import Result
from webperf3.store.results import ResultsStore

#: Start times of the samples (iperf3 3.12 on 127.0.0.1, see tests/data/README.md).
T_TCP = 1795640507  # no --extra-data
T_REVERSE = 1795640509
T_BIDIR = 1795640511
T_UDP = 1795640517
T_ROOM_101 = 1795640521  # --extra-data "Room 101"
SAMPLES = ("tcp", "reverse", "bidir", "udp", "extra_data")


def sample(name: str) -> Path:
    """A real iperf3 3.12 server log made on 127.0.0.1 (see tests/data/README.md)."""
    return DATA / f"iperf3.12-{name}.json"


# -- whole logs ---------------------------------------------------------------------


def install(log_dir: Path, port: int, *sources: Path) -> Path:
    """Concatenate sample logs into ``log_dir/port-P.json`` as iperf3 would."""
    target = log_dir / f"port-{port}.json"
    with target.open("ab") as out:
        for source in sources:
            out.write(source.read_bytes())
    return target


def store_of(log_dir: Path, **ports: list[Path]) -> ResultsStore:
    """A store read from sample logs: ``store_of(log_dir, **{"5201": [a, b]})``."""
    for port, sources in ports.items():
        install(log_dir, int(port), *sources)
    store = ResultsStore(log_dir)
    store.refresh()
    return store


def read_store(log_dir: Path, *names: str, port: int = 5201) -> ResultsStore:
    """The samples, each as the next test in ``port-<port>.json``, read by a store."""
    return store_of(log_dir, **{str(port): [sample(n) for n in names]})


def by_time(results: list[Result], t: float) -> Result:
    return next(r for r in results if r.time == t)


# -- single entries -------------------------------------------------------------------


def first_entry(path: Path) -> bytes:
    """The first top-level object of an iperf3 log, as iperf3 wrote it (its
    closing line included)."""
    data = path.read_bytes()
    end = data.index(b"\n}\n") + 3
    return data[:end]


def append(path: Path, data: bytes) -> None:
    """Append as iperf3 does: open, write, close (no rewrite of the file)."""
    with path.open("ab") as out:
        out.write(data)


def make_entry(sample: str, *, name: str | None = None, client: str | None = None, at: float | None = None) -> bytes:
    """A real iperf3 3.12 sample, re-dated and renamed, as iperf3 writes it.

    Tabs and column-0 braces like iperf3's own output, so the log reader
    sees exactly what it would on the Pi.
    """
    text = (DATA / f"iperf3.12-{sample}.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.JSONDecoder().raw_decode(text)[0]  # the test, not the server's exit record
    start = data["start"]
    # Every test iperf3 runs has a cookie of its own: a copy must too, or
    # two tests would have one identity.
    start["cookie"] = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(36))
    if at is not None:
        start["timestamp"]["timesecs"] = int(at)
        start["timestamp"]["time"] = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(at))
    if client is not None:
        for conn in start.get("connected", []):
            conn["remote_host"] = client
        if "accepted_connection" in start:
            start["accepted_connection"]["host"] = client
    if name is not None:
        data["extra_data"] = name
    return (json.dumps(data, indent="\t", separators=(",", ":\t")) + "\n").encode()


def append_entry(log_dir: Path, port: int, sample: str, **kwargs: Any) -> None:
    """``make_entry(sample, **kwargs)`` appended to the port's log, as iperf3 appends."""
    append(log_dir / f"port-{port}.json", make_entry(sample, **kwargs))
