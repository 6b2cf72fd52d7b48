"""The iperf3 server fleet, against real iperf3 processes on 127.0.0.1."""

from __future__ import annotations

import logging
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.iperf3 import FAST, IPERF3, built_iperf3s, json_objects, results, run_client, sock_diag_refused, start_client
from tests.support.paths import ROOT
from tests.support.ports import free_ports
from tests.support.processes import is_iperf3, pid_gone
from tests.support.waiting import wait_until
from webperf3.iperf3.sockets import netstat
from webperf3.iperf3.fleet.ports import describe_holder, is_stale_server
from webperf3.iperf3.fleet.process import PARENT_ENV, Iperf3Error, Iperf3NotFound, format_exit, iperf3_version, parse_version, server_argv
from webperf3.iperf3.fleet.servers import ServerFleet
from webperf3.iperf3.fleet.state import Backoff, ServerStatus
from webperf3.iperf3.fleet.process import is_server_argv, survey_options, version_key

pytestmark = pytest.mark.usefixtures("no_iperf3_left")

TERMINATED = "interrupt - the server has terminated"


def status_of(fleet: ServerFleet, port: int) -> ServerStatus:
    return next(s for s in fleet.status() if s.port == port)


def wait_idle(fleet: ServerFleet, port: int | None = None, timeout: float = 5.0) -> list[ServerStatus]:
    def idle() -> list[ServerStatus] | None:
        statuses = [s for s in fleet.status() if port in (None, s.port)]
        return statuses if all(s.state == "idle" for s in statuses) else None

    return wait_until(idle, timeout, what=f"servers {port or fleet.ports} idle")


def assert_test_recorded(fleet: ServerFleet, port: int, extra_data: str) -> None:
    done = run_client(port, extra_data)
    assert done.returncode == 0, done.stdout + done.stderr
    wait_until(lambda: results(fleet.log_path(port), extra_data), 3.0, what=f"{extra_data!r} in the log")


# ------------------------------------------------------------ real servers


def test_servers_start_and_record_a_test_on_each_port(make_fleet):
    ports = free_ports(3)
    changes: list[list[ServerStatus]] = []
    fleet = make_fleet(ports, on_change=changes.append)
    before = time.time()
    fleet.start()
    statuses = wait_idle(fleet)

    assert [s.port for s in statuses] == ports
    assert fleet.version == iperf3_version() and fleet.version.startswith("3.")
    assert all(s.version == fleet.version for s in statuses)
    assert all(s.restarts == 0 and s.last_exit is None and s.client is None for s in statuses)
    assert all(before - 1 <= s.started_at <= time.time() for s in statuses)
    assert all(is_iperf3(s.pid) for s in statuses)
    assert any(all(s.state == "idle" for s in change) for change in changes), "on_change never saw them idle"

    clients = {port: start_client(port, f"room-{port}") for port in ports}
    for client in clients.values():
        output, _ = client.communicate(timeout=20)
        assert client.returncode == 0, output
    for port in ports:
        found = wait_until(lambda p=port: results(fleet.log_path(p), f"room-{p}"), 3.0, what=f"port {port}'s result")
        assert found[0]["end"]["sum_received"]["bytes"] > 0
        assert found[0]["start"]["connected"][0]["local_port"] == port


def test_killed_server_is_restarted_with_backoff_reset_after_health(make_fleet):
    [port] = free_ports(1)
    fleet = make_fleet([port], backoff=Backoff(initial=0.2, factor=10.0, cap=5.0, reset_after=1.0))
    fleet.start()
    [first] = wait_idle(fleet)

    os.kill(first.pid, signal.SIGKILL)
    second = wait_until(
        lambda: (s := status_of(fleet, port)).pid not in (None, first.pid) and s, 3.0, what="a new server"
    )
    assert second.restarts == 1
    assert second.last_exit == "signal SIGKILL"
    wait_idle(fleet, port)
    assert_test_recorded(fleet, port, "after a kill")

    # Healthy for longer than reset_after: the next crash waits `initial`
    # (0.2 s) again, not initial * factor (2 s).
    time.sleep(max(0.0, second.started_at + 1.2 - time.time()))
    os.kill(status_of(fleet, port).pid, signal.SIGKILL)
    killed = time.monotonic()
    third = wait_until(lambda: (s := status_of(fleet, port)).restarts == 2 and s.pid and s, 1.5, what="a quick restart")
    assert time.monotonic() - killed < 1.5
    assert third.pid not in (first.pid, second.pid)


def provoke_error(log_path: Path, port: int, payload: bytes) -> None:
    """Connect, send *payload*, close; until iperf3 logs one more error object.

    iperf3 3.12 replaces its listening socket after each error, so a
    connection made meanwhile is reset or refused without a trace: retry.
    """

    def errors() -> int:
        return sum("error" in obj for obj in json_objects(log_path))

    before = errors()
    for _ in range(10):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                sock.sendall(payload)
        except OSError:
            time.sleep(0.1)
            continue
        try:
            wait_until(lambda: errors() > before, 1.0)
            return
        except AssertionError:
            continue
    raise AssertionError(f"iperf3 logged no error for {payload!r}")


def test_connect_close_and_http_request_do_not_kill_the_server(make_fleet):
    [port] = free_ports(1)
    fleet = make_fleet([port])
    fleet.start()
    [before] = wait_idle(fleet)

    provoke_error(fleet.log_path(port), port, b"")
    provoke_error(fleet.log_path(port), port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    wait_idle(fleet, port)

    after = status_of(fleet, port)
    assert after.pid == before.pid and after.restarts == 0
    assert not pid_gone(before.pid)
    assert_test_recorded(fleet, port, "after the noise")


def test_stuck_client_gets_the_server_restarted(make_fleet):
    [port] = free_ports(1)
    fleet = make_fleet([port], max_test_seconds=3)
    fleet.start()
    [before] = wait_idle(fleet)

    stuck = socket.create_connection(("127.0.0.1", port), timeout=2)  # then sends nothing
    try:
        connected = time.monotonic()
        testing = wait_until(lambda: (s := status_of(fleet, port)).state == "testing" and s, 2.0, what="testing")
        assert testing.client == "127.0.0.1"
        assert time.time() - 2 < testing.testing_since <= time.time()
        assert testing.pid == before.pid

        restarted = wait_until(
            lambda: (s := status_of(fleet, port)).pid not in (None, before.pid) and s,
            7.0,
            what="the stuck server restarted",
        )
        assert time.monotonic() - connected >= 3.0
        assert restarted.restarts == 1
        assert "stuck" in restarted.last_exit and "127.0.0.1" in restarted.last_exit
    finally:
        stuck.close()
    wait_idle(fleet, port)
    assert_test_recorded(fleet, port, "after the stuck one")


def test_port_in_use_is_reported_and_retried_while_the_others_run(make_fleet, caplog):
    caplog.set_level(logging.INFO, logger="webperf3.servers")
    ports = free_ports(3)
    blocked = ports[1]
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        blocker.bind(("127.0.0.1", blocked))
        blocker.listen()
        fleet = make_fleet(ports)
        fleet.start()
        wait_idle(fleet, ports[0])
        wait_idle(fleet, ports[2])

        holder = f"port {blocked} in use by pid {os.getpid()} ("
        messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert any(holder in m for m in messages), messages
        state = status_of(fleet, blocked)
        assert state.state in ("failed", "restarting") and state.pid is None
        assert holder in state.last_exit
        for port in (ports[0], ports[2]):
            assert_test_recorded(fleet, port, f"beside a busy port {port}")
    finally:
        blocker.close()
    freed = time.monotonic()
    wait_idle(fleet, blocked, timeout=FAST.cap + 2.0)
    assert time.monotonic() - freed < FAST.cap + 1.0
    assert_test_recorded(fleet, blocked, "once freed")


def test_a_hand_started_iperf3_on_the_port_is_left_alone(make_fleet):
    [port] = free_ports(1)
    env = {k: v for k, v in os.environ.items() if k != PARENT_ENV}
    theirs = subprocess.Popen(
        server_argv("iperf3", port),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: netstat.listener_pid(port) == theirs.pid, 3.0, what="their iperf3 listening")
        fleet = make_fleet([port], bind=None)
        fleet.start()
        state = status_of(fleet, port)
        assert state.state == "failed"
        assert f"port {port} in use by pid {theirs.pid} (iperf3 --server --json --port {port})" == state.last_exit
        fleet.stop()
        assert theirs.poll() is None, "webperf3 killed an iperf3 that was not its own"
    finally:
        theirs.terminate()
        theirs.wait(5)


def test_a_stale_iperf3_of_a_dead_webperf3_is_replaced(make_fleet, caplog):
    caplog.set_level(logging.INFO, logger="webperf3.servers")
    [port] = free_ports(1)
    # A webperf3 that crashed: the shell stands for it, records its pid in the
    # child's environment as the fleet does, and exits, orphaning the server.
    launched = subprocess.run(
        ["sh", "-c", f"{PARENT_ENV}=$$ iperf3 --server --json --port {port} >/dev/null 2>&1 </dev/null & echo $!"],
        capture_output=True,
        text=True,
        timeout=5,
        check=True,
    )
    orphan = int(launched.stdout.strip())
    try:
        wait_until(lambda: netstat.listener_pid(port) == orphan, 3.0, what="the orphan listening")
        fleet = make_fleet([port], bind=None)
        fleet.start()
        [state] = wait_idle(fleet)
        assert pid_gone(orphan)
        assert state.pid != orphan and state.restarts == 0
        assert any(f"iperf3 pid {orphan}" in r.getMessage() and "replacing" in r.getMessage() for r in caplog.records)
    finally:
        if not pid_gone(orphan) and is_iperf3(orphan):
            os.kill(orphan, signal.SIGKILL)


CHILD = """
import sys, time
from webperf3.iperf3.fleet.servers import ServerFleet
fleet = ServerFleet([int(p) for p in sys.argv[2:]], sys.argv[1], bind="127.0.0.1")
fleet.start()
deadline = time.monotonic() + 10
while time.monotonic() < deadline and any(s.state != "idle" for s in fleet.status()):
    time.sleep(0.05)
print(" ".join(str(s.pid) for s in fleet.status()), flush=True)
time.sleep(60)
"""


def test_servers_die_with_a_sigkilled_parent(tmp_path):
    ports = free_ports(2)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    with (tmp_path / "child.log").open("wb") as child_log:
        parent = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(tmp_path / "logs"), *map(str, ports)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=child_log,
        )
    pids: list[int] = []
    try:
        ready, _, _ = select.select([parent.stdout], [], [], 15)
        assert ready, "the child printed no pids: " + (tmp_path / "child.log").read_text()
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert len(pids) == 2 and all(is_iperf3(pid) for pid in pids), pids
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(5)
        killed = time.monotonic()
        wait_until(lambda: all(pid_gone(pid) for pid in pids), 2.0, what="the iperf3 servers to die")
        assert time.monotonic() - killed < 2.0
    finally:
        parent.kill()
        parent.wait(5)
        parent.stdout.close()
        for pid in pids:
            if not pid_gone(pid) and is_iperf3(pid):
                os.kill(pid, signal.SIGKILL)


def test_missing_iperf3_is_reported_with_the_install_hint(make_fleet, tmp_path):
    with pytest.raises(Iperf3NotFound, match="sudo apt install iperf3"):
        iperf3_version("/nonexistent/iperf3")
    with pytest.raises(Iperf3NotFound, match="sudo apt install iperf3"):
        iperf3_version("webperf3-no-such-iperf3")
    assert str(Iperf3NotFound()) == "iperf3 not found: install it with `sudo apt install iperf3`"
    plain = tmp_path / "iperf3"
    plain.write_text("not a program\n")  # there, but not executable: not "not found"
    with pytest.raises(Iperf3Error, match="cannot run .*: not an executable file") as raised:
        iperf3_version(str(plain))
    assert not isinstance(raised.value, Iperf3NotFound)

    fleet = make_fleet(free_ports(1), iperf3="/nonexistent/iperf3")
    with pytest.raises(Iperf3NotFound):
        fleet.start()
    assert all(s.state == "stopped" and s.pid is None for s in fleet.status())
    fleet.stop()  # harmless


def test_stop_terminates_every_server_and_is_idempotent(make_fleet, caplog):
    caplog.set_level(logging.INFO, logger="webperf3.servers")
    ports = free_ports(2)
    with make_fleet(ports) as fleet:
        pids = [s.pid for s in wait_idle(fleet)]
        started = time.monotonic()
    assert time.monotonic() - started < 1.5, "SIGTERM should suffice, without waiting for SIGKILL"
    assert all(not Path(f"/proc/{pid}").exists() for pid in pids)  # ended and reaped
    assert all(s.state == "stopped" and s.pid is None for s in fleet.status())
    fleet.stop()
    fleet.stop(timeout=0.1)
    for port in ports:
        # SIGTERM (not SIGKILL) reached it: iperf3 wrote its termination record.
        assert json_objects(fleet.log_path(port))[-1]["error"] == TERMINATED
        assert any(f"stopped iperf3 on port {port}" in r.getMessage() for r in caplog.records)
    with pytest.raises(RuntimeError):
        fleet.start()


# ------------------------------------------------------------ pure functions

def test_backoff_doubles_up_to_the_cap():
    backoff = Backoff()
    assert [backoff.delay(n) for n in range(8)] == [0, 1, 2, 4, 8, 16, 30, 30]
    assert backoff.delay(10_000) == 30
    assert Backoff(initial=0.2, cap=1.0).delay(3) == pytest.approx(0.8)


def test_format_exit_and_version_and_argv():
    assert format_exit(1) == "exit code 1"
    assert format_exit(0) == "exit code 0"
    assert format_exit(-9) == "signal SIGKILL"
    assert format_exit(-15) == "signal SIGTERM"
    assert parse_version("iperf 3.12 (cJSON 1.7.15)\nLinux pi 6.1.0 ...") == "3.12"
    assert parse_version("iperf 3.9\n") == "3.9"
    assert parse_version("Usage: something else") is None
    assert server_argv("iperf3", 5201) == ["iperf3", "--server", "--json", "--port", "5201"]
    assert server_argv("/usr/bin/iperf3", 5202, "10.0.0.2")[-2:] == ["-B", "10.0.0.2"]
    assert describe_holder(5201, None, None) == "port 5201 in use (holder not found)"
    assert describe_holder(5201, 42, ["nc", "-l", "5201"]) == "port 5201 in use by pid 42 (nc -l 5201)"


SND = ["--snd-timeout", "30000"]
KA = ["--cntl-ka=16/5/3"]
RCV = ["--rcv-timeout", "30000"]
MAX = ["--server-max-duration", "290"]
RCV_MAX = RCV + MAX


@pytest.mark.parametrize(
    ("version", "options"),
    [
        ("3.9", []),  # Raspberry Pi OS 11: none of them yet
        ("3.11", []),
        ("3.12", SND),  # Debian 12: --rcv-timeout over 10 s would never fire
        ("3.17", SND),
        ("3.18", SND + RCV),  # Debian 13
        ("3.19", SND + KA + RCV),
        ("3.19.1", SND + KA + RCV),
        ("3.20", SND + KA + RCV_MAX),
        ("3.21", SND + KA + RCV_MAX),
        ("3.21+", SND + KA + RCV_MAX),  # a build from git
        ("4.0", SND + KA + RCV_MAX),
        (None, []),  # version unknown: plain iperf3 is always safe
        ("", []),
    ],
)
def test_servers_get_the_survey_options_their_version_has(version, options):
    assert survey_options(version, 300, linux=True) == options
    argv = server_argv("iperf3", 5201, None, survey_options(version, 300, linux=True))
    assert argv == ["iperf3", "--server", "--json", "--port", "5201", *options]


def test_survey_options_follow_the_limits_and_the_system():
    # --snd-timeout and --cntl-ka exist only in Linux builds of iperf3.
    assert survey_options("3.21", 300, linux=False) == RCV_MAX
    assert survey_options("3.18", 300, linux=False) == RCV
    assert survey_options("3.12", 300, linux=False) == []
    # No stuck detection: no duration limit either.
    assert survey_options("3.21", None, linux=True) == SND + KA + ["--rcv-timeout", "30000"]
    assert survey_options("3.21", 0, linux=True) == SND + KA + ["--rcv-timeout", "30000"]
    # The limit leaves the stuck detection room for setup and the result exchange.
    assert survey_options("3.21", 12, linux=False)[-2:] == ["--server-max-duration", "6"]
    assert survey_options("3.21", 60.9, linux=False)[-2:] == ["--server-max-duration", "50"]
    assert "--server-max-duration" not in survey_options("3.21", 1.5, linux=False)
    # iperf3 refuses to start with more than a day (its MAX_TIME).
    assert survey_options("3.21", 10**6, linux=False)[-2:] == ["--server-max-duration", "86400"]
    assert survey_options("3.21", 300, 6, linux=True) == [
        "--snd-timeout", "6000", "--cntl-ka=4/1/3", "--rcv-timeout", "6000", "--server-max-duration", "290",
    ]


@pytest.mark.parametrize("seconds", range(1, 200))
def test_keepalive_times_are_ones_iperf3_accepts_and_near_the_dead_client_time(seconds):
    (ka,) = [o for o in survey_options("3.21", None, seconds, linux=True) if o.startswith("--cntl-ka=")]
    idle, interval, count = map(int, ka.removeprefix("--cntl-ka=").split("/"))
    assert idle > interval * count >= 3  # iperf3 refuses anything else (IECNTLKA)
    assert seconds <= idle + interval * count <= max(seconds + 1, 7)


def test_version_key():
    assert version_key("3.9") == (3, 9)
    assert version_key("3.19.1") == (3, 19, 1)
    assert version_key("3.21+") == (3, 21)
    assert version_key("3.10") > version_key("3.9")
    assert version_key(None) == version_key("iperf") == ()


@pytest.mark.parametrize(
    ("argv", "ours"),
    [
        (server_argv("/usr/bin/iperf3", 5201, None, survey_options("3.21", 300, linux=True)), True),
        (server_argv("iperf3", 5201, "10.0.0.2", survey_options("3.19", 300, linux=True)), True),
        (server_argv("iperf3", 5201, "::1", survey_options("3.12", 60, 5, linux=True)), True),
        # As /proc shows a running 3.19+ server: iperf3 wrote NULs over the slashes.
        (["iperf3", "--server", "--json", "--port", "5201", "--snd-timeout", "30000", "--cntl-ka=16", "5", "3"], True),
        (["iperf3", "--server", "--json", "--port", "5201", "--cntl-ka=16", "5"], False),
        (["iperf3", "--server", "--json", "--port", "5201", "--rcv-timeout"], False),  # no value
        (["iperf3", "--server", "--json", "--port", "5201", "--rcv-timeout", "x"], False),
        (["iperf3", "--server", "--json", "--port", "5201", "--cntl-ka"], False),  # not a form we write
        (["iperf3", "--server", "--json", "--port", "5201", "--idle-timeout", "5"], False),
        (["iperf3", "--server", "--json", "--port", "5201", "--snd-timeout", "1", "-B", "x"], False),  # order
        (["iperf3", "--server", "--json", "--port", "5201", "-B"], False),
        (["iperf3", "--server", "--json", "--port"], False),
    ],
)
def test_is_server_argv_knows_every_command_line_webperf3_writes(argv, ours):
    assert is_server_argv(argv, 5201) is ours


@pytest.mark.parametrize(
    ("argv", "environ", "ppid", "stale"),
    [
        (["iperf3", "--server", "--json", "--port", "5201"], {PARENT_ENV: "100"}, 1, True),
        (["/usr/bin/iperf3", "--server", "--json", "--port", "5201", "-B", "10.0.0.2"], {PARENT_ENV: "100"}, 7, True),
        (["iperf3", "--server", "--json", "--port", "5201"], {PARENT_ENV: "100"}, 100, False),  # its webperf3 lives
        (["iperf3", "--server", "--json", "--port", "5201"], {}, 1, False),  # not started by webperf3
        (["iperf3", "--server", "--json", "--port", "5201"], None, 1, False),  # environment unreadable
        (["iperf3", "--server", "--json", "--port", "5202"], {PARENT_ENV: "100"}, 1, False),  # another port
        (["iperf3", "-s", "-p", "5201"], {PARENT_ENV: "100"}, 1, False),
        (["iperf3", "--server", "--json", "--port", "5201", "--logfile", "x"], {PARENT_ENV: "100"}, 1, False),
        (["python3", "--server", "--json", "--port", "5201"], {PARENT_ENV: "100"}, 1, False),
        (["iperf3", "--server", "--json", "--port", "5201"], {PARENT_ENV: "100"}, None, False),
        ([], {PARENT_ENV: "100"}, 1, False),
        (["iperf3", "--server", "--json", "--port", "5201", *SND, *KA, *RCV_MAX], {PARENT_ENV: "100"}, 1, True),
        (["iperf3", "--server", "--json", "--port", "5201", *SND, "--one-off"], {PARENT_ENV: "100"}, 1, False),
    ],
)
def test_is_stale_server_only_for_an_orphan_of_ours(argv, environ, ppid, stale):
    assert is_stale_server(argv, 5201, environ, ppid) is stale


def test_status_is_a_frozen_snapshot_with_a_dict_form():
    status = ServerStatus(5201, 10, "testing", "10.0.0.9", 1.5, 1.0, 2, "signal SIGKILL", "3.12")
    assert status.to_dict() == {
        "port": 5201,
        "pid": 10,
        "state": "testing",
        "client": "10.0.0.9",
        "testing_since": 1.5,
        "started_at": 1.0,
        "restarts": 2,
        "last_exit": "signal SIGKILL",
        "version": "3.12",
        "progress": None,  # the live figures of a running test, when there are any
        "problem_kind": None,  # what may be losing its tests ("log", "disk"), see webperf3/ops/health.py
        "problem": None,
    }
    with pytest.raises(AttributeError):
        status.pid = 11  # type: ignore[misc]


# ------------------------------------------------------- a silent connection


def silent_connection(port: int) -> socket.socket:
    """What holds a port of iperf3 before 3.15 for ever: a connection that
    never sends the test's cookie (a scanner, a half-open app)."""
    return socket.create_connection(("127.0.0.1", port), timeout=2)


#: Telling a silent connection needs the kernel's byte counters (sock_diag).
needs_counters = pytest.mark.skipif((refused := sock_diag_refused()) is not None, reason=refused or "")


@needs_counters
def test_a_connection_that_sends_nothing_frees_its_port_on_an_iperf3_that_would_wait_for_ever(make_fleet):
    [port] = free_ports(1)
    fleet = make_fleet([port], version="3.12", silent_seconds=1.5)  # Debian 12's: before the fix in 3.15
    fleet.start()
    [before] = wait_idle(fleet)
    held = silent_connection(port)
    try:
        restarted = wait_until(lambda: (s := status_of(fleet, port)).pid not in (None, before.pid) and s, 6.0, what="the held server restarted")
        assert restarted.restarts == 1
        assert "sent nothing" in restarted.last_exit and "127.0.0.1" in restarted.last_exit
        assert restarted.problem_kind is None  # once is no pattern: nobody is named yet
    finally:
        held.close()
    wait_idle(fleet, port)
    assert_test_recorded(fleet, port, "after the silent one")


@needs_counters
def test_an_address_that_keeps_holding_ports_silently_is_named(make_fleet):
    [port] = free_ports(1)
    fleet = make_fleet([port], version="3.12", silent_seconds=1.0)
    fleet.start()
    for n in range(1, 4):
        [before] = wait_idle(fleet, port)
        held = silent_connection(port)
        try:
            wait_until(lambda: (s := status_of(fleet, port)).pid not in (None, before.pid) and s.restarts == n and s, 6.0, what=f"restart {n}")
        finally:
            held.close()
    named = wait_until(lambda: (s := status_of(fleet, port)).problem_kind == "silent" and s, 3.0, what="the address named")
    assert "127.0.0.1 keeps opening connections" in named.problem and "(3 times)" in named.problem
    # A real test forgives: the next silent connection starts the count again.
    wait_idle(fleet, port)
    assert_test_recorded(fleet, port, "a real test")
    assert wait_until(lambda: status_of(fleet, port).problem_kind is None, 3.0, what="the name cleared by a real test")


@needs_counters
def test_a_real_test_longer_than_the_silence_limit_is_never_cut(make_fleet):
    [port] = free_ports(1)
    fleet = make_fleet([port], version="3.12", silent_seconds=0.5)
    fleet.start()
    [before] = wait_idle(fleet)
    for direction in ([], ["-R"]):  # an upload, and a download whose data connection only sends
        done = subprocess.run([IPERF3, "-c", "127.0.0.1", "-p", str(port), "-t", "2", *direction], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stdout + done.stderr
    assert status_of(fleet, port).pid == before.pid and status_of(fleet, port).restarts == 0


@needs_counters
def test_newer_iperf3s_keep_their_own_handling_of_a_silent_connection(make_fleet):
    newer = {v: path for v, path in built_iperf3s().items() if version_key(v) >= (3, 15)}
    if not newer:
        pytest.skip("no iperf3 3.15 or newer built (scripts/bootstrap test builds 3.18 and 3.21 from ../shared/iperf3-src)")
    version, path = next(iter(newer.items()))
    [port] = free_ports(1)
    fleet = make_fleet([port], iperf3=str(path), silent_seconds=0.5)
    fleet.start()
    [before] = wait_idle(fleet)
    held = silent_connection(port)
    try:
        wait_until(lambda: status_of(fleet, port).state == "testing", 3.0, what="the connection seen")
        time.sleep(2.0)
        assert status_of(fleet, port).pid == before.pid and status_of(fleet, port).restarts == 0
    finally:
        held.close()
