"""The dashboard's first screen, as a surveyor's phone and a laptop see it:
a real station (its iperf3 servers, its live push), a real iperf3 client
running on the phone's port, and the page at a phone's size with touch.

On a phone the page opens on this device: where you are, your port and
your test's rate, live, without scrolling, with the worst places of the
survey below. A laptop keeps the overview on top and the results table
on its first screen.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.logs import make_entry
from tests.support.station import Station

pytestmark = pytest.mark.timeout(120)

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "locale": "en-US"}
LAPTOP = {"viewport": {"width": 1280, "height": 800}, "locale": "en-US"}
SECONDS = 8  # the test the phone runs: long enough to look at it running


@pytest.fixture
def station(tmp_path: Path) -> Iterator[Station]:
    """Three iperf3 servers, and a morning's tests at three places on other
    ports (logs of earlier servers): the worst places fill the summary, as
    on the team's survey."""
    logs = tmp_path / "logs"
    logs.mkdir()
    now = time.time()
    for port, (place, sample) in zip((5301, 5302, 5303), (("Kitchen", "udp"), ("Hallway", "tcp"), ("Lab bench 3", "client_killed"))):
        (logs / f"port-{port}.json").write_bytes(make_entry(sample, name=place, client="192.168.1.41", at=now - 600))
    running = Station(logs, servers=3)  # one address may hold two of three: the laptop and the phone here
    yield running
    running.stop()


def in_first_screen(page: Page, selector: str, height: int) -> dict:
    box = page.locator(selector).bounding_box()
    assert box is not None, f"{selector} is not shown"
    assert 0 <= box["y"] and box["y"] + box["height"] <= height, f"{selector} is at y={box['y']:.0f}, height {box['height']:.0f}: not within the first {height} px"
    return box


def test_a_laptop_opens_on_the_overview_and_a_phone_on_its_place_port_and_live_rate(browser: Browser, station: Station) -> None:
    # A laptop: the overview on top as before, the panel under it, and the
    # results table on the first screen.
    laptop = browser.new_context(**LAPTOP).new_page()
    laptop.goto(station.url)
    expect(laptop.locator("#connection")).to_have_text("live", timeout=15_000)
    expect(laptop.locator("#places-summary-rows tr")).to_have_count(3)
    expect(laptop.locator("#device-port")).to_have_text(re.compile(r"^\d+$"))
    top = {name: laptop.locator(selector).bounding_box()["y"] for name, selector in (
        ("survey", ".survey-bar"), ("worst", "#places-summary"), ("device", "#device"), ("table", "#results"))}
    assert top["survey"] < top["worst"] < top["device"] < top["table"], top
    in_first_screen(laptop, "#results thead", 800)  # as before this device came first on a phone
    laptop.context.close()

    phone = browser.new_context(**PHONE).new_page()
    phone.goto(station.url)
    expect(phone.locator("#connection")).to_have_text("live", timeout=15_000)  # a station just started, on a busy machine
    expect(phone.locator("#places-summary-rows tr")).to_have_count(3)
    expect(phone.locator("#device-port")).to_have_text(re.compile(r"^\d+$"))
    port = int(phone.locator("#device-port").text_content() or "0")
    expect(phone.locator("#device-live")).to_contain_text(f"Port {port} is free")

    client = subprocess.Popen(
        ["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", str(SECONDS), "-b", "40M", "-R"],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    try:
        live = phone.locator("#device-live[data-state='mine']")
        expect(live.locator(".live-figure.download .live-rate")).to_contain_text("Mbit/s", timeout=6000)
        expect(live).to_contain_text(f"Your test on port {port}")
        expect(live.locator(".live-figure.download .side")).to_have_text("received by the client")  # TCP: what its acknowledgements say
        # The first screen, unscrolled: where you are, your port, your rate.
        assert phone.evaluate("window.scrollY") == 0
        place = in_first_screen(phone, "#place", 844)
        port_box = in_first_screen(phone, "#device-port", 844)
        rate = in_first_screen(phone, "#device-live .live-figure.download .live-rate", 844)
        assert place["y"] < rate["y"] < port_box["y"] or place["y"] < port_box["y"] < rate["y"]
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
        # The station's overview follows below: the survey and its worst places.
        device = phone.locator("#device").bounding_box()
        for overview in ("#survey-name", "#places-summary"):
            box = phone.locator(overview).bounding_box()
            assert box and device and box["y"] >= device["y"] + device["height"], f"{overview} is above this device"
    finally:
        client.wait(timeout=SECONDS + 15)
    expect(phone.locator("#device-live")).to_have_attribute("data-state", "idle", timeout=10_000)
    phone.context.close()
