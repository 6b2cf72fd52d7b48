"""Log entries for tests: a real iperf3 3.12 sample, re-dated, renamed and
moved to another client address, written exactly as iperf3 writes it."""

from __future__ import annotations

import json
import secrets
import string
import time
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"


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
    with (log_dir / f"port-{port}.json").open("ab") as log:
        log.write(make_entry(sample, **kwargs))
