"""Browser journeys of a visitor (no log-in) through the public indices: rankings with the bar
chart and the table, industries, trends and the method; screenshots looked at by a person."""

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from apps.indices.readers import public_memo
from apps.indices.services import index_run_publish
from tests.indices.test_index_runs import inline_run
from tests.insights.test_public import populate

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def published():
    cache.clear()
    public_memo.clear()
    p2025, p2026 = populate()
    index_run_publish(run=inline_run(p2025), user=None)
    run = index_run_publish(run=inline_run(p2026), user=None)
    yield run
    cache.clear()
    public_memo.clear()


def test_visitor_reads_rankings_then_industries(page, live_server, screenshot, published):
    run = published
    page.goto(live_server.url + "/")
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="公开数据").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("2026年度")
    expect(page.get_by_test_id("national-mean")).to_be_visible()
    expect(page.get_by_test_id("public-note")).to_contain_text(f"发布的{run.period.name}指数")
    screenshot(page, "public-home")

    page.get_by_role("navigation", name="公开数据栏目").get_by_role("link", name="地区排名").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("地区排名")
    chart = page.get_by_test_id("ranking-chart")
    expect(chart.locator("svg")).to_have_count(1)
    expect(chart.locator("svg text", has_text="江苏省")).to_have_count(1)
    table = page.get_by_test_id("ranking-table")
    expect(table.locator("tbody tr")).to_have_count(4)
    beijing = table.locator('tr[data-code="110000"]')
    expect(beijing).to_contain_text("不公开")  # one public reason for every hidden cell (issue 8)
    expect(beijing).to_contain_text(f"#{run.pk}")
    expect(table.locator("tbody tr").first).to_contain_text("1")
    screenshot(page, "public-provinces")

    page.get_by_role("link", name="行业排名").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("行业排名")
    expect(page.get_by_test_id("ranking-chart").locator("svg")).to_have_count(1)
    expect(page.get_by_test_id("ranking-table")).to_contain_text("汽车制造业")
    screenshot(page, "public-industries")

    page.get_by_label("期次").select_option(label="2025年度")
    expect(page.get_by_role("heading", level=1)).to_contain_text("2025年度")
    expect(page).to_have_url(live_server.url + "/open/industries/?period=2025")

    page.get_by_role("link", name="历年趋势").click()
    page.get_by_label("对比省份").select_option(label="江苏省")
    expect(page.get_by_test_id("trend-chart").locator("svg")).to_have_count(1)
    expect(page.get_by_test_id("trend-table").locator("tbody tr")).to_have_count(2)
    screenshot(page, "public-trends")

    page.get_by_role("link", name="数据公开与隐藏规则").click()
    expect(page.get_by_test_id("method")).to_contain_text("统计法》第二十五条")
    expect(page.locator(":target")).to_contain_text("哪些数据不公开")
    page.screenshot(path=str(screenshot(page, "public-method").with_name("public-method-rules.png")))
