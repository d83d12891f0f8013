"""The filing step in Chromium: evidence uploaded inside a question without leaving the page
(same document, same scroll position, the file listed under that question, a refused file
explained beside it), and the 说明 box saved by autosave."""

import copy
import re

import pytest
from playwright.sync_api import expect

from apps.filings import services
from apps.filings.models import Answer, Evidence
from apps.frameworks.exchange import import_framework
from apps.frameworks.services import framework_publish
from tests.browser.helpers import login as _login
from tests.factories import XUANWU, EnterpriseFactory, county, enterprise_user, industry, key_industry
from tests.filings.builders import SPEC, open_period

pytestmark = [pytest.mark.browser]

UPLOAD_C1 = re.compile(r"^上传\s*（C1）$")  # the button says which question it uploads for
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def draft(transactional_db):
    industry("27", "医药制造业")
    key_industry()
    spec = copy.deepcopy(SPEC)
    spec["code"] = "qmd-browser"
    next(i for d in spec["dimensions"] for i in d["indicators"] if i["code"] == "K1")["note_prompt"] = "估算的请说明方法。"
    period = open_period(framework=framework_publish(framework=import_framework(spec)))
    filer = enterprise_user(EnterpriseFactory(region=county(XUANWU)), username="filer")
    return services.submission_start(enterprise=filer.enterprise, period=period, user=filer)


def test_evidence_upload_inside_a_question_keeps_the_page_and_its_scroll(page, live_server, draft, tmp_path, screenshot):
    page.set_viewport_size({"width": 1280, "height": 520})  # the step is taller than the window
    _login(page, live_server, "filer")
    page.goto(f"{live_server.url}/filings/{draft.pk}/step/D1/")
    question = page.get_by_test_id("indicator-C1")
    question.locator("input[type=file]").scroll_into_view_if_needed()
    page.evaluate("window.__samePage = true")
    before = page.evaluate("window.scrollY")
    assert before > 0

    good = tmp_path / "体系证书.pdf"
    good.write_bytes(PDF)
    question.get_by_label("上传证明材料").set_input_files(str(good))
    question.get_by_role("button", name=UPLOAD_C1).click()
    block = page.get_by_test_id("evidence-C1")
    expect(block.get_by_role("link", name="体系证书.pdf")).to_be_visible()
    expect(block).to_contain_text("已上传证明材料“体系证书.pdf”")
    assert page.evaluate("window.__samePage") is True  # no navigation, no reload
    assert page.url.endswith(f"/filings/{draft.pk}/step/D1/")
    assert abs(page.evaluate("window.scrollY") - before) < 40
    assert Evidence.objects.get(submission=draft).indicator.code == "C1"
    expect(page.get_by_test_id("evidence-R1").get_by_role("link")).to_have_count(0)  # not under another question

    bad = tmp_path / "说明.txt"
    bad.write_text("不是PDF", encoding="utf-8")
    block.get_by_label("上传证明材料").set_input_files(str(bad))
    block.get_by_role("button", name=UPLOAD_C1).click()
    error = page.get_by_test_id("evidence-error-C1")
    expect(error).to_be_visible()
    expect(block.get_by_role("link", name="体系证书.pdf")).to_be_visible()  # the earlier file stays listed
    assert page.evaluate("window.__samePage") is True
    assert Evidence.objects.filter(submission=draft).count() == 1
    screenshot(page, "filing-evidence-inline")


def test_evidence_upload_without_javascript_comes_back_to_the_question(browser, live_server, draft, tmp_path):
    context = browser.new_context(java_script_enabled=False, locale="zh-CN")
    page = context.new_page()
    try:
        _login(page, live_server, "filer")
        page.goto(f"{live_server.url}/filings/{draft.pk}/step/D1/")
        good = tmp_path / "证书.pdf"
        good.write_bytes(PDF)
        question = page.get_by_test_id("indicator-C1")
        question.get_by_label("上传证明材料").set_input_files(str(good))
        question.get_by_role("button", name=UPLOAD_C1).click()
        page.wait_for_url(f"**/filings/{draft.pk}/step/D1/#ind-C1")
        expect(page.get_by_test_id("evidence-C1").get_by_role("link", name="证书.pdf")).to_be_visible()
    finally:
        context.close()


def test_the_note_box_is_saved_by_autosave(page, live_server, draft, screenshot):
    _login(page, live_server, "filer")
    page.goto(f"{live_server.url}/filings/{draft.pk}/step/D2/")
    note = page.get_by_label("说明")
    expect(page.get_by_test_id("indicator-K1")).to_contain_text("估算的请说明方法。")
    note.fill("按财务报表估算，科目为质量损失。")
    expect(page.get_by_test_id("save-status")).to_contain_text("草稿已自动保存")
    assert Answer.objects.get(submission=draft, indicator__code="K1").note == "按财务报表估算，科目为质量损失。"
    page.reload()
    expect(page.get_by_label("说明")).to_have_value("按财务报表估算，科目为质量损失。")
    screenshot(page, "filing-note")
