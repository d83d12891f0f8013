"""Browser journeys of pilot selection (Playwright + Debian's chromium): an enterprise applies
(autosave, character counter, submit), its province recommends within the quota, an expert
reviews (others' scores hidden until its own is in), and the public files an objection on
the notice page. Screenshots at 1400 px and 390 px wide."""

import pytest
from playwright.sync_api import expect

from apps.pilots import services
from apps.pilots.models import Application, ApplicationStatus, Assignment, Objection
from apps.pilots.services import count_chars
from tests.browser.helpers import login as _login
from tests.factories import authority_user, enterprise_user, province
from tests.pilots.builders import diagnosed_enterprise, expert, make_call, move_to, staff, submitted_application

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _shots(page, screenshot, name):
    page.set_viewport_size({"width": 1400, "height": 900})
    screenshot(page, f"pilots-{name}-1400")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, f"pilots-{name}-390")
    page.set_viewport_size({"width": 1280, "height": 900})


def test_enterprise_applies_with_autosave_and_submits(page, live_server, screenshot):
    make_call("application")
    enterprise_user(diagnosed_enterprise(name="南京示范精密制造有限公司"), username="applicant")
    _login(page, live_server, "applicant")
    page.get_by_role("link", name="试点示范").first.click()
    page.get_by_role("button", name="申报").click()
    expect(page.get_by_test_id("status")).to_have_text("草稿")
    page.get_by_label("具有独立法人资格").check()
    expect(page.get_by_test_id("save-status")).to_contain_text("已自动保存")
    page.get_by_label("近三年信用良好").check()
    page.get_by_label("近三年未发生重大安全、质量事故").check()
    first = page.get_by_test_id("scenario-1")
    first.get_by_label("场景名称").fill("来料检验数据自动采集与判定")
    first.get_by_label("场景层级").select_option("lifecycle")
    first.get_by_label("料").check()
    text = "通过 LIMS 与供应商质量数据对接。\n来料检验数据自动采集、判定并追溯。"
    with page.expect_response(lambda r: "/autosave/" in r.url and "LIMS" in (r.request.post_data or "")) as saved:
        first.get_by_label("场景描述").fill(text)
    assert saved.value.status == 200
    expect(first.locator(".char-count")).to_have_text(f"{count_chars(text)} / 3000")
    expect(page.get_by_test_id("save-status")).to_contain_text("已自动保存")
    app = Application.objects.get()
    assert app.scenarios.get().title == "来料检验数据自动采集与判定"  # saved by autosave alone
    _shots(page, screenshot, "apply")
    page.get_by_role("button", name="提交申报").click()
    expect(page.get_by_test_id("status")).to_have_text("已申报")
    expect(page.get_by_test_id("events")).to_contain_text("提交申报")


def test_province_recommends_within_its_quota(page, live_server, screenshot):
    call = make_call("application", quota_per_unit=1)
    for name in ("南京甲电子有限公司", "南京乙材料有限公司"):
        submitted_application(call, enterprise_user(diagnosed_enterprise(name=name)))
    move_to(call, "recommendation")
    authority_user(province(), username="jiangsu", first_name="江苏省工信厅")
    _login(page, live_server, "jiangsu")
    page.goto(f"{live_server.url}/pilots/calls/{call.pk}/recommend/")
    expect(page.get_by_test_id("quota")).to_contain_text("已推荐 0 个，名额 1 个")
    _shots(page, screenshot, "recommend")
    page.get_by_role("row", name="南京甲电子有限公司").get_by_role("button", name="推荐").click()
    expect(page.get_by_test_id("quota")).to_contain_text("已推荐 1 个，名额 1 个")
    page.get_by_role("row", name="南京乙材料有限公司").get_by_role("button", name="推荐").click()
    expect(page.get_by_role("status")).to_contain_text("名额（1 个）已用完")
    assert Application.objects.filter(status=ApplicationStatus.RECOMMENDED).count() == 1


def test_expert_reviews_blind_until_submitting(page, live_server, screenshot):
    call = make_call("application", reviewers_per_application=2)
    app = submitted_application(call, enterprise_user(diagnosed_enterprise(name="苏州示范装备有限公司")))
    move_to(call, "recommendation")
    services.application_recommend(application=app, user=authority_user(province()))
    move_to(call, "eligibility")
    boss = staff()
    services.application_check_eligibility(application=app, user=boss, passed=True)
    first = expert(name="张专家", employer="东南大学")
    second = expert(name="李专家", employer="浙江大学")
    first.user.username, second.user.username = "expert1", "expert2"
    first.user.save()
    second.user.save()
    services.assignment_auto(call=call, user=boss)
    move_to(call, "review")
    asg = Assignment.objects.get(expert=second)
    services.review_save(assignment=Assignment.objects.get(expert=first), user=first.user,
                         scores={"innovation": 88, "benefit": 84, "replicable": 80}, comment="数据链路完整", submit=True)
    _login(page, live_server, "expert2")
    page.get_by_role("link", name="试点示范").first.click()
    page.get_by_test_id("my-reviews").get_by_role("link", name="评审").click()
    expect(page.get_by_test_id("other-reviews")).to_contain_text("提交您的评审后可查看")
    expect(page.locator("body")).not_to_contain_text("数据链路完整")
    page.get_by_label("创新性").fill("70")
    page.get_by_label("实施成效").fill("75")
    page.get_by_label("可复制推广").fill("6O")
    page.get_by_label("评审意见").fill("推广价值一般")
    page.get_by_role("button", name="提交评审").click()
    expect(page.get_by_role("status")).to_contain_text("必须是数字")
    expect(page.get_by_label("创新性")).to_have_value("70")  # nothing typed is lost
    expect(page.get_by_label("评审意见")).to_have_value("推广价值一般")
    page.get_by_label("可复制推广").fill("60")
    _shots(page, screenshot, "review")
    page.get_by_role("button", name="提交评审").click()
    expect(page.get_by_test_id("other-reviews")).to_contain_text("数据链路完整")
    assert asg.__class__.objects.get(pk=asg.pk).review.submitted_at is not None


def test_public_notice_with_an_objection(page, live_server, screenshot):
    call = make_call("notice")
    app = Application.objects.create(
        call=call, enterprise=diagnosed_enterprise(name="无锡示范新材料有限公司"), recommending_unit=province(),
        status=ApplicationStatus.PROPOSED, created_by=staff())
    page.goto(f"{live_server.url}/pilots/notices/{call.pk}/")
    expect(page.get_by_test_id("public-list")).to_contain_text("无锡示范新材料有限公司")
    page.get_by_role("button", name="提交异议").click()
    expect(page.locator("#objection")).to_contain_text("不受理匿名异议")
    page.get_by_label("姓名").fill("王五")
    page.get_by_label("联系电话").fill("13800000000")
    page.get_by_label("异议内容").fill("该企业近三年曾发生质量事故，请核实。")
    _shots(page, screenshot, "notice")
    page.get_by_role("button", name="提交异议").click()
    expect(page.get_by_role("status")).to_contain_text("您的异议已收到")
    assert Objection.objects.get().application_id == app.pk
    expect(page.locator("body")).not_to_contain_text("王五")


def test_case_library_search_filter_and_case_page(page, live_server, screenshot):
    from apps.pilots.models import Case, CaseStatus
    from tests.factories import HANGZHOU, XIHU, county, key_industry

    ind = key_industry()
    for title, solution, region, level in [
        ("来料检验数据自动采集", "LIMS 与供应商质量数据对接，实现全流程质量追溯。", county(), "lifecycle"),
        ("设备预测性维护", "振动监测预警，非计划停机减少。", county(XIHU, HANGZHOU), "value_chain"),
    ]:
        case = Case.objects.create(
            title=title, enterprise_display="某电子制造企业", scenario_level=level, elements=["measurement"], region=region,
            key_industry=ind, problem="人工记录，追溯困难。", solution=solution,
            results=[{"metric": "一次交检合格率", "before": 95.1, "after": 98.6, "unit": "%"}])
        case.status = CaseStatus.PUBLISHED
        case.save()
    page.goto(live_server.url + "/pilots/cases/")
    expect(page.get_by_test_id("case-count")).to_contain_text("共 2 个案例")
    page.get_by_label("关键词").fill("质量追溯")
    page.get_by_role("button", name="检索").click()
    expect(page.get_by_test_id("case-count")).to_contain_text("共 1 个案例")
    expect(page.get_by_test_id("case-list")).to_contain_text("来料检验数据自动采集")
    page.get_by_label("关键词").fill("")
    page.get_by_label("场景层级").select_option("value_chain")
    page.get_by_role("button", name="检索").click()
    expect(page.get_by_test_id("case-list")).to_contain_text("设备预测性维护")
    expect(page.get_by_test_id("case-list")).not_to_contain_text("来料检验")
    _shots(page, screenshot, "cases")
    page.get_by_role("link", name="设备预测性维护").click()
    expect(page.get_by_role("heading", name="实施成效")).to_be_visible()
    expect(page.locator("body")).to_contain_text("98.6")
    _shots(page, screenshot, "case")
