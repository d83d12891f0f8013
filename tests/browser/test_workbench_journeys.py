"""Browser journeys of platform staff and of every role's first screen."""

import re

import pytest
from playwright.sync_api import expect

from apps.accounts.models import Role
from apps.indices.models import IndexRun
from tests.browser.helpers import login as _login
from tests.factories import UserFactory
from tests.indices.population import build

pytestmark = [pytest.mark.browser]


@pytest.mark.worker
def test_ministry_starts_watches_previews_and_publishes_a_run(page, live_server, celery_worker, screenshot):
    build(n=30)
    UserFactory(role=Role.MINISTRY, is_staff=True, username="ministry", first_name="部委工作人员")
    _login(page, live_server, "ministry")
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="指数计算").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("指数计算")
    page.get_by_test_id("periods").get_by_role("button", name="计算2026年度指数").click()
    # the progress fragment polls until the worker has finished, then offers the changes
    expect(page.get_by_test_id("see-changes")).to_be_visible(timeout=120_000)
    screenshot(page, "ministry-run-done")
    page.get_by_test_id("see-changes").click()
    expect(page.get_by_test_id("change-summary")).to_be_visible()
    page.get_by_test_id("publish-link").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("发布2026年度指数")
    page.get_by_test_id("confirm").check()
    screenshot(page, "ministry-run-publish")
    page.get_by_role("button", name="确认发布").click()
    expect(page.locator(".message-success")).to_contain_text("已发布")
    assert IndexRun.objects.get(period__code="2026").is_published
    page.get_by_role("link", name="指数计算").first.click()
    expect(page.get_by_test_id("periods").get_by_role("row").filter(has_text="2026年度")).to_contain_text(
        re.compile(r"计算编号 \d+")
    )


def test_each_role_lands_on_its_workbench_with_its_counts(page, live_server, transactional_db, screenshot):
    from tests.core.workbench_world import RETURN_REASON, build_world

    world = build_world()

    _login(page, live_server, "nanjing")
    expect(page.get_by_role("heading", level=1)).to_have_text("南京市 · 我的工作台")
    expect(page.get_by_test_id("pending")).to_have_text("2")
    expect(page.get_by_test_id("returned")).to_have_text("1")
    expect(page.get_by_test_id("overdue")).to_have_text("0")
    expect(page.get_by_test_id("not-filed")).to_have_text("1")
    expect(page.get_by_test_id("coverage-pct")).to_have_text("16.7%")
    screenshot(page, "workbench-authority")
    page.get_by_role("link", name="去审核").click()
    expect(page.get_by_test_id("total")).to_contain_text("共 2 份")

    _login(page, live_server, "filer-x2")
    expect(page.get_by_test_id("filing-status")).to_have_text("退回修改")
    expect(page.get_by_test_id("returned-items")).to_contain_text(RETURN_REASON)
    expect(page.get_by_test_id("unread-count")).to_contain_text("1")  # the notice of the return
    expect(page.get_by_test_id("notices")).to_contain_text("被退回修改（1 项需修改）")
    screenshot(page, "workbench-enterprise")
    page.get_by_test_id("next-action").click()
    sub = world["submissions"]["x2"]
    expect(page).to_have_url(re.compile(rf"/filings/{sub.pk}/step/D2/#ind-K1$"))

    _login(page, live_server, "expert")
    expect(page.get_by_test_id("no-reviews")).to_be_visible()
    screenshot(page, "workbench-expert")

    _login(page, live_server, "ministry")
    expect(page.get_by_test_id("pending-total")).to_have_text("3")
    expect(page.get_by_test_id("active-runs")).to_have_text("0")
    expect(page.get_by_test_id("worker-state")).to_have_text("无心跳")
    expect(page.get_by_test_id("bench-periods")).to_contain_text("2026年度")
    screenshot(page, "workbench-ministry")


def test_disabled_submit_looks_disabled_and_continue_goes_to_the_first_gap(page, live_server, transactional_db, screenshot):
    from apps.filings import services
    from tests.factories import XUANWU, EnterpriseFactory, county, enterprise_user
    from tests.filings.builders import open_period

    period = open_period()
    filer = enterprise_user(EnterpriseFactory(region=county(XUANWU)), username="filer")
    sub = services.submission_start(enterprise=filer.enterprise, period=period, user=filer)
    services.submission_save_answers(submission=sub, user=filer, revision=sub.revision, answers={"R1": "3", "C1": ["a"]})
    _login(page, live_server, "filer")
    page.goto(live_server.url + f"/filings/{sub.pk}/check/")
    button = page.get_by_role("button", name="提交审核")
    expect(button).to_be_disabled()
    style = button.evaluate("b => [getComputedStyle(b).cursor, getComputedStyle(b).backgroundColor]")
    assert style == ["not-allowed", "rgb(201, 205, 210)"], style
    screenshot(page, "filing-check-disabled")
    page.goto(live_server.url + "/filings/")
    page.get_by_test_id("continue").click()
    expect(page).to_have_url(re.compile(rf"/filings/{sub.pk}/step/D2/#ind-K1$"))
    page.get_by_label("K1").fill("abc")
    page.get_by_label("K1").blur()
    expect(page.get_by_test_id("error-K1")).to_be_visible()  # beside the field, not only in the status line
    expect(page.get_by_label("K1")).to_have_value("abc")
