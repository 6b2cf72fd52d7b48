"""The survey from a phone, as a surveyor does it: a real station, the page
at a phone's size, a place named in the browser, and a real iperf3 test with
no --extra-data (phone apps cannot set it) arriving under that place."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.station import Station
from tests.support.waiting import wait_until

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def station(tmp_path: Path) -> Iterator[Station]:
    running = Station(tmp_path / "logs", servers=2)
    yield running
    running.stop()


def iperf3(station: Station, port: int, *args: str, bind: str = "127.0.0.1") -> None:
    """One test, once the port's server is idle again (as the page shows):
    straight after a test an iperf3 server may still answer "busy"."""
    wait_until(lambda: all(s["state"] == "idle" for s in station.api("api/servers")["servers"] if s["port"] == port), 15, 0.1, "the port to be idle")
    done = subprocess.run(
        ["iperf3", "-c", "127.0.0.1", "-p", str(port), "-B", bind, "-t", "1", "-b", "50M", *args],
        capture_output=True, text=True, timeout=30,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_phone_names_its_place_and_its_next_test_arrives_under_it(page: Page, station: Station, tmp_path: Path) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(station.url)
    expect(page.locator("#connection")).to_have_text("live", timeout=15_000)  # a station just started, on a busy machine
    # What to type, before a place is named: host and port the phone can use.
    expect(page.locator("#device-address")).to_have_text("127.0.0.1")
    port = int(page.locator("#device-port").text_content() or "0")
    assert port in station.ports
    page.fill("#place", "Room 7")
    page.click("#save-place")
    expect(page.locator("#place-saved")).to_contain_text("Room 7")
    expect(page.locator("#device-place")).to_have_text("Room 7")
    expect(page.locator("#device-command")).to_have_text(f"iperf3 -c 127.0.0.1 -p {port} --bidir --extra-data 'Room 7'")
    qr = page.locator("#device-qr")
    expect(qr).to_be_visible()
    # A phone with no app tests from its browser: the button is well inside its first screen.
    button = page.locator("#browser-test").bounding_box()
    assert button is not None and button["y"] + button["height"] <= 844 * 0.75, button
    if shutil.which("zbarimg"):  # read the code back as a phone's camera would
        shot = tmp_path / "qr.png"
        qr.screenshot(path=str(shot))
        decoded = subprocess.run(["zbarimg", "--raw", "-q", str(shot)], capture_output=True, text=True, timeout=20)
        assert decoded.stdout.strip() == f"127.0.0.1:{port}"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    # The phone's app runs an upload, then a download (-R): no --extra-data.
    iperf3(station, port)
    iperf3(station, port, "-R")
    # One place, one line: the download and the upload side by side, each
    # named for the side that measured it (the station's log of a TCP test).
    mine = page.locator("#device-results li")
    expect(mine.locator("[data-side='download'] .mine-rate")).to_contain_text("Mbit/s", timeout=10_000)
    expect(mine).to_have_count(1)
    expect(mine.locator(".device-test-place")).to_have_text("Room 7")
    expect(mine.locator("[data-side='download']")).to_contain_text("sent by the station")
    # The station's own round trips while it sent, named as its measure.
    expect(mine.locator("[data-side='download']")).to_contain_text("station's round trip under load")
    expect(mine.locator("[data-side='upload'] .mine-rate")).to_contain_text("Mbit/s")
    expect(mine.locator("[data-side='upload']")).to_contain_text("received by the station")
    down, up = (mine.locator(f"[data-side='{side}']").bounding_box() for side in ("download", "upload"))
    assert down and up and abs(down["y"] - up["y"]) < 2 and down["x"] < up["x"]  # side by side on a phone too
    row = page.locator(f"#rows tr[data-port='{port}']")
    expect(row.locator("td.name")).to_contain_text("Room 7")
    expect(row.locator("td.name")).to_contain_text("browser")  # where the place came from
    results = station.api("api/results")["results"]
    assert [(r["place"], r["place_source"], r["name"]) for r in results] == [("Room 7", "browser", None)] * 2


def test_a_place_named_on_one_address_does_not_name_another_address_s_test(page: Page, station: Station) -> None:
    # 127.0.0.0/8 is all loopback: 127.0.0.9 is another client address on this machine.
    page.goto(station.url)
    expect(page.locator("#connection")).to_have_text("live", timeout=15_000)  # a station just started, on a busy machine
    page.fill("#place", "Room 7")
    page.click("#save-place")
    expect(page.locator("#device-place")).to_have_text("Room 7")
    other = station.ports[1]
    iperf3(station, other, bind="127.0.0.9")  # the servers listen on 127.0.0.1 only: reach them from 127.0.0.9
    row = page.locator(f"#rows tr[data-port='{other}']")
    expect(row.locator("td.name")).to_have_text("(no place)", timeout=10_000)
    expect(row).to_contain_text("127.0.0.9")
    assert [r["place"] for r in station.api("api/results")["results"]] == [None]


def test_a_place_another_device_at_this_address_named_is_shown_as_theirs_not_adopted(browser: Browser, tmp_path: Path) -> None:
    # Two browsers on this machine: one address (as behind a router), two devices (each its own id).
    with Station(tmp_path / "logs", servers=4) as station:
        first, second = (browser.new_context(viewport={"width": 390, "height": 844}, locale="en-US").new_page() for _ in range(2))
        for page in (first, second):
            page.goto(station.url)
            expect(page.locator("#connection")).to_have_text("live", timeout=15_000)
        first.fill("#place", "Storage room")
        first.click("#save-place")
        expect(first.locator("#device-place")).to_have_text("Storage room")
        expect(second.locator("#device-place")).to_have_text("“Storage room”, named by another device at this address (Linux PC, Chrome)")
        expect(second.locator("#device-command")).not_to_contain_text("--extra-data")
        expect(second.locator("#place")).to_have_value("")
        # Each has a port of its own, and its command names it.
        ports = [int(page.locator("#device-port").text_content() or "0") for page in (first, second)]
        assert ports[0] != ports[1] and set(ports) <= set(station.ports)
        expect(second.locator("#device-command")).to_have_text(f"iperf3 -c 127.0.0.1 -p {ports[1]} --bidir")
