"""Small framework versions for the tests, in the exchange form (``qmd-framework/1``).

``small_spec()`` is the example of docs/METHOD.md: two dimensions, every indicator kind, one
industry module. Its numbers are worked out by hand in test_framework_scoring.py.
"""

import copy
from pathlib import Path

REAL_FILE = Path(__file__).resolve().parents[2] / "fixtures" / "frameworks" / "qmd-2026.1.json"

LEVELS = [
    {"rank": 1, "name": "经验级", "name_en": "Experience", "description": "", "min_composite": 0, "min_dimension": 0},
    {"rank": 2, "name": "检验级", "name_en": "Inspection", "description": "", "min_composite": 30, "min_dimension": 15},
    {"rank": 3, "name": "保证级", "name_en": "Assurance", "description": "", "min_composite": 50, "min_dimension": 30},
    {"rank": 4, "name": "预防级", "name_en": "Prevention", "description": "", "min_composite": 70, "min_dimension": 50},
    {"rank": 5, "name": "卓越级", "name_en": "Excellence", "description": "", "min_composite": 85, "min_dimension": 70},
]


def rubric_levels(prefix: str) -> list[str]:
    return [f"{prefix}：第{k}级描述" for k in range(6)]


_SMALL = {
    "format": "qmd-framework/1",
    "code": "demo",
    "version": "t1",
    "name": "测试框架",
    "description": "两个维度、四类指标、一个行业模块",
    "levels": LEVELS,
    "modules": [{"code": "bio", "name": "生物医药行业模块", "industries": ["27"], "key_industries": ["biomedicine"]}],
    "dimensions": [
        {
            "code": "D1", "name": "工作机制", "name_en": "Mechanism", "weight": 0.4, "description": "",
            "indicators": [
                {"code": "D1.01", "kind": "rubric", "question": "领导作用", "question_en": "", "guidance": "",
                 "weight": 0.5, "evidence_from_level": 4, "levels": rubric_levels("领导作用")},
                {"code": "D1.02", "kind": "yesno", "question": "是否设立质量数字化专门机构", "question_en": "",
                 "guidance": "", "weight": 0.2, "evidence_required": True},
                {"code": "D1.03", "kind": "checklist", "question": "在用的系统", "question_en": "", "guidance": "",
                 "weight": 0.3, "evidence_required": False,
                 "items": [{"code": "a", "label": "QMS", "weight": 2},
                           {"code": "b", "label": "MES", "weight": 1},
                           {"code": "c", "label": "LIMS", "weight": 1}]},
                {"code": "M.01", "module": "bio", "kind": "rubric", "question": "GMP 数据完整性", "question_en": "",
                 "guidance": "", "weight": 0.25, "evidence_from_level": None, "levels": rubric_levels("数据完整性")},
            ],
        },
        {
            "code": "D2", "name": "质量成效", "name_en": "Results", "weight": 0.6, "description": "",
            "indicators": [
                {"code": "D2.01", "kind": "kpi", "question": "一次交检合格率", "question_en": "", "guidance": "",
                 "weight": 0.6, "unit": "%", "direction": "higher", "min_value": 0, "max_value": 100,
                 "thresholds": [[80, 0], [95, 70], [99, 100]], "evidence_required": False},
                {"code": "D2.02", "kind": "kpi", "question": "产品不良率", "question_en": "", "guidance": "",
                 "weight": 0.4, "unit": "ppm", "direction": "lower", "min_value": 0, "max_value": 1000000,
                 "thresholds": [[100, 100], [1000, 60], [10000, 0]], "evidence_required": False},
            ],
        },
    ],
}


def small_spec(**changes) -> dict:
    """A deep copy of the small example framework; keyword arguments replace top-level keys."""
    spec = copy.deepcopy(_SMALL)
    spec.update(changes)
    return spec


def indicator(spec: dict, code: str) -> dict:
    """The indicator ``code`` of ``spec`` (to change it in place)."""
    return next(i for d in spec["dimensions"] for i in d["indicators"] if i["code"] == code)


def reference_rows() -> None:
    """The industries and key industries the example modules (and the real file) refer to."""
    from tests.factories import industry, key_industry

    industry("27", "医药制造业")
    industry("39", "计算机、通信和其他电子设备制造业")
    key_industry("biomedicine", "生物医药")
    key_industry("electronics", "电子制造")
