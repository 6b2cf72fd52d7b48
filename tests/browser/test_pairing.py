"""Pairing in a real browser: an unpaired page's "New survey" shows why it
was refused and how to pair; the pairing URL, opened as a phone's camera app
opens it (a top-level load coming from no page of this site), pairs it with a
SameSite=Strict cookie that the page's own requests then carry, so "New
survey" works; another site's page cannot use the cookie."""

from __future__ import annotations

import time
import urllib.request
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from conftest import Station, survey


@pytest.fixture
def unpaired(log_dir: Path) -> Iterator[Station]:
    for port, entries in survey(time.time()).items():
        (log_dir / f"port-{port}.json").write_bytes(b"".join(entries))
    running = Station(log_dir, servers=lambda: [], open=False)
    try:
        yield running
    finally:
        running.stop()


def elsewhere(page: Page, body: str) -> None:
    """A page of another site (served by the browser itself: no traffic leaves)."""
    page.route("http://elsewhere.test/", lambda route: route.fulfill(status=200, content_type="text/html", body=body))
    page.goto("http://elsewhere.test/")
    page.unroute("http://elsewhere.test/")


def pairing_url(station: Station) -> str:
    # Asked from 127.0.0.1, as the station's own screen asks.
    with urllib.request.urlopen(station.url + "api/pairing", timeout=5) as answer:
        return json.load(answer)["url"]


def test_an_unpaired_page_is_told_how_to_pair_and_the_qr_s_url_pairs_it(page: Page, unpaired: Station) -> None:
    page.on("dialog", lambda dialog: dialog.accept("Floor 2") if dialog.type == "prompt" else dialog.accept())
    page.goto(unpaired.url)
    expect(page.locator("#rows tr[data-port]")).to_have_count(4)
    page.click("#new-survey")
    expect(page.locator("#message")).to_contain_text("Only a paired device can do this")
    expect(page.locator("#message")).to_contain_text("webperf3 pair")
    expect(page.locator("#rows tr[data-port]")).to_have_count(4)

    # The camera app opens the link from outside the site: a page of another
    # site links to it. SameSite=Strict still stores the cookie the answer sets.
    elsewhere(page, f'<a id="scan" href="{pairing_url(unpaired)}">scanned</a>')
    page.click("#scan")
    expect(page.locator("#pair-title")).to_have_text("Paired")
    assert page.evaluate("document.cookie") == ""  # HttpOnly: no script reads it
    page.click("text=Open the dashboard")
    expect(page.locator("#rows tr[data-port]")).to_have_count(4)
    page.click("#new-survey")
    expect(page.locator("#survey-name")).to_have_text("Floor 2")
    expect(page.locator("#rows tr[data-port]")).to_have_count(0)

    # Another site's page, in the same browser: the cookie does not go with
    # its request (SameSite=Strict), and the station refuses it anyway (Origin).
    elsewhere(page, "<p>elsewhere</p>")
    status = page.evaluate(
        "(url) => fetch(url, {method: 'POST', mode: 'no-cors', credentials: 'include', headers: {'Content-Type': 'text/plain'},"
        " body: '{\"name\": \"Hacked\"}'}).then(() => 'sent', () => 'failed')",
        unpaired.url + "api/surveys",
    )
    assert status in ("sent", "failed")
    with urllib.request.urlopen(unpaired.url + "api/surveys", timeout=5) as answer:
        assert "Hacked" not in [s["name"] for s in json.load(answer)["surveys"]]
