"""``webperf3 export`` on the station's own log directory: it copies the CSV
figures the station kept in its index beside the logs instead of formatting
them, and its CSV is byte for byte the one made from the logs alone,
whatever the index holds and whatever time zone either ran in."""

from __future__ import annotations

import calendar
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import pytest

import webperf3.exports.results as results_module
import webperf3.iperf3.reader.index as index_module
import webperf3.iperf3.reader.logs as logs_module
from tests.support.logs import T_ROOM_101, append_entry, install, sample
from webperf3.cli.main import main
from webperf3.store.results import ResultsStore

#: Adelaide's clocks went back half an hour at 16:30 UTC on 2024-04-06
#: (03:00 ACDT, +10:30, became 02:00 ACST, +09:30): a UTC hour with two offsets.
ADELAIDE_CHANGE = calendar.timegm((2024, 4, 6, 16, 30, 0))


@pytest.fixture
def zone() -> Iterator[Callable[[str], None]]:
    """Set this process's local time zone (TZ, then tzset), restored after."""
    before = os.environ.get("TZ")

    def set_zone(name: str) -> None:
        os.environ["TZ"] = name
        time.tzset()

    yield set_zone
    if before is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = before
    time.tzset()


@pytest.fixture(autouse=True)
def index_every_log(monkeypatch):
    # The samples are a few kB; a station indexes a log every MiB read.
    monkeypatch.setattr(logs_module, "INDEX_EVERY", 1)


@pytest.fixture
def formatted(monkeypatch) -> list[int]:
    """How many tests' figures the export formatted itself (the rest it copied)."""
    counts: list[int] = []
    real = results_module.figure_lines

    def counting(results):
        results = list(results)
        counts.append(len(results))
        return real(results)

    monkeypatch.setattr(results_module, "figure_lines", counting)
    return counts


def _logs(log_dir: Path) -> None:
    install(log_dir, 5201, sample("tcp"), sample("extra_data"), sample("reverse"))
    install(log_dir, 5202, sample("udp"), sample("bidir"))
    append_entry(log_dir, 5202, "extra_data", name='=HYPERLINK("x"), "quoted"', at=T_ROOM_101 + 7200.5)


def _station(log_dir: Path) -> None:
    """What the station leaves beside the logs after reading them."""
    ResultsStore(log_dir, keep_index=True).refresh()
    assert any((log_dir / index_module.INDEX_DIR).iterdir())


def _export(log_dir: Path, out: Path) -> bytes:
    assert main(["export", "--log-dir", str(log_dir), "--output", str(out)]) == 0
    return out.read_bytes()


def _without_index(log_dir: Path, tmp_path: Path, name: str = "bare") -> bytes:
    """The export of the same logs with no index beside them."""
    bare = tmp_path / name
    bare.mkdir()
    for log in log_dir.glob("port-*.json"):
        shutil.copy(log, bare / log.name)
    return _export(bare, tmp_path / f"{name}.csv")


def test_the_export_copies_the_station_s_figures_byte_for_byte(log_dir, tmp_path, formatted):
    _logs(log_dir)
    _station(log_dir)
    formatted.clear()  # the station's own
    indexed = _export(log_dir, tmp_path / "indexed.csv")
    assert sum(formatted) == 0  # all six tests' figures copied
    assert indexed == _without_index(log_dir, tmp_path)
    assert sum(formatted) == 6  # the reference formatted them all
    assert indexed.count(b"\r\n") == 7


def test_tests_past_the_index_are_formatted(log_dir, tmp_path, formatted):
    _logs(log_dir)
    _station(log_dir)
    append_entry(log_dir, 5201, "extra_data", name="Room 202", at=T_ROOM_101 + 3600)
    formatted.clear()
    indexed = _export(log_dir, tmp_path / "indexed.csv")
    assert sum(formatted) == 1
    assert b"Room 202" in indexed and indexed == _without_index(log_dir, tmp_path)


@pytest.mark.parametrize("export_zone", ["America/New_York", "Asia/Kolkata", "UTC"])
def test_an_export_in_another_time_zone_than_the_station_s_formats_anew(log_dir, tmp_path, zone, export_zone):
    _logs(log_dir)
    zone("Europe/Helsinki")
    _station(log_dir)
    zone(export_zone)
    env = {**os.environ, "TZ": export_zone}
    done = subprocess.run([sys.executable, "-m", "webperf3", "export", "--log-dir", str(log_dir), "--log-level", "info"],
                          capture_output=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert b"were formatted in another time zone" in done.stderr
    assert done.stdout == _without_index(log_dir, tmp_path)
    zone("Europe/Helsinki")
    assert _export(log_dir, tmp_path / "station-zone.csv") != done.stdout  # the offsets differ: a real test


def test_the_hour_the_clocks_change_is_formatted_by_the_export(log_dir, tmp_path, zone, formatted):
    install(log_dir, 5201, sample("tcp"))
    for minutes in (-45, -15, 15, 45, 75):  # two in the hour of the change, either side of it
        append_entry(log_dir, 5201, "extra_data", name=f"at {minutes}", at=ADELAIDE_CHANGE + 60 * minutes)
    zone("Australia/Adelaide")
    _station(log_dir)
    formatted.clear()
    indexed = _export(log_dir, tmp_path / "indexed.csv")
    assert sum(formatted) == 2  # the two in 16:00-17:00 UTC; the other four copied
    assert indexed == _without_index(log_dir, tmp_path)
    assert b"+10:30" in indexed and b"+09:30" in indexed


def _spoiled(monkeypatch, how: str) -> None:
    """The station writes figures that must not be taken."""
    real = index_module.figures_of

    def spoil(results):
        figures = real(results)
        if how == "other code":
            return msgspec.structs.replace(figures, key="1/0.0.1/other")
        if how == "a line short":
            return msgspec.structs.replace(figures, lines=figures.lines[1:])
        return "not figures"

    monkeypatch.setattr(index_module, "figures_of", spoil)


@pytest.mark.parametrize("how", ["other code", "a line short", "garbled"])
def test_figures_that_do_not_hold_are_formatted_anew(log_dir, tmp_path, monkeypatch, formatted, how):
    _logs(log_dir)
    with monkeypatch.context() as m:
        _spoiled(m, how)
        _station(log_dir)
    formatted.clear()
    indexed = _export(log_dir, tmp_path / "indexed.csv")
    assert sum(formatted) == 6
    assert indexed == _without_index(log_dir, tmp_path)


def test_figures_of_a_rewritten_log_are_not_taken(log_dir, tmp_path, formatted):
    _logs(log_dir)
    _station(log_dir)
    log = log_dir / "port-5201.json"
    data = log.read_bytes()
    with log.open("r+b") as f:  # same file, same size: only a name differs
        f.write(data.replace(b"Room 101", b"Room 999"))
    indexed = _export(log_dir, tmp_path / "indexed.csv")
    assert b"Room 999" in indexed and b"Room 101" not in indexed
    assert indexed == _without_index(log_dir, tmp_path)


def test_a_json_export_decodes_no_figures(log_dir, tmp_path, monkeypatch):
    _logs(log_dir)
    _station(log_dir)
    monkeypatch.setattr(index_module, "_take_figures", None)  # called, it would fail
    assert main(["export", "--log-dir", str(log_dir), "--output", str(tmp_path / "a.json")]) == 0


def test_a_flood_of_long_names_is_kept_once_in_the_index_and_exported_whole(log_dir, tmp_path, formatted):
    """A client's --extra-data may be any length, and a flood of tests may
    all send the same 120 kB: kept in each test, an index of 4,000 such
    tests was a gigabyte to encode (the station's memory past its ceiling)."""
    bomb = "x" * 120_000
    for i in range(5):
        append_entry(log_dir, 5201, "extra_data", name=bomb, at=T_ROOM_101 + i)
    append_entry(log_dir, 5201, "extra_data", name="Room 101", at=T_ROOM_101 + 10)
    _station(log_dir)
    [index] = (log_dir / index_module.INDEX_DIR).iterdir()
    assert index.stat().st_size < 2 * len(bomb)  # the name once, and no CSV line holding it
    formatted.clear()
    indexed = _export(log_dir, tmp_path / "indexed.csv")
    assert sum(formatted) == 5  # the long names' lines, formatted by the export
    assert indexed == _without_index(log_dir, tmp_path)
    assert indexed.count(bomb.encode()) == 10  # whole, in its Name and Place cells
    store = ResultsStore(log_dir)
    store.refresh()
    assert [r.name for r in store.results()] == [bomb] * 5 + ["Room 101"]
