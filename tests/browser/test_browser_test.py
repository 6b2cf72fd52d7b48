""""Test from this browser" at a phone's size: the button, a moving figure
per phase, the result recorded and shown under the device's place, and a
second test from the same address told to wait."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.support.browsertest import control
from tests.support.station import Station

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def station(tmp_path: Path) -> Iterator[Station]:
    running = Station(tmp_path / "logs", servers=0)
    yield running
    running.stop()


def test_a_phone_tests_from_its_browser_and_the_result_lands_under_its_place(page: Page, station: Station) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(station.url)
    expect(page.locator("#connection")).to_have_text("live", timeout=15_000)
    page.fill("#place", "Room 7")
    page.click("#save-place")
    expect(page.locator("#device-place")).to_have_text("Room 7")
    status = page.locator("#browser-test-status")
    # Every text the status line shows, in order, as the person sees them.
    page.evaluate("""() => {
        const node = document.getElementById("browser-test-status");
        window.shown = [];
        new MutationObserver(() => window.shown.push([node.dataset.phase, node.textContent]))
            .observe(node, { childList: true, characterData: true, subtree: true, attributes: true });
    }""")
    page.click("#browser-test")
    expect(status).to_have_attribute("data-phase", "done", timeout=60_000)
    shown = page.evaluate("window.shown")
    phases = [phase for i, (phase, _) in enumerate(shown) if phase and (i == 0 or shown[i - 1][0] != phase)]
    assert phases == ["starting", "latency", "download", "upload", "saving", "done"], shown
    # Each direction's figure moved: several different figures while it ran.
    for phase, pattern in (("download", r"Download: [\d.,]+ [MG]bit/s"), ("upload", r"Upload: [\d.,]+ [MG]bit/s")):
        texts = {text for p, text in shown if p == phase}
        assert len(texts) >= 3 and all(re.match(pattern, t) for t in texts), texts
    expect(status).to_contain_text("received by this browser")
    expect(status).to_contain_text("browser, HTTP")
    [result] = station.api("api/results")["results"]
    assert result["method"] == "browser" and result["place"] == "Room 7" and result["place_source"] == "browser"
    assert result["download_bps"] > 10e6 and result["upload_bps"] > 10e6
    assert result["latency_idle_ms"] is not None and result["latency_download_ms"] is not None
    assert "Chrome" in (result["agent"] or "")
    # Under the device's place, each side named for who measured it.
    line = page.locator('#device-results li[data-place="Room 7"]')
    expect(line).to_contain_text("received by the browser (browser, HTTP)")
    expect(line).to_contain_text("received by the station (browser, HTTP)")
    expect(line).to_contain_text("latency under load")
    # The table's row of the websocket port: the latest browser test, said so.
    row = page.locator(f"#rows tr[data-port='{station.ws_port}']")
    expect(row).to_contain_text("browser, HTTP")
    expect(row.locator("td.name")).to_contain_text("Room 7")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    # Its place has no iperf3 test: the dashboard's worst places grade it by
    # the browser's figures, named so on the cells and under the table.
    worst = page.locator('#places-summary-rows tr[data-place="Room 7"]')
    expect(worst).to_have_attribute("data-graded-by", "browser", timeout=10_000)
    expect(worst).not_to_have_attribute("data-grade", re.compile("none|failed"))
    expect(worst.locator("td.grade").first).to_contain_text("browser, HTTP")
    expect(worst.locator("td.grade").first).not_to_contain_text("—")
    expect(page.locator("#places-summary-note")).to_be_visible()
    expect(page.locator("#places-summary-note")).to_contain_text("graded by its browser figures (browser, HTTP")
    # The places page says it too.
    page.goto(f"{station.url}places")
    expect(page.locator('#place-rows tr[data-place="Room 7"]')).to_have_attribute("data-graded-by", "browser")
    expect(page.locator("#places-browser-note")).to_be_visible()
    # The record is the station's own file beside the logs.
    [line_json] = (station.log_dir / "browser-tests.json").read_text().splitlines()
    assert json.loads(line_json)["id"] in result["id"]


def test_a_second_test_from_the_same_address_is_told_to_wait(page: Page, station: Station) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(station.url)
    expect(page.locator("#connection")).to_have_text("live", timeout=15_000)
    with control(station.ws_port) as first:  # another test from this address, under way
        assert json.loads(first.recv(5))["type"] == "ready"
        page.click("#browser-test")
        status = page.locator("#browser-test-status")
        expect(status).to_have_attribute("data-phase", "busy", timeout=10_000)
        expect(status).to_contain_text("Try again in")
    expect(page.locator("#browser-test")).to_be_enabled()


def test_a_second_browser_page_at_the_same_address_is_busy_while_the_first_tests(page: Page, station: Station) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    other = page.context.browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    for each in (page, other):
        each.goto(station.url)
        expect(each.locator("#connection")).to_have_text("live", timeout=15_000)
    page.click("#browser-test")
    expect(page.locator("#browser-test-status")).to_have_attribute("data-phase", re.compile("latency|download"), timeout=10_000)
    other.click("#browser-test")
    expect(other.locator("#browser-test-status")).to_have_attribute("data-phase", "busy", timeout=10_000)
    expect(other.locator("#browser-test-status")).to_contain_text(re.compile(r"Try again in \d+ s"))
    # The first goes on to its result.
    expect(page.locator("#browser-test-status")).to_have_attribute("data-phase", "done", timeout=60_000)
    other.context.close()
