"""Demo policies for ``load_demo``: a national and two provincial policies with targets on
the demo periods and support records, so that the tracking dashboard shows targets on and
off track and the impact page has a population. Idempotent. The documents are invented for
the demonstration (except the national guide, which exists); their targets are set from the
published demo indices so that the statuses come out as labelled."""

from __future__ import annotations

import datetime

from django.db import transaction

from apps.accounts.scoping import SYSTEM
from apps.filings.models import Period
from apps.indices.models import IndexRun, RunScore
from apps.reference.models import Region

from . import progress
from .models import Instrument, Measure, Metric, Policy, PolicyLevel, PolicyStatus, SupportRecord
from .selectors import FULL_READER
from .services import policy_supersede, target_create, target_progress_recompute

NATIONAL_DOC = "工信厅科〔2021〕59号"


def _value(run, kind: str, code: str, metric: str, level_min: int | None = None) -> float | None:
    from apps.indices.readers import cell_for

    return progress.metric_value(cell_for(FULL_READER, run, kind, code), metric, level_min, public=False)[0]


def _targets_for(runs, baseline, target_year: int, kind: str, code: str, metric: str, level_min=None):
    """(on-track value, off-track value) for a target on (kind, code, metric) due in
    ``target_year``, from the baseline and latest published values (the rule in progress.py)."""
    b = _value(runs[0], kind, code, metric, level_min)
    a = _value(runs[-1], kind, code, metric, level_min)
    if a is None or b is None:
        return None, None
    t0 = progress.decimal_year(baseline.opens_on)
    f = (progress.decimal_year(runs[-1].period.opens_on) - t0) / (target_year - t0)
    on = b + 0.8 * (a - b) / f if a > b + 0.5 else a
    off = max(a, b) + 3 * max(a - b, 1.0) / f + 5
    return round(min(on, 100.0), 1), round(min(off, 100.0), 1)  # every metric lies in 0..100


@transaction.atomic
def load_policy_demo() -> str:
    if Policy.objects.filter(issuing_body="工业和信息化部办公厅", doc_number=NATIONAL_DOC).exists():
        return "演示政策已存在。"
    periods = list(Period.objects.filter(code__in=["2025", "2026"]).order_by("opens_on"))
    runs = [IndexRun.objects.filter(period=p, is_published=True).select_related("period").first() for p in periods]
    if len(periods) < 2 or None in runs:
        return "演示政策未加载：演示期次没有已发布的指数。"
    baseline, year = periods[0], periods[-1].opens_on.year + 2
    jiangsu, zhejiang = Region.objects.get(code="320000"), Region.objects.get(code="330000")

    national = Policy.objects.create(
        title="制造业质量管理数字化实施指南（试行）", doc_number=NATIONAL_DOC, issuing_body="工业和信息化部办公厅",
        level=PolicyLevel.NATIONAL, issued_on=datetime.date(2021, 12, 30), in_force_on=datetime.date(2021, 12, 30),
        status=PolicyStatus.IN_FORCE, instrument=Instrument.SERVICE, dimensions=["D1", "D2", "D3"],
        text="以质量管理数字化为主线，推动企业开展诊断对标，建设质量数据采集和分析能力，强化政策支持。（演示数据）",
    )
    old_js = Policy.objects.create(
        title="江苏省制造业质量管理数字化提升行动方案（2023—2024年）（演示）", doc_number="苏工信质〔2023〕5号（演示）",
        issuing_body="江苏省工业和信息化厅", level=PolicyLevel.PROVINCIAL, region=jiangsu,
        issued_on=datetime.date(2023, 3, 1), status=PolicyStatus.ENDED, instrument=Instrument.SUBSIDY,
        text="对开展质量管理数字化改造的企业给予补助。（演示数据）",
    )
    js = Policy.objects.create(
        title="江苏省制造业质量管理数字化提升行动方案（2025—2027年）（演示）", doc_number="苏工信质〔2025〕12号（演示）",
        issuing_body="江苏省工业和信息化厅", level=PolicyLevel.PROVINCIAL, region=jiangsu,
        issued_on=datetime.date(2025, 2, 20), status=PolicyStatus.IN_FORCE, instrument=Instrument.SUBSIDY,
        dimensions=["D2", "D3"], text="对开展质量数据采集、SPC 应用和质量追溯改造的企业给予补助。（演示数据）",
    )
    policy_supersede(old=old_js, new=js, user=SYSTEM)
    zj = Policy.objects.create(
        title="浙江省质量管理数字化专项培训计划（演示）", doc_number="浙经信质〔2025〕3号（演示）",
        issuing_body="浙江省经济和信息化厅", level=PolicyLevel.PROVINCIAL, region=zhejiang,
        issued_on=datetime.date(2025, 4, 10), status=PolicyStatus.IN_FORCE, instrument=Instrument.TRAINING,
        text="面向中小企业开展质量管理数字化培训。（演示数据）",
    )
    specs = [
        (national, "开展质量管理数字化诊断对标", [("nation", "CN", Metric.MEAN, None, "on"),
                                                  ("nation", "CN", Metric.LEVEL_SHARE, 3, "off")]),
        (js, "质量数字化改造补助", [("province", "320000", Metric.MEAN, None, "on"),
                                     ("province", "320000", Metric.COVERAGE, None, "off")]),
        (zj, "质量管理数字化培训", [("province", "330000", Metric.LEVEL_SHARE, 2, "on"),
                                    ("province", "330000", Metric.MEAN, None, "off")]),
    ]
    measures = {}
    for pol, title, targets in specs:
        m = Measure.objects.create(policy=pol, title=title, instrument=pol.instrument)
        measures[pol.pk] = m
        for kind, code, metric, level_min, which in targets:
            on, off = _targets_for(runs, baseline, year, kind, code, metric, level_min)
            if on is None:
                continue
            target_create(measure=m, metric=metric, level_min=level_min, cell_kind=kind, cell_code=code,
                          baseline_period=baseline, target_year=year, value=on if which == "on" else off)
    # support: every third enterprise scored in both demo periods in the province of a
    # provincial policy, every fourth in the country for the national one
    both = set(RunScore.objects.filter(run=runs[0]).values_list("enterprise_id", flat=True)) & set(
        RunScore.objects.filter(run=runs[1]).values_list("enterprise_id", flat=True))
    from apps.enterprises.models import Enterprise

    granted = periods[0].opens_on + datetime.timedelta(days=90)
    records = []
    for pol, province in ((js, "320000"), (zj, "330000"), (national, None)):
        scope = Enterprise.objects.filter(pk__in=both)
        if province:
            scope = scope.filter(province_code=province)
        ids = sorted(scope.values_list("pk", flat=True))
        step = 3 if province else 4
        for i, pk in enumerate(ids[::step]):
            amount = 20 + (i % 5) * 10 if pol.instrument == Instrument.SUBSIDY else None
            records.append(SupportRecord(enterprise_id=pk, measure=measures[pol.pk], granted_on=granted, amount=amount))
    SupportRecord.objects.bulk_create(records, ignore_conflicts=True)
    rows = target_progress_recompute()
    return f"演示政策：{Policy.objects.count()} 项政策、{len(records)} 条支持记录，目标进展 {rows} 行。"
