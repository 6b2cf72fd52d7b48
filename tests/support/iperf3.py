"""Real iperf3 for tests: clients, the builds of every version, and its logs
read with no dependency on the project's own reader.

- :func:`run_client` / :func:`start_client`: one real ``iperf3 -c`` test;
- :func:`json_objects` / :func:`results`: the objects (the finished tests) of
  an iperf3 server log;
- :func:`built_iperf3s`: every iperf3 release ``make test`` built;
  :func:`every_iperf3`: those and the system's own;
- :func:`sock_diag_refused`: why this kernel answers no sock_diag query.

The processes themselves (ending them, proving none is left): :mod:`.processes`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from webperf3.iperf3.fleet.state import Backoff

IPERF3 = "iperf3"
#: The restart backoff of the fleets tests build: a second at most, not 30.
FAST = Backoff(initial=0.2, factor=2.0, cap=1.0, reset_after=60.0)


def sock_diag_refused() -> str | None:
    """Why this kernel (or emulator) answers no sock_diag query, else None.

    qemu-user opens no NETLINK_SOCK_DIAG socket ("Protocol not supported"):
    there the station falls back to /proc/net/tcp and /proc/PID/io, and the
    tests of the kernel's answers and of its per-connection figures cannot run."""
    from webperf3.iperf3.sockets.sockdiag import SockDiag, SockDiagError

    try:
        with SockDiag() as diag:
            diag.tcp([1])
    except SockDiagError as exc:
        return f"this kernel refuses sock_diag ({exc}): the station falls back to /proc/net/tcp and /proc/PID/io"
    return None


# ---------------------------------------------------------------- iperf3

#: Where ``make test`` (scripts/bootstrap) builds iperf3 releases from
#: ../shared/iperf3-src: ``CACHE/VERSION/bin/iperf3``.
IPERF3_CACHE_ENV = "WEBPERF3_IPERF3_CACHE"


def iperf3_cache() -> Path:
    return Path(os.environ.get(IPERF3_CACHE_ENV) or Path.home() / ".cache" / "webperf3" / "iperf3")


def built_iperf3s() -> dict[str, Path]:
    """Every iperf3 built in :func:`iperf3_cache`, by version, oldest first."""
    found = {
        entry.name: entry / "bin" / "iperf3"
        for entry in iperf3_cache().glob("*")
        if re.fullmatch(r"\d+(\.\d+)+", entry.name) and os.access(entry / "bin" / "iperf3", os.X_OK)
    }
    return dict(sorted(found.items(), key=lambda item: tuple(int(p) for p in item[0].split("."))))


def every_iperf3() -> dict[str, Path]:
    """The builds, and the system's iperf3 (Debian's) when its version is not
    among them, by version, oldest first."""
    from webperf3.iperf3.fleet.process import iperf3_version, version_key

    found = built_iperf3s()
    system = shutil.which(IPERF3)
    if system:
        try:
            version = iperf3_version(system)
        except Exception:  # noqa: BLE001  (a broken system iperf3 is the other tests' concern)
            version = None
        if version and version not in found:
            found[version] = Path(system)
    return dict(sorted(found.items(), key=lambda item: version_key(item[0])))


def run_client(
    port: int,
    extra_data: str | None = None,
    seconds: int = 1,
    host: str = "127.0.0.1",
    timeout: float = 20.0,
) -> subprocess.CompletedProcess[str]:
    """One real TCP test against ``host:port``; the caller checks returncode."""
    argv = [IPERF3, "-c", host, "-p", str(port), "-t", str(seconds), "--connect-timeout", "3000"]
    if extra_data is not None:
        argv += ["--extra-data", extra_data]
    return subprocess.run(argv, check=False, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)


def start_client(port: int, extra_data: str | None = None, seconds: int = 1) -> subprocess.Popen[str]:
    """Like :func:`run_client`, without waiting: for tests against several ports at once."""
    argv = [IPERF3, "-c", "127.0.0.1", "-p", str(port), "-t", str(seconds), "--connect-timeout", "3000"]
    if extra_data is not None:
        argv += ["--extra-data", extra_data]
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


_OBJECT_START = re.compile(r"^\{", re.MULTILINE)


def json_objects(path: Path) -> list[dict[str, Any]]:
    """Every top-level JSON object of an iperf3 log (iperf3 starts each in
    column 0), skipping the text and truncated objects between them."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    decoder = json.JSONDecoder()
    objects: list[dict[str, Any]] = []
    pos = 0
    while match := _OBJECT_START.search(text, pos):
        try:
            obj, pos = decoder.raw_decode(text, match.start())
        except json.JSONDecodeError:
            pos = match.start() + 1
            continue
        if isinstance(obj, dict):
            objects.append(obj)
    return objects


def results(path: Path, extra_data: str | None = None) -> list[dict[str, Any]]:
    """The finished tests in a log (``start`` and ``end``, no ``error``),
    those with the given ``extra_data`` when one is given."""
    return [
        obj
        for obj in json_objects(path)
        if "start" in obj
        and obj.get("end")
        and "error" not in obj
        and (extra_data is None or obj.get("extra_data") == extra_data)
    ]
