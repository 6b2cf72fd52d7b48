"""The dashboard in a real browser (headless Chromium) over the real stack."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Dialog, Page, expect

if TYPE_CHECKING:  # fixtures come from conftest.py; this is for the annotations
    from conftest import Station

    Entry = Callable[..., bytes]

HOSTILE = "<img src=x onerror=alert(1)>"
LIVE_WAIT_MS = 10_000  # an append must show within this, without a reload


def open_dashboard(page: Page, station: Station) -> None:
    page.goto(station.url)
    expect(page.locator("#connection")).to_have_text("live")
    expect(page.locator("#rows tr[data-port]")).to_have_count(4)


def row(page: Page, port: int):
    return page.locator(f"#rows tr[data-port='{port}']")


def status(page: Page, port: int):
    return row(page, port).locator("td").nth(1)


def test_page_shows_existing_results(page: Page, station: Station) -> None:
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    open_dashboard(page, station)
    room = row(page, 5201)
    expect(room.locator("td.name")).to_have_text("Room 101")
    expect(room).to_contain_text("192.168.1.23")
    expect(room).to_contain_text("bidir")
    expect(room).to_contain_text("12 min ago")
    expect(room.locator("td.num").first).to_have_text("9.90 Gbit/s")  # download
    expect(room.locator("td.num").first).to_have_attribute("title", "9,897,813,241 bit/s")
    expect(row(page, 5202)).to_contain_text("UDP")
    expect(row(page, 5202).locator("td.quality")).to_have_text("0.037 ms jitter 0.00 % loss")
    expect(row(page, 5202).locator("td.num").nth(1)).to_have_text("10.2 Mbit/s")
    failed = row(page, 5203)
    expect(failed).to_have_class("failed")
    # Why, in plain words, over iperf3's own text.
    expect(failed.locator("td.error .error-plain")).to_have_text("The client went away mid-test: out of range, or its app was closed")
    expect(failed.locator("td.error .error-raw")).to_have_text("iperf3: the client has unexpectedly closed the connection")
    expect(row(page, 5204).locator("td.error")).to_have_text("")
    expect(page.locator("#updated")).to_contain_text("updated")
    assert errors == []  # no CSP violation, no script error


def test_the_place_column_says_place_as_on_every_other_page(page: Page, station: Station) -> None:
    open_dashboard(page, station)
    expect(page.locator("#results thead th").nth(2)).to_have_text("Place")
    expect(row(page, 5201).locator("td.name")).to_have_attribute("data-label", "Place")  # a phone's card says it too
    expect(page.locator("#results thead")).not_to_contain_text("Name")


def test_real_iperf3_test_appears_without_reload(page: Page, station: Station) -> None:
    iperf3 = shutil.which("iperf3")
    if iperf3 is None:
        pytest.skip("iperf3 is not installed")
    open_dashboard(page, station)
    port = free_port()
    with (station.log_dir / f"port-{port}.json").open("ab") as log:
        server = subprocess.Popen([iperf3, "--server", "--json", "--port", str(port)], stdout=log, stderr=subprocess.DEVNULL)
    try:
        run_client(iperf3, port, "Room 202")
        fresh = row(page, port)
        expect(fresh.locator("td.name")).to_have_text("Room 202", timeout=LIVE_WAIT_MS)
        expect(fresh).to_have_class("changed")  # highlighted for a few seconds
        expect(fresh).to_contain_text("127.0.0.1")
        expect(fresh).to_contain_text("just now")
        expect(fresh.locator("td.num").nth(1)).to_contain_text("bit/s")  # upload measured
    finally:
        server.terminate()
        server.wait(5)
    expect(page.locator("#connection")).to_have_text("live")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_client(iperf3: str, port: int, name: str) -> None:
    # The server may need a moment to listen: a refused client is retried,
    # rather than probing the port (a bare connect would log a failed test).
    for _ in range(20):
        done = subprocess.run([iperf3, "-c", "127.0.0.1", "-p", str(port), "-t", "1", "--extra-data", name], capture_output=True, timeout=15)
        if done.returncode == 0:
            return
        time.sleep(0.1)
    raise AssertionError(f"iperf3 client failed: {done.stderr.decode(errors='replace')}")


def test_csv_download(page: Page, station: Station) -> None:
    open_dashboard(page, station)
    with page.expect_download() as download_info:
        page.click("#csv")
    download = download_info.value
    assert download.suggested_filename == "iperf3_log.csv"
    lines = Path(download.path()).read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("Port,Name,Timestamp,Send rate (bps),Receive rate (bps)")
    assert len(lines) == 1 + 6
    assert any(",Room 101," in line for line in lines)


def test_a_new_row_flashes_unless_the_user_asks_for_less_motion(page: Page, station: Station, entry: Entry) -> None:
    open_dashboard(page, station)
    station.append(5202, entry("tcp", name="Stairwell", client="192.168.1.99", at=time.time()))
    fresh = row(page, 5202)
    expect(fresh.locator("td.name")).to_have_text("Stairwell", timeout=LIVE_WAIT_MS)
    # Read in one go with the class: the highlight lasts a few seconds only.
    animation = "tr => [tr.className, getComputedStyle(tr.cells[0]).animationName, getComputedStyle(tr.cells[0]).animationDuration]"
    assert fresh.evaluate(animation) == ["changed", "flash", "4s"]
    page.emulate_media(reduced_motion="reduce")  # the system setting "reduce motion"
    assert fresh.evaluate(animation)[:2] == ["changed", "none"]
    page.emulate_media(reduced_motion="no-preference")
    assert fresh.evaluate(animation)[:2] == ["changed", "flash"]


def test_new_survey_and_undo(page: Page, station: Station) -> None:
    open_dashboard(page, station)
    expect(page.locator("#survey-name")).to_have_text("First survey")
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click("#new-survey")
    expect(page.locator("#undo")).to_be_hidden()
    expect(page.locator("#rows tr[data-port]")).to_have_count(4)  # cancelled: nothing started

    page.once("dialog", lambda dialog: dialog.accept("Floor 2, after the new access point"))
    page.click("#new-survey")
    expect(page.locator("#rows tr[data-port]")).to_have_count(0)
    expect(page.locator("#empty")).to_be_visible()
    expect(page.locator("#empty")).to_contain_text("Floor 2, after the new access point")
    expect(page.locator("#survey-name")).to_have_text("Floor 2, after the new access point")
    expect(page.locator("#undo")).to_be_visible()

    confirms: list[str] = []
    page.once("dialog", lambda dialog: (confirms.append(dialog.message), dialog.accept()))
    page.click("#undo")
    expect(row(page, 5201).locator("td.name")).to_have_text("Room 101")
    expect(page.locator("#rows tr[data-port]")).to_have_count(4)
    expect(page.locator("#undo")).to_be_hidden()
    expect(page.locator("#survey-name")).to_have_text("First survey")
    assert "Floor 2" in confirms[0] and "nothing is deleted" in confirms[0]


@pytest.mark.parametrize("admin_token", ["s3cret"])
def test_new_survey_asks_for_the_admin_token_once(page: Page, station: Station, admin_token: str) -> None:
    open_dashboard(page, station)
    seen: list[str] = []

    def answer(dialog: Dialog) -> None:
        seen.append(dialog.type)
        if "token" in dialog.message:
            dialog.accept(admin_token)
        else:
            dialog.accept("Floor 3") if dialog.type == "prompt" else dialog.accept()

    page.on("dialog", answer)
    page.click("#new-survey")
    expect(page.locator("#rows tr[data-port]")).to_have_count(0)
    page.click("#undo")
    expect(page.locator("#rows tr[data-port]")).to_have_count(4)
    assert seen == ["prompt", "prompt", "confirm"]  # the name, the token (kept for the tab), the undo
    assert page.evaluate("sessionStorage.getItem('webperf3-admin-token')") == admin_token


def test_hostile_name_renders_as_text(page: Page, station: Station, entry: Entry) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    open_dashboard(page, station)
    station.append(5205, entry("tcp", name=HOSTILE, client="192.168.1.66", at=time.time() - 5))
    name = row(page, 5205).locator("td.name")
    expect(name).to_have_text(HOSTILE, timeout=LIVE_WAIT_MS)  # arrived over the websocket
    page.reload()  # and again through the first render
    expect(row(page, 5205).locator("td.name")).to_have_text(HOSTILE)
    assert row(page, 5205).locator("td.name").evaluate("td => td.textContent") == HOSTILE
    assert page.locator("#results img").count() == 0
    assert dialogs == []


def test_reconnects_after_the_websocket_server_restarts(page: Page, station: Station, entry: Entry) -> None:
    open_dashboard(page, station)
    ws_port = station.live.port
    station.live.stop()
    expect(page.locator("#connection")).to_have_attribute("data-state", "reconnecting")
    expect(page.locator("#connection")).to_have_text("reconnecting…")
    station.append(5201, entry("udp", name="While away", client="192.168.1.23", at=time.time() - 10))
    station.restart_live()
    assert station.live.port == ws_port
    expect(page.locator("#connection")).to_have_text("live", timeout=LIVE_WAIT_MS)
    expect(row(page, 5201).locator("td.name")).to_have_text("While away")  # the resync snapshot
    station.append(5204, entry("bidir", name="After restart", client="192.168.1.88", at=time.time() - 2))
    expect(row(page, 5204).locator("td.name")).to_have_text("After restart", timeout=LIVE_WAIT_MS)


FLEET = [
    {"port": 5201, "pid": 4101, "state": "idle", "client": None, "testing_since": None, "started_at": 0, "restarts": 0, "last_exit": None, "version": "3.12"},
    {"port": 5202, "pid": 4102, "state": "testing", "client": "192.168.1.41", "testing_since": 0, "started_at": 0, "restarts": 0, "last_exit": None, "version": "3.12"},
    {"port": 5203, "pid": 4103, "state": "idle", "client": None, "testing_since": None, "started_at": 0, "restarts": 1, "last_exit": 1, "version": "3.12"},
    {"port": 5204, "pid": None, "state": "restarting", "client": None, "testing_since": None, "started_at": 0, "restarts": 2, "last_exit": -9, "version": "3.12"},
]


def test_fleet_status_and_screenshots(page: Page, station: Station, fleet: list[dict], artifacts: Path) -> None:
    fleet.extend(FLEET)
    page.set_viewport_size({"width": 1360, "height": 420})
    page.emulate_media(color_scheme="light")
    open_dashboard(page, station)
    expect(status(page, 5201)).to_have_text("idle")
    expect(status(page, 5202)).to_have_text("testing from 192.168.1.41")
    expect(status(page, 5204)).to_have_text("down")
    page.screenshot(path=artifacts / "dashboard.png", full_page=True)
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=artifacts / "dashboard-dark.png", full_page=True)

    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.emulate_media(color_scheme="light")
    expect(row(page, 5201)).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing sideways
    page.screenshot(path=artifacts / "dashboard-phone.png", full_page=True)

    fleet[3] = {**FLEET[3], "state": "idle", "pid": 4104}
    station.live.push_servers(list(fleet))  # a "servers" message
    expect(status(page, 5204)).to_have_text("idle")


def test_earlier_surveys_are_listed_renamed_reopened_and_undone(page: Page, station: Station) -> None:
    open_dashboard(page, station)
    page.once("dialog", lambda dialog: dialog.accept("Floor 2"))
    page.click("#new-survey")
    expect(page.locator("#survey-name")).to_have_text("Floor 2")
    page.click("#surveys summary")
    items = page.locator("#survey-list li")
    expect(items).to_have_count(2)
    expect(items.nth(0)).to_contain_text("First survey")
    expect(items.nth(0)).to_contain_text("6 tests")  # its span and counts stay listed
    expect(items.nth(1)).to_contain_text("current")
    # Rename the first survey, then make it current again: its tests are back on the table.
    page.once("dialog", lambda dialog: dialog.accept("Morning walk"))
    items.nth(0).get_by_role("button", name="Rename").click()
    expect(items.nth(0)).to_contain_text("Morning walk")
    items.nth(0).get_by_role("button", name="Make current").click()
    expect(page.locator("#survey-name")).to_have_text("Morning walk")
    expect(row(page, 5201).locator("td.name")).to_have_text("Room 101")
    # Undo Floor 2's start: one survey is left, nothing deleted.
    page.once("dialog", lambda dialog: dialog.accept())
    items.nth(1).get_by_role("button", name="Undo its start").click()
    expect(items).to_have_count(1)
    expect(page.locator("#rows tr[data-port]")).to_have_count(4)
