"""The map page on a phone (390x844, touch): a floor plan with the survey's
places as dots coloured as the places table colours them, and a heat map
that is red near a slow place, green near a fast one and transparent far
from every place; a test that lands recolours it without a reload; a laptop's
--extra-data place dragged onto the plan; two surveys of the same spots
compared as better and worse."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support import images
from tests.support.logs import make_entry

pytestmark = pytest.mark.timeout(120)


def call(url: str, method: str, body: Any, content_type: str = "application/json") -> dict:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.loads(answer.read())


@pytest.fixture
def phone(browser: Browser) -> Page:
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True, locale="en-US")
    yield context.new_page()
    context.close()


def heat_at(page: Page, x: float, y: float) -> list[int]:
    """The heat map's RGBA at a point of the plan (fractions)."""
    return page.evaluate(
        """([x, y]) => { const c = document.getElementById('map-heat');
           return Array.from(c.getContext('2d').getImageData(Math.floor(x * c.width), Math.floor(y * c.height), 1, 1).data); }""",
        [x, y],
    )


def plan_with_places(station, spots: dict[str, tuple[float, float]]) -> int:
    plan = call(f"{station.url}api/plans?name=Ground%20floor", "POST", images.png(800, 600), "image/png")["id"]
    for place, (x, y) in spots.items():
        call(f"{station.url}api/places/spot", "PUT", {"name": place, "plan": plan, "x": x, "y": y})
    return plan


def test_the_map_shows_slow_places_red_fast_ones_green_and_nothing_far_away(phone: Page, station) -> None:
    rows = {r["place"]: r for r in get(f"{station.url}api/places")["places"] if r["place"] and r["worst_bps"]}
    slow = min(rows, key=lambda p: rows[p]["worst_bps"])
    fast = max(rows, key=lambda p: rows[p]["worst_bps"])
    # Thresholds between the two: the slow place is red, the fast one green.
    middle = (rows[slow]["worst_bps"] + rows[fast]["worst_bps"]) / 2 / 1e6
    plan = plan_with_places(station, {slow: (0.2, 0.3), fast: (0.8, 0.7), "Annex": (0.5, 0.15)})
    phone.goto(f"{station.url}map?plan={plan}&red={middle:.3f}&amber={middle:.3f}")
    expect(phone.locator("#connection")).to_have_text("live", timeout=15_000)
    expect(phone.locator(".map-dot")).to_have_count(2)  # "Annex" has a spot but no test yet
    expect(phone.locator(f".map-dot[data-place='{slow}']")).to_have_attribute("data-grade", "bad")
    expect(phone.locator(f".map-dot[data-place='{fast}']")).to_have_attribute("data-grade", "good")
    near_slow = heat_at(phone, 0.22, 0.31)
    near_fast = heat_at(phone, 0.78, 0.69)
    far = heat_at(phone, 0.97, 0.03)
    assert near_slow[0] > 150 and near_slow[1] < 100 and near_slow[3] > 100, near_slow  # red
    assert near_fast[1] > 120 and near_fast[0] < 80 and near_fast[3] > 100, near_fast  # green
    assert far[3] == 0, far  # nobody measured there: nothing invented
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    # Tap a dot: its name and figures.
    phone.locator(f".map-dot[data-place='{fast}']").tap()
    expect(phone.locator("#map-info")).to_contain_text(fast)
    expect(phone.locator("#map-info")).to_contain_text("Upload median")
    # A test lands at the Annex: its dot and its colour arrive without a reload.
    phone.evaluate("window.notReloaded = true")
    station.append(5204, make_entry("reverse", name="Annex", client="192.168.1.99", at=time.time()))
    station.store.refresh()
    expect(phone.locator(".map-dot[data-place='Annex']")).to_have_count(1, timeout=10_000)
    assert phone.evaluate("window.notReloaded") is True
    assert heat_at(phone, 0.5, 0.15)[3] > 100


def test_a_place_named_elsewhere_is_dragged_onto_the_plan(page: Page, station) -> None:
    page.set_viewport_size({"width": 1000, "height": 900})
    plan = plan_with_places(station, {})
    page.goto(f"{station.url}map?plan={plan}")
    chip = page.locator(".map-chip[data-place='Kitchen']")  # the laptop's --extra-data place
    expect(chip).to_be_visible()
    chip.hover()
    page.mouse.down()
    box = page.locator("#map-image").bounding_box()  # where it is once the chip is in view
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.25, box["y"] + box["height"] * 0.5, steps=5)
    page.mouse.up()
    expect(page.locator(".map-dot[data-place='Kitchen']")).to_have_count(1)
    spot = next(s for s in get(f"{station.url}api/plans")["spots"] if s["place"] == "Kitchen")
    assert abs(spot["x"] - 0.25) < 0.02 and abs(spot["y"] - 0.5) < 0.02


def test_two_surveys_of_the_same_spots_compared(page: Page, station) -> None:
    page.set_viewport_size({"width": 800, "height": 900})
    plan = plan_with_places(station, {"Hallway": (0.2, 0.2), "Kitchen": (0.6, 0.6), "Roof": (0.9, 0.9)})
    first = get(f"{station.url}api/surveys")["current"]
    second = call(f"{station.url}api/surveys", "POST", {"name": "After the new access point"})["survey"]["id"]
    now = time.time()
    # The same places again: the Hallway measured by the same test kind (unchanged), the Roof only now.
    station.append(5201, make_entry("tcp", name="Hallway", client="192.168.1.23", at=now))
    station.append(5202, make_entry("tcp", name="Roof", client="192.168.1.41", at=now))
    station.store.refresh()
    page.goto(f"{station.url}map?plan={plan}&survey={second}&compare={first}&figure=upload")
    expect(page.locator(".map-dot")).to_have_count(3)
    expect(page.locator(".map-dot[data-place='Hallway']")).to_have_attribute("data-change", "0.0")
    expect(page.locator(".map-dot[data-place='Hallway']")).to_have_attribute("data-grade", "none")  # unchanged
    page.locator(".map-dot[data-place='Roof']").click()
    expect(page.locator("#map-info")).to_contain_text("measured only in After the new access point")
    page.locator(".map-dot[data-place='Kitchen']").click()
    expect(page.locator("#map-info")).to_contain_text("measured only in")
    # The report, from the map: a page of each survey's map, and one of the difference.
    page.click("#map-report")
    expect(page.locator("#report[data-ready]")).to_have_count(1)
    expect(page.locator(".report-plan h3")).to_have_text(["Floor plan: Ground floor", "Floor plan: Ground floor, After the new access point against First survey"])
    expect(page.locator(".report-plan").nth(1).locator(".map-dot")).to_have_count(3)
    expect(page.locator(".report-plan").nth(1)).to_contain_text("Roof (only in After the new access point)")


def _ppm(path) -> tuple[int, int, bytes]:
    import re

    data = path.read_bytes()
    _magic, width, height, _maxval, rest = re.match(rb"(P6)\s+(\d+)\s+(\d+)\s+(\d+)\s(.*)", data, re.S).groups()
    return int(width), int(height), rest[: int(width) * int(height) * 3]


@pytest.mark.skipif(__import__("shutil").which("pdftoppm") is None, reason="poppler-utils is not installed (apt-get install poppler-utils)")
def test_the_report_prints_a_page_per_plan_with_its_heat_map(page: Page, station, tmp_path) -> None:
    import subprocess

    rows = {r["place"]: r for r in get(f"{station.url}api/places")["places"] if r["place"] and r["worst_bps"]}
    slow = min(rows, key=lambda p: rows[p]["worst_bps"])
    fast = max(rows, key=lambda p: rows[p]["worst_bps"])
    middle = (rows[slow]["worst_bps"] + rows[fast]["worst_bps"]) / 2 / 1e6
    plan_with_places(station, {slow: (0.25, 0.3), fast: (0.75, 0.7)})
    page.goto(f"{station.url}report?red={middle:.3f}&amber={middle:.3f}")
    expect(page.locator("#report[data-ready]")).to_have_count(1)
    expect(page.locator(".report-plan .map-dot")).to_have_count(2)
    expect(page.locator(".report-plan h3")).to_have_text("Floor plan: Ground floor")
    page.emulate_media(media="print")
    pdf = tmp_path / "report.pdf"
    page.pdf(path=str(pdf), prefer_css_page_size=True, print_background=True)
    subprocess.run(["pdftoppm", "-r", "40", str(pdf), str(tmp_path / "page")], check=True)
    found = []
    for image in sorted(tmp_path.glob("page*.ppm")):
        width, height, pixels = _ppm(image)
        rgb = [pixels[i : i + 3] for i in range(0, len(pixels), 3)]
        red = sum(1 for r, g, b in rgb if r > 180 and r - g > 70 and r - b > 70)
        green = sum(1 for r, g, b in rgb if g > 110 and g - r > 50 and g - b > 20)
        found.append((image.name, red, green))
    # One page holds the plan: red near the slow place, green near the fast one.
    assert any(red > 30 and green > 30 for _name, red, green in found), found


def test_the_map_downloads_as_png(page: Page, station, tmp_path) -> None:
    plan = plan_with_places(station, {"Kitchen": (0.5, 0.5)})
    page.goto(f"{station.url}map?plan={plan}")
    expect(page.locator(".map-dot")).to_have_count(1)
    with page.expect_download() as download:
        page.click("#map-png")
    saved = tmp_path / "map.png"
    download.value.save_as(saved)
    assert download.value.suggested_filename == "Ground_floor_map.png"
    data = saved.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and int.from_bytes(data[16:20], "big") == 800


def test_an_admin_moves_a_spot_takes_one_off_sets_the_scale_renames_and_removes_the_plan(page: Page, station) -> None:
    page.set_viewport_size({"width": 1000, "height": 900})
    plan = plan_with_places(station, {"Kitchen": (0.2, 0.2), "Hallway": (0.7, 0.7)})
    page.goto(f"{station.url}map?plan={plan}")
    kitchen = page.locator(".map-dot[data-place='Kitchen']")
    expect(kitchen).to_have_count(1)
    # Drag the Kitchen's dot to the middle.
    kitchen.hover()
    page.mouse.down()
    box = page.locator("#map-image").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5, steps=8)
    page.mouse.up()
    page.wait_for_function("() => true")
    expect(page.locator("#map-info")).to_be_hidden()  # a drag is not a tap
    spots = lambda: {s["place"]: (round(s["x"], 1), round(s["y"], 1)) for s in get(f"{station.url}api/plans")["spots"]}  # noqa: E731
    expect(page.locator(".map-dot[data-place='Kitchen']")).to_have_count(1)
    page.wait_for_timeout(300)
    assert spots()["Kitchen"] == (0.5, 0.5)
    # Take the Hallway off the plan: its name is offered to drag back on.
    page.locator(".map-dot[data-place='Hallway']").click()
    page.click(".map-take-off")
    expect(page.locator(".map-chip[data-place='Hallway']")).to_be_visible()
    assert "Hallway" not in spots()
    # The scale: two taps 400 px apart across the 800 px plan, typed as 10 m.
    page.click("#map-manage summary")
    page.once("dialog", lambda dialog: dialog.accept("10"))
    page.click("#map-scale")
    box = page.locator("#map-image").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.25, box["y"] + box["height"] * 0.9)
    page.mouse.click(box["x"] + box["width"] * 0.75, box["y"] + box["height"] * 0.9)
    page.wait_for_timeout(500)
    kitchen_row = next(r for r in get(f"{station.url}api/places")["places"] if r["place"] == "Kitchen")
    assert abs(kitchen_row["x_m"] - 10.0) < 0.5, kitchen_row  # 400 px = 10 m: the middle of 800 px is 10 m across
    page.fill("#map-rename-name", "First floor")
    page.click("#map-rename button")
    expect(page.locator("#map-plan-menu option")).to_have_text(["First floor"])
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#map-remove")
    expect(page.locator("#map-empty")).to_be_visible()
    assert get(f"{station.url}api/plans") == {"plans": [], "spots": []}


def test_a_phone_taps_an_unnamed_spot_then_names_it_and_taps_a_place_already_there(phone: Page, station) -> None:
    plan = plan_with_places(station, {"Kitchen": (0.7, 0.3)})
    phone.goto(station.url)
    expect(phone.locator("#connection")).to_have_text("live", timeout=15_000)
    phone.locator("#plan-picker summary").tap()
    image = phone.locator("#plan-pick-image")
    expect(image).to_be_visible()
    box = image.bounding_box()
    assert box is not None
    # Nothing typed: a short name of its own, at the tap.
    image.tap(position={"x": box["width"] * 0.2, "y": box["height"] * 0.8})
    expect(phone.locator("#device-place")).to_have_text("Spot 1")
    # Renamed by typing: the new name is where the tap was.
    phone.fill("#place", "Stairs")
    phone.click("#save-place")
    expect(phone.locator("#device-place")).to_have_text("Stairs")
    stairs = next(s for s in get(f"{station.url}api/plans")["spots"] if s["place"] == "Stairs")
    assert abs(stairs["x"] - 0.2) < 0.02 and abs(stairs["y"] - 0.8) < 0.02 and stairs["plan"] == plan
    # A tap near the Kitchen's dot picks the Kitchen, whatever is typed.
    image.tap(position={"x": box["width"] * 0.7 + 6, "y": box["height"] * 0.3 - 5})
    expect(phone.locator("#device-place")).to_have_text("Kitchen")
    kitchen = next(s for s in get(f"{station.url}api/plans")["spots"] if s["place"] == "Kitchen")
    assert (kitchen["x"], kitchen["y"]) == (0.7, 0.3)  # not moved


def test_a_plan_added_reaches_an_open_phone_page(phone: Page, station) -> None:
    phone.goto(station.url)
    expect(phone.locator("#connection")).to_have_text("live", timeout=15_000)
    expect(phone.locator("#plan-picker")).to_be_hidden()  # no plan yet: only the typed place
    plan_with_places(station, {"Kitchen": (0.5, 0.5)})
    expect(phone.locator("#plan-picker")).to_be_visible(timeout=10_000)


def test_a_plan_is_uploaded_from_the_page_and_an_svg_is_refused_with_its_reason(page: Page, station, tmp_path) -> None:
    page.set_viewport_size({"width": 1000, "height": 900})
    page.goto(f"{station.url}map")
    expect(page.locator("#map-empty")).to_be_visible()
    page.click(".map-add:not(#map-manage) summary")
    svg = tmp_path / "plan.svg"
    svg.write_bytes(images.SVG)
    page.set_input_files("#map-file", str(svg))
    page.click("#map-upload button")
    expect(page.locator("#message")).to_contain_text("SVG and other markup are refused (they can carry scripts)")
    assert get(f"{station.url}api/plans")["plans"] == []
    photo = tmp_path / "Lobby.png"
    photo.write_bytes(images.png(640, 480))
    page.set_input_files("#map-file", str(photo))
    page.click("#map-upload button")
    expect(page.locator("#map-plan-menu option")).to_have_text(["Lobby"])
    expect(page.locator("#map-stage")).to_be_visible()
    assert page.evaluate("document.getElementById('map-image').naturalWidth") == 640


def test_a_survey_done_only_from_browsers_makes_a_map(phone: Page, station) -> None:
    """Places whose only tests are browser tests: their dots are drawn and
    graded by the browser's figures, and the figure menu offers the browser's
    download, upload and latency under load, each named as the browser's."""
    from webperf3.browsertest.records import BrowserRecord, Latency, append_record

    def browser_test(place: str, n: int, down: float, up: float, loaded_ms: float) -> None:
        append_record(station.log_dir, BrowserRecord(
            id=f"b{n}", port=8765, time=time.time() - 600 + n, duration=17.0, client=f"192.168.1.{200 + n}", agent="Chrome 131 on Android",
            streams=6, download_bps=down, upload_bps=up, download_bytes=int(down * 6 / 8), download_seconds=6.0,
            latency=Latency(idle_ms=3.0, idle_p90_ms=4.0, download_ms=loaded_ms, download_p90_ms=loaded_ms, upload_ms=20.0, upload_p90_ms=25.0),
        ))
        station.store.refresh_records()
        call(f"{station.url}api/results/8765-b{n}", "PATCH", {"place": place})  # its place, as the phone names it

    browser_test("Attic", 1, 8e6, 40e6, 400.0)  # slow, and a queue kept full under load
    browser_test("Porch", 2, 300e6, 200e6, 12.0)
    plan = plan_with_places(station, {"Attic": (0.2, 0.3), "Porch": (0.8, 0.7)})
    phone.goto(f"{station.url}map?plan={plan}&red=50&amber=100")
    expect(phone.locator("#connection")).to_have_text("live", timeout=15_000)
    # The default figure (as the places table): graded by the browser's figures where there are no iperf3 ones.
    expect(phone.locator(".map-dot[data-place='Attic']")).to_have_attribute("data-grade", "bad")
    expect(phone.locator(".map-dot[data-place='Porch']")).to_have_attribute("data-grade", "good")
    labels = phone.locator("#map-figure option").all_text_contents()
    assert sum("browser, HTTP" in label for label in labels) == 3, labels
    for figure, attic, porch in (("browser_download", "bad", "good"), ("browser_upload", "bad", "good"), ("browser_latency", "bad", "good")):
        phone.select_option("#map-figure", figure)
        expect(phone.locator(".map-dot[data-place='Attic']")).to_have_attribute("data-grade", attic)
        expect(phone.locator(".map-dot[data-place='Porch']")).to_have_attribute("data-grade", porch)
        expect(phone.locator("#map-legend")).to_contain_text("browser, HTTP")
        near_attic, near_porch = heat_at(phone, 0.21, 0.31), heat_at(phone, 0.79, 0.69)
        assert near_attic[0] > 150 and near_attic[1] < 100 and near_attic[3] > 100, (figure, near_attic)  # red
        assert near_porch[1] > 120 and near_porch[0] < 80 and near_porch[3] > 100, (figure, near_porch)  # green
    expect(phone.locator("#map-legend")).to_contain_text("150 ms")
    # iperf3's download says nothing of these places: grey dots, no heat invented.
    phone.select_option("#map-figure", "download")
    expect(phone.locator(".map-dot[data-place='Attic']")).to_have_attribute("data-grade", "none")
    assert heat_at(phone, 0.21, 0.31)[3] == 0
    phone.locator(".map-dot[data-place='Attic']").tap()
    expect(phone.locator("#map-info")).to_contain_text("Browser download (browser, HTTP)")
    expect(phone.locator("#map-info")).to_contain_text("400 ms")
