"""apps.core.spreadsheets: XLSX decompression bombs are refused with bounded memory (issue 9
finding 1), a file just under every cap still imports, CSV decoding and sniffing, safe writing.

The memory tests read the file in a child process and assert a generous bound on its peak
RSS (never a time bound: the machine is shared). Before the streaming reader, the 1 M-row
file took 640 MB and the 3 M-row file 1.7 GB.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.accounts.scoping import SYSTEM
from apps.core import spreadsheets
from apps.core.spreadsheets import (
    SpreadsheetError,
    csv_records,
    csv_stream,
    read_records,
    xlsx_write_file,
)
from apps.enterprises.imports import enterprises_import
from apps.enterprises.models import Enterprise
from apps.enterprises.resources import IMPORT_COLUMNS
from apps.filings.models import Submission
from tests.core.spreadsheet_files import declared_size, write_bomb, xlsx_bytes, xlsx_table
from tests.factories import NANJING, XUANWU, authority_user, county, industry, make_uscc, prefecture
from tests.filings.builders import open_period

ROOT = Path(__file__).resolve().parents[2]
MB = 1024 * 1024
# Django, openpyxl and the project imported: ~100 MB. The old reader needed 640 MB for the
# 1 M-row file; what is left here is the rows up to the cap.
PEAK_RSS_LIMIT = 350 * MB
GROWTH_LIMIT = 200 * MB

CHILD = textwrap.dedent(
    """
    import json, os, sys
    import django
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.test")
    django.setup()
    from apps.core.spreadsheets import SpreadsheetError, read_records
    def rss():
        # Peak RSS of this process image. Not getrusage's ru_maxrss: Linux carries that over
        # from the parent (pytest, which may be large) through fork and exec.
        with open("/proc/self/status") as status:
            line = next(x for x in status if x.startswith("VmHWM:"))
        return int(line.split()[1]) * 1024
    before = rss()
    data = open(sys.argv[1], "rb").read()
    try:
        read_records(data=data, filename="bomb.xlsx")
        message = ""
    except SpreadsheetError as exc:
        message = exc.message
    print(json.dumps({"message": message, "before": before, "peak": rss()}))
    """
)


def read_in_child(path: Path) -> dict:
    """Read ``path`` with the spreadsheet reader in a fresh Python; its message and peak RSS."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def million_rows(tmp_path_factory) -> Path:
    """1,000,000 one-cell rows: about 65 KB on disk, 26 MB of sheet XML."""
    return write_bomb(tmp_path_factory.mktemp("bombs") / "million.xlsx", rows=1_000_000)


@pytest.fixture(scope="module")
def three_million_rows(tmp_path_factory) -> Path:
    """3,000,000 five-cell rows: well under 1 MB on disk, 258 MB of sheet XML (over the cap)."""
    return write_bomb(tmp_path_factory.mktemp("bombs") / "three-million.xlsx", rows=3_000_000, cells_per_row=5)


# --- the bombs ---------------------------------------------------------------------------------


def test_million_row_bomb_is_refused_at_the_row_cap_with_bounded_memory(million_rows):
    assert million_rows.stat().st_size < 1 * MB
    assert declared_size(million_rows.read_bytes()) < spreadsheets.DEFAULT_MAX_UNCOMPRESSED_BYTES  # not the zip check
    result = read_in_child(million_rows)
    assert result["message"] == "数据行超过 100000 行的上限，请分成几个文件分别导入。"
    assert result["peak"] < PEAK_RSS_LIMIT, result
    assert result["peak"] - result["before"] < GROWTH_LIMIT, result


def test_three_million_row_bomb_is_refused_from_the_zip_directory_before_parsing(three_million_rows):
    assert three_million_rows.stat().st_size < 1 * MB
    assert declared_size(three_million_rows.read_bytes()) > spreadsheets.DEFAULT_MAX_UNCOMPRESSED_BYTES
    result = read_in_child(three_million_rows)
    assert result["message"].startswith("这个 Excel 文件解压后有 ")
    assert "超过了 200.0 MB 的上限" in result["message"]
    # Refused before openpyxl opens the workbook: hardly more than the interpreter.
    assert result["peak"] - result["before"] < 50 * MB, result


@pytest.mark.django_db
def test_enterprise_import_refuses_the_bomb_with_the_message(million_rows):
    with pytest.raises(SpreadsheetError, match="数据行超过 100000 行的上限"):
        enterprises_import(data=million_rows.read_bytes(), filename="企业.xlsx", user=SYSTEM)
    assert not Enterprise.objects.exists()


@pytest.mark.django_db
def test_paper_filing_import_job_refuses_the_bomb_with_the_message(client, three_million_rows, monkeypatch):
    from apps.filings.models import SubmissionImportJob
    from apps.filings.tasks import run_submission_import_job

    period = open_period()
    client.force_login(authority_user(prefecture(NANJING)))
    upload = SimpleUploadedFile("纸质填报.xlsx", three_million_rows.read_bytes())
    monkeypatch.setattr(run_submission_import_job, "delay", lambda job_id: None)
    response = client.post(reverse("filings:transfer"), {"period": period.code, "file": upload, "mode": "all_or_nothing"})
    assert response.status_code == 302
    job = SubmissionImportJob.objects.get()
    assert run_submission_import_job(job.pk) == "failed"
    assert "这个 Excel 文件解压后有" in client.get(response.url).content.decode()
    assert not Submission.objects.exists()


def test_a_row_numbered_a_billion_is_refused_without_reading_the_gap():
    data = xlsx_bytes([(1, ["a"]), (2, ["b"]), (1_000_000_000, ["c"])])
    with pytest.raises(SpreadsheetError, match="包括空行"):
        read_records(data=data, filename="x.xlsx")


# --- just under the caps ---------------------------------------------------------------------


HEADER = list(IMPORT_COLUMNS)


def enterprise_rows(n: int) -> list[list]:
    return [
        [make_uscc("320102", serial=i), f"南京测试{i}有限公司", "320102", "39", "", 10 + i, "100.5", "", "李四",
         "13800000000", ""]
        for i in range(1, n + 1)
    ]  # fmt: skip


@pytest.fixture
def ref():
    county(XUANWU)
    industry("39")


@pytest.mark.django_db
def test_a_file_exactly_at_the_row_column_and_size_caps_imports(ref, settings):
    data = xlsx_table(HEADER, enterprise_rows(20))
    settings.ENTERPRISE_IMPORT_MAX_ROWS = 20
    settings.SPREADSHEET_MAX_COLUMNS = len(HEADER)
    settings.SPREADSHEET_MAX_UNCOMPRESSED_BYTES = declared_size(data)
    report = enterprises_import(data=data, filename="企业.xlsx", user=SYSTEM)
    assert report.applied and report.created == 20
    assert Enterprise.objects.count() == 20


@pytest.mark.django_db
def test_one_row_over_the_cap_is_refused(ref, settings):
    settings.ENTERPRISE_IMPORT_MAX_ROWS = 20
    for data, name in ((xlsx_table(HEADER, enterprise_rows(21)), "企业.xlsx"), (csv_file(enterprise_rows(21)), "企业.csv")):
        with pytest.raises(SpreadsheetError, match="数据行超过 20 行的上限"):
            enterprises_import(data=data, filename=name, user=SYSTEM)
    assert not Enterprise.objects.exists()


@pytest.mark.django_db
def test_one_byte_over_the_uncompressed_cap_is_refused(ref, settings):
    data = xlsx_table(HEADER, enterprise_rows(5))
    settings.SPREADSHEET_MAX_UNCOMPRESSED_BYTES = declared_size(data) - 1
    with pytest.raises(SpreadsheetError, match="解压后有"):
        enterprises_import(data=data, filename="企业.xlsx", user=SYSTEM)


def test_a_filled_cell_beyond_the_column_cap_is_refused_an_empty_one_is_not(settings):
    settings.SPREADSHEET_MAX_COLUMNS = 3
    assert read_records(data=xlsx_bytes([(1, ["a", "b", "c"]), (2, [1, 2, 3, None])]), filename="x.xlsx")[2] == [
        (1, ["a", "b", "c"]),
        (2, ["1", "2", "3"]),
    ]
    with pytest.raises(SpreadsheetError, match="超过 3 列的上限"):
        read_records(data=xlsx_bytes([(1, ["a", "b", "c"]), (2, [1, 2, 3, 4])]), filename="x.xlsx")
    with pytest.raises(SpreadsheetError, match="超过 3 列的上限"):
        read_records(data=b"a,b,c\n1,2,3,4\n", filename="x.csv")


def test_blank_rows_keep_their_numbers_and_do_not_count(settings):
    settings.ENTERPRISE_IMPORT_MAX_ROWS = 2
    data = xlsx_bytes([(1, ["h"]), (5, ["x"]), (9, ["y"])])
    assert read_records(data=data, filename="x.xlsx")[2] == [(1, ["h"]), (5, ["x"]), (9, ["y"])]
    records, _label = csv_records(b"h\n\n\nx\n\ny\n", "auto")
    assert records == [(1, ["h"]), (4, ["x"]), (6, ["y"])]


# --- CSV ---------------------------------------------------------------------------------------


def csv_file(rows, *, encoding="utf-8", bom=False, delimiter=",") -> bytes:
    out = io.StringIO(newline="")
    csv.writer(out, delimiter=delimiter).writerows([HEADER, *rows])
    return (codecs.BOM_UTF8 if bom else b"") + out.getvalue().encode(encoding)


@pytest.mark.parametrize(
    ("encoding", "bom", "delimiter", "label"),
    [
        ("utf-8", False, ",", "UTF-8"),
        ("utf-8", True, ",", "UTF-8（带 BOM）"),
        ("gbk", False, ",", "GBK（GB18030）"),
        ("utf-8", False, "\t", "UTF-8"),
    ],
)
def test_csv_encodings_and_delimiters_are_sniffed(encoding, bom, delimiter, label):
    data = csv_file(enterprise_rows(2), encoding=encoding, bom=bom, delimiter=delimiter)
    file_format, got_label, records = read_records(data=data, filename="企业.csv")
    assert (file_format, got_label) == ("csv", label)
    assert records[0][1] == HEADER
    assert records[2][1][1] == "南京测试2有限公司"


# --- writing -----------------------------------------------------------------------------------


def test_csv_stream_has_a_bom_and_neutralises_formulas():
    chunks = list(csv_stream(headers=["名称", "值"], rows=([f"=HYPERLINK({i})", i] for i in range(1201)), batch=500))
    assert len(chunks) == 1 + 3  # header, then batches of 500
    data = b"".join(chunks)
    assert data.startswith(codecs.BOM_UTF8)
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == ["名称", "值"]
    assert rows[1] == ["'=HYPERLINK(0)", "0"]
    assert len(rows) == 1202


def test_xlsx_write_file_neutralises_formulas_and_control_characters(tmp_path):
    path = tmp_path / "out.xlsx"
    count = xlsx_write_file(path=str(path), title="名单", headers=["名称"], rows=[["@SUM(A1)"], ["a\x07b"], [3]])
    assert count == 3
    sheet = openpyxl.load_workbook(path).active
    assert sheet.title == "名单"
    assert [c.value for (c,) in sheet.iter_rows()] == ["名称", "'@SUM(A1)", "a\N{REPLACEMENT CHARACTER}b", 3]
