"""Policy pages and API: public list and page (filters, search, internal policies scoped),
suppressed target cells shown as 不公开, the tracking dashboard (off-track first), the
support-impact page on published runs' scores."""

import datetime

import pytest
from django.urls import reverse

from apps.accounts.models import Role
from apps.indices.models import RunScore
from apps.indices.services import index_run_publish
from apps.policies.models import Instrument, PolicyLevel, PolicyStatus, SupportRecord
from apps.policies.services import impact_panel, support_impact, target_create, target_progress_recompute
from tests.factories import NANJING, SUZHOU, UserFactory, authority_user, key_industry, prefecture, province
from tests.indices.population import build
from tests.indices.test_index_runs import inline_run
from tests.policies.builders import measure, periods, policy, publish_cells, reference

pytestmark = pytest.mark.django_db


@pytest.fixture
def policies():
    reference()
    jiangsu = province()
    national = policy("制造业质量管理数字化实施指南", text="推动企业建立质量数据采集和 SPC 应用", dimensions=["D1", "D3"])
    national.key_industries.add(key_industry("biomedicine", "生物医药"))
    provincial = policy("江苏省质量管理数字化提升行动方案", level=PolicyLevel.PROVINCIAL, region=jiangsu, doc="苏工信〔2025〕8号",
                        body="江苏省工业和信息化厅", instrument=Instrument.SUBSIDY, issued_on=datetime.date(2025, 5, 1))
    internal = policy("南京市内部工作方案", level=PolicyLevel.PREFECTURE, region=prefecture(NANJING), doc="宁工信〔2025〕3号",
                      body="南京市工业和信息化局", is_public=False, status=PolicyStatus.PLANNED)
    return national, provincial, internal


def titles(response):
    return [p.title for p in response.context["page"]]


def test_public_list_shows_public_policies_with_filters_and_search(client, policies):
    national, provincial, internal = policies
    response = client.get(reverse("policies:list"))
    assert response.status_code == 200
    assert set(titles(response)) == {national.title, provincial.title}
    assert internal.title not in response.content.decode()
    url = reverse("policies:list")
    assert titles(client.get(url, {"level": "provincial"})) == [provincial.title]
    assert titles(client.get(url, {"instrument": "subsidy"})) == [provincial.title]
    assert titles(client.get(url, {"region": "320000"})) == [provincial.title]
    assert titles(client.get(url, {"industry": "biomedicine"})) == [national.title]
    assert titles(client.get(url, {"dimension": "D3"})) == [national.title]
    assert titles(client.get(url, {"year": "2025"})) == [provincial.title]
    assert titles(client.get(url, {"q": "SPC"})) == [national.title]          # full text (Latin word)
    assert titles(client.get(url, {"q": "质量数据采集"})) == [national.title]  # Chinese substring
    assert titles(client.get(url, {"q": "苏工信"})) == [provincial.title]      # document number


def test_internal_policy_is_404_outside_its_jurisdiction(client, policies):
    *_, internal = policies
    url = reverse("policies:detail", args=[internal.pk])
    assert client.get(url).status_code == 404
    assert client.get(f"/api/v1/policies/{internal.pk}/").status_code == 404
    client.force_login(authority_user(prefecture(SUZHOU)))
    assert client.get(url).status_code == 404
    client.force_login(authority_user(prefecture(NANJING)))
    assert client.get(url).status_code == 200
    client.force_login(authority_user(province()))  # 江苏 contains 南京
    assert client.get(url).status_code == 200
    client.force_login(UserFactory(role=Role.MINISTRY))
    assert client.get(url).status_code == 200


def test_api_lists_public_policies_anonymously(client, policies):
    national, provincial, internal = policies
    body = client.get("/api/v1/policies/").json()
    assert {p["title"] for p in body["results"]} == {national.title, provincial.title}


@pytest.fixture
def suppressed_target(policies):
    national, *_ = policies
    ps = periods((2025, 2026))
    publish_cells(ps[2025], [dict(kind="prefecture", code="320500", parent_code="320000", n=12, mean=61.25)])
    publish_cells(ps[2026], [dict(kind="prefecture", code="320500", parent_code="320000", n=3, mean=77.77,
                                  suppressed=True, suppression_reason="small_n")])
    t = target_create(measure=measure(national), metric="mean", cell_kind="prefecture", cell_code="320500",
                      baseline_period=ps[2025], target_year=2028, value=70)
    target_progress_recompute()
    return t


def test_suppressed_target_cell_shows_not_public_on_page_and_api(client, suppressed_target):
    policy_url = reverse("policies:detail", args=[suppressed_target.measure.policy.pk])
    page = client.get(policy_url).content.decode()
    assert "不公开" in page and "77.8" not in page and "77.77" not in page
    api = client.get(f"/api/v1/policies/{suppressed_target.measure.policy.pk}/").json()
    progress = api["measures"][0]["targets"][0]["progress"]
    assert progress[-1]["actual"] is None and progress[-1]["hidden"] is True
    assert "77.77" not in str(api)
    # the 苏州 authority reads its own cell
    client.force_login(authority_user(prefecture(SUZHOU)))
    assert "77.8" in client.get(policy_url).content.decode()
    tracking = client.get(reverse("policies:tracking")).content.decode()
    assert "77.8" in tracking
    # 南京's authority: the public view
    client.force_login(authority_user(prefecture(NANJING)))
    assert "77.8" not in client.get(policy_url).content.decode()


def test_tracking_dashboard_lists_off_track_first_and_is_scoped(client, policies):
    national, provincial, internal = policies
    ps = periods((2025, 2026))
    province(("330000", "浙江省"))
    publish_cells(ps[2025], [dict(kind="province", code="320000", n=50, mean=60.0),
                             dict(kind="prefecture", code="320100", parent_code="320000", n=20, mean=55.0),
                             dict(kind="province", code="330000", n=50, mean=50.0)])
    publish_cells(ps[2026], [dict(kind="province", code="320000", n=50, mean=66.0),
                             dict(kind="prefecture", code="320100", parent_code="320000", n=20, mean=54.0),
                             dict(kind="province", code="330000", n=50, mean=52.0)])
    m = measure(provincial)
    on = target_create(measure=m, metric="mean", cell_kind="province", cell_code="320000", baseline_period=ps[2025],
                       target_year=2028, value=70)  # expected 2026: 63.33 → 66 on track
    off = target_create(measure=m, metric="mean", cell_kind="prefecture", cell_code="320100", baseline_period=ps[2025],
                        target_year=2028, value=70)  # fell: off track
    other = target_create(measure=measure(national), metric="mean", cell_kind="province", cell_code="330000",
                          baseline_period=ps[2025], target_year=2028, value=60)
    target_progress_recompute()
    client.force_login(authority_user(province()))
    response = client.get(reverse("policies:tracking"))
    ids = [t.target.pk for t in response.context["tracks"]]
    assert ids == [off.pk, on.pk] and other.pk not in ids
    assert [t.status for t in response.context["tracks"]] == ["off_track", "on_track"]
    body = response.content.decode()
    assert "<script>" not in body and "onclick" not in body and 'id="track-charts"' in body
    # a progress note by the responsible authority
    client.post(reverse("policies:progress-note", args=[off.pk]), {"text": "南京市已安排专项诊断服务。"})
    assert off.notes.get().text == "南京市已安排专项诊断服务。"
    # an authority of another province cannot write on it
    client.force_login(authority_user(province(("330000", "浙江省"))))
    assert client.post(reverse("policies:progress-note", args=[off.pk]), {"text": "x"}).status_code == 404
    # enterprise users and experts: 403; anonymous: log in
    client.force_login(UserFactory(role=Role.EXPERT))
    assert client.get(reverse("policies:tracking")).status_code == 403
    client.logout()
    assert client.get(reverse("policies:tracking")).status_code == 302


def test_support_impact_reads_published_scores_and_is_scoped(client):
    p2025, p2026 = build(n=60)
    for p in (p2025, p2026):
        index_run_publish(run=inline_run(p), user=None)
    pol = policy()
    m = measure(pol)
    scored = set(RunScore.objects.filter(run__period=p2025, run__is_published=True).values_list("enterprise_id", flat=True))
    scored &= set(RunScore.objects.filter(run__period=p2026, run__is_published=True).values_list("enterprise_id", flat=True))
    from apps.enterprises.models import Enterprise

    supported = list(Enterprise.objects.filter(pk__in=scored).order_by("pk")[::3])
    for e in supported:
        SupportRecord.objects.create(enterprise=e, measure=m, granted_on=datetime.date(2025, 6, 1))
    ministry = UserFactory(role=Role.MINISTRY)
    panel = impact_panel(user=ministry, before_period=p2025, after_period=p2026)
    assert set(panel["enterprise_id"]) == scored
    before = dict(RunScore.objects.filter(run__period=p2025, run__is_published=True).values_list("enterprise_id", "composite"))
    assert all(abs(before[r.enterprise_id] - r.before) < 1e-9 for r in panel.itertuples())
    est = support_impact(user=ministry, measures=[m], before_period=p2025, after_period=p2026)
    assert est.supported_in_panel == len(supported) and est.treated + est.unmatched == len(supported)
    # 南京's authority: only 南京's enterprises on both sides
    nanjing = authority_user(prefecture(NANJING))
    nj_panel = impact_panel(user=nanjing, before_period=p2025, after_period=p2026)
    nj_ids = set(Enterprise.objects.filter(prefecture_code="320100").values_list("pk", flat=True))
    assert set(nj_panel["enterprise_id"]) == scored & nj_ids
    # the page: labelled as an association; with the small 南京 sample, not enough data
    client.force_login(nanjing)
    body = client.get(reverse("policies:impact"), {"policy": pol.pk, "before": "2025", "after": "2026"}).content.decode()
    assert "不是因果证明" in body
    nj_est = support_impact(user=nanjing, measures=[m], before_period=p2025, after_period=p2026)
    if not nj_est.enough:
        assert "数据不足" in body
    client.force_login(ministry)
    response = client.get(reverse("policies:impact"), {"policy": pol.pk, "before": "2025", "after": "2026"})
    assert response.context["estimate"] == est


def test_public_reach_shows_counts_only_and_none_below_five(client, policies):
    national, *_ = policies
    from tests.factories import EnterpriseFactory, county

    m = measure(national)
    firms = [EnterpriseFactory(region=county(("320102", "玄武区"))) for _ in range(4)]
    for e in firms:
        SupportRecord.objects.create(enterprise=e, measure=m, granted_on=datetime.date(2025, 6, 1))
    url = reverse("policies:detail", args=[national.pk])
    page = client.get(url).content.decode()
    assert "不足 5 家" in page and firms[0].name not in page
    firms.append(EnterpriseFactory(region=county(("320102", "玄武区"))))
    SupportRecord.objects.create(enterprise=firms[-1], measure=m, granted_on=datetime.date(2025, 6, 1))
    page = client.get(url).content.decode()
    assert "共 5 家企业" in page and firms[0].name not in page
    client.force_login(authority_user(prefecture(NANJING)))
    assert firms[0].name in client.get(url).content.decode()
    client.force_login(authority_user(prefecture(SUZHOU)))
    assert firms[0].name not in client.get(url).content.decode()


def test_an_internal_successor_is_not_disclosed_to_the_public(client, policies):
    national, provincial, internal = policies
    from apps.accounts.scoping import SYSTEM
    from apps.policies.services import policy_supersede

    policy_supersede(old=provincial, new=internal, user=SYSTEM)
    page = client.get(reverse("policies:detail", args=[provincial.pk])).content.decode()
    assert internal.title not in page
    body = client.get(f"/api/v1/policies/{provincial.pk}/").json()
    assert body["superseded_by"] is None and body["status"] == "superseded"
    client.force_login(authority_user(prefecture(NANJING)))
    assert internal.title in client.get(reverse("policies:detail", args=[provincial.pk])).content.decode()
    assert client.get(f"/api/v1/policies/{provincial.pk}/").json()["superseded_by"] == internal.pk


def test_policy_api_query_count_does_not_grow_with_targets(client, policies, django_assert_max_num_queries):
    national, provincial, _ = policies
    ps = periods((2025, 2026))
    publish_cells(ps[2025], [dict(kind="nation", code="CN", parent_code="", n=100, mean=50.0)])
    publish_cells(ps[2026], [dict(kind="nation", code="CN", parent_code="", n=100, mean=55.0)])
    for pol in (national, provincial):
        m = measure(pol)
        for value in (60, 70, 80):
            target_create(measure=m, metric="mean", cell_kind="nation", cell_code="CN", baseline_period=ps[2025],
                          target_year=2028, value=value)
    target_progress_recompute()
    with django_assert_max_num_queries(12):
        body = client.get("/api/v1/policies/").json()
    progress = [t["progress"] for p in body["results"] for m in p["measures"] for t in m["targets"]]
    assert len(progress) == 6 and all(len(p) == 2 and p[-1]["actual"] == 55.0 for p in progress)


def test_tracking_of_one_region_inside_the_jurisdiction_only(client, policies):
    national, provincial, _ = policies
    ps = periods((2025, 2026))
    for p, mean in ((ps[2025], 50.0), (ps[2026], 55.0)):
        publish_cells(p, [dict(kind="province", code="320000", n=50, mean=mean),
                          dict(kind="prefecture", code="320100", parent_code="320000", n=20, mean=mean),
                          dict(kind="prefecture", code="320500", parent_code="320000", n=20, mean=mean)])
    m = measure(provincial)
    nj = target_create(measure=m, metric="mean", cell_kind="prefecture", cell_code="320100", baseline_period=ps[2025],
                       target_year=2028, value=60)
    sz = target_create(measure=m, metric="mean", cell_kind="prefecture", cell_code="320500", baseline_period=ps[2025],
                       target_year=2028, value=60)
    target_progress_recompute()
    client.force_login(authority_user(province()))
    ids = [t.target.pk for t in client.get(reverse("policies:tracking"), {"region": "320500"}).context["tracks"]]
    assert sz.pk in ids and nj.pk not in ids
    client.force_login(authority_user(prefecture(NANJING)))
    assert client.get(reverse("policies:tracking"), {"region": "320500"}).status_code == 404
    assert [t.target.pk for t in client.get(reverse("policies:tracking"), {"region": "320100"}).context["tracks"]] == [nj.pk]


def test_a_regions_dashboard_shows_its_policy_targets_off_track_first(client, policies):
    """Links both ways (issue 11): the authority dashboard of a region lists the targets of
    that region, with their progress, and links to the tracking page of the region."""
    national, provincial, _ = policies
    ps = periods((2025, 2026))
    province(("330000", "浙江省"))
    publish_cells(ps[2025], [dict(kind="province", code="320000", n=50, mean=60.0),
                             dict(kind="prefecture", code="320100", parent_code="320000", n=20, mean=55.0),
                             dict(kind="province", code="330000", n=50, mean=50.0)])
    publish_cells(ps[2026], [dict(kind="province", code="320000", n=50, mean=66.0),
                             dict(kind="prefecture", code="320100", parent_code="320000", n=20, mean=54.0),
                             dict(kind="province", code="330000", n=50, mean=52.0)])
    m = measure(provincial)
    on = target_create(measure=m, metric="mean", cell_kind="province", cell_code="320000", baseline_period=ps[2025],
                       target_year=2028, value=70)
    off = target_create(measure=m, metric="mean", cell_kind="prefecture", cell_code="320100", baseline_period=ps[2025],
                        target_year=2028, value=70)
    other = target_create(measure=measure(national), metric="mean", cell_kind="province", cell_code="330000",
                          baseline_period=ps[2025], target_year=2028, value=60)
    target_progress_recompute()

    client.force_login(authority_user(province()))
    response = client.get(reverse("insights:dashboard"))
    assert response.status_code == 200
    assert [t.target.pk for t in response.context["policy_tracks"]] == [off.pk, on.pk]
    assert other.pk not in [t.target.pk for t in response.context["policy_tracks"]]
    body = response.content.decode()
    assert 'data-testid="region-policies"' in body and 'data-testid="status-off_track"' in body
    assert reverse("policies:tracking") + "?region=320000" in body

    # the prefecture's dashboard (inside the province's jurisdiction) lists only its own target
    response = client.get(reverse("insights:dashboard"), {"region": "320100"})
    assert [t.target.pk for t in response.context["policy_tracks"]] == [off.pk]

    # 南京's authority does not see 江苏's province-wide target on its own dashboard
    client.force_login(authority_user(prefecture(NANJING)))
    assert [t.target.pk for t in client.get(reverse("insights:dashboard")).context["policy_tracks"]] == [off.pk]

    # the dashboard's figures are kept per (published runs, jurisdiction, region); its policy
    # targets are read on every request: a target set since shows without a new run
    client.force_login(authority_user(province()))
    assert 'data-testid="region-policies"' in client.get(reverse("insights:dashboard")).content.decode()
    later = target_create(measure=m, metric="mean", cell_kind="province", cell_code="320000",
                          baseline_period=ps[2025], target_year=2030, value=75)
    target_progress_recompute()
    response = client.get(reverse("insights:dashboard"))
    assert later.pk in [t.target.pk for t in response.context["policy_tracks"]]
    assert response.content.decode().count('data-testid="region-target"') == 3
