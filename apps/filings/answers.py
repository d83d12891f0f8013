"""Turning what a form or a file says into an answer's natural value, with the checks of
the indicator (level range, known checklist items, KPI range and unit). One place for the
forms, the API and the XLSX import."""

import math
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from apps.frameworks.models import Indicator, IndicatorKind

NOT_MEASURED = "not_measured"
# The longest 说明 (Answer.note) a clerk may write for one indicator: enough for a method and
# its sources, short enough to read on the review page.
NOTE_MAX_LENGTH = 500
# A checklist answered "none of these" (score 0) differs from a checklist not answered yet.
NONE_OF_THESE = "__none__"


@dataclass(frozen=True)
class CleanAnswer:
    value: object  # int level | list[str] item codes | float | bool | None
    not_measured: bool = False


def _number(text) -> float:
    if isinstance(text, bool):
        raise ValueError
    if isinstance(text, int | float):
        number = float(text)
    else:
        cleaned = str(text).strip().replace(",", "").replace("，", "").rstrip("%％").strip()
        number = float(cleaned)
    if math.isnan(number) or math.isinf(number):
        raise ValueError
    return number


def clean_answer(indicator: Indicator, raw, *, item_codes: list[str] | None = None) -> CleanAnswer:
    """Validate ``raw`` for ``indicator``; raise ValidationError with a message a clerk can act on.

    ``raw`` is a level ("0"–"5" or int) for rubric, a list of item codes for checklist, a
    number (or "not_measured") for KPI, and "yes"/"no"/bool for yes/no. ``None`` or "" is
    "not answered" and returns ``CleanAnswer(None)``.
    """
    if raw is None or raw == "" or raw == []:
        return CleanAnswer(None)
    code = indicator.code
    if indicator.kind == IndicatorKind.RUBRIC:
        try:
            level = int(str(raw).strip())
        except ValueError:
            level = -1
        if not 0 <= level <= 5:
            raise ValidationError(_("%(code)s：请选择0–5级中的一级。") % {"code": code})
        return CleanAnswer(level)
    if indicator.kind == IndicatorKind.CHECKLIST:
        chosen = [raw] if isinstance(raw, str) else list(raw)
        if NONE_OF_THESE in chosen:
            if len(chosen) > 1:
                raise ValidationError(_("%(code)s：选择了“以上均无”就不能再勾选其他项。") % {"code": code})
            return CleanAnswer([])
        known = item_codes if item_codes is not None else list(indicator.checklist_items.values_list("code", flat=True))
        unknown = [c for c in chosen if c not in known]
        if unknown:
            raise ValidationError(_("%(code)s：未知的清单项 %(items)s。") % {"code": code, "items": "、".join(map(str, unknown))})
        return CleanAnswer(sorted(set(chosen), key=known.index))
    if indicator.kind == IndicatorKind.KPI:
        if raw == NOT_MEASURED:
            return CleanAnswer(None, not_measured=True)
        try:
            number = _number(raw)
        except (TypeError, ValueError):
            raise ValidationError(
                _("%(code)s：请填写数字（单位：%(unit)s），如未统计请勾选“未统计”。") % {"code": code, "unit": indicator.unit}
            ) from None
        low, high = indicator.min_value, indicator.max_value
        if (low is not None and number < low) or (high is not None and number > high):
            raise ValidationError(
                _("%(code)s：数值 %(value)s 超出允许范围 %(low)s–%(high)s %(unit)s，请核对单位和数值。")
                % {"code": code, "value": f"{number:g}", "low": f"{low:g}" if low is not None else "",
                   "high": f"{high:g}" if high is not None else "", "unit": indicator.unit}
            )
        return CleanAnswer(number)
    if indicator.kind == IndicatorKind.YESNO:
        text = str(raw).strip().lower()
        if raw is True or text in ("yes", "1", "true", "是", "y"):
            return CleanAnswer(True)
        if raw is False or text in ("no", "0", "false", "否", "n"):
            return CleanAnswer(False)
        raise ValidationError(_("%(code)s：请选择“是”或“否”。") % {"code": code})
    raise ValidationError(_("%(code)s：未知的指标类型。") % {"code": code})


def clean_note(indicator: Indicator, raw) -> str:
    """Validate the 说明 of an answer: only where the framework asks for one
    (``Indicator.note_prompt``), at most :data:`NOTE_MAX_LENGTH` characters. ``None`` or ""
    clears it."""
    text = "" if raw is None else str(raw).strip()
    if not text:
        return ""
    if not indicator.note_prompt:
        raise ValidationError(_("%(code)s：本题不需要填写说明。") % {"code": indicator.code})
    if len(text) > NOTE_MAX_LENGTH:
        raise ValidationError(
            _("%(code)s：说明最多 %(max)d 个字，现在有 %(n)d 个字，请删减 %(over)d 个字后再保存。")
            % {"code": indicator.code, "max": NOTE_MAX_LENGTH, "n": len(text), "over": len(text) - NOTE_MAX_LENGTH}
        )
    return text
