"""Builders for pilot-selection tests: a call placed so that today falls in a chosen stage,
enterprises with a scored diagnosis, users of each role, experts.

Stages are 10 days long from the application opening: application, recommendation,
eligibility, review, (defence), notice, then decision. ``move_to(call, stage)`` rewrites the
call's dates so that today is the third day of ``stage`` (the data moves, not the clock).
"""

from __future__ import annotations

import datetime

from django.utils import timezone

from apps.accounts.models import Role
from apps.filings.models import Submission, SubmissionScore, SubmissionStatus
from apps.pilots import services
from apps.pilots.models import Call, CallStatus, Expert
from apps.reference.models import Region, RegionLevel
from tests.factories import (
    EnterpriseFactory,
    UserFactory,
    authority_user,
    county,
    enterprise_user,
    key_industry,
    prefecture,
    province,
)
from tests.filings.builders import open_period

STAGES = ["application", "recommendation", "eligibility", "review", "defence", "notice", "decision"]
CRITERIA = [
    {"code": "innovation", "name": "创新性", "weight": 0.4},
    {"code": "benefit", "name": "实施成效", "weight": 0.4},
    {"code": "replicable", "name": "可复制推广", "weight": 0.2},
]


def dates_for(stage: str, defence: bool = False, today: datetime.date | None = None) -> dict:
    today = today or timezone.localdate()
    order = [s for s in STAGES if defence or s != "defence"]
    a0 = today - datetime.timedelta(days=2 + 10 * order.index(stage))
    d = lambda n: a0 + datetime.timedelta(days=n)  # noqa: E731
    review_close = d(39)
    defence_close = d(49) if defence else None
    notice_start = (defence_close or review_close) + datetime.timedelta(days=1)
    return {
        "applications_open_on": d(0), "applications_close_on": d(9), "recommendation_closes_on": d(19),
        "eligibility_closes_on": d(29), "review_closes_on": review_close, "defence_closes_on": defence_close,
        "notice_starts_on": notice_start, "notice_ends_on": notice_start + datetime.timedelta(days=9),
        "decision_on": notice_start + datetime.timedelta(days=10),
    }


def move_to(call: Call, stage: str) -> Call:
    Call.objects.filter(pk=call.pk).update(**dates_for(stage, call.defence_required))
    call.refresh_from_db()
    return call


def staff() -> object:
    return UserFactory(role=Role.MINISTRY)


def make_call(stage: str = "application", *, user=None, defence: bool = False, **kw) -> Call:
    user = user or staff()
    fields = {
        "title": "2026年质量管理数字化试点示范", "year": 2026, "scenario_levels": ["lifecycle", "value_chain"],
        "quota_per_unit": 2, "defence_required": defence, **dates_for(stage, defence), **kw,
    }
    call = services.call_create(user=user, criteria=CRITERIA, key_industries=[key_industry()], **fields)
    return services.call_publish(call=call, user=user)


_period = {}


def diagnosed_enterprise(region=None, *, level: int = 3, composite: float = 62.5, **kw):
    """An enterprise with an accepted, scored filing in an open period."""
    period = _period.get("p")
    if period is None or not type(period).objects.filter(pk=period.pk).exists():
        period = _period["p"] = open_period()
    ent = EnterpriseFactory(region=region or county(), **kw)
    sub = Submission.objects.create(
        enterprise=ent, period=period, framework=period.framework, status=SubmissionStatus.ACCEPTED,
        province_code=ent.province_code, prefecture_code=ent.prefecture_code, county_code=ent.county_code,
        division_code=ent.division_code,
    )
    SubmissionScore.objects.create(
        submission=sub, framework=period.framework, scoring_code_version="test", composite=composite, level=level,
        dimension_scores={}, indicator_scores={},
    )
    return ent


def applicant(region=None, **kw):
    return enterprise_user(diagnosed_enterprise(region, **kw))


SCENARIO = {"title": "来料检验数据自动采集", "level": "lifecycle", "elements": ["material", "measurement"],
            "text": "通过 LIMS 与供应商质量数据对接，实现来料检验数据自动采集与判定。"}


def submitted_application(call: Call, user, scenarios=None):
    app = services.application_start(call=call, user=user)
    app = services.application_save(
        application=app, user=user, revision=app.revision, scenarios=scenarios or [SCENARIO],
        fields={"declares_legal_person": True, "declares_good_credit": True, "declares_no_accident": True},
    )
    return services.application_submit(application=app, user=user)


def expert(name="李专家", employer="某大学", user=True, **kw) -> Expert:
    account = UserFactory(role=Role.EXPERT) if user else None
    return Expert.objects.create(name=name, employer=employer, user=account, **kw)


def separately_planned_world():
    """辽宁 with 大连 (计划单列市) and 沈阳; 新疆 with the 兵团's 石河子 and 乌鲁木齐."""
    liaoning = province(("210000", "辽宁省"))
    dalian = prefecture(("210200", "大连市"), ("210000", "辽宁省"))
    Region.objects.filter(pk=dalian.pk).update(is_separately_planned=True)
    dalian.refresh_from_db()
    xinjiang = province(("650000", "新疆维吾尔自治区"))
    direct = prefecture(("659000", "自治区直辖县级行政区划"), ("650000", "新疆维吾尔自治区"))
    xpcc = Region.objects.create(code="660000", name="新疆生产建设兵团", level=RegionLevel.PROVINCE,
                                 province_code="660000", oversees_prefecture_code=direct.code)
    return {
        "liaoning": liaoning, "dalian": dalian, "xinjiang": xinjiang, "xpcc": xpcc,
        "shenyang_county": county(("210102", "和平区"), ("210100", "沈阳市"), ("210000", "辽宁省")),
        "dalian_county": county(("210202", "中山区"), ("210200", "大连市"), ("210000", "辽宁省")),
        "shihezi": county(("659001", "石河子市"), ("659000", "自治区直辖县级行政区划"), ("650000", "新疆维吾尔自治区")),
        "urumqi_county": county(("650102", "天山区"), ("650100", "乌鲁木齐市"), ("650000", "新疆维吾尔自治区")),
    }


__all__ = ["CallStatus"]


def send_queued_notifications(callbacks) -> int:
    """Run here, in order, the applicant notifications that the captured on-commit callbacks
    would queue for the worker (the services queue ``tasks.notify_applicant.delay`` as a
    partial); returns how many ran. tests/pilots/test_notify_worker.py runs them on a real
    worker instead."""
    from apps.pilots import tasks

    ran = 0
    for callback in callbacks:
        if getattr(callback, "func", None) == tasks.notify_applicant.delay:
            tasks.notify_applicant(*callback.args)
            ran += 1
    return ran


def through_review(call, n=3, experts=4):
    """n recommended and eligible applications, experts in the pool, call in review."""
    apps = [submitted_application(call, applicant()) for _ in range(n)]
    move_to(call, "recommendation")
    clerk = authority_user(province())
    for a in apps:
        services.application_recommend(application=a, user=clerk)
    move_to(call, "eligibility")
    boss = staff()
    for a in apps:
        services.application_check_eligibility(application=a, user=boss, passed=True)
    pool = [expert(name=f"专家{i}", employer=f"单位{i}", scenario_levels=["lifecycle"]) for i in range(experts)]
    return apps, pool, boss
