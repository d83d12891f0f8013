"""An import uploaded through the portal page is run by a real Celery worker process.

The ``celery_worker`` fixture (tests/conftest.py) starts ``celery worker`` on the same test
database and broker; the test only sees what the worker committed.
"""

import codecs
import csv
import io
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import NoReverseMatch, include, path, reverse

from apps.accounts.models import Role
from apps.core.models import ImportJobStatus
from apps.enterprises import import_views
from apps.enterprises.models import Enterprise, ImportJob
from apps.enterprises.resources import IMPORT_COLUMNS
from tests.factories import (
    GUSU,
    NANJING,
    SUZHOU,
    XUANWU,
    UserFactory,
    authority_user,
    county,
    industry,
    key_industry,
    make_uscc,
    prefecture,
    wrong_check,
)

POLL_SECONDS = 60


def _job_urls_wired() -> bool:
    try:
        reverse("enterprises:import-job", args=[1])
    except NoReverseMatch:
        return False
    return True


if not _job_urls_wired():  # see test_import_export.py: until apps/enterprises/urls.py includes them
    from apps.enterprises import urls as enterprise_urls
    from portal import urls as portal_urls

    urlpatterns = [
        path(
            "enterprises/",
            include(
                (enterprise_urls.urlpatterns + [path("import/", include(import_views.urlpatterns))], "enterprises")
            ),
        ),
        *[p for p in portal_urls.urlpatterns if str(p.pattern) != "enterprises/"],
    ]
    pytestmark = [pytest.mark.worker, pytest.mark.urls(__name__)]
else:
    pytestmark = [pytest.mark.worker]


def _csv(rows) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(IMPORT_COLUMNS)
    writer.writerows(rows)
    return codecs.BOM_UTF8 + out.getvalue().encode("utf-8")


def _row(uscc, county_code=XUANWU[0]):
    return [uscc, "南京工人制造有限公司", county_code, "39", "电子制造", "88", "1200", "", "赵六", "025-1", ""]


def _wait_for(job_pk: int) -> ImportJob:
    deadline = time.monotonic() + POLL_SECONDS
    while time.monotonic() < deadline:
        job = ImportJob.objects.get(pk=job_pk)
        if job.is_finished:
            return job
        time.sleep(0.25)
    pytest.fail(f"import job {job_pk} not finished after {POLL_SECONDS} s (status {job.status})")


def test_uploaded_import_is_run_by_the_real_worker(client, celery_worker):
    county(XUANWU)
    county(GUSU, SUZHOU)
    industry("39")
    key_industry()
    user = authority_user(prefecture(NANJING))
    client.force_login(user)
    good = make_uscc()
    data = _csv([_row(good), _row(wrong_check(make_uscc())), _row(make_uscc(), GUSU[0])])

    resp = client.post(
        reverse("enterprises:import"),
        {"file": SimpleUploadedFile("企业.csv", data), "mode": "valid_rows_only", "encoding": "auto"},
    )
    assert resp.status_code == 302
    job = ImportJob.objects.get()
    assert resp.url == reverse("enterprises:import-job", args=[job.pk])

    job = _wait_for(job.pk)
    assert job.status == ImportJobStatus.SUCCEEDED, job.message
    assert (job.created_count, job.updated_count, job.skipped_count) == (1, 0, 2)
    assert [(e["line"], e["column"]) for e in job.errors] == [(3, "统一社会信用代码"), (4, "区县代码")]
    ent = Enterprise.objects.get(uscc=good)
    assert {h.history_user for h in ent.history.all()} == {user}

    fragment = client.get(resp.url, HTTP_HX_REQUEST="true")
    assert fragment.status_code == 200 and "hx-trigger" not in fragment.text and "校验位" in fragment.text


def test_all_or_nothing_job_fails_in_the_worker_and_writes_nothing(client, celery_worker):
    county(XUANWU)
    industry("39")
    key_industry()
    client.force_login(UserFactory(role=Role.MINISTRY))
    resp = client.post(
        reverse("enterprises:import"),
        {"file": SimpleUploadedFile("a.csv", _csv([_row(make_uscc()), _row("123")])), "mode": "all_or_nothing",
         "encoding": "utf-8"},
    )  # fmt: skip
    job = _wait_for(ImportJob.objects.get().pk)
    assert resp.status_code == 302
    assert job.status == ImportJobStatus.FAILED and "没有写入任何数据" in job.message
    assert job.errors == [{"line": 3, "column": "统一社会信用代码", "message": "统一社会信用代码应为18位，当前为3位。"}]
    assert not Enterprise.objects.exists()
