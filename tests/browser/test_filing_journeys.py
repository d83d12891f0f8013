"""Browser journeys of the diagnosis: an enterprise files from an empty draft to its
report (accepted by its authority, scored by the real Celery worker), a review with return
and resubmit, and two tabs editing one draft."""

import re

import pytest
from playwright.sync_api import expect

from apps.filings.models import Submission, SubmissionStatus
from tests.browser.helpers import login as _login
from tests.factories import NANJING, XUANWU, EnterpriseFactory, authority_user, county, enterprise_user, prefecture
from tests.filings.builders import open_period

pytestmark = [pytest.mark.browser]


def _setup():
    period = open_period()
    ent = EnterpriseFactory(region=county(XUANWU), name="南京示范电子有限公司")
    enterprise_user(ent, username="filer", first_name="填报员")
    authority_user(prefecture(NANJING), username="reviewer", first_name="南京市工信局")
    return period


def _fill_d1(page):
    page.get_by_test_id("indicator-R1").get_by_text("3级").click()
    c1 = page.get_by_test_id("indicator-C1")
    c1.get_by_label("QMS").check()
    c1.get_by_label("LIMS").check()
    expect(page.get_by_test_id("save-status")).to_contain_text("草稿已自动保存")


def _fill_d2(page, kpi="95"):
    page.get_by_test_id("indicator-K1").get_by_role("textbox").fill(kpi)
    page.get_by_test_id("indicator-Y1").get_by_label("否").check()
    expect(page.get_by_test_id("save-status")).to_contain_text("草稿已自动保存")


def _submit(page):
    page.get_by_role("button", name="检查并提交").click()
    expect(page.get_by_test_id("complete")).to_be_visible()
    page.get_by_label("我已阅读并同意以上真实性承诺").check()
    page.get_by_role("button", name="提交审核").click()
    expect(page.get_by_test_id("status")).to_have_text("待审核")


def test_whole_diagnosis_from_empty_draft_to_report(page, live_server, celery_worker, screenshot):
    _setup()
    _login(page, live_server, "filer")
    page.get_by_role("link", name="诊断填报").click()
    page.get_by_role("button", name="开始填报").click()
    expect(page.get_by_test_id("progress")).to_contain_text("已填写 0 / 4 项")
    # leave a gap and try to submit: the check page lists what is missing
    page.get_by_test_id("indicator-R1").get_by_text("3级").click()
    expect(page.get_by_test_id("save-status")).to_contain_text("草稿已自动保存")
    page.goto(page.url.replace("/step/D1/", "/check/"))
    missing = page.get_by_test_id("missing")
    expect(missing).to_contain_text("还有 3 项未填写")
    expect(page.get_by_role("button", name="提交审核")).to_be_disabled()
    missing.get_by_role("link", name=re.compile("C1")).click()
    _fill_d1(page)
    screenshot(page, "filing-step-d1")
    page.get_by_role("button", name="下一步").click()
    expect(page.get_by_role("heading", name="D2 质量成效")).to_be_visible()
    _fill_d2(page)
    expect(page.get_by_test_id("steps")).to_contain_text("2/2")
    _submit(page)

    _login(page, live_server, "reviewer")
    page.get_by_role("link", name="填报审核").click()
    page.get_by_role("link", name="南京示范电子有限公司").click()
    page.get_by_role("button", name="审核通过").click()
    expect(page.get_by_test_id("status")).to_have_text("审核通过")

    _login(page, live_server, "filer")
    sub = Submission.objects.get()
    page.goto(f"{live_server.url}/filings/{sub.pk}/report/")
    # scored by the real worker; the page polls until the score is there
    expect(page.get_by_test_id("composite")).to_have_text("58.5", timeout=60_000)
    expect(page.get_by_test_id("level")).to_contain_text("保证级")
    expect(page.get_by_test_id("gaps").locator("li")).to_have_count(3)
    expect(page.locator("#radar svg")).to_be_visible()
    screenshot(page, "filing-report")
    # the report prints (print CSS): the PDF a user gets from "打印 / 另存为 PDF"
    page.emulate_media(media="print")
    pdf = page.pdf(path=str(screenshot(page, "filing-report-print").with_suffix(".pdf")), format="A4", print_background=True)
    assert pdf.startswith(b"%PDF") and len(pdf) > 20_000


def test_review_with_return_and_resubmit(page, live_server, screenshot, transactional_db):
    _setup()
    _login(page, live_server, "filer")
    page.get_by_role("link", name="诊断填报").click()
    page.get_by_role("button", name="开始填报").click()
    _fill_d1(page)
    page.get_by_role("button", name="下一步").click()
    _fill_d2(page, kpi="99.5")
    _submit(page)

    _login(page, live_server, "reviewer")
    page.get_by_role("link", name="填报审核").click()
    page.get_by_role("link", name="南京示范电子有限公司").click()
    page.get_by_test_id("dim-D2").locator("summary").first.click()  # the compact review page: open D2,
    page.get_by_test_id("return-K1").get_by_text("退回此项").click()  # then "return this item"
    page.get_by_label("K1 的退回原因").fill("一次交检合格率与统计年报不一致，请核对后修改。")
    screenshot(page, "review-return")
    page.get_by_role("button", name="退回修改").click()
    expect(page.get_by_test_id("status")).to_have_text("退回修改")

    _login(page, live_server, "filer")
    page.get_by_role("link", name="诊断填报").click()
    page.get_by_role("link", name="继续填报").click()
    page.get_by_test_id("returned").get_by_role("link", name=re.compile("K1")).click()
    expect(page.get_by_test_id("indicator-K1")).to_contain_text("一次交检合格率与统计年报不一致")
    _fill_d2(page, kpi="96.2")
    _submit(page)
    events = page.get_by_test_id("events")
    expect(events).to_contain_text("退回修改")
    expect(events).to_contain_text("重新提交")

    _login(page, live_server, "reviewer")
    page.goto(f"{live_server.url}/filings/{Submission.objects.get().pk}/")
    page.get_by_role("button", name="审核通过").click()
    expect(page.get_by_test_id("status")).to_have_text("审核通过")
    assert Submission.objects.get().status == SubmissionStatus.ACCEPTED


def test_two_tabs_on_one_draft_are_told_about_the_conflict(page, live_server, transactional_db):
    _setup()
    _login(page, live_server, "filer")
    page.get_by_role("link", name="诊断填报").click()
    page.get_by_role("button", name="开始填报").click()
    step_url = page.url
    other = page.context.new_page()
    other.goto(step_url)
    page.get_by_test_id("indicator-R1").get_by_text("2级").click()
    expect(page.get_by_test_id("save-status")).to_contain_text("草稿已自动保存")
    other.get_by_test_id("indicator-R1").get_by_text("5级").click()
    expect(other.get_by_test_id("save-status")).to_contain_text("保存冲突")
    assert Submission.objects.get().answers.get().value == 2


def test_authority_uploads_paper_filings_and_watches_the_import_job(page, live_server, celery_worker, screenshot, tmp_path):
    import io

    import openpyxl

    period = _setup()
    ents = [EnterpriseFactory(region=county(XUANWU), name=f"南京纸质填报{i}有限公司") for i in range(3)]
    book = openpyxl.Workbook()
    book.active.append(["统一社会信用代码", "企业名称", "期次", "状态", "R1", "C1", "K1", "Y1"])
    for i, e in enumerate(ents):
        book.active.append([e.uscc, e.name, period.code, "", 9 if i == 2 else 3, "a;c", 95, "否"])
    data = io.BytesIO()
    book.save(data)
    path = tmp_path / "纸质填报.xlsx"
    path.write_bytes(data.getvalue())

    _login(page, live_server, "reviewer")
    page.goto(live_server.url + "/filings/transfer/")
    page.get_by_label("填报数据文件").set_input_files(str(path))
    page.get_by_label("只写入正确的行：跳过并报告错误行").check()
    page.get_by_role("button", name="上传并导入").click()
    # the worker imports the file; the page polls until the job is finished
    expect(page.get_by_test_id("file-job")).to_have_attribute("data-status", "succeeded", timeout=60_000)
    expect(page.get_by_test_id("job-message")).to_contain_text("部分导入")
    expect(page.get_by_test_id("job-errors")).to_contain_text("R1：请选择0–5级中的一级。")
    assert Submission.objects.filter(status=SubmissionStatus.SUBMITTED).count() == 2
    page.set_viewport_size({"width": 1400, "height": 900})
    screenshot(page, "transfer-job-1400")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "transfer-job-390")
