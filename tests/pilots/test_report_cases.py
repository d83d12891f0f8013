"""The enterprise's diagnosis report links to published showcase cases of its industry for its
weakest dimensions, and the case page links back to the report (issue 10)."""

import re

import pytest

from apps.filings import services as filing_services
from apps.filings.packing import submission_score
from apps.pilots.models import Case, CaseStatus
from tests.factories import (
    NANJING,
    XUANWU,
    EnterpriseFactory,
    authority_user,
    county,
    enterprise_user,
    industry,
    key_industry,
    prefecture,
)
from tests.filings.builders import COMPLETE, open_period

pytestmark = pytest.mark.django_db


def _case(title, text, *, division="39", key=None, status=CaseStatus.PUBLISHED):
    case = Case.objects.create(
        title=title, enterprise_display="某电子企业", scenario_level="lifecycle", elements=["measurement"],
        industry=industry(division) if division else None, key_industry=key, region=county(),
        problem="人工记录，追溯困难。", solution=text)
    if status == CaseStatus.PUBLISHED:
        case.status, case.published_at = status, case.created_at
        case.save()
    return case


def accepted_filing():
    """An accepted filing of a division-39 enterprise: D1 工作机制 67.5, D2 质量成效 45 (weakest)."""
    ent = EnterpriseFactory(region=county(XUANWU))
    filer = enterprise_user(ent, username="filer")
    sub = filing_services.submission_start(enterprise=ent, period=open_period(), user=filer)
    sub, errors = filing_services.submission_save_answers(submission=sub, user=filer, answers=COMPLETE, revision=sub.revision)
    assert not errors
    filing_services.submission_submit(submission=sub, user=filer, pledge=True)
    filing_services.submission_accept(submission=sub, user=authority_user(prefecture(NANJING)))
    submission_score(submission_id=sub.pk)
    return sub, filer


@pytest.fixture
def report():
    return accepted_filing()


def _section(html: str) -> str:
    match = re.search(r'<section class="card" data-testid="report-cases">(.*?)</section>', html, re.S)
    return match.group(1) if match else ""


def test_report_links_cases_of_its_industry_for_its_weakest_dimensions(client, report):
    sub, filer = report
    outcomes = _case("合格率提升", "围绕质量成效，一次交检合格率提升。")
    mechanism = _case("数字化组织保障", "建立工作机制与专人负责。")
    other = _case("设备联网", "设备状态监测。")
    _case("外行业成效案例", "质量成效显著。", division="27")
    _case("未发布的成效案例", "质量成效显著。", status=CaseStatus.DRAFT)
    client.force_login(filer)
    section = _section(client.get(f"/filings/{sub.pk}/report/").content.decode())
    assert section, "the report has a showcase-case block"
    # the weakest dimension (质量成效, 45) first with its case, then 工作机制 (67.5), then the rest
    assert section.index("较弱维度“质量成效”") < section.index("合格率提升") < section.index("较弱维度“工作机制”")
    assert section.index("较弱维度“工作机制”") < section.index("数字化组织保障") < section.index("同行业其他典型案例")
    assert section.index("同行业其他典型案例") < section.index("设备联网")
    assert f'href="/pilots/cases/{outcomes.pk}/?report={sub.pk}"' in section
    assert f"/pilots/cases/{mechanism.pk}/" in section and f"/pilots/cases/{other.pk}/" in section
    # another industry's case and an unpublished one are never linked
    assert "外行业成效案例" not in section and "未发布的成效案例" not in section


def test_report_matches_cases_by_the_enterprises_key_industry_too(client, report):
    sub, filer = report
    sub.enterprise.key_industries.add(key_industry())
    _case("电子行业成效案例", "质量成效。", division=None, key=key_industry())
    _case("生物医药成效案例", "质量成效。", division=None, key=key_industry("biomedicine", "生物医药"))
    client.force_login(filer)
    section = _section(client.get(f"/filings/{sub.pk}/report/").content.decode())
    assert "电子行业成效案例" in section and "生物医药成效案例" not in section


def test_report_without_cases_of_its_industry_has_no_case_block(client, report):
    sub, filer = report
    _case("外行业案例", "质量成效。", division="27")
    client.force_login(filer)
    assert 'data-testid="report-cases"' not in client.get(f"/filings/{sub.pk}/report/").content.decode()


def test_case_page_links_back_to_a_report_its_reader_may_see(client, report):
    sub, filer = report
    case = _case("合格率提升", "质量成效。")
    url = f"/pilots/cases/{case.pk}/?report={sub.pk}"
    client.force_login(filer)
    html = client.get(url).content.decode()
    assert f'href="/filings/{sub.pk}/report/" data-testid="back-to-report"' in html
    # an outsider (another enterprise) and an anonymous reader see the case, but no link to the report
    outsider = enterprise_user(EnterpriseFactory(region=county(XUANWU)), username="outsider")
    client.force_login(outsider)
    response = client.get(url)
    assert response.status_code == 200 and 'data-testid="back-to-report"' not in response.content.decode()
    client.logout()
    response = client.get(url)
    assert response.status_code == 200 and 'data-testid="back-to-report"' not in response.content.decode()
    # a malformed value is ignored
    assert client.get(f"/pilots/cases/{case.pk}/?report=9" + "9" * 30).status_code == 200
