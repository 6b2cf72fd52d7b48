"""A team surveys at once: three phones and a laptop, each told a port of its
own, each running its test there, and a new survey started from the laptop
while the phones' pages stay open.

Each phone is a headless Chromium at 390x844 with touch, run inside a test
network namespace of its own (tests/support/netns.py), so the phone's
browser and its iperf3 client come from one address of their own, as on a
survey's Wi-Fi: Chromium is launched through a wrapper that runs it under
``nsenter --net=…`` (Playwright talks to it over a pipe, not the network).
The laptop is a 1280x800 page on this machine. The station listens on the
first namespace's veth address; the other namespaces are routed to it over
their own veth, so nothing leaves this machine.

Needs root and iproute2 (skipped with the reason otherwise), Chromium
(tests/browser/conftest.py) and iperf3.
"""

from __future__ import annotations

import contextlib
import re
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect

from tests.support.netns import Link, made_link
from tests.support.station import Station
from tests.support.waiting import scaled, wait_until

pytestmark = pytest.mark.timeout(240)

PHONE = {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True, "locale": "en-US"}
LAPTOP = {"viewport": {"width": 1280, "height": 800}, "locale": "en-US"}
PLACES = ("Storage room", "Lobby", "Kitchen")
#: "Within a second" on the build machine.
CLEARED_MS = scaled(1.0) * 1000


def wait_idle(station: Station, port: int) -> None:
    """Straight after a test an iperf3 server may still answer "busy"."""
    wait_until(lambda: all(s["state"] == "idle" for s in station.api("api/servers")["servers"] if s["port"] == port), 15, 0.1, "the port to be idle")


def run(argv: list[str]) -> subprocess.Popen:
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finished(proc: subprocess.Popen) -> None:
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out


def port_of(page: Page) -> int:
    expect(page.locator("#device-port")).to_have_text(re.compile(r"^\d+$"), timeout=15_000)
    return int(page.locator("#device-port").text_content() or "0")


@contextlib.contextmanager
def phone_in(link: Link, playwright: Playwright, launch_args: dict, wrapper: Path) -> Iterator[Page]:
    """A phone's browser whose every connection comes from ``link``'s namespace."""
    chromium = launch_args["executable_path"]  # Debian's, as every browser test launches it
    wrapper.write_text(f'#!/bin/sh\nexec nsenter --net=/run/netns/{link.namespace} {chromium} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    browser = playwright.chromium.launch(**{**launch_args, "executable_path": str(wrapper)})
    try:
        yield browser.new_context(**PHONE).new_page()
    finally:
        browser.close()


def test_three_phones_and_a_laptop_each_get_a_port_and_a_new_survey_clears_every_phone_s_place(
    playwright: Playwright, browser_type_launch_args: dict, browser: Browser, tmp_path: Path
) -> None:
    with contextlib.ExitStack() as stack:
        links = [stack.enter_context(made_link()) for _ in PLACES]
        host = links[0].server_ip
        for link in links[1:]:  # the other phones reach the station over their own veth
            subprocess.run(link.run("ip", "route", "add", f"{host}/32", "via", link.server_ip), check=True)
        # --open: the laptop's "New survey" below is an admin action, open to anyone as before pairing.
        station = stack.enter_context(Station(tmp_path / "logs", servers=4, host=host, extra=("--open",)))
        phones = [stack.enter_context(phone_in(link, playwright, browser_type_launch_args, tmp_path / f"phone-{i}")) for i, link in enumerate(links)]
        laptop = browser.new_context(**LAPTOP).new_page()
        pages = [*phones, laptop]
        for page in pages:  # every page opened before any test, as the team set out
            page.goto(station.url)
        for page in pages:
            expect(page.locator("#connection")).to_have_text("live", timeout=15_000)

        # A port of one's own: four devices, four ports.
        ports = [port_of(page) for page in pages]
        assert sorted(ports) == station.ports
        for phone, link in zip(phones, links):
            expect(phone.locator("#device-address")).to_have_text(link.client_ip)
            expect(phone.locator("#device-host")).to_have_text(host)
            assert phone.evaluate("document.documentElement.scrollWidth") <= 390

        # Each phone names its place in its page; the laptop will use --extra-data.
        for phone, place in zip(phones, PLACES):
            phone.fill("#place", place)
            phone.click("#save-place")
            expect(phone.locator("#device-place")).to_have_text(place)

        # All four test at once, each on its own port: nobody is told "busy".
        tests = [run(link.run("iperf3", "-c", host, "-p", str(port), "-t", "2", "-b", "20M", "--bidir")) for link, port in zip(links, ports)]
        tests.append(run(["iperf3", "-c", host, "-B", host, "-p", str(ports[3]), "-t", "2", "-b", "20M", "--bidir", "--extra-data", "Office"]))
        for proc in tests:
            finished(proc)
        for page, place in zip(pages, (*PLACES, "Office")):
            expect(page.locator("#device-results li").first).to_contain_text(place, timeout=15_000)
        found = {r["client"]: (r["port"], r["place"]) for r in station.api("api/results")["results"]}
        assert found == {
            **{link.client_ip: (port, place) for link, port, place in zip(links, ports, PLACES)},
            host: (ports[3], "Office"),
        }

        # The laptop starts a new survey (its page asks the station, as its
        # "New survey" does); the phones' pages stay open and follow within a second.
        started = laptop.evaluate(
            "fetch('api/surveys', {method: 'POST', headers: {'Content-Type': 'application/json'},"
            " body: JSON.stringify({name: 'Second floor'})}).then((r) => r.status)"
        )
        assert started == 201
        for phone in phones:
            expect(phone.locator("#device-place")).to_have_text("not named yet", timeout=CLEARED_MS)
            expect(phone.locator("#device-note")).to_have_text("A new survey “Second floor” was started: name your place again.", timeout=CLEARED_MS)
            expect(phone.locator("#device-command")).not_to_contain_text("--extra-data")
            expect(phone.locator("#place")).to_have_value("")
        assert [port_of(page) for page in pages] == ports  # each keeps its port

        # A phone that tests before naming its place is told.
        wait_idle(station, ports[0])
        finished(run(links[0].run("iperf3", "-c", host, "-p", str(ports[0]), "-t", "1", "-b", "20M", "--bidir")))
        expect(phones[0].locator("#device-warnings")).to_contain_text("landed with no place", timeout=15_000)

        # A place with only its upload measured is told too.
        phones[1].fill("#place", "Lobby")
        phones[1].click("#save-place")
        expect(phones[1].locator("#device-place")).to_have_text("Lobby")
        wait_idle(station, ports[1])
        finished(run(links[1].run("iperf3", "-c", host, "-p", str(ports[1]), "-t", "1", "-b", "20M")))
        expect(phones[1].locator("#device-warnings")).to_contain_text("At “Lobby” only the upload was measured", timeout=15_000)
