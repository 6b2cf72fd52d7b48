"""The history page and its charts in headless Chromium, over the real stack
(store, live push, web app under waitress), with the survey of conftest.py:
six tests on four ports (TCP upload, two bidir, UDP, a -R download, a failure)."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Dialog, Page, WebSocketRoute, expect

from tests.support.logs import make_entry

if TYPE_CHECKING:
    from conftest import Station

LIVE_WAIT_MS = 10_000
ROWS = "#h-rows tr[data-id]"


def open_history(page: Page, station: Station, query: str = "", rows: int = 6) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{station.url}history{query}")
    expect(page.locator("#connection")).to_have_text("live")
    expect(page.locator(ROWS)).to_have_count(rows)
    # The charts load after the rows: a test that reads them, or adds a test
    # the chart must count, starts once they are drawn.
    page.wait_for_function("() => document.body.dataset.chartPoints !== undefined && !!document.getElementById('h-chart-upload').uplot")
    return errors


def points(page: Page, side: str) -> int:
    """The values the chart of one side draws, read from uPlot's own data."""
    return page.evaluate(
        """(side) => {
            const u = document.getElementById(`h-chart-${side}`).uplot;
            if (!u) return -1;
            return u.data.slice(1).reduce((n, col) => n + col.filter((v) => v !== null && v !== undefined).length, 0);
        }""",
        side,
    )


def x_length(page: Page) -> int:
    return page.evaluate("() => { const u = document.getElementById('h-chart-download').uplot; return u ? u.data[0].length : -1; }")


def url_params(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def places(page: Page) -> list[str]:
    return page.locator(f"{ROWS} td.name").evaluate_all("cells => cells.map(c => c.firstChild.textContent)")


def test_every_test_of_the_survey_newest_first_with_its_chart(page: Page, station: Station) -> None:
    errors = open_history(page, station)
    assert places(page) == ["Office 2.14", "Lab bench 3", "Kitchen", "Lab bench 3", "Room 101", "Hallway"]
    first = page.locator(ROWS).first
    expect(first.locator("td.name")).to_have_text("Office 2.14")
    expect(first).to_contain_text("download")
    expect(page.locator("#h-count")).to_contain_text("6 tests in “First survey”")
    expect(page.locator("#updated")).to_contain_text("updated")  # as on every page
    assert page.locator("#h-survey option").all_text_contents()[:2] == ["current", "all surveys"]  # as on /places
    failed = page.locator(f"{ROWS}.failed")
    expect(failed).to_have_count(1)
    expect(failed.locator("td.error .error-plain")).to_have_text("The client went away mid-test: out of range, or its app was closed")
    expect(failed.locator("td.error .error-raw")).to_have_text("iperf3: the client has unexpectedly closed the connection")
    # Download: bidir, bidir -P, -R; upload: TCP, bidir, UDP, bidir -P. The failure draws nothing.
    expect(page.locator("body")).to_have_attribute("data-chart-points", "5")
    assert x_length(page) == 5
    assert points(page, "download") == 3
    assert points(page, "upload") == 4
    expect(page.locator("#h-download-side")).to_have_text("sent by the station")
    assert errors == []


def test_filters_change_the_rows_the_chart_and_the_url(page: Page, station: Station) -> None:
    open_history(page, station)
    page.select_option("#h-place", "Lab bench 3")
    expect(page.locator(ROWS)).to_have_count(2)
    assert url_params(page)["place"] == ["Lab bench 3"]
    expect(page.locator("body")).to_have_attribute("data-chart-points", "1")
    page.select_option("#h-outcome", "failed")
    expect(page.locator(ROWS)).to_have_count(1)
    expect(page.locator(f"{ROWS} td.error")).to_contain_text("unexpectedly closed")
    assert url_params(page)["outcome"] == ["failed"]
    page.click("#h-reset")
    expect(page.locator(ROWS)).to_have_count(6)
    assert "place" not in url_params(page)
    page.select_option("#h-direction", "upload")
    expect(page.locator(ROWS)).to_have_count(3)  # TCP, UDP and the failed upload
    page.fill("#h-client", "192.168.1.4")
    page.locator("#h-client").press("Enter")
    expect(page.locator(ROWS)).to_have_count(1)
    expect(page.locator(ROWS)).to_contain_text("Kitchen")
    # A time range: only the tests of the last 8 minutes.
    page.click("#h-reset")
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() - 8 * 60))
    page.fill("#h-since", since)
    page.locator("#h-since").dispatch_event("change")
    expect(page.locator(ROWS)).to_have_count(3)  # Kitchen (6 min), the failure (3 min), Office (70 s)
    assert "since" in url_params(page)


def test_a_url_with_filters_restores_them(page: Page, station: Station) -> None:
    open_history(page, station, "?port=5203&outcome=ok&sort=download&order=asc", rows=1)
    expect(page.locator("#h-port")).to_have_value("5203")
    expect(page.locator("#h-outcome")).to_have_value("ok")
    expect(page.locator("#h-sort")).to_have_value("download")
    expect(page.locator("#h-order")).to_have_value("asc")
    expect(page.locator(f"{ROWS} td.name")).to_have_text("Lab bench 3")
    expect(page.locator("#h-table th[data-sort='download']")).to_have_attribute("aria-sort", "ascending")
    expect(page.locator("body")).to_have_attribute("data-chart-points", "1")


def test_sorting_by_a_column_header(page: Page, station: Station) -> None:
    open_history(page, station)
    page.click("#h-table th[data-sort='upload'] button")
    expect(page.locator("#h-table th[data-sort='upload']")).to_have_attribute("aria-sort", "ascending")
    assert url_params(page)["sort"] == ["upload"]
    # Slowest upload first (UDP at 10.2 Mbit/s); tests with no upload last.
    expect(page.locator(ROWS).first.locator("td.name")).to_have_text("Kitchen")
    expect(page.locator(f"{ROWS} td.num:nth-child(7)")).to_have_text(["10.2 Mbit/s", re.compile("bit/s"), re.compile("bit/s"), re.compile("bit/s"), "—", "—"])
    page.click("#h-table th[data-sort='upload'] button")
    expect(page.locator("#h-table th[data-sort='upload']")).to_have_attribute("aria-sort", "descending")
    expect(page.locator(ROWS).first.locator("td.name")).not_to_have_text("Kitchen")
    page.click("#h-table th[data-sort='port'] button")
    expect(page.locator(f"{ROWS} td.port")).to_have_text(["5201", "5201", "5202", "5203", "5203", "5204"])


def test_sorting_with_the_keyboard(page: Page, station: Station) -> None:
    # Each sortable header is a button: reachable with Tab, sorted with Enter
    # or Space, and aria-sort on its column header says the order.
    open_history(page, station)
    header = page.get_by_role("columnheader", name=re.compile(r"^Upload"))
    button = header.get_by_role("button")
    page.locator("#h-table th[data-sort='download'] button").focus()
    page.keyboard.press("Tab")  # the next header's button
    expect(button).to_be_focused()
    expect(header).not_to_have_attribute("aria-sort", re.compile("."))
    page.keyboard.press("Enter")
    expect(header).to_have_attribute("aria-sort", "ascending")
    expect(page.locator("#h-table th[aria-sort]")).to_have_count(1)  # the column sorted by, no other
    assert url_params(page)["sort"] == ["upload"]
    expect(page.locator(ROWS).first.locator("td.name")).to_have_text("Kitchen")  # slowest upload first
    expect(button).to_be_focused()  # the header is not redrawn under the keyboard
    page.keyboard.press("Space")
    expect(header).to_have_attribute("aria-sort", "descending")
    expect(page.locator(ROWS).first.locator("td.name")).not_to_have_text("Kitchen")


def test_edit_a_test_s_place_and_exclude_it(page: Page, station: Station) -> None:
    open_history(page, station)
    hall = page.locator(ROWS).filter(has_text="Hallway")

    def answer(dialog: Dialog) -> None:
        assert dialog.default_value == "Hallway"
        dialog.accept("Corridor B")

    page.once("dialog", answer)
    hall.locator("button[data-action='place']").click()
    renamed = page.locator(ROWS).filter(has_text="Corridor B")
    expect(renamed.locator("td.name")).to_contain_text("edited")
    expect(page.locator("#h-place option", has_text="Corridor B")).to_have_count(1)
    renamed.locator("button[data-action='exclude']").click()
    expect(renamed).to_have_class(re.compile(r"\bexcluded\b"))
    expect(renamed.locator("button[data-action='exclude']")).to_have_text("Include")
    expect(page.locator("body")).to_have_attribute("data-chart-points", "4")  # an excluded test leaves the chart
    page.select_option("#h-outcome", "excluded")
    expect(page.locator(ROWS)).to_have_count(1)
    expect(page.locator(f"{ROWS} td.name")).to_contain_text("Corridor B")
    # The edit is in the book, not only on this page.
    (stored,) = [r for r in station.book.view().annotate_all(station.store.results()) if r.place == "Corridor B"]
    assert stored.excluded and stored.place_source == "edited"


def test_a_new_test_appears_without_reload(page: Page, station: Station) -> None:
    open_history(page, station)
    # The chart loads after the rows: wait for it, or the new test may race it.
    expect(page.locator("body")).to_have_attribute("data-chart-points", "5")
    assert points(page, "upload") == 4
    station.append(5202, make_entry("tcp", name="Stairwell", client="192.168.1.99", at=time.time()))
    fresh = page.locator(ROWS).first
    expect(fresh.locator("td.name")).to_have_text("Stairwell", timeout=LIVE_WAIT_MS)
    expect(fresh).to_have_class(re.compile(r"\bchanged\b"))
    expect(page.locator(ROWS)).to_have_count(7)
    expect(page.locator("#h-count")).to_contain_text("7 tests")
    expect(page.locator("body")).to_have_attribute("data-chart-points", "6")
    assert points(page, "upload") == 5
    # A test outside the filter leaves a filtered view as it was.
    page.select_option("#h-place", "Kitchen")
    expect(page.locator(ROWS)).to_have_count(1)
    station.append(5201, make_entry("tcp", name="Roof", client="192.168.1.98", at=time.time() + 1))
    page.wait_for_timeout(1500)
    expect(page.locator(ROWS)).to_have_count(1)


def test_a_pushed_test_the_chart_already_has_is_not_drawn_twice(page: Page, station: Station) -> None:
    # The push of a test can reach the page after a chart fetched later
    # already holds it. Held back here until then, so the order is certain.
    held: list[str | bytes] = []
    to_page: list[WebSocketRoute] = []
    hold = [False]

    def route(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()
        to_page.append(ws)
        ws.on_message(server.send)
        server.on_message(lambda m: held.append(m) if hold[0] and '"results"' in str(m) else ws.send(m))

    page.route_web_socket(re.compile(r"^ws://"), route)
    open_history(page, station)
    expect(page.locator("body")).to_have_attribute("data-chart-points", "5")
    hold[0] = True
    station.append(5202, make_entry("tcp", name="Stairwell", client="192.168.1.99", at=time.time()))
    deadline = time.monotonic() + LIVE_WAIT_MS / 1000
    while not held and time.monotonic() < deadline:
        page.wait_for_timeout(50)  # playwright hands over messages while it waits
    assert held, "the station pushed no results message"
    page.click(".h-by button[data-by='port']")  # fetches the chart again, with the new test
    expect(page.locator("body")).to_have_attribute("data-chart-points", "6")
    hold[0] = False
    for message in held:
        to_page[-1].send(message)
    expect(page.locator(f"{ROWS}.changed")).to_have_count(1, timeout=LIVE_WAIT_MS)  # the push was applied
    expect(page.locator("body")).to_have_attribute("data-chart-points", "6")
    assert points(page, "upload") == 5


def test_the_chart_switches_to_a_series_per_place(page: Page, station: Station) -> None:
    open_history(page, station)
    series = "() => document.getElementById('h-chart-upload').uplot.series.slice(1).map((s) => s.label)"
    # Both charts have every group, so a port or place has one colour in both.
    assert page.evaluate(series) == ["5201", "5202", "5203", "5204"]
    page.click(".h-by button[data-by='place']")
    expect(page.locator(".h-by button[data-by='place']")).to_have_attribute("aria-pressed", "true")
    page.wait_for_function("() => document.getElementById('h-chart-upload').uplot.series.length === 6")
    assert page.evaluate(series) == ["Hallway", "Kitchen", "Lab bench 3", "Office 2.14", "Room 101"]
    assert url_params(page)["by"] == ["place"]


def test_dark_mode_and_a_scheme_change(page: Page, station: Station) -> None:
    page.emulate_media(color_scheme="dark")
    open_history(page, station)
    chart = page.locator("#h-chart-download")
    expect(chart).to_have_attribute("data-scheme", "dark")
    text = page.evaluate("() => getComputedStyle(document.documentElement).getPropertyValue('--text').trim()")
    assert text == "#e6edf3"
    assert page.evaluate("() => document.getElementById('h-chart-download').chart.colors.text") == text
    page.emulate_media(color_scheme="light")
    expect(chart).to_have_attribute("data-scheme", "light")
    assert page.evaluate("() => document.getElementById('h-chart-download').chart.colors.text") == "#1f2328"
    assert x_length(page) == 5  # redrawn with the same data


def test_on_a_phone(page: Page, station: Station) -> None:
    page.set_viewport_size({"width": 360, "height": 740})
    open_history(page, station)
    expect(page.locator("body")).to_have_attribute("data-chart-points", "5")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 360
    width = page.evaluate("() => document.getElementById('h-chart-download').uplot.width")
    assert 200 <= width <= 340
    # Rows are cards, each cell labelled; the sort is a menu, as headers are hidden.
    first = page.locator(ROWS).first
    expect(first.locator("td[data-label='Place']")).to_be_visible()
    expect(page.locator("#h-table thead")).to_be_hidden()
    page.select_option("#h-sort", "place")
    page.select_option("#h-order", "asc")
    expect(page.locator(ROWS).first.locator("td.name")).to_have_text("Hallway")
    # uPlot's legend is a table, but not one of the cards: its keys stay on a line or two.
    legend = page.locator("#h-chart-download .u-legend tr")
    expect(legend.first).to_have_css("display", "inline-block")
    # Polled: a sort change redraws the chart, and its legend with it.
    page.wait_for_function("""() => {
        const legend = document.querySelector('#h-chart-download .u-legend');
        const height = legend ? legend.getBoundingClientRect().height : 0;
        return height > 0 && height < 60;
    }""", timeout=5_000)
    # Resizing the page resizes the chart.
    page.set_viewport_size({"width": 900, "height": 740})
    page.wait_for_function("() => document.getElementById('h-chart-download').uplot.width > 340")


@pytest.mark.parametrize("day", ["today", "a day later"])
def test_the_page_s_styles_apply_on_screen_and_the_table_fits(page: Page, station: Station, day: str) -> None:
    """An unclosed print block once kept every history style for paper only.
    A day later every test's time carries its date too (a survey over days,
    or a run just past midnight): the table still fits."""
    if day != "today":
        page.clock.set_fixed_time(time.time() + 86_400)
    page.set_viewport_size({"width": 1280, "height": 900})
    open_history(page, station)
    expect(page.locator("#h-filters")).to_have_css("display", "flex")
    expect(page.locator("section.h-charts")).to_have_css("border-top-style", "solid")
    # A failure is marked at the row's start, as on the dashboard and the places.
    failed = page.locator(f"{ROWS}.failed")
    # expect() retries: a live reload may replace the rows under a one-off evaluate.
    expect(failed.locator("td").first).to_have_css("box-shadow", re.compile(r"inset"))
    expect(failed.locator("td.port")).to_have_css("box-shadow", "none")
    # Every column, the edit buttons too, within the table's box at 1280 pixels.
    wrap = page.locator("#h-table").evaluate("t => [t.parentElement.scrollWidth, t.parentElement.clientWidth]")
    assert wrap[0] <= wrap[1]
    expect(page.locator(ROWS).first.get_by_role("button", name="Exclude")).to_be_in_viewport()


PLACES = [  # the shape of GET /api/places (rates in bits/s)
    {"place": "Room 101", "tests": 3, "failures": 0, "download_tests": 3, "download_median_bps": 420e6, "download_min_bps": 400e6, "download_max_bps": 450e6, "upload_tests": 3, "upload_median_bps": 90e6, "upload_min_bps": 80e6, "upload_max_bps": 95e6},
    {"place": "Kitchen", "tests": 2, "failures": 1, "download_tests": 0, "download_median_bps": None, "download_min_bps": None, "download_max_bps": None, "upload_tests": 1, "upload_median_bps": 12e6, "upload_min_bps": 10e6, "upload_max_bps": 14e6},
    {"place": None, "tests": 1, "failures": 0, "download_tests": 1, "download_median_bps": 5e6, "download_min_bps": 5e6, "download_max_bps": 5e6, "upload_tests": 0, "upload_median_bps": None, "upload_min_bps": None, "upload_max_bps": None},
]


def test_place_bars_from_rows_of_the_places_api(page: Page, station: Station) -> None:
    open_history(page, station)
    drawn = page.evaluate(
        """async (places) => {
            const { placeBars } = await import("./static/js/charts.js");
            const el = document.createElement("div");
            el.id = "bars";
            document.querySelector("main").append(el);
            const chart = placeBars(el, places);
            const u = el.uplot;
            return {
                x: u.data[0], download: u.data[1], upload: u.data[2], points: chart.points,
                labels: u.axes[0].values(u, [0, 1, 2]),
                height: u.height, canvas: el.querySelector("canvas") !== null,
            };
        }""",
        PLACES,
    )
    assert drawn["x"] == [0, 1, 2] and drawn["points"] == 3
    assert drawn["download"] == [420, None, 5]  # Mbit/s
    assert drawn["upload"] == [90, 12, None]
    assert drawn["labels"] == ["Room 101", "Kitchen", "(no place)"]
    assert drawn["canvas"]
