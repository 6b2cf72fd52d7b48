"""The phone's first screen in WebKit, the engine of every iPhone browser:
Debian's WebKitGTK MiniBrowser driven over WebDriver (webkit2gtk-driver's
WebKitWebDriver, with selenium) on an X server of its own (Xvfb), against a
real station with a real iperf3 test running on the device's port.

WebKitGTK has no phone emulation: its window is made phone-sized, which
puts the page in its phone layout (under 760 px) as on an iPhone. Skipped,
with one line saying why, where any of these is missing. The browser's
fixture (``webkit``) is tests/browser/conftest.py's, shared with
test_webkit_flows.py.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.station import Station
from tests.support.waiting import wait_until
from tests.support.webkit import why_no_webkit

SECONDS = 8
WHY_NOT = why_no_webkit()
pytestmark = [pytest.mark.timeout(120), pytest.mark.skipif(WHY_NOT is not None, reason=WHY_NOT or "")]


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
