"""The selection workflow through its services: every transition recorded, refused out of
order or outside its date window, with the access rules of apps.accounts.pilot_rules."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.accounts import pilot_rules
from apps.pilots import selectors, services
from apps.pilots.models import (
    SCENARIO_MAX_CHARS,
    Application,
    ApplicationEvent,
    ApplicationStatus,
    Assignment,
    Objection,
    ObjectionStatus,
)
from tests.factories import authority_user, province
from tests.pilots.builders import (
    SCENARIO,
    applicant,
    expert,
    make_call,
    move_to,
    send_queued_notifications,
    separately_planned_world,
    staff,
    submitted_application,
    through_review,
)

pytestmark = pytest.mark.django_db
S = ApplicationStatus


def test_application_draft_submit_withdraw_and_events(mailoutbox, django_capture_on_commit_callbacks):
    call = make_call("application")
    user = applicant(level=3, composite=66.0)
    app = services.application_start(call=call, user=user)
    assert app.status == S.DRAFT and app.recommending_unit_id == "320000"
    with pytest.raises(ValidationError, match="三项声明"):
        services.application_submit(application=app, user=user)
    with django_capture_on_commit_callbacks() as queued:
        app = submitted_application(call, user)
    assert app.status == S.SUBMITTED
    assert not mailoutbox  # nothing is sent inside the transaction: the worker sends it
    assert send_queued_notifications(queued) == 1
    assert (app.diagnosis_score, app.diagnosis_level) == (66.0, 3)
    assert mailoutbox and "已申报" in mailoutbox[-1].subject
    app = services.application_withdraw(application=app, user=user, reason="材料需补充")
    events = list(ApplicationEvent.objects.filter(application=app).values_list("action", "from_status", "to_status", "note"))
    assert events == [
        ("created", "", "draft", ""), ("submitted", "draft", "submitted", ""),
        ("withdrawn", "submitted", "withdrawn", "材料需补充"),
    ]
    assert all(e.actor_id == user.pk for e in ApplicationEvent.objects.filter(application=app))


def test_an_application_records_the_score_of_the_published_run_when_there_is_one():
    """Once the period's index run is published, an application records the filing's score
    in that run (RunScore, found by run and enterprise), not the filing's own
    SubmissionScore."""
    from apps.indices.models import IndexRun, RunScore, RunStatus

    call = make_call("application")
    user = applicant(level=3, composite=66.0)
    sub = user.enterprise.submissions.get()
    run = IndexRun.objects.create(period=sub.period, framework=sub.framework, status=RunStatus.SUCCEEDED,
                                  is_published=True, code_version="test")
    RunScore.objects.create(run=run, chunk=0, submission_id=sub.pk, enterprise_id=sub.enterprise_id, composite=71.5,
                            level=4, dimension_scores=b"")
    app = submitted_application(call, user)
    assert (app.diagnosis_score, app.diagnosis_level) == (71.5, 4)
    assert selectors.diagnosis_for(user.enterprise).source == "run"


def test_submit_and_withdraw_refused_after_the_deadline():
    call = make_call("application")
    user = applicant()
    app = submitted_application(call, user)
    move_to(call, "recommendation")
    with pytest.raises(ValidationError, match="申报"):
        services.application_withdraw(application=app, user=user)
    other = applicant()
    with pytest.raises(ValidationError, match="不在"):
        services.application_start(call=call, user=other)


def test_scenario_limit_counts_characters_as_the_form_does():
    call = make_call("application")
    user = applicant()
    app = services.application_start(call=call, user=user)
    exactly = "质" * (SCENARIO_MAX_CHARS - 2) + "\r\n" + "量"  # CRLF counts as one character
    app = services.application_save(application=app, user=user, revision=0,
                                    scenarios=[{**SCENARIO, "text": exactly}])
    assert app.scenarios.get().text.count("\n") == 1
    with pytest.raises(ValidationError, match="删减 1 字"):
        services.application_save(application=app, user=user, revision=app.revision,
                                  scenarios=[{**SCENARIO, "text": exactly + "多"}])
    assert app.scenarios.count() == 1  # nothing lost
    with pytest.raises(services.DraftConflict):
        services.application_save(application=app, user=user, revision=0, fields={"employer_group": "甲集团"})


def test_attachment_type_checked_from_bytes():
    call = make_call("application")
    user = applicant()
    app = services.application_start(call=call, user=user)
    att = services.attachment_add(application=app, user=user,
                                  uploaded_file=SimpleUploadedFile("a.pdf", b"%PDF-1.7\n...", "application/pdf"))
    assert att.content_type == "application/pdf"
    with pytest.raises(ValidationError, match="不是允许的类型"):
        services.attachment_add(application=app, user=user,
                                uploaded_file=SimpleUploadedFile("b.pdf", b"MZ\x90\x00binary", "application/pdf"))


def test_another_enterprise_cannot_touch_the_application():
    call = make_call("application")
    app = services.application_start(call=call, user=applicant())
    intruder = applicant()
    with pytest.raises(PermissionDenied):
        services.application_save(application=app, user=intruder, revision=0, fields={"employer_group": "x"})
    assert not pilot_rules.applications_visible_to(intruder).filter(pk=app.pk).exists()


def test_province_cannot_recommend_a_separately_planned_city_enterprise():
    w = separately_planned_world()
    call = make_call("application")
    dalian_app = submitted_application(call, applicant(w["dalian_county"]))
    shenyang_app = submitted_application(call, applicant(w["shenyang_county"]))
    move_to(call, "recommendation")
    liaoning = authority_user(w["liaoning"])
    dalian = authority_user(w["dalian"])
    assert list(selectors.channel_applications(user=liaoning, call=call)) == [shenyang_app]
    with pytest.raises(PermissionDenied):
        services.application_recommend(application=dalian_app, user=liaoning)
    assert services.application_recommend(application=dalian_app, user=dalian).status == S.RECOMMENDED
    assert services.application_recommend(application=shenyang_app, user=liaoning).status == S.RECOMMENDED


def test_recommendation_quota_return_and_order():
    call = make_call("application", quota_per_unit=2)
    apps = [submitted_application(call, applicant()) for _ in range(4)]
    clerk = authority_user(province())
    with pytest.raises(ValidationError, match="推荐"):  # not in the recommendation window yet
        services.application_recommend(application=apps[0], user=clerk)
    move_to(call, "recommendation")
    services.application_recommend(application=apps[0], user=clerk)
    services.application_recommend(application=apps[1], user=clerk)
    with pytest.raises(ValidationError, match="名额（2 个）已用完"):
        services.application_recommend(application=apps[2], user=clerk)
    with pytest.raises(ValidationError, match="退回原因"):
        services.application_return(application=apps[3], user=clerk, reason=" ")
    returned = services.application_return(application=apps[3], user=clerk, reason="场景描述与诊断结果不符")
    assert returned.status == S.RETURNED
    assert [a.recommend_rank for a in Application.objects.filter(status=S.RECOMMENDED).order_by("pk")] == [1, 2]
    with pytest.raises(ValidationError, match="当前状态"):
        services.application_check_eligibility(application=apps[2], user=staff(), passed=True)


_through_review = through_review


def test_eligibility_records_automatic_checks_and_fail_reason():
    call = make_call("application", min_diagnosis_level=4, quota_per_unit=5)
    a, b = (submitted_application(call, applicant(level=3)) for _ in range(2))
    move_to(call, "recommendation")
    clerk = authority_user(province())
    for x in (a, b):
        services.application_recommend(application=x, user=clerk)
    move_to(call, "eligibility")
    with pytest.raises(ValidationError, match="原因"):
        services.application_check_eligibility(application=a, user=staff(), passed=False)
    a = services.application_check_eligibility(application=a, user=staff(), passed=False, reason="诊断等级不足")
    checks = {c["code"]: c["passed"] for c in a.eligibility_checks}
    assert checks["diagnosis"] is True and checks["level"] is False and checks["region"] is True
    with pytest.raises(PermissionDenied):
        services.application_check_eligibility(application=b, user=clerk, passed=True)


def test_review_is_blind_until_own_submission_and_aggregation():
    call = make_call("application", quota_per_unit=5)
    apps, pool, boss = _through_review(call, n=2, experts=3)
    result = services.assignment_auto(call=call, user=boss)
    assert result.created == 6 and not result.problems
    move_to(call, "review")
    target = apps[0]
    asgs = list(Assignment.objects.filter(application=target).select_related("expert__user"))
    first, second = asgs[0].expert.user, asgs[1].expert.user
    services.review_save(assignment=asgs[0], user=first, scores={"innovation": 90, "benefit": 80, "replicable": 70},
                         comment="场景清晰", submit=True)
    # the second expert sees only its own (not yet started) review, not the first one's scores
    assert list(selectors.reviews_visible(user=second, application=target)) == []
    with pytest.raises(PermissionDenied):
        services.review_save(assignment=asgs[0], user=second, scores={"innovation": 10})
    with pytest.raises(ValidationError, match="之间"):
        services.review_save(assignment=asgs[1], user=second, scores={"innovation": 101})
    services.review_save(assignment=asgs[1], user=second, scores={"innovation": 40, "benefit": 40, "replicable": 40},
                         comment="一般", submit=True)
    assert len(selectors.reviews_visible(user=second, application=target)) == 2
    # an expert not assigned to the application cannot read it
    outsider = expert(name="旁人", employer="无关单位")
    assert not pilot_rules.applications_visible_to(outsider.user).exists()
    with pytest.raises(ValidationError, match="未全部提交"):
        services.results_aggregate(call=call, user=boss)
    for asg in Assignment.objects.filter(review__isnull=True).select_related("expert__user"):
        services.review_save(assignment=asg, user=asg.expert.user, scores={"innovation": 60, "benefit": 60, "replicable": 60},
                             comment="可以", submit=True)
    results = {r.application_id: r for r in services.results_aggregate(call=call, user=boss)}
    r = results[target.pk]
    # totals 82 (0.4·90+0.4·80+0.2·70), 40, 60 → trimmed mean 60, spread 42 > 20
    assert (r.score, r.spread, r.disagreement) == (60.0, 42.0, True)
    with pytest.raises(ValidationError, match="原因"):
        services.result_adjust(result=r, user=boss, score=65, reason="")
    r = services.result_adjust(result=r, user=boss, score=65, reason="专家组复核")
    assert r.final_score == 65
    assert ApplicationEvent.objects.filter(application=target, action="adjusted").exists()


def _to_notice(call):
    apps, pool, boss = _through_review(call, n=2, experts=3)
    services.assignment_auto(call=call, user=boss)
    move_to(call, "review")
    for asg in Assignment.objects.select_related("expert__user"):
        services.review_save(assignment=asg, user=asg.expert.user, scores={"innovation": 80, "benefit": 70, "replicable": 90},
                             comment="好", submit=True)
    services.results_aggregate(call=call, user=boss)
    move_to(call, "notice")
    services.call_propose(call=call, user=boss, application_ids=[a.pk for a in apps])
    return [Application.objects.get(pk=a.pk) for a in apps], boss


def test_objections_inside_and_outside_the_notice_and_decision(mailoutbox, django_capture_on_commit_callbacks):
    call = make_call("application", quota_per_unit=5)
    apps, boss = _to_notice(call)
    apps = [Application.objects.get(pk=a.pk) for a in apps]
    assert [a.status for a in apps] == [S.PROPOSED, S.PROPOSED]
    with pytest.raises(ValidationError) as err:
        services.objection_file(application=apps[0], name="", phone="1", text="短", client="1.2.3.4")
    assert set(err.value.message_dict) == {"name", "phone", "text"}
    objection = services.objection_file(application=apps[0], name="王五", phone="13800000000",
                                        text="该企业近三年发生过质量事故，请核查。", client="1.2.3.4")
    with pytest.raises(ValidationError, match="未处理的异议"):
        move_to(call, "decision")
        services.call_decide(call=call, user=boss)
    with pytest.raises(ValidationError, match="不再受理异议"):
        services.objection_file(application=apps[1], name="赵六", phone="13900000000",
                                text="对该企业的申报材料真实性有疑问。", client="5.6.7.8")
    services.objection_handle(objection=objection, user=boss, status=ObjectionStatus.UPHELD, handling="经核实属实")
    mailoutbox.clear()
    with django_capture_on_commit_callbacks() as queued:
        services.call_decide(call=call, user=boss)
    assert send_queued_notifications(queued) == 2
    apps = [Application.objects.get(pk=a.pk) for a in apps]
    assert [a.status for a in apps] == [S.NOT_SELECTED, S.SELECTED]
    assert len(mailoutbox) == 2
    call.refresh_from_db()
    assert list(selectors.public_list(call)) == [apps[1]]
    assert Objection.objects.count() == 1


def test_objections_are_rate_limited():
    from django.core.cache import cache

    cache.clear()
    call = make_call("application", quota_per_unit=5)
    apps, _boss = _to_notice(call)
    for _ in range(services.OBJECTION_RATE[0]):
        services.objection_file(application=apps[0], name="王五", phone="13800000000",
                                text="该企业近三年发生过质量事故，请核查。", client="9.9.9.9")
    with pytest.raises(ValidationError, match="过于频繁"):
        services.objection_file(application=apps[0], name="王五", phone="13800000000",
                                text="该企业近三年发生过质量事故，请核查。", client="9.9.9.9")
    assert Objection.objects.count() == services.OBJECTION_RATE[0]


def test_defence_only_when_the_call_asks_and_in_its_window():
    call = make_call("application", quota_per_unit=5, defence=True)
    apps, pool, boss = _through_review(call, n=1, experts=3)
    services.assignment_auto(call=call, user=boss)
    move_to(call, "review")
    for asg in Assignment.objects.select_related("expert__user"):
        services.review_save(assignment=asg, user=asg.expert.user, scores={"innovation": 80, "benefit": 70, "replicable": 90},
                             comment="好", submit=True)
    services.results_aggregate(call=call, user=boss)
    with pytest.raises(ValidationError, match="答辩"):
        services.defence_record(application=apps[0], user=boss, score=85)
    move_to(call, "defence")
    for bad in (-1, 101, float("nan")):
        with pytest.raises(ValidationError, match="0 到 100"):
            services.defence_record(application=apps[0], user=boss, score=bad)
    app = services.defence_record(application=apps[0], user=boss, score=85, note="回答清楚")
    assert app.defence_score == 85
    assert ApplicationEvent.objects.filter(application=app, action="defended").exists()


def test_optional_quota_per_key_industry():
    from tests.factories import key_industry

    electronics = key_industry()
    materials = key_industry("new-materials", "新材料")
    call = make_call("application", quota_per_unit=3, industry_quotas={"electronics": 1})
    call.key_industries.add(materials)
    apps = []
    for code in ("electronics", "electronics", "new-materials"):
        user = applicant()
        user.enterprise.key_industries.add(electronics if code == "electronics" else materials)
        apps.append(submitted_application(call, user))
    assert [a.key_industry_id for a in apps] == ["electronics", "electronics", "new-materials"]
    move_to(call, "recommendation")
    clerk = authority_user(province())
    services.application_recommend(application=apps[0], user=clerk)
    with pytest.raises(ValidationError, match="电子制造"):
        services.application_recommend(application=apps[1], user=clerk)
    assert services.application_recommend(application=apps[2], user=clerk).status == S.RECOMMENDED
