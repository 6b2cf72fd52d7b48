"""Places named for real iperf3 tests from two client addresses on loopback
(127.0.0.1 and 127.0.0.2: the whole 127/8 is this machine's)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.iperf3 import IPERF3
from tests.support.ports import free_ports
from tests.support.waiting import wait_until
from webperf3.store.results import ResultsStore
from webperf3.survey import SurveyBook

pytestmark = pytest.mark.usefixtures("no_iperf3_left")


@pytest.fixture
def server(log_dir: Path) -> Iterator[int]:
    """A real ``iperf3 --server --json`` on 127.0.0.1 logging as webperf3 runs it."""
    port = free_ports(1)[0]
    with (log_dir / f"port-{port}.json").open("wb") as log:
        proc = subprocess.Popen([IPERF3, "--server", "--json", "--port", str(port), "-B", "127.0.0.1"], stdout=log, stderr=subprocess.DEVNULL)
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _client(port: int, source: str, extra_data: str | None = None) -> None:
    argv = [IPERF3, "-c", "127.0.0.1", "-p", str(port), "-B", source, "-t", "1", "--connect-timeout", "3000"]
    if extra_data is not None:
        argv += ["--extra-data", extra_data]
    for _ in range(50):  # the server may not listen yet
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
        if done.returncode == 0:
            return
        if "busy" not in done.stdout + done.stderr and "refused" not in done.stdout + done.stderr:
            pytest.fail(f"iperf3 client from {source} failed: {done.stdout}{done.stderr}")
        time.sleep(0.1)
    pytest.fail(f"iperf3 client from {source} never got through")


def test_a_place_named_from_one_address_names_its_next_test_only(log_dir, server):
    with SurveyBook.open(log_dir) as book:
        store = ResultsStore(log_dir)
        book.claim("127.0.0.2", "Room 7", device="phone")  # the phone's browser, then its iperf3 app
        _client(server, "127.0.0.2")
        _client(server, "127.0.0.1")  # another device, naming nothing
        _client(server, "127.0.0.2", extra_data="Lab")  # a laptop at the phone's address, --extra-data

        def three_tests():
            store.refresh()
            return store.results() if len(store.results()) == 3 else None

        found = wait_until(three_tests, timeout=10, what="three tests in the log")
        assert [r.client for r in found] == ["127.0.0.2", "127.0.0.1", "127.0.0.2"]
        notes = book.view().annotate_all(found)
        assert [(n.place, n.place_source) for n in notes] == [("Room 7", "browser"), (None, None), ("Lab", "client")]
        assert len({n.id for n in notes}) == 3

        book.edit(found[1], place="Hall")
        assert book.view().annotate(found[1]).place_source == "edited"
    with SurveyBook.open(log_dir) as again:  # a restart, the logs read again from scratch
        store = ResultsStore(log_dir)
        store.refresh()
        assert [(n.place, n.place_source) for n in again.view().annotate_all(store.results())] == [
            ("Room 7", "browser"),
            ("Hall", "edited"),
            ("Lab", "client"),
        ]
