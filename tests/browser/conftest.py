"""Browser tests: headless Debian Chromium driven by pytest-playwright, over
the real stack (store, live push, web app under waitress) on 127.0.0.1.

Playwright cannot download its own browsers here, and pytest-playwright has
no option for the executable, so its ``browser_type_launch_args`` fixture is
overridden to launch /usr/bin/chromium.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from webperf3.live.server import LiveServer
from webperf3.board.join import Board
from webperf3.store.results import ResultsStore
from webperf3.survey import SurveyBook
from tests.support.chromium import why_chromium_cannot_start
from tests.support.webkit import minibrowser, why_no_webkit, x_display
from tests.support.logs import make_entry
from webperf3.serving.httpserver import WebServer
from tests.support.parts import dashboard_of

CHROMIUM = "/usr/bin/chromium"
DATA = Path(__file__).parents[1] / "data"
ARTIFACTS = Path(__file__).parents[1] / "artifacts"


def _node_major(node: str) -> int | None:
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30, check=False).stdout
    except OSError:
        return None
    match = re.match(r"v(\d+)\.", out)
    return int(match.group(1)) if match else None


def _why_no_browser() -> str | None:
    """Why the browser tests cannot run here, or None when they can.

    Playwright's wheels bundle Node.js; where PyPI has none for the machine
    (armv7l), pip installs its source distribution, which has no Node.js, and
    playwright runs the one PLAYWRIGHT_NODEJS_PATH names: found on PATH here
    when it is new enough, so ``make test`` needs no setting. Last, once per
    session, a bare headless Chromium: where it crashes for the CPU's reasons
    (under qemu-user) the tests are skipped with its line quoted
    (tests/support/chromium.py); anywhere else they run.
    """
    if shutil.which(CHROMIUM) is None:
        return f"{CHROMIUM} is not installed (Debian package chromium)"
    import playwright

    if (Path(playwright.__file__).parent / "driver" / "node").is_file() or os.environ.get("PLAYWRIGHT_NODEJS_PATH"):
        return why_chromium_cannot_start(CHROMIUM)
    node = shutil.which("node") or shutil.which("nodejs")
    major = _node_major(node) if node else None
    if node and major is not None and major >= 20:
        os.environ["PLAYWRIGHT_NODEJS_PATH"] = node
        return why_chromium_cannot_start(CHROMIUM)
    have = f"{node} is Node.js {major}" if node else "no Node.js is installed"
    return (
        f"playwright has no Node.js for {platform.machine()} and {have}; it needs 20 or newer: "
        "install one and run  PLAYWRIGHT_NODEJS_PATH=/path/to/node make test"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    mine = [item for item in items if here in item.path.parents]
    reason = _why_no_browser() if mine else None
    if reason:
        skip = pytest.mark.skip(reason=reason)
        for item in mine:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict) -> dict:
    # Numbers and times are formatted in the browser's locale: pin it, so the
    # assertions (and the README's screenshot) do not depend on $LANG.
    return {**browser_context_args, "locale": "en-US"}


@pytest.fixture
def display() -> Iterator[str]:
    """An X server of the test's own, for WebKit (tests/support/webkit.py)."""
    why = why_no_webkit()
    if why:
        pytest.skip(why)
    with x_display() as chosen:
        yield chosen


@pytest.fixture
def webkit(display: str, tmp_path: Path) -> Iterator[Any]:
    """A WebKitGTK MiniBrowser under Selenium: a fresh one (no cookies) per test."""
    with minibrowser(display, tmp_path) as driver:
        yield driver


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


# -- log entries -------------------------------------------------------------


@pytest.fixture(name="entry")
def entry_fixture() -> Callable[..., bytes]:
    """``entry(sample, name=, client=, at=)``: a log entry to append."""
    return make_entry


# -- the running station -------------------------------------------------------


class Station:
    """ResultsStore + LiveServer + Dashboard under waitress, on free ports."""

    def __init__(self, log_dir: Path, servers: Callable[[], list[dict]], admin_token: str | None = None, **dashboard: Any) -> None:
        self.log_dir = log_dir
        self.store = ResultsStore(log_dir)
        self.book = SurveyBook.open(log_dir)
        self.store.refresh()
        self.servers = servers
        # One board for the live push and the web app, as the station makes it:
        # a lease taken over HTTP reaches every page.
        self.board = Board(self.store, self.book)
        self.live = self._live(port=0)
        self.live.start()
        dashboard = dashboard_of(
            self.store,
            servers=servers,
            ws_port=self.live.port,
            admin_token=admin_token,
            board=self.board,
            **dashboard,  # open=False for a test of pairing (dashboard_of's default is open)
        )  # a survey change reaches the live push through the book, as in serve.py
        self.web = WebServer(dashboard.app, "127.0.0.1", 0, threads=4)
        self.web.start()

    def _live(self, port: int) -> LiveServer:
        return LiveServer(self.store, "127.0.0.1", port, servers=self.servers, board=self.board)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web.port}/"

    def append(self, port: int, data: bytes) -> None:
        with (self.log_dir / f"port-{port}.json").open("ab") as log:
            log.write(data)

    def restart_live(self, meanwhile: Callable[[], object] = lambda: None) -> None:
        """A new websocket server on the same port, as after a restart;
        ``meanwhile`` runs while none listens (what pages miss)."""
        port = self.live.port
        self.live.stop()
        meanwhile()
        self.live = self._live(port)
        self.live.start()

    def stop(self) -> None:
        # Each part is stopped whatever another raised: a live server left
        # running fails the tests after this one, not this one.
        try:
            self.web.stop()
        finally:
            try:
                self.live.stop()
            finally:
                self.book.close()


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    path = tmp_path / "logs"
    path.mkdir()
    return path


@pytest.fixture
def fleet() -> list[dict]:
    """What /api/servers and the "servers" messages report; tests may edit it."""
    return []


def survey(now: float) -> dict[int, list[bytes]]:
    """Four ports as after a morning's survey: TCP, bidir, UDP, a failure."""
    return {
        5201: [
            make_entry("tcp", name="Hallway", client="192.168.1.23", at=now - 25 * 60),
            make_entry("bidir", name="Room 101", client="192.168.1.23", at=now - 12 * 60),
        ],
        5202: [make_entry("udp", name="Kitchen", client="192.168.1.41", at=now - 6 * 60)],
        5203: [
            make_entry("bidir_parallel", name="Lab bench 3", client="192.168.1.57", at=now - 9 * 60),
            make_entry("client_killed", name="Lab bench 3", client="192.168.1.57", at=now - 3 * 60),
        ],
        5204: [make_entry("reverse", name="Office 2.14", client="192.168.1.88", at=now - 70)],
    }


@pytest.fixture
def admin_token() -> str | None:
    return None


@pytest.fixture
def station(log_dir: Path, fleet: list[dict], admin_token: str | None) -> Iterator[Station]:
    for port, entries in survey(time.time()).items():
        (log_dir / f"port-{port}.json").write_bytes(b"".join(entries))
    running = Station(log_dir, servers=lambda: list(fleet), admin_token=admin_token)
    try:
        yield running
    finally:
        running.stop()
