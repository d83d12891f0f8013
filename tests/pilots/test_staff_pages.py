"""Staff work outside the admin: creating and changing a call, scheduling and recording the
defence (答辩), adjusting a score, with the services' checks; everyone else is refused."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.pilots import services
from apps.pilots.models import (
    AggregateResult,
    Application,
    ApplicationEvent,
    ApplicationStatus,
    Assignment,
    Call,
    CallStatus,
    Conflict,
    DefenceSlot,
)
from tests.factories import authority_user, key_industry, province
from tests.pilots.builders import applicant, dates_for, expert, make_call, move_to, staff, through_review

pytestmark = pytest.mark.django_db
S = ApplicationStatus


def call_post(**overrides):
    dates = {k: (v.isoformat() if v else "") for k, v in dates_for("application").items()}
    data = {
        "title": "2027年质量管理数字化试点示范", "year": "2027", "description": "面向重点行业。",
        "key_industries": [key_industry().pk], "scenario_levels": ["lifecycle", "industry_chain"], **dates,
        "quota_per_unit": "3", "industry_quotas": "{}", "rubric_scale": "0-100", "reviewers_per_application": "3",
        "aggregation": "trimmed_mean", "disagreement_threshold": "20", "min_diagnosis_level": "2",
        "criteria-TOTAL_FORMS": "3", "criteria-INITIAL_FORMS": "0", "criteria-MIN_NUM_FORMS": "0",
        "criteria-MAX_NUM_FORMS": "20",
        "criteria-0-code": "innovation", "criteria-0-name": "创新性", "criteria-0-weight": "0.6",
        "criteria-1-code": "benefit", "criteria-1-name": "实施成效", "criteria-1-weight": "0.4",
    }
    data.update(overrides)
    return data


def test_staff_create_a_call_through_the_page(client):
    client.force_login(staff())
    assert 'data-testid="new-call"' in client.get(reverse("pilots:home")).content.decode()
    assert client.get(reverse("pilots:call-new")).status_code == 200
    response = client.post(reverse("pilots:call-new"), call_post())
    call = Call.objects.get(title="2027年质量管理数字化试点示范")
    assert response.url == reverse("pilots:manage", args=[call.pk])
    assert call.status == CallStatus.DRAFT and call.quota_per_unit == 3 and call.scenario_levels == ["lifecycle", "industry_chain"]
    assert [(c.code, c.weight) for c in call.criteria.order_by("order")] == [("innovation", 0.6), ("benefit", 0.4)]
    assert list(call.key_industries.values_list("pk", flat=True)) == [key_industry().pk]


def test_a_bad_call_is_refused_with_the_services_messages_and_keeps_what_was_typed(client):
    client.force_login(staff())
    dates = dates_for("application")
    late = (dates["applications_open_on"] - datetime.timedelta(days=1)).isoformat()
    page = client.post(reverse("pilots:call-new"), call_post(applications_close_on=late, **{
        "criteria-0-weight": "0", "criteria-1-code": "innovation"})).content.decode()
    assert "不能早于" in page and "权重必须大于 0" in page and "代码不能重复" in page
    assert 'value="2027年质量管理数字化试点示范"' in page
    assert not Call.objects.exists()
    page = client.post(reverse("pilots:call-new"), call_post(**{
        "criteria-0-code": "", "criteria-0-name": "", "criteria-0-weight": "",
        "criteria-1-code": "", "criteria-1-name": "", "criteria-1-weight": ""})).content.decode()
    assert "请至少填写一项评审要点" in page
    page = client.post(reverse("pilots:call-new"), call_post(scenario_levels=[], year="二〇二七")).content.decode()
    assert 'data-testid="error-summary"' in page and "场景层级：" in page and 'href="#id_year">年度：' in page
    assert not Call.objects.exists()


def test_outsiders_cannot_create_or_change_a_call(client):
    call = make_call("application")
    for user in (authority_user(province()), applicant(), expert().user):
        client.force_login(user)
        assert client.get(reverse("pilots:call-new")).status_code == 404
        assert client.post(reverse("pilots:call-new"), call_post()).status_code == 404
        assert client.post(reverse("pilots:call-edit", args=[call.pk]), call_post(title="改")).status_code == 404
    client.logout()
    assert client.get(reverse("pilots:call-new")).status_code == 302
    assert Call.objects.count() == 1 and Call.objects.get().title != "改"


def test_staff_change_a_call_but_not_what_the_review_rests_on(client):
    call = make_call("application", quota_per_unit=5)
    boss = staff()
    client.force_login(boss)
    page = client.get(reverse("pilots:call-edit", args=[call.pk])).content.decode()
    assert 'value="2026年质量管理数字化试点示范"' in page and 'value="innovation"' in page
    dates = {k: (v.isoformat() if v else "") for k, v in dates_for("application").items()}
    criteria = {"criteria-TOTAL_FORMS": "3", "criteria-INITIAL_FORMS": "3",
                "criteria-0-code": "innovation", "criteria-0-name": "创新性", "criteria-0-weight": "0.4",
                "criteria-1-code": "benefit", "criteria-1-name": "实施成效", "criteria-1-weight": "0.4",
                "criteria-2-code": "replicable", "criteria-2-name": "可复制推广", "criteria-2-weight": "0.2"}
    post = call_post(title="2026年试点示范（修订）", quota_per_unit="4", scenario_levels=["lifecycle", "value_chain"],
                     **dates, **criteria)
    response = client.post(reverse("pilots:call-edit", args=[call.pk]), post)
    assert response.status_code == 302
    call.refresh_from_db()
    assert (call.title, call.quota_per_unit, call.status) == ("2026年试点示范（修订）", 4, CallStatus.OPEN)
    # once a review is saved the rubric stays as it is
    apps, pool, boss2 = through_review(call, n=1, experts=3)
    services.assignment_auto(call=call, user=boss2)
    move_to(call, "review")
    asg = Assignment.objects.select_related("expert__user").first()
    services.review_save(assignment=asg, user=asg.expert.user, scores={"innovation": 80}, comment="")
    dates = {k: (v.isoformat() if v else "") for k, v in dates_for("review").items()}
    page = client.post(reverse("pilots:call-edit", args=[call.pk]),
                       {**post, **dates, "criteria-2-weight": "0.5", "reviewers_per_application": "2"}).content.decode()
    assert "评审要点和评分标度不能再修改" in page and "评审专家人数不能再修改" in page
    assert call.criteria.get(code="replicable").weight == 0.2 and Call.objects.get().reviewers_per_application == 3


def _reviewed_call(defence=True):
    call = make_call("application", quota_per_unit=5, defence=defence)
    apps, pool, boss = through_review(call, n=2, experts=4)
    services.assignment_auto(call=call, user=boss)
    move_to(call, "review")
    for asg in Assignment.objects.select_related("expert__user"):
        services.review_save(assignment=asg, user=asg.expert.user, scores={"innovation": 80, "benefit": 70, "replicable": 90},
                             comment="好", submit=True)
    services.results_aggregate(call=call, user=boss)
    return call, apps, pool, boss


def test_staff_schedule_and_record_the_defence_through_the_page(client):
    call, apps, pool, boss = _reviewed_call()
    move_to(call, "defence")
    client.force_login(boss)
    page = client.get(reverse("pilots:manage", args=[call.pk])).content.decode()
    assert 'data-testid="defence-slot-form"' in page and "尚未安排答辩" in page
    when = (timezone.localdate() + datetime.timedelta(days=1)).isoformat() + "T09:30"
    Conflict.objects.create(expert=pool[0], enterprise=apps[0].enterprise, source="declared", reason="曾任顾问")
    post = {"action": "defence_slot", "starts_at": when, "place": "工信部会议室", "panel": [pool[0].pk, pool[1].pk],
            "applications": [a.pk for a in apps]}
    page = client.post(reverse("pilots:manage", args=[call.pk]), post).content.decode()
    assert "回避关系" in page and not DefenceSlot.objects.exists()  # a conflicted panel expert is refused
    too_late = (call.window("defence")[1] + datetime.timedelta(days=3)).isoformat() + "T09:30"
    page = client.post(reverse("pilots:manage", args=[call.pk]), {**post, "starts_at": too_late,
                                                                 "panel": [pool[1].pk]}).content.decode()
    assert "答辩时间须在答辩阶段内" in page and not DefenceSlot.objects.exists()
    response = client.post(reverse("pilots:manage", args=[call.pk]), {**post, "panel": [pool[1].pk, pool[2].pk]})
    assert response.status_code == 302
    slot = DefenceSlot.objects.get()
    assert slot.place == "工信部会议室" and set(slot.applications.all()) == set(apps)
    page = client.get(reverse("pilots:manage", args=[call.pk])).content.decode()
    assert "工信部会议室" in page and pool[2].name in page
    # the result of the defence
    client.post(reverse("pilots:manage", args=[call.pk]), {"action": "defence", "application": apps[0].pk,
                                                           "score": "86", "note": "答辩表现良好"})
    app = Application.objects.get(pk=apps[0].pk)
    assert app.defence_score == 86 and ApplicationEvent.objects.filter(application=app, action="defended").exists()


def test_no_defence_slot_for_a_call_without_defence_nor_for_outsiders(client):
    call, apps, pool, boss = _reviewed_call(defence=False)
    when = timezone.localdate().isoformat() + "T09:30"
    post = {"action": "defence_slot", "starts_at": when, "place": "会议室", "panel": [pool[1].pk],
            "applications": [apps[0].pk]}
    client.force_login(boss)
    assert "本批次不安排答辩" in client.post(reverse("pilots:manage", args=[call.pk]), post).content.decode()
    for user in (authority_user(province()), apps[0].enterprise.users.first(), pool[1].user):
        client.force_login(user)
        assert client.post(reverse("pilots:manage", args=[call.pk]), post).status_code == 404
    assert not DefenceSlot.objects.exists()


def test_staff_adjust_a_score_with_a_reason_through_the_page(client):
    call, apps, pool, boss = _reviewed_call(defence=False)
    client.force_login(boss)
    page = client.post(reverse("pilots:manage", args=[call.pk]),
                       {"action": "adjust", "application": apps[0].pk, "score": "91", "reason": ""}, follow=True)
    assert "原因" in page.content.decode() and AggregateResult.objects.get(application=apps[0]).adjusted_score is None
    client.post(reverse("pilots:manage", args=[call.pk]),
                {"action": "adjust", "application": apps[0].pk, "score": "91", "reason": "答辩复核"})
    result = AggregateResult.objects.get(application=apps[0])
    assert (result.adjusted_score, result.adjustment_reason, result.adjusted_by) == (91, "答辩复核", boss)
    client.force_login(authority_user(province()))
    assert client.post(reverse("pilots:manage", args=[call.pk]),
                       {"action": "adjust", "application": apps[1].pk, "score": "10", "reason": "x"}).status_code == 404
    assert AggregateResult.objects.get(application=apps[1]).adjusted_score is None
