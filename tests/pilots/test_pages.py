"""The whole selection through the pages, with a user of each role, and the access rules
(404 outside them)."""

import pytest
from django.core import mail
from django.urls import reverse

from apps.pilots.models import Application, ApplicationStatus, Assignment, Objection
from tests.factories import UserFactory, authority_user, province
from tests.pilots.builders import (
    SCENARIO,
    applicant,
    expert,
    make_call,
    move_to,
    send_queued_notifications,
    staff,
    submitted_application,
)

pytestmark = pytest.mark.django_db
S = ApplicationStatus


def login(client, user):
    client.logout()
    client.force_login(user)


def scenario_post(revision, action="save", **extra):
    data = {"revision": revision, "action": action, "declares_legal_person": "on", "declares_good_credit": "on",
            "declares_no_accident": "on", "s0-title": SCENARIO["title"], "s0-level": SCENARIO["level"],
            "s0-elements": SCENARIO["elements"], "s0-text": SCENARIO["text"]}
    data.update(extra)
    return data


def test_whole_workflow_through_the_pages(client, django_capture_on_commit_callbacks):
    call = make_call("application", quota_per_unit=3, reviewers_per_application=2)
    ent_user = applicant(name="页面申报企业")
    ent_user.email = "applicant@example.cn"
    ent_user.save()
    # enterprise: apply, autosave, submit
    login(client, ent_user)
    assert "申报" in client.get(reverse("pilots:home")).content.decode()
    response = client.post(reverse("pilots:apply", args=[call.pk]))
    app = Application.objects.get()
    assert response.url == reverse("pilots:application", args=[app.pk])
    page = client.get(response.url).content.decode()
    assert f'hx-post="{reverse("pilots:autosave", args=[app.pk])}"' in page
    saved = client.post(reverse("pilots:autosave", args=[app.pk]), scenario_post(0), HTTP_HX_REQUEST="true")
    assert saved.status_code == 200 and 'value="1"' in saved.content.decode()
    stale = client.post(reverse("pilots:autosave", args=[app.pk]), scenario_post(0), HTTP_HX_REQUEST="true")
    assert stale.status_code == 409
    with django_capture_on_commit_callbacks() as queued:
        client.post(reverse("pilots:application", args=[app.pk]), scenario_post(1, action="submit"))
    app.refresh_from_db()
    assert app.status == S.SUBMITTED
    assert not mail.outbox  # the request sends nothing; the queued task does
    send_queued_notifications(queued)
    assert any("applicant@example.cn" in m.to for m in mail.outbox)
    # another enterprise and an authority of another province see nothing
    login(client, applicant())
    assert client.get(reverse("pilots:application", args=[app.pk])).status_code == 404
    # authority: ranked list with the quota, recommend
    move_to(call, "recommendation")
    other = authority_user(province(("330000", "浙江省")))
    login(client, other)
    assert client.post(reverse("pilots:recommend", args=[call.pk]), {"application": app.pk}).status_code == 404
    clerk = authority_user(province())
    login(client, clerk)
    page = client.get(reverse("pilots:recommend", args=[call.pk])).content.decode()
    assert "已推荐 0 个，名额 3 个" in page and "页面申报企业" in page
    client.post(reverse("pilots:recommend", args=[call.pk]), {"application": app.pk, "action": "recommend"})
    app.refresh_from_db()
    assert app.status == S.RECOMMENDED
    # staff: eligibility, automatic assignment
    move_to(call, "eligibility")
    boss = staff()
    login(client, boss)
    client.post(reverse("pilots:manage", args=[call.pk]), {"action": "eligible", "application": app.pk})
    experts = [expert(name=f"页面专家{i}", employer=f"单位{i}") for i in range(2)]
    client.post(reverse("pilots:manage", args=[call.pk]), {"action": "auto_assign"})
    assert Assignment.objects.filter(application=app).count() == 2
    # expert: sees only what is assigned; other scores hidden until its own is submitted
    move_to(call, "review")
    outsider = expert(name="未分配专家", employer="无关")
    login(client, outsider.user)
    asg_first, asg_second = Assignment.objects.filter(application=app).order_by("pk")
    assert client.get(reverse("pilots:review", args=[asg_first.pk])).status_code == 404
    assert client.get(reverse("pilots:application", args=[app.pk])).status_code == 404
    login(client, experts[0].user if asg_first.expert == experts[0] else experts[1].user)
    client.post(reverse("pilots:review", args=[asg_first.pk]),
                {"action": "submit", "score_innovation": "90", "score_benefit": "80", "score_replicable": "70", "comment": "很好"})
    login(client, asg_second.expert.user)
    page = client.get(reverse("pilots:review", args=[asg_second.pk])).content.decode()
    assert "提交您的评审后可查看其他专家的评分" in page and "很好" not in page
    client.post(reverse("pilots:review", args=[asg_second.pk]),
                {"action": "submit", "score_innovation": "70", "score_benefit": "70", "score_replicable": "70", "comment": "较好"})
    page = client.get(reverse("pilots:review", args=[asg_second.pk])).content.decode()
    assert "很好" in page
    # staff: aggregate, propose
    login(client, boss)
    client.post(reverse("pilots:manage", args=[call.pk]), {"action": "aggregate"})
    move_to(call, "notice")
    client.post(reverse("pilots:manage", args=[call.pk]), {"action": "propose", "applications": [app.pk]})
    app.refresh_from_db()
    assert app.status == S.PROPOSED
    # the public: notice page and an objection
    client.logout()
    page = client.get(reverse("pilots:notice", args=[call.pk])).content.decode()
    assert "页面申报企业" in page and "提出异议" in page
    bad = client.post(reverse("pilots:notice", args=[call.pk]), {"application": app.pk, "name": "", "phone": "1", "text": "短"})
    assert "不受理匿名异议" in bad.content.decode()
    client.post(reverse("pilots:notice", args=[call.pk]),
                {"application": app.pk, "name": "王五", "phone": "13800000000", "text": "请核实该企业的质量事故情况。"})
    objection = Objection.objects.get()
    assert "王五" not in client.get(reverse("pilots:notice", args=[call.pk])).content.decode()
    # staff handle it, decide after the notice; the applicant's page shows every outcome
    login(client, boss)
    client.post(reverse("pilots:manage", args=[call.pk]),
                {"action": "handle_objection", "objection": objection.pk, "status": "dismissed", "handling": "经核实不属实"})
    move_to(call, "decision")
    with django_capture_on_commit_callbacks() as queued:
        client.post(reverse("pilots:manage", args=[call.pk]), {"action": "decide"})
    assert send_queued_notifications(queued) == 1
    app.refresh_from_db()
    assert app.status == S.SELECTED
    login(client, ent_user)
    page = client.get(reverse("pilots:application", args=[app.pk])).content.decode()
    for label in ("提交申报", "推荐", "资格审查通过", "评审汇总", "列入公示名单", "认定入选"):
        assert label in page
    client.logout()
    assert "页面申报企业" in client.get(reverse("pilots:notice", args=[call.pk])).content.decode()


def test_objection_after_the_notice_is_refused_with_a_message(client):
    call = make_call("notice")
    app = Application.objects.create(call=call, enterprise=applicant().enterprise, recommending_unit=province(),
                                     status=S.PROPOSED, created_by=staff())
    move_to(call, "decision")
    response = client.post(reverse("pilots:notice", args=[call.pk]),
                           {"application": app.pk, "name": "王五", "phone": "13800000000", "text": "请核实该企业的质量事故情况。"},
                           follow=True)
    assert "不再受理异议" in response.content.decode()
    assert not Objection.objects.exists()


def test_staff_pages_are_404_for_others(client):
    call = make_call("application")
    for user in (applicant(), authority_user(province()), expert().user, UserFactory(role="expert")):
        login(client, user)
        assert client.get(reverse("pilots:manage", args=[call.pk])).status_code == 404
    login(client, applicant())
    assert client.get(reverse("pilots:recommend", args=[call.pk])).status_code == 404


def test_notice_page_not_public_before_the_notice(client):
    call = make_call("review")
    assert client.get(reverse("pilots:notice", args=[call.pk])).status_code == 404


def test_scenario_over_the_limit_keeps_the_text_on_the_page(client):
    call = make_call("application")
    user = applicant()
    app = submitted_application(call, user)  # then withdraw → cannot edit; use a fresh one
    user2 = applicant()
    login(client, user2)
    client.post(reverse("pilots:apply", args=[call.pk]))
    app = Application.objects.get(enterprise=user2.enterprise)
    long_text = "质" * 3001
    response = client.post(reverse("pilots:application", args=[app.pk]), scenario_post(0, **{"s0-text": long_text}))
    body = response.content.decode()
    assert "超过 3000 字的上限" in body and long_text in body


def test_defence_recorded_on_the_call_page_and_industry_balance(client):
    from apps.pilots.models import AggregateResult

    call = make_call("defence", defence=True)
    app = Application.objects.create(call=call, enterprise=applicant(name="答辩企业").enterprise, recommending_unit=province(),
                                     status=S.REVIEWED, created_by=staff())
    AggregateResult.objects.create(application=app, method="trimmed_mean", reviews=3, score=80, spread=5)
    login(client, staff())
    page = client.get(reverse("pilots:manage", args=[call.pk])).content.decode()
    assert f'data-testid="defence-{app.pk}"' in page and 'data-testid="industry-balance"' in page
    bad = client.post(reverse("pilots:manage", args=[call.pk]), {"action": "defence", "application": app.pk, "score": "x"},
                      follow=True)
    assert "答辩得分必须是数字" in bad.content.decode()
    client.post(reverse("pilots:manage", args=[call.pk]),
                {"action": "defence", "application": app.pk, "score": "86", "note": "回答清楚"})
    app.refresh_from_db()
    assert (app.defence_score, app.defence_note) == (86.0, "回答清楚")
