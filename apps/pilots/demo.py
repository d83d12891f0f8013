"""Demo data of pilot selection for `make run` (called by ``load_demo``): a call open for
applications, a call in expert review with experts, assignments and a conflict, a closed
call with its announced list, and a dozen published showcase cases. Idempotent (skips what
exists). Dates are relative to today, so every stage has something to show."""

from __future__ import annotations

import datetime

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import Role, User
from apps.accounts.scoping import recommending_unit_for
from apps.filings.models import Submission, SubmissionStatus
from apps.reference.models import KeyIndustry, Region

from . import services
from .models import (
    AggregateResult,
    Application,
    ApplicationEvent,
    ApplicationStatus,
    Call,
    CallStatus,
    Case,
    CaseStatus,
    Conflict,
    ConflictSource,
    Expert,
    RubricCriterion,
    Scenario,
)

CRITERIA = [("innovation", "创新性与先进性", 0.3), ("benefit", "实施成效", 0.4), ("replicable", "可复制推广价值", 0.3)]
EXPERTS = [
    ("张明", "东南大学", "", "320000", ["electronics"], ["lifecycle"]),
    ("李华", "浙江大学", "", "330000", ["new-materials"], ["value_chain"]),
    ("王芳", "中国电子技术标准化研究院", "", "110000", ["electronics", "nev-icv"], ["lifecycle", "industry_chain"]),
    ("赵强", "上海交通大学", "", "310000", ["nev-icv"], ["value_chain"]),
    ("陈静", "中国质量认证中心", "", "110000", ["biomedicine"], ["lifecycle"]),
    ("刘洋", "华中科技大学", "", "420000", ["aerospace", "shipbuilding-marine"], ["industry_chain"]),
    ("孙伟", "南京工业大学", "", "320000", ["new-materials"], ["lifecycle", "value_chain"]),
    ("周敏", "机械工业信息研究院", "", "110000", ["nev-icv", "electronics"], ["value_chain", "industry_chain"]),
]
SCENARIOS = [
    ("来料检验数据自动采集与判定", "lifecycle", ["material", "measurement"],
     "通过 LIMS 与主要供应商质量数据对接，来料检验数据自动采集、自动判定，异常批次自动冻结并推送处置。"),
    ("关键工序参数在线监控", "lifecycle", ["machine", "method"],
     "在注塑、焊接等关键工序部署传感器，工艺参数实时上传，超限即时报警并关联批次追溯。"),
    ("供应链质量协同平台", "value_chain", ["material", "method"],
     "与一级供应商共享质量目标与检验结果，来料不良闭环处理周期明显缩短。"),
    ("全流程质量追溯", "industry_chain", ["measurement", "method"],
     "以产品序列号贯通设计、采购、生产、交付和服务数据，实现正反向追溯。"),
]
CASES = [
    ("电子元器件来料检验智能判定", "lifecycle", "electronics", ["material", "measurement"], "320102",
     "来料检验依赖人工记录，检验结论滞后，批次追溯困难。", "建设来料检验系统，与供应商质量数据对接，自动采集判定。",
     [("来料检验周期", 3.0, 1.0, "天"), ("来料不良流出率", 0.8, 0.2, "%")]),
    ("汽车零部件焊接质量在线检测", "lifecycle", "nev-icv", ["machine", "measurement"], "320500",
     "焊点缺陷依赖人工目检，漏检率高。", "部署视觉检测与焊接参数监控，缺陷在线识别并自动剔除。",
     [("焊点漏检率", 1.5, 0.1, "%")]),
    ("新材料批次一致性控制", "lifecycle", "new-materials", ["method", "measurement"], "330106",
     "配方与工艺参数靠经验调整，批次间性能波动大。", "建立工艺参数与性能数据模型，实时推荐工艺窗口。",
     [("关键性能指标变异系数", 8.0, 3.5, "%")]),
    ("药品生产数据完整性管理", "lifecycle", "biomedicine", ["man", "method"], "320102",
     "纸质批记录易出错，审计追踪不完整。", "电子批记录与审计追踪全覆盖，偏差自动上报。",
     [("批记录差错", 12.0, 1.0, "次/月")]),
    ("船舶分段焊接质量追溯", "industry_chain", "shipbuilding-marine", ["man", "machine"], "370200",
     "分段焊接质量记录分散，问题难以定位到焊工和设备。", "焊工资质、设备和焊缝检测数据关联，形成焊缝级追溯。",
     [("返修定位时间", 48.0, 4.0, "小时")]),
    ("航空结构件检测数据集成", "value_chain", "aerospace", ["measurement"], "610100",
     "三坐标、无损检测数据各自存放，质量分析耗时。", "统一检测数据平台，自动生成质量分析报告。",
     [("质量分析报告编制时间", 5.0, 0.5, "天")]),
    ("供应商质量协同平台", "value_chain", "electronics", ["material", "method"], "440300",
     "供应商质量问题反馈靠邮件，闭环慢。", "建设供应商协同平台，问题在线派发、跟踪、验证。",
     [("供应商问题闭环周期", 20.0, 6.0, "天")]),
    ("电池电芯全生命周期追溯", "industry_chain", "nev-icv", ["material", "measurement", "method"], "320500",
     "电芯从原料到回收的数据断点多。", "以电芯编码贯通原料、制造、使用与回收数据。",
     [("追溯数据完整率", 70.0, 99.0, "%")]),
    ("注塑车间设备预测性维护", "lifecycle", "electronics", ["machine"], "330106",
     "设备突发故障导致批量质量问题。", "振动与温度监测结合模型预警，计划性维护。",
     [("非计划停机", 30.0, 8.0, "小时/月")]),
    ("实验室检测数据自动采集", "lifecycle", "biomedicine", ["measurement", "environment"], "420100",
     "检测仪器数据手工转录，差错率高。", "仪器联网自动采集，环境温湿度同步记录。",
     [("转录差错", 25.0, 0.0, "次/月")]),
    ("质量成本数字化核算", "value_chain", "new-materials", ["method"], "510100",
     "质量损失难以量化，改进优先级凭经验。", "打通质量、财务数据，按产品和缺陷类型核算质量成本。",
     [("内部损失率", 3.2, 1.9, "%")]),
    ("一线员工质量技能数字化培训", "lifecycle", "electronics", ["man"], "320102",
     "新员工上岗培训周期长，质量意识参差。", "移动端微课与在线考核，技能矩阵与岗位资格联动。",
     [("新员工上岗周期", 20.0, 10.0, "天"), ("人为差错", 15.0, 6.0, "次/月")]),
]


def _dates(today: datetime.date, application_start: int) -> dict:
    d = lambda n: today + datetime.timedelta(days=application_start + n)  # noqa: E731
    return {
        "applications_open_on": d(0), "applications_close_on": d(9), "recommendation_closes_on": d(19),
        "eligibility_closes_on": d(29), "review_closes_on": d(39), "notice_starts_on": d(40),
        "notice_ends_on": d(49), "decision_on": d(50),
    }


def _call(title: str, year: int, dates: dict, staff, status=CallStatus.OPEN, **kw) -> Call:
    call = Call.objects.create(
        title=title, year=year, description="依据《制造业质量管理数字化实施指南（试行）》开展试点示范遴选。",
        scenario_levels=["lifecycle", "value_chain", "industry_chain"], status=status, created_by=staff,
        quota_per_unit=3, **dates, **kw)
    call.key_industries.set(KeyIndustry.objects.all())
    RubricCriterion.objects.bulk_create(
        [RubricCriterion(call=call, code=c, name=n, weight=w, order=i) for i, (c, n, w) in enumerate(CRITERIA)])
    return call


def _application(call, sub, status, staff, i, events) -> Application:
    ent = sub.enterprise
    score = getattr(sub, "score", None)
    app = Application.objects.create(
        call=call, enterprise=ent, recommending_unit=recommending_unit_for(ent), status=status, created_by=staff,
        submission=sub, diagnosis_score=score.composite if score else None, diagnosis_level=score.level if score else None,
        declares_legal_person=True, declares_good_credit=True, declares_no_accident=True,
        key_industry=ent.key_industries.first(), submitted_at=timezone.now(), recommend_rank=(i % 3) + 1,
    )
    title, level, elements, text = SCENARIOS[i % len(SCENARIOS)]
    Scenario.objects.create(application=app, title=title, level=level, elements=elements, text=text)
    previous = ""
    for action, to in events:
        ApplicationEvent.objects.create(application=app, action=action, from_status=previous, to_status=to, actor=staff)
        previous = to
    return app


TRAIL = [("created", "draft"), ("submitted", "submitted"), ("recommended", "recommended"), ("eligible", "eligible")]


@transaction.atomic
def load_pilot_demo() -> list[str]:
    """Create the pilot demo set once; returns lines for the command's output."""
    if Call.objects.filter(title__startswith="【演示】").exists():
        return []
    staff = User.objects.filter(role=Role.MINISTRY).order_by("pk").first()
    today = timezone.localdate()
    experts = []
    for name, employer, group, region, keys, levels in EXPERTS:
        e = Expert.objects.create(name=name, employer=employer, employer_group=group,
                                  region=Region.objects.filter(code=region).first(), scenario_levels=levels)
        e.key_industries.set(KeyIndustry.objects.filter(pk__in=keys))
        experts.append(e)
    demo_expert = User.objects.filter(username="expert", role=Role.EXPERT).first()
    if demo_expert is not None:
        experts[0].user = demo_expert
        experts[0].save()

    accepted = list(
        Submission.objects.filter(status=SubmissionStatus.ACCEPTED, score__isnull=False, province_code__in=["320000", "330000"])
        .exclude(enterprise__users__username="enterprise")
        .select_related("enterprise", "score").order_by("-period__opens_on", "-score__composite")[:14]
    )
    _call("【演示】2026年质量管理数字化典型场景试点（第二批）", 2026, _dates(today, -3), staff)

    review_call = _call("【演示】2026年质量管理数字化典型场景试点（第一批）", 2026, _dates(today, -32), staff,
                        region_conflict=False)
    review_apps = [_application(review_call, sub, ApplicationStatus.ELIGIBLE, staff, i, TRAIL)
                   for i, sub in enumerate(accepted[:6])]
    if review_apps:
        Conflict.objects.create(expert=experts[1], enterprise=review_apps[0].enterprise, source=ConflictSource.DECLARED,
                                reason="曾为该企业提供咨询服务", created_by=experts[1].user)
        result = services.assignment_auto(call=review_call, user=staff)
        if experts[0].user is not None:
            for asg in experts[0].assignments.select_related("application")[:1]:
                services.review_save(assignment=asg, user=experts[0].user,
                                     scores={"innovation": 85, "benefit": 80, "replicable": 78}, comment="场景清晰，成效可量化。",
                                     submit=True)
    else:
        result = None

    closed = _call("【演示】2025年质量标杆企业遴选", 2025, _dates(today, -120), staff, status=CallStatus.ANNOUNCED)
    selected = []
    for i, sub in enumerate(accepted[6:12]):
        chosen = i < 4
        trail = TRAIL + [("reviewed", "reviewed"), ("proposed", "proposed")] if chosen else TRAIL + [("reviewed", "reviewed")]
        trail = trail + [("selected", "selected")] if chosen else trail + [("not_selected", "not_selected")]
        app = _application(closed, sub, ApplicationStatus.SELECTED if chosen else ApplicationStatus.NOT_SELECTED, staff, i, trail)
        AggregateResult.objects.create(application=app, method=closed.aggregation, reviews=3, score=88 - 4 * i,
                                       spread=6 + 3 * i, disagreement=6 + 3 * i > closed.disagreement_threshold)
        if chosen:
            selected.append(app)
    closed.announced_at = timezone.now() - datetime.timedelta(days=60)
    closed.save(update_fields=["announced_at"])

    cases = 0
    for i, (title, level, key, elements, region, problem, solution, results) in enumerate(CASES):
        source = selected[i] if i < min(2, len(selected)) else None
        case = Case(
            title=title, enterprise_display=source.enterprise.name if source else "某" + (KeyIndustry.objects.filter(pk=key).values_list("name", flat=True).first() or "制造") + "企业",
            enterprise=source.enterprise if source else None, anonymised=source is None, scenario_level=level,
            key_industry=KeyIndustry.objects.filter(pk=key).first(), elements=elements,
            region=Region.objects.filter(code=region).first(), problem=problem, solution=solution,
            results=[{"metric": m, "before": b, "after": a, "unit": u} for m, b, a, u in results],
            status=CaseStatus.PUBLISHED, published_at=timezone.now() - datetime.timedelta(days=30 - i),
            source_application=source, consent_at=timezone.now() if source else None,
            consent_note="企业书面同意函" if source else "", created_by=staff,
        )
        case.save()
        cases += 1
    lines = [f"试点示范演示数据：3 个批次、{len(experts)} 名专家、{Application.objects.count()} 份申报、{cases} 个典型案例。"]
    if result is not None and result.problems:
        lines.append(f"  自动分配未完成：{len(result.problems)} 份申报")
    return lines
