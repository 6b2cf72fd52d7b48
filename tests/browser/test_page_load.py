"""A page whose modules did not all load (a phone roaming from one access
point to the next gets "network changed" for the requests in flight) loads
itself again, a few times at most, instead of saying "connecting…" for good
with nothing to tap; past that it says what happened."""

from __future__ import annotations

from typing import TYPE_CHECKING

from playwright.sync_api import Page, Route, expect

if TYPE_CHECKING:
    from conftest import Station

PHONE = {"width": 390, "height": 844}


def test_a_module_lost_while_the_page_loads_and_the_page_loads_itself_again(page: Page, station: Station) -> None:
    lost: list[str] = []

    def lose_once(route: Route) -> None:
        if not lost:
            lost.append(route.request.url)
            route.abort("internetdisconnected")
        else:
            route.continue_()

    page.set_viewport_size(PHONE)
    page.route("**/static/js/planpicker.js*", lose_once)  # imported two modules deep
    loads: list[str] = []
    page.on("load", lambda _page: loads.append("load"))
    page.goto(station.url)
    expect(page.locator("#connection")).to_have_text("live", timeout=15_000)
    expect(page.locator("#device-port")).not_to_be_empty()
    assert len(lost) == 1 and len(loads) == 2  # the lost module, then the page once more
    expect(page.locator("#message")).to_be_hidden()


def test_a_page_that_cannot_load_its_modules_stops_trying_and_says_so(page: Page, station: Station) -> None:
    tries: list[str] = []

    def lose(route: Route) -> None:
        tries.append(route.request.url)
        route.abort("internetdisconnected")

    page.set_viewport_size(PHONE)
    page.route("**/static/js/socket.js*", lose)
    page.goto(station.url + "places")
    message = page.locator("#message")
    expect(message).to_contain_text("did not load completely", timeout=15_000)
    expect(message).to_contain_text("Reload it to try again", timeout=15_000)
    expect(page.locator("#connection")).to_have_text("not loaded")
    count = len(tries)
    assert count == 4  # the first load and three more
    page.wait_for_timeout(3000)
    assert len(tries) == count  # no reload loop
