"""Two devices on their own addresses, as on a survey's Wi-Fi: a phone in a
test network namespace (its own address, through a veth pair) and a laptop
on this machine. Each names its place from its browser's side (the HTTP
API, from its own address) and runs a real iperf3 test without
``--extra-data``; each test lands under its own device's place.

Needs root and iproute2 (the ``link`` fixture skips with the reason
otherwise); the station listens on the veth's address, never beyond this
machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.support.netns import Link
from tests.support.station import Station
from tests.support.waiting import wait_until

pytestmark = pytest.mark.timeout(90)

# What the phone's browser does, run inside its namespace: name a place (the
# page sends its own Origin) and read back what the station sees of it.
PHONE_PAGE = """
import json, sys, urllib.request
base, name = sys.argv[1], sys.argv[2]
claim = urllib.request.Request(base + "api/place", data=json.dumps({"name": name}).encode(),
    headers={"Content-Type": "application/json", "Origin": base.rstrip("/")}, method="POST")
with urllib.request.urlopen(claim, timeout=10) as answer:
    saved = json.load(answer)
with urllib.request.urlopen(base + "api/device", timeout=10) as answer:
    seen = json.load(answer)
print(json.dumps({"saved": saved, "device": seen}))
"""


def name_place_here(station: Station, name: str) -> dict:
    """The laptop's browser on this machine (its address: the station's own)."""
    claim = urllib.request.Request(
        station.url + "api/place", data=json.dumps({"name": name}).encode(),
        headers={"Content-Type": "application/json", "Origin": station.url.rstrip("/")}, method="POST",
    )
    with urllib.request.urlopen(claim, timeout=10) as answer:
        return json.load(answer)


def run_test(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def wait_idle(station: Station, port: int) -> None:
    wait_until(lambda: all(s["state"] == "idle" for s in station.api("api/servers")["servers"] if s["port"] == port), 15, 0.1, "the port to be idle")


def test_each_device_s_test_lands_under_the_place_its_own_browser_named(link: Link, tmp_path: Path) -> None:
    with Station(tmp_path / "logs", servers=2, host=link.server_ip) as station:
        phone_port, laptop_port = station.ports

        page = subprocess.run(link.run(sys.executable, "-c", PHONE_PAGE, station.url, "Lobby"), capture_output=True, text=True, timeout=30, check=False)
        assert page.returncode == 0, page.stderr
        phone = json.loads(page.stdout)
        assert phone["saved"]["address"] == link.client_ip  # the station sees the phone's own address
        assert phone["device"]["place"] == "Lobby"
        assert phone["device"]["host"] == link.server_ip  # what the phone's iperf3 app must be told
        assert name_place_here(station, "Room 9")["address"] == link.server_ip

        # The phone's iperf3 app (no --extra-data), then the laptop's, on their ports.
        run_test(link.run("iperf3", "-c", link.server_ip, "-p", str(phone_port), "-t", "1", "-b", "20M"))
        wait_idle(station, laptop_port)
        run_test(["iperf3", "-c", link.server_ip, "-B", link.server_ip, "-p", str(laptop_port), "-t", "1", "-b", "20M", "-R"])

        def landed() -> list[dict]:
            return station.api("api/results")["results"]

        wait_until(lambda: len(landed()) == 2, 15, 0.2, "both tests to be recorded")
        found = {r["client"]: (r["port"], r["place"], r["place_source"], r["name"]) for r in landed()}
        assert found == {
            link.client_ip: (phone_port, "Lobby", "browser", None),
            link.server_ip: (laptop_port, "Room 9", "browser", None),
        }
