"""The station screen survives the live push going away and coming back: a
test logged while it was away reaches its tile."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from playwright.sync_api import Page, expect

if TYPE_CHECKING:
    from conftest import Entry, Station


def test_the_screen_follows_again_after_the_push_came_back(page: Page, station: Station, entry: Entry) -> None:
    page.set_viewport_size({"width": 800, "height": 480})
    page.goto(station.url + "screen")
    expect(page.locator("#connection")).to_have_text("live")
    expect(page.locator("#screen-tiles .tile")).to_have_count(4)
    expect(page.locator(".tile[data-port='5202'] .tile-place")).to_have_text("Kitchen")
    station.live.stop()
    expect(page.locator("#connection")).to_have_attribute("data-state", "reconnecting")
    station.append(5202, entry("tcp", name="Boiler room", client="192.168.1.41", at=time.time() - 10))
    station.restart_live()
    expect(page.locator(".tile[data-port='5202'] .tile-place")).to_have_text("Boiler room", timeout=20_000)
    expect(page.locator("#connection")).to_have_text("live", timeout=20_000)
