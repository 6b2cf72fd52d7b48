"""The results store over a log directory."""

from __future__ import annotations

import pytest

from tests.support.logs import append_entry, install, sample
from tests.support.paths import PROTOTYPE
from webperf3.store.record import SharedText
from webperf3.store.results import LogDirError, ResultsStore


def test_store_reads_every_port_log_and_orders_by_time(log_dir):
    install(log_dir, 5202, PROTOTYPE / "multiple_iperf3_output.json")
    install(log_dir, 5201, PROTOTYPE / "single_iperf3_output.json")
    (log_dir / "notes.txt").write_text("not a log")
    (log_dir / "port-x.json").write_text("not a port")
    store = ResultsStore(log_dir)
    changes = store.refresh()
    assert {r.port for r in changes.added} == {5201, 5202}
    assert store.ports == [5201, 5202]
    assert [r.time for r in store.results()] == [1647307558, 1647312637, 1647312652]
    assert [r.port for r in store.results()] == [5202, 5202, 5201]


def test_latest_success_and_latest_failure_per_port(log_dir):
    install(log_dir, 5201, sample("tcp"), sample("extra_data"), sample("client_killed"))
    store = ResultsStore(log_dir)
    store.refresh()
    row = store.row(5201)
    assert row.latest.name == "Room 101"
    assert row.failure.error == "the client has unexpectedly closed the connection"
    assert row.tests == 3


def test_termination_record_never_replaces_the_latest_result(log_dir):
    # Every sample ends with the record iperf3 writes when it is stopped.
    log = install(log_dir, 5201, sample("extra_data"))
    store = ResultsStore(log_dir)
    store.refresh()
    termination = sample("tcp").read_bytes().rsplit(b"\n{", 1)[1]
    assert b"the server has terminated" in termination
    with log.open("ab") as f:
        f.write(b"{" + termination)
    assert not store.refresh()
    row = store.row(5201)
    assert row.latest.name == "Room 101" and row.failure is None


def test_refresh_reports_only_what_changed(log_dir):
    install(log_dir, 5201, sample("tcp"))
    store = ResultsStore(log_dir)
    store.refresh()
    generation = store.generation
    assert not store.refresh()  # nothing new
    assert store.generation == generation
    install(log_dir, 5201, sample("extra_data"))
    changes = store.refresh()
    assert [r.name for r in changes.added] == ["Room 101"] and store.generation == generation + 1


def test_a_deleted_log_takes_its_results_with_it(log_dir):
    log = install(log_dir, 5201, sample("tcp"))
    install(log_dir, 5202, sample("udp"))
    store = ResultsStore(log_dir)
    store.refresh()
    log.unlink()
    changes = store.refresh()
    assert changes.reset_ports == {5201}
    assert [r.port for r in store.results()] == [5202]


def test_a_truncated_log_is_read_again_without_duplicates(log_dir):
    log = install(log_dir, 5201, sample("tcp"), sample("udp"))
    store = ResultsStore(log_dir)
    store.refresh()
    log.write_bytes(sample("reverse").read_bytes())
    changes = store.refresh()
    assert changes.reset_ports == {5201}
    assert [r.direction for r in store.results()] == ["download"]


def test_filters(log_dir):
    install(log_dir, 5201, sample("tcp"), sample("extra_data"))
    install(log_dir, 5202, sample("udp"))
    store = ResultsStore(log_dir)
    store.refresh()
    assert [r.port for r in store.results(port=5202)] == [5202]
    assert [r.name for r in store.results(name="room")] == ["Room 101"]
    assert all(r.time >= 1795640517 for r in store.results(since=1795640517))
    assert len(store.results(since=1795640517)) == 2


def test_missing_log_dir_is_a_clear_error(tmp_path):
    with pytest.raises(LogDirError, match="does not exist"):
        ResultsStore(tmp_path / "nope").refresh()


def test_log_dir_that_is_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(LogDirError, match="not a directory"):
        ResultsStore(tmp_path / "file").refresh()


def test_an_unreadable_log_does_not_hide_the_others(log_dir, caplog):
    (log_dir / "port-5209.json").mkdir()  # unreadable whoever we are
    install(log_dir, 5201, sample("tcp"))
    store = ResultsStore(log_dir)
    store.refresh()
    assert [r.port for r in store.results()] == [5201]
    assert "port-5209.json" in caplog.text


def test_listeners_hear_every_change_whoever_reads(log_dir):
    install(log_dir, 5201, sample("tcp"))
    store = ResultsStore(log_dir)
    heard = []
    store.subscribe(heard.append)
    store.refresh()
    install(log_dir, 5201, sample("extra_data"))
    store.refresh_port(5201)
    store.refresh()  # nothing new: nothing heard
    (log_dir / "port-5201.json").unlink()
    store.refresh()
    assert [(len(c.added), sorted(c.reset_ports)) for c in heard] == [(1, []), (1, []), (0, [5201])]
    assert [c.generation for c in heard] == [1, 2, 3] == list(range(1, store.generation + 1))
    store.unsubscribe(heard.append)
    install(log_dir, 5201, sample("tcp"))
    store.refresh()
    assert len(heard) == 3


def test_a_failing_listener_does_not_stop_reading(log_dir, caplog):
    install(log_dir, 5201, sample("tcp"))
    store = ResultsStore(log_dir)
    store.subscribe(lambda changes: 1 / 0)
    assert len(store.refresh().added) == 1
    assert "listener failed" in caplog.text




def test_a_name_sent_on_every_test_is_kept_once(log_dir):
    # A client sending the same long --extra-data on every test (a "name
    # bomb") must cost the station one copy of it, not one per test; the
    # same for every test's address, protocol and error.
    bomb = "x" * 120_000
    for i in range(3):
        append_entry(log_dir, 5201, "extra_data", name=bomb, client="10.0.0.7", at=1795640600 + i)
    store = ResultsStore(log_dir)
    store.refresh()
    append_entry(log_dir, 5202, "client_killed", name=bomb, client="10.0.0.7", at=1795640700)
    append_entry(log_dir, 5202, "client_killed", name=bomb, client="10.0.0.7", at=1795640701)
    store.refresh()  # later, from another port's log
    results = store.results()
    assert len(results) == 5 and all(r.name == bomb for r in results)
    assert len({id(r.name) for r in results}) == 1
    assert len({id(r.client) for r in results}) == 1
    assert len({id(r.protocol) for r in results}) == 1
    failed = [r for r in results if r.error]
    assert len(failed) == 2 and failed[0].error is failed[1].error


def test_shared_text_keeps_the_most_recent_texts_only():
    shared = SharedText(limit=2)
    a, b, c = "".join(["Room ", "1"]), "".join(["Room ", "2"]), "".join(["Room ", "3"])
    assert shared(a) is a and shared("".join(["Room ", "1"])) is a
    assert shared(None) is None
    shared(b)
    shared(c)  # the third: the oldest, a, is let go
    assert len(shared) == 2
    again = "".join(["Room ", "1"])
    assert shared(again) is again and shared("".join(["Room ", "3"])) is c


def test_every_caller_shares_one_snapshot_that_never_changes(log_dir):
    # Downloads stream from a snapshot for as long as their clients take:
    # 100,000 results are 0.8 MiB of list, one for all of them, not one each.
    install(log_dir, 5201, sample("tcp"), sample("extra_data"))
    store = ResultsStore(log_dir)
    store.refresh()
    first = store.results()
    assert store.results() is first and store.snapshot()[1] is first
    install(log_dir, 5202, sample("udp"))  # started between the two: the results are sorted again
    store.refresh()
    assert [r.name for r in first] == [None, "Room 101"]  # what was handed out stays as it was
    now = store.results()
    assert [r.port for r in now] == [5201, 5202, 5201] and store.results() is now
    (log_dir / "port-5202.json").unlink()
    store.refresh()
    assert len(now) == 3 and len(store.results()) == 2


def test_out_of_descriptors_a_refresh_serves_what_was_read(tmp_path, monkeypatch) -> None:
    """A burst of connections can take every descriptor for a moment: a
    refresh then reads nothing new, and no request fails for it (it was a
    500 with a traceback)."""
    import errno
    import os

    install(tmp_path, 5201, sample("tcp"))
    store = ResultsStore(tmp_path)
    store.refresh()

    def out_of_descriptors(*_args):
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(os, "scandir", out_of_descriptors)
    append_entry(tmp_path, 5201, "extra_data")
    assert not store.refresh().added
    assert len(store.results()) == 1
    monkeypatch.undo()
    assert len(store.refresh().added) == 1
