""""Test from this browser" over a real shaped link: Chromium at a phone's
size in a network namespace whose veth is shaped with tc tbf to 100 Mbit/s
both ways, a real station, and iperf3 over the same link for comparison.

This kernel has no netem: the delay under load comes from tbf's own queue
on a router namespace between the two, deep (latency 200ms, as a bloated
home router) or short (5ms)."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserType, Page, expect

from tests.browser.conftest import CHROMIUM
from tests.support.netns import RoutedLink, made_routed_link
from tests.support.station import Station
from tests.support.waiting import wait_until

pytestmark = pytest.mark.timeout(300)

RATE_MBIT = 100
#: What TCP can carry over the shaped link: tbf counts whole Ethernet frames
#: (1514 bytes for 1448 of payload with timestamps), so iperf3 itself reads
#: 95.6 Mbit/s here. "Within 15 % of the shaped rate" is of this figure.
GOODPUT_MBIT = RATE_MBIT * 1448 / 1514
TOLERANCE = 0.15


def shape(link: RoutedLink, latency: str, verb: str = "add") -> None:
    """tbf on the router, as a home router queues: toward the client (the
    download) and toward the station (the upload)."""
    tbf = ["root", "tbf", "rate", f"{RATE_MBIT}mbit", "burst", "64kb", "latency", latency]
    for device in (link.router_inner, link.router.client_end):
        argv = link.in_router("tc", "qdisc", verb, "dev", device, *tbf)
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            pytest.skip(f"cannot shape the test link with tbf here: {' '.join(argv)}: {done.stderr.strip()}")


def cubic(link: RoutedLink) -> None:
    """Loss-based congestion control both ways, as most phones and servers
    run it: this machine's default (BBR) keeps a queue short by itself, and
    the test is of a queue that fills. Only for this link: route attributes
    (the client's namespace may not change its default)."""
    net = str(ipaddress.ip_network(f"{link.client_ip}/30", strict=False))
    for argv in (
        ["ip", "route", "replace", net, "via", link.router.client_ip, "congctl", "cubic"],
        link.run("ip", "route", "replace", "default", "via", str(next(ipaddress.ip_network(net).hosts())), "congctl", "cubic"),
    ):
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            pytest.skip(f"cannot choose cubic on the test link: {' '.join(argv)}: {done.stderr.strip()}")


@pytest.fixture
def link() -> Iterator[RoutedLink]:
    with made_routed_link() as made:
        shape(made, "200ms")
        cubic(made)
        yield made


@pytest.fixture
def station(link: RoutedLink, tmp_path: Path) -> Iterator[Station]:
    running = Station(tmp_path / "logs", servers=1, host=link.server_ip)
    yield running
    running.stop()


@pytest.fixture
def phone(link: RoutedLink, tmp_path: Path, browser_type: BrowserType, browser_type_launch_args: dict) -> Iterator[Page]:
    """Chromium whose every socket is in the namespace: behind the shaped link."""
    wrapper = tmp_path / "chromium-in-namespace"
    wrapper.write_text(f'#!/bin/sh\nexec nsenter --net=/run/netns/{link.client_namespace} {CHROMIUM} "$@"\n')
    wrapper.chmod(0o755)
    browser = browser_type.launch(**{**browser_type_launch_args, "executable_path": str(wrapper)})
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-US")
    yield context.new_page()
    browser.close()


def iperf3_mbit(link: RoutedLink, station: Station, *args: str) -> float:
    """What iperf3 measures over the same link, as the receiver saw it."""
    wait_until(lambda: all(s["state"] == "idle" for s in station.api("api/servers")["servers"]), 15, 0.1, "the port to be idle")
    done = subprocess.run(
        link.run("iperf3", "-c", link.server_ip, "-p", str(station.iperf3_port), "-t", "6", "-O", "2", "-P", "4", "-J", *args),
        capture_output=True, text=True, timeout=60, check=True,
    )
    return json.loads(done.stdout)["end"]["sum_received"]["bits_per_second"] / 1e6


def browser_test(page: Page, station: Station) -> dict:
    before = {r["id"] for r in station.api("api/results")["results"]}
    page.click("#browser-test")
    status = page.locator("#browser-test-status")
    expect(status).to_have_attribute("data-phase", "done", timeout=90_000)
    [result] = [r for r in station.api("api/results")["results"] if r["id"] not in before]
    return result


class LatestTimes:
    """GET /api/latest every 0.2 s meanwhile: the dashboard must keep answering."""

    def __init__(self, url: str) -> None:
        self.url, self.times, self.failures = url + "api/latest", [], []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.stop.wait(0.2):
            start = time.perf_counter()
            try:
                with urllib.request.urlopen(self.url, timeout=10) as answer:
                    answer.read()
                self.times.append(time.perf_counter() - start)
            except OSError as exc:
                self.failures.append(str(exc))

    def done(self) -> list[float]:
        self.stop.set()
        self.thread.join(15)
        return self.times


def test_both_directions_near_the_shaped_rate_and_latency_rises_with_the_queue(phone: Page, station: Station, link: RoutedLink) -> None:
    iperf3_up = iperf3_mbit(link, station)
    iperf3_down = iperf3_mbit(link, station, "-R")
    phone.goto(station.url)
    expect(phone.locator("#connection")).to_have_text("live", timeout=15_000)
    latest = LatestTimes(station.url)
    deep = browser_test(phone, station)
    answered = latest.done()
    assert not latest.failures and len(answered) > 20
    assert deep["method"] == "browser" and deep["client"] == link.client_ip
    down, up = deep["download_bps"] / 1e6, deep["upload_bps"] / 1e6
    for name, browser, iperf3 in (("download", down, iperf3_down), ("upload", up, iperf3_up)):
        assert abs(browser - GOODPUT_MBIT) <= TOLERANCE * GOODPUT_MBIT, f"{name}: browser {browser:.1f} Mbit/s on a {RATE_MBIT} Mbit/s link ({GOODPUT_MBIT:.1f} as TCP goodput)"
        assert abs(browser - iperf3) <= TOLERANCE * iperf3, f"{name}: browser {browser:.1f}, iperf3 {iperf3:.1f} Mbit/s"
    idle, loaded_down, loaded_up = deep["latency_idle_ms"], deep["latency_download_ms"], deep["latency_upload_ms"]
    # A deep queue: the round trips of a loaded link wait behind it.
    assert loaded_down > max(50.0, 5 * idle) and loaded_up > max(50.0, 5 * idle), deep
    # The same link with a short queue: latency under load falls back.
    shape(link, "5ms", verb="change")
    short = browser_test(phone, station)
    assert short["latency_download_ms"] < loaded_down / 2 and short["latency_upload_ms"] < loaded_up / 2, (deep, short)
    print(
        f"shaped {RATE_MBIT} Mbit/s: iperf3 down {iperf3_down:.1f} up {iperf3_up:.1f}; browser down {down:.1f} up {up:.1f} Mbit/s; "
        f"latency idle {idle} ms, loaded (200ms queue) {loaded_down}/{loaded_up} ms, (5ms queue) "
        f"{short['latency_download_ms']}/{short['latency_upload_ms']} ms; /api/latest max {max(answered) * 1000:.0f} ms"
    )


def test_a_page_closed_mid_test_records_nothing(phone: Page, station: Station) -> None:
    phone.goto(station.url)
    expect(phone.locator("#connection")).to_have_text("live", timeout=15_000)
    phone.click("#browser-test")
    expect(phone.locator("#browser-test-status")).to_have_attribute("data-phase", "download", timeout=15_000)
    time.sleep(3)  # past the warm-up: figures were being counted
    phone.close()
    time.sleep(2)
    assert station.api("api/results")["results"] == []
    assert not (station.log_dir / "browser-tests.json").exists()
