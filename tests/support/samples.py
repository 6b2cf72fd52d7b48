"""The real server logs of every iperf3 version in tests/data/ (see its README),
read independently of webperf3's reader, and the iperf3 binaries that made them."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from tests.support.iperf3 import iperf3_cache
from tests.support.logs import first_entry
from tests.support.paths import DATA

VERSIONS = ("3.9", "3.12", "3.18", "3.21")
#: Made for every version by scripts/make-sample-logs.
KINDS = (
    "tcp", "reverse", "bidir", "parallel", "bidir_parallel", "udp", "udp_reverse", "udp_bidir",
    "extra_data", "extra_data_utf8", "client_killed", "client_sigint", "bidir_killed",
    "server_stopped", "connect_close",
)
UTF8_NAME = "Salle à manger – 2ᵉ étage ✓"


def path_of(version: str, kind: str) -> Path:
    return DATA / f"iperf{version}-{kind}.json"


def first_object(version: str, kind: str) -> bytes:
    """The first object of a sample, bytes as iperf3 wrote them (cJSON closes
    each with a "}" line), without the newline after it."""
    return first_entry(path_of(version, kind))[:-1]


def every_sample() -> list[tuple[str, str]]:
    """(version, kind) of every sample there is, the cross-version ones included."""
    found = []
    for path in sorted(DATA.glob("iperf3.*-*.json")):
        match = re.fullmatch(r"iperf(3\.\d+)-(.+)\.json", path.name)
        if match:
            found.append((match.group(1), match.group(2)))
    return found


def objects(path: Path) -> list[dict[str, Any]]:
    """Every top-level object of a log (iperf3 opens each in column 0), by
    Python's own json module: no code shared with the reader under test.
    Strict: an object of a sample that does not decode fails the test (a log
    being written, cut mid-object: :func:`tests.support.iperf3.json_objects`)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    decoder = json.JSONDecoder()
    found = []
    for match in re.finditer(r"^\{", text, re.MULTILINE):
        obj, _ = decoder.raw_decode(text, match.start())
        found.append(obj)
    return found


def written_tests(path: Path) -> list[dict[str, Any]]:
    """The objects that are tests: iperf3 stamps only those with a time."""
    return [o for o in objects(path) if "timestamp" in o.get("start", {})]


def interval_bytes(obj: dict[str, Any]) -> tuple[int, int]:
    """(bytes the server received, bytes it sent) over all the intervals:
    each interval's stream entry says which side the server played."""
    received = sent = 0
    for interval in obj["intervals"]:
        for stream in interval["streams"]:
            if stream["sender"]:
                sent += stream["bytes"]
            else:
                received += stream["bytes"]
    return received, sent


def iperf3_binary(version: str) -> str | None:
    """The iperf3 of that version on this machine (the one on PATH, or one
    built into :func:`~tests.support.iperf3.iperf3_cache`), or None."""
    built = iperf3_cache() / version / "bin" / "iperf3"
    for path in (shutil.which("iperf3"), str(built)):
        if path and os.access(path, os.X_OK):
            said = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10).stdout
            if said.startswith(f"iperf {version} ") or said.startswith(f"iperf {version}\n"):
                return path
    return None
