"""The phone's first screen in WebKit, the engine of every iPhone browser:
Debian's WebKitGTK MiniBrowser driven over WebDriver (webkit2gtk-driver's
WebKitWebDriver, with selenium) on an X server of its own (Xvfb), against a
real station with a real iperf3 test running on the device's port.

WebKitGTK has no phone emulation: its window is made phone-sized, which
puts the page in its phone layout (under 760 px) as on an iPhone. Skipped,
with one line saying why, where any of these is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.station import Station
from tests.support.waiting import wait_until

DRIVER = "/usr/bin/WebKitWebDriver"
#: Where Debian's webkit2gtk-driver puts the MiniBrowser (its triplet's lib directory).
MINIBROWSERS = sorted(Path("/usr/lib").glob("*/webkit2gtk-4.*/MiniBrowser"))
SECONDS = 8


def _why_no_webkit() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    if not Path(DRIVER).is_file() or not MINIBROWSERS:
        return "WebKitGTK's WebDriver is not installed (apt-get install webkit2gtk-driver)"
    if shutil.which("Xvfb") is None:
        return "Xvfb is not installed (apt-get install xvfb)"
    return None


WHY_NOT = _why_no_webkit()
pytestmark = [pytest.mark.timeout(120), pytest.mark.skipif(WHY_NOT is not None, reason=WHY_NOT or "")]


@pytest.fixture
def display() -> Iterator[str]:
    """An X server of the test's own: the display it chose (-displayfd)."""
    read, write = os.pipe()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
        pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    os.close(write)
    try:
        with os.fdopen(read) as chosen:
            number = chosen.readline().strip()
        assert number.isdigit(), "Xvfb did not start"
        yield f":{number}"
    finally:
        xvfb.terminate()
        xvfb.wait(timeout=10)


@pytest.fixture
def webkit(display: str, tmp_path: Path):
    from selenium import webdriver
    from selenium.webdriver.webkitgtk.options import Options
    from selenium.webdriver.webkitgtk.service import Service

    options = Options()
    options.binary_location = str(MINIBROWSERS[-1])
    options.add_argument("--automation")
    env = {**os.environ, "DISPLAY": display, "HOME": str(tmp_path)}  # its caches in the test's directory
    driver = webdriver.WebKitGTK(options=options, service=Service(executable_path=DRIVER, env=env))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def station(tmp_path: Path) -> Iterator[Station]:
    running = Station(tmp_path / "logs", servers=1)
    yield running
    running.stop()


def test_the_phone_s_first_screen_holds_in_webkit(webkit, station: Station) -> None:
    webkit.set_window_size(390, 844)
    webkit.get(station.url)
    js = webkit.execute_script
    wait_until(lambda: js("return document.getElementById('connection').textContent") == "live", 15, 0.2, "the page to be live")
    wait_until(lambda: re.fullmatch(r"\d+", js("return document.getElementById('device-port').textContent")), 10, 0.2, "a port")
    port = int(js("return document.getElementById('device-port').textContent"))
    width, height = js("return [innerWidth, innerHeight]")
    assert width <= 760, f"the window is {width} px wide: not a phone's layout"  # GTK may not go as narrow as 390
    client = subprocess.Popen(
        ["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", str(SECONDS), "-b", "40M", "-R"],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    try:
        rate = "#device-live[data-state='mine'] .live-figure.download .live-rate"
        wait_until(lambda: "Mbit/s" in (js("const n = document.querySelector(arguments[0]); return n ? n.textContent : ''", rate) or ""), 8, 0.2, "the live rate")
        boxes = js(
            """return arguments[0].map((s) => { const r = document.querySelector(s).getBoundingClientRect(); return [s, r.top, r.bottom]; })""",
            ["#place", "#device-port", rate],
        )
        assert js("return scrollY") == 0
        for selector, top, bottom in boxes:
            assert 0 <= top and bottom <= height, f"{selector} at {top:.0f}-{bottom:.0f}: not within the first {height} px"
        assert js("return document.documentElement.scrollWidth") <= width
    finally:
        client.wait(timeout=SECONDS + 15)
