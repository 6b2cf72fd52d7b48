"""What each figure on the dashboard means, in a real browser: who measured
it, what is unknown, and which test a failure and a rate belong to."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from playwright.sync_api import Page, expect

from test_dashboard import LIVE_WAIT_MS, open_dashboard, row

if TYPE_CHECKING:
    from collections.abc import Callable

    from conftest import Station

    Entry = Callable[..., bytes]


def test_headers_name_the_side_that_measured_each_rate(page: Page, station: Station) -> None:
    open_dashboard(page, station)
    headers = page.locator("#results thead th")
    expect(headers.nth(6)).to_contain_text("Download")
    expect(headers.nth(6)).to_contain_text("sent by the station")
    expect(headers.nth(7)).to_contain_text("received by the station")
    # The old footer said the opposite ("from the client's point of view").
    expect(page.locator("body")).not_to_contain_text("client's point of view")
    help_ = page.locator("#figures-help")
    help_.locator("summary").click()
    expect(help_).to_contain_text("what the station sent")
    expect(help_).to_contain_text("-R")


def test_a_failure_shows_under_its_own_name_and_the_rates_under_theirs(page: Page, station: Station, entry: Entry) -> None:
    # Seen in the field: a good test "Office 2.14", then "Basement" killed
    # mid-way; the row showed "Office 2.14" with its rates and Basement's error.
    open_dashboard(page, station)
    station.append(5204, entry("client_killed", name="Basement", client="192.168.1.99", at=time.time()))
    failed = row(page, 5204)
    expect(failed.locator("td.name")).to_have_text("Basement", timeout=LIVE_WAIT_MS)
    expect(failed).to_have_class("failed")
    expect(failed).to_contain_text("192.168.1.99")
    expect(failed).not_to_contain_text("192.168.1.88")
    expect(failed.locator("td.error")).not_to_be_empty()
    expect(failed.locator("td.num").nth(0)).to_have_text("—")  # a failure has no rates
    expect(failed.locator("td.num").nth(1)).to_have_text("—")
    previous = page.locator("#rows tr.previous[data-previous-of='5204']")
    expect(previous).to_contain_text("Last good test")
    expect(previous).to_contain_text("Office 2.14")
    expect(previous).to_contain_text("192.168.1.88")
    expect(previous).to_contain_text("download")


def test_udp_download_jitter_and_loss_are_unknown_and_say_why_on_a_phone(page: Page, station: Station, entry: Entry) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    open_dashboard(page, station)
    station.append(5202, entry("udp_reverse", name="Stairs", client="192.168.1.41", at=time.time()))
    stairs = row(page, 5202)
    expect(stairs.locator("td.name")).to_have_text("Stairs", timeout=LIVE_WAIT_MS)
    quality = stairs.locator("td.quality")
    # Never an empty cell that reads as "no loss".
    expect(quality).to_contain_text("unknown")
    expect(quality).not_to_contain_text("% loss")
    why = quality.locator("details.explain")
    expect(why.locator(".explain-text")).to_be_hidden()
    why.locator("summary").click()  # a tap: phones have no tooltips
    expect(why.locator(".explain-text")).to_be_visible()
    expect(why.locator(".explain-text")).to_contain_text("client")
    # The card's label for the download names its side too.
    expect(stairs.locator("td.num").first).to_have_attribute("data-label", "Download (sent by the station)")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_udp_upload_keeps_the_stations_own_jitter_and_loss(page: Page, station: Station) -> None:
    open_dashboard(page, station)
    expect(row(page, 5202).locator("td.quality")).to_have_text("0.037 ms jitter 0.00 % loss")
    expect(row(page, 5202).locator("td.quality details")).to_have_count(0)
