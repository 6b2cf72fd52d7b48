"""Run the iperf3 servers: start, supervise, restart, stop — and leave none behind.

One :class:`ServerFleet` owns N ``iperf3 --server --json --port P`` children,
each also given the options its iperf3 version has for ending a test whose
client walked away (:func:`.process.survey_options`).
Each child's stdout is appended to ``<log_dir>/port-P.json`` (never
``--logfile``: iperf3 3.12 segfaults with ``--json --logfile`` on any
server-side error, esnet/iperf#1460; with stdout redirected the same events
become ``error`` objects and the server lives on) and its stderr is forwarded
line by line to the ``webperf3.servers`` logger.

One supervisor thread polls the children four times a second (while every
server waits, ``idle_poll_interval``: how soon a new test is seen, so its live
figures start within a quarter of a second; and between polls it sleeps until
a restart is due, :meth:`ServerFleet._next_wait`). A poll while all wait asks
the kernel nothing when no server's descriptors changed (:meth:`ServerFleet._look`):
about 0.4 ms of CPU with 10 servers on the build machine. It restarts
a server that exited, with exponential backoff; restarts one whose test has
run longer than ``max_test_seconds`` (iperf3 3.12 keeps a port busy forever
when a client opens the control connection and sends nothing, esnet/iperf#788);
and retries a port someone else holds, replacing a stale iperf3 orphaned by
an earlier, crashed webperf3. Running tests are seen as ESTABLISHED TCP
connections on the port, asked of the kernel through sock_diag or read from
/proc/net/tcp{,6} (see :mod:`..sockets.sampler`), so on Windows and macOS a server is
only ever "idle" and never restarted as stuck. While tests run, each poll
also turns their byte counters into live figures (:mod:`..sockets.progress`), handed
to ``on_progress`` and kept in the status.

Once a second it also checks each server's log file (:mod:`.logfile`): a
log deleted, renamed or replaced under iperf3 (or its whole directory) gets
its server restarted onto a new file, at once if idle, after its test
otherwise, with what iperf3 wrote meanwhile copied over; and the disk under
the logs, too full for a test's entry, is reported. Both show in the
status as the server's ``problem`` (:mod:`webperf3.ops.health`).

Other threads read :meth:`ServerFleet.status`, immutable snapshots, or pass
``on_change`` to hear of every change from the supervisor thread.

Over 400 lines: every step here (launch, observe, stuck, silent
connection, exit, moved log, stale holder, shutdown) works on the supervisor thread's own state; the
status types are in :mod:`.state`, the log file in :mod:`.logfile`,
who holds a port (and replacing an orphan of ours) in :mod:`.ports`.

On Linux every child gets ``PR_SET_PDEATHSIG = SIGTERM``, so even a SIGKILLed
webperf3 leaves no iperf3 behind. The signal fires when the *thread* that
forked the child ends, not the process: every child is therefore forked by
the supervisor thread, which outlives all of them.
"""

from __future__ import annotations

import atexit
import errno
import logging
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from ...text import printable
from ..sockets import netstat
from ..sockets.progress import Progress
from ..sockets.sampler import ProgressSampler, Running, SocketWatch
from ..sockets.sockdiag import ESTABLISHED, DiagSocket
from .logfile import LOW_SPACE_BYTES, ServerLog, disk_problem
from .ports import holder_text, probe_port, replace_stale, specific_address
from .process import (
    DEAD_CLIENT_SECONDS,
    PARENT_ENV,
    SILENT_SECONDS,
    blocks_on_silent_connections,
    format_exit,
    iperf3_version,
    platform_kwargs,
    server_argv,
    survey_options,
)
from .state import Backoff, ClientConnection, ServerStatus, Supervised, forward_stderr

log = logging.getLogger("webperf3.servers")

STATES = ("starting", "idle", "testing", "restarting", "failed", "stopped")

#: An exit this soon after launch may be iperf3 failing to listen; its log
#: output is then searched for the reason.
_EARLY_EXIT_SECONDS = 2.0
#: Where /proc cannot tell us a server listens, it counts as up after this.
_BLIND_STARTUP_SECONDS = 0.5
_IN_USE = b"Address already in use"
#: However still every server's descriptors stay, the connections on the
#: ports are asked of the kernel at least this often.
_FULL_LOOK_SECONDS = 10.0


# ------------------------------------------------------------------- the fleet


class ServerFleet:
    """N supervised iperf3 servers, one per port, logging to ``log_dir/port-P.json``.

    ``with ServerFleet([5201, 5202], Path("logs")) as fleet: …`` starts them and
    stops them on the way out, as do :meth:`start` and :meth:`stop`. A fleet
    runs once: it cannot be started again after stopping.
    """

    def __init__(
        self,
        ports: Iterable[int],
        log_dir: Path | str,
        iperf3: str = "iperf3",
        bind: str | None = None,
        max_test_seconds: float | None = 300.0,
        *,
        backoff: Backoff = Backoff(),
        poll_interval: float = 0.25,
        idle_poll_interval: float = 0.25,
        kill_timeout: float = 2.0,
        version: str | None = None,
        dead_client_seconds: int = DEAD_CLIENT_SECONDS,
        on_change: Callable[[list[ServerStatus]], None] | None = None,
        on_progress: Callable[[list[Progress]], None] | None = None,
        file_check_interval: float = 1.0,
        displaced_grace: float = 20.0,
        low_space_bytes: int = LOW_SPACE_BYTES,
        silent_seconds: float = SILENT_SECONDS,
    ) -> None:
        ports = list(ports)
        if len(set(ports)) != len(ports):
            raise ValueError(f"duplicate ports in {ports}")
        if any(not 0 < port < 65536 for port in ports):
            raise ValueError(f"ports must be 1-65535: {ports}")
        self._log_dir = Path(log_dir)
        self._iperf3 = iperf3
        self._bind = bind
        self._local = specific_address(bind)
        self._max_test = max_test_seconds if max_test_seconds and max_test_seconds > 0 else None
        self._backoff = backoff
        self._poll = poll_interval
        # Never faster than the busy poll.
        self._idle_poll = max(poll_interval, idle_poll_interval)
        self._kill_timeout = kill_timeout
        self._on_change = on_change
        self._on_progress = on_progress
        self._servers = [Supervised(port, self.log_path(port)) for port in ports]
        self._proc_net = netstat.available()
        self._watch = SocketWatch(ports)
        self._sampler = ProgressSampler(self._watch, self._local)
        self._version = version  # known already to a caller that checked iperf3
        self._dead_client = dead_client_seconds
        self._options: list[str] = []  # survey_options() for the version, once known
        self._lock = threading.Lock()  # guards _snapshot and the start/stop fields below
        self._snapshot = tuple(s.snapshot(None) for s in self._servers)
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._launched = threading.Event()
        self._stop_timeout = kill_timeout
        self._file_check = file_check_interval
        self._next_file_check = 0.0
        self._next_full_look = 0.0
        self._look_fds: dict[int, int | None] = {}  # each running server's descriptors at the last full look
        self._known: list[DiagSocket] = []  # the connections the last full look found
        #: A test running when its log was displaced may finish (its entry is
        #: salvaged) for this long before its server is restarted anyway.
        self._displaced_grace = displaced_grace
        self._low_space = low_space_bytes
        self._disk: str | None = None  # disk_problem(), as of the last check
        self._silent = silent_seconds

    # ---------------------------------------------------------------- public

    @property
    def ports(self) -> list[int]:
        return [s.port for s in self._servers]

    @property
    def version(self) -> str | None:
        """iperf3's version, known once :meth:`start` has run."""
        return self._version

    def log_path(self, port: int) -> Path:
        return self._log_dir / f"port-{port}.json"

    def start(self) -> None:
        """Launch every server and return; a port that cannot be had is retried
        in the background. Raises :class:`.process.Iperf3NotFound` (or :class:`.process.Iperf3Error`)
        when iperf3 cannot be run, before anything is started."""
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("this ServerFleet was already started")
            self._thread = threading.Thread(target=self._supervise, name="iperf3-supervisor", daemon=True)
        try:
            self._version = self._version or iperf3_version(self._iperf3)
            self._log_dir.mkdir(parents=True, exist_ok=True)
        except BaseException:
            with self._lock:
                self._thread = None
            raise
        self._options = survey_options(self._version, self._max_test, self._dead_client)
        log.info(
            "iperf3 %s (%s): starting servers on ports %s%s",
            self._version,
            self._iperf3,
            self.ports,
            f" with {' '.join(self._options)}" if self._options else "",
        )
        # Daemon, so a program that forgets stop() can still exit; atexit then
        # stops the servers while the (daemon) supervisor is still running.
        atexit.register(self.stop)
        self._thread.start()
        self._launched.wait()

    def stop(self, timeout: float = 2.0) -> None:
        """SIGTERM every server, SIGKILL those still there after *timeout*, wait
        for all. Idempotent; a no-op before :meth:`start`."""
        with self._lock:
            thread = self._thread
            if thread is None or self._stopping.is_set():
                return
            self._stop_timeout = timeout
            self._stopping.set()
        atexit.unregister(self.stop)
        if thread is threading.current_thread():
            return  # called from on_change: the supervisor stops when it returns
        thread.join(timeout + self._kill_timeout + 10.0)
        if thread.is_alive():
            log.error("the iperf3 supervisor did not finish stopping the servers")

    def status(self) -> list[ServerStatus]:
        """One immutable snapshot per server, in port order; safe from any thread."""
        with self._lock:
            return list(self._snapshot)

    def __enter__(self) -> ServerFleet:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------ supervisor thread

    def _supervise(self) -> None:
        try:
            self._guarded(self._tick)  # every server is due: the first launches
            self._launched.set()
            while not self._stopping.wait(self._next_wait()):
                self._guarded(self._tick)
        finally:
            self._launched.set()
            self._shutdown()

    def _next_wait(self) -> float:
        """How long the supervisor may sleep: the busy poll while anything
        moves (a test runs, a server starts, one is being stopped, its log
        was moved), else the idle poll, or less when a restart is due sooner.
        The file checks ride on the same wakeups."""
        now = time.monotonic()
        wait = self._idle_poll
        for server in self._servers:
            if server.proc is None:
                if server.state != "stopped":
                    wait = min(wait, server.retry_at - now)
            elif server.state != "idle" or server.kill_at is not None or server.displaced is not None:
                return self._poll
        return max(0.0, wait)

    def _guarded(self, step: Callable[[], None]) -> None:
        # A bug in one poll must not end supervision: the children would die
        # with this thread (PR_SET_PDEATHSIG) and nobody would restart them.
        try:
            step()
        except Exception:
            log.exception("iperf3 supervisor error")

    def _tick(self) -> None:
        now = time.monotonic()
        if now >= self._next_file_check:
            self._next_file_check = now + self._file_check
            self._check_files(now)
        running = [s for s in self._servers if s.proc is not None]
        sockets, _ = self._look(running, now) if self._proc_net and running else ([], False)
        for server in self._servers:
            if self._stopping.is_set():
                break
            if server.proc is None:
                if now >= server.retry_at:
                    self._launch(server, now)
            else:
                self._check(server, sockets, now)
        progress = self._sample(sockets)
        self._publish()
        if progress and self._on_progress is not None:
            try:
                self._on_progress(progress)
            except Exception:
                log.exception("iperf3 progress listener failed")

    def _look(self, running: list[Supervised], now: float) -> tuple[netstat.Sockets, bool]:
        """This poll's sockets on the ports, asked as cheaply as the
        servers' states allow, and whether it was a full look.

        The kernel answers "which connections are on these ports" by walking
        its whole table of connections (1-2 ms a family on the build
        machine, whatever the ports); "who listens" from a small table; one
        known connection's counters by a lookup. An iperf3 server takes a
        descriptor for each connection it accepts, so while every running
        server holds as many descriptors as at the last full look, no
        connection came or went: nothing is asked while all wait, and only
        the known connections' counters while tests run. Servers starting
        need only the listeners. Anything else, and at least every
        ``_FULL_LOOK_SECONDS``, is a full look."""
        fds = {s.port: netstat.descriptor_count(s.pid) for s in running}
        calm = all(s.kill_at is None and s.displaced is None for s in running)
        same = now < self._next_full_look and all(fds[s.port] is not None and fds[s.port] == self._look_fds.get(s.port) for s in running)
        if calm and same and all(s.state in ("idle", "testing") for s in running):
            if not any(s.state == "testing" for s in running):
                return [], False
            if self._known and self._watch.counters:
                found = self._watch.refresh(self._known)
                # One ended: the same count may hide a new one in its place.
                if found is not None and sum(s.state == ESTABLISHED for s in found) == len(self._known):
                    return found, False
        elif calm and any(s.state == "starting" for s in running) and all(
            s.state == "starting" or s.state == "idle" and fds[s.port] is not None and fds[s.port] == self._look_fds.get(s.port)
            for s in running
        ):
            return self._watch.tcp(listening_only=True), False
        self._look_fds, self._next_full_look = fds, now + _FULL_LOOK_SECONDS
        sockets = self._watch.tcp()
        self._known = [s for s in sockets if isinstance(s, DiagSocket) and s.state == ESTABLISHED]
        return sockets, True

    def _check_files(self, now: float) -> None:
        """Notice a log moved away from under iperf3, and a disk too full for a test."""
        for server in self._servers:
            if server.log is None or server.displaced is not None:
                continue
            before = server.log.seen_size
            reason = server.log.displaced()
            if reason is None:
                if server.log.seen_size > before and server.kill_at is None and server.state in ("idle", "testing"):
                    # iperf3 wrote an entry: someone ran a test, maybe one
                    # too short for the idle poll to see. It forgives as a
                    # test seen does (_observe).
                    server.silent_count = 0
                continue
            server.displaced, server.displaced_at = reason, now
            log.warning("iperf3 on port %d (pid %s): %s (%s); restarting it onto a new file%s", server.port,
                        server.pid, reason, server.log_path,
                        " when its test ends" if server.state == "testing" else "")
            try:
                self._log_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                log.error("cannot create the log directory %s again: %s", self._log_dir, exc.strerror or exc)
        disk = disk_problem(self._log_dir, self._low_space) if self._log_dir.is_dir() else None
        if disk != self._disk:
            if disk is not None:
                log.warning("%s", disk)
            else:
                log.info("the disk holding %s has room for tests again", self._log_dir)
            self._disk = disk

    def _sample(self, sockets: netstat.Sockets) -> list[Progress]:
        """The running tests' live figures; nothing is asked when none runs."""
        running = {
            s.port: Running(oldest.first_seen, s.pid)
            for s in self._servers
            if s.state == "testing" and (oldest := s.oldest()) is not None
        }
        found = self._sampler.sample(running, sockets, time.monotonic())
        for server in self._servers:
            server.progress = found.get(server.port)
        return [found[port] for port in sorted(found)]

    def _check(self, server: Supervised, sockets: netstat.Sockets, now: float) -> None:
        assert server.proc is not None
        returncode = server.proc.poll()
        if returncode is not None:
            self._exited(server, returncode, now)
            return
        if server.kill_at is not None:  # already being stopped as stuck
            if now >= server.kill_at:
                server.proc.kill()
            return
        if server.failures and now - server.started >= self._backoff.reset_after:
            server.failures = 0  # healthy long enough: the next crash starts over
        self._observe(server, sockets, now)
        if server.displaced is not None and server.kill_at is None:
            # Idle: at once. Testing: its entry goes to the old file, saved
            # from there on exit, so the test may end first, within reason.
            if server.state != "testing" or now - server.displaced_at >= self._displaced_grace:
                server.stuck = server.displaced
                server.state = "restarting"
                server.kill_at = now + self._kill_timeout
                server.proc.terminate()

    def _observe(self, server: Supervised, sockets: netstat.Sockets, now: float) -> None:
        """Update starting/idle/testing from the port's connections; catch a stuck test."""
        previous, server.connections = server.connections, {}
        for sock in netstat.established_on(sockets, server.port):
            if self._local in (None, sock.local_host):
                key = (sock.remote_host, sock.remote_port, sock.local_host)
                connection = server.connections[key] = previous.get(key) or ClientConnection(now, time.time(), sock.remote_host)
                received = getattr(sock, "bytes_received", None)  # sock_diag's counter; /proc has none
                if received is not None and not connection.heard:
                    connection.heard = received > 0
        if server.state == "starting" and not server.connections and not self._listening(server, sockets, now):
            return
        oldest = server.oldest()
        server.state = "testing" if oldest else "idle"
        if oldest and self._max_test is not None and now - oldest.first_seen > self._max_test:
            self._kill_stuck(server, oldest, now)
        elif oldest and self._silent_holds(server, now):
            self._kill_silent(server, oldest, now)
        elif oldest and any(c.heard for c in server.connections.values()):
            server.silent_count = 0  # a real test: whoever was silent before is forgiven

    def _silent_holds(self, server: Supervised, now: float) -> bool:
        """A port held only by connections that have sent nothing for
        ``silent_seconds``, on an iperf3 that would wait for them for ever."""
        if not blocks_on_silent_connections(self._version):
            return False  # 3.15 and later time such a connection out themselves
        return all(c.heard is False and now - c.first_seen >= self._silent for c in server.connections.values())

    def _kill_silent(self, server: Supervised, oldest: ClientConnection, now: float) -> None:
        assert server.proc is not None
        server.silent_count = server.silent_count + 1 if server.silent_from == oldest.client else 1
        server.silent_from = oldest.client
        log.warning(
            "iperf3 on port %d (pid %d): a connection from %s has sent nothing for %.0f s, and iperf3 %s waits for it for ever; "
            "restarting it (%d time(s) in a row from that address)",
            server.port, server.pid, printable(oldest.client, 60), now - oldest.first_seen, self._version, server.silent_count,
        )
        server.stuck = f"restarted: a connection from {oldest.client} sent nothing for {self._silent:g} s"
        server.state = "restarting"
        server.kill_at = now + self._kill_timeout
        server.proc.terminate()

    def _listening(self, server: Supervised, sockets: netstat.Sockets, now: float) -> bool:
        if self._proc_net:
            return bool(netstat.listening_on(sockets, server.port))
        return now - server.started >= _BLIND_STARTUP_SECONDS

    def _kill_stuck(self, server: Supervised, oldest: ClientConnection, now: float) -> None:
        assert server.proc is not None
        lasted = now - oldest.first_seen
        log.warning(
            "iperf3 on port %d (pid %d) is stuck: a test from %s has run %.0f s (limit %g s); restarting it",
            server.port,
            server.pid,
            oldest.client,
            lasted,
            self._max_test,
        )
        server.stuck = f"stuck: test from {oldest.client} ran over {self._max_test:g} s"
        server.state = "restarting"
        server.kill_at = now + self._kill_timeout
        server.proc.terminate()

    def _exited(self, server: Supervised, returncode: int, now: float) -> None:
        try:
            self._replace_exited(server, returncode, now)
        finally:
            self._release_log(server)

    def _release_log(self, server: Supervised) -> None:
        """Close the exited server's log; if it was displaced, save what
        iperf3 wrote to it since into the file now at its path."""
        if server.log is None:
            return
        try:
            if server.displaced is not None:
                copied = server.log.salvage()
                if copied:
                    log.warning("iperf3 on port %d: saved %d bytes it wrote after %s into the new %s",
                                server.port, copied, server.displaced, server.log_path)
        except OSError as exc:
            log.error("iperf3 on port %d: could not save what it wrote after %s: %s", server.port, server.displaced,
                      exc.strerror or exc)
        finally:
            server.log.close()
            server.log, server.displaced = None, None

    def _replace_exited(self, server: Supervised, returncode: int, now: float) -> None:
        reason = format_exit(returncode)
        pid, uptime = server.pid, now - server.started
        server.proc = None
        server.restarts += 1
        server.connections = {}
        server.started_at = server.kill_at = None
        if server.stuck:
            # Not the server's fault: back at once, and the backoff untouched.
            server.last_exit, server.stuck = f"{server.stuck} ({reason})", None
            server.retry_at = now
            server.state = "restarting"
            log.info("iperf3 on port %d (pid %d) stopped (%s): %s", server.port, pid, server.last_exit, reason)
            return
        if uptime >= self._backoff.reset_after:
            server.failures = 0
        server.failures += 1
        delay = self._backoff.delay(server.failures)
        server.retry_at = now + delay
        server.state = "restarting"
        server.last_exit = reason
        if uptime < _EARLY_EXIT_SECONDS and self._said_in_use(server):
            server.last_exit = self._holder_text(server.port)
            server.state = "failed"
        log.warning(
            "iperf3 on port %d (pid %d) exited after %.1f s: %s; restarting in %g s",
            server.port,
            pid,
            uptime,
            server.last_exit,
            delay,
        )

    def _said_in_use(self, server: Supervised) -> bool:
        """Whether iperf3 reported the port taken (in its JSON on stdout, not on stderr)."""
        if server.log is None:
            return False
        try:
            return _IN_USE in os.pread(server.log.fd, 64 << 10, server.log_offset)
        except OSError:
            return False

    def _launch(self, server: Supervised, now: float) -> None:
        problem = self._port_problem(server.port)
        if problem is None:
            try:
                server.proc, server.log = self._spawn(server.port)
                server.log_offset = server.log.seen_size
            except OSError as exc:  # iperf3 removed since start, log dir unwritable, a FIFO, …
                problem = f"cannot start iperf3: {exc.strerror or exc}"
        if problem is not None:
            server.failures += 1
            delay = self._backoff.delay(server.failures)
            server.retry_at = now + delay
            server.state, server.last_exit = "failed", problem
            log.warning("iperf3 on port %d not started: %s; retrying in %g s", server.port, problem, delay)
            return
        server.launches += 1
        server.state, server.started, server.started_at = "starting", now, time.time()
        server.connections, server.stuck, server.kill_at = {}, None, None
        if server.launches == 1:
            log.info("started iperf3 on port %d (pid %d)", server.port, server.pid)
        else:
            log.info("restarted iperf3 on port %d (pid %d; restart %d)", server.port, server.pid, server.restarts)

    def _spawn(self, port: int) -> tuple[subprocess.Popen[bytes], ServerLog]:
        env = dict(os.environ, **{PARENT_ENV: str(os.getpid())})
        self._log_dir.mkdir(parents=True, exist_ok=True)  # gone since start: made again
        out = ServerLog.open(self.log_path(port))
        try:
            proc = subprocess.Popen(
                server_argv(self._iperf3, port, self._bind, self._options),
                stdin=subprocess.DEVNULL,
                stdout=out.fd,
                stderr=subprocess.PIPE,
                env=env,
                **platform_kwargs(),
            )
        except BaseException:
            out.close()
            raise
        assert proc.stderr is not None
        threading.Thread(
            target=forward_stderr, args=(proc.stderr, port, proc.pid), name=f"iperf3-{port}-stderr", daemon=True
        ).start()
        return proc, out

    def _port_problem(self, port: int) -> str | None:
        """None when iperf3 can listen on *port*; otherwise why not, for a person."""
        error = probe_port(port, self._bind)
        if error is None:
            return None
        if error.errno != errno.EADDRINUSE:
            where = f" on {self._bind}" if self._bind else ""
            return f"cannot listen on port {port}{where}: {error.strerror or error}"
        holder = netstat.listener_pid(port) if self._proc_net else None
        if holder is not None and replace_stale(holder, port, self._kill_timeout) and probe_port(port, self._bind) is None:
            return None
        return self._holder_text(port, holder)

    def _holder_text(self, port: int, holder: int | None = None) -> str:
        if holder is None and self._proc_net:
            holder = netstat.listener_pid(port)
        return holder_text(port, holder)

    def _publish(self) -> None:
        snapshot = tuple(s.snapshot(self._version, self._disk) for s in self._servers)
        with self._lock:
            changed, self._snapshot = snapshot != self._snapshot, snapshot
        if changed and self._on_change is not None:
            try:
                self._on_change(list(snapshot))
            except Exception:
                log.exception("iperf3 status listener failed")

    def _shutdown(self) -> None:
        """Stop every child: SIGTERM all, SIGKILL the ones left after the timeout."""
        running = [s for s in self._servers if s.proc is not None]
        for server in running:
            server.proc.terminate()  # type: ignore[union-attr]
        deadline = time.monotonic() + self._stop_timeout
        for server in running:
            proc = server.proc
            assert proc is not None
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("iperf3 on port %d (pid %d) ignored SIGTERM: killing it", server.port, proc.pid)
                proc.kill()
                proc.wait()
            log.info("stopped iperf3 on port %d (pid %d): %s", server.port, proc.pid, format_exit(proc.returncode))
        for server in self._servers:
            self._release_log(server)
            server.proc, server.state, server.started_at, server.connections = None, "stopped", None, {}
            server.progress = None
        self._watch.close()
        self._publish()
