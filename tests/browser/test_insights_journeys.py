"""Browser journey of a province authority through the insights pages: dashboard, ranking,
drill-down province → prefecture → county, breadcrumbs back up, exports (downloads)."""

import csv
import io
import re

import openpyxl
import pytest
from playwright.sync_api import expect

from tests.browser.helpers import login as _login
from tests.factories import authority_user, province
from tests.insights.test_authority_pages import make_world

pytestmark = [pytest.mark.browser]


def _chart_drawn(page, test_id):
    chart = page.get_by_test_id(test_id)
    expect(chart.locator("svg")).to_have_count(1)
    expect(chart.locator("svg text").first).to_be_attached()


def test_province_authority_drills_down_and_exports(page, live_server, transactional_db, screenshot, platform_fonts, tmp_path):
    make_world()
    authority_user(province(), username="jiangsu", first_name="江苏省工信厅")
    _login(page, live_server, "jiangsu")

    page.get_by_role("navigation", name="主导航").get_by_role("link", name="数据分析").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("江苏省 · 概览")
    expect(page.get_by_test_id("mean")).to_have_text(re.compile(r"^\d+\.\d$"))
    expect(page.get_by_test_id("footnote")).to_contain_text(re.compile(r"数据来自 \d{4}-\d{2}-\d{2} \d{2}:\d{2} 发布的2026年度指数"))
    _chart_drawn(page, "radar-chart")
    _chart_drawn(page, "level-chart")
    assert any("CJK SC" in f for f in platform_fonts(page, "h1")), "Chinese must render with a CJK SC font"
    radar_text = page.get_by_test_id("radar-chart").locator("svg").inner_html()
    assert "工作机制" in radar_text and "全国" in radar_text
    screenshot(page, "insights-dashboard")

    page.get_by_role("link", name="排名", exact=True).click()
    table = page.get_by_test_id("ranking-table")
    expect(table.locator("tbody tr")).to_have_count(2)
    _chart_drawn(page, "ranking-chart")
    screenshot(page, "insights-rankings")

    # sort by index, highest first (server-side)
    table.get_by_role("link", name="综合指数").click()
    expect(page).to_have_url(re.compile(r"sort=-mean"))
    expect(page.get_by_test_id("ranking-table").locator("th[aria-sort]")).to_contain_text("综合指数")

    # drill: province → prefecture (row click) → county
    page.get_by_test_id("ranking-table").get_by_role("row").filter(has_text="南京市").locator("td").nth(2).click()
    expect(page.get_by_test_id("breadcrumbs")).to_contain_text("江苏省 › 南京市")
    rows = page.get_by_test_id("ranking-table").locator("tbody tr")
    expect(rows).to_have_count(3)
    expect(page.get_by_test_id("ranking-table").get_by_role("row").filter(has_text="建邺区")).to_contain_text("内部数据，不公开")
    screenshot(page, "insights-rankings-nanjing")

    with page.expect_download() as info:
        page.get_by_test_id("export-regions").get_by_role("link", name="Excel (XLSX)").click()
    download = info.value
    assert download.suggested_filename.endswith(".xlsx") and "regions" in download.suggested_filename
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    sheet = openpyxl.load_workbook(path, read_only=True).active
    values = [r for r in sheet.iter_rows(values_only=True)]
    assert values[0][:3] == ("期次", "数据发布时间", "范围") and "隐藏原因" in values[0]
    names = {r[3] for r in values[1:]}
    assert names == {"玄武区", "秦淮区", "建邺区"}

    page.get_by_test_id("ranking-table").get_by_role("link", name="玄武区").click()
    expect(page.get_by_test_id("breadcrumbs")).to_contain_text("江苏省 › 南京市 › 玄武区")
    expect(page.get_by_role("heading", level=1)).to_contain_text("玄武区 · 概览")
    _chart_drawn(page, "radar-chart")
    screenshot(page, "insights-dashboard-county")
    with page.expect_download() as info:
        page.get_by_test_id("export-dimensions").get_by_role("link", name="CSV").click()
    download = info.value
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows and set(rows[0]) >= {"期次", "数据发布时间", "维度", "玄武区", "南京市", "全国"}

    # breadcrumbs back up to the province
    page.get_by_test_id("breadcrumbs").get_by_role("link", name="江苏省").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("江苏省 · 概览")

    page.get_by_role("link", name="趋势", exact=True).click()
    page.get_by_test_id("peers-form").get_by_label("浙江省").check()
    page.get_by_test_id("peers-form").get_by_role("button", name="对比").click()
    expect(page.get_by_test_id("trend-table").locator("tbody tr")).to_have_count(4)
    _chart_drawn(page, "trend-chart")
    _chart_drawn(page, "share-chart")
    screenshot(page, "insights-trends")

    page.get_by_role("link", name="企业名单", exact=True).click()
    page.get_by_test_id("not-filed-link").click()
    expect(page.get_by_test_id("coverage-gaps")).to_be_visible()
    expect(page.get_by_test_id("enterprise-table")).to_contain_text("未填报")
    screenshot(page, "insights-enterprises-not-filed")
    with page.expect_download() as info:
        page.get_by_test_id("export-enterprises").get_by_role("link", name="CSV").click()
    raw = info.value.path().read_bytes() if hasattr(info.value.path(), "read_bytes") else open(info.value.path(), "rb").read()
    assert raw.startswith(b"\xef\xbb\xbf") and "未填报" in raw.decode("utf-8-sig")

    page.get_by_role("link", name="数据地图").click()
    expect(page.get_by_test_id("report")).to_contain_text("另存为 PDF")
    page.emulate_media(media="print")
    screenshot(page, "insights-report-print")
