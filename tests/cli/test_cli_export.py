"""``webperf3 export`` and the command line's basics, as a user runs them."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import pty
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import openpyxl
import pytest
from webtest import TestApp

from tests.support.logs import append_entry, install, sample
from tests.support.parts import dashboard_of
from webperf3.exports.results import CSV_HEADER
from webperf3.store.results import ResultsStore
from webperf3.survey import DB_NAME, SurveyBook


def webperf3(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "webperf3", *args], capture_output=True, text=True, timeout=60)


def test_help_works():
    done = webperf3("--help")
    assert done.returncode == 0 and "--servers" in done.stdout and "export" in done.stdout


def test_version():
    done = webperf3("--version")
    assert done.returncode == 0 and done.stdout.startswith("webperf3 ")


def test_export_csv_to_stdout(log_dir):
    install(log_dir, 5201, sample("extra_data"))
    install(log_dir, 5202, sample("udp"))
    done = webperf3("export", "--log-dir", str(log_dir))
    assert done.returncode == 0, done.stderr
    rows = list(csv.reader(io.StringIO(done.stdout)))
    assert rows[0][:5] == ["Port", "Name", "Timestamp", "Send rate (bps)", "Receive rate (bps)"]
    assert [(r[0], r[1]) for r in rows[1:]] == [("5202", ""), ("5201", "Room 101")]


def test_export_json_to_a_file(log_dir, tmp_path):
    install(log_dir, 5201, sample("extra_data"))
    out = tmp_path / "survey.json"
    done = webperf3("export", "--log-dir", str(log_dir), "--format", "json", "--output", str(out))
    assert done.returncode == 0 and done.stdout == ""
    assert [r["name"] for r in json.loads(out.read_text())] == ["Room 101"]


def test_export_of_a_missing_log_dir_says_so(tmp_path):
    done = webperf3("export", "--log-dir", str(tmp_path / "missing"))
    assert done.returncode == 2
    assert done.stderr.strip() == f"webperf3 export: log directory {tmp_path / 'missing'} does not exist"


def test_export_reports_damaged_entries_and_keeps_the_good_ones(log_dir):
    log = install(log_dir, 5201, sample("tcp"))
    with log.open("ab") as f:
        f.write(b"\x00\xffgarbage\n")
    install(log_dir, 5201, sample("extra_data"))
    done = webperf3("export", "--log-dir", str(log_dir))
    assert done.returncode == 0
    assert len(list(csv.reader(io.StringIO(done.stdout)))) == 3
    assert "skipped 1 damaged entries" in done.stderr


def test_export_to_an_unwritable_place_fails_clearly(log_dir, tmp_path):
    install(log_dir, 5201, sample("tcp"))
    done = webperf3("export", "--log-dir", str(log_dir), "--output", str(tmp_path / "no" / "such" / "dir.csv"))
    assert done.returncode == 1 and "cannot write" in done.stderr


def test_bad_format_is_a_usage_error(log_dir):
    done = webperf3("export", "--log-dir", str(log_dir), "--format", "xml")
    assert done.returncode == 2 and "invalid choice" in done.stderr


def test_export_xlsx_to_a_file(log_dir, tmp_path):
    install(log_dir, 5201, sample("extra_data"), sample("client_killed"))
    out = tmp_path / "survey.xlsx"
    done = webperf3("export", "--log-dir", str(log_dir), "--format", "xlsx", "-o", str(out))
    assert done.returncode == 0 and done.stdout == "" and done.stderr == ""
    sheet = openpyxl.load_workbook(out).active
    assert sheet["B2"].value == "Room 101" and sheet["C2"].is_date and sheet["E2"].value > 1000
    assert sheet.max_row == 3


def test_the_file_name_picks_the_format_when_none_is_given(log_dir, tmp_path):
    install(log_dir, 5201, sample("extra_data"))
    for name, check in (("s.xlsx", lambda p: openpyxl.load_workbook(p).active["B2"].value),
                        ("s.json", lambda p: json.loads(p.read_text())[0]["name"]),
                        ("s.txt", lambda p: list(csv.reader(io.StringIO(p.read_text())))[1][1])):
        assert webperf3("export", "--log-dir", str(log_dir), "-o", str(tmp_path / name)).returncode == 0
        assert check(tmp_path / name) == "Room 101", name


def test_export_xlsx_to_a_pipe(log_dir, tmp_path):
    install(log_dir, 5201, sample("extra_data"))
    done = subprocess.run([sys.executable, "-m", "webperf3", "export", "--log-dir", str(log_dir), "--format", "xlsx"],
                          capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    (tmp_path / "piped.xlsx").write_bytes(done.stdout)
    assert openpyxl.load_workbook(tmp_path / "piped.xlsx").active["B2"].value == "Room 101"


def test_export_xlsx_to_a_terminal_is_refused(log_dir):
    install(log_dir, 5201, sample("extra_data"))
    main, other = pty.openpty()
    try:
        done = subprocess.run([sys.executable, "-m", "webperf3", "export", "--log-dir", str(log_dir), "--format", "xlsx"],
                              stdout=other, stderr=subprocess.PIPE, text=True, timeout=60)
        os.set_blocking(main, False)
        try:
            on_terminal = os.read(main, 65536)
        except BlockingIOError:
            on_terminal = b""
    finally:
        os.close(main)
        os.close(other)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "webperf3 export: an .xlsx is binary and would garble the terminal: give -o FILE.xlsx or redirect it (> survey.xlsx)"
    ]
    assert b"PK" not in on_terminal


def test_export_into_a_closed_pipe_is_quiet(log_dir):
    (log_dir / "port-5201.json").write_bytes(sample("extra_data").read_bytes() * 1500)  # more than a pipe holds
    done = subprocess.run(f"{sys.executable} -m webperf3 export --log-dir {log_dir} | head -c 10 >/dev/null; echo ${{PIPESTATUS[0]}}",
                          shell=True, executable="/bin/bash", capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "0" and done.stderr == ""


def test_export_xlsx_to_an_unwritable_place_fails_clearly(log_dir, tmp_path):
    install(log_dir, 5201, sample("tcp"))
    target = tmp_path / "no" / "such" / "dir.xlsx"
    done = webperf3("export", "--log-dir", str(log_dir), "-o", str(target))
    assert done.returncode == 1
    assert done.stderr.strip() == f"webperf3 export: cannot write {target}: No such file or directory"


# -- what people added: the survey book beside the logs ------------------------------


PHONE = "192.168.1.77"


def surveyed(log_dir: Path) -> None:
    """Real entries, and a book with a place named from a browser, an edit, a
    new survey and an exclusion, as the station's own API would save them;
    the book closed (its WAL folded in) as on a station stopped."""
    now = int(time.time()) - 600
    append_entry(log_dir, 5201, "tcp", client=PHONE, at=now)  # named from the browser: Kitchen
    append_entry(log_dir, 5201, "extra_data", name="Room 101", at=now + 10)  # edited: Room 102
    append_entry(log_dir, 5202, "udp_reverse", name="bogus", at=now + 20)  # excluded
    append_entry(log_dir, 5201, "reverse", client=PHONE, at=now + 40)  # in the new survey, named again
    install(log_dir, 5203, sample("server_stopped"))  # cut by the station: the last columns say so
    store = ResultsStore(log_dir)
    store.refresh()
    at = {r.time: r for r in store.results()}
    with SurveyBook.open(log_dir) as book:
        book.claim(PHONE, "Kitchen", at=now - 5)
        book.edit(at[now + 10], place="Room 102")
        book.edit(at[now + 20], excluded=True)
        book.start("After the new AP", at=now + 30)
        book.claim(PHONE, "Kitchen", at=now + 35)


def dashboard_download(log_dir: Path, path: str) -> bytes:
    """What the dashboard serves over the same logs and book at this moment."""
    store = ResultsStore(log_dir)
    with SurveyBook.open(log_dir, readonly=True) as book:
        return TestApp(dashboard_of(store, book=book).app, extra_environ={"HTTP_HOST": "localhost"}).get(path).body


@pytest.mark.parametrize(("fmt", "path"), [("csv", "/csv"), ("json", "/api/results.json")])
def test_export_equals_the_dashboard_s_download_byte_for_byte(log_dir, fmt, path):
    surveyed(log_dir)
    done = subprocess.run([sys.executable, "-m", "webperf3", "export", "--log-dir", str(log_dir), "--format", fmt],
                          capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == dashboard_download(log_dir, path)
    if fmt == "csv":
        rows = [dict(zip(CSV_HEADER, row)) for row in csv.reader(io.StringIO(done.stdout.decode()))][1:]
        by_place = {(row["Name"], row["Place source"], row["Survey"], row["Excluded"]) for row in rows}
        assert ("Kitchen", "browser", "First survey", "") in by_place
        assert ("Room 102", "edited", "First survey", "") in by_place
        assert ("bogus", "client", "First survey", "yes") in by_place  # excluded, and said so
        assert ("Kitchen", "browser", "After the new AP", "") in by_place
    else:
        records = json.loads(done.stdout)
        assert {(r["place"], r["place_source"], r["survey_name"], r["excluded"]) for r in records} >= {
            ("Kitchen", "browser", "First survey", False), ("Room 102", "edited", "First survey", False),
            ("bogus", "client", "First survey", True), ("Kitchen", "browser", "After the new AP", False),
        }


def test_export_xlsx_has_the_dashboard_s_cells(log_dir, tmp_path):
    surveyed(log_dir)
    out = tmp_path / "survey.xlsx"
    done = webperf3("export", "--log-dir", str(log_dir), "-o", str(out))
    assert done.returncode == 0, done.stderr
    (tmp_path / "online.xlsx").write_bytes(dashboard_download(log_dir, "/xlsx"))

    def cells(path: Path) -> list[tuple]:
        return list(openpyxl.load_workbook(path).active.iter_rows(values_only=True))

    offline = cells(out)
    assert offline == cells(tmp_path / "online.xlsx")
    header = offline[0]
    assert {row[header.index("Name")] for row in offline[1:]} >= {"Kitchen", "Room 102", "bogus"}
    assert [row[header.index("Excluded")] for row in offline[1:]].count("yes") == 1


def test_export_reads_a_copy_of_the_book_given_with_book(log_dir, tmp_path):
    surveyed(log_dir)
    expected = dashboard_download(log_dir, "/csv")
    copied = tmp_path / "copied-logs"
    copied.mkdir()
    for log in log_dir.glob("port-*.json"):
        (copied / log.name).write_bytes(log.read_bytes())
    book = tmp_path / "elsewhere" / "book.sqlite3"
    book.parent.mkdir()
    book.write_bytes((log_dir / DB_NAME).read_bytes())
    before = book.read_bytes()
    done = subprocess.run([sys.executable, "-m", "webperf3", "export", "--log-dir", str(copied), "--book", str(book)],
                          capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == expected
    # Read only: nothing created beside the copied logs, nothing changed in the book.
    assert not list(copied.glob("webperf3.sqlite3*")) and book.read_bytes() == before


def test_export_without_a_book_creates_none(log_dir):
    install(log_dir, 5201, sample("extra_data"))
    done = webperf3("export", "--log-dir", str(log_dir))
    assert done.returncode == 0, done.stderr
    assert not list(log_dir.glob("webperf3.sqlite3*"))  # an export never writes beside the logs
    (row,) = [dict(zip(CSV_HEADER, r)) for r in csv.reader(io.StringIO(done.stdout))][1:]
    assert (row["Name"], row["Place source"], row["Excluded"]) == ("Room 101", "client", "")


def test_a_bad_book_gets_one_clear_line_and_status_2(log_dir, tmp_path):
    install(log_dir, 5201, sample("extra_data"))
    text = tmp_path / "notes.txt"
    text.write_text("not a database, a shopping list\n" * 100)
    other = tmp_path / "other.sqlite3"
    with contextlib.closing(sqlite3.connect(other)) as conn:
        conn.execute("CREATE TABLE things (x)")
        conn.commit()
    for book, says in [
        (tmp_path / "missing.sqlite3", f"webperf3 export: survey book {tmp_path / 'missing.sqlite3'} does not exist"),
        (tmp_path, f"webperf3 export: survey book {tmp_path} is not a file"),
        (text, f"webperf3 export: cannot use {text}: file is not a database"),
        (other, f"webperf3 export: {other} is another program's SQLite file, not webperf3's: move it away"),
    ]:
        done = webperf3("export", "--log-dir", str(log_dir), "--book", str(book))
        assert (done.returncode, done.stdout, done.stderr.strip().splitlines()) == (2, "", [says]), book
    assert text.read_text().startswith("not a database")
    # The book beside the logs, damaged: said, never replaced.
    (log_dir / DB_NAME).write_bytes(text.read_bytes())
    done = webperf3("export", "--log-dir", str(log_dir))
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.strip().splitlines() == [f"webperf3 export: cannot use {log_dir / DB_NAME}: file is not a database"]
    assert (log_dir / DB_NAME).read_bytes() == text.read_bytes()


#: What the station's server needs and an export does not: its web framework
#: and server, the live push, the watcher, the metrics, the QR codes, the
#: workbook writer (an .xlsx export loads it when asked for one).
SERVER_ONLY = (
    "bottle", "waitress", "websockets", "watchfiles", "prometheus_client", "segno", "xlsxwriter", "asyncio",
    "webperf3.station", "webperf3.web", "webperf3.live", "webperf3.serving", "webperf3.ops", "webperf3.iperf3.fleet",
    "webperf3.exports.workbook",
)


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_an_export_loads_none_of_the_servers_packages(log_dir, tmp_path, fmt):
    # A cold `webperf3 export` over ssh spends its time on the logs, not on
    # importing the dashboard's server: its start is part of what users wait for.
    install(log_dir, 5201, sample("extra_data"))
    out = tmp_path / f"survey.{fmt}"
    code = (
        "import json, sys; from webperf3.cli import main; "
        "status = main(['export', '--log-dir', sys.argv[1], '--output', sys.argv[2]]); "
        "print(json.dumps([status, sorted(sys.modules)]))"
    )
    done = subprocess.run([sys.executable, "-c", code, str(log_dir), str(out)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    status, modules = json.loads(done.stdout)
    assert status == 0 and out.stat().st_size > 0
    loaded = [m for m in modules if any(m == name or m.startswith(name + ".") for name in SERVER_ONLY)]
    assert loaded == []


@pytest.mark.parametrize("book", ["none", "bad"])
def test_the_export_command_ends_at_once_with_its_output_whole_and_its_status(log_dir, tmp_path, book):
    # `webperf3 export` skips the interpreter's teardown (freeing every test
    # one by one) once its output is written: the output must still be
    # complete through a pipe, the status the export's, nothing after it run.
    (log_dir / "port-5201.json").write_bytes(sample("extra_data").read_bytes() * 1500)  # far more than a pipe holds
    args = ["export", "--log-dir", str(log_dir)]
    if book == "bad":
        (tmp_path / "bad.db").write_bytes(b"not a book")
        args += ["--book", str(tmp_path / "bad.db")]
    code = (
        "import atexit, sys; atexit.register(lambda: sys.stderr.write('teardown ran\\n')); "
        "from webperf3.cli import main; sys.argv = ['webperf3', *sys.argv[1:]]; sys.exit(main())"
    )
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, timeout=60)
    assert b"teardown ran" not in done.stderr
    if book == "bad":
        assert done.returncode == 2 and done.stdout == b"" and b"webperf3 export:" in done.stderr
        return
    assert done.returncode == 0, done.stderr
    reference = tmp_path / "reference.csv"
    from webperf3.cli.main import main

    assert main([*args, "--output", str(reference)]) == 0
    assert done.stdout == reference.read_bytes() and done.stdout.count(b"\r\n") == 1501
