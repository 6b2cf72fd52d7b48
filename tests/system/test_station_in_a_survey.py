"""What a team's survey tripped on, with a real station and real iperf3:
a place named from a phone's browser in ``webperf3 status`` and the journal,
the empty dashboard's example naming the station's own first port, and a
test cut by a restart (or a SIGKILL) of the station kept, marked as
interrupted by the station, and no failure of its place."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.iperf3 import every_iperf3, json_objects, run_client
from tests.support.station import Station
from tests.support.waiting import scaled, wait_until

pytestmark = pytest.mark.usefixtures("no_iperf3_left")

IPERF3S = every_iperf3()


def post(url: str, body: dict, method: str = "POST") -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


def status(station: Station) -> str:
    done = subprocess.run([sys.executable, "-m", "webperf3", "status", "--url", station.url],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout


def latest(station: Station) -> dict | None:
    (row,) = station.api("api/latest")["rows"]
    return row["latest"]


def test_a_place_named_from_the_browser_is_in_status_and_the_journal(log_dir: Path) -> None:
    # --open: the edit below is an admin action, open to anyone as before pairing.
    with Station(log_dir, extra=("--open",)) as station:
        # The phone's browser names its place; its iperf3 app cannot send --extra-data.
        post(station.url + "api/place", {"name": "Kitchen"})
        done = run_client(station.iperf3_port)
        assert done.returncode == 0, done.stdout + done.stderr
        wait_until(lambda: (latest(station) or {}).get("place") == "Kitchen", 10, what="the test on the table")
        line = next(line for line in status(station).splitlines() if line.startswith(str(station.iperf3_port)))
        assert "Kitchen" in line and "127.0.0.1" in line
        # Edited afterwards: status follows the edit, as the pages do.
        post(station.url + f"api/results/{latest(station)['id']}", {"place": "Pantry"}, method="PATCH")
        line = next(line for line in status(station).splitlines() if line.startswith(str(station.iperf3_port)))
        assert "Pantry" in line and "Kitchen" not in line
        journal = station.stop()
    # The journal's line was written as the test arrived, with the place it had then.
    assert f"test recorded on port {station.iperf3_port} from 127.0.0.1, place 'Kitchen': upload" in journal


def test_the_empty_dashboard_names_the_station_s_first_port(log_dir: Path) -> None:
    with Station(log_dir, servers=2) as station:
        with urllib.request.urlopen(station.url, timeout=5) as response:
            page = response.read().decode()
    assert f'-p <span id="port-hint">{station.ports[0]}</span> --extra-data' in page
    assert station.ports[0] != 5201 and "-p 5201" not in page


def _output(client: subprocess.Popen) -> list[str]:
    """The client's output lines, filled as it prints them."""
    lines: list[str] = []

    def read() -> None:
        assert client.stdout is not None
        for line in client.stdout:
            lines.append(line)

    threading.Thread(target=read, daemon=True).start()
    return lines


def _intervals(lines: list[str]) -> int:
    """How many interval lines ("0.00-1.00 sec ...") the client printed."""
    return sum(1 for line in list(lines) if re.search(r"\d+\.\d+-\d+\.\d+\s+sec", line))


def _start_cut_client(iperf3: str, port: int) -> subprocess.Popen:
    """A 30 s client to be cut, once its data streams run.

    Stopped while the client still exchanges parameters (seconds, on a loaded
    machine), iperf3 logs no test: the client's own first two interval lines
    say its data streams run. A server still finishing the test before answers
    "busy" (iperf3 3.12 on a loaded CI machine): the client is started again.
    """
    deadline = time.monotonic() + scaled(30)
    while True:
        client = subprocess.Popen([iperf3, "-c", "127.0.0.1", "-p", str(port), "-t", "30", "--forceflush",
                                   "--extra-data", "Hall"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)  # fmt: skip
        output = _output(client)
        try:
            wait_until(lambda: _intervals(output) >= 2 or client.poll() is not None, 20,
                       what="the client's first two intervals")
        except AssertionError as error:
            client.kill()
            client.wait()
            raise AssertionError(f"{error}; the client printed:\n{''.join(output)}") from None
        if _intervals(output) >= 2:
            return client
        client.wait()
        time.sleep(0.2)  # the reader thread's last lines
        printed = "".join(output)
        if "busy" not in printed or time.monotonic() > deadline:
            raise AssertionError(f"the client to be cut ended at once (exit {client.returncode}); it printed:\n{printed}")
        time.sleep(0.5)


@pytest.mark.parametrize("version", list(IPERF3S))
@pytest.mark.parametrize("how", ["restarted", "killed"])
def test_a_test_the_station_cut_is_kept_marked_and_fails_no_place(log_dir: Path, version: str, how: str) -> None:
    """Restarted: the station's own stop (SIGTERM), which stops each iperf3
    server with SIGTERM. Killed: SIGKILL, after which each iperf3 gets the
    parent-death signal, SIGTERM too: the same text in its log either way."""
    iperf3 = str(IPERF3S[version])
    station = Station(log_dir, iperf3=iperf3)
    client = None
    try:
        done = run_client(station.iperf3_port, "Hall")
        assert done.returncode == 0, done.stdout + done.stderr
        # The first test on the table: its server has written it and is back to listening.
        wait_until(lambda: latest(station), 10, what="the first test on the table")
        try:
            client = _start_cut_client(iperf3, station.iperf3_port)
        except AssertionError as error:
            raise AssertionError(f"{error}\nthe station's journal:\n{station.stop()}") from None
        if how == "restarted":
            journal = station.stop()
        else:
            station.proc.kill()
            journal = station.proc.communicate()[1]
        log = log_dir / f"port-{station.iperf3_port}.json"
        cut = wait_until(lambda: [e for e in json_objects(log) if "timestamp" in e["start"] and "error" in e], 30,
                         what=f"iperf3 to write the cut test; the station's journal:\n{journal}")  # fmt: skip
        assert cut[0]["error"].startswith("interrupt - the server has terminated"), cut
    finally:
        if client is not None:
            client.kill()
            client.wait()
        if station.proc.poll() is None:
            station.stop()
    with Station(log_dir, iperf3=iperf3) as again:
        results = again.api("api/results")["results"]
        (interrupted,) = [r for r in results if r["error"] is not None]
        assert (interrupted["place"], interrupted["interrupted"]) == ("Hall", True)
        assert interrupted["error_plain"].startswith("Interrupted by the station")
        places = again.api("api/places")
        (hall,) = places["places"]
        assert (hall["place"], hall["tests"], hall["failures"], hall["interrupted"]) == ("Hall", 2, 0, 1)
        assert hall["grade"] != "failed"
        assert (places["totals"]["failures"], places["totals"]["interrupted"]) == (0, 1)
        assert again.api("api/places?failures=1")["failures"] == []
