"""Browser journeys of the foundation: registration, lock-out, language switch, and
screenshots of the registration page and the enterprise list (looked at by a person)."""

import re

import pytest
from playwright.sync_api import expect

from apps.enterprises.models import Enterprise
from tests.factories import (
    GUSU,
    NANJING,
    SUZHOU,
    TEST_PASSWORD,
    XUANWU,
    EnterpriseFactory,
    UserFactory,
    authority_user,
    county,
    industry,
    key_industry,
    make_uscc,
    prefecture,
    wrong_check,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _reference():
    county(XUANWU)
    county(("320104", "秦淮区"))
    county(GUSU, SUZHOU)
    industry("39", "计算机、通信和其他电子设备制造业")
    industry("36", "汽车制造业")
    key_industry("electronics", "电子制造")


def _login(page, live_server, username, password=TEST_PASSWORD):
    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()


def test_registration_with_wrong_then_right_uscc(page, live_server, screenshot):
    _reference()
    good = make_uscc("320102", serial=4242)
    page.goto(live_server.url + "/enterprises/register/")
    expect(page.get_by_role("heading", name="企业注册")).to_be_visible()
    page.get_by_label("统一社会信用代码").fill(wrong_check(good))
    page.get_by_label("企业名称").fill("南京浏览器测试电子有限公司")
    page.get_by_label("省份").select_option(label="江苏省")
    expect(page.locator("#id_prefecture option", has_text="南京市")).to_have_count(1)
    page.get_by_label("地市").select_option(label="南京市")
    expect(page.locator("#id_region option", has_text="玄武区")).to_have_count(1)
    page.get_by_label("所在区县").select_option(label="玄武区")
    page.get_by_label("所属行业").select_option(value="39")
    page.get_by_label("电子制造").check()
    page.get_by_label("从业人员（人）").fill("420")
    page.get_by_label("营业收入（万元）").fill("8800")
    page.get_by_label("联系人").fill("周工")
    page.get_by_label("联系电话").fill("025-83000000")
    page.get_by_label("登录用户名").fill("browser-ent")
    page.locator("#id_password1").fill("Quality-Digital-88")
    page.get_by_label("确认密码").fill("Quality-Digital-88")
    screenshot(page, "registration-filled")
    page.get_by_role("button", name="提交注册").click()

    summary = page.get_by_test_id("error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_contain_text("统一社会信用代码校验位错误")
    expect(summary).to_be_focused()
    screenshot(page, "registration-uscc-error")
    assert not Enterprise.objects.exists()

    # The form keeps what was typed (selects included); passwords are typed again.
    expect(page.get_by_label("所在区县")).to_have_value("320102")
    page.get_by_label("统一社会信用代码").fill(good)
    page.locator("#id_password1").fill("Quality-Digital-88")
    page.get_by_label("确认密码").fill("Quality-Digital-88")
    page.get_by_role("button", name="提交注册").click()

    expect(page.get_by_text("注册成功")).to_be_visible()
    expect(page.get_by_test_id("uscc")).to_have_text(good)
    expect(page.get_by_test_id("user-chip")).to_contain_text("企业填报员")
    ent = Enterprise.objects.get(uscc=good)
    assert ent.county_code == "320102" and ent.size_class == "medium"
    screenshot(page, "registration-done")


def test_login_lockout_after_repeated_failures(page, live_server):
    UserFactory(username="browser-lock")
    for _ in range(4):
        _login(page, live_server, "browser-lock", "not-the-password")
        expect(page.get_by_test_id("error-summary")).to_be_visible()
    _login(page, live_server, "browser-lock", "not-the-password")
    expect(page.get_by_test_id("lockout")).to_contain_text("账号已临时锁定")
    # the right password no longer helps
    _login(page, live_server, "browser-lock")
    expect(page.get_by_test_id("lockout")).to_be_visible()


def test_language_switch(page, live_server):
    page.goto(live_server.url + "/")
    expect(page.get_by_role("link", name="企业注册").first).to_be_visible()
    page.get_by_label("语言").select_option("en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("link", name="Enterprise registration").first).to_be_visible()
    page.get_by_label("Language").select_option("zh-hans")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")


def test_enterprise_list_for_prefecture_authority(page, live_server, screenshot):
    _reference()
    for i in range(12):
        EnterpriseFactory(region=county(XUANWU), name=f"南京玄武精密制造有限公司{i:02d}")
    EnterpriseFactory(region=county(GUSU, SUZHOU), name="苏州不可见有限公司")
    authority_user(prefecture(NANJING), username="nj-officer", first_name="南京市工信局")
    _login(page, live_server, "nj-officer")
    page.get_by_role("link", name="企业名录", exact=True).click()
    expect(page.get_by_test_id("total")).to_contain_text("共 12 家企业")
    expect(page.get_by_text("苏州不可见有限公司")).to_have_count(0)
    screenshot(page, "enterprise-list")
    page.get_by_role("link", name=re.compile("南京玄武精密制造有限公司00")).click()
    expect(page.get_by_role("heading", name="南京玄武精密制造有限公司00")).to_be_visible()
