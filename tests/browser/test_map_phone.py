"""A phone on the survey's Wi-Fi puts itself on the floor plan: a headless
Chromium at 390x844 with touch in a network namespace of its own (its
browser and its iperf3 client share its address, as on a phone), taps where
it stands, names it, runs an iperf3 test without --extra-data from that
namespace, and its dot appears on the map at the tapped spot, coloured by
the test; a laptop's --extra-data place lands at its own spot.

Needs root and iproute2 (skipped with the reason otherwise), Chromium and iperf3.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import Playwright, expect

from tests.browser.test_team_walk import finished, phone_in, port_of, run, wait_idle
from tests.support import images
from tests.support.netns import made_link
from tests.support.station import Station

pytestmark = pytest.mark.timeout(240)


def call(url: str, method: str, body: object, content_type: str = "application/json") -> dict:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def test_a_phone_taps_where_it_stands_and_its_test_lands_there_on_the_map(playwright: Playwright, browser_type_launch_args: dict, tmp_path: Path) -> None:
    with made_link() as link, Station(tmp_path / "logs", servers=2, host=link.server_ip, extra=("--open",)) as station:
        host = link.server_ip
        plan = call(f"{station.url}api/plans?name=Ground%20floor", "POST", images.png(600, 800), "image/png")["id"]
        call(f"{station.url}api/places/spot", "PUT", {"name": "Office", "plan": plan, "x": 0.8, "y": 0.2})
        with phone_in(link, playwright, browser_type_launch_args, tmp_path / "phone") as phone:
            phone.goto(station.url)
            expect(phone.locator("#connection")).to_have_text("live", timeout=15_000)
            port = port_of(phone)
            expect(phone.locator("#plan-picker")).to_be_visible()
            phone.locator("#plan-picker summary").tap()
            image = phone.locator("#plan-pick-image")
            expect(image).to_be_visible()
            phone.fill("#place", "Room 7")
            box = image.bounding_box()
            assert box is not None
            image.tap(position={"x": box["width"] * 0.3, "y": box["height"] * 0.6})
            expect(phone.locator("#device-place")).to_have_text("Room 7")
            expect(phone.locator("#plan-pick-dots .map-dot.mine")).to_have_attribute("data-place", "Room 7")
            spot = next(s for s in station.api("api/plans")["spots"] if s["place"] == "Room 7")
            assert abs(spot["x"] - 0.3) < 0.02 and abs(spot["y"] - 0.6) < 0.02
            assert phone.evaluate("document.documentElement.scrollWidth") <= 390

            # The phone's app: no --extra-data, from the phone's address.
            wait_idle(station, port)
            finished(run(link.run("iperf3", "-c", host, "-p", str(port), "-t", "1", "-b", "20M", "--bidir")))
            # A laptop's test elsewhere, named with --extra-data.
            other = next(p for p in station.ports if p != port)
            wait_idle(station, other)
            finished(run(["iperf3", "-c", host, "-B", host, "-p", str(other), "-t", "1", "-b", "20M", "--extra-data", "Office"]))

            phone.goto(f"{station.url}map?plan={plan}")
            dot = phone.locator(".map-dot[data-place='Room 7']")
            expect(dot).to_have_count(1, timeout=15_000)
            expect(phone.locator(".map-dot[data-place='Office']")).to_have_count(1)
            row = next(r for r in station.api("api/places")["places"] if r["place"] == "Room 7")
            assert row["x"] == spot["x"] and row["tests"] >= 1
            expect(dot).to_have_attribute("data-grade", row["grade"])
            stage = phone.locator("#map-stage").bounding_box()
            at = dot.bounding_box()
            assert stage and at
            centre = ((at["x"] + at["width"] / 2 - stage["x"]) / stage["width"], (at["y"] + at["height"] / 2 - stage["y"]) / stage["height"])
            assert abs(centre[0] - 0.3) < 0.02 and abs(centre[1] - 0.6) < 0.02, centre
