"""Exports of the authority pages: the same numbers as the page, run id, period and
suppression marks in the file, CSV with BOM and XLSX, formula neutralisation, jurisdiction,
and long enterprise lists exported by a background job served to its owner only."""

import codecs
import csv
import io
import time
from pathlib import Path

import openpyxl
import pytest
from django.core.cache import cache
from django.urls import reverse

from apps.enterprises.models import Enterprise
from apps.filings.models import Submission
from apps.insights.exports import published_label
from apps.insights.models import ExportJob, ExportJobStatus
from tests.factories import EnterpriseFactory, UserFactory, authority_user, county, prefecture
from tests.insights.test_authority_pages import export_url, make_world, table_rows, text, url

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clear_cache():
    """Run ids repeat between tests on SQLite (rolled-back sequences): cached cells of one
    test must not leak into the next."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def world():
    return make_world()


@pytest.fixture
def nanjing(world):
    return authority_user(prefecture())


def body_of(response) -> bytes:
    """The bytes of a response, streamed (enterprise lists, files) or not (tables)."""
    return b"".join(response.streaming_content) if response.streaming else response.content


def read_csv(response) -> list[dict]:
    body = body_of(response)
    assert body.startswith(codecs.BOM_UTF8), "CSV must carry a UTF-8 BOM for Excel"
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


def read_xlsx(response) -> list[dict]:
    sheet = openpyxl.load_workbook(io.BytesIO(body_of(response)), read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


def page_number(s: str) -> float | None:
    """A number as the page prints it ("−1.2", "+3.4", "85.0%", "1,234", "—")."""
    s = s.replace("−", "-").replace("%", "").replace(",", "").replace("±", "").strip()
    return None if s in ("—", "") else float(s)


def file_number(v) -> float | None:
    return None if v in (None, "") else float(v)


RANKING_FIELDS = [("mean", "综合指数"), ("change", "较上期"), ("n", "填报企业数"), ("coverage", "覆盖率（%）")]


def test_ranking_export_matches_the_page(client, world, nanjing):
    client.force_login(nanjing)
    params = {"sort": "-mean"}
    page = table_rows(text(client.get(url("rankings", **params))), "ranking-table")
    run = world["run"]
    for fmt, reader in (("csv", read_csv), ("xlsx", read_xlsx)):
        response = client.get(export_url("regions", fmt, **params))
        assert response.status_code == 200
        assert f"run{run.pk}" in response["Content-Disposition"] and "2026" in response["Content-Disposition"]
        rows = reader(response)
        assert [r["名称"] for r in rows] == [r["name"] for r in page], fmt  # same rows, same order
        for on_page, in_file in zip(page, rows, strict=True):
            assert in_file["期次"] == "2026年度" and in_file["数据发布时间"] == published_label(run) and in_file["范围"] == "南京市"
            for key, header in RANKING_FIELDS:
                assert page_number(on_page[key]) == file_number(in_file[header]), (fmt, key, on_page["name"])
            rank = on_page["rank"]
            assert (None if rank == "—" else int(rank.split("/")[0])) == file_number(in_file["排名"])
            lo, hi = file_number(in_file["95%置信区间下限"]), file_number(in_file["95%置信区间上限"])
            n = file_number(in_file["填报企业数"])
            assert on_page["ci"] == (f"{lo:.1f}–{hi:.1f}" if lo is not None else ("样本不足以估计区间" if n else "—"))
            reason = in_file["隐藏原因"] or ""
            assert (reason in on_page["marks"]) if reason else not any(m in on_page["marks"] for m in ("样本不足", "为防推算而隐藏"))
            assert ("内部数据，不公开" in (in_file["数据说明"] or "")) == ("内部数据，不公开" in on_page["marks"])
    jianye = next(r for r in read_csv(client.get(export_url("regions"))) if r["名称"] == "建邺区")
    assert jianye["隐藏原因"] == "样本不足" and jianye["数据说明"] == "内部数据，不公开" and jianye["综合指数"]


def test_dashboard_tables_export_like_the_page(client, world, nanjing):
    client.force_login(nanjing)
    html = text(client.get(url("dashboard")))
    summary = table_rows(html, "summary-table")
    rows = read_csv(client.get(export_url("summary")))
    assert [r["地区"] for r in rows] == ["南京市", "江苏省", "全国"]
    for on_page, in_file in zip(summary, rows, strict=True):
        for key, header in (("mean", "综合指数"), ("dev_index", "发展指数"), ("change", "较上期变化"),
                            ("panel_change", "面板变化（同一批企业）"), ("coverage", "覆盖率（%）"), ("median", "中位数")):
            assert page_number(on_page[key]) == file_number(in_file[header]), key
    dims = table_rows(html, "dimension-table")
    rows = read_xlsx(client.get(export_url("dimensions", "xlsx")))
    assert [r["维度"] for r in rows] == [r["name"] for r in dims]
    for on_page, in_file in zip(dims, rows, strict=True):
        assert page_number(on_page["v0"]) == file_number(in_file["南京市"])
        assert page_number(on_page["gap"]) == file_number(in_file["与全国差距"])


def test_trend_and_coverage_exports_match_the_page(client, world, nanjing):
    client.force_login(nanjing)
    page = table_rows(text(client.get(url("trends", peers="320500"))), "trend-table")
    rows = read_csv(client.get(export_url("trends", peers="320500")))
    assert [(r["期次"], r["地区"]) for r in rows] == [(r["period_name"], r["name"]) for r in page]
    assert {r["数据发布时间"] for r in rows} == {
        published_label(run) for run in world["run"].__class__.objects.filter(is_published=True)}
    for on_page, in_file in zip(page, rows, strict=True):
        assert page_number(on_page["mean"]) == file_number(in_file["综合指数"])
        assert page_number(on_page["panel_change"]) == file_number(in_file["面板变化（同一批企业）"])
    page = table_rows(text(client.get(url("report"))), "coverage-table")
    rows = read_csv(client.get(export_url("coverage")))
    assert [r["地区"] for r in rows] == [r["name"] for r in page]
    assert [file_number(r["未覆盖企业数"]) for r in rows] == [page_number(r["gap"]) for r in page]


def test_exports_refuse_other_regions_and_unknown_tables(client, world, nanjing):
    client.force_login(nanjing)
    assert client.get(export_url("regions", region="320500")).status_code == 404
    assert client.get(export_url("nonsense")).status_code == 404
    assert client.get(export_url("regions", "pdf")).status_code == 404
    assert client.get(export_url("regions", period="1999")).status_code == 404


def test_enterprise_list_export_matches_the_list(client, world, nanjing):
    client.force_login(nanjing)
    html = text(client.get(url("enterprises", status="none")))
    expected = Enterprise.objects.filter(prefecture_code="320100").exclude(submissions__period=world["p2026"])
    response = client.get(reverse("insights:enterprise-export", args=["csv"]) + "?status=none")
    rows = read_csv(response)
    assert len(rows) == expected.count() and f"共 {len(rows)} 家企业" in html
    assert {r["统一社会信用代码"] for r in rows} == set(expected.values_list("uscc", flat=True))
    assert {r["填报状态"] for r in rows} == {"未填报"} and {r["期次"] for r in rows} == {"2026年度"}
    rows = read_xlsx(client.get(reverse("insights:enterprise-export", args=["xlsx"]) + "?status=accepted"))
    accepted = Submission.objects.filter(period=world["p2026"], status="accepted", prefecture_code="320100")
    assert len(rows) == accepted.count()
    by_uscc = {r["统一社会信用代码"]: r for r in rows}
    for sub in accepted.select_related("score", "enterprise"):
        row = by_uscc[sub.enterprise.uscc]
        assert row["综合得分"] == float(f"{sub.score.composite:.1f}") and row["等级"] == f"L{sub.score.level}"


def test_enterprise_export_neutralises_formulas(client, world, nanjing):
    EnterpriseFactory(region=county(), name="=HYPERLINK(\"http://x\")", contact_name="+1 张")
    client.force_login(nanjing)
    rows = read_csv(client.get(reverse("insights:enterprise-export", args=["csv"]) + "?q=HYPERLINK"))
    assert rows[0]["企业名称"] == "'=HYPERLINK(\"http://x\")" and rows[0]["联系人"] == "'+1 张"


# --- background exports ------------------------------------------------------------------------------


def test_a_long_list_is_exported_by_a_job_served_to_its_owner_only(client, world, nanjing, settings,
                                                                    django_capture_on_commit_callbacks):
    settings.INSIGHTS_EXPORT_SYNC_MAX_ROWS = 5
    client.force_login(nanjing)
    html = text(client.get(url("enterprises")))
    assert "超过 5 行的名单在后台导出" in html
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.get(reverse("insights:enterprise-export", args=["xlsx"]))
    job = ExportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("insights:export-job", args=[job.pk])
    assert job.owner == nanjing and job.status == ExportJobStatus.QUEUED and len(callbacks) == 1
    page = text(client.get(response["Location"]))
    assert 'hx-trigger="every 2s"' in page and "排队中" in page

    from apps.insights.tasks import run_export_job

    assert run_export_job(job.pk) == ExportJobStatus.SUCCEEDED
    assert run_export_job(job.pk) == ExportJobStatus.SUCCEEDED  # a second delivery changes nothing
    job.refresh_from_db()
    expected = Enterprise.objects.filter(prefecture_code="320100").count()
    assert job.progress == 100 and job.total_rows == expected
    path = Path(job.file.path)
    assert path.is_relative_to(Path(settings.MEDIA_ROOT) / "exports") and path.exists()
    fragment = client.get(reverse("insights:export-job", args=[job.pk]), HTTP_HX_REQUEST="true")
    assert 'data-status="succeeded"' in text(fragment) and "hx-trigger" not in text(fragment)
    download = client.get(reverse("insights:export-download", args=[job.pk]))
    assert download.status_code == 200 and job.filename in download["Content-Disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(b"".join(download.streaming_content)), read_only=True).active
    assert len(list(sheet.iter_rows(values_only=True))) == expected + 1  # written streaming: no <dimension>

    for other in (authority_user(prefecture()), UserFactory(role="ministry")):
        client.force_login(other)
        assert client.get(reverse("insights:export-job", args=[job.pk])).status_code == 404
        assert client.get(reverse("insights:export-download", args=[job.pk])).status_code == 404
    client.logout()
    assert client.get(reverse("insights:export-download", args=[job.pk])).status_code == 302


def test_a_job_reads_the_list_with_its_owners_jurisdiction(client, world, nanjing, settings):
    from apps.insights.exports import export_job_run

    settings.INSIGHTS_EXPORT_SYNC_MAX_ROWS = 1
    job = ExportJob.objects.create(owner=nanjing, file_format="csv", params={"region": "320508"})
    job = export_job_run(job_id=job.pk)
    assert job.status == ExportJobStatus.SUCCEEDED
    with job.file.open("rb") as fh:
        rows = list(csv.DictReader(io.StringIO(fh.read().decode("utf-8-sig"))))
    # 320508 (苏州) is outside 南京: the filter is ignored, the scope is not
    assert rows and all(r["区县代码"].startswith("3201") for r in rows)


@pytest.mark.worker
def test_background_export_on_a_real_worker(client, celery_worker, settings):
    make_world()
    settings.INSIGHTS_EXPORT_SYNC_MAX_ROWS = 5
    user = authority_user(prefecture())
    client.force_login(user)
    response = client.get(reverse("insights:enterprise-export", args=["csv"]) + "?status=none")
    assert response.status_code == 302
    job = ExportJob.objects.get(owner=user)
    deadline = time.monotonic() + 60
    while not job.is_finished and time.monotonic() < deadline:
        time.sleep(0.3)
        job.refresh_from_db()
    assert job.status == ExportJobStatus.SUCCEEDED, job.message
    assert Path(job.file.path).is_relative_to(Path(settings.MEDIA_ROOT) / "exports")
    download = client.get(reverse("insights:export-download", args=[job.pk]))
    body = b"".join(download.streaming_content)
    assert body.startswith(codecs.BOM_UTF8) and "未填报" in body.decode("utf-8-sig")
