"""In a real browser under the Content-Security-Policy: the charts and page behaviours still
work (no script refused), and a user manages API tokens on their page."""

import re

import pytest
from playwright.sync_api import expect

from tests.factories import authority_user, province
from tests.insights.test_authority_pages import make_world

pytestmark = [pytest.mark.browser]


def _login(page, live_server, username):
    page.context.clear_cookies()
    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill("Portal-Test-2026")
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_test_id("user-chip")).to_be_visible()


def test_pages_run_under_the_csp_and_tokens_are_managed(page, live_server, transactional_db, screenshot):
    make_world()
    authority_user(province(), username="jiangsu", first_name="江苏省工信厅")
    refused = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)

    page.goto(live_server.url + "/open/provinces/")
    expect(page.get_by_test_id("ranking-chart").locator("svg")).to_have_count(1)
    # the period select submits itself (data-autosubmit, no inline handler)
    _login(page, live_server, "jiangsu")
    page.goto(live_server.url + "/insights/")
    expect(page.get_by_test_id("radar-chart").locator("svg")).to_have_count(1)
    page.goto(live_server.url + "/insights/report/")
    expect(page.locator("[data-chart]").first.locator("svg")).to_have_count(1)
    assert refused == [], refused

    page.get_by_role("navigation", name="主导航").get_by_role("link", name="API 令牌").click()
    page.get_by_label("令牌名称（可空，例如用途）").fill("数据报送脚本")
    page.get_by_role("button", name="创建新令牌").click()
    key = page.get_by_test_id("new-token").locator("code").inner_text()
    assert re.fullmatch(r"[0-9a-f]{40}", key)
    rows = page.get_by_test_id("tokens").locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("从未使用")
    page.set_viewport_size({"width": 1400, "height": 900})
    screenshot(page, "api-tokens-1400")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "api-tokens-390")
    page.set_viewport_size({"width": 1400, "height": 900})
    rows.first.get_by_role("button", name="撤销").click()
    expect(page.get_by_test_id("tokens").locator("tbody tr").first).to_contain_text("用户撤销")
    assert refused == [], refused
