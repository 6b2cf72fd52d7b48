"""Pairing a phone with a real station: `webperf3 pair` on the station prints
a QR code and the URL in it; opening that URL pairs the browser, whose next
"New survey" succeeds; `webperf3 pair --list` shows it, `--revoke` refuses it
again, while the station runs. The journal's start line holds a code, never
the secret; `--open` restores what anyone could do."""

from __future__ import annotations

import http.cookiejar
import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from tests.support.station import Station
from webperf3.survey.pairing import SECRET_NAME


def new_survey(opener: urllib.request.OpenerDirector, station: Station, name: str) -> tuple[int, dict]:
    request = urllib.request.Request(station.url + "api/surveys", json.dumps({"name": name}).encode(), {"Content-Type": "application/json"}, method="POST")
    try:
        with opener.open(request, timeout=5) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def webperf3(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "webperf3", *argv], capture_output=True, text=True, timeout=30, env={"PYTHONUTF8": "1", "PATH": "/usr/bin:/bin"}, cwd=Path(__file__).parents[2])


def test_pair_from_the_station_s_terminal_then_revoke_while_it_runs(log_dir: Path) -> None:
    phone = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    station = Station(log_dir, servers=0)
    try:
        status, refused = new_survey(phone, station, "Floor 2")
        assert status == 403 and "webperf3 pair" in refused["error"]

        shown = webperf3("pair", "--log-dir", str(log_dir), "--url", station.url)
        assert shown.returncode == 0, shown.stderr
        url = next(line.split("open: ", 1)[1] for line in shown.stdout.splitlines() if "open: " in line)
        assert url.startswith(station.url + "pair?code=")
        assert "\u2580" in shown.stdout or "\u2584" in shown.stdout or "\u2588" in shown.stdout  # the QR code, in half blocks
        with phone.open(url, timeout=5) as answer:
            assert answer.status == 200
        assert new_survey(phone, station, "Floor 2")[0] == 201

        listed = webperf3("pair", "--log-dir", str(log_dir), "--list")
        assert listed.returncode == 0 and "127.0.0.1" in listed.stdout and "Python-urllib" in listed.stdout
        revoked = webperf3("pair", "--log-dir", str(log_dir), "--revoke", "all")
        assert revoked.returncode == 0 and "revoked 1 device" in revoked.stdout
        status, refused = new_survey(phone, station, "Floor 3")
        assert status == 403 and "revoked" in refused["error"]
        assert webperf3("pair", "--log-dir", str(log_dir), "--revoke", "nine").returncode == 2
    finally:
        journal = station.stop()
    secret = (log_dir / SECRET_NAME).read_text().strip()
    assert "pair?code=" in journal and secret not in journal


def test_open_lets_anyone_start_a_survey_as_before(log_dir: Path) -> None:
    anyone = urllib.request.build_opener()
    station = Station(log_dir, servers=0, extra=("--open",))
    try:
        assert new_survey(anyone, station, "Floor 2")[0] == 201
    finally:
        journal = station.stop()
    assert "pair?code=" not in journal


def test_pair_before_the_station_ever_started_says_what_to_do(tmp_path: Path) -> None:
    shown = webperf3("pair", "--log-dir", str(tmp_path))
    assert shown.returncode == 2 and "start the station once" in shown.stderr
    listed = webperf3("pair", "--log-dir", str(tmp_path), "--list")
    assert listed.returncode == 0 and "no station has run" in listed.stdout
    assert list(tmp_path.iterdir()) == []  # nothing made where no station ran
