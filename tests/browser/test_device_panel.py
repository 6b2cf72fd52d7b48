"""The device panel follows the station: a port that comes free reaches a
page that had none without a reload, and a page that was disconnected shows
what changed meanwhile as soon as it is back (the in-process station of
conftest.py: its logs' four ports, every page on 127.0.0.1)."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from typing import TYPE_CHECKING

from playwright.sync_api import Browser, Page, expect

if TYPE_CHECKING:  # fixtures come from conftest.py; this is for the annotations
    from conftest import Station


def opened(browser: Browser, station: Station) -> Page:
    """A page of a device of its own (its own browser context: its own id)."""
    page = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-US").new_page()
    page.goto(station.url)
    expect(page.locator("#connection")).to_have_text("live", timeout=15_000)
    return page


def test_a_page_with_no_port_free_gets_one_as_soon_as_one_is_given_back(browser: Browser, station: Station) -> None:
    # One address holds at most half the four ports: a third device there waits.
    first, second, third = (opened(browser, station) for _ in range(3))
    for page in (first, second):
        expect(page.locator("#device-port")).to_have_text(re.compile(r"^\d+$"))
    expect(third.locator("#device-port")).to_have_text("—")
    expect(third.locator("#device-lease")).to_contain_text("2 other devices at 127.0.0.1 hold ports already")
    expect(third.locator("#device-command")).to_contain_text("no port for this device right now")
    expect(third.locator("#device-qr")).to_be_hidden()

    # The first device is done: its page closes and it gives its port back.
    device = first.evaluate("localStorage.getItem('webperf3-device')")
    first.context.close()
    release = urllib.request.Request(station.url + "api/device/lease", data=json.dumps({"device": device, "release": True}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(release, timeout=5) as answer:
        assert json.load(answer) == {"released": True}
    expect(third.locator("#device-port")).to_have_text(re.compile(r"^\d+$"), timeout=5_000)  # no reload
    assert third.locator("#device-port").text_content() != second.locator("#device-port").text_content()
    expect(third.locator("#device-lease")).to_contain_text("is this device's own")
    expect(third.locator("#device-qr")).to_be_visible()


def test_a_reconnected_page_shows_what_changed_while_it_was_away(page: Page, station: Station) -> None:
    page.goto(station.url)
    expect(page.locator("#connection")).to_have_text("live", timeout=15_000)
    page.fill("#place", "Storage room")
    page.click("#save-place")
    expect(page.locator("#device-place")).to_have_text("Storage room")
    time.sleep(1.05 - time.time() % 1)  # the book counts whole seconds: the survey starts in a later one than the place
    station.restart_live(meanwhile=lambda: station.book.start("Second floor"))  # no push reaches the page
    expect(page.locator("#device-place")).to_have_text("not named yet", timeout=15_000)
    expect(page.locator("#device-note")).to_have_text("While this page was not connected, the station changed: name your place again.")
    expect(page.locator("#device-command")).not_to_contain_text("--extra-data")
