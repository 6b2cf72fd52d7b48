"""The places page, the dashboard's summary and the printable report in
headless Chromium over the real stack (store, book, live push, waitress);
the report printed to PDF by Chromium and read back with poppler."""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Page, expect

from tests.support.logs import make_entry

if TYPE_CHECKING:
    from conftest import Station

LIVE_WAIT_MS = 10_000
#: The grade colours of webperf3.css, as the browser computes them.
LIGHT_RED, LIGHT_AMBER, DARK_RED = "rgb(255, 215, 213)", "rgb(255, 232, 163)", "rgb(92, 26, 30)"


def rows(page: Page):
    return page.locator("#place-rows tr")


def open_places(page: Page, station: Station, query: str = "") -> None:
    page.goto(f"{station.url}places{query}")
    expect(page.locator("#connection")).to_have_text("live")
    expect(page.locator("#places-order")).to_contain_text("Worst first")


def test_places_worst_first_coloured_by_the_thresholds_kept_in_url_and_browser(page: Page, station: Station) -> None:
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    open_places(page, station)
    # The conftest's survey: the Kitchen's UDP test is 10 Mbit/s, the rest are Gbit/s over loopback.
    expect(rows(page)).to_have_count(5)
    names = rows(page).locator("td.name").all_text_contents()
    assert names[0] == "Kitchen" and set(names) == {"Kitchen", "Hallway", "Room 101", "Lab bench 3", "Office 2.14"}
    kitchen = rows(page).first
    expect(kitchen).to_have_attribute("data-grade", "bad")
    upload = kitchen.locator("td.grade").nth(1)
    expect(upload).to_have_text("10.2 Mbit/s")
    expect(upload).to_have_css("background-color", LIGHT_RED)
    expect(page.locator("#places-order")).to_contain_text("lower of the median download and the median upload")
    lab = page.locator("#place-rows tr[data-place='Lab bench 3'] td.failures")
    expect(lab).to_have_text("1")  # its killed test is a failure, its median is the other test's
    expect(kitchen.locator("td.name a")).to_have_attribute("href", re.compile(r"^history\?survey=1&place=Kitchen$"))
    unplaced = page.evaluate("async () => (await import('./static/js/placestable.js')).historyHref(null, 1)")
    assert unplaced == "history?survey=1&unplaced=1"  # the history's filter for tests with no place
    # The bars: one per place, worst first as the table, in Mbit/s.
    expect(page.locator("#place-chart canvas")).to_be_visible()
    bars = page.evaluate("() => { const u = document.getElementById('place-chart').uplot; return {n: u.data[0].length, upload: u.data[2]}; }")
    assert bars["n"] == 5
    assert round(bars["upload"][0], 1) == 10.2  # the Kitchen's, first
    # Other thresholds: the Kitchen turns amber, and the choice is in the URL and kept.
    page.fill("#red", "5")
    page.fill("#amber", "20")
    page.locator("#amber").dispatch_event("change")
    expect(kitchen).to_have_attribute("data-grade", "fair")
    expect(kitchen.locator("td.grade").nth(1)).to_have_css("background-color", LIGHT_AMBER)
    assert "red=5" in page.url and "amber=20" in page.url
    expect(page.locator("#report-link")).to_have_attribute("href", re.compile(r"red=5&amber=20"))
    page.goto(f"{station.url}places")
    expect(page.locator("#red")).to_have_value("5")
    expect(rows(page).first).to_have_attribute("data-grade", "fair")
    assert errors == []


def test_a_new_test_shows_without_reload(page: Page, station: Station) -> None:
    open_places(page, station)
    station.append(5204, make_entry("client_killed", name="Garage", client="192.168.1.99", at=time.time()))
    garage = rows(page).first
    expect(garage).to_have_attribute("data-place", "Garage", timeout=LIVE_WAIT_MS)  # failed only: first
    expect(garage).to_have_attribute("data-grade", "failed")
    expect(garage.locator("td.failures")).to_have_text("1")


def test_comparing_two_surveys(page: Page, station: Station) -> None:
    station.book.start("After the new AP")
    time.sleep(1.05)  # iperf3 logs whole seconds: the next test is in the new survey
    now = time.time()
    station.append(5202, make_entry("tcp", name="Kitchen", client="192.168.1.41", at=now))
    station.append(5201, make_entry("tcp", name="Attic", client="192.168.1.23", at=now))
    open_places(page, station, "?survey=2&compare=1")
    expect(page.locator("#compared-wrap")).to_be_visible()
    expect(page.locator("#places-wrap")).to_be_hidden()
    expect(page.locator("#survey-title")).to_have_text("After the new AP compared with First survey")
    compared = page.locator("#compared-rows tr")
    expect(compared).to_have_count(6)  # Kitchen and Attic, and the four only the first survey has
    kitchen = page.locator("#compared-rows tr[data-place='Kitchen']")
    expect(kitchen.locator("td.change").nth(1)).to_contain_text("+")  # 22 Gbit/s TCP against 10 Mbit/s UDP
    expect(kitchen.locator("td.change").nth(1)).to_have_class(re.compile("better"))
    expect(page.locator("#compared-rows tr[data-place='Attic']")).to_have_attribute("data-only-in", "survey")
    expect(page.locator("#compared-rows tr[data-place='Hallway']")).to_have_attribute("data-only-in", "compare")
    expect(page.locator("#compare")).to_have_value("1")
    # The survey menu is the history's: current, all surveys, then each survey.
    expect(page.locator("#survey option")).to_have_text(["current", "all surveys", "First survey", "After the new AP (current)"])
    expect(page.locator("#survey")).to_have_value("2")
    expect(page.locator("#compare option")).to_have_text(["— nothing —", "First survey", "After the new AP (current)"])
    # The CSV button downloads what is shown: the comparison.
    with page.expect_download() as download:
        page.locator("#places-csv").click()
    assert download.value.suggested_filename == "iperf3_places_compared.csv"
    lines = list(csv.reader(io.StringIO(Path(download.value.path()).read_text())))
    assert lines[0][:2] == ["Place", "In"] and len(lines) == 7
    assert {line[0]: line[1] for line in lines[1:]}["Hallway"] == "compared-with only"


@pytest.mark.parametrize("scheme", ["dark"])
def test_dark_mode_and_a_phone(page: Page, station: Station, scheme: str) -> None:
    page.emulate_media(color_scheme=scheme)
    page.set_viewport_size({"width": 390, "height": 844})
    open_places(page, station)
    expect(page.locator("body")).to_have_css("background-color", "rgb(13, 17, 23)")
    expect(rows(page).first.locator("td.grade").nth(1)).to_have_css("background-color", DARK_RED)
    # One row per place, a tap opens its card: no header row, each cell labelled, nothing wider than the phone.
    expect(page.locator("#places thead")).to_be_hidden()
    rows(page).first.locator("td.phone-line").click()
    expect(rows(page).first.locator("td").nth(4)).to_be_visible()
    label = rows(page).first.locator("td").nth(4).evaluate("node => getComputedStyle(node, '::before').content")
    assert "Download median" in label
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    # Inside the cards too: a long label wraps, and no figure runs past its card's edge.
    clipped = page.locator("#place-rows td").evaluate_all(
        """cells => cells.filter((td) => {
            const text = document.createRange();
            text.selectNodeContents(td);
            return text.getBoundingClientRect().right > td.getBoundingClientRect().right + 1;
        }).map((td) => td.dataset.label + ': ' + td.textContent)"""
    )
    assert clipped == []


def test_the_dashboard_shows_the_worst_places(page: Page, station: Station) -> None:
    page.goto(station.url)
    summary = page.locator("#places-summary-rows tr")
    expect(summary).to_have_count(3)
    expect(summary.first).to_have_attribute("data-place", "Kitchen")
    expect(page.locator("#places-summary-more")).to_have_attribute("href", "places")
    station.append(5204, make_entry("client_killed", name="Garage", client="192.168.1.99", at=time.time()))
    expect(summary.first).to_have_attribute("data-place", "Garage", timeout=LIVE_WAIT_MS)


def _pgm_ink(path: Path) -> float:
    """Share of pixels that are not white in a greyscale PGM (pdftoppm -gray)."""
    data = path.read_bytes()
    magic, width, height, maxval, rest = re.match(rb"(P5)\s+(\d+)\s+(\d+)\s+(\d+)\s(.*)", data, re.S).groups()
    pixels = rest[: int(width) * int(height)]
    return sum(1 for p in pixels if p < 200) / len(pixels)


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils is not installed (apt-get install poppler-utils)")
def test_the_report_prints_to_pdf_with_the_places_and_failures(page: Page, station: Station, tmp_path: Path, artifacts: Path) -> None:
    page.emulate_media(color_scheme="dark")  # print is light whatever the screen
    page.goto(f"{station.url}report?red=5&amber=20")
    expect(page.locator("#report[data-ready]")).to_have_count(1)
    expect(page.locator("#report-rows tr")).to_have_count(5)
    expect(page.locator("#report-failure-rows tr")).to_have_count(1)
    page.emulate_media(media="print")
    expect(page.locator("body")).to_have_css("background-color", "rgb(255, 255, 255)")
    expect(page.locator("header.top")).to_be_hidden()
    pdf = tmp_path / "report.pdf"
    page.pdf(path=str(pdf), prefer_css_page_size=True, print_background=True)
    shutil.copy(pdf, artifacts / "report.pdf")  # to look at
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    pages = int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))
    assert 1 <= pages <= 4
    subprocess.run(["pdftoppm", "-gray", "-r", "40", str(pdf), str(tmp_path / "page")], check=True)
    images = sorted(tmp_path.glob("page*.pgm"))
    assert len(images) == pages
    for image in images:
        assert _pgm_ink(image) > 0.005, f"{image.name} is blank"
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    words = " ".join(text.split())  # a cell's text may wrap
    for place in ("Kitchen", "Hallway", "Room 101", "Lab bench 3", "Office 2.14"):
        assert place in text
    assert "The client went away mid-test: out of range, or its app was closed" in words  # the failure and its reason, in plain words
    assert "iperf3: the client has unexpectedly closed the connection" in words  # and as iperf3 said it
    assert "How this was measured" in text and "3.12" in text  # the versions seen
    assert "Survey report: First survey" in text
    assert "Dashboard" not in text  # no nav in print
    assert text.index("Kitchen") < text.index("Hallway")  # worst first


# -- what the team tripped on: a chart on a phone, paper, the comparison, tests with no place

MORE_PLACES = ("Attic", "Garage", "Stairwell B", "Meeting room", "Lobby")


def add_places(station: Station, at: float, places: tuple[str, ...] = MORE_PLACES) -> None:
    """More places in the survey (ten with the conftest's): narrower than 44
    px a place, the bars once ran out of a phone's card."""
    for i, place in enumerate(places):
        station.append(5201 + i % 4, make_entry("tcp", name=place, client="192.168.1.60", at=at - 60 * (i + 1)))


LEGEND = "Download median (sent by the station)", "Upload median (received by the station)"


def test_on_a_phone_the_chart_fits_its_card_and_its_legend_names_each_colour(page: Page, station: Station) -> None:
    add_places(station, time.time())
    page.set_viewport_size({"width": 390, "height": 844})
    open_places(page, station)
    expect(rows(page)).to_have_count(10)
    chart = page.locator("#place-chart")
    expect(chart.locator("canvas")).to_be_visible()
    expect(chart.locator(".u-legend")).to_contain_text(LEGEND[1])
    fits = chart.evaluate(
        """card => {
            const inner = card.getBoundingClientRect();
            const canvas = card.querySelector('canvas').getBoundingClientRect();
            return {scroll: card.scrollWidth, client: card.clientWidth, canvasRight: canvas.right, cardRight: inner.right};
        }"""
    )
    assert fits["scroll"] <= fits["client"], fits  # nothing to scroll sideways
    assert fits["canvasRight"] <= fits["cardRight"], fits
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    # A key of the two colours, each naming who measured it: not cards with empty values.
    keys = chart.locator(".u-legend tr")
    expect(keys).to_have_count(2)
    assert [" ".join(text.split()) for text in keys.all_inner_texts()] == list(LEGEND)
    legend = chart.locator(".u-legend").bounding_box()
    assert legend and legend["height"] < 60, legend  # a line or two under the chart


def test_comparison_names_the_surveys_and_a_change_of_0_percent_is_not_red(page: Page, station: Station) -> None:
    station.book.start("After the new AP")
    time.sleep(1.05)  # iperf3 logs whole seconds: the next test is in the new survey
    station.append(5201, make_entry("tcp", name="Attic", client="192.168.1.23", at=time.time()))
    open_places(page, station, "?survey=2&compare=1")
    expect(page.locator("#compared-rows tr[data-place='Attic'] .measured-by")).to_have_text("only in After the new AP")
    expect(page.locator("#compared-rows tr[data-place='Hallway'] .measured-by")).to_have_text("only in First survey")
    expect(page.locator("#compared th .side").first).to_have_text("After the new AP")
    # −0.06 Mbit/s of 50: −0.12 %, shown as 0 %. Not worse: no red, no green.
    page.evaluate(
        """async () => {
            const { comparedRow } = await import('./static/js/placestable.js');
            const side = (bps) => ({tests: 2, failures: 0, download_median_bps: bps, upload_median_bps: null, download_grade: 'fair', upload_grade: 'none'});
            const row = {place: 'Hall', survey: side(49.94e6), compare: side(50e6), only_in: null,
                         download_change: {bps: -60000, percent: -0.12}, upload_change: {bps: null, percent: null}};
            document.getElementById('compared-rows').append(comparedRow(row, {names: {survey: 'After the new AP', compare: 'First survey'}}));
        }"""
    )
    change = page.locator("#compared-rows tr[data-place='Hall'] td.change").first
    expect(change).to_have_text("±0.06 Mbit/s (0 %)")
    expect(change).not_to_have_class(re.compile(r"\b(worse|better)\b"))
    red, green, colour = change.evaluate(
        """td => { const css = getComputedStyle(document.documentElement);
                   return [css.getPropertyValue('--bad').trim(), css.getPropertyValue('--ok').trim(), getComputedStyle(td).color]; }"""
    )
    assert colour not in (hex_rgb(red), hex_rgb(green))


def hex_rgb(colour: str) -> str:
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


def test_tests_with_no_place_are_counted_apart_never_ranked_as_a_place(page: Page, station: Station) -> None:
    now = time.time()
    # Two tests nobody named, both failed: ranked as a place, it was the worst of all.
    station.append(5202, make_entry("client_killed", client="192.168.1.77", at=now - 30))
    station.append(5204, make_entry("client_killed", client="192.168.1.77", at=now - 20))
    open_places(page, station)
    expect(page.locator("#places-unplaced")).to_have_text(
        "2 tests with no place (2 failed): see them on the History page.", timeout=LIVE_WAIT_MS
    )
    expect(page.locator("#places-unplaced a")).to_have_attribute("href", "history?survey=1&unplaced=1")
    expect(rows(page)).to_have_count(5)
    assert "(no place)" not in rows(page).locator("td.name").all_text_contents()
    page.wait_for_function("() => document.getElementById('place-chart').uplot?.data[0].length === 5")  # no bar for them

    page.goto(station.url)
    summary = page.locator("#places-summary-rows tr")
    expect(summary).to_have_count(3)
    expect(summary.first).to_have_attribute("data-place", "Kitchen")  # the worst place, as before they came
    expect(page.locator("#places-summary-unplaced")).to_contain_text("2 tests with no place (2 failed)")

    page.goto(f"{station.url}report")
    expect(page.locator("#report[data-ready]")).to_have_count(1)
    expect(page.locator("#report-rows tr")).to_have_count(5)
    expect(page.locator("#report-totals")).to_have_text("8 tests at 5 places and 2 with no place, 3 failures")
    expect(page.locator("#report-unplaced")).to_have_text("2 tests with no place (2 failed): not counted in any place above.")
    expect(page.locator("#report-rows tr").first).to_have_attribute("data-place", "Kitchen")


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils is not installed (apt-get install poppler-utils)")
def test_the_report_printed_from_a_phone_has_dates_no_scrollbar_and_a_legend(page: Page, station: Station, tmp_path: Path) -> None:
    now = time.time()
    two_days_ago = now - 2 * 86400
    station.append(5201, make_entry("tcp", name="Attic", client="192.168.1.23", at=two_days_ago))
    add_places(station, now, MORE_PLACES[1:])
    page.set_viewport_size({"width": 390, "height": 844})  # a surveyor prints from the phone
    page.goto(f"{station.url}report")
    expect(page.locator("#report[data-ready]")).to_have_count(1)
    expect(page.locator("#report-rows tr")).to_have_count(10)
    page.emulate_media(media="print")
    scrolls = page.evaluate(
        """() => [...document.querySelectorAll('*')].filter((node) => {
            const style = getComputedStyle(node);
            return /auto|scroll/.test(style.overflowX + style.overflowY) && node.scrollWidth > node.clientWidth;
        }).map((node) => node.id || node.className)"""
    )
    assert scrolls == []  # nothing on paper is a scroll box: no scrollbar printed
    pdf = tmp_path / "report.pdf"
    page.pdf(path=str(pdf), prefer_css_page_size=True, print_background=True)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    words = " ".join(text.split())
    # The browser's locale is en-US (conftest), its time zone this machine's.
    day = lambda t: time.strftime("%b %-d, %Y", time.localtime(t))  # noqa: E731
    assert f"Tests from {day(two_days_ago)}," in words and f"– {day(now)}," in words  # the span, with its dates
    assert words.count(day(now)) >= 1 + 8  # and each test's, the survey spanning days: its places' last tests, its failure
    assert day(two_days_ago) in words.split("Places, worst first")[1]  # the Attic's last test, in its row
    for key in LEGEND:
        assert key in words  # the chart's legend says which colour is which


def test_an_ungraded_udp_download_and_a_test_the_station_cut_are_said_as_such(page: Page, station: Station) -> None:
    now = time.time()
    # A UDP download the station only sent (what arrived is unknown), and a
    # test cut by the station's restart: neither is the place's failure.
    station.append(5202, make_entry("udp_reverse", name="Garden", client="192.168.1.41", at=now - 40))
    station.append(5201, make_entry("server_stopped", name="Porch", client="192.168.1.23", at=now - 30))
    open_places(page, station)
    garden = page.locator("#place-rows tr[data-place='Garden']")
    expect(garden).to_have_count(1, timeout=LIVE_WAIT_MS)
    download = garden.locator("td.grade").first
    expect(download).to_have_attribute("data-grade", "none")
    expect(download).to_contain_text("10.2 Mbit/s")
    expect(download.locator("details.ungraded summary")).to_have_text("not graded")
    download.locator("details.ungraded summary").click()  # a tap on a phone: why
    expect(download.locator(".explain-text")).to_have_text("UDP: the station's sent rate, not what the client received")
    porch = page.locator("#place-rows tr[data-place='Porch']")
    expect(porch.locator("td.tests")).to_have_text("1 (1 interrupted)")
    expect(porch.locator("td.failures")).to_have_text("0")

    page.goto(station.url)
    expect(page.locator("#connection")).to_have_text("live")
    cut = page.locator("#rows tr[data-port='5201']")
    expect(cut).to_have_class("interrupted")
    expect(cut.locator("td.error.interrupted .error-plain")).to_have_text(
        "Interrupted by the station: it was stopped or restarted during the test (not a fault of the place)"
    )

    page.goto(f"{station.url}report")
    expect(page.locator("#report[data-ready]")).to_have_count(1)
    expect(page.locator("#report-totals")).to_contain_text("1 failure, 1 interrupted by the station")
