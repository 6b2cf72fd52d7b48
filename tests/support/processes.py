"""The processes a test starts: whether one still runs, ending one as systemd
would, and proving a test left no iperf3 behind (the ``no_iperf3_left``
fixture of tests/conftest.py: ``pytestmark = pytest.mark.usefixtures("no_iperf3_left")``).
Linux: they read /proc."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path


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


def terminate(process: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM, as systemd stops a service; SIGKILL if it is not gone within ``grace``."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
