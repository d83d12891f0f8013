"""JSON exchange of a framework version ("format": "qmd-framework/1").

The exchange form is also the framework's *canonical* form: :func:`export_framework`
writes it from the database, :func:`parse_spec` reads a file into it (filling defaults,
normalising numbers), and :func:`check_spec` holds every validation rule once, for files
and database rows alike (``services.framework_validate`` checks the export of a row).
Two versions have the same content exactly when their canonical forms are equal.

A problem carries the JSON path it was found at, so that an import can say
``dimensions[1].indicators[3].levels：分级描述类指标须有0–5共6个级别描述`` and the admin can
say ``指标 D2.04：...`` for the same rule.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction

from apps.reference.models import Industry, KeyIndustry

from .models import (
    ChecklistItem,
    Dimension,
    Direction,
    Framework,
    FrameworkStatus,
    Indicator,
    IndicatorKind,
    IndustryModule,
    MaturityLevel,
    RubricLevel,
)
from .scoring import MAX_CHECKLIST_ITEMS, RUBRIC_TOP_LEVEL

FORMAT = "qmd-framework/1"
LEVEL_COUNT = 5
WEIGHT_TOLERANCE = Decimal("0.000001")
THRESHOLD_SHAPE = "每个分段应为 [数值, 得分]"

_TOP_KEYS = {"format", "code", "version", "name", "description", "levels", "modules", "dimensions"}
_LEVEL_KEYS = {"rank", "name", "name_en", "description", "min_composite", "min_dimension"}
_MODULE_KEYS = {"code", "name", "industries", "key_industries"}
_DIMENSION_KEYS = {"code", "name", "name_en", "weight", "description", "indicators"}
_COMMON_KEYS = {"code", "module", "kind", "question", "question_en", "guidance", "note_prompt", "weight"}
_KIND_KEYS = {
    "rubric": {"evidence_from_level", "levels"},
    "checklist": {"items", "evidence_required"},
    "kpi": {"unit", "direction", "min_value", "max_value", "thresholds", "evidence_required"},
    "yesno": {"evidence_required"},
}
_ITEM_KEYS = {"code", "label", "weight"}
_KIND_LABELS = {k.value: str(k.label) for k in IndicatorKind}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a framework: where (JSON path, and the same in words) and what."""

    path: str
    subject: str
    message: str

    def for_file(self) -> str:
        return f"{self.path}：{self.message}" if self.path else self.message

    def for_staff(self) -> str:
        return f"{self.subject}：{self.message}" if self.subject else self.message


class FrameworkFileError(ValueError):
    """A framework file cannot be imported; ``problems`` lists every reason in Chinese."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


# --- export ---------------------------------------------------------------------------------


def _num(value) -> float | None:
    return None if value is None else float(value)


def export_framework(framework: Framework) -> dict[str, Any]:
    """The canonical exchange form of a framework version (a JSON-ready dict)."""
    dimensions = list(framework.dimensions.order_by("order", "code"))
    indicators = (
        framework.indicators.select_related("module")
        .prefetch_related("rubric_levels", "checklist_items")
        .order_by("order", "code")
    )
    by_dimension: dict[int, list[dict]] = {d.pk: [] for d in dimensions}
    for indicator in indicators:
        by_dimension[indicator.dimension_id].append(_export_indicator(indicator))
    modules = framework.modules.prefetch_related("industries", "key_industries").order_by("code")
    return {
        "format": FORMAT,
        "code": framework.code,
        "version": framework.version,
        "name": framework.name,
        "description": framework.description,
        "levels": [
            {
                "rank": lv.rank, "name": lv.name, "name_en": lv.name_en, "description": lv.description,
                "min_composite": float(lv.min_composite), "min_dimension": float(lv.min_dimension),
            }
            for lv in framework.levels.order_by("rank")
        ],
        "modules": [
            {
                "code": mod.code,
                "name": mod.name,
                "industries": sorted(i.code for i in mod.industries.all()),
                "key_industries": sorted(k.code for k in mod.key_industries.all()),
            }
            for mod in modules
        ],
        "dimensions": [
            {
                "code": d.code, "name": d.name, "name_en": d.name_en, "weight": _num(d.weight),
                "description": d.description, "indicators": by_dimension[d.pk],
            }
            for d in dimensions
        ],
    }


def _export_indicator(indicator: Indicator) -> dict[str, Any]:
    out: dict[str, Any] = {"code": indicator.code}
    if indicator.module_id:
        out["module"] = indicator.module.code
    out.update(
        kind=indicator.kind, question=indicator.question, question_en=indicator.question_en,
        guidance=indicator.guidance, weight=_num(indicator.weight),
    )
    if indicator.note_prompt:  # optional key: files without it stay byte-for-byte as they were
        out["note_prompt"] = indicator.note_prompt
    if indicator.kind == IndicatorKind.RUBRIC:
        descriptors = {lv.level: lv.descriptor for lv in indicator.rubric_levels.all()}
        top = max([RUBRIC_TOP_LEVEL, *descriptors])
        out["evidence_from_level"] = indicator.evidence_from_level
        out["levels"] = [descriptors.get(level, "") for level in range(top + 1)]
    elif indicator.kind == IndicatorKind.CHECKLIST:
        out["items"] = [
            {"code": item.code, "label": item.label, "weight": _num(item.weight)}
            for item in indicator.checklist_items.all()
        ]
        out["evidence_required"] = indicator.evidence_required
    elif indicator.kind == IndicatorKind.KPI:
        out.update(
            unit=indicator.unit, direction=indicator.direction,
            min_value=_num(indicator.min_value), max_value=_num(indicator.max_value),
            thresholds=_thresholds(indicator.thresholds),
            evidence_required=indicator.evidence_required,
        )
    else:
        out["evidence_required"] = indicator.evidence_required
    return out


def _is_pair(pair) -> bool:
    return isinstance(pair, (list, tuple)) and len(pair) == 2 and all(_is_number(x) for x in pair)


def _thresholds(stored):
    # Stored thresholds were checked on the way in, but the admin edits them as raw JSON:
    # anything that is not a list of [number, number] is exported as it is, for check_spec
    # to report.
    if not isinstance(stored, list):
        return stored
    return [[float(pair[0]), float(pair[1])] if _is_pair(pair) else pair for pair in stored]


def dumps(spec: dict[str, Any]) -> str:
    """The exchange form as JSON text (UTF-8 Chinese kept readable, stable layout)."""
    return json.dumps(spec, ensure_ascii=False, indent=2) + "\n"


# --- parsing a file ------------------------------------------------------------------------


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _max_length(model, field: str) -> int:
    return model._meta.get_field(field).max_length


class _Reader:
    """Reads raw JSON values into canonical ones, collecting problems instead of stopping."""

    def __init__(self):
        self.problems: list[Problem] = []

    def problem(self, path: str, subject: str, message: str) -> None:
        self.problems.append(Problem(path, subject, message))

    def obj(self, value, path, subject, allowed: set[str]) -> dict | None:
        if not isinstance(value, dict):
            self.problem(path, subject, "应为对象（{…}）")
            return None
        for key in value:
            if key not in allowed:
                self.problem(f"{path}.{key}" if path else key, subject, f"未知字段“{key}”")
        return value

    def list(self, obj: dict, key, path, subject, required=True) -> list:
        value = obj.get(key)
        if value is None:
            if required:
                self.problem(_join(path, key), subject, "缺少此项")
            return []
        if not isinstance(value, list):
            self.problem(_join(path, key), subject, "应为列表（[…]）")
            return []
        return value

    def text(self, obj: dict, key, path, subject, *, required=False, max_length=None) -> str:
        value = obj.get(key)
        if value is None:
            value = ""
        if not isinstance(value, str):
            self.problem(_join(path, key), subject, "应为文本")
            return ""
        if required and not value.strip():
            self.problem(_join(path, key), subject, "不能为空")
        if max_length and len(value) > max_length:
            self.problem(_join(path, key), subject, f"不能超过{max_length}个字符（现为{len(value)}个）")
        return value

    def number(self, obj: dict, key, path, subject, *, required=True) -> float | None:
        value = obj.get(key)
        if value is None:
            if required:
                self.problem(_join(path, key), subject, "缺少此项")
            return None
        if not _is_number(value):
            self.problem(_join(path, key), subject, f"应为数值，现为 {json.dumps(value, ensure_ascii=False)}")
            return None
        return float(value)

    def weight(self, obj: dict, key, path, subject) -> float | None:
        value = self.number(obj, key, path, subject)
        if value is None:
            return None
        decimal = Decimal(repr(value))
        if decimal.as_tuple().exponent < -4 or abs(decimal) >= 100:
            self.problem(_join(path, key), subject, f"权重须小于100且最多4位小数（现为 {value!r}）")
            return None
        return value

    def integer(self, obj: dict, key, path, subject, *, required=True) -> int | None:
        value = obj.get(key)
        if value is None:
            if required:
                self.problem(_join(path, key), subject, "缺少此项")
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(_join(path, key), subject, f"应为整数，现为 {json.dumps(value, ensure_ascii=False)}")
            return None
        return value

    def boolean(self, obj: dict, key, path, subject) -> bool:
        value = obj.get(key, False)
        if not isinstance(value, bool):
            self.problem(_join(path, key), subject, "应为 true 或 false")
            return False
        return value


def _join(path: str, key) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def parse_spec(data: Any) -> tuple[dict[str, Any], list[Problem]]:
    """Read a decoded JSON file into the canonical form, with every structural problem.

    Checks types, required fields, field lengths and references (modules, GB/T 4754
    industries, key industries), not the rules of :func:`check_spec`. The returned spec is
    best-effort when there are problems.
    """
    r = _Reader()
    top = r.obj(data, "", "", _TOP_KEYS) or {}
    if top and top.get("format") != FORMAT:
        r.problem("format", "", f"应为 \"{FORMAT}\"（现为 {json.dumps(top.get('format'), ensure_ascii=False)}）")
    spec: dict[str, Any] = {
        "format": FORMAT,
        "code": r.text(top, "code", "", "", required=True, max_length=_max_length(Framework, "code")),
        "version": r.text(top, "version", "", "", required=True, max_length=_max_length(Framework, "version")),
        "name": r.text(top, "name", "", "", required=True, max_length=_max_length(Framework, "name")),
        "description": r.text(top, "description", "", ""),
    }
    if spec["code"] and not _is_slug(spec["code"]):
        r.problem("code", "", "框架代码只能包含字母、数字、下划线和连字符")

    levels = []
    for i, raw in enumerate(r.list(top, "levels", "", "")):
        path = f"levels[{i}]"
        subject = f"等级（第{i + 1}项）"
        obj = r.obj(raw, path, subject, _LEVEL_KEYS)
        if obj is None:
            continue
        levels.append({
            "rank": r.integer(obj, "rank", path, subject),
            "name": r.text(obj, "name", path, subject, required=True, max_length=_max_length(MaturityLevel, "name")),
            "name_en": r.text(obj, "name_en", path, subject, max_length=_max_length(MaturityLevel, "name_en")),
            "description": r.text(obj, "description", path, subject),
            "min_composite": r.number(obj, "min_composite", path, subject),
            "min_dimension": r.number(obj, "min_dimension", path, subject),
        })
    spec["levels"] = sorted(levels, key=lambda lv: (lv["rank"] is None, lv["rank"] or 0))

    modules = []
    for i, raw in enumerate(r.list(top, "modules", "", "", required=False)):
        path = f"modules[{i}]"
        obj = r.obj(raw, path, f"行业模块（第{i + 1}项）", _MODULE_KEYS)
        if obj is None:
            continue
        code = obj.get("code") if isinstance(obj.get("code"), str) else ""
        subject = f"行业模块 {code}"
        module = {
            "code": r.text(obj, "code", path, subject, required=True, max_length=_max_length(IndustryModule, "code")),
            "name": r.text(obj, "name", path, subject, required=True, max_length=_max_length(IndustryModule, "name")),
            "industries": _code_list(r, obj, "industries", path, subject),
            "key_industries": _code_list(r, obj, "key_industries", path, subject),
        }
        if module["code"] and not _is_slug(module["code"]):
            r.problem(f"{path}.code", subject, "模块代码只能包含字母、数字、下划线和连字符")
        modules.append((path, subject, module))
    _check_references(r, modules)
    spec["modules"] = sorted((m for _, _, m in modules), key=lambda m: m["code"])
    module_codes = {m["code"] for _, _, m in modules}

    dimensions = []
    for i, raw in enumerate(r.list(top, "dimensions", "", "")):
        path = f"dimensions[{i}]"
        obj = r.obj(raw, path, f"维度（第{i + 1}项）", _DIMENSION_KEYS)
        if obj is None:
            continue
        code = obj.get("code") if isinstance(obj.get("code"), str) else ""
        subject = f"维度 {code}"
        dimension = {
            "code": r.text(obj, "code", path, subject, required=True, max_length=_max_length(Dimension, "code")),
            "name": r.text(obj, "name", path, subject, required=True, max_length=_max_length(Dimension, "name")),
            "name_en": r.text(obj, "name_en", path, subject, max_length=_max_length(Dimension, "name_en")),
            "weight": r.weight(obj, "weight", path, subject),
            "description": r.text(obj, "description", path, subject),
        }
        dimension["indicators"] = [
            indicator
            for j, raw_indicator in enumerate(r.list(obj, "indicators", path, subject))
            if (indicator := _parse_indicator(r, raw_indicator, f"{path}.indicators[{j}]", module_codes)) is not None
        ]
        dimensions.append(dimension)
    spec["dimensions"] = dimensions
    return spec, r.problems


def _is_slug(value: str) -> bool:
    return all(c.isascii() and (c.isalnum() or c in "-_") for c in value)


def _code_list(r: _Reader, obj: dict, key: str, path: str, subject: str) -> list[str]:
    codes = []
    for k, code in enumerate(r.list(obj, key, path, subject, required=False)):
        if not isinstance(code, str) or not code:
            r.problem(f"{path}.{key}[{k}]", subject, "应为代码文本")
        elif code in codes:
            r.problem(f"{path}.{key}[{k}]", subject, f"代码 {code} 重复")
        else:
            codes.append(code)
    return sorted(codes)


def _check_references(r: _Reader, modules: list[tuple[str, str, dict]]) -> None:
    """Industries and key industries named by modules must exist in the reference data."""
    wanted_industries = {c for _, _, m in modules for c in m["industries"]}
    wanted_keys = {c for _, _, m in modules for c in m["key_industries"]}
    industries = set(Industry.objects.filter(code__in=wanted_industries).values_list("code", flat=True))
    keys = set(KeyIndustry.objects.filter(code__in=wanted_keys).values_list("code", flat=True))
    for path, subject, module in modules:
        for code in module["industries"]:
            if code not in industries:
                r.problem(f"{path}.industries", subject, f"行业代码 {code} 不存在（国民经济行业分类 GB/T 4754-2017）")
        for code in module["key_industries"]:
            if code not in keys:
                r.problem(f"{path}.key_industries", subject, f"重点行业 {code} 不存在")


def _parse_indicator(r: _Reader, raw, path: str, module_codes: set[str]) -> dict | None:
    kind = raw.get("kind") if isinstance(raw, dict) else None
    if kind in _KIND_KEYS:
        allowed = _COMMON_KEYS | _KIND_KEYS[kind]
    else:  # with an unknown kind the other fields cannot be judged: only the kind is reported
        allowed = set(raw) if isinstance(raw, dict) else set()
    code = raw.get("code") if isinstance(raw, dict) and isinstance(raw.get("code"), str) else ""
    subject = f"指标 {code}" if code else "指标"
    obj = r.obj(raw, path, subject, allowed)
    if obj is None:
        return None
    if kind not in _KIND_KEYS:
        r.problem(f"{path}.kind", subject, "类型须为 rubric、checklist、kpi 或 yesno 之一")
    out: dict[str, Any] = {
        "code": r.text(obj, "code", path, subject, required=True, max_length=_max_length(Indicator, "code"))
    }
    if obj.get("module") is not None:
        module = r.text(obj, "module", path, subject)
        if module and module not in module_codes:
            r.problem(f"{path}.module", subject, f"行业模块 {module} 未在 modules 中定义")
        out["module"] = module
    out.update(
        kind=kind if kind in _KIND_KEYS else "",
        question=r.text(obj, "question", path, subject, required=True),
        question_en=r.text(obj, "question_en", path, subject),
        guidance=r.text(obj, "guidance", path, subject),
        weight=r.weight(obj, "weight", path, subject),
    )
    note_prompt = r.text(obj, "note_prompt", path, subject, max_length=_max_length(Indicator, "note_prompt"))
    if note_prompt:
        out["note_prompt"] = note_prompt
    if kind == "rubric":
        out["evidence_from_level"] = r.integer(obj, "evidence_from_level", path, subject, required=False)
        descriptors = []
        for k, text in enumerate(r.list(obj, "levels", path, subject)):
            if not isinstance(text, str):
                r.problem(f"{path}.levels[{k}]", subject, "级别描述应为文本")
                text = ""
            descriptors.append(text)
        out["levels"] = descriptors
    elif kind == "checklist":
        items = []
        for k, raw_item in enumerate(r.list(obj, "items", path, subject)):
            item_path = f"{path}.items[{k}]"
            item = r.obj(raw_item, item_path, subject, _ITEM_KEYS)
            if item is None:
                continue
            items.append({
                "code": r.text(item, "code", item_path, subject, required=True,
                               max_length=_max_length(ChecklistItem, "code")),
                "label": r.text(item, "label", item_path, subject, required=True,
                                max_length=_max_length(ChecklistItem, "label")),
                "weight": r.weight(item, "weight", item_path, subject),
            })
        out["items"] = items
        out["evidence_required"] = r.boolean(obj, "evidence_required", path, subject)
    elif kind == "kpi":
        out["unit"] = r.text(obj, "unit", path, subject, max_length=_max_length(Indicator, "unit"))
        out["direction"] = r.text(obj, "direction", path, subject)
        out["min_value"] = r.number(obj, "min_value", path, subject, required=False)
        out["max_value"] = r.number(obj, "max_value", path, subject, required=False)
        pairs = []
        for k, pair in enumerate(r.list(obj, "thresholds", path, subject)):
            if _is_pair(pair):
                pairs.append([float(pair[0]), float(pair[1])])
            else:
                r.problem(f"{path}.thresholds[{k}]", subject, THRESHOLD_SHAPE)
        out["thresholds"] = pairs
        out["evidence_required"] = r.boolean(obj, "evidence_required", path, subject)
    elif kind == "yesno":
        out["evidence_required"] = r.boolean(obj, "evidence_required", path, subject)
    return out


# --- the rules ------------------------------------------------------------------------------


def _dec(value) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(repr(float(value)))
    except (InvalidOperation, ValueError, TypeError):
        return None


def _fmt(value: Decimal) -> str:
    return format(value.normalize(), "f")


def check_spec(spec: dict[str, Any]) -> list[Problem]:
    """Every rule a framework version must meet before it is published.

    Tolerates the best-effort spec of a file with structural problems (values that could
    not be read are ``None`` and were reported already).
    """
    problems: list[Problem] = []

    def problem(path, subject, message):
        problems.append(Problem(path, subject, message))

    _check_levels(spec.get("levels", []), problem)

    module_codes = set()
    for i, module in enumerate(spec.get("modules", [])):
        path, subject = f"modules[{i}]", f"行业模块 {module['code']}"
        if module["code"] in module_codes:
            problem(f"{path}.code", subject, f"模块代码 {module['code']} 重复")
        module_codes.add(module["code"])
        if not module["industries"] and not module["key_industries"]:
            problem(path, subject, "须至少指定一个适用行业或重点行业，否则该模块不适用于任何企业")

    dimensions = spec.get("dimensions", [])
    if not dimensions:
        problem("dimensions", "框架", "至少须有一个维度")
    dimension_codes: set[str] = set()
    indicator_codes: set[str] = set()
    dimension_weights = []
    for i, dimension in enumerate(dimensions):
        path, subject = f"dimensions[{i}]", f"维度 {dimension['code']}"
        if dimension["code"] in dimension_codes:
            problem(f"{path}.code", subject, f"维度代码 {dimension['code']} 重复")
        dimension_codes.add(dimension["code"])
        weight = _dec(dimension["weight"])
        if weight is not None and weight <= 0:
            problem(f"{path}.weight", subject, "维度权重须大于 0")
        dimension_weights.append(weight)

        core_weights = []
        for j, indicator in enumerate(dimension["indicators"]):
            ipath, isubject = f"{path}.indicators[{j}]", f"指标 {indicator['code']}"
            if indicator["code"] in indicator_codes:
                problem(f"{ipath}.code", isubject, f"指标代码 {indicator['code']} 重复")
            indicator_codes.add(indicator["code"])
            if indicator.get("module") and indicator["module"] not in module_codes:
                problem(f"{ipath}.module", isubject, f"行业模块 {indicator['module']} 不存在")
            w = _dec(indicator["weight"])
            if w is not None and w <= 0:
                problem(f"{ipath}.weight", isubject, "指标权重须大于 0")
            if not indicator.get("module"):
                core_weights.append(w)
            _check_indicator(indicator, ipath, isubject, problem)

        if not core_weights:
            problem(f"{path}.indicators", subject, "每个维度至少须有一个通用指标（不属于行业模块的指标）")
        elif None not in core_weights:
            total = sum(core_weights, Decimal(0))
            if abs(total - 1) > WEIGHT_TOLERANCE:
                problem(f"{path}.indicators", subject, f"通用指标的权重之和须为 1（现为 {_fmt(total)}）")

    if dimensions and None not in dimension_weights:
        total = sum(dimension_weights, Decimal(0))
        if abs(total - 1) > WEIGHT_TOLERANCE:
            problem("dimensions", "框架", f"各维度权重之和须为 1（现为 {_fmt(total)}）")
    return problems


def _check_levels(levels: list[dict], problem) -> None:
    ranks = [lv["rank"] for lv in levels]
    if len(levels) != LEVEL_COUNT or sorted(r for r in ranks if r is not None) != list(range(1, LEVEL_COUNT + 1)):
        problem("levels", "等级", "须恰好有 5 个等级，等级序号为 1–5 各一个")
    previous = None
    for i, lv in enumerate(levels):
        path, subject = f"levels[{i}]", f"等级 L{lv['rank']}"
        for key, label in (("min_composite", "综合得分下限"), ("min_dimension", "各维度得分下限")):
            value = lv[key]
            if value is not None and not 0 <= value <= 100:
                problem(f"{path}.{key}", subject, f"{label}须在 0–100 之间")
        if lv["rank"] == 1 and any(lv[key] not in (None, 0) for key in ("min_composite", "min_dimension")):
            problem(path, subject, "第 1 级的综合得分下限和各维度得分下限须为 0（任何企业至少为第 1 级）")
        if previous is not None and lv["rank"] is not None:
            for key, label in (("min_composite", "综合得分下限"), ("min_dimension", "各维度得分下限")):
                if None not in (lv[key], previous[key]) and lv[key] < previous[key]:
                    problem(f"{path}.{key}", subject, f"{label}不能低于 L{previous['rank']} 的下限（{previous[key]:g}）")
        if lv["rank"] is not None:
            previous = lv


def _check_indicator(indicator: dict, path: str, subject: str, problem) -> None:
    kind = indicator["kind"]
    if kind == "rubric":
        levels = indicator["levels"]
        if len(levels) != RUBRIC_TOP_LEVEL + 1:
            problem(f"{path}.levels", subject, "分级描述类指标须有0–5共6个级别描述")
        for k, text in enumerate(levels[: RUBRIC_TOP_LEVEL + 1]):
            if not text.strip():
                problem(f"{path}.levels[{k}]", subject, f"第 {k} 级的描述不能为空")
        level = indicator.get("evidence_from_level")
        if level is not None and not 1 <= level <= RUBRIC_TOP_LEVEL:
            problem(f"{path}.evidence_from_level", subject, "须附证明材料的起始级别须在 1–5 之间")
    elif kind == "checklist":
        items = indicator["items"]
        if len(items) < 2:
            problem(f"{path}.items", subject, "清单类指标至少须有 2 个清单项")
        if len(items) > MAX_CHECKLIST_ITEMS:
            problem(f"{path}.items", subject, f"清单类指标最多 {MAX_CHECKLIST_ITEMS} 个清单项")
        seen = set()
        for k, item in enumerate(items):
            if item["code"] in seen:
                problem(f"{path}.items[{k}].code", subject, f"清单项代码 {item['code']} 重复")
            seen.add(item["code"])
            if item["weight"] is not None and item["weight"] <= 0:
                problem(f"{path}.items[{k}].weight", subject, f"清单项 {item['code']} 的权重须大于 0")
    elif kind == "kpi":
        _check_kpi(indicator, path, subject, problem)


def _check_kpi(indicator: dict, path: str, subject: str, problem) -> None:
    if not indicator["unit"].strip():
        problem(f"{path}.unit", subject, "量化指标须填写单位")
    direction = indicator["direction"]
    if direction not in Direction.values:
        problem(f"{path}.direction", subject, "方向须为 higher（越高越好）或 lower（越低越好）")
    low, high = indicator["min_value"], indicator["max_value"]
    if low is None or high is None:
        problem(path, subject, "量化指标须填写允许最小值 min_value 和允许最大值 max_value")
    elif not low < high:
        problem(f"{path}.min_value", subject, f"允许最小值须小于允许最大值（现为 {low:g} 与 {high:g}）")
    pairs = indicator["thresholds"]
    if not isinstance(pairs, list) or not all(_is_pair(pair) for pair in pairs):
        problem(f"{path}.thresholds", subject, f"评分分段须为列表，{THRESHOLD_SHAPE}")
        return
    if len(pairs) < 2:
        problem(f"{path}.thresholds", subject, "量化指标至少须有 2 个评分分段点")
    for k, (value, score) in enumerate(pairs):
        if low is not None and high is not None and low < high and not low <= value <= high:
            problem(f"{path}.thresholds[{k}]", subject, f"分段点数值 {value:g} 须在允许范围 [{low:g}, {high:g}] 内")
        if not 0 <= score <= 100:
            problem(f"{path}.thresholds[{k}]", subject, f"得分 {score:g} 须在 0–100 之间")
        if k == 0:
            continue
        previous_value, previous_score = pairs[k - 1]
        if not value > previous_value:
            problem(f"{path}.thresholds[{k}]", subject, "分段点数值须严格递增")
        if direction == Direction.HIGHER and score < previous_score:
            problem(f"{path}.thresholds[{k}]", subject, "“越高越好”的指标，得分须随数值不减")
        if direction == Direction.LOWER and score > previous_score:
            problem(f"{path}.thresholds[{k}]", subject, "“越低越好”的指标，得分须随数值不增")


# --- creating rows --------------------------------------------------------------------------


def load_json(raw: bytes | str) -> Any:
    """Decode a framework file; a decoding error becomes a ``FrameworkFileError``."""
    try:
        text = raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise FrameworkFileError(["文件须为 UTF-8 编码的 JSON 文本"]) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise FrameworkFileError([f"不是有效的 JSON：第 {exc.lineno} 行第 {exc.colno} 列，{exc.msg}"]) from None


def read_spec(data: Any, *, version: str | None = None) -> dict[str, Any]:
    """Parse and check a decoded file; raise ``FrameworkFileError`` listing every problem."""
    spec, problems = _parse_and_check(data, version)
    if problems:
        raise FrameworkFileError([p.for_file() for p in problems])
    return spec


def _parse_and_check(data: Any, version: str | None) -> tuple[dict[str, Any], list[Problem]]:
    if not isinstance(data, dict):
        raise FrameworkFileError([f"文件内容应为一个 JSON 对象（{{…}}），格式见 {FORMAT}"])
    if version is not None:
        data = {**data, "version": version}
    spec, problems = parse_spec(data)
    return spec, problems + check_spec(spec)


def import_framework(data: Any, *, version: str | None = None, based_on: Framework | None = None) -> Framework:
    """Create a new *draft* framework version from a decoded file, all or nothing.

    ``version`` replaces the file's version. Raises ``FrameworkFileError`` with every
    problem (JSON path：reason) if the file is invalid or the version exists already.
    """
    spec, problems = _parse_and_check(data, version)
    messages = [p.for_file() for p in problems]
    if spec["code"] and spec["version"] and Framework.objects.filter(code=spec["code"], version=spec["version"]).exists():
        messages.append(_exists_message(spec))
    if messages:
        raise FrameworkFileError(messages)
    return create_framework(spec, based_on=based_on)


def _exists_message(spec: dict[str, Any]) -> str:
    return f"version：框架 {spec['code']} 的版本 {spec['version']} 已存在，请换一个版本号"


def create_framework(spec: dict[str, Any], *, based_on: Framework | None = None) -> Framework:
    """Write a parsed spec as a new draft version (no rule checks: see ``check_spec``)."""
    if Framework.objects.filter(code=spec["code"], version=spec["version"]).exists():
        raise FrameworkFileError([_exists_message(spec)])
    try:
        with transaction.atomic():
            framework = Framework.objects.create(
                code=spec["code"], version=spec["version"], name=spec["name"], description=spec["description"],
                status=FrameworkStatus.DRAFT, based_on=based_on,
            )
            write_contents(framework, spec)
    except IntegrityError:  # the same version created concurrently
        raise FrameworkFileError([_exists_message(spec)]) from None
    return framework


def write_contents(framework: Framework, spec: dict[str, Any]) -> None:
    """Write dimensions, levels, modules and indicators of ``spec`` into an empty framework."""
    MaturityLevel.objects.bulk_create(
        MaturityLevel(
            framework=framework, rank=lv["rank"], name=lv["name"], name_en=lv["name_en"],
            description=lv["description"], min_composite=lv["min_composite"], min_dimension=lv["min_dimension"],
        )
        for lv in spec["levels"]
    )
    modules = {}
    for m in spec["modules"]:
        module = IndustryModule.objects.create(framework=framework, code=m["code"], name=m["name"])
        module.industries.set(m["industries"])
        module.key_industries.set(m["key_industries"])
        modules[m["code"]] = module
    dimensions = Dimension.objects.bulk_create(
        Dimension(
            framework=framework, code=d["code"], name=d["name"], name_en=d["name_en"],
            description=d["description"], weight=_dec(d["weight"]), order=i + 1,
        )
        for i, d in enumerate(spec["dimensions"])
    )
    rows, details = [], []
    for dimension, d in zip(dimensions, spec["dimensions"], strict=True):
        for j, ind in enumerate(d["indicators"]):
            rows.append(Indicator(
                framework=framework, dimension=dimension, module=modules.get(ind.get("module")),
                code=ind["code"], order=j + 1, kind=ind["kind"], question=ind["question"],
                question_en=ind["question_en"], guidance=ind["guidance"], note_prompt=ind.get("note_prompt", ""),
                weight=_dec(ind["weight"]),
                unit=ind.get("unit", ""), direction=ind.get("direction", ""),
                min_value=ind.get("min_value"), max_value=ind.get("max_value"),
                thresholds=ind.get("thresholds", []),
                evidence_required=ind.get("evidence_required", False),
                evidence_from_level=ind.get("evidence_from_level"),
            ))
            details.append(ind)
    indicators = Indicator.objects.bulk_create(rows)
    RubricLevel.objects.bulk_create(
        RubricLevel(indicator=indicator, level=k, descriptor=text)
        for indicator, ind in zip(indicators, details, strict=True)
        for k, text in enumerate(ind.get("levels", []))
    )
    ChecklistItem.objects.bulk_create(
        ChecklistItem(indicator=indicator, code=item["code"], label=item["label"], weight=_dec(item["weight"]),
                      order=k + 1)
        for indicator, ind in zip(indicators, details, strict=True)
        for k, item in enumerate(ind.get("items", []))
    )


def clear_contents(framework: Framework) -> None:
    """Delete everything inside a framework version (indicators go with their dimensions)."""
    framework.dimensions.all().delete()
    framework.modules.all().delete()
    framework.levels.all().delete()
