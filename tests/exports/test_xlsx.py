"""The .xlsx export, read back with openpyxl as a spreadsheet would see it."""

from __future__ import annotations

import gc
import os
import tempfile
import zipfile
from datetime import datetime

import openpyxl
from openpyxl.utils.escape import unescape
import pytest

from tests.support.logs import sample, store_of
from webperf3.exports.results import CSV_HEADER
from webperf3.store.record import Result
from webperf3.exports.workbook import XLSX_HEADER, open_xlsx, write_xlsx, xlsx_chunks


def read_back(path):
    book = openpyxl.load_workbook(path)
    return book, book.active


def records(sheet):
    rows = list(sheet.iter_rows())
    header = [c.value for c in rows[0]]
    return header, [dict(zip(header, row)) for row in rows[1:]]


def test_same_columns_as_the_csv_with_rates_in_mbits(log_dir, tmp_path):
    store = store_of(log_dir, **{"5201": [sample("tcp"), sample("client_killed")], "5202": [sample("udp_reverse")]})
    path = tmp_path / "survey.xlsx"
    assert write_xlsx(store.results(), path) == 3
    _, sheet = read_back(path)
    header, rows = records(sheet)
    assert len(header) == len(CSV_HEADER) and header[:3] == ["Port", "Name", "Timestamp"]
    assert header[3:5] == ["Send rate (Mbit/s)", "Receive rate (Mbit/s)"] and header[5:] == list(CSV_HEADER[5:])
    assert tuple(header) == XLSX_HEADER
    assert [r["Port"].value for r in rows] == [r.port for r in store.results()]
    tcp = rows[0]
    assert tcp["Port"].data_type == "n" and tcp["Port"].value == 5201
    assert tcp["Receive rate (Mbit/s)"].data_type == "n"
    assert tcp["Receive rate (Mbit/s)"].value == pytest.approx(store.results()[0].upload_bps / 1e6)
    assert tcp["Receive rate (Mbit/s)"].number_format == "#,##0.00"
    assert tcp["Send rate (Mbit/s)"].value is None  # an upload: no download, an empty cell
    failed = rows[2]
    assert failed["Error"].value == "the client has unexpectedly closed the connection"
    assert failed["Receive rate (Mbit/s)"].value is None
    udp_down = rows[1]
    assert udp_down["Download measured by"].value == "station sent"
    assert udp_down["Download loss (%, client)"].value == "unknown"
    assert udp_down["Upload loss (%, station)"].value is None


def test_the_timestamp_is_a_date_in_local_time(tmp_path):
    t = 1795640507
    path = tmp_path / "t.xlsx"
    write_xlsx([Result(port=5201, time=t, upload_bps=1e6)], path)
    _, sheet = read_back(path)
    cell = sheet.cell(row=2, column=3)
    assert cell.is_date and cell.value == datetime.fromtimestamp(t)
    assert cell.number_format == "yyyy-mm-dd hh:mm:ss"
    assert sheet.cell(row=2, column=6).value == datetime.fromtimestamp(t).astimezone().isoformat()


@pytest.mark.parametrize("name", ["=1+1", "@SUM(1)", "+1", "-1", "=HYPERLINK(\"http://x\")", "http://example.com", "1e5", "0042"])
def test_a_hostile_name_stays_text(tmp_path, name):
    path = tmp_path / "t.xlsx"
    write_xlsx([Result(port=5201, time=1e9, name=name, error=name)], path)
    with zipfile.ZipFile(path) as z:
        sheet_xml = z.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet_xml  # no formula anywhere
    _, sheet = read_back(path)
    for title in ("Name", "Error", "Client's --extra-data"):
        column = XLSX_HEADER.index(title) + 1
        cell = sheet.cell(row=2, column=column)
        assert cell.data_type == "s" and cell.value == name  # as typed: no leading '


def test_control_characters_in_a_name_survive(tmp_path):
    # XML cannot hold most control characters: Excel spells them _xHHHH_ and
    # reads them back as they were (openpyxl leaves the unescaping to us).
    name = "Room\x1b[2J 101\t\u202e _x0041_"
    path = tmp_path / "t.xlsx"
    write_xlsx([Result(port=5201, time=1e9, name=name)], path)
    assert unescape(read_back(path)[1].cell(row=2, column=2).value) == name


def test_header_is_frozen_and_filtered(tmp_path):
    path = tmp_path / "t.xlsx"
    write_xlsx([Result(port=5201 + i, time=1e9 + i, upload_bps=1e6) for i in range(3)], path)
    _, sheet = read_back(path)
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:{openpyxl.utils.get_column_letter(len(XLSX_HEADER))}4"
    assert [c.value for c in sheet[1]] == list(XLSX_HEADER) and all(c.font.b for c in sheet[1])


def test_no_results_is_a_header_only_workbook(tmp_path):
    path = tmp_path / "t.xlsx"
    assert write_xlsx([], path) == 0
    _, sheet = read_back(path)
    assert [c.value for c in sheet[1]] == list(XLSX_HEADER) and sheet.max_row == 1


def test_more_tests_than_a_sheet_holds_go_on_to_another_sheet(tmp_path):
    path = tmp_path / "t.xlsx"
    results = [Result(port=5201, time=1e9 + i, name=f"#{i}") for i in range(7)]
    assert write_xlsx(results, path, max_rows=3) == 7
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["Tests", "Tests (2)", "Tests (3)"]
    names = [row[1].value for sheet in book for row in sheet.iter_rows(min_row=2)]
    assert names == [f"#{i}" for i in range(7)]
    assert all(sheet.cell(row=1, column=1).value == "Port" and sheet.freeze_panes == "A2" for sheet in book)


def spooled(tmp_path):
    return sorted(os.listdir(tmp_path))


def test_chunks_come_from_a_temporary_file_that_is_gone_afterwards(log_dir, tmp_path):
    store = store_of(log_dir, **{"5201": [sample("tcp"), sample("bidir"), sample("udp")]})
    spool = tmp_path / "spool"
    spool.mkdir()
    chunks = xlsx_chunks(store.results(), tmpdir=spool, chunk_bytes=1024)
    first = next(chunks)
    assert spooled(spool) == []  # the file is unlinked while it is being read
    data = first + b"".join(chunks)
    assert len(first) == 1024 and data.startswith(b"PK")
    out = tmp_path / "got.xlsx"
    out.write_bytes(data)
    _, sheet = read_back(out)
    assert sheet.max_row == 4
    assert spooled(spool) == []


def test_a_download_abandoned_half_way_frees_its_file(tmp_path):
    spool = tmp_path / "spool"
    spool.mkdir()
    before = set(os.listdir(f"/proc/{os.getpid()}/fd"))
    chunks = xlsx_chunks([Result(port=5201, time=1e9 + i, name="x" * 200) for i in range(2000)], tmpdir=spool, chunk_bytes=512)
    next(chunks)
    chunks.close()  # what the WSGI server does when the client goes away
    gc.collect()
    assert set(os.listdir(f"/proc/{os.getpid()}/fd")) <= before
    assert spooled(spool) == []


def test_open_xlsx_is_a_file_at_its_start(tmp_path):
    with open_xlsx([Result(port=5201, time=1e9, upload_bps=2e6)], tmpdir=tmp_path) as f:
        assert f.read(2) == b"PK" and os.fstat(f.fileno()).st_size > 1000
    assert os.listdir(tmp_path) == []


def test_a_failure_while_writing_leaves_nothing_behind(tmp_path):
    def broken():
        yield Result(port=5201, time=1e9)
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        open_xlsx(broken(), tmpdir=tmp_path)
    assert os.listdir(tmp_path) == []
    assert tempfile.gettempdir()  # the default spool is untouched by the test


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # XlsxWriter's zip, never closed, fails in __del__
def test_a_disk_that_fills_while_the_workbook_is_assembled_leaves_nothing_behind(tmp_path, monkeypatch):
    # XlsxWriter names its own files in the spool and removes each only once
    # it is in the workbook: a full disk while it assembles the workbook used
    # to leave them in /var/tmp for good.
    real = zipfile.ZipFile.write
    parts: list[str] = []

    def fills_up(self, filename, arcname=None, *args, **kwargs):
        parts.append(arcname)
        if len(parts) == 3:  # the disk is full before the third part is in
            raise OSError(28, "No space left on device")
        return real(self, filename, arcname, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "write", fills_up)
    with pytest.raises(OSError, match="No space left"):
        open_xlsx([Result(port=5201, time=1e9 + i, name=f"Room {i}") for i in range(200)], tmpdir=tmp_path)
    gc.collect()
    assert os.listdir(tmp_path) == []


def test_a_path_that_cannot_be_written_is_an_oserror(tmp_path):
    with pytest.raises(FileNotFoundError):
        write_xlsx([Result(port=5201, time=1e9)], tmp_path / "missing" / "t.xlsx")
