"""A paper-filing file uploaded on the transfer page is imported by a real Celery worker process,
and its page shows the result (the ``celery_worker`` fixture of tests/conftest.py)."""

import io
import time

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.filings.models import Submission, SubmissionImportJob, SubmissionStatus
from tests.factories import NANJING, XUANWU, EnterpriseFactory, authority_user, county, industry, prefecture
from tests.filings.builders import open_period

pytestmark = [pytest.mark.worker]

POLL_SECONDS = 60
HEAD = ["统一社会信用代码", "企业名称", "期次", "状态", "R1", "C1", "K1", "Y1", "B1"]


def _xlsx(rows) -> bytes:
    book = openpyxl.Workbook()
    book.active.append(HEAD)
    for r in rows:
        book.active.append(r)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _wait_for(pk: int) -> SubmissionImportJob:
    deadline = time.monotonic() + POLL_SECONDS
    while time.monotonic() < deadline:
        job = SubmissionImportJob.objects.get(pk=pk)
        if job.is_finished:
            return job
        time.sleep(0.25)
    pytest.fail(f"submission import job {pk} not finished after {POLL_SECONDS} s (status {job.status})")


def test_paper_filings_are_imported_by_the_real_worker(client, celery_worker):
    period = open_period()
    user = authority_user(prefecture(NANJING))
    good, bad = (EnterpriseFactory(region=county(XUANWU), industry=industry("39")) for _ in range(2))
    client.force_login(user)
    data = _xlsx([
        [good.uscc, good.name, "2026", "", 3, "a;c", 95, "否"],
        [bad.uscc, bad.name, "2026", "", 9, "a;c", 95, "否"],
    ])  # fmt: skip
    resp = client.post(
        reverse("filings:transfer"),
        {"period": period.code, "file": SimpleUploadedFile("纸质.xlsx", data), "mode": "valid_rows_only"},
    )
    assert resp.status_code == 302
    job = _wait_for(SubmissionImportJob.objects.get().pk)
    assert job.status == "succeeded", job.message
    assert (job.created_count, job.skipped_count) == (1, 1)
    assert Submission.objects.get(enterprise=good).status == SubmissionStatus.SUBMITTED
    assert not Submission.objects.filter(enterprise=bad).exists()
    page = client.get(resp.url, HTTP_HX_REQUEST="true")
    assert page.status_code == 200 and "hx-trigger" not in page.text and "R1：请选择0–5级中的一级。" in page.text
