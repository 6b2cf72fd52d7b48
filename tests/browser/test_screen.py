"""The station's own screen (/screen) in headless Chromium, at the official
7" touchscreen's 800x480 with 4 ports and a TV's 1920x1080 with 10: every
port's tile visible without scrolling, a real iperf3 test's live rate moving
on its tile, the QR code decoding (zbarimg) to the station's page, and the
pairing QR code, shown to a browser on the station itself, to a pairing URL
that pairs. Screenshots go to the artifacts folder to be looked at."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.support.station import Station
from webperf3.browsertest.records import BrowserRecord, append_record

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the counters are Linux's"),
    pytest.mark.skipif(shutil.which("zbarimg") is None, reason="zbarimg (zbar-tools) is not installed"),
    pytest.mark.timeout(180),
]


def decoded(page: Page, selector: str, path: Path) -> str:
    page.locator(selector).screenshot(path=str(path))
    out = subprocess.run(["zbarimg", "--quiet", "--raw", str(path)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def all_tiles_visible(page: Page, count: int, width: int, height: int) -> None:
    tiles = page.locator("#screen-tiles .tile")
    expect(tiles).to_have_count(count)
    assert page.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]") == [width, height]
    # Measured at once: the tiles are drawn again with every live figure.
    boxes = page.evaluate("""() => [...document.querySelectorAll('#screen-tiles .tile')].map((tile) => {
        const box = tile.getBoundingClientRect();
        const port = tile.querySelector('.tile-port').getBoundingClientRect();
        return [box.left, box.top, box.right, box.bottom, port.height, port.right <= box.right];
    })""")
    assert len(boxes) == count
    for i, (left, top, right, bottom, port_height, port_inside) in enumerate(boxes):
        assert left >= 0 and top >= 0 and right <= width and bottom <= height, (i, boxes[i])
        assert port_height > 0 and port_inside, (i, boxes[i])  # the port's name, whole


@pytest.mark.parametrize(("width", "height", "servers"), [(800, 480, 4), (1920, 1080, 10)])
def test_the_screen_shows_every_port_a_moving_test_and_a_qr_code_of_the_page(
    page: Page, tmp_path: Path, artifacts: Path, width: int, height: int, servers: int
) -> None:
    station = Station(tmp_path / "logs", servers=servers)
    try:
        page.set_viewport_size({"width": width, "height": height})
        page.goto(station.url + "screen")
        expect(page.locator("#connection")).to_have_text("live", timeout=15_000)
        all_tiles_visible(page, servers, width, height)
        assert page.locator("button, input, form").count() == 0  # nothing here changes anything

        assert decoded(page, "#screen-page-qr", tmp_path / "page-qr.png") == station.url
        # A browser on the station itself (this one: 127.0.0.1) is shown the pairing code too.
        expect(page.locator("#screen-pair")).to_be_visible()
        pair_url = decoded(page, "#screen-pair-qr", tmp_path / "pair-qr.png")
        assert pair_url.startswith(station.url + "pair?code=")

        port = station.ports[-1]
        client = subprocess.Popen(
            ["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", "5", "-b", "50M", "--extra-data", "Corridor"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )
        try:
            live = page.locator(f".tile[data-port='{port}'] .tile-live")
            expect(live).to_contain_text("Mbit/s", timeout=5000)
            expect(page.locator(f".tile[data-port='{port}']")).to_have_attribute("data-state", "testing")
            seen = set()
            for _ in range(8):
                seen.add(live.text_content())
                time.sleep(0.4)
            assert len(seen) >= 3, seen  # it moves
            assert all("↑" in text for text in seen if text), seen  # an upload, as the station received it
            page.screenshot(path=str(artifacts / f"screen-{width}x{height}-testing.png"))
            all_tiles_visible(page, servers, width, height)
        finally:
            client.wait(timeout=25)
        tile = page.locator(f".tile[data-port='{port}']")
        expect(tile.locator(".tile-last")).to_contain_text("Corridor", timeout=10_000)
        expect(tile).to_have_attribute("data-state", "idle")
        expect(page.locator("#screen-worst li")).to_contain_text(["Corridor"])
        page.screenshot(path=str(artifacts / f"screen-{width}x{height}.png"))

        # The pairing QR's URL pairs the phone that opens it.
        with urllib.request.urlopen(pair_url, timeout=5) as answer:
            assert answer.status == 200 and "webperf3_device=" in answer.headers["Set-Cookie"]
    finally:
        station.stop()


def test_tests_from_browsers_have_a_tile_named_for_them_not_an_idle_port(page: Page, tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    append_record(log_dir, BrowserRecord(id="b1", port=1, time=time.time() - 60, duration=17.0, client="10.0.0.7", download_bps=8.1e7, upload_bps=4.2e7, streams=6))
    station = Station(log_dir, servers=2)
    try:
        page.set_viewport_size({"width": 800, "height": 480})
        page.goto(station.url + "screen")
        expect(page.locator("#connection")).to_have_text("live", timeout=15_000)
        tiles = page.locator("#screen-tiles .tile")
        expect(tiles).to_have_count(3)
        browser = page.locator(".tile[data-port='1']")
        expect(browser.locator(".tile-port")).to_have_text("Browser tests")
        expect(browser.locator(".tile-state")).to_have_text("browser, HTTP")
        expect(browser.locator(".tile-last")).to_contain_text("81.0 Mbit/s")
        for port in station.ports:
            expect(page.locator(f".tile[data-port='{port}'] .tile-port")).to_have_text(f"Port {port}")
    finally:
        station.stop()
