"""Floor plans over a real station: a plan uploaded through the web server
(past its 4 kB body cap, which holds for every other route) and the spots on
it are there after a restart, picture and all; a plan over the cap is
refused from its length with words people read."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support import images
from tests.support.hostile import connect_from, read_all, status_of
from tests.support.station import Station

pytestmark = pytest.mark.timeout(120)


def send(url: str, method: str, body: bytes, content_type: str) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=20) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def test_plans_and_spots_survive_a_restart(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    picture = images.png(3000, 2000, (230, 230, 230)) + b"\x00" * 300_000  # well past the JSON cap
    with Station(logs, servers=1, extra=("--open",)) as station:  # a trusted network: plans are admin changes
        status, made = send(f"{station.url}api/plans?name=Floor%202", "POST", picture, "image/png")
        assert status == 201 and (made["width"], made["height"]) == (3000, 2000)
        status, _ = send(f"{station.url}api/places/spot", "PUT", json.dumps({"name": "Lab", "plan": made["id"], "x": 0.4, "y": 0.6}).encode(), "application/json")
        assert status == 200
        # 25 MB announced: answered before a byte of it is sent.
        with connect_from("127.0.0.1", station.web_port) as sock:
            sock.sendall(b"POST /api/plans?name=Big HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\nContent-Length: 25000000\r\n\r\n")
            response = read_all(sock)
        assert status_of(response) == 413 and b"the plan is 25.0 MB: at most 20 MB are kept" in response
    with Station(logs, servers=1, extra=("--open",)) as station:  # a trusted network: plans are admin changes
        listed = station.api("api/plans")
        assert [(p["name"], p["bytes"]) for p in listed["plans"]] == [("Floor 2", len(picture))]
        assert [(s["place"], s["x"], s["y"]) for s in listed["spots"]] == [("Lab", 0.4, 0.6)]
        with urllib.request.urlopen(f"{station.url}api/plans/{made['id']}/image", timeout=10) as answer:
            assert answer.read() == picture
