"""A raw control byte or a lone surrogate escape in one string of a real
entry: the test is kept, its figures read, the bad character shown as U+FFFD."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.paths import DATA
from webperf3.iperf3.reader.logs import LogReader

VERSIONS = ["3.9", "3.12", "3.18", "3.21"]


def damaged(tmp_path: Path, version: str, name: bytes) -> list:
    raw = (DATA / f"iperf{version}-extra_data.json").read_bytes()
    assert b'"Room 101"' in raw
    path = tmp_path / "port-5201.json"
    path.write_bytes(raw.replace(b'"Room 101"', b'"' + name + b'"'))
    return LogReader(path, 5201).read().results


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    ("name", "shown"),
    [
        (b"Room\x00101", "Room\ufffd101"),  # a raw NUL
        (b"Room\x1b[2J101", "Room\ufffd[2J101"),  # a raw escape byte
        (b"Room \\ud800", "Room \ufffd"),  # a lone high surrogate
        (b"Room \\udc00 101", "Room \ufffd 101"),  # a lone low surrogate
        (b"\\ud83d\\ude00 Room", "\U0001f600 Room"),  # a pair is one character, untouched
        (b"Room \\\\ud800", "Room \\ud800"),  # an escaped backslash, then text: no surrogate at all
        (b"Room \\ud800\\ud800\\udc00", "Room \ufffd\U00010000"),  # a lone one before a pair
    ],
)
def test_the_test_is_kept_with_the_bad_character_replaced(tmp_path: Path, version: str, name: bytes, shown: str) -> None:
    [result] = damaged(tmp_path, version, name)
    assert result.name == shown
    assert result.upload_bps and result.upload_bps > 0
    # A name that goes on into the CSV and JSON encodes cleanly.
    result.name.encode("utf-8")


@pytest.mark.parametrize("version", VERSIONS)
def test_damage_outside_strings_still_skips_the_object(tmp_path: Path, version: str) -> None:
    raw = (DATA / f"iperf{version}-extra_data.json").read_bytes()
    path = tmp_path / "port-5201.json"
    path.write_bytes(raw.replace(b'"extra_data":', b'"extra_data"\x00:'))
    found = LogReader(path, 5201).read()
    # A NUL where JSON has structure is not a character to mend: it is still
    # JSON, the mended NUL becomes text where a colon belonged, and the object is junk.
    assert found.results == [] and found.skipped == 1
