"""A small published framework and an open period for filing tests.

D1 (weight 0.6): R1 rubric (w 0.5, evidence from level 4), C1 checklist a/b/c weights 1/1/2 (w 0.5)
D2 (weight 0.4): K1 KPI % higher, thresholds 80→0, 90→50, 100→100, range 0–100 (w 0.6);
                 Y1 yes/no key item needing evidence (w 0.4)
Module "bio" (industry 27): B1 rubric in D2 (w 0.5)
Levels: L1 0/0, L2 30/15, L3 50/30, L4 70/50, L5 85/70
"""

import datetime

from django.utils import timezone

from apps.filings.models import Period
from apps.frameworks.exchange import import_framework
from apps.frameworks.services import framework_publish
from tests.factories import industry, key_industry

LEVELS = ["没有开展", "零散开展", "初步规范", "系统推进", "数据驱动", "持续优化引领"]

SPEC = {
    "format": "qmd-framework/1", "code": "qmd-test", "version": "1", "name": "测试框架", "description": "",
    "levels": [
        {"rank": 1, "name": "经验级", "min_composite": 0, "min_dimension": 0},
        {"rank": 2, "name": "检验级", "min_composite": 30, "min_dimension": 15},
        {"rank": 3, "name": "保证级", "min_composite": 50, "min_dimension": 30},
        {"rank": 4, "name": "预防级", "min_composite": 70, "min_dimension": 50},
        {"rank": 5, "name": "卓越级", "min_composite": 85, "min_dimension": 70},
    ],
    "modules": [{"code": "bio", "name": "生物医药行业模块", "industries": ["27"], "key_industries": []}],
    "dimensions": [
        {"code": "D1", "name": "工作机制", "weight": 0.6, "indicators": [
            {"code": "R1", "kind": "rubric", "question": "质量管理数字化规划", "weight": 0.5, "evidence_from_level": 4,
             "levels": LEVELS},
            {"code": "C1", "kind": "checklist", "question": "在用的质量信息系统", "weight": 0.5,
             "items": [{"code": "a", "label": "QMS", "weight": 1}, {"code": "b", "label": "MES", "weight": 1},
                       {"code": "c", "label": "LIMS", "weight": 2}]},
        ]},
        {"code": "D2", "name": "质量成效", "weight": 0.4, "indicators": [
            {"code": "K1", "kind": "kpi", "question": "一次交检合格率", "unit": "%", "direction": "higher",
             "min_value": 0, "max_value": 100, "thresholds": [[80, 0], [90, 50], [100, 100]], "weight": 0.6},
            {"code": "Y1", "kind": "yesno", "question": "是否通过质量管理体系认证", "weight": 0.4, "evidence_required": True},
            {"code": "B1", "module": "bio", "kind": "rubric", "question": "药品数据完整性", "weight": 0.5,
             "levels": LEVELS},
        ]},
    ],
}


def published_framework(code: str = "qmd-test"):
    industry("27", "医药制造业")
    key_industry()
    framework = import_framework({**SPEC, "code": code})
    return framework_publish(framework=framework)


def open_period(code: str = "2026", framework=None) -> Period:
    framework = framework or published_framework()
    today = timezone.localdate()
    return Period.objects.create(
        code=code, name=f"{code}年度", framework=framework,
        opens_on=today - datetime.timedelta(days=10), closes_on=today + datetime.timedelta(days=30),
    )


# A complete answer set: R1=3, C1=a+c, K1=95, Y1=no
# D1 = 0.5×60 + 0.5×(3/4×100=75) = 67.5; D2 = 0.6×75 + 0.4×0 = 45 (K1: 90→50, 100→100 ⇒ 95→75)
# composite = 0.6×67.5 + 0.4×45 = 40.5 + 18 = 58.5; floor 45 ≥ 30 ⇒ L3 保证级 (L4 needs 70)
COMPLETE = {"R1": "3", "C1": ["a", "c"], "K1": "95", "Y1": "no"}
EXPECTED_COMPOSITE = 58.5
EXPECTED_LEVEL = 3
