"""Browser journeys (real Chromium) on the demo data: the public policy list, the tracking
dashboard of a province authority (charts drawn, off-track first, A4 print) and the
support-impact page."""

import re

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from tests.browser.helpers import login

pytestmark = [pytest.mark.browser]

DEMO_PASSWORD = "Demo-Portal-2026"


@pytest.fixture
def demo(transactional_db):
    call_command("load_reference", verbosity=0)
    call_command("load_framework", "fixtures/frameworks/qmd-2026.1.json", "--publish", verbosity=0)
    call_command("load_demo", "--enterprises", "150", stdout=open("/dev/null", "w"))


def _login(page, live_server, username):
    login(page, live_server, username, DEMO_PASSWORD)


def test_public_policy_list_search_and_page(page, live_server, demo, screenshot, platform_fonts):
    page.goto(live_server.url + "/")
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="政策跟踪").click()
    rows = page.get_by_test_id("policy-list").locator("tbody tr")
    expect(rows).to_have_count(4)
    page.wait_for_load_state("networkidle")  # the list is complete before fonts are asked for
    fonts = platform_fonts(page, "h1")
    assert any("CJK SC" in f for f in fonts), fonts
    screenshot(page, "policies-list")
    page.get_by_label("关键词").fill("培训")
    page.get_by_role("button", name="筛选").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("浙江省质量管理数字化专项培训计划")
    page.get_by_label("关键词").fill("")
    page.get_by_label("状态").select_option(label="已被替代")
    page.get_by_role("button", name="筛选").click()
    expect(rows).to_have_count(1)
    rows.first.get_by_role("link").click()
    expect(page.get_by_test_id("policy-chain")).to_contain_text("2025—2027")
    page.get_by_test_id("policy-chain").get_by_role("link").click()
    expect(page.get_by_test_id("policy-title")).to_contain_text("2025—2027")
    expect(page.get_by_test_id("policy-targets").locator("tbody tr")).to_have_count(2)
    expect(page.get_by_test_id("policy-reach")).to_contain_text("家企业")
    expect(page.get_by_test_id("reach-enterprises")).to_have_count(0)  # the public sees counts only
    screenshot(page, "policies-detail")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "policies-detail-390")


def test_tracking_dashboard_charts_and_print(page, live_server, demo, screenshot, tmp_path):
    _login(page, live_server, "jiangsu")
    page.goto(live_server.url + "/policies/tracking/")
    tracks = page.get_by_test_id("track")
    expect(tracks.first).to_be_visible()
    expect(tracks.first.get_by_test_id("status-off_track")).to_be_visible()
    assert tracks.count() >= 2
    for i in range(tracks.count()):
        expect(tracks.nth(i).locator(".track-chart svg")).to_have_count(1)
    chart_text = tracks.first.locator(".track-chart svg").inner_html()
    assert "实际值" in chart_text and "目标值" in chart_text
    expect(page.get_by_test_id("status-on_track").first).to_be_visible()
    page.set_viewport_size({"width": 1400, "height": 900})
    screenshot(page, "policies-tracking")
    # the progress note form
    tracks.first.locator("textarea").fill("已安排专项诊断服务，下一期复核。")
    tracks.first.get_by_role("button", name="保存").click()
    expect(page.locator(".messages")).to_contain_text("进展说明已保存")
    expect(page.get_by_test_id("track").first).to_contain_text("已安排专项诊断服务")
    # printable A4: navigation and forms are left out
    page.emulate_media(media="print")
    expect(page.locator(".main-nav")).to_be_hidden()
    expect(page.locator("form.row-inline").first).to_be_hidden()
    pdf = tmp_path / "tracking.pdf"
    page.pdf(path=str(pdf), format="A4")
    assert pdf.stat().st_size > 10_000
    page.emulate_media(media="screen")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "policies-tracking-390")


def test_support_impact_page(page, live_server, demo, screenshot):
    _login(page, live_server, "ministry")
    page.goto(live_server.url + "/policies/impact/")
    form = page.get_by_test_id("impact-form")
    form.get_by_label("政策").select_option(label="江苏省制造业质量管理数字化提升行动方案（2025—2027年）（演示）")
    form.get_by_role("button", name="计算").click()
    result = page.get_by_test_id("impact-result")
    expect(result).to_be_visible()
    expect(result.get_by_test_id("association-note")).to_contain_text("不是因果证明")
    if result.get_by_test_id("did").count():
        expect(result.get_by_test_id("did")).to_have_text(re.compile(r"^-?\d+\.\d\d$"))
        expect(result.get_by_test_id("n-treated")).to_have_text(re.compile(r"^\d+$"))
        expect(result).to_contain_text("95% 置信区间")
    else:
        expect(result.get_by_test_id("not-enough")).to_contain_text("数据不足")
    page.set_viewport_size({"width": 1400, "height": 900})
    screenshot(page, "policies-impact")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "policies-impact-390")


def test_province_dashboard_lists_its_policy_targets_and_links_to_tracking(page, live_server, demo, screenshot):
    """Links both ways: 江苏's insights dashboard shows its policy targets, off-track first,
    and leads to the tracking page of the region."""
    _login(page, live_server, "jiangsu")
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(live_server.url + "/insights/")
    section = page.get_by_test_id("region-policies")
    expect(section.get_by_test_id("region-target").first).to_be_visible()
    statuses = section.locator("[data-testid^=status-]").evaluate_all("els => els.map(e => e.dataset.testid)")
    order = {"status-off_track": 0, "status-at_risk": 1, "status-on_track": 2}
    assert [order.get(s, 3) for s in statuses] == sorted(order.get(s, 3) for s in statuses)
    section.scroll_into_view_if_needed()
    screenshot(page, "insights-dashboard-policies")
    section.screenshot(path="screenshots/insights-dashboard-policies-section.png")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "insights-dashboard-policies-390")
    section.screenshot(path="screenshots/insights-dashboard-policies-section-390.png")
    section.get_by_role("link", name=re.compile("查看全部")).click()
    expect(page).to_have_url(re.compile(r"/policies/tracking/\?region=320000"))
    expect(page.get_by_test_id("track").first).to_be_visible()
