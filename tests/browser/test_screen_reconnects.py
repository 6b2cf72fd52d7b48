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


def test_the_screen_dims_when_idle_and_brightens_when_a_test_runs(page: Page, station: Station, fleet: list[dict]) -> None:
    fleet[:] = [{"port": p, "pid": 1, "state": "idle", "client": None, "testing_since": None, "started_at": 0, "restarts": 0, "last_exit": None, "version": "3.12"} for p in (5201, 5202, 5203, 5204)]
    page.clock.install()
    page.goto(station.url + "screen")
    expect(page.locator("#connection")).to_have_text("live")
    expect(page.locator("body")).not_to_have_class("screen dim")
    page.clock.fast_forward("06:00")  # six minutes without a test
    expect(page.locator("body")).to_have_class("screen screen-dim")
    expect(page.locator("#screen-frame")).to_have_css("opacity", "0.45")
    # Against burn-in the layout drifts too: a slow animation, never paused.
    assert page.locator("#screen-frame").evaluate("node => getComputedStyle(node).animationName") == "screen-drift"
    fleet[1] = {**fleet[1], "state": "testing", "client": "192.168.1.41"}
    station.live.push_servers(list(fleet))
    expect(page.locator(".tile[data-port='5202']")).to_have_attribute("data-state", "testing")
    expect(page.locator("body")).to_have_class("screen")
