"""A test, moving: a real station, a real iperf3 client, and the page in a
real browser showing the rate rise and settle while the test runs, then the
final result in its place."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.support.station import Station

pytestmark = [pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the counters are Linux's"), pytest.mark.timeout(120)]

SECONDS = 5


@pytest.fixture
def station(tmp_path: Path) -> Iterator[Station]:
    running = Station(tmp_path / "logs")
    yield running
    running.stop()


def test_a_running_test_shows_a_moving_figure_then_its_result(page: Page, station: Station) -> None:
    page.set_viewport_size({"width": 390, "height": 844})  # a surveyor's phone
    page.goto(station.url)
    expect(page.locator("#connection")).to_have_text("live", timeout=15_000)  # a station just started, on a busy machine
    port = station.iperf3_port
    client = subprocess.Popen(
        ["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", str(SECONDS), "-b", "100M", "--extra-data", "Corridor"],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    try:
        rates = page.locator(f"#rows tr[data-port='{port}'] .progress .progress-rates")
        expect(rates).to_contain_text("Mbit/s", timeout=5000)
        seen: list[str] = []
        elapsed: list[str] = []
        points: list[int] = []
        deadline = time.monotonic() + SECONDS
        while client.poll() is None and time.monotonic() < deadline:
            if rates.count():
                seen.append(rates.first.text_content() or "")
                elapsed.append(page.locator(f"#rows tr[data-port='{port}'] .progress-elapsed").first.text_content() or "")
                lines = page.locator(f"#rows tr[data-port='{port}'] .sparkline polyline")
                points.append(len((lines.first.get_attribute("points") or "").split()) if lines.count() else 0)
            time.sleep(0.4)
        assert len(set(elapsed)) >= 3, elapsed  # the clock moves
        assert any("↑" in text and "Mbit/s" in text for text in seen), seen  # an upload, as the station received it
        assert max(points) >= 4 and points == sorted(points), points  # the sparkline grows with the samples
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    finally:
        client.wait(timeout=SECONDS + 15)
    row = page.locator(f"#rows tr[data-port='{port}']")
    expect(row.locator("td.name")).to_have_text("Corridor", timeout=10_000)
    expect(row.locator(".progress")).to_have_count(0, timeout=3000)  # the final figures replaced the moving ones
    expect(row.locator("td.num").nth(1)).to_contain_text("Mbit/s")
