"""The import pages in Chromium at 1400 px and 390 px (issue 13: changed by several engineers
and never looked at after the merges): the enterprise import form and a job with bad rows,
running and finished; the paper-filing import form and its job. Chinese is drawn with a CJK
font, nothing scrolls sideways on a phone, and no developer text (codes of states and modes,
template syntax, None) reaches the user."""

import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.core.models import ImportJobStatus, ImportMode
from apps.enterprises.imports import import_job_create, import_job_run
from apps.enterprises.models import ImportJob
from apps.filings.transfer_jobs import submission_import_job_create, submission_import_job_run
from tests.browser.helpers import login
from tests.enterprises.test_bulk_import import csv_bytes, row
from tests.factories import (
    NANJING,
    XUANWU,
    EnterpriseFactory,
    authority_user,
    county,
    industry,
    key_industry,
    make_uscc,
    prefecture,
)
from tests.filings.builders import open_period

pytestmark = [pytest.mark.browser]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1400, "height": 900}
# words of code, not of the interface: job states and modes, template syntax, Python's None
DEVELOPER_TEXT = re.compile(
    r"\b(None|succeeded|failed|running|queued|valid_rows_only|all_or_nothing|Traceback|ImportJob)\b|\{\{|\{%|%\}"
)


def _sideways(page) -> list[str]:
    """Elements reaching past the right edge of the viewport (empty: nothing scrolls sideways)."""
    if page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0:
        return []
    return page.evaluate("""() => [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
        .slice(0, 8).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))""")


def _look(page, url, name, screenshot, platform_fonts) -> str:
    """Open ``url`` at both widths, screenshot it, and check fonts, width and wording."""
    page.set_viewport_size(DESKTOP)
    page.goto(url)
    page.wait_for_load_state("networkidle")
    fonts = platform_fonts(page, "main h1")
    assert any("CJK" in f for f in fonts), (name, fonts)
    body = page.locator("main").inner_text()
    assert not DEVELOPER_TEXT.search(body), (name, DEVELOPER_TEXT.search(body).group(0), body[:2000])
    screenshot(page, f"{name}-1400")
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(100)
    assert _sideways(page) == [], (name, _sideways(page))
    screenshot(page, f"{name}-390")
    return body


def test_import_pages_at_desktop_and_phone_width(page, live_server, transactional_db, screenshot, platform_fonts):
    county(XUANWU)
    industry("39")
    key_industry("electronics", "电子制造")
    user = authority_user(prefecture(NANJING), username="importer", first_name="南京市工业和信息化局")
    login(page, live_server, "importer")

    _look(page, live_server.url + "/enterprises/import/", "import-form", screenshot, platform_fonts)

    rows = [row(make_uscc(), name=f"南京导入测试{i}电子有限公司") for i in range(6)]
    rows += [row("坏代码"), row(make_uscc(), county="999999"), row(make_uscc(), employees="很多")]
    upload = SimpleUploadedFile("南京企业名录（2026年更新）.csv", csv_bytes(rows))
    job = import_job_create(
        uploaded_file=upload, user=user, mode=ImportMode.VALID_ROWS_ONLY, encoding="auto", language="zh-hans"
    )
    job = import_job_run(job_id=job.pk)
    assert job.status == ImportJobStatus.SUCCEEDED and job.created_count == 6
    body = _look(
        page, f"{live_server.url}/enterprises/import/jobs/{job.pk}/", "import-job-finished", screenshot, platform_fonts
    )
    assert "第 8 行" in body or "8" in body  # the bad lines are reported by number

    ImportJob.objects.filter(pk=job.pk).update(status=ImportJobStatus.RUNNING, finished_at=None)
    _look(
        page, f"{live_server.url}/enterprises/import/jobs/{job.pk}/", "import-job-running", screenshot, platform_fonts
    )

    # paper filings: the form and a finished job with one bad answer
    import openpyxl

    period = open_period()
    ents = [EnterpriseFactory(region=county(XUANWU), name=f"南京纸质填报{i}精密机械制造有限公司") for i in range(3)]
    book = openpyxl.Workbook()
    book.active.append(["统一社会信用代码", "企业名称", "期次", "状态", "R1", "C1", "K1", "Y1"])
    for i, e in enumerate(ents):
        book.active.append([e.uscc, e.name, period.code, "", 9 if i == 2 else 3, "a;c", 95, "否"])
    data = io.BytesIO()
    book.save(data)
    _look(page, live_server.url + "/filings/transfer/", "transfer-form", screenshot, platform_fonts)
    paper = submission_import_job_create(
        uploaded_file=SimpleUploadedFile("纸质填报（南京市第一批）.xlsx", data.getvalue()),
        period=period,
        user=user,
        mode=ImportMode.VALID_ROWS_ONLY,
        accept=False,
        language="zh-hans",
    )
    paper = submission_import_job_run(job_id=paper.pk)
    body = _look(
        page,
        f"{live_server.url}/filings/transfer/jobs/{paper.pk}/",
        "transfer-job-finished",
        screenshot,
        platform_fonts,
    )
    assert "R1" in body

    # the forms again, now with their lists of earlier jobs; at 390 px a job's state stays on
    # one line in its narrow column (it was drawn 已/完/成, one character a line)
    for url, name in (
        ("/enterprises/import/", "import-form-with-jobs"),
        ("/filings/transfer/", "transfer-form-with-jobs"),
    ):
        _look(page, live_server.url + url, name, screenshot, platform_fonts)
        tags = page.get_by_test_id("job-status")
        assert tags.count() >= 1, name
        for i in range(tags.count()):
            assert tags.nth(i).bounding_box()["height"] < 24, (name, tags.nth(i).bounding_box())
