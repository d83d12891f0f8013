"""Browser journeys of the review: a two-level review chain end to end (the county passes
on, the prefecture accepts, the enterprise sees the acceptance), and the compact review
page — a hint as a link to its item, "退回此项" on one item, the sticky decision bar, and
after the resubmission the items changed since the return with the earlier reason."""

import re

import pytest
from playwright.sync_api import expect

from apps.filings import services
from apps.filings.models import ReviewChainChoice, Submission, SubmissionStatus
from tests.browser.helpers import login as _login
from tests.factories import (
    NANJING,
    XUANWU,
    EnterpriseFactory,
    authority_user,
    county,
    enterprise_user,
    industry,
    prefecture,
)
from tests.filings.builders import COMPLETE, open_period

pytestmark = [pytest.mark.browser]

DESKTOP = {"width": 1400, "height": 900}
PHONE = {"width": 390, "height": 844}


def _world(chain=ReviewChainChoice.ONE_LEVEL, answers=COMPLETE):
    period = open_period()
    period.review_chain = chain
    period.save()
    ent = EnterpriseFactory(region=county(XUANWU), industry=industry("39"), name="南京示范电子有限公司")
    filer = enterprise_user(ent, username="filer", first_name="填报员")
    authority_user(county(XUANWU), username="xuanwu", first_name="玄武区工信局")
    authority_user(prefecture(NANJING), username="nanjing", first_name="南京市工信局")
    sub = services.submission_start(enterprise=ent, period=period, user=filer)
    sub, errors = services.submission_save_answers(submission=sub, user=filer, answers=answers, revision=sub.revision)
    assert errors == {}
    services.submission_submit(submission=sub, user=filer, pledge=True)
    return sub, filer


def _both_widths(page, screenshot, name):
    page.set_viewport_size(PHONE)
    screenshot(page, f"{name}-390")
    page.set_viewport_size(DESKTOP)
    screenshot(page, f"{name}-1400")


def test_two_level_chain_county_passes_on_prefecture_accepts(page, live_server, transactional_db, screenshot):
    sub, _filer = _world(chain=ReviewChainChoice.TWO_LEVEL)
    page.set_viewport_size(DESKTOP)

    _login(page, live_server, "nanjing")  # the prefecture must wait for the county
    page.goto(f"{live_server.url}/filings/{sub.pk}/")
    expect(page.get_by_test_id("stage")).to_have_text("待县级主管部门初审（两级审核）")
    expect(page.get_by_test_id("not-your-stage")).to_be_visible()
    expect(page.get_by_role("button", name="审核通过")).to_have_count(0)

    _login(page, live_server, "xuanwu")
    page.get_by_role("link", name="填报审核").click()
    queue = page.get_by_test_id("queue")
    expect(queue).to_contain_text("待县级主管部门初审")
    queue.get_by_role("link", name="南京示范电子有限公司").click()
    expect(page.get_by_role("button", name="审核通过")).to_have_count(0)  # a county cannot accept alone
    page.get_by_label("审核意见（可选）").fill("材料齐全，同意转报")
    _both_widths(page, screenshot, "review-chain-county")
    page.get_by_role("button", name="初审通过，转报地市").click()
    expect(page.locator(".message-success")).to_contain_text("已初审通过，转报地市级主管部门审核")
    expect(page.get_by_test_id("stage")).to_have_text("县级已初审转报，待地市级审核（两级审核）")

    _login(page, live_server, "nanjing")
    page.get_by_role("link", name="填报审核").click()
    page.get_by_test_id("queue").get_by_role("link", name="南京示范电子有限公司").click()
    expect(page.get_by_test_id("stage")).to_have_text("县级已初审转报，待地市级审核（两级审核）")
    page.get_by_role("button", name="审核通过").click()
    expect(page.get_by_test_id("status")).to_have_text("审核通过")
    assert Submission.objects.get().status == SubmissionStatus.ACCEPTED

    _login(page, live_server, "filer")
    expect(page.get_by_test_id("filing-status")).to_have_text("审核通过")
    page.goto(f"{live_server.url}/filings/{sub.pk}/")
    events = page.get_by_test_id("events")
    expect(events).to_contain_text("初审通过，转报上级")
    expect(events).to_contain_text("材料齐全，同意转报")
    expect(events).to_contain_text("审核通过")


def test_compact_page_return_this_item_and_changed_since_return(page, live_server, transactional_db, screenshot):
    sub, filer = _world(answers={**COMPLETE, "R1": "5"})  # R1 at level 5 without evidence: a hint
    page.set_viewport_size(DESKTOP)
    _login(page, live_server, "nanjing")
    page.goto(f"{live_server.url}/filings/{sub.pk}/")
    d2 = page.get_by_test_id("dim-D2")
    # the hint is a link to its item, in its (open) group
    page.get_by_test_id("flags").get_by_role("link", name=re.compile("R1")).click()
    expect(page).to_have_url(re.compile(r"#ind-R1$"))
    expect(page.get_by_test_id("item-R1")).to_be_in_viewport()
    # D2 starts collapsed: its items are not shown until opened
    expect(page.get_by_test_id("item-K1")).to_be_hidden()
    d2.locator("summary").first.click()
    expect(page.get_by_test_id("item-K1")).to_be_visible()
    # no reason box until "退回此项"
    expect(page.get_by_label("K1 的退回原因")).to_be_hidden()
    page.get_by_test_id("return-K1").get_by_text("退回此项").click()
    page.get_by_label("K1 的退回原因").fill("一次交检合格率与统计年报不一致，请核对后修改。")
    bar = page.get_by_test_id("decision-bar")
    expect(bar).to_contain_text("已填写 1 条退回原因")
    expect(bar).to_be_in_viewport()  # the decision bar stays in view (sticky)
    _both_widths(page, screenshot, "review-compact-return")
    bar.get_by_role("button", name="退回修改").click()
    expect(page.get_by_test_id("status")).to_have_text("退回修改")

    sub.refresh_from_db()
    sub, _ = services.submission_save_answers(submission=sub, user=filer, answers={"K1": "96.2"}, revision=sub.revision)
    services.submission_submit(submission=sub, user=filer, pledge=True)

    page.goto(f"{live_server.url}/filings/{sub.pk}/")
    expect(page.get_by_test_id("changes")).to_contain_text("修改了 1 项答案或证明材料")
    page.get_by_test_id("only-changed").click()
    items = page.locator("[data-testid^=item-]")
    expect(items).to_have_count(1)
    expect(page.get_by_test_id("item-K1")).to_contain_text("退回后已修改")
    expect(page.get_by_test_id("earlier-K1")).to_contain_text("一次交检合格率与统计年报不一致")
    expect(page.get_by_test_id("earlier-answer-K1")).to_contain_text("95 %")
    _both_widths(page, screenshot, "review-changed-since-return")
    page.get_by_role("button", name="审核通过").click()
    expect(page.get_by_test_id("status")).to_have_text("审核通过")
