"""The compact review page (grouped answers, return this item, hints as links, decision bar),
"changed since return", and the review queue's filters by name with an honest default."""

import re

import pytest
from django.urls import reverse

from apps.filings import services
from apps.filings.models import EventAction, SubmissionStatus
from tests.factories import (
    GUSU,
    NANJING,
    SUZHOU,
    XUANWU,
    EnterpriseFactory,
    authority_user,
    county,
    enterprise_user,
    industry,
    prefecture,
)
from tests.filings.builders import COMPLETE

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def filer():
    return enterprise_user(EnterpriseFactory(region=county(XUANWU), industry=industry("39"), name="玄武示范电子"))


@pytest.fixture
def officer():
    return authority_user(prefecture(NANJING))


def submit(filer, period, answers=COMPLETE):
    sub = services.submission_start(enterprise=filer.enterprise, period=period, user=filer)
    sub, errors = services.submission_save_answers(submission=sub, user=filer, answers=answers, revision=sub.revision)
    assert errors == {}
    return services.submission_submit(submission=sub, user=filer, pledge=True).submission


def test_review_page_groups_answers_with_return_this_item_and_a_decision_bar(client, filer, period, officer):
    sub = submit(filer, period, {**COMPLETE, "R1": "5"})  # R1 at level 5 without evidence: a hint
    client.force_login(officer)
    html = client.get(reverse("filings:detail", args=[sub.pk])).text
    # one collapsible group per dimension; the group holding the hint starts open
    assert re.search(r'<details class="card review-dim" id="dim-D1" open', html)
    assert re.search(r'<details class="card review-dim" id="dim-D2"\s+data-testid', html)
    # each item has its own closed "退回此项" holding its reason box (no open reason boxes)
    assert html.count("退回此项") == 4 and html.count('<details class="review-return"') == 4
    assert "<details class=\"review-return\" open" not in html
    # the hint is a link to its item
    assert 'href="#ind-R1" data-open-item' in html and 'id="ind-R1"' in html
    # the decision bar: return and accept, in one sticky form
    bar = html[html.index('data-testid="decision-bar"'):]
    assert "退回修改" in bar and reverse("filings:accept", args=[sub.pk]) in bar


def test_return_this_item_sends_only_that_items_reason(client, filer, period, officer):
    sub = submit(filer, period)
    client.force_login(officer)
    response = client.post(reverse("filings:return", args=[sub.pk]),
                           {"reason-K1": "合格率与统计年报不一致", "reason-R1": "", "note": ""})
    assert response.status_code == 302
    event = sub.events.get(action=EventAction.RETURNED)
    assert [(r.indicator.code, r.reason) for r in event.reasons.all()] == [("K1", "合格率与统计年报不一致")]


def test_changed_since_return_lists_changed_items_with_the_earlier_reason(client, filer, period, officer):
    sub = submit(filer, period)
    services.submission_return(submission=sub, user=officer, reasons={"K1": "请核对合格率", "R1": "请补充规划文件"},
                               note="请修改后重新提交")
    event = sub.events.get(action=EventAction.RETURNED)
    assert event.snapshot["answers"]["K1"]["value"] == 95
    sub.refresh_from_db()
    # the enterprise changes K1 and adds evidence to C1; R1 stays as it was
    sub, _ = services.submission_save_answers(submission=sub, user=filer, answers={"K1": "92"}, revision=sub.revision)
    from django.core.files.uploadedfile import SimpleUploadedFile

    c1 = sub.framework.indicators.get(code="C1")
    services.evidence_add(submission=sub, user=filer, uploaded_file=SimpleUploadedFile("系统清单.pdf", PDF), indicator=c1)
    services.submission_submit(submission=sub, user=filer, pledge=True)

    client.force_login(officer)
    url = reverse("filings:detail", args=[sub.pk])
    full = client.get(url).text
    assert "修改了 2 项答案或证明材料" in full
    only = client.get(url + "?changed=1")
    items = re.findall(r'data-testid="item-(\w+)"', only.text)
    assert items == ["C1", "K1"]
    k1 = only.text[only.text.index('data-testid="item-K1"'):]
    assert "退回后已修改" in k1 and "上次退回原因：" in k1 and "请核对合格率" in k1
    assert re.search(r"退回时的答案：\s*95 %", k1) and "92 %" in k1
    assert "请修改后重新提交" in only.text  # the general note of the return
    # R1 was returned but not changed: it shows in the full view with its reason
    r1 = full[full.index('data-testid="item-R1"'):full.index('data-testid="item-C1"')]
    assert "请补充规划文件" in r1 and "退回后已修改" not in r1


def test_unchanged_resubmission_shows_no_changed_items(client, filer, period, officer):
    sub = submit(filer, period)
    services.submission_return(submission=sub, user=officer, reasons={"K1": "请核对"})
    sub.refresh_from_db()
    services.submission_submit(submission=sub, user=filer, pledge=True)
    client.force_login(officer)
    page = client.get(reverse("filings:detail", args=[sub.pk]) + "?changed=1")
    assert "修改了 0 项" in page.text and "退回后没有修改任何项" in page.text


def test_return_recorded_before_snapshots_says_so(client, filer, period, officer):
    sub = submit(filer, period)
    services.submission_return(submission=sub, user=officer, reasons={"K1": "请核对"})
    sub.events.filter(action=EventAction.RETURNED).update(snapshot=None)
    sub.refresh_from_db()
    services.submission_submit(submission=sub, user=filer, pledge=True)
    client.force_login(officer)
    page = client.get(reverse("filings:detail", args=[sub.pk])).text
    assert "上次退回时的答案未记录" in page and "请核对" in page


def test_enterprise_sees_its_own_page_not_the_review_page(client, filer, period):
    sub = submit(filer, period)
    client.force_login(filer)
    page = client.get(reverse("filings:detail", args=[sub.pk])).text
    assert "退回此项" not in page and "decision-bar" not in page


def test_outsider_gets_no_review_page(client, filer, period):
    sub = submit(filer, period)
    county(GUSU, SUZHOU)
    client.force_login(authority_user(prefecture(SUZHOU)))
    assert client.get(reverse("filings:detail", args=[sub.pk])).status_code == 404
    assert client.get(reverse("filings:detail", args=[sub.pk]) + "?changed=1").status_code == 404


# --- the queue ----------------------------------------------------------------------------------------


def test_queue_default_filter_is_shown_and_applied(client, filer, period, officer):
    waiting = submit(filer, period)
    other = enterprise_user(EnterpriseFactory(region=county(XUANWU), industry=industry("39")))
    done = submit(other, period)
    services.submission_accept(submission=done, user=officer)
    client.force_login(officer)
    page = client.get(reverse("filings:queue"))
    assert [s.pk for s in page.context["page"]] == [waiting.pk]
    assert "共 1 份" in page.text
    assert re.search(r'<option value="submitted" selected>待审核</option>', page.text)
    assert "---------" not in page.text and "未知" not in page.text
    everything = client.get(reverse("filings:queue"), {"status": ""})
    assert {s.pk for s in everything.context["page"]} == {waiting.pk, done.pk}
    assert '<option value="" selected>全部状态</option>' in everything.text


def test_queue_filters_by_region_and_industry_names(client, filer, period, officer):
    county(("320104", "秦淮区"))
    industry("26", "化学原料和化学制品制造业")
    in_xuanwu = submit(filer, period)
    qinhuai = enterprise_user(EnterpriseFactory(region=county(("320104", "秦淮区")), industry=industry("26")))
    in_qinhuai = submit(qinhuai, period)
    client.force_login(officer)
    page = client.get(reverse("filings:queue"))
    # the reviewer chooses by name; the rows show names, not codes
    assert '<option value="320102">玄武区</option>' in page.text
    assert '<option value="320104">秦淮区</option>' in page.text
    assert "化学原料和化学制品制造业" in page.text and "<td>玄武区</td>" in page.text
    by_region = client.get(reverse("filings:queue"), {"region": "320104"})
    assert [s.pk for s in by_region.context["page"]] == [in_qinhuai.pk]
    by_industry = client.get(reverse("filings:queue"), {"division_code": "39"})
    assert [s.pk for s in by_industry.context["page"]] == [in_xuanwu.pk]


def test_queue_refuses_a_region_outside_the_jurisdiction_with_a_message(client, filer, period, officer):
    submit(filer, period)
    county(GUSU, SUZHOU)
    client.force_login(officer)
    page = client.get(reverse("filings:queue"), {"region": GUSU[0]})
    assert page.status_code == 200
    assert list(page.context["page"]) == []
    assert "不在可用的选项中" in page.text  # Django's message for a choice not offered


def test_county_reviewer_has_no_region_choice(client, filer, period):
    submit(filer, period)
    client.force_login(authority_user(county(XUANWU)))
    page = client.get(reverse("filings:queue"))
    assert 'name="region"' not in page.text
    assert len(page.context["page"]) == 1
    assert page.context["page"][0].status == SubmissionStatus.SUBMITTED
