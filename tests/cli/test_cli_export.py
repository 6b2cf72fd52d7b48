"""``webperf3 export`` and the command line's basics, as a user runs them."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import subprocess
import sys

import openpyxl

from tests.support.logs import install, sample


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
