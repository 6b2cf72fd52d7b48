"""The verified index beside the logs: a start reads the parsed tests back
instead of parsing the logs again, and never shows a test the log does not
hold, nor misses one it does, whatever happened to the log or the index."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import msgspec
import pytest

import webperf3.iperf3.reader.logs as logs_module
import webperf3.store.results as results_module
from tests.support.logs import T_ROOM_101, append, install, make_entry, sample
from webperf3.iperf3.reader.index import INDEX_DIR, IndexFile, index_path
from webperf3.store.results import ResultsStore


@pytest.fixture(autouse=True)
def index_every_log(monkeypatch):
    # The samples are a few kB; a station indexes a log every MiB read.
    monkeypatch.setattr(logs_module, "INDEX_EVERY", 1)


def _station(log_dir: Path) -> ResultsStore:
    store = ResultsStore(log_dir, keep_index=True)
    store.refresh()
    return store


def _fresh(log_dir: Path) -> list[tuple]:
    """What a new store (an export's: it never writes) shows."""
    store = ResultsStore(log_dir)
    store.refresh()
    return [(r.port, r.time, r.name, r.client, r.offset) for r in store.results()]


def _whole(log_dir: Path, monkeypatch) -> list[tuple]:
    """What a store shows with no index at all (the logs parsed)."""
    with monkeypatch.context() as m:
        m.setattr(logs_module, "log_index", _NoIndex)
        return _fresh(log_dir)


class _NoIndex:
    @staticmethod
    def load(*_args):
        return None


def _parsing_fails(monkeypatch) -> None:
    def refuse(*_args, **_kwargs):
        raise AssertionError("parsed bytes the index covers")

    monkeypatch.setattr(logs_module, "parse_entry_in", refuse)


def test_a_start_takes_the_tests_from_the_index_not_the_log(log_dir, monkeypatch):
    log = install(log_dir, 5201, sample("tcp"), sample("extra_data"), sample("udp"))
    first = [(r.port, r.time, r.name, r.client, r.offset) for r in _station(log_dir).results()]
    assert index_path(log).exists() and index_path(log).parent.name == INDEX_DIR
    _parsing_fails(monkeypatch)
    assert _fresh(log_dir) == first


def test_tests_appended_past_the_index_are_read_too(log_dir, monkeypatch):
    log = install(log_dir, 5201, sample("tcp"), sample("extra_data"))
    _station(log_dir)
    append(log, make_entry("extra_data", name="Room 202", at=T_ROOM_101 + 60))
    names = [name for _, _, name, _, _ in _fresh(log_dir)]
    assert names == [None, "Room 101", "Room 202"]
    assert _fresh(log_dir) == _whole(log_dir, monkeypatch)


def test_bytes_changed_inside_the_indexed_range_are_seen(log_dir, monkeypatch):
    log = install(log_dir, 5201, sample("tcp"), sample("extra_data"))
    _station(log_dir)
    data = log.read_bytes()
    with log.open("r+b") as f:  # same file, same size: only its bytes differ
        f.write(data.replace(b"Room 101", b"Room 999"))
    assert [name for _, _, name, _, _ in _fresh(log_dir)] == [None, "Room 999"]
    # The station's next start reads the log whole and indexes it again.
    assert [r.name for r in _station(log_dir).results()] == [None, "Room 999"]
    _parsing_fails(monkeypatch)
    assert [name for _, _, name, _, _ in _fresh(log_dir)] == [None, "Room 999"]


def test_a_byte_changed_far_into_a_long_log_is_seen(log_dir, monkeypatch):
    # The CRC is summed a buffer at a time: a change past the first buffers
    # (here at the log's last test, past 256 KiB) must count as much.
    log = log_dir / "port-5201.json"
    for i in range(300):
        append(log, make_entry("extra_data", name=f"Room {i:03d}", at=T_ROOM_101 + 60 * i))
    assert log.stat().st_size > 3 * 256 * 1024
    _station(log_dir)
    data = log.read_bytes()
    cut = data.rindex(b"Room 299")
    with log.open("r+b") as f:
        f.seek(cut)
        f.write(b"Room 999")
    names = [name for _, _, name, _, _ in _fresh(log_dir)]
    assert names[-1] == "Room 999" and names[:2] == ["Room 000", "Room 001"]


def test_damage_inside_the_indexed_range_is_seen(log_dir, monkeypatch):
    log = install(log_dir, 5201, sample("tcp"), sample("extra_data"))
    _station(log_dir)
    data = bytearray(log.read_bytes())
    data[data.index(b'"timesecs"')] = ord("X")  # the first test no longer parses
    log.write_bytes(bytes(data))
    assert [name for _, _, name, _, _ in _fresh(log_dir)] == ["Room 101"]
    assert _fresh(log_dir) == _whole(log_dir, monkeypatch)


def test_a_truncated_log_shows_only_what_it_still_holds(log_dir, monkeypatch):
    log = install(log_dir, 5201, sample("tcp"), sample("extra_data"))
    _station(log_dir)
    os.truncate(log, len(sample("tcp").read_bytes()))
    assert [name for _, _, name, _, _ in _fresh(log_dir)] == [None]
    assert _fresh(log_dir) == _whole(log_dir, monkeypatch)


def test_a_log_replaced_by_another_of_the_same_size_is_read_anew(log_dir, monkeypatch):
    log = install(log_dir, 5201, sample("extra_data"))
    _station(log_dir)
    other = log_dir / "other"
    other.write_bytes(log.read_bytes().replace(b"Room 101", b"Room 303"))
    os.replace(other, log)  # another inode, the same size
    assert [name for _, _, name, _, _ in _fresh(log_dir)] == ["Room 303"]


def test_a_deleted_or_garbled_index_is_rebuilt(log_dir, monkeypatch):
    log = install(log_dir, 5201, sample("tcp"), sample("extra_data"))
    expected = _whole(log_dir, monkeypatch)
    _station(log_dir)
    index_path(log).unlink()
    assert _fresh(log_dir) == expected
    _station(log_dir)
    assert index_path(log).exists()
    index_path(log).write_bytes(index_path(log).read_bytes()[:100])  # cut short
    assert _fresh(log_dir) == expected
    index_path(log).write_bytes(b"\x00" * 50)
    assert _fresh(log_dir) == expected


def test_an_index_of_another_log_is_not_taken(log_dir, monkeypatch):
    a = install(log_dir, 5201, sample("extra_data"))
    b = install(log_dir, 5202, sample("tcp"))
    _station(log_dir)
    index_path(b).write_bytes(index_path(a).read_bytes())  # a copy under the wrong name
    assert _fresh(log_dir) == _whole(log_dir, monkeypatch)


def test_the_index_is_readable_by_whoever_can_read_the_log(log_dir):
    log = install(log_dir, 5201, sample("tcp"))
    log.chmod(0o644)
    _station(log_dir)
    assert index_path(log).stat().st_mode & 0o777 == 0o644


def test_an_export_never_writes_beside_the_logs(log_dir):
    install(log_dir, 5201, sample("tcp"))
    ResultsStore(log_dir).refresh()
    assert not (log_dir / INDEX_DIR).exists()


def test_a_directory_that_cannot_be_written_is_tried_once(log_dir, monkeypatch):
    install(log_dir, 5201, sample("tcp"))
    install(log_dir, 5202, sample("udp"))
    tries = []

    def read_only(*_args, **_kwargs):
        tries.append(1)
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr("tempfile.mkstemp", read_only)
    store = _station(log_dir)
    append(log_dir / "port-5201.json", make_entry("extra_data", at=T_ROOM_101 + 60))
    store.refresh()
    assert len(tries) == 1
    assert len(store.results()) == 3


def test_a_full_disk_is_tried_again_later(log_dir, monkeypatch):
    log = install(log_dir, 5201, sample("tcp"))
    real = __import__("tempfile").mkstemp
    full = [True]

    def maybe_full(*args, **kwargs):
        if full[0]:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr("tempfile.mkstemp", maybe_full)
    store = _station(log_dir)
    assert not index_path(log).exists()
    full[0] = False  # space freed
    append(log, make_entry("extra_data", at=T_ROOM_101 + 60))
    store.refresh()
    assert index_path(log).exists()
    _parsing_fails(monkeypatch)
    assert len(_fresh(log_dir)) == 2


def test_an_index_written_by_other_parsing_code_is_not_taken(log_dir, monkeypatch):
    import webperf3.iperf3.reader.index as index_module

    install(log_dir, 5201, sample("tcp"), sample("extra_data"))
    _station(log_dir)
    monkeypatch.setattr(index_module, "KEY", index_module.KEY + "-changed")  # entries.py edited, say
    parsed = []
    real = logs_module.parse_entry_in
    monkeypatch.setattr(logs_module, "parse_entry_in", lambda *a, **k: parsed.append(1) or real(*a, **k))
    assert [name for _, _, name, _, _ in _fresh(log_dir)] == [None, "Room 101"]
    assert parsed


@pytest.mark.parametrize("offset", [-1, "size"])
def test_an_index_naming_a_test_outside_its_bytes_is_not_taken(log_dir, monkeypatch, offset):
    log = install(log_dir, 5201, sample("tcp"), sample("extra_data"))
    _station(log_dir)
    path = index_path(log)
    kept = msgspec.msgpack.decode(path.read_bytes(), type=IndexFile)
    bad = msgspec.structs.replace(kept.results[-1], offset=kept.size if offset == "size" else offset)
    path.write_bytes(msgspec.msgpack.encode(msgspec.structs.replace(kept, results=[*kept.results[:-1], bad])))
    assert _fresh(log_dir) == _whole(log_dir, monkeypatch)


def test_a_flood_of_tests_rewrites_the_index_seldom(log_dir, monkeypatch):
    """Each write encodes every test of the log (and formats their CSV
    figures): a write per MiB, under a flood of tests with long names, took
    a core and the dashboard's answers went past 5 s. Writes come once an
    eighth of the log was appended, and at most every INDEX_MIN_SECONDS."""
    clock = [1000.0]
    monkeypatch.setattr(results_module.time, "monotonic", lambda: clock[0])
    log = log_dir / "port-5201.json"
    for i in range(16):
        append(log, make_entry("extra_data", name=f"Room {i}", at=T_ROOM_101 + i))
    writes = []
    real = results_module.Saver.save
    monkeypatch.setattr(results_module.Saver, "save", lambda self, *a: writes.append(1) or real(self, *a))
    store = _station(log_dir)
    assert len(writes) == 1  # a start writes at once
    size = log.stat().st_size
    # A second later, past INDEX_EVERY (1 here) but not an eighth of the log: no write.
    clock[0] += 1
    append(log, make_entry("extra_data", name="Room 16", at=T_ROOM_101 + 16))
    store.refresh()
    assert len(writes) == 1
    # An eighth of the log appended, but within the minute: still none.
    for i in range(17, 17 + 3):
        append(log, make_entry("extra_data", name=f"Room {i}", at=T_ROOM_101 + i))
    assert log.stat().st_size - size >= size // logs_module.INDEX_GROWTH
    store.refresh()
    assert len(writes) == 1
    # A minute on: written, and it covers every test.
    clock[0] += logs_module.INDEX_MIN_SECONDS
    store.refresh()
    assert len(writes) == 2
    _parsing_fails(monkeypatch)
    assert len(_fresh(log_dir)) == 20
