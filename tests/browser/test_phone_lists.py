"""On a phone (390x844), the places, the comparison of two surveys and the
history show one compact row per place or test: its name, its grade on the
row's edge, its figures on one line, failures marked; a tap opens the row
to its details. 20 places fit in at most 3 screens."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from playwright.sync_api import Page, expect

from tests.support.logs import make_entry

if TYPE_CHECKING:
    from conftest import Station

PHONE = {"width": 390, "height": 844}


def test_twenty_places_fit_in_three_screens_and_a_tap_opens_one(page: Page, station: Station, artifacts) -> None:
    now = time.time()
    for i in range(20):
        station.append(5201 + i % 4, make_entry("tcp" if i % 3 else "bidir", name=f"Room {i + 1:02d} east wing", client="192.168.1.23", at=now - 600 + i))
    page.set_viewport_size(PHONE)
    page.goto(f"{station.url}places")
    rows = page.locator("#place-rows tr")
    expect(rows).to_have_count(25)  # the survey's five places and the twenty rooms
    # The last place's row ends within the third screen (the page's chart follows).
    end = page.evaluate("document.querySelector('#place-rows tr:last-child').getBoundingClientRect().bottom + window.scrollY")
    assert end <= 3 * PHONE["height"], end
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(artifacts / "places-phone.png"), full_page=True)

    # A compact row: the name and the figures on one line; the details hidden.
    lab = page.locator("#place-rows tr[data-place='Lab bench 3']")
    expect(lab.locator("td.phone-line")).to_be_visible()
    expect(lab.locator("td.phone-line")).to_contain_text("1 failed")  # failures marked
    expect(lab.locator("td.phone-line .phone-failures")).to_have_css("color", "rgb(207, 34, 46)")
    room = page.locator("#place-rows tr[data-place='Room 02 east wing']")
    expect(room.locator("td.phone-line")).to_contain_text("↑")
    expect(room.locator("td.phone-line")).to_contain_text("Gbit/s")
    expect(room.locator("td[data-label='Upload min – max']")).to_be_hidden()
    box = room.bounding_box()
    assert box is not None and box["height"] <= 80, box
    # Its grade on the row's edge.
    # Read in one step in the page: the table is drawn again when the live
    # push's snapshot comes, and a row resolved before that is gone (its
    # computed style then reads as nothing: NaN, seen under load).
    page.wait_for_function(
        """() => parseFloat(getComputedStyle(document.querySelector("#place-rows tr[data-place='Room 02 east wing']")).borderLeftWidth) >= 4""",
        timeout=5_000,
    )

    room.locator("td.phone-line").click()
    expect(room.locator("td[data-label='Upload min – max']")).to_be_visible()
    expect(room.locator("td[data-label='Tests']")).to_be_visible()
    # A live update draws the rows anew: the open one stays open.
    station.append(5204, make_entry("tcp", name="Boiler room", client="192.168.1.88", at=time.time()))
    expect(page.locator("#place-rows tr")).to_have_count(26)
    expect(room.locator("td[data-label='Upload min – max']")).to_be_visible()
    room.locator("td[data-label='Tests']").click()
    expect(room.locator("td[data-label='Upload min – max']")).to_be_hidden()


def test_the_comparison_and_the_history_are_compact_rows_too(page: Page, station: Station, artifacts) -> None:
    station.book.start("After the new AP")
    time.sleep(1.05)  # iperf3 logs whole seconds: the next test is in the new survey
    station.append(5202, make_entry("tcp", name="Kitchen", client="192.168.1.41", at=time.time()))
    page.set_viewport_size(PHONE)
    page.goto(f"{station.url}places?survey=2&compare=1")
    kitchen = page.locator("#compared-rows tr[data-place='Kitchen']")
    expect(kitchen.locator("td.phone-line")).to_contain_text("↑")
    expect(kitchen.locator("td.phone-line")).to_contain_text("%")  # the change
    expect(kitchen.locator("td.change").first).to_be_hidden()
    page.screenshot(path=str(artifacts / "compared-phone.png"), full_page=True)
    kitchen.locator("td.phone-line").click()
    expect(kitchen.locator("td.change").first).to_be_visible()

    page.goto(f"{station.url}history?survey=all")
    rows = page.locator("#h-rows tr")
    expect(rows).to_have_count(7)
    failed = page.locator("#h-rows tr.failed")
    expect(failed.locator("td.phone-line .phone-failures")).to_have_text("failed")
    first = rows.first
    expect(first.locator("td.name")).to_be_visible()
    expect(first.locator("td[data-label='Client']")).to_be_hidden()
    expect(first.locator("button[data-action='exclude']")).to_be_hidden()
    first.locator("td.phone-line").click()
    expect(first.locator("td[data-label='Client']")).to_be_visible()
    page.screenshot(path=str(artifacts / "history-phone.png"), full_page=True)
    expect(first.locator("button[data-action='exclude']")).to_be_visible()
    # The closed rows: a name and one line of figures each (measured at once: a live reload may redraw them).
    heights = page.locator("#h-rows").evaluate("body => [...body.children].filter((tr) => !tr.classList.contains('open')).map((tr) => tr.getBoundingClientRect().height)")
    assert len(heights) == 6 and max(heights) <= 80, heights
