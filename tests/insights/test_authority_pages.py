"""Authority pages (apps.insights.views): who may read which region, what the pages show,
drill-down, and the number of queries per page.

The tests here read one world with both periods published, written once for the module;
the tests that publish runs themselves (or need none) are in test_authority_pages_runs.py."""

import copy
import re

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import Role
from apps.filings.models import Submission, SubmissionScore, SubmissionStatus
from apps.indices.models import IndexCell, IndexRun, RunScore
from apps.indices.services import index_run_publish
from apps.reference.models import Region, RegionLevel
from tests.factories import (
    UserFactory,
    authority_user,
    county,
    enterprise_user,
    prefecture,
    province,
)
from tests.indices.population import build
from tests.indices.test_index_runs import inline_run
from tests.kept_rows import rows_kept_for_the_module

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clear_cache():
    """Run ids repeat between tests on SQLite (rolled-back sequences): cached cells of one
    test must not leak into the next."""
    cache.clear()
    yield
    cache.clear()

PAGES = ["dashboard", "rankings", "trends", "report", "enterprises"]
TABLES = ["summary", "dimensions", "regions", "industries", "trends", "coverage"]


def score_filings(run: IndexRun) -> None:
    """SubmissionScore rows for the accepted filings of the run's period (what the filing
    pages write on acceptance; the population builder writes only packed answers)."""
    scores = {e: (c, lv) for e, c, lv in RunScore.objects.filter(run=run).values_list("enterprise_id", "composite", "level")}
    SubmissionScore.objects.bulk_create([
        SubmissionScore(submission=s, framework_id=s.framework_id, scoring_code_version="test",
                        composite=scores[s.enterprise_id][0], level=scores[s.enterprise_id][1],
                        dimension_scores={}, indicator_scores={})
        for s in Submission.objects.filter(period=run.period, status=SubmissionStatus.ACCEPTED)
    ])


def make_world():
    """The test population (建邺区 too small to publish), both periods computed and
    published, and the filings of 2026 scored."""
    p2025, p2026 = build(small_county=True)
    index_run_publish(run=inline_run(p2025), user=None)
    run = index_run_publish(run=inline_run(p2026), user=None)
    score_filings(run)
    cache.clear()
    return {"p2025": p2025, "p2026": p2026, "run": run}


@pytest.fixture(scope="module")
def world_rows(django_db_setup, django_db_blocker):
    """Written once for the module (tests/kept_rows.py): the tests here read the same two
    published runs; what a test changes is rolled back after it."""
    yield from rows_kept_for_the_module(django_db_blocker, make_world, "world_rows")


@pytest.fixture
def world(world_rows, db, fresh_caches):
    # fresh_caches: a test that changes a cell of the kept runs must not leave it in the
    # per-process memo of run-versioned values for the next test (the run ids stay the same)
    return copy.deepcopy(world_rows)


@pytest.fixture
def users(world):
    return {
        "ministry": UserFactory(role=Role.MINISTRY),
        "jiangsu": authority_user(province()),
        "nanjing": authority_user(prefecture()),
        "suzhou": authority_user(prefecture(("320500", "苏州市"))),
        "xuanwu": authority_user(county()),
        "enterprise": enterprise_user(),
        "expert": UserFactory(role=Role.EXPERT),
    }


def url(name, **params):
    from urllib.parse import urlencode

    return reverse(f"insights:{name}") + (f"?{urlencode(params)}" if params else "")


def export_url(table, fmt="csv", **params):
    from urllib.parse import urlencode

    return reverse("insights:export", args=[table, fmt]) + (f"?{urlencode(params)}" if params else "")


def text(response) -> str:
    return response.content.decode()


def table_rows(html: str, testid: str) -> list[dict]:
    """The rows of the table data-testid=``testid``: {data-key: cell text} plus code and
    the marks column."""
    table = re.search(rf'<table[^>]*data-testid="{testid}".*?</table>', html, re.S)
    assert table, f"no table {testid}"
    rows = []
    for tr in re.finditer(r'<tr data-code="([^"]*)"[^>]*>(.*?)</tr>', table.group(0), re.S):
        cells = {k: re.sub(r"<[^>]+>", "", v).strip() for k, v in re.findall(r'<td data-key="([^"]+)"[^>]*>(.*?)</td>', tr.group(2), re.S)}
        marks = re.search(r'<td class="marks">(.*?)</td>', tr.group(2), re.S)
        cells["code"] = tr.group(1)
        cells["marks"] = re.sub(r"<[^>]+>", " ", marks.group(1)).split() if marks else []
        rows.append(cells)
    return rows


# --- access ----------------------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_log_in(client, world):
    for name in PAGES:
        response = client.get(url(name))
        assert response.status_code == 302 and reverse("accounts:login") in response["Location"], name
    for table in TABLES:
        assert client.get(export_url(table)).status_code == 302
    assert client.get(reverse("insights:enterprise-export", args=["csv"])).status_code == 302


@pytest.mark.parametrize("who", ["enterprise", "expert"])
def test_enterprise_users_and_experts_are_refused(client, users, who):
    client.force_login(users[who])
    for name in PAGES:
        assert client.get(url(name)).status_code == 403, name
    for table in TABLES:
        assert client.get(export_url(table)).status_code == 403, table
    assert client.get(reverse("insights:enterprise-export", args=["xlsx"])).status_code == 403


def test_prefecture_authority_cannot_read_another_region_by_url(client, users):
    client.force_login(users["nanjing"])
    for region in ("320500", "320508", "320000", "330100", "CN", "999999", "abc"):
        for name in PAGES:
            assert client.get(url(name, region=region)).status_code == 404, (name, region)
        for table in TABLES:
            assert client.get(export_url(table, region=region)).status_code == 404, (table, region)
        assert client.get(reverse("insights:enterprise-export", args=["csv"]) + f"?region={region}").status_code == 404
    # its own counties are fine
    for name in PAGES:
        assert client.get(url(name, region="320102")).status_code == 200, name


def test_province_authority_drills_down_to_its_counties_only(client, users):
    client.force_login(users["jiangsu"])
    assert client.get(url("rankings", region="320100")).status_code == 200
    assert client.get(url("dashboard", region="320102")).status_code == 200
    assert client.get(url("dashboard", region="330100")).status_code == 404
    assert client.get(url("dashboard", region="330106")).status_code == 404


def test_ministry_reads_every_region(client, users):
    client.force_login(users["ministry"])
    for region in ("CN", "320000", "330100", "320105"):
        for name in PAGES:
            assert client.get(url(name, region=region)).status_code == 200, (name, region)


# --- dashboard -------------------------------------------------------------------------------------


def test_dashboard_of_a_province(client, users, world):
    client.force_login(users["jiangsu"])
    html = text(client.get(url("dashboard")))
    run = world["run"]
    cell = IndexCell.objects.get(run=run, kind="province", code="320000")
    assert "江苏省" in html and f"发布的{run.period.name}指数" in html  # the footnote names the period, not a run number
    assert re.search(r'data-testid="mean">\s*' + re.escape(f"{cell.mean:.1f}"), html)
    assert f"{cell.rank} / {cell.siblings}" in html
    change = f"{cell.change:+.1f}".replace("-", "−")
    assert change in html
    panel = f"{cell.panel_change:+.1f}".replace("-", "−")
    assert panel in html  # the balanced panel beside the plain change
    # radar: the province, the nation (the parent is the nation)
    assert 'id="radar-data"' in html and "全国" in html
    assert 'data-testid="weakest"' in html and 'data-testid="indicator-note"' in html
    assert 'data-testid="stale-banner"' not in html
    # summary table: province and nation
    rows = table_rows(html, "summary-table")
    assert [r["name"] for r in rows] == ["江苏省", "全国"]


def test_dashboard_of_a_prefecture_compares_with_the_province_and_the_nation(client, users, world):
    client.force_login(users["nanjing"])
    html = text(client.get(url("dashboard")))
    rows = table_rows(html, "summary-table")
    assert [r["name"] for r in rows] == ["南京市", "江苏省", "全国"]
    dims = table_rows(html, "dimension-table")
    assert len(dims) == 2 and all(r["v0"] != "—" for r in dims)
    assert "在江苏省的同级地区中" in html


def test_dashboard_of_a_county_too_small_to_publish_is_marked_internal(client, users, world):
    client.force_login(users["nanjing"])
    html = text(client.get(url("dashboard", region="320105")))
    assert 'data-testid="confidential-banner"' in html and "样本不足" in html
    assert "内部数据，不公开" in html
    crumbs = re.search(r'data-testid="breadcrumbs">(.*?)</nav>', html, re.S).group(1)
    assert "南京市" in crumbs and "建邺区" in crumbs and "江苏省" not in crumbs


def test_dashboard_period_selector_and_stale_banner(client, users, world):
    client.force_login(users["jiangsu"])
    html = text(client.get(url("dashboard", period="2025")))
    assert "发布的2025年度指数" in html and 'value="2025" selected' in html
    assert 'data-testid="empty-state"' in text(client.get(url("dashboard", period="1999")))
    IndexRun.objects.filter(pk=world["run"].pk).update(stale_since=timezone.now())
    IndexCell.objects.filter(run=world["run"], kind="province", code="320000").update(stale=True)
    cache.clear()
    html = text(client.get(url("dashboard")))
    assert "部分数据已过时：发布后又有填报审核通过，待重新计算" in html


def test_xpcc_authority_reads_the_prefecture_it_oversees(client, world):
    """新疆生产建设兵团 oversees a prefecture-level code; here, for the test population, 苏州市."""
    xpcc = Region.objects.create(code="660000", name="新疆生产建设兵团", level=RegionLevel.PROVINCE,
                                 province_code="660000", oversees_prefecture_code="320500")
    client.force_login(authority_user(xpcc))
    html = text(client.get(url("dashboard")))
    cell = IndexCell.objects.get(run=world["run"], kind="prefecture", code="320500")
    assert "新疆生产建设兵团" in html and f"{cell.mean:.1f}" in html
    rows = table_rows(text(client.get(url("rankings"))), "ranking-table")
    assert [r["code"] for r in rows] == ["320508"]
    assert client.get(url("dashboard", region="320100")).status_code == 404


# --- rankings --------------------------------------------------------------------------------------


def test_rankings_of_a_province_list_its_prefectures_and_drill_down(client, users, world):
    client.force_login(users["jiangsu"])
    html = text(client.get(url("rankings")))
    rows = table_rows(html, "ranking-table")
    assert {r["code"] for r in rows} == {"320100", "320500"}
    assert "/insights/rankings/?region=320100" in html.replace("&amp;", "&")
    html = text(client.get(url("rankings", region="320100")))
    rows = {r["code"]: r for r in table_rows(html, "ranking-table")}
    assert set(rows) == {"320102", "320104", "320105"}
    jianye = rows["320105"]
    assert "样本不足" in jianye["marks"] and "内部数据，不公开" in jianye["marks"]
    assert jianye["mean"] != "—"  # the authority sees its own suppressed values, marked
    assert "/insights/?region=320105" in html.replace("&amp;", "&")  # counties drill to their dashboard
    crumbs = re.search(r'data-testid="breadcrumbs">(.*?)</nav>', html, re.S).group(1)
    assert "江苏省" in crumbs and "南京市" in crumbs
    assert 'id="ranking-data"' in html


def test_rankings_sort_on_the_server(client, users):
    client.force_login(users["ministry"])
    by_mean = [r["mean"] for r in table_rows(text(client.get(url("rankings", sort="-mean"))), "ranking-table")]
    assert by_mean == sorted(by_mean, key=float, reverse=True)
    by_n = [int(r["n"].replace(",", "")) for r in table_rows(text(client.get(url("rankings", sort="n"))), "ranking-table")]
    assert by_n == sorted(by_n)
    default = table_rows(text(client.get(url("rankings", sort="nonsense"))), "ranking-table")
    ranks = [int(r["rank"].split("/")[0]) for r in default if r["rank"] != "—"]
    assert ranks == sorted(ranks)


def test_a_municipality_drills_straight_to_its_counties(client, users, world):
    """A placeholder prefecture (直辖市 市辖区) is skipped: its counties are listed in its place."""
    Region.objects.filter(code="320100").update(is_placeholder=True, name="市辖区")
    client.force_login(users["jiangsu"])
    rows = table_rows(text(client.get(url("rankings"))), "ranking-table")
    assert {r["code"] for r in rows} == {"320102", "320104", "320105", "320500"}
    html = text(client.get(url("dashboard", region="320102")))
    crumbs = re.search(r'data-testid="breadcrumbs">(.*?)</nav>', html, re.S).group(1)
    assert "江苏省" in crumbs and "玄武区" in crumbs and "市辖区" not in crumbs


def test_industry_and_key_industry_rankings(client, users, world):
    client.force_login(users["jiangsu"])
    rows = table_rows(text(client.get(url("rankings", tab="industries"))), "ranking-table")
    assert {r["code"] for r in rows} == {"320000|36", "320000|39"}
    assert all(r["name"].startswith(("36 ", "39 ")) for r in rows)
    html = text(client.get(url("rankings", tab="key")))
    assert 'data-testid="key-note"' in html and "只向部委工作人员" in html
    assert client.get(export_url("key_industries")).status_code == 404
    client.force_login(users["nanjing"])
    rows = table_rows(text(client.get(url("rankings", tab="industries"))), "ranking-table")
    assert {r["code"] for r in rows} == {"320100|36", "320100|39"}
    client.force_login(users["ministry"])
    rows = table_rows(text(client.get(url("rankings", tab="industries"))), "ranking-table")
    assert {r["code"] for r in rows} == {"36", "39"}
    assert client.get(url("rankings", tab="key")).status_code == 200


def test_a_county_has_no_child_regions(client, users):
    client.force_login(users["xuanwu"])
    html = text(client.get(url("rankings")))
    assert 'data-testid="no-children"' in html
    assert client.get(url("dashboard")).status_code == 200


def test_other_regions_are_seen_as_the_public_sees_them(client, users, world):
    """A province authority comparing with other provinces (trend peers) gets their public
    view: a suppressed cell shows no value."""
    client.force_login(users["nanjing"])
    html = text(client.get(url("trends", peers="320500,330100")))
    rows = table_rows(html, "trend-table")
    assert {r["name"] for r in rows} == {"南京市", "苏州市"}  # 杭州市 is no sibling: ignored
    assert len(rows) == 4  # two periods × two regions


# --- trends, report, enterprises ------------------------------------------------------------------


def test_trends_show_plain_and_panel_change_per_period(client, users, world):
    client.force_login(users["jiangsu"])
    html = text(client.get(url("trends")))
    rows = table_rows(html, "trend-table")
    assert [r["period_name"] for r in rows] == ["2025年度", "2026年度"]
    cell = IndexCell.objects.get(run=world["run"], kind="province", code="320000")
    assert rows[1]["change"] == f"{cell.change:+.1f}".replace("-", "−")
    assert rows[1]["panel_change"] == f"{cell.panel_change:+.1f}".replace("-", "−")
    assert 'id="trend-data"' in html


def test_report_is_printable(client, users, world):
    client.force_login(users["jiangsu"])
    html = text(client.get(url("report")))
    assert "打印 / 另存为 PDF" in html and "另存为 PDF" in html
    for testid in ("summary-table", "dimension-table", "ranking-table", "coverage-table"):
        assert f'data-testid="{testid}"' in html
    coverage = {r["code"]: r for r in table_rows(html, "coverage-table")}
    nanjing = IndexCell.objects.get(run=world["run"], kind="prefecture", code="320100")
    assert coverage["320100"]["gap"] == str(nanjing.registered - nanjing.n)


def test_enterprise_list_filters(client, users, world):
    p2026 = world["p2026"]
    client.force_login(users["nanjing"])
    html = text(client.get(url("enterprises")))
    total = int(re.search(r"共 (\d+) 家企业", html).group(1))
    from apps.enterprises.models import Enterprise

    assert total == Enterprise.objects.filter(prefecture_code="320100").count()
    assert "苏州" not in re.search(r'<table class="data" data-testid="enterprise-table">.*?</table>', html, re.S).group(0)
    not_filed = Enterprise.objects.filter(prefecture_code="320100").exclude(submissions__period=p2026)
    html = text(client.get(url("enterprises", status="none")))
    assert f"共 {not_filed.count()} 家企业" in html
    assert 'data-testid="coverage-gaps"' in html and 'data-testid="coverage-table"' in html
    # a draft for one of them
    ent = not_filed.first()
    Submission.objects.create(enterprise=ent, period=p2026, framework=p2026.framework, status=SubmissionStatus.DRAFT)
    html = text(client.get(url("enterprises", status="draft")))
    assert "共 1 家企业" in html and ent.name in html
    # level and score range come from SubmissionScore of the period
    scores = SubmissionScore.objects.filter(submission__period=p2026, submission__prefecture_code="320100")
    level = scores.first().level
    html = text(client.get(url("enterprises", level=level)))
    assert f"共 {scores.filter(level=level).count()} 家企业" in html
    html = text(client.get(url("enterprises", score_min=40, score_max=60)))
    assert f"共 {scores.filter(composite__gte=40, composite__lte=60).count()} 家企业" in html
    html = text(client.get(url("enterprises", division="36", size="medium")))
    expected = Enterprise.objects.filter(prefecture_code="320100", division_code="36", size_class="medium").count()
    assert f"共 {expected} 家企业" in html
    html = text(client.get(url("enterprises", region="320102")))
    assert f"共 {Enterprise.objects.filter(county_code='320102').count()} 家企业" in html


def test_enterprise_list_of_an_earlier_period(client, users, world):
    client.force_login(users["jiangsu"])
    html = text(client.get(url("enterprises", period="2025", status="accepted")))
    expected = Submission.objects.filter(period=world["p2025"], status="accepted", province_code="320000").count()
    assert f"共 {expected} 家企业" in html


# --- queries ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("who, region, cold, warm", [
    # session, user, unread notices (header), [user.region: jurisdiction], which runs are
    # published; on the first request of a run version: the runs, [scope region], cells: own
    # (+ parent) + nation, dimensions, levels; on every request the region's policy targets
    # (none here: one query). Later requests serve the figures kept for (runs, period,
    # jurisdiction, region, language).
    ("ministry", "", 9, 5),
    ("jiangsu", "", 12, 6),
    ("jiangsu", "320100", 13, 6),
    ("nanjing", "320105", 13, 6),
])
def test_dashboard_query_count(client, users, django_assert_num_queries, who, region, cold, warm):
    client.force_login(users[who])
    params = {"region": region} if region else {}
    cache.clear()
    with django_assert_num_queries(cold):
        first = client.get(url("dashboard", **params))
    assert first.status_code == 200
    with django_assert_num_queries(warm):
        again = client.get(url("dashboard", **params))
    assert table_rows(text(again), "summary-table") == table_rows(text(first), "summary-table")


@pytest.mark.parametrize("who, params, cold, warm", [
    # session, user, unread notices (header), [user.region: jurisdiction], which runs are
    # published; on the first request: the runs, [scope region], the scope's cells of each
    # run (two runs), [the siblings' cells and names: peers], levels; later requests: kept
    # for (runs, period, jurisdiction, region, peers, language)
    ("ministry", {}, 8, 4),
    ("jiangsu", {}, 12, 5),
    ("nanjing", {"region": "320102", "peers": "320104"}, 13, 5),
])
def test_trends_query_count(client, users, django_assert_num_queries, who, params, cold, warm):
    client.force_login(users[who])
    cache.clear()
    with django_assert_num_queries(cold):
        first = client.get(url("trends", **params))
    assert first.status_code == 200
    with django_assert_num_queries(warm):
        again = client.get(url("trends", **params))
    assert table_rows(text(again), "trend-table") == table_rows(text(first), "trend-table")


def test_kept_pages_are_kept_per_jurisdiction(client, users, world):
    """A kept dashboard or trends page is never served to a reader of another jurisdiction:
    苏州's authority asking for the page 江苏's authority was just served (建邺区, inside
    values) gets 404, and the ministry's page of 南京 is its own (its trail starts at 全国)."""
    client.force_login(users["jiangsu"])
    for page in ("dashboard", "trends"):
        html = text(client.get(url(page, region="320105")))
        assert "建邺区" in html
    jiangsu_nanjing = text(client.get(url("dashboard", region="320100")))
    client.force_login(users["suzhou"])
    for page in ("dashboard", "trends"):
        assert client.get(url(page, region="320105")).status_code == 404, page
        assert client.get(url(page, region="320100")).status_code == 404, page
    client.force_login(users["ministry"])
    ministry_nanjing = text(client.get(url("dashboard", region="320100")))

    def crumbs(html):
        return re.sub(r"<[^>]+>", " ", re.search(r'data-testid="breadcrumbs">(.*?)</nav>', html, re.S).group(1)).split()

    assert "全国" not in crumbs(jiangsu_nanjing) and "全国" in crumbs(ministry_nanjing)
    assert "江苏省" in crumbs(jiangsu_nanjing) and "南京市" in crumbs(ministry_nanjing)


@pytest.mark.parametrize("who, params, cold, warm", [
    # session, user, unread notices (header), [the user's region: jurisdiction]: then, on the
    # first request of a run version, which runs are published, the runs, [the scope's region],
    # the rows' cells, their names, the national cell (chart) (prefecture × division: + the
    # codes of the prefecture's cells); later requests serve the page's own blocks kept for
    # (runs, jurisdiction, region, tab, sort, language) and add one small query: which runs
    # are published
    ("ministry", {}, 8, 4),
    ("ministry", {"tab": "industries"}, 8, 4),
    ("ministry", {"tab": "key"}, 7, 4),  # no key-industry cells in this population: no names query
    ("jiangsu", {}, 10, 5),
    ("jiangsu", {"tab": "industries"}, 10, 5),
    ("jiangsu", {"region": "320100", "sort": "-mean"}, 10, 5),
    ("nanjing", {"tab": "industries"}, 11, 5),
])
def test_ranking_query_count(client, users, django_assert_num_queries, who, params, cold, warm):
    """The ranking page is served from per-run structures: no query per row, and at most two
    small ones (the reader's region, which runs are published) beyond session, user and header."""
    client.force_login(users[who])
    cache.clear()
    with django_assert_num_queries(cold):
        first = client.get(url("rankings", **params))
    assert first.status_code == 200
    with django_assert_num_queries(warm):
        again = client.get(url("rankings", **params))
    assert table_rows(text(again), "ranking-table") == table_rows(text(first), "ranking-table")


def test_ranking_queries_do_not_grow_with_the_rows(client, users, world, django_assert_max_num_queries):
    """The same page with more child regions costs the same number of queries."""
    from apps.indices.readers import public_memo

    client.force_login(users["ministry"])
    cache.clear()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        client.get(url("rankings", region="320100"))
    for code, name in (("320106", "鼓楼区"), ("320111", "浦口区"), ("320113", "栖霞区")):
        county((code, name))
        IndexCell.objects.create(run=world["run"], kind="county", code=code, parent_code="320100", n=0, registered=0)
    # a run's cells never change in real life; this test changes them, so forget them
    cache.clear()
    public_memo.clear()
    with django_assert_max_num_queries(len(few.captured_queries)):
        html = text(client.get(url("rankings", region="320100")))
    assert len(table_rows(html, "ranking-table")) == 6


# --- weakest indicators ----------------------------------------------------------------------------


def test_dashboard_and_report_show_the_weakest_indicators_with_their_questions(client, users, world):
    from decimal import Decimal

    from apps.frameworks.models import Indicator

    run = world["run"]
    cell = IndexCell.objects.get(run=run, kind="province", code="320000")
    nation = IndexCell.objects.get(run=run, kind="nation", code="CN")
    computed = {code: v for code, v in cell.indicator_means.items() if v is not None}
    assert computed  # the run computed them
    # three more indicators in the framework (the test framework has only four applicable)
    dimension = run.framework.dimensions.order_by("order").first()
    extra = {"X1": 1.5, "X2": 99.0, "X3": 2.5}
    for i, code in enumerate(extra):
        Indicator.objects.create(framework=run.framework, dimension=dimension, code=code, order=90 + i, kind="yesno",
                                 question=f"是否已建立质量问题{code}的闭环处理机制？", weight=Decimal("0.1"))
    means = {**cell.indicator_means, **extra, "XN": None}  # XN: applies to no filing here
    IndexCell.objects.filter(pk=cell.pk).update(indicator_means=means)
    from apps.indices.readers import public_memo

    cache.clear()  # a run's cells never change in real life; this test changes one
    public_memo.clear()
    applicable = sorted(((v, c) for c, v in means.items() if v is not None))
    expected = [c for _v, c in applicable[:5]]
    questions = dict(Indicator.objects.filter(framework=run.framework).values_list("code", "question"))

    client.force_login(users["jiangsu"])
    for page in ("dashboard", "report"):
        html = text(client.get(url(page)))
        assert "最需提升的指标" in html, page
        rows = table_rows(html, "weakest-indicators")
        assert [r["code"] for r in rows] == expected, page
        for r in rows:
            assert r["question"] == questions[r["code"]] and r["question"], page
            assert r["mean"] == f"{means[r['code']]:.1f}", page
            national = nation.indicator_means.get(r["code"])
            assert r["national"] == (f"{national:.1f}" if national is not None else "—"), page
        assert "XN" not in {r["code"] for r in rows} and "X2" not in {r["code"] for r in rows}
    assert "已发布的指数批次只包含维度均值" not in html


def test_indicator_means_of_a_too_small_county_are_not_kept(client, users, world):
    """An indicator mean resting on fewer filings than a publishable cell would be (close
    to) one firm's score, so the run does not keep it — not even for the county's own
    authority, who still sees the county's other internal values."""
    run = world["run"]
    small = IndexCell.objects.get(run=run, kind="county", code="320105")
    assert small.suppressed and small.n < 5
    assert all(v is None for v in small.indicator_means.values())
    client.force_login(users["nanjing"])  # its authority (prefecture): internal values, marked
    html = text(client.get(url("dashboard", region="320105")))
    assert 'data-testid="weakest-indicators"' not in html
    assert 'data-testid="no-indicator-means"' in html and "少于5家" in html
    assert 'data-testid="confidential-banner"' in html