"""Showcase cases: from a selected application with consent, draft → review → published
with history, the public library (full-text search on PostgreSQL, filters), the case page,
and an authority seeing which cases come from its region."""

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse

from apps.pilots import services
from apps.pilots.models import Application, ApplicationStatus, Case, CaseStatus, Scenario
from apps.pilots.search import tokens
from tests.factories import HANGZHOU, XIHU, authority_user, county, key_industry, province
from tests.pilots.builders import diagnosed_enterprise, make_call, staff

pytestmark = pytest.mark.django_db


def published_case(title, solution, *, region=None, level="lifecycle", elements=("measurement",), industry=None):
    case = Case.objects.create(
        title=title, enterprise_display="某企业", scenario_level=level, elements=list(elements), region=region or county(),
        problem="人工记录检验数据，追溯困难。", solution=solution, key_industry=industry,
        results=[{"metric": "一次交检合格率", "before": 95.1, "after": 98.6, "unit": "%"}],
    )
    case.status, case.published_at = CaseStatus.PUBLISHED, case.created_at
    case.save()
    return case


def test_tokens_split_chinese_into_bigrams():
    assert tokens("质量追溯 MES2") == ["质量", "量追", "追溯", "mes2"]
    assert tokens("检") == ["检"]


def test_case_from_application_needs_consent_and_keeps_history():
    call = make_call("notice")
    ent = diagnosed_enterprise(name="常州示范电子有限公司")
    app = Application.objects.create(call=call, enterprise=ent, recommending_unit=province(), status=ApplicationStatus.SELECTED,
                                     created_by=staff(), key_industry=key_industry())
    Scenario.objects.create(application=app, title="焊接质量在线检测", level="lifecycle", elements=["machine", "measurement"],
                            text="焊接参数实时采集，缺陷在线识别。")
    boss = staff()
    with pytest.raises(ValidationError, match="同意"):
        services.case_from_application(application=app, user=boss, consent=False, consent_note="")
    case = services.case_from_application(application=app, user=boss, consent=True, consent_note="同意函 2026-018",
                                          anonymised=True)
    assert (case.title, case.solution, case.enterprise_display) == ("焊接质量在线检测", "焊接参数实时采集，缺陷在线识别。", "某电子制造企业")
    assert case.consent_at and case.source_application == app
    with pytest.raises(ValidationError, match="面临的问题"):
        services.case_transition(case=services.case_transition(case=case, user=boss, action="submit"), user=boss, action="publish")
    case.refresh_from_db()
    case.problem = "焊点缺陷依赖人工目检。"
    case.save()
    case = services.case_transition(case=case, user=boss, action="publish")
    assert case.status == CaseStatus.PUBLISHED and case.published_at
    assert [h.status for h in case.history.order_by("history_date")][-3:] == ["review", "review", "published"]
    with pytest.raises(ValidationError, match="当前为"):
        services.case_transition(case=case, user=boss, action="publish")


def test_library_search_filters_and_case_page(client):
    ind = key_industry()
    a = published_case("来料检验数据自动采集", "LIMS 与供应商质量数据对接，实现质量追溯。", industry=ind)
    b = published_case("设备预测性维护", "振动监测预警停机。", level="value_chain", elements=("machine",),
                       region=county(XIHU, HANGZHOU))
    draft = Case.objects.create(title="未发布的质量追溯案例", enterprise_display="某企业", scenario_level="lifecycle",
                                problem="p", solution="质量追溯")
    url = reverse("pilots:cases")

    def titles(**params):
        page = client.get(url, params).content.decode()
        return [t for t in (a.title, b.title, draft.title) if t in page]

    assert titles() == [a.title, b.title]
    assert titles(q="质量追溯") == [a.title]  # a word inside a run of Chinese text
    assert titles(q="停机") == [b.title]
    assert titles(q="lims") == [a.title]
    assert titles(level="value_chain") == [b.title]
    assert titles(element="measurement") == [a.title]
    assert titles(industry=ind.pk) == [a.title]
    assert titles(province="330000") == [b.title]
    page = client.get(reverse("pilots:case", args=[a.pk])).content.decode()
    assert "一次交检合格率" in page and "98.6" in page
    assert client.get(reverse("pilots:case", args=[draft.pk])).status_code == 404


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL full-text search")
def test_postgres_search_uses_the_vector_newest_first():
    published_case("质量追溯", "全流程质量追溯。")
    published_case("能耗监测", "顺带提到质量追溯。")
    published_case("设备维护", "振动监测。")
    from apps.pilots.search import search_cases

    found = list(search_cases(Case.objects.published(), "质量追溯"))
    assert [c.title for c in found] == ["能耗监测", "质量追溯"]
    assert Case.objects.exclude(search_vector=None).count() == 3


def test_library_count_is_capped(client, monkeypatch):
    from apps.pilots.case_views import CappedPaginator

    monkeypatch.setattr(CappedPaginator, "CAP", 2)
    for i in range(4):
        published_case(f"质量追溯案例{i}", "质量追溯")
    page = client.get(reverse("pilots:cases"), {"q": "质量追溯"}).content.decode()
    assert "超过 2 个案例，请缩小检索范围" in page


def test_authority_sees_which_cases_come_from_its_region(client):
    nanjing_case = published_case("南京案例", "方案")
    hangzhou_case = published_case("杭州案例", "方案", region=county(XIHU, HANGZHOU))
    client.force_login(authority_user(province()))
    page = client.get(reverse("pilots:case", args=[nanjing_case.pk])).content.decode()
    assert 'data-testid="my-region"' in page
    page = client.get(reverse("pilots:case", args=[hangzhou_case.pk])).content.decode()
    assert 'data-testid="my-region"' not in page
    page = client.get(reverse("pilots:cases"), {"mine": "1"}).content.decode()
    assert "南京案例" in page and "杭州案例" not in page
