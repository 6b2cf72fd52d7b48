"""The page when the station is in trouble, in headless Chromium: the station-status
banner (a full disk, a log moved away, shown and cleared by the push) and a
huge name cut to two lines, whole on a tap and in the CSV."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from playwright.sync_api import Page, expect

from tests.support.logs import make_entry

if TYPE_CHECKING:
    from conftest import Station

DISK = "the disk holding /var/lib/webperf3/logs is full (12 kB free): tests are being lost"


def test_a_full_disk_is_a_banner_until_the_station_says_it_is_over(page: Page, station: Station, fleet: list[dict]) -> None:
    fleet[:] = [{"port": p, "state": "idle", "problem_kind": "disk", "problem": DISK} for p in (5201, 5202)]
    page.goto(station.url)
    expect(page.locator("#connection")).to_have_text("live")
    banner = page.locator("#station-alerts")
    expect(banner).to_be_visible()
    # One line for the two ports: grouped, as /healthz does.
    expect(banner.locator("p")).to_have_count(1)
    expect(banner).to_contain_text("Tests are being lost: " + DISK)
    # A log moved away on one port, pushed over the websocket: two lines.
    moved = "iperf3 on port 5202: its log directory was deleted; restarting it onto a new file"
    fleet[1] = {"port": 5202, "state": "restarting", "problem_kind": "log", "problem": moved}
    station.live.push_servers(list(fleet))
    expect(banner.locator("p")).to_have_count(2)
    expect(banner).to_contain_text(moved)
    fleet[:] = [{"port": p, "state": "idle", "problem_kind": None, "problem": None} for p in (5201, 5202)]
    station.live.push_servers(list(fleet))
    expect(banner).to_be_hidden()


def test_a_hostile_problem_text_is_shown_as_text(page: Page, station: Station, fleet: list[dict]) -> None:
    hostile = "<img src=x onerror=alert(1)>"
    fleet[:] = [{"port": 5201, "state": "failed", "last_exit": hostile}]
    page.goto(station.url)
    expect(page.locator("#station-alerts")).to_contain_text(f"iperf3 on port 5201 is not running: {hostile}")
    expect(page.locator("#station-alerts img")).to_have_count(0)


def test_a_huge_name_is_two_lines_until_tapped(page: Page, station: Station) -> None:
    name = "Room " + "x" * 10_000
    station.append(5204, make_entry("tcp", name=name, client="192.168.1.99", at=time.time()))
    page.goto(station.url)
    expect(page.locator("#connection")).to_have_text("live")
    row = page.locator("#rows tr[data-port='5204']")
    cell = row.locator("td.name .clamped")
    expect(cell).to_have_text(name)  # the whole name is in the page
    height = row.bounding_box()["height"]
    print(f"row height with a 10 kB name: {height:.0f} px")
    assert height < 120, f"a 10 kB name made a {height:.0f} px row"
    cell.click()
    expect(cell).to_have_class("clamped whole")
    assert row.bounding_box()["height"] > 4 * height
    cell.click()
    expect(cell).to_have_class("clamped")
    # A short name is left as it was: plain text in the cell.
    expect(page.locator("#rows tr[data-port='5202'] td.name .clamped")).to_have_count(0)
    # The CSV keeps it whole.
    csv = page.request.get(station.url + "csv").text()
    assert name in csv
