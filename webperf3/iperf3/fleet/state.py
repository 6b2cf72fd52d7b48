"""What the fleet (:mod:`.servers`) knows of each server: the immutable
status others read (:class:`ServerStatus`), the restart backoff, and the
mutable per-port state only the supervisor thread touches (:class:`Supervised`).

Split from servers.py, which keeps the supervision itself.
"""

from __future__ import annotations

import dataclasses
import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ...text import printable
from .logfile import ServerLog
from ..sockets.progress import Progress

log = logging.getLogger("webperf3.servers")

#: Silent connections in a row from one address before the page names it.
SILENT_NAMED_AFTER = 3


@dataclass(frozen=True, slots=True)
class ServerStatus:
    """What one server is doing, as of the supervisor's last look."""

    port: int
    pid: int | None  # None while no process runs
    state: str  # one of STATES
    client: str | None  # the remote address of the oldest connection, when testing
    testing_since: float | None  # epoch seconds, when testing
    started_at: float | None  # epoch seconds of the current process
    restarts: int  # how many times a process of this server exited and was replaced
    last_exit: str | None  # "exit code 1", "signal SIGKILL", "port 5201 in use by pid …"
    version: str | None  # of iperf3, e.g. "3.12"
    # The running test's latest live figures. Not compared: a new sample is
    # not a change of state (on_change), it goes to on_progress.
    progress: Progress | None = dataclasses.field(default=None, compare=False)
    #: What may be losing this server's tests right now, for people to act
    #: on (:mod:`webperf3.ops.health`): kind "log" (its log file was deleted or
    #: replaced: being restarted onto a new one) or "disk" (no room for a test).
    problem_kind: str | None = None
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True)
class Backoff:
    """How long to wait before the n-th consecutive restart of a server."""

    initial: float = 1.0
    factor: float = 2.0
    cap: float = 30.0
    #: A process that ran this long was healthy: its exit starts over at ``initial``.
    reset_after: float = 60.0

    def delay(self, failures: int) -> float:
        if failures <= 0:
            return 0.0
        # The exponent is bounded so a server failing for weeks cannot overflow.
        return min(self.cap, self.initial * self.factor ** min(failures - 1, 64))


def forward_stderr(stream: IO[bytes], port: int, pid: int) -> None:
    """Copy a child's stderr into our log until it closes (the child ended)."""
    with stream:
        for raw in iter(stream.readline, b""):
            line = raw.decode(errors="replace").rstrip()
            if line:  # may quote what a client sent: escaped, one journal line
                log.info("iperf3 port %d (pid %d): %s", port, pid, printable(line))


@dataclass(slots=True)
class ClientConnection:
    first_seen: float  # monotonic: immune to the clock jump of a Pi's first NTP sync
    first_seen_epoch: float
    client: str
    #: Whether the station has received a byte on it: None where the kernel's
    #: counters cannot be read (then a silent connection cannot be told).
    heard: bool | None = None


@dataclass(slots=True)
class Supervised:
    """One port's mutable state; touched by the supervisor thread only."""

    port: int
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    state: str = "stopped"
    started_at: float | None = None
    started: float = 0.0  # monotonic
    launches: int = 0
    restarts: int = 0
    last_exit: str | None = None
    failures: int = 0  # consecutive, for the backoff
    retry_at: float = 0.0  # monotonic: when to launch next while no process runs
    log_offset: int = 0  # the log's size at launch
    connections: dict[tuple[str, int, str], ClientConnection] = dataclasses.field(default_factory=dict)
    stuck: str | None = None  # why the running process is being killed
    progress: Progress | None = None  # of the running test, as of the last poll
    kill_at: float | None = None  # monotonic: SIGKILL if still alive then
    log: ServerLog | None = None  # the file iperf3 writes, while it runs
    displaced: str | None = None  # what happened to its log file, until restarted onto a new one
    displaced_at: float = 0.0  # monotonic
    #: Who last held the port with a connection that sent nothing, and how
    #: many times in a row: named on the page once it keeps happening.
    silent_from: str | None = None
    silent_count: int = 0

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def oldest(self) -> ClientConnection | None:
        return min(self.connections.values(), key=lambda c: c.first_seen, default=None)

    def snapshot(self, version: str | None, disk: str | None = None) -> ServerStatus:
        testing = self.oldest() if self.state == "testing" else None
        kind, problem = (None, None)
        if self.displaced is not None:
            kind, problem = "log", f"iperf3 on port {self.port}: {self.displaced}; restarting it onto a new file"
        elif self.silent_count >= SILENT_NAMED_AFTER:
            kind, problem = "silent", (
                f"{printable(self.silent_from, 60)} keeps opening connections to port {self.port} that send nothing "
                f"({self.silent_count} times): its iperf3 is restarted each time"
            )
        elif disk is not None and self.state != "stopped":
            kind, problem = "disk", disk
        return ServerStatus(
            port=self.port,
            pid=self.pid,
            state=self.state,
            client=testing.client if testing else None,
            testing_since=testing.first_seen_epoch if testing else None,
            started_at=self.started_at,
            restarts=self.restarts,
            last_exit=self.last_exit,
            version=version,
            progress=self.progress if testing else None,
            problem_kind=kind,
            problem=problem,
        )
