"""Reading iperf3 logs incrementally: halves, junk, damage, rewritten files."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.logs import append, sample
from tests.support.paths import PROTOTYPE
from webperf3.iperf3.reader.logs import EntrySplitter, LogReader

SAMPLES = ["tcp", "reverse", "bidir", "parallel", "bidir_parallel", "udp", "udp_reverse", "extra_data", "client_killed", "client_sigint"]


def objects_in(path: Path) -> list[bytes]:
    """The top-level objects of a sample, as iperf3 wrote them (with "\\n")."""
    data = path.read_bytes()
    text, out, pos = data.decode(), [], 0
    decoder = json.JSONDecoder()
    while (start := text.find("{", pos)) >= 0:
        _, end = decoder.raw_decode(text, start)
        out.append(data[start:end] + b"\n")
        pos = end
    return out


def entries_in(path: Path) -> list[bytes]:
    """Objects that are tests (not the server's termination record)."""
    return [o for o in objects_in(path) if b'"timesecs"' in o]


ENTRIES = [e for name in SAMPLES for e in entries_in(sample(name))]
TERMINATION = objects_in(sample("tcp"))[-1]


def key(result) -> tuple:
    return (result.time, result.name, result.upload_bps, result.download_bps, result.error)


# -- the splitter alone ------------------------------------------------------------


def pieces(splitter: EntrySplitter, data: bytes) -> list[tuple[int, bytes, bool]]:
    return [(p.offset, bytes(p.data), p.is_object) for p in splitter.feed(data)]


def test_splitter_holds_back_half_an_object_until_the_rest_arrives():
    entry = max(ENTRIES, key=len)
    assert len(entry) > 4096
    splitter = EntrySplitter()
    assert [p for p in pieces(splitter, entry[:4096]) if p[2]] == []
    assert splitter.pending == 4096
    got = pieces(splitter, entry[4096:])
    assert [(o, d) for o, d, is_obj in got if is_obj] == [(0, entry[:-1])]


def test_splitter_turns_a_truncated_object_into_junk_and_keeps_the_next():
    truncated = ENTRIES[1][:700] + b"\n"  # a crash mid-write
    got = pieces(EntrySplitter(), truncated + ENTRIES[2])
    assert [d for _, d, is_obj in got if is_obj] == [ENTRIES[2][:-1]]
    assert got[0] == (0, truncated, False)


def test_splitter_reports_offsets_in_the_stream():
    data = b"iperf3: exiting\n" + ENTRIES[0] + b"\n" + ENTRIES[1]
    got = [(o, is_obj) for o, _, is_obj in pieces(EntrySplitter(), data)]
    assert (16, True) in got and (16 + len(ENTRIES[0]) + 1, True) in got


# -- the reader over real files ----------------------------------------------------


def test_reader_reads_only_what_was_appended(tmp_path):
    log = tmp_path / "port-5201.json"
    log.write_bytes(ENTRIES[0])
    reader = LogReader(log, 5201)
    assert len(reader.read().results) == 1
    assert reader.read().results == []  # nothing new: nothing reported twice
    # Overwrite the first entry in place (its tail kept): a reader that read
    # the whole file again would see the damage; an incremental one cannot.
    damaged = b"x" * (len(ENTRIES[0]) - 64) + ENTRIES[0][-64:]
    with log.open("r+b") as f:
        f.write(damaged)
    append(log, ENTRIES[1])
    found = reader.read()
    assert [r.offset for r in found.results] == [len(ENTRIES[0])]
    assert found.skipped == 0 and not found.reset


def test_reader_never_reports_half_an_entry(tmp_path):
    log = tmp_path / "port-5201.json"
    reader = LogReader(log, 5201)
    entry = ENTRIES[3]
    for cut in range(0, len(entry), 4096):  # iperf3's write() size
        append(log, entry[cut : cut + 4096])
        found = reader.read().results
        if cut + 4096 < len(entry):
            assert found == []
    assert reader.offset == len(entry)
    log.write_bytes(b"")


def test_reader_starts_over_on_truncation_without_duplicates(tmp_path):
    log = tmp_path / "port-5201.json"
    log.write_bytes(ENTRIES[0] + ENTRIES[1])
    reader = LogReader(log, 5201)
    assert len(reader.read().results) == 2
    log.write_bytes(ENTRIES[2])  # truncated, then written again
    found = reader.read()
    assert found.reset and [key(r) for r in found.results] == [key(r) for r in LogReader(log, 5201).read().results]


def test_reader_notices_truncate_and_regrow_past_its_offset(tmp_path):
    log = tmp_path / "port-5201.json"
    log.write_bytes(ENTRIES[0])
    reader = LogReader(log, 5201)
    reader.read()
    log.write_bytes(ENTRIES[4] + ENTRIES[5])  # longer than before, same inode
    found = reader.read()
    assert found.reset and len(found.results) == 2


def test_reader_starts_over_on_a_replaced_file(tmp_path):
    log = tmp_path / "port-5201.json"
    log.write_bytes(ENTRIES[0] + ENTRIES[1])
    reader = LogReader(log, 5201)
    reader.read()
    new = tmp_path / "new.json"
    new.write_bytes(ENTRIES[0] + ENTRIES[1] + ENTRIES[2])
    os.replace(new, log)  # logrotate-style: a new inode
    found = reader.read()
    assert found.reset and len(found.results) == 3


def test_reader_reports_a_deleted_file_once(tmp_path):
    log = tmp_path / "port-5201.json"
    log.write_bytes(ENTRIES[0])
    reader = LogReader(log, 5201)
    reader.read()
    log.unlink()
    assert reader.read().reset
    assert not reader.read().reset
    log.write_bytes(ENTRIES[1])
    assert len(reader.read().results) == 1


def test_reader_skips_damage_and_keeps_everything_around_it(tmp_path, caplog):
    log = tmp_path / "port-5201.json"
    garbage = [
        b"\x00\xff\xfe garbage bytes \x80\x81\n",
        b"{\"hello\": \"not iperf3\"}\n",
        b"{\n\"start\": \"wrong\"\n}\n",
        b"{\n\t\"start\":\t{\n" + b"[" * 100_000 + b"\n}\n",
        ENTRIES[6][:1000] + b"\n",  # a truncated entry
    ]
    data = ENTRIES[0] + b"".join(g + e for g, e in zip(garbage, ENTRIES[1:6])) + TERMINATION
    log.write_bytes(data)
    with caplog.at_level(logging.WARNING, logger="webperf3.iperf3.logs"):
        found = LogReader(log, 5201).read()
    assert [key(r) for r in found.results] == [key(r) for e in ENTRIES[:6] for r in _parse(tmp_path, e)]
    assert found.skipped == 5
    assert len([r for r in caplog.records if "skipped" in r.getMessage()]) == 1  # logged once


def test_a_50mb_line_with_no_newline_costs_no_result(tmp_path):
    log = tmp_path / "port-5201.json"
    log.write_bytes(ENTRIES[0])
    reader = LogReader(log, 5201)
    assert len(reader.read().results) == 1
    append(log, b"A" * 50_000_000)
    found = reader.read()
    assert found.results == [] and found.skipped == 1
    append(log, b"\n" + ENTRIES[1])
    assert len(reader.read().results) == 1
    assert reader._splitter.pending == 0  # nothing of the 50 MB held back


def test_an_unterminated_object_is_held_back_then_given_up(tmp_path):
    log = tmp_path / "port-5201.json"
    log.write_bytes(ENTRIES[0] + b"{\n" + b"x" * 1000)
    reader = LogReader(log, 5201)
    assert len(reader.read().results) == 1
    append(log, ENTRIES[1])  # a newer object: the unfinished one was truncated
    found = reader.read()
    assert len(found.results) == 1 and found.skipped == 1


def test_windows_line_endings_and_space_indentation(tmp_path):
    log = tmp_path / "port-5201.json"
    log.write_bytes((PROTOTYPE / "no_bidir_iperf3_output.json").read_bytes().replace(b"\n", b"\r\n"))
    found = LogReader(log, 5201).read()
    assert [r.upload_bps for r in found.results] == [39130143.4457638]


def _parse(tmp_path: Path, entry: bytes):
    one = tmp_path / "one.json"
    one.write_bytes(entry)
    return LogReader(one, 5201).read().results


# -- the property: garbage spliced between real entries, appends split anywhere --

JUNK = st.one_of(
    st.binary(max_size=300).map(lambda b: b.replace(b"\n{", b"\n ").replace(b"\n}", b"\n ").lstrip(b"{")),
    st.sampled_from([
        b"iperf3: exiting\n", b"WARNING:  Size of data read does not correspond to offered length\n", b"\n\n",
        b"{\"a\": 1}\n", b"{\n\"start\": 5\n}\n",
        b"}\n", b"x\n}\n}\n", b"\x00", b"iperf3: exiting",  # a closing line of junk; no newline before the next entry
    ]),
    st.sampled_from(ENTRIES).flatmap(lambda e: st.integers(1, len(e) - 2).map(lambda cut: e[:cut] + b"\n")),
)


@settings(max_examples=int(os.environ.get("WEBPERF3_EXAMPLES", "150")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    entries=st.lists(st.sampled_from(ENTRIES), min_size=1, max_size=6),
    junk=st.lists(JUNK, min_size=7, max_size=7),
    cuts=st.lists(st.integers(min_value=0, max_value=60_000), max_size=12),
)
def test_property_real_entries_are_recovered_exactly_once(tmp_path_factory, entries, junk, cuts):
    data = b"".join(j + e for j, e in zip(junk, entries + [b""]))
    expected = [(data.index(e), e) for e in entries]  # junk never contains a whole entry
    log = tmp_path_factory.mktemp("prop") / "port-5201.json"
    log.write_bytes(b"")
    reader = LogReader(log, 5201)
    got = []
    for start, stop in zip([0, *sorted(cuts)], [*sorted(cuts), len(data)]):
        append(log, data[start:stop])
        got += reader.read().results
    assert [r.offset for r in got] == [offset_of(data, e, expected, i) for i, e in enumerate(entries)]
    assert [key(r) for r in got] == [key(_parse(log.parent, e)[0]) for e in entries]


def offset_of(data: bytes, entry: bytes, expected, i: int) -> int:
    # Entries may repeat: find the i-th entry at or after the previous one.
    pos = 0
    for j in range(i + 1):
        pos = data.index(expected[j][1], pos) + (0 if j == i else len(expected[j][1]))
    return pos
