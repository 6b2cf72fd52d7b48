"""No test lost while iperf3 runs: the log directory or a
log file deleted, renamed or replaced under running iperf3 servers, and a
log path that is a symlink or FIFO. Real iperf3 servers and clients on
127.0.0.1, real files."""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from tests.support.iperf3 import results, run_client, start_client
from tests.support.ports import free_ports
from tests.support.waiting import wait_until
from webperf3.iperf3.fleet.servers import ServerFleet
from webperf3.iperf3.fleet.state import ServerStatus

pytestmark = pytest.mark.usefixtures("no_iperf3_left")

def status(fleet: ServerFleet, port: int) -> ServerStatus:
    return next(s for s in fleet.status() if s.port == port)


def idle(fleet: ServerFleet, timeout: float = 8.0) -> None:
    wait_until(lambda: all(s.state == "idle" for s in fleet.status()), timeout, what="servers idle")


def recorded(fleet: ServerFleet, port: int, name: str) -> None:
    done = run_client(port, name)
    assert done.returncode == 0, done.stdout + done.stderr
    wait_until(lambda: results(fleet.log_path(port), name), 3.0, what=f"{name!r} in {fleet.log_path(port)}")


def moved_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "onto a new file" in r.getMessage()]


def displace_dir(log_dir: Path, how: str) -> None:
    if how == "deleted":
        shutil.rmtree(log_dir)
    elif how == "deleted and created again":
        shutil.rmtree(log_dir)
        log_dir.mkdir()
    elif how == "replaced":
        log_dir.rename(log_dir.with_name("old-logs"))
        log_dir.mkdir()


@pytest.mark.parametrize("how", ["deleted", "deleted and created again", "replaced"])
def test_a_displaced_log_directory_loses_no_later_test(make_fleet, caplog, how: str) -> None:
    ports = free_ports(2)
    changes: list[list[ServerStatus]] = []
    fleet = make_fleet(ports, on_change=changes.append)
    caplog.set_level(logging.INFO)
    fleet.start()
    idle(fleet)
    recorded(fleet, ports[0], "before")
    pids = {p: status(fleet, p).pid for p in ports}
    log_dir = fleet.log_path(ports[0]).parent
    displace_dir(log_dir, how)
    t0 = time.monotonic()
    wait_until(lambda: all(status(fleet, p).pid not in (None, pids[p]) for p in ports), 5.0, what="servers restarted")
    noticed = time.monotonic() - t0
    idle(fleet)
    assert noticed < 4.0
    # Loudly: one WARNING per port, naming it and what happened.
    warnings = moved_warnings(caplog)
    assert len(warnings) == 2, warnings
    for port, line in zip(ports, sorted(warnings, key=lambda w: ports.index(int(w.split()[3])))):
        assert f"port {port}" in line and ("deleted" in line or "replaced" in line)
    # Shown while it lasted, as a "log" problem naming the port.
    seen = {s.port: s.problem for change in changes for s in change if s.problem_kind == "log"}
    assert set(seen) == set(ports) and all(f"port {p}" in seen[p] for p in ports)
    assert all(s.problem is None for s in fleet.status())
    for port in ports:
        recorded(fleet, port, f"after on {port}")
    assert log_dir.is_dir()


def test_a_deleted_log_file_restarts_only_its_server(make_fleet, caplog) -> None:
    ports = free_ports(2)
    fleet = make_fleet(ports)
    caplog.set_level(logging.INFO)
    fleet.start()
    idle(fleet)
    pids = {p: status(fleet, p).pid for p in ports}
    fleet.log_path(ports[1]).rename(fleet.log_path(ports[1]).with_suffix(".old"))
    wait_until(lambda: status(fleet, ports[1]).pid not in (None, pids[ports[1]]), 5.0, what="restart")
    idle(fleet)
    assert status(fleet, ports[0]).pid == pids[ports[0]]
    [warning] = moved_warnings(caplog)
    assert f"port {ports[1]}" in warning and "deleted or renamed" in warning
    recorded(fleet, ports[1], "after rename")


def test_a_test_running_when_its_log_is_deleted_is_saved_into_the_new_file(make_fleet, caplog) -> None:
    [port] = free_ports(1)
    fleet = make_fleet([port])
    caplog.set_level(logging.INFO)
    fleet.start()
    idle(fleet)
    pid = status(fleet, port).pid
    client = start_client(port, "walking", seconds=3)
    try:
        wait_until(lambda: status(fleet, port).state == "testing", 5.0, what="testing")
        fleet.log_path(port).unlink()
        time.sleep(1.5)
        # Not killed mid-test: the client's test goes on to its end.
        assert status(fleet, port).pid == pid
        output, _ = client.communicate(timeout=15)
        assert client.returncode == 0, output
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
    wait_until(lambda: results(fleet.log_path(port), "walking"), 5.0, what="the running test in the new file")
    idle(fleet)
    assert status(fleet, port).pid != pid
    assert any("saved" in r.getMessage() and f"port {port}" in r.getMessage() for r in caplog.records)
    recorded(fleet, port, "next")


def test_a_symlinked_log_is_refused_and_the_outside_file_untouched(make_fleet, tmp_path: Path) -> None:
    [port] = free_ports(1)
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me\n")
    (log_dir / f"port-{port}.json").symlink_to(outside)
    fleet = make_fleet([port])
    fleet.start()
    wait_until(lambda: status(fleet, port).state == "failed", 5.0, what="refused")
    assert "is a symlink" in status(fleet, port).last_exit and status(fleet, port).pid is None
    assert outside.read_text() == "keep me\n"


def test_a_fifo_log_is_refused_without_blocking(make_fleet, tmp_path: Path) -> None:
    [port] = free_ports(1)
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    os.mkfifo(log_dir / f"port-{port}.json")
    fleet = make_fleet([port])
    started = threading.Thread(target=fleet.start, daemon=True)
    started.start()
    started.join(5.0)
    assert not started.is_alive(), "starting onto a FIFO blocked"
    wait_until(lambda: status(fleet, port).state == "failed", 5.0, what="refused")
    assert "not a regular file but a FIFO" in status(fleet, port).last_exit
