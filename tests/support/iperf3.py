"""Helpers for tests that run real iperf3 processes (Linux: they read /proc).

- :func:`free_ports`: consecutive ports nobody uses, for servers on 127.0.0.1;
- :func:`run_client`: one real ``iperf3 -c`` test;
- :func:`json_objects`: the objects of an iperf3 server log, with no
  dependency on the project's own log reader;
- :func:`wait_until`: poll a condition with a deadline;
- :func:`sock_diag_refused`: why this kernel answers no sock_diag query;
- :func:`iperf3_children`, :func:`pid_gone` and the :func:`no_iperf3_left`
  fixture: prove a test ended every iperf3 it started. Use it with
  ``pytestmark = pytest.mark.usefixtures("no_iperf3_left")`` after importing it.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.slowness import scaled

IPERF3 = "iperf3"
T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout: float, interval: float = 0.05, what: str = "condition") -> T:
    """Poll *condition* until it returns something truthy, and return that.

    *timeout* is the build machine's deadline, stretched on slower ones."""
    timeout = scaled(timeout)
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


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


# ------------------------------------------------------------------ ports


def port_is_free(port: int) -> bool:
    """Whether nothing at all holds *port*: listener, connection or TIME_WAIT.

    Tried the way iperf3 listens (``::``, dual-stack), without SO_REUSEADDR so
    that even a lingering TIME_WAIT counts as taken.
    """
    for family, host in ((socket.AF_INET6, "::"), (socket.AF_INET, "0.0.0.0")):
        try:
            sock = socket.socket(family, socket.SOCK_STREAM)
        except OSError:
            continue  # IPv6 disabled
        with sock:
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            try:
                sock.bind((host, port))
            except OSError:
                return False
            return True
    return False


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_ports(count: int) -> list[int]:
    """*count* consecutive free ports, outside the kernel's ephemeral range.

    Not from binding port 0: that hands out an ephemeral port, and any
    outgoing connection on this machine (an iperf3 client's, say) may take it
    while a server is down between two restarts. Below the ephemeral range
    only listeners compete, and each candidate is checked.
    """
    low, _ = _ephemeral_range()
    rng = random.Random(os.urandom(8))
    for _ in range(200):
        base = rng.randrange(20000, max(20001, low - count))
        ports = list(range(base, base + count))
        if all(port_is_free(port) for port in ports):
            return ports
    raise RuntimeError(f"no {count} consecutive free ports found")


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


# ---------------------------------------------------------- processes


def _stat(pid: int) -> tuple[str, str, int] | None:
    """``(comm, state, ppid)`` of *pid*, or None when it does not exist."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(errors="replace")
    except OSError:
        return None
    head, _, tail = text.rpartition(")")  # comm may hold spaces and parentheses
    fields = tail.split()
    return head.partition("(")[2], fields[0], int(fields[1])


def pid_gone(pid: int) -> bool:
    """Whether *pid* no longer runs: absent, or a zombie (an orphan's reaper
    may never come, e.g. where pid 1 does not reap)."""
    stat = _stat(pid)
    return stat is None or stat[1] in ("Z", "X")


def is_iperf3(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] == "iperf3"


def iperf3_children(parent: int | None = None) -> list[int]:
    """The iperf3 processes whose parent is *parent* (default: this process),
    zombies included: a child nobody waited for was not properly ended."""
    parent = os.getpid() if parent is None else parent
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None and stat[0] == "iperf3" and stat[2] == parent:
                children.append(int(entry))
    return children


def kill_iperf3_children() -> list[int]:
    """SIGKILL and reap every iperf3 child of this process; the pids it found."""
    leftovers = iperf3_children()
    for pid in leftovers:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
    return leftovers


@pytest.fixture
def no_iperf3_left() -> Iterator[None]:
    """Fail the test if it leaves an iperf3 child behind, and kill it so one
    failure does not cascade into the next test."""
    yield
    try:
        wait_until(lambda: not iperf3_children(), timeout=1.0, what="iperf3 children to end")
    except AssertionError:
        pytest.fail(f"the test left iperf3 children behind (killed now): {kill_iperf3_children()}")


def terminate(process: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM, as systemd stops a service; SIGKILL if it is not gone within ``grace``."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
