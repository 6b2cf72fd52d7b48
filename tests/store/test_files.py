"""Only regular files are read: a FIFO, device,
socket, directory or a symlink out of the log directory named ``port-N.json``
never blocks the station nor is read, each is warned about once, and the
other logs keep working. Real files, real FIFOs, a real unreadable file."""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from webtest import TestApp

from tests.support.logs import install, sample
from webperf3.store.results import ResultsStore
from tests.support.parts import dashboard_of


def within(seconds: float, call: Callable[[], object]) -> object:
    """call() in a thread; fails the test (not hangs it) if it blocks."""
    box: list = []
    thread = threading.Thread(target=lambda: box.append(call()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{call} blocked for over {seconds} s"
    return box[0]


def make_fifo(path: Path) -> None:
    os.mkfifo(path)


def make_socket(path: Path) -> None:
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    s.close()


def make_dir(path: Path) -> None:
    path.mkdir()


def make_outside_link(path: Path) -> None:
    outside = path.parent.parent / "outside.json"
    outside.write_bytes(sample("extra_data").read_bytes())
    path.symlink_to(outside)


def make_device(path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to make a device node (mknod)")
    os.mknod(path, 0o600 | 0o020000, os.makedev(1, 5))  # a character device: /dev/zero's numbers


KINDS = {
    "fifo": (make_fifo, "a FIFO"),
    "socket": (make_socket, "a socket"),
    "directory": (make_dir, "a directory"),
    "symlink outside": (make_outside_link, "a symlink out of the log directory"),
    "device": (make_device, "a character device"),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_log_that_is_not_a_regular_file_is_refused_once_and_blocks_nothing(
    log_dir: Path, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    make, named = KINDS[kind]
    install(log_dir, 5201, sample("tcp"))
    make(log_dir / "port-5202.json")
    store = ResultsStore(log_dir)
    caplog.set_level(logging.INFO)
    for _ in range(3):  # as every web request refreshes
        within(5, store.refresh)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "port-5202.json" in warnings[0] and named in warnings[0]
    assert {r.port for r in store.results()} == {5201}  # the other log is read
    assert store.row(5202).tests == 0  # nothing read from the outside file


def test_the_dashboard_and_healthz_answer_beside_a_fifo(log_dir: Path) -> None:
    install(log_dir, 5201, sample("tcp"))
    os.mkfifo(log_dir / "port-5202.json")
    app = TestApp(dashboard_of(ResultsStore(log_dir), ports=lambda: [5201, 5202]).app)
    for url in ("/healthz", "/api/latest", "/csv"):
        answer = within(5, lambda: app.get(url))
        assert answer.status_int == 200


def test_a_symlink_inside_the_log_directory_is_read(log_dir: Path) -> None:
    install(log_dir, 5299, sample("extra_data"))
    (log_dir / "port-5201.json").symlink_to("port-5299.json")
    store = ResultsStore(log_dir)
    store.refresh()
    assert [r.name for r in store.results(port=5201)] == ["Room 101"]


def test_a_fifo_replaced_by_a_log_is_read_and_said_so(log_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = log_dir / "port-5201.json"
    os.mkfifo(path)
    store = ResultsStore(log_dir)
    caplog.set_level(logging.INFO)
    within(5, store.refresh)
    path.unlink()
    install(log_dir, 5201, sample("extra_data"))
    store.refresh()
    assert [r.name for r in store.results()] == ["Room 101"]
    assert any("can be read again" in r.getMessage() for r in caplog.records)


def test_an_unreadable_log_warns_once_not_per_request() -> None:
    """As another user (root reads anything): a forked child drops to nobody."""
    if os.geteuid() != 0:
        pytest.skip("needs root to read as another user (setuid)")
    top = Path(tempfile.mkdtemp(prefix="webperf3-unreadable-"))
    try:
        top.chmod(0o755)
        log_dir = top / "logs"
        log_dir.mkdir(mode=0o755)
        install(log_dir, 5201, sample("tcp"))
        install(log_dir, 5202, sample("extra_data")).chmod(0o000)
        (log_dir / "port-5201.json").chmod(0o644)
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: no pytest machinery, report through the pipe
            code = 1
            try:
                os.setgid(65534)
                os.setuid(65534)
                records: list[logging.LogRecord] = []
                handler = logging.Handler(logging.WARNING)
                handler.emit = records.append  # type: ignore[method-assign]
                logging.getLogger("webperf3").addHandler(handler)
                store = ResultsStore(log_dir)
                for _ in range(5):
                    store.refresh()
                line = f"{len(records)}|{records[0].getMessage() if records else ''}|{len(store.results(port=5201))}"
                os.write(write_fd, line.encode())
                code = 0
            finally:
                os._exit(code)
        os.close(write_fd)
        with os.fdopen(read_fd, "rb") as pipe:
            report = pipe.read().decode()
        _, status = os.waitpid(pid, 0)
        assert status == 0, report
        count, message, read = report.split("|")
        assert count == "1", report
        assert "port-5202.json" in message and "Permission denied" in message
        assert read == "1"  # the readable log is read
    finally:
        for path in sorted(top.rglob("*"), reverse=True):
            path.chmod(0o700) if path.is_dir() else path.unlink()
        for path in sorted(top.rglob("*"), reverse=True):
            path.rmdir()
        top.rmdir()


def test_a_station_beside_a_fifo_serves_and_stops_on_sigterm(log_dir: Path) -> None:
    """The whole station, as a process (it used to hang HTTP and ignore SIGTERM)."""
    import time
    import urllib.request

    from tests.support.station import Station

    install(log_dir, 5299, sample("extra_data"))
    os.mkfifo(log_dir / "port-5298.json")
    station = Station(log_dir, servers=0)
    try:
        for path in ("healthz", "api/latest"):
            with urllib.request.urlopen(station.url + path, timeout=5) as answer:
                assert answer.status == 200
        t0 = time.monotonic()
        station.proc.terminate()
        _, stderr = station.proc.communicate(timeout=10)
        assert time.monotonic() - t0 < 10 and station.proc.returncode == 0
        assert stderr.count("port-5298.json: not a regular file but a FIFO") == 1, stderr
    finally:
        if station.proc.poll() is None:
            station.proc.kill()
            station.proc.communicate()
