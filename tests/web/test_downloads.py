"""Downloads to a client that reads nothing, through the real web server
(waitress, webperf3's limits) on 127.0.0.1: what the station holds meanwhile,
and that nothing is left behind once the server gives up on the client."""

from __future__ import annotations

import contextlib
import io
import os
import random
import socket
import string
import tempfile
import threading
import tracemalloc
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.hostile import connect_from, get, read_all, status_of
from tests.support.logs import append_entry
from tests.support.parts import dashboard_of
from tests.support.waiting import wait_until
from webperf3.exports import workbook
from webperf3.serving.guard import Guard
from webperf3.serving.httpserver import HttpLimits, WebServer
from webperf3.store.results import ResultsStore

T0 = 1_795_650_000
#: The server gives up on a client that has not read for this long.
STALL_S = 1.0
NAME_CHARS = 50_000
TESTS = 600  # 600 tests of 50 kB names: a 60 MB CSV


@pytest.fixture(scope="module")
def long_names(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A log of tests whose clients each sent a name of 50,000 characters."""
    logs = tmp_path_factory.mktemp("long-names")
    for i in range(TESTS):
        append_entry(logs, 5201 + i % 2, "extra_data", name=f"{i:04d}" + "n" * NAME_CHARS, at=T0 + i)
    return logs


@contextlib.contextmanager
def served(logs: Path) -> Iterator[WebServer]:
    """The dashboard over ``logs`` (the book goes beside them), served as the station serves it."""
    store = ResultsStore(logs)
    store.refresh()
    dash = dashboard_of(store)
    dash.warm_up()
    web = WebServer(Guard(dash.app), "127.0.0.1", 0, threads=4, limits=HttpLimits(stall_seconds=STALL_S, check_seconds=0.1))
    web.start()
    try:
        yield web
    finally:
        web.stop()
        dash.book.close()


@pytest.fixture
def server(long_names: Path, tmp_path: Path) -> Iterator[WebServer]:
    for log in long_names.iterdir():
        (tmp_path / log.name).write_bytes(log.read_bytes())
    with served(tmp_path) as web:
        yield web


@pytest.fixture
def temporary_files(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """The directory of every anonymous temporary file made meanwhile (waitress
    makes one when a response overflows what it keeps in memory)."""
    made: list[str | None] = []
    real = tempfile.TemporaryFile

    def recording(*args, **kwargs):
        made.append(kwargs.get("dir"))
        return real(*args, **kwargs)

    monkeypatch.setattr(tempfile, "TemporaryFile", recording)
    return made


def stalled_download(server: WebServer, path: str, *, traced_from: str = "request") -> int:
    """Ask for ``path`` and read nothing until the server drops the
    connection; the most Python memory the process held meanwhile over what
    it held before, from the request on, or from the ``"first byte"`` on
    (the workbook is made before: tracemalloc slows XlsxWriter twentyfold)."""
    sock = connect_from("127.0.0.2", server.port, rcvbuf=4096, timeout=60)
    try:
        if traced_from == "request":
            tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        sock.sendall(get(path))
        assert sock.recv(1, socket.MSG_PEEK)  # the answer has begun (for /xlsx: the workbook is made)
        if traced_from != "request":
            tracemalloc.start()
            before = tracemalloc.get_traced_memory()[0]
        # The server gives up on it after STALL_S without a byte read.
        wait_until(lambda: server.connections == 0, 10 + 5 * STALL_S, what="the stalled download dropped")
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
        sock.close()


def test_a_csv_download_nobody_reads_holds_a_little_and_no_file(server: WebServer, temporary_files: list) -> None:
    # A 60 MB CSV: the station holds the web server's output buffer (256 KiB)
    # and a piece of the export, never the export (a 256-row chunk of these
    # names was 25 MB, handed whole to the server, which spilled it to a file).
    held = stalled_download(server, "/csv")
    assert held < 5 * 2**20
    assert temporary_files == []
    # The download's slot is given back: the next one is served whole.
    with connect_from("127.0.0.3", server.port, timeout=30) as sock:
        sock.sendall(get("/csv"))
        answer = read_all(sock)
    assert status_of(answer) == 200 and answer.count(b"\r\n") > TESTS


def test_an_excel_download_nobody_reads_holds_a_little_and_leaves_no_file(
    tmp_path: Path, temporary_files: list, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A workbook needs a file (a zip's directory comes after its parts): on
    # disk, sent as the client reads, and gone once the server drops a client
    # that stopped reading; XlsxWriter's own files are gone at once.
    letters = random.Random(1)
    for i in range(300):  # names that do not compress: a 7 MB workbook, more than the sockets hold
        append_entry(tmp_path, 5201, "extra_data", name="".join(letters.choices(string.ascii_letters, k=30_000)), at=T0 + i)
    spool = tmp_path_factory.mktemp("spool")
    monkeypatch.setattr(workbook, "spool_dir", lambda: str(spool))
    # Files other tests of the session still hold open are not this download's.
    before = {(fd, _target(fd)) for fd in os.listdir("/proc/self/fd")}
    with served(tmp_path) as server:
        held = stalled_download(server, "/xlsx", traced_from="first byte")
        assert held < 2 * 2**20
        assert temporary_files == [str(spool)]  # the workbook, and nothing waitress spilled
        assert list(spool.iterdir()) == []
        left = {(fd, _target(fd)) for fd in os.listdir("/proc/self/fd")} - before
        assert not [target for _, target in left if "webperf3-" in target], left


def _target(fd: str) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""


def test_excel_downloads_asked_together_are_each_served_whole(tmp_path: Path) -> None:
    # Workbooks are made one at a time: the second request waits for the
    # first one's, then gets its own.
    for i in range(50):
        append_entry(tmp_path, 5201 + i % 3, "extra_data", name=f"Room {i}", at=T0 + i)
    answers: list[bytes] = []
    with served(tmp_path) as server:
        def download(source: str) -> None:
            with connect_from(source, server.port, timeout=60) as sock:
                sock.sendall(get("/xlsx"))
                answers.append(read_all(sock))

        threads = [threading.Thread(target=download, args=(source,)) for source in ("127.0.0.2", "127.0.0.3")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert [status_of(a) for a in answers] == [200, 200]
    for answer in answers:
        body = answer.split(b"\r\n\r\n", 1)[1]
        with zipfile.ZipFile(io.BytesIO(body)) as book:
            assert "xl/worksheets/sheet1.xml" in book.namelist()
