"""Browser journeys of ministry staff outside the admin (Playwright + Debian's chromium): create
a call with its rubric, schedule a defence; and the enterprise report's showcase cases with the
way back from a case. Screenshots at 1400 px and 390 px wide."""

import datetime

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apps.pilots.models import Call, DefenceSlot
from tests.factories import key_industry
from tests.pilots.builders import dates_for, move_to, staff
from tests.pilots.test_browser_journeys import _login, _shots
from tests.pilots.test_report_cases import _case, accepted_filing
from tests.pilots.test_staff_pages import _reviewed_call

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_staff_create_a_call_with_its_rubric(page, live_server, screenshot):
    boss = staff()
    key_industry()
    _login(page, live_server, boss.username)
    page.goto(live_server.url + "/pilots/")
    page.get_by_test_id("new-call").click()
    page.get_by_label("批次名称").fill("2027年质量管理数字化试点示范")
    page.get_by_label("年度").fill("2027")
    page.get_by_label("产品全生命周期").check()
    for name, value in dates_for("application").items():
        if value:
            page.locator(f"#id_{name}").fill(value.isoformat())
    page.locator("#id_criteria-0-code").fill("innovation")
    page.locator("#id_criteria-0-name").fill("创新性")
    page.locator("#id_criteria-0-weight").fill("0")
    _shots(page, screenshot, "call-form")
    page.get_by_role("button", name="保存批次").click()
    expect(page.locator("body")).to_contain_text("评审要点的权重必须大于 0")
    expect(page.get_by_label("批次名称")).to_have_value("2027年质量管理数字化试点示范")
    page.locator("#id_criteria-0-weight").fill("1")
    page.get_by_role("button", name="保存批次").click()
    expect(page.locator("h1")).to_have_text("2027年质量管理数字化试点示范")
    assert Call.objects.get().criteria.get().code == "innovation"


def test_staff_schedule_a_defence(page, live_server, screenshot):
    call, apps, pool, boss = _reviewed_call()
    move_to(call, "defence")
    _login(page, live_server, boss.username)
    page.goto(live_server.url + f"/pilots/calls/{call.pk}/manage/")
    form = page.get_by_test_id("defence-slot-form")
    when = timezone.localtime() + datetime.timedelta(days=1)
    form.get_by_label("答辩时间").fill(when.strftime("%Y-%m-%dT09:30"))
    form.get_by_label("地点").fill("工信部第三会议室")
    form.get_by_label(pool[1].name).check()
    form.get_by_label(pool[2].name).check()
    for app in apps:
        form.get_by_label(app.enterprise.name).check()
    form.get_by_role("button", name="安排答辩").click()
    expect(page.get_by_test_id("defence-slots")).to_contain_text("工信部第三会议室")
    assert DefenceSlot.objects.get().panel.count() == 2
    page.get_by_test_id("defence-slots").scroll_into_view_if_needed()
    _shots(page, screenshot, "manage-defence")


def test_report_links_to_cases_and_back(page, live_server, screenshot):
    sub, filer = accepted_filing()
    case = _case("一次交检合格率提升", "围绕质量成效，建立质量数据看板，一次交检合格率提升 3.5 个百分点。")
    _case("质量管理数字化工作机制", "建立工作机制，专人负责质量数据。")
    _login(page, live_server, filer.username)
    page.goto(live_server.url + f"/filings/{sub.pk}/report/")
    cases = page.get_by_test_id("report-cases")
    expect(cases).to_contain_text("较弱维度“质量成效”")
    cases.scroll_into_view_if_needed()
    _shots(page, screenshot, "report-cases")
    cases.get_by_role("link", name=case.title).click()
    expect(page.locator("h1")).to_have_text(case.title)
    page.get_by_test_id("back-to-report").click()
    expect(page.get_by_test_id("report-cases")).to_be_visible()
