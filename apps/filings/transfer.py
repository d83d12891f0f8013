"""XLSX transfer of submissions: export with answers, a blank template per period, and the
import of paper filings that an authority collected and typed in.

The sheet
    One row per enterprise. Header row (row 1): 统一社会信用代码, 企业名称, 期次, 状态, then one
    column per indicator headed "<code> <first 20 characters of the question>" (only the
    code, the text up to the first space, is read back), then 综合得分 and 等级 (export only).
    Values are the answers' natural form: rubric level 0–5, checklist item codes joined by
    ";" (or "无" for none of these), KPI number (or "未统计"), yes/no as 是/否. A second sheet,
    填写说明, explains every column and its allowed values. Data rows start at row 2, and an
    error names the row as Excel shows it and the column by its letter and code.

Reading and writing
    Files are checked and read by :mod:`apps.core.spreadsheets` (size and type sniffing, the
    XLSX's zip directory before parsing, streaming reads that stop at the caps, cell text)
    and written through its formula-neutralising writer; this module adds the framework's
    columns and dresses the workbook (drop-down lists, column widths, text-formatted KPI
    columns so that "95%" is not turned into 0.95 by Excel).

Paper filings
    :func:`submissions_import_paper` is the one service that records a filing on behalf of
    an enterprise. The ordinary services let only the enterprise's own user save answers
    and submit; a paper filing is instead typed in by a regional authority (or ministry
    staff) for enterprises inside its jurisdiction. It is honest about that: the answers
    carry the importing user (``Answer.updated_by``), no online truthfulness pledge is
    recorded (``pledged_at``/``pledged_by`` are cleared — the pledge is on paper), and the
    SUBMITTED event says "纸质填报导入（导入人、文件名）". A filing already accepted is never
    overwritten. Rows whose answers equal the stored ones on a submitted or accepted filing
    are left alone (counted as unchanged), so an export can be re-imported after adding rows.
"""

from __future__ import annotations

import io
import json
import logging
import re
import unicodedata
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import tablib
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from openpyxl.utils import get_column_letter

from apps.accounts.permissions import can_transfer
from apps.accounts.review_rules import can_accept, can_pass_on
from apps.core import formatting
from apps.core.bulk import copy_rows, update_rows
from apps.core.models import ImportMode
from apps.core.spreadsheets import (
    FileImportReport,
    RowError,
    SpreadsheetError,
    max_rows,
    neutralised,
    read_frame,
)
from apps.enterprises.models import Enterprise, ImportEncoding
from apps.frameworks import scoring
from apps.frameworks.models import FrameworkStatus, Indicator, IndicatorKind

from . import services
from .answers import NONE_OF_THESE, NOT_MEASURED, CleanAnswer, clean_answer
from .models import Answer, EventAction, Evidence, Period, Submission, SubmissionEvent, SubmissionStatus
from .packing import compiled_for

logger = logging.getLogger(__name__)

# Column headers are part of the file format (not translated: an English-language export
# must still import).
USCC = "统一社会信用代码"
NAME = "企业名称"
PERIOD = "期次"
STATUS = "状态"
COMPOSITE = "综合得分"
LEVEL = "等级"
LEADING_COLUMNS = (USCC, NAME, PERIOD, STATUS)
TRAILING_COLUMNS = (COMPOSITE, LEVEL)
READ_ONLY_COLUMNS = (STATUS, COMPOSITE, LEVEL)  # exported for information, ignored on import

NONE_TEXT = "无"
NOT_MEASURED_TEXT = "未统计"
YES_TEXT, NO_TEXT = "是", "否"
ITEM_SEPARATOR = ";"
QUESTION_CHARS = 20

DATA_SHEET = "填报数据"
HELP_SHEET = "填写说明"
DROPDOWN_ROWS = 5000  # rows of the sheet that carry the drop-down lists

_NONE_WORDS = {NONE_TEXT, "以上均无", "均无", "none", NONE_OF_THESE}
_NOT_MEASURED_WORDS = {NOT_MEASURED_TEXT, "not measured", NOT_MEASURED}
_ITEM_SPLIT = re.compile(r"[;；,，、\s]+")

CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _require_transfer(user) -> None:
    if not can_transfer(user):
        raise PermissionDenied(_("只有主管部门和平台工作人员可以导入导出诊断填报。"))


# --- columns --------------------------------------------------------------------------------------


def framework_indicators(framework) -> list[Indicator]:
    """Every indicator of ``framework`` in filing order (as the form shows them)."""
    return list(
        framework.indicators.select_related("dimension", "module")
        .prefetch_related("rubric_levels", "checklist_items")
        .order_by("dimension__order", "order", "code")
    )


def indicator_header(indicator: Indicator) -> str:
    question = " ".join(indicator.question.split())
    short = question[:QUESTION_CHARS] + ("…" if len(question) > QUESTION_CHARS else "")
    return f"{indicator.code} {short}"


def _normal(text: str) -> str:
    return unicodedata.normalize("NFKC", text or "").strip()


def _uscc(text: str) -> str:
    return re.sub(r"\s+", "", _normal(text)).upper()


def _name_key(text: str) -> str:
    return re.sub(r"\s+", "", _normal(text))


# --- values ---------------------------------------------------------------------------------------


def cell_value(indicator: Indicator, value, not_measured: bool = False):
    """A stored answer in its natural form for a sheet cell (None when not answered)."""
    if indicator.kind == IndicatorKind.KPI and not_measured:
        return NOT_MEASURED_TEXT
    if value is None:
        return None
    if indicator.kind == IndicatorKind.RUBRIC:
        return int(value)
    if indicator.kind == IndicatorKind.CHECKLIST:
        return ITEM_SEPARATOR.join(value) if value else NONE_TEXT
    if indicator.kind == IndicatorKind.KPI:
        number = float(value)
        return int(number) if number.is_integer() else number
    if indicator.kind == IndicatorKind.YESNO:
        return YES_TEXT if value else NO_TEXT
    return value


def _item_codes(indicator: Indicator) -> list[str]:
    """The indicator's checklist item codes, computed once per loaded indicator."""
    codes = getattr(indicator, "_transfer_item_codes", None)
    if codes is None:
        codes = indicator._transfer_item_codes = [i.code for i in indicator.checklist_items.all()]
    return codes


def _item_lookup(indicator: Indicator) -> tuple[dict[str, str], dict[str, str]]:
    lookup = getattr(indicator, "_transfer_item_lookup", None)
    if lookup is None:
        items = list(indicator.checklist_items.all())
        lookup = indicator._transfer_item_lookup = (
            {i.code.casefold(): i.code for i in items}, {_normal(i.label): i.code for i in items}
        )
    return lookup


def raw_from_cell(indicator: Indicator, text: str):
    """What clean_answer expects, from a cell's text ("" stays "", i.e. not answered)."""
    text = _normal(text)
    if not text:
        return ""
    if indicator.kind == IndicatorKind.RUBRIC:
        return text.removesuffix("级").strip()
    if indicator.kind == IndicatorKind.CHECKLIST:
        by_code, by_label = _item_lookup(indicator)
        chosen = []
        tokens = [text] if text in by_label else [t for t in _ITEM_SPLIT.split(text) if t]
        for token in tokens:
            if token.casefold() in _NONE_WORDS:
                chosen.append(NONE_OF_THESE)
            else:
                chosen.append(by_code.get(token.casefold()) or by_label.get(token) or token)
        return chosen
    if indicator.kind == IndicatorKind.KPI and text.casefold() in _NOT_MEASURED_WORDS:
        return NOT_MEASURED
    return text


def allowed_values(indicator: Indicator) -> str:
    """The explanation of a column's values for the 填写说明 sheet."""
    if indicator.kind == IndicatorKind.RUBRIC:
        levels = "\n".join(f"{lv.level}：{lv.descriptor}" for lv in indicator.rubric_levels.all())
        return _("填 0–5 的整数（级别）：\n%(levels)s") % {"levels": levels}
    if indicator.kind == IndicatorKind.CHECKLIST:
        items = "\n".join(f"{i.code}：{i.label}" for i in indicator.checklist_items.all())
        return _("填清单项代码，多项用“;”分隔（如 a;c）；一项都没有填“无”。清单项：\n%(items)s") % {"items": items}
    if indicator.kind == IndicatorKind.KPI:
        low = "" if indicator.min_value is None else f"{indicator.min_value:g}"
        high = "" if indicator.max_value is None else f"{indicator.max_value:g}"
        text = _("填数字（单位：%(unit)s），允许范围 %(low)s–%(high)s；企业未统计该数据的填“未统计”。") % {
            "unit": indicator.unit or _("无"), "low": low, "high": high}
        if indicator.unit in ("%", "％"):
            text += _("百分比直接填百分数，例如 95.5 表示 95.5%，不要填 0.955。")
        return text
    text = _("填“是”或“否”。")
    if indicator.evidence_required:
        text += _("关键项：选“是”须有证明材料（纸质填报的材料由主管部门留存）。")
    return text


# --- export ---------------------------------------------------------------------------------------


def _help_dataset(indicators: list[Indicator], period: Period) -> tablib.Dataset:
    data = tablib.Dataset(headers=[_("列"), _("表头"), _("维度"), _("适用范围"), _("类型"), _("问题"), _("可填写的值"), _("填报说明")])
    data.title = HELP_SHEET
    fixed = {
        USCC: _("必填。18位统一社会信用代码；企业须已在平台登记，且在您的管辖范围内。每家企业一行。"),
        NAME: _("可空。如填写，须与平台登记的企业名称一致（用于核对信用代码是否填错）。"),
        PERIOD: _("可空。如填写，须为 %(code)s（导入时选择的期次）。") % {"code": period.code},
        STATUS: _("导出时给出当前状态；导入时忽略。"),
    }
    columns = [*LEADING_COLUMNS]
    for index, column in enumerate(columns, start=1):
        data.append([get_column_letter(index), column, "", "", "", "", fixed[column], ""])
    for index, ind in enumerate(indicators, start=len(columns) + 1):
        scope = _("仅适用于：%(module)s（其他企业留空）") % {"module": ind.module.name} if ind.module_id else _("所有企业")
        data.append([
            get_column_letter(index), indicator_header(ind), f"{ind.dimension.code} {ind.dimension.name}", scope,
            ind.get_kind_display(), ind.question, allowed_values(ind), ind.guidance,
        ])
    start = len(columns) + len(indicators) + 1
    data.append([get_column_letter(start), COMPOSITE, "", "", "", "", _("导出时给出（审核通过并评分后）；导入时忽略。"), ""])
    data.append([get_column_letter(start + 1), LEVEL, "", "", "", "", _("导出时给出；导入时忽略。"), ""])
    data.append(["", "", "", "", "", "", _(
        "导入规则：每行须填写该企业适用的全部指标；导入后填报状态为“待审核”（可选择同时审核通过），"
        "已审核通过的填报不会被覆盖。错误报告中的行号与 Excel 左侧的行号一致（表头为第 1 行）。"), ""])
    return data


def _workbook(*, period: Period, indicators: list[Indicator], rows: list[list]) -> bytes:
    """Both sheets, written cell by cell by tablib's XLSX writer after the spreadsheet
    module's formula neutralisation (what render_dataset does for one sheet), then dressed."""
    from openpyxl import Workbook
    from tablib.formats._xlsx import XLSXFormat

    headers = [*LEADING_COLUMNS, *(indicator_header(i) for i in indicators), *TRAILING_COLUMNS]
    data = tablib.Dataset(*rows, headers=headers)
    data.title = DATA_SHEET
    book = Workbook()
    book.remove(book.active)
    for dataset in (data, _help_dataset(indicators, period)):
        XLSXFormat.dset_sheet(neutralised(dataset), book.create_sheet(title=dataset.title))
    _dress(book, indicators=indicators, n_rows=len(rows))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _dress(book, *, indicators: list[Indicator], n_rows: int) -> None:
    """Drop-down lists for levels and 是/否, text-formatted code/KPI/checklist cells, widths."""
    from openpyxl.styles import Alignment
    from openpyxl.worksheet.datavalidation import DataValidation

    sheet, help_sheet = book.worksheets
    last = max(DROPDOWN_ROWS, n_rows + 1)
    first_indicator = len(LEADING_COLUMNS) + 1
    levels = DataValidation(type="list", formula1='"0,1,2,3,4,5"', allow_blank=True, showErrorMessage=True,
                            errorTitle=_("级别"), error=_("请填 0–5 的整数。"))
    yes_no = DataValidation(type="list", formula1=f'"{YES_TEXT},{NO_TEXT}"', allow_blank=True, showErrorMessage=True,
                            errorTitle=_("是/否"), error=_("请填“是”或“否”。"))
    # Text, for new cells (column style) and filled ones: Excel would turn "95%" into 0.95,
    # "1;2" into a date and an all-digit 18-character credit code into 9.1E+17.
    text_columns = [1]
    for index, ind in enumerate(indicators, start=first_indicator):
        letter = get_column_letter(index)
        cells = f"{letter}2:{letter}{last}"
        if ind.kind == IndicatorKind.RUBRIC:
            levels.add(cells)
        elif ind.kind == IndicatorKind.YESNO:
            yes_no.add(cells)
        else:
            text_columns.append(index)
        sheet.column_dimensions[letter].width = 16
    for index in text_columns:
        sheet.column_dimensions[get_column_letter(index)].number_format = "@"
        for (cell,) in sheet.iter_rows(min_row=2, max_row=n_rows + 1, min_col=index, max_col=index):
            cell.number_format = "@"
    for validation in (levels, yes_no):
        if validation.sqref:
            sheet.add_data_validation(validation)
    sheet.column_dimensions["A"].width = 22
    sheet.column_dimensions["B"].width = 30
    wrap = Alignment(wrap_text=True, vertical="top")
    for letter, width in zip("ABCDEFGH", (6, 28, 16, 22, 14, 40, 50, 40), strict=True):
        help_sheet.column_dimensions[letter].width = width
    for row in help_sheet.iter_rows(min_row=2):
        for cell in row:
            cell.alignment = wrap


def submissions_export(*, period: Period, user) -> bytes:
    """The submissions of ``period`` that ``user`` may see (the system actor ``SYSTEM``: all)
    as an XLSX workbook."""
    _require_transfer(user)
    indicators = framework_indicators(period.framework)
    qs = Submission.objects.filter(period=period).visible_to(user)
    subs = list(qs.select_related("enterprise", "score").order_by("province_code", "county_code", "enterprise__uscc"))
    answers: dict[int, dict[int, tuple]] = {}
    for sub_id, indicator_id, value, not_measured in Answer.objects.filter(submission__in=qs).values_list(
        "submission_id", "indicator_id", "value", "not_measured"
    ):
        answers.setdefault(sub_id, {})[indicator_id] = (value, not_measured)
    level_names = dict(period.framework.levels.values_list("rank", "name"))
    rows = []
    for sub in subs:
        got = answers.get(sub.pk, {})
        score = getattr(sub, "score", None)
        rows.append([
            sub.enterprise.uscc, sub.enterprise.name, period.code, sub.get_status_display(),
            *(cell_value(ind, *got.get(ind.pk, (None, False))) for ind in indicators),
            formatting.rounded(score.composite) if score else None,
            f"L{score.level} {level_names.get(score.level, '')}".strip() if score else None,
        ])
    return _workbook(period=period, indicators=indicators, rows=rows)


def submissions_template(*, period: Period) -> bytes:
    """An empty workbook with the period's columns and the 填写说明 sheet."""
    return _workbook(period=period, indicators=framework_indicators(period.framework), rows=[])


# --- which indicators apply to whom (in bulk) ------------------------------------------------------


def _modules_by_enterprise(framework, enterprises: list[Enterprise]) -> dict[int, set[int]]:
    """Module ids applying to each enterprise, for many enterprises in four queries.

    The same rule as services.modules_for (industry class, its division, or a key-industry
    tag); tests check that both agree. The key-industry tags are read as id pairs (a
    prefetch would build a model object per enterprise and tag).
    """
    modules = [
        (m.pk, {i.pk for i in m.industries.all()}, {k.pk for k in m.key_industries.all()})
        for m in framework.modules.prefetch_related("industries", "key_industries")
    ]
    tags: dict[int, set] = {}
    through = Enterprise.key_industries.through
    for enterprise_id, key_id in through.objects.filter(
        enterprise_id__in=[e.pk for e in enterprises]
    ).values_list("enterprise_id", "keyindustry_id"):
        tags.setdefault(enterprise_id, set()).add(key_id)
    result: dict[int, set[int]] = {}
    for ent in enterprises:
        codes = {ent.industry_id, ent.division_code}
        keys = tags.get(ent.pk, set())
        result[ent.pk] = {pk for pk, industries, key_industries in modules if codes & industries or keys & key_industries}
    return result


def _applies(indicator: Indicator, module_ids: set[int]) -> bool:
    return indicator.module_id is None or indicator.module_id in module_ids


def clean_paper_answers(
    *, indicators: list[Indicator], module_ids: set[int], raw: dict[str, object]
) -> tuple[dict[int, CleanAnswer], dict[str, str]]:
    """Check a whole paper filing: every applicable indicator answered and valid
    (answers.clean_answer), nothing given for indicators that do not apply.

    Returns ``({indicator id: clean answer}, {indicator code: message})``.
    """
    cleaned: dict[int, CleanAnswer] = {}
    errors: dict[str, str] = {}
    for ind in indicators:
        value = raw.get(ind.code, "")
        if not _applies(ind, module_ids):
            if value not in ("", None, []):
                errors[ind.code] = _("%(code)s：该企业不适用此指标（仅适用于“%(module)s”），请留空。") % {
                    "code": ind.code, "module": ind.module.name}
            continue
        try:
            answer = clean_answer(ind, value, item_codes=_item_codes(ind))
        except ValidationError as exc:
            errors[ind.code] = exc.messages[0]
            continue
        if answer.value is None and not answer.not_measured:
            errors[ind.code] = _("%(code)s：未填写。纸质填报须填写该企业适用的全部指标。") % {"code": ind.code}
            continue
        cleaned[ind.pk] = answer
    return cleaned, errors


def _same_answers(cleaned: dict[int, CleanAnswer], stored: dict[int, Answer]) -> bool:
    for indicator_id, answer in cleaned.items():
        old = stored.get(indicator_id)
        if old is None or old.value != answer.value or old.not_measured != answer.not_measured:
            return False
    return True


# --- checking a whole column ------------------------------------------------------------------------

# A plain decimal number (what nearly every KPI cell holds): float() and numpy read it alike,
# so it is parsed and range-checked for the whole column at once. Any other text in a KPI
# cell (units, "95%", "1,200", full-width digits, 未统计, rubbish) goes through the per-cell
# rules (raw_from_cell, clean_answer).
_PLAIN_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"


@dataclass
class CheckedColumn:
    """One indicator's cells, checked for every row of a sheet (index = row)."""

    filled: np.ndarray  # bool: the cell says something ("" and an empty item list do not)
    value: np.ndarray  # object: the natural value clean_answer gives, None when none
    not_measured: np.ndarray  # bool: 未统计
    answered: np.ndarray  # bool: a value or 未统计
    json: np.ndarray  # object: the value as Answer.value stores it (JSON text), None = NULL
    encoded: np.ndarray  # float64: scoring.encode_value of the value, NaN when none or 未统计
    error: np.ndarray  # object: clean_answer's message, None when the cell is valid
    has_error: np.ndarray  # bool


def check_column(indicator: Indicator, texts, compiled) -> CheckedColumn:
    """``clean_answer(indicator, raw_from_cell(indicator, text))`` for every cell text of a
    column at once, with the same results and messages (a test compares them on random
    sheets). Each distinct text is checked once — a rubric, yes/no or checklist column holds
    a handful — and the plain numbers of a KPI column are parsed and compared with the
    indicator's range as one array; ``compiled`` (the framework's compiled form) encodes the
    values for the packed answer vector."""
    texts = np.asarray(texts, dtype=object)
    codes, uniques = pd.factorize(texts)
    uniques = np.asarray(uniques, dtype=object)
    k = len(uniques)
    filled, not_measured, has_error = np.zeros(k, bool), np.zeros(k, bool), np.zeros(k, bool)
    value, as_json, error = np.full(k, None, object), np.full(k, None, object), np.full(k, None, object)
    encoded = np.full(k, np.nan)
    slow = np.ones(k, bool)
    column = compiled.columns[indicator.code]
    if indicator.kind == IndicatorKind.KPI and k:
        plain = pd.Series(uniques, dtype=object).str.fullmatch(_PLAIN_NUMBER).fillna(False).to_numpy(bool)
        numbers = np.full(k, np.nan)
        numbers[plain] = uniques[plain].astype(float)
        low = -np.inf if indicator.min_value is None else indicator.min_value
        high = np.inf if indicator.max_value is None else indicator.max_value
        with np.errstate(invalid="ignore"):
            ok = plain & np.isfinite(numbers) & (numbers >= low) & (numbers <= high)
        good = numbers[ok]
        filled[ok] = True
        value[ok] = good.tolist()
        as_json[ok] = [repr(x) for x in good.tolist()]  # json.dumps of a float is its repr
        encoded[ok] = good
        slow = ~ok
    item_codes = _item_codes(indicator) if indicator.kind == IndicatorKind.CHECKLIST else None
    for u in np.flatnonzero(slow).tolist():
        raw = raw_from_cell(indicator, uniques[u])
        filled[u] = raw not in ("", [])
        try:
            answer = clean_answer(indicator, raw, item_codes=item_codes)
        except ValidationError as exc:
            error[u], has_error[u] = exc.messages[0], True
            continue
        value[u], not_measured[u] = answer.value, answer.not_measured
        if answer.value is not None:
            as_json[u] = json.dumps(answer.value, ensure_ascii=False)
            if not answer.not_measured:
                encoded[u] = scoring.encode_value(compiled, column, answer.value)
    answered = np.array([v is not None for v in value.tolist()], dtype=bool) | not_measured
    return CheckedColumn(
        filled=filled[codes], value=value[codes], not_measured=not_measured[codes], answered=answered[codes],
        json=as_json[codes], encoded=encoded[codes], error=error[codes], has_error=has_error[codes],
    )


# --- the paper-filing service ---------------------------------------------------------------------


def check_period_for_paper(period: Period) -> None:
    if period.framework.status != FrameworkStatus.PUBLISHED:
        raise ValidationError(_("该期次的评估框架尚未发布，暂不能导入。"))
    if not period.is_open():
        raise ValidationError(
            _("该期次不在填报时间内（%(start)s 至 %(end)s），不能导入纸质填报。") % {
                "start": period.opens_on, "end": period.closes_on}
        )


@dataclass(frozen=True)
class PaperFiling:
    """One enterprise's paper filing: raw answers by indicator code (as clean_answer takes them)."""

    enterprise: Enterprise
    answers: dict[str, object]


@dataclass
class PaperImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    accepted: int = 0
    submission_ids: list[int] = field(default_factory=list)  # the filings written, in the file's order


@dataclass
class CheckedFilings:
    """Paper filings whose answers are checked, as matrices: row i is ``enterprises[i]``,
    column j is ``indicators[j]``. ``present``: the filing gives an answer for the indicator
    (it applies and is answered); where present, ``value`` holds the natural value (None for
    未统计), ``not_measured`` 未统计, ``json`` Answer.value's JSON text and ``encoded`` the
    packed vector's number (NaN for 未统计)."""

    enterprises: list[Enterprise]
    indicators: list[Indicator]
    present: np.ndarray
    value: np.ndarray
    not_measured: np.ndarray
    json: np.ndarray
    encoded: np.ndarray

    def answers(self, i: int) -> dict[int, CleanAnswer]:
        """Row ``i``'s answers as {indicator id: CleanAnswer}."""
        return {
            self.indicators[j].pk: CleanAnswer(self.value[i, j], bool(self.not_measured[i, j]))
            for j in np.flatnonzero(self.present[i]).tolist()
        }

    @classmethod
    def from_columns(cls, enterprises, indicators, columns: list[CheckedColumn], applies: np.ndarray, rows):
        """The rows ``rows`` of column-wise checked cells (:func:`check_column`)."""
        def stack(name):
            return np.stack([getattr(c, name)[rows] for c in columns], axis=1) if columns else np.zeros((len(rows), 0))

        present = applies[rows] & stack("answered").astype(bool)
        return cls(enterprises=enterprises, indicators=indicators, present=present, value=stack("value"),
                   not_measured=stack("not_measured").astype(bool) & present, json=stack("json"),
                   encoded=np.where(present, stack("encoded").astype(float), np.nan))

    @classmethod
    def from_answers(cls, enterprises, indicators, cleaned: list[dict[int, CleanAnswer]], compiled):
        """Filings checked one by one (:func:`clean_paper_answers`)."""
        n, m = len(enterprises), len(indicators)
        out = cls(enterprises=enterprises, indicators=indicators, present=np.zeros((n, m), bool),
                  value=np.full((n, m), None, object), not_measured=np.zeros((n, m), bool),
                  json=np.full((n, m), None, object), encoded=np.full((n, m), np.nan))
        for i, answers in enumerate(cleaned):
            for j, ind in enumerate(indicators):
                answer = answers.get(ind.pk)
                if answer is None:
                    continue
                out.present[i, j], out.value[i, j], out.not_measured[i, j] = True, answer.value, answer.not_measured
                if answer.value is not None:
                    out.json[i, j] = json.dumps(answer.value, ensure_ascii=False)
                    if not answer.not_measured:
                        out.encoded[i, j] = scoring.encode_value(compiled, compiled.columns[ind.code], answer.value)
        return out


# Submission fields a paper filing sets besides the recorded codes of services.enterprise_location
SUBMIT_FIELDS = [
    "status", "revision", "pledged_at", "pledged_by", "submitted_at", "updated_at", "answer_vector", "flags",
    "passed_on_at", "passed_on_by",
]


def _db_value(field, obj):
    """A model field's value as COPY takes it (JSON as its text)."""
    value = getattr(obj, field.attname)
    if field.get_internal_type() == "JSONField" and value is not None:
        return json.dumps(value, ensure_ascii=False, cls=field.encoder)
    return value


def _who(user) -> str:
    full = user.get_full_name()
    return f"{full}（{user.username}）" if full else user.username


def _check_filers(user, enterprises: list[Enterprise]) -> None:
    """One filing per enterprise, every enterprise inside ``user``'s jurisdiction."""
    enterprise_ids = [e.pk for e in enterprises]
    if len(set(enterprise_ids)) != len(enterprise_ids):
        raise ValidationError(_("同一家企业在一次导入中只能有一份填报。"))
    visible = set(Enterprise.objects.visible_to(user).filter(pk__in=enterprise_ids).values_list("pk", flat=True))
    outside = [e.uscc for e in enterprises if e.pk not in visible]
    if outside:
        raise PermissionDenied(
            _("以下企业不在您的管辖范围内，不能导入其填报：%(codes)s") % {"codes": "、".join(outside)}
        )


@transaction.atomic
def submissions_import_paper(
    *, period: Period, user, filings: list[PaperFiling], source: str, accept: bool = False
) -> PaperImportResult:
    """Record paper filings typed in by a regional authority (or ministry staff).

    All or nothing: raises PermissionDenied if ``user`` may not import or an enterprise is
    outside their jurisdiction, ValidationError if the period is not open, a filing is
    incomplete or invalid, or a submission is already accepted with other answers. Each
    filing creates or updates the enterprise's submission and moves it to SUBMITTED (then
    ACCEPTED, through services.submission_accept, when ``accept``), with the answers saved
    by ``user`` and an event noting the paper filing, the importer and ``source`` (the file
    name). A submitted or accepted filing whose answers are unchanged is left alone.

    The answers are checked filing by filing here; a file goes through
    :func:`submissions_import`, which checks them column by column and records them with
    the same :func:`record_paper_filings`.
    """
    _require_transfer(user)
    check_period_for_paper(period)
    enterprises = list(
        Enterprise.objects.filter(pk__in=[f.enterprise.pk for f in filings])
    )
    by_pk = {e.pk: e for e in enterprises}
    ordered = [by_pk.get(f.enterprise.pk, f.enterprise) for f in filings]
    _check_filers(user, ordered)
    modules = _modules_by_enterprise(period.framework, enterprises)
    indicators = framework_indicators(period.framework)
    cleaned, problems = [], []
    for filing, ent in zip(filings, ordered, strict=True):
        answers, errors = clean_paper_answers(indicators=indicators, module_ids=modules[ent.pk], raw=filing.answers)
        problems += [f"{ent.uscc}：{message}" for message in errors.values()]
        cleaned.append(answers)
    if problems:
        raise ValidationError(problems)
    checked = CheckedFilings.from_answers(ordered, indicators, cleaned, compiled_for(period.framework))
    return record_paper_filings(period=period, user=user, filings=checked, source=source, accept=accept)


@transaction.atomic
def record_paper_filings(
    *, period: Period, user, filings: CheckedFilings, source: str, accept: bool = False
) -> PaperImportResult:
    """Write checked paper filings (see :func:`submissions_import_paper` for what a paper
    filing records), set-based: new submissions, answers and events with COPY, existing
    submissions and changed answers with one ``UPDATE … FROM`` each; the packed answer vectors and
    the reviewer's flags are computed for all filings as matrices. The jurisdiction and the
    accepted filings are checked again under lock (the answers were checked by the caller)."""
    _require_transfer(user)
    check_period_for_paper(period)
    ents, indicators = filings.enterprises, filings.indicators
    _check_filers(user, ents)
    existing = {
        s.enterprise_id: s
        for s in Submission.objects.select_for_update().filter(period=period, enterprise_id__in=[e.pk for e in ents])
    }
    stored: dict[int, dict[int, Answer]] = {}
    for answer in Answer.objects.filter(submission__in=[s.pk for s in existing.values()]):
        stored.setdefault(answer.submission_id, {})[answer.indicator_id] = answer

    # Filings that exist already are compared one by one (a re-imported export: few answers
    # differ); the new ones are written as matrices.
    result = PaperImportResult()
    problems, write, changed_subs = [], [], {}
    for i, ent in enumerate(ents):
        sub = existing.get(ent.pk)
        if sub is None:
            write.append(i)
            continue
        cleaned = filings.answers(i)
        same = _same_answers(cleaned, stored.get(sub.pk, {}))
        if sub.status == SubmissionStatus.ACCEPTED and not same:
            problems.append(_("%(uscc)s：该企业本期次的填报已审核通过，不能用导入覆盖。") % {"uscc": ent.uscc})
        elif same and sub.status in (SubmissionStatus.SUBMITTED, SubmissionStatus.ACCEPTED):
            result.unchanged += 1
        else:
            write.append(i)
            changed_subs[i] = (sub, cleaned)
    if problems:
        raise ValidationError(problems)

    now = timezone.now()
    note = _("纸质填报导入（导入人：%(who)s，文件：%(source)s）") % {"who": _who(user), "source": source}
    compiled = compiled_for(period.framework)
    rows = np.asarray(write, dtype=np.intp)
    present = filings.present[rows]
    # The answers each filing holds once written, encoded in the compiled order (NaN:
    # none or 未统计): the packed vector and the flags are computed from it.
    final = np.full((len(rows), compiled.n_indicators), np.nan)
    order = np.array([compiled.columns[ind.code] for ind in indicators], dtype=np.intp)
    by_id = {ind.pk: ind for ind in indicators}
    changed_answers: list[Answer] = []  # stored answers the file changes (new ones are copied below)
    for r, i in enumerate(write):
        if i not in changed_subs:
            continue
        sub, cleaned = changed_subs[i]
        old = stored.get(sub.pk, {})
        for indicator_id, a in old.items():
            if a.value is not None and not a.not_measured and indicator_id in by_id:
                code = by_id[indicator_id].code
                final[r, compiled.columns[code]] = scoring.encode_value(compiled, compiled.columns[code], a.value)
        for indicator_id, answer in cleaned.items():
            current = old.get(indicator_id)
            if current is not None and (current.value, current.not_measured) != (answer.value, answer.not_measured):
                current.value, current.not_measured = answer.value, answer.not_measured
                changed_answers.append(current)
    written = np.where(present, filings.encoded[rows], np.nan)
    final[:, order] = np.where(present, written, final[:, order])
    flags = _paper_flags(period, [ents[i] for i in write], indicators, final, order,
                         _evidence_indicators([changed_subs[i][0] for i in write if i in changed_subs]),
                         [changed_subs[i][0].pk if i in changed_subs else None for i in write])
    vectors = final.astype("<f4")

    # New submissions: one COPY of their final state (every other field its default), then
    # their ids (one per enterprise and period).
    new_rows = [r for r, i in enumerate(write) if i not in changed_subs]
    location = [services.enterprise_location(ents[write[r]]) for r in new_rows]
    location_fields = list(location[0]) if location else list(services.enterprise_location(Enterprise()))
    given = {
        "enterprise": [ents[write[r]].pk for r in new_rows], "period": period.pk, "framework": period.framework_id,
        "status": SubmissionStatus.SUBMITTED.value, "revision": 1, "submitted_at": now, "created_at": now,
        "updated_at": now, "answer_vector": [vectors[r].tobytes() for r in new_rows],
        "flags": [json.dumps(flags[r], ensure_ascii=False) for r in new_rows],
        **{name: [loc[name] for loc in location] for name in location_fields},
    }
    submission_columns = {
        f.column: given[f.name] if f.name in given else f.get_default()
        for f in Submission._meta.concrete_fields if not f.primary_key
    }
    sub_ids = np.zeros(len(write), dtype=np.int64)
    new_ids = {}
    if new_rows:
        copy_rows(Submission._meta.db_table, list(submission_columns), submission_columns)
        new_ids = dict(Submission.objects.filter(period=period, enterprise__in=given["enterprise"])
                       .values_list("enterprise_id", "pk"))
    for r in new_rows:
        sub_ids[r] = new_ids[ents[write[r]].pk]
    result.created = len(new_rows)

    # Existing submissions: one UPDATE … FROM.
    previous: dict[int, str] = {}
    updated: list[Submission] = []
    for r, i in enumerate(write):
        if i not in changed_subs:
            continue
        sub = changed_subs[i][0]
        previous[r] = sub.status
        sub.status = SubmissionStatus.SUBMITTED
        sub.revision += 1  # an editor open on the old draft now gets a conflict
        # The pledge was signed on paper; an earlier online pledge does not cover these answers.
        sub.pledged_at = sub.pledged_by = None
        sub.submitted_at = sub.updated_at = now
        sub.passed_on_at = sub.passed_on_by = None  # changed answers go through the review chain again
        sub.__dict__.update(services.enterprise_location(ents[i]))
        sub.answer_vector, sub.flags = vectors[r].tobytes(), flags[r]
        sub_ids[r] = sub.pk
        updated.append(sub)
    result.updated = len(updated)
    fields = [Submission._meta.get_field(name) for name in (*SUBMIT_FIELDS, *location_fields)]
    update_rows(Submission._meta.db_table, "id", [f.column for f in fields], (
        (sub.pk, *(_db_value(f, sub) for f in fields)) for sub in updated))

    # Answers: COPY of every new one (row by row, indicator by indicator), UPDATE of the changed.
    stored_pairs = {(sub.pk, indicator_id) for sub, _c in changed_subs.values() for indicator_id in stored.get(sub.pk, {})}
    r_idx, j_idx = np.nonzero(present)
    if stored_pairs:
        keep = np.array([(int(sub_ids[r]), indicators[j].pk) not in stored_pairs for r, j in zip(r_idx, j_idx, strict=True)],
                        dtype=bool)
        r_idx, j_idx = r_idx[keep], j_idx[keep]
    indicator_pks = np.array([ind.pk for ind in indicators], dtype=np.int64)
    answer_columns = {
        "submission_id": sub_ids[r_idx], "indicator_id": indicator_pks[j_idx],
        "value": filings.json[rows][r_idx, j_idx], "not_measured": filings.not_measured[rows][r_idx, j_idx],
        "note": "", "updated_at": now, "updated_by_id": user.pk,
    }
    copy_rows(Answer._meta.db_table, list(answer_columns), answer_columns)
    update_rows(Answer._meta.db_table, "id", ("value", "not_measured", "updated_at", "updated_by_id"), (
        (a.pk, None if a.value is None else json.dumps(a.value, ensure_ascii=False), a.not_measured, now, user.pk)
        for a in changed_answers))

    # Events: every CREATED before every SUBMITTED (the history is ordered by time, then id).
    events = SubmissionEvent._meta.db_table
    created_events = {
        "submission_id": sub_ids[new_rows], "action": EventAction.CREATED.value, "from_status": "",
        "to_status": SubmissionStatus.DRAFT.value, "actor_id": user.pk, "at": now, "note": note, "snapshot": None,
    }
    submitted_events = {
        **created_events, "submission_id": sub_ids, "action": EventAction.SUBMITTED.value,
        "from_status": np.array([previous.get(r, SubmissionStatus.DRAFT.value) for r in range(len(write))], dtype=object),
        "to_status": SubmissionStatus.SUBMITTED.value,
    }
    for columns in (created_events, submitted_events):
        copy_rows(events, list(columns), columns)
    result.submission_ids = sub_ids.tolist()
    if accept:
        # "同时审核通过" takes the step the period's review chain gives the importer: accept,
        # or — a county in a two-level chain — pass the filing on to the prefecture.
        from .review import submission_pass_on

        subs = Submission.objects.select_related("enterprise", "framework", "period").in_bulk(result.submission_ids)
        for sub in (subs[pk] for pk in result.submission_ids):
            if can_accept(user, sub):
                services.submission_accept(submission=sub, user=user, note=_("纸质填报导入时审核通过"))
                result.accepted += 1
            elif can_pass_on(user, sub):
                submission_pass_on(submission=sub, user=user, note=_("纸质填报导入时初审转报"))
    return result


def _evidence_indicators(subs: list[Submission]) -> dict[int, set[int]]:
    """{submission id: ids of the indicators it has evidence for}, in one query."""
    out: dict[int, set[int]] = {}
    if subs:
        rows = Evidence.objects.filter(submission_id__in=[s.pk for s in subs]).exclude(indicator=None)
        for sub_id, indicator_id in rows.values_list("submission_id", "indicator_id"):
            out.setdefault(sub_id, set()).add(indicator_id)
    return out


def _paper_flags(
    period: Period, enterprises: list[Enterprise], indicators: list[Indicator], final: np.ndarray,
    order: np.ndarray, evidence: dict[int, set[int]], sub_ids: list[int | None],
) -> list[list[dict]]:
    """The reviewer's flags of each filing (services.submission_flags' rules, with the
    messages of its flag builders) from the encoded answers ``final`` (filings × compiled
    columns, NaN = none; ``order[j]`` the column of ``indicators[j]``): rubric levels at or
    above the evidence level without evidence and KPI values far from the accepted peers of
    the filing's industry division (each division's median once per file), then key yes/no
    items answered "yes" without uploaded evidence — an online filing could not be
    submitted so; a paper one can (the authority keeps the paper), and is flagged."""
    n = len(enterprises)
    flags: list[list[dict]] = [[] for _ in range(n)]
    if not n:
        return flags
    has_evidence = np.zeros((n, len(indicators)), bool)
    column_of = {ind.pk: j for j, ind in enumerate(indicators)}
    for r, sub_id in enumerate(sub_ids):
        for indicator_id in evidence.get(sub_id, ()) if sub_id is not None else ():
            if indicator_id in column_of:
                has_evidence[r, column_of[indicator_id]] = True
    values = final[:, order]
    division_index, division_codes = pd.factorize(np.array([e.division_code for e in enterprises], dtype=object))
    spreads = services.kpi_peer_spreads(period.pk, division_codes.tolist())
    with np.errstate(invalid="ignore"):
        for j, ind in enumerate(indicators):
            column = values[:, j]
            if ind.kind == IndicatorKind.RUBRIC:
                threshold = ind.evidence_from_level if ind.evidence_from_level is not None else 5
                by_level = {}  # one message per level (thousands of filings share a handful)
                for r in np.flatnonzero((column >= threshold) & ~has_evidence[:, j]).tolist():
                    level = int(column[r])
                    if level not in by_level:
                        by_level[level] = services.rubric_high_flag(ind, level)
                    flags[r].append(dict(by_level[level]))
        for j, ind in enumerate(indicators):
            if ind.kind != IndicatorKind.KPI:
                continue
            # each division's (median, MAD) once, spread over its filings by index
            spread = np.array([spreads[d].get(ind.pk, (np.nan, np.nan)) for d in division_codes]).reshape(-1, 2)
            median, mad = spread[division_index, 0], spread[division_index, 1]
            z = (values[:, j] - median) / mad
            for r in np.flatnonzero(np.abs(z) > services.KPI_OUTLIER_Z).tolist():
                flags[r].append(services.kpi_outlier_flag(ind, values[r, j], float(median[r])))
    key = sorted((j for j, ind in enumerate(indicators) if ind.kind == IndicatorKind.YESNO and ind.evidence_required),
                 key=lambda j: indicators[j].pk)
    for j in key:
        ind = indicators[j]
        flag = {
            "indicator": ind.code, "kind": "paper_yes_without_evidence",
            "message": _("%(code)s 选择了“是”（纸质填报），平台上没有证明材料，请核对纸质材料。") % {"code": ind.code},
        }
        for r in np.flatnonzero((values[:, j] == 1.0) & ~has_evidence[:, j]).tolist():
            flags[r].append(dict(flag))
    return flags


# --- reading a file -------------------------------------------------------------------------------


@dataclass
class SubmissionImportReport(FileImportReport):
    """What a paper-filing import did (the spreadsheet import report plus the period and
    the filings accepted on import)."""

    period: str = ""
    unchanged: int = 0
    accepted: int = 0

    def summary(self) -> str:
        counts = _("新增 %(created)d 份，更新 %(updated)d 份，未变化 %(unchanged)d 份，跳过错误行 %(skipped)d 行。") % {
            "created": self.created, "updated": self.updated, "unchanged": self.unchanged, "skipped": self.skipped}
        if self.accepted:
            counts += _("其中 %(n)d 份已同时审核通过。") % {"n": self.accepted}
        if self.dry_run:
            return _("检查完成（未写入）：共 %(total)d 行数据，%(bad)d 行有错误。") % {
                "total": self.total_rows, "bad": self.error_lines}
        if not self.errors:
            return _("导入完成：共 %(total)d 行数据。") % {"total": self.total_rows} + counts
        if self.applied:
            return _("部分导入：%(bad)d 行有错误，已跳过；其余的行已写入。") % {"bad": self.error_lines} + counts
        if self.mode == ImportMode.ALL_OR_NOTHING:
            return _(
                "未导入：%(bad)d 行有错误。按“全部或全不”方式，没有写入任何数据。请按错误报告改正后重新上传整个文件。"
            ) % {"bad": self.error_lines}
        return _("未导入：没有可以写入的正确行（%(bad)d 行有错误），数据库未作任何改动。") % {"bad": self.error_lines}


@dataclass
class _Sheet:
    file_format: str
    encoding: str
    columns: dict[str, int]  # fixed column name → index
    indicator_columns: dict[int, int]  # indicator pk → index
    frame: pd.DataFrame  # data rows: cell texts ("" = empty) under the header's positions
    lines: np.ndarray  # each data row's line number, as Excel shows it
    ignored: list[str]

    def texts(self, index: int | None) -> np.ndarray:
        """The column at ``index`` as an array of cell texts (all "" when there is no such column)."""
        if index is None or index not in self.frame.columns:
            return np.full(len(self.frame), "", dtype=object)
        return self.frame[index].to_numpy(dtype=object)


def _header_key(text: str) -> str:
    return re.sub(r"[\s*]+", "", _normal(text))


def read_sheet(*, data: bytes, filename: str, indicators: list[Indicator]) -> _Sheet:
    """Read the first sheet of an XLSX (or a CSV) as columns of cell texts
    (:func:`apps.core.spreadsheets.read_frame`), mapping the header cells to fixed columns
    and indicators; raise SpreadsheetError when unusable."""
    sheet = read_frame(data=data, filename=filename, encoding=ImportEncoding.AUTO)
    header_line, header = sheet.header_line, sheet.header
    fixed = {_header_key(c): c for c in (*LEADING_COLUMNS, *TRAILING_COLUMNS)}
    by_code = {i.code.casefold(): i for i in indicators}
    columns: dict[str, int] = {}
    indicator_columns: dict[int, int] = {}
    ignored: list[str] = []
    seen: dict[str, int] = {}
    for index, cell in enumerate(header):
        key = _header_key(cell)
        token = _normal(cell).split(maxsplit=1)[0].casefold() if _normal(cell) else ""
        name = fixed.get(key) or (by_code[token].code if token in by_code else "")
        if not name:
            if cell:
                ignored.append(cell)
            continue
        if name in seen:
            raise SpreadsheetError(
                _("表头（第 %(line)d 行）中“%(column)s”出现了两次（%(a)s 列和 %(b)s 列），请删除其中一列。") % {
                    "line": header_line, "column": name,
                    "a": get_column_letter(seen[name] + 1), "b": get_column_letter(index + 1)}
            )
        seen[name] = index
        if name in fixed.values():
            columns[name] = index
        else:
            indicator_columns[by_code[name.casefold()].pk] = index
    if USCC not in columns:
        raise SpreadsheetError(
            _("表头（第 %(line)d 行）缺少“%(column)s”列。请使用本平台下载的模板或导出文件，数据须在第一个工作表。")
            % {"line": header_line, "column": USCC}
        )
    missing = [i.code for i in indicators if i.module_id is None and i.pk not in indicator_columns]
    if missing:
        raise SpreadsheetError(
            _("表头（第 %(line)d 行）缺少本期次评估框架的指标列：%(codes)s。请使用该期次的模板（各期次的指标可能不同）。")
            % {"line": header_line, "codes": "、".join(missing)}
        )
    if not len(sheet.frame):
        raise SpreadsheetError(_("文件中只有表头，没有数据行。"))
    if len(sheet.frame) > max_rows():
        raise SpreadsheetError(_("数据行超过 %(limit)d 行的上限，请分成几个文件分别导入。") % {"limit": max_rows()})
    return _Sheet(sheet.file_format, sheet.encoding, columns, indicator_columns, sheet.frame, sheet.lines, ignored)


def _applicability(indicators: list[Indicator], enterprises: list[Enterprise | None], modules: dict[int, set[int]]) -> np.ndarray:
    """rows × indicators: the indicator applies to the row's enterprise (False for rows
    without a known enterprise)."""
    module_pks = sorted({ind.module_id for ind in indicators if ind.module_id is not None})
    position = {pk: k for k, pk in enumerate(module_pks)}
    member = np.zeros((len(enterprises), len(module_pks) + 1), bool)  # last column: "no module" = always
    member[:, -1] = True
    for i, ent in enumerate(enterprises):
        if ent is None:
            member[i, -1] = False
            continue
        for pk in modules[ent.pk]:
            if pk in position:
                member[i, position[pk]] = True
    which = np.array([position[ind.module_id] if ind.module_id is not None else len(module_pks) for ind in indicators],
                     dtype=np.intp)
    known = np.array([ent is not None for ent in enterprises], dtype=bool)
    return member[:, which] & known[:, None]


# --- importing ------------------------------------------------------------------------------------


def submissions_import(
    *,
    data: bytes,
    filename: str,
    period: Period,
    user,
    mode: str = ImportMode.ALL_OR_NOTHING,
    accept: bool = False,
    dry_run: bool = False,
    on_progress=None,
) -> SubmissionImportReport:
    """Import paper filings of ``period`` from an XLSX (or CSV) file, reporting every bad cell.

    The sheet is read and checked as columns (:func:`check_column`: the rules of
    ``clean_answer`` for a whole indicator column at once), the rows as a whole (enterprise
    registered and inside ``user``'s jurisdiction, name and period, the indicators that
    apply to each enterprise answered and no others, submission not already accepted);
    then, in one transaction, the good rows are written through
    :func:`record_paper_filings` — all of them only if there is no bad row
    (``all_or_nothing``), or just the good ones (``valid_rows_only``). Raises
    SpreadsheetError when the file as a whole is unusable, PermissionDenied when ``user``
    may not import. ``on_progress(stage, rows)`` is told the rows checked ("checked"), then
    written ("written").
    """
    _require_transfer(user)
    if mode not in ImportMode.values:
        raise ValueError(f"unknown import mode {mode!r}")
    try:
        check_period_for_paper(period)
    except ValidationError as exc:
        raise SpreadsheetError(exc.messages[0]) from exc
    indicators = framework_indicators(period.framework)
    compiled = compiled_for(period.framework)
    sheet = read_sheet(data=data, filename=filename, indicators=indicators)
    n = len(sheet.frame)
    lines = sheet.lines.tolist()

    def where(index: int | None, label: str) -> str:
        return f"{get_column_letter(index + 1)}（{label}）" if index is not None else label

    col = sheet.columns
    uscc_texts = [_uscc(t) for t in sheet.texts(col[USCC]).tolist()]
    usccs = set(uscc_texts)
    enterprises = {
        e.uscc: e for e in Enterprise.objects.filter(uscc__in=usccs)
    }
    visible = set(Enterprise.objects.visible_to(user).filter(uscc__in=usccs).values_list("pk", flat=True))
    modules = _modules_by_enterprise(period.framework, list(enterprises.values()))
    existing = {
        s.enterprise_id: s for s in Submission.objects.filter(period=period, enterprise__uscc__in=usccs)
    }
    stored: dict[int, dict[int, Answer]] = {}
    for answer in Answer.objects.filter(submission__in=[s.pk for s in existing.values()]).only(
        "submission_id", "indicator_id", "value", "not_measured"
    ):
        stored.setdefault(answer.submission_id, {})[answer.indicator_id] = answer
    index_of = {ind.code: sheet.indicator_columns.get(ind.pk) for ind in indicators}

    # Each row's errors in the order a clerk reads them: the enterprise, name and period,
    # missing columns, an accepted filing, then the answers column by column.
    row_errors: list[list[RowError]] = [[] for _ in range(n)]

    def fail(i: int, column: str, message: str) -> None:
        row_errors[i].append(RowError(line=lines[i], column=column, message=message))

    uscc_col = where(col[USCC], USCC)
    names, periods = sheet.texts(col.get(NAME)).tolist(), sheet.texts(col.get(PERIOD)).tolist()
    ents: list[Enterprise | None] = [None] * n
    first_line: dict[str, int] = {}
    for i, uscc in enumerate(uscc_texts):
        ent = None
        if not uscc:
            fail(i, uscc_col, _("请填写统一社会信用代码。"))
        elif uscc in first_line:
            fail(i, uscc_col, _("统一社会信用代码 %(uscc)s 在文件中重复（第 %(line)d 行已有），每家企业只能有一行。") % {
                "uscc": uscc, "line": first_line[uscc]})
        else:
            first_line[uscc] = lines[i]
            ent = enterprises.get(uscc)
            # One answer for "not registered" and "registered elsewhere": a clerk may not learn
            # from an import whether another jurisdiction holds an enterprise (issue 9, item 7).
            if ent is None or ent.pk not in visible:
                fail(i, uscc_col, _(
                    "统一社会信用代码 %(uscc)s 不是您管辖范围内已登记的企业。请核对代码；"
                    "该企业如尚未在平台登记，请先登记，再导入其填报。") % {"uscc": uscc})
                ent = None
        ents[i] = ent
        if ent is not None and names[i] and _name_key(names[i]) != _name_key(ent.name):
            fail(i, where(col.get(NAME), NAME), _("企业名称与平台登记的名称（%(name)s）不一致，请核对统一社会信用代码是否填错。") % {
                "name": ent.name})
        given_period = _normal(periods[i])
        if given_period and given_period != period.code:
            fail(i, where(col.get(PERIOD), PERIOD), _("本行期次为“%(given)s”，与导入时选择的期次“%(code)s”不一致。") % {
                "given": given_period, "code": period.code})

    known = np.array([e is not None for e in ents], dtype=bool)
    applies = _applicability(indicators, ents, modules)
    checked = [check_column(ind, sheet.texts(index_of[ind.code]), compiled) for ind in indicators]
    # Where a cell is wrong (for a known enterprise, the rules of clean_paper_answers: an
    # indicator that applies must be answered, one that does not must stay empty).
    wrong = []
    for j, c in enumerate(checked):
        unanswered = known & applies[:, j] & ~c.has_error & ~c.answered
        not_applicable = known & ~applies[:, j] & c.filled
        wrong.append((unanswered, not_applicable, (c.has_error & ~(known & ~applies[:, j])) | unanswered | not_applicable))
    for j, ind in enumerate(indicators):
        if index_of[ind.code] is None:
            for i in np.flatnonzero(known & applies[:, j]).tolist():
                fail(i, ind.code, _("%(code)s：该企业适用此指标，但文件中没有这一列。") % {"code": ind.code})
    any_wrong = np.logical_or.reduce([w[2] for w in wrong]) if wrong else np.zeros(n, bool)
    for i in np.flatnonzero(known & ~any_wrong).tolist():
        sub = existing.get(ents[i].pk)
        if sub is None or sub.status != SubmissionStatus.ACCEPTED:
            continue
        cleaned = {
            ind.pk: CleanAnswer(checked[j].value[i], bool(checked[j].not_measured[i]))
            for j, ind in enumerate(indicators) if applies[i, j] and checked[j].answered[i]
        }
        if not _same_answers(cleaned, stored.get(sub.pk, {})):
            fail(i, uscc_col, _("该企业本期次的填报已审核通过，不能用导入覆盖（文件中的答案与已通过的不同）。请从文件中删除这一行。"))
    for j, (ind, c) in enumerate(zip(indicators, checked, strict=True)):
        if index_of[ind.code] is None:
            continue
        unanswered, not_applicable, any_j = wrong[j]
        column = where(index_of[ind.code], ind.code)
        for i in np.flatnonzero(any_j).tolist():
            if not_applicable[i]:
                fail(i, column, _("%(code)s：该企业不适用此指标（仅适用于“%(module)s”），请留空。") % {
                    "code": ind.code, "module": ind.module.name})
            elif unanswered[i]:
                fail(i, column, _("%(code)s：未填写。纸质填报须填写该企业适用的全部指标。") % {"code": ind.code})
            else:
                fail(i, column, c.error[i])

    errors = [e for errs in row_errors for e in errs]
    good = np.flatnonzero(known & np.array([not errs for errs in row_errors], dtype=bool))
    if on_progress:
        on_progress("checked", n)
    report = SubmissionImportReport(
        file_format=sheet.file_format, encoding=sheet.encoding, mode=mode, dry_run=dry_run,
        total_rows=n, skipped=len({e.line for e in errors}), errors=errors,
        ignored_columns=sheet.ignored, period=period.code,
    )
    if dry_run or not len(good) or (errors and mode == ImportMode.ALL_OR_NOTHING):
        return report
    filings = CheckedFilings.from_columns([ents[i] for i in good.tolist()], indicators, checked, applies, good)
    try:
        with transaction.atomic():
            result = record_paper_filings(period=period, user=user, filings=filings, source=filename, accept=accept)
    except (ValidationError, DatabaseError) as exc:
        # Checked above, so only a concurrent change gets here (e.g. the enterprise started
        # or the authority accepted a filing meanwhile). Nothing has been written.
        logger.warning("submission import by %s refused while writing: %r", user.username, exc)
        detail = "；".join(exc.messages) if isinstance(exc, ValidationError) else type(exc).__name__
        report.errors = [*errors, RowError(line=0, column="", message=_(
            "写入时失败（%(detail)s），没有写入任何数据。可能有人同时修改了这些填报，请重新上传。") % {"detail": detail})]
        return report
    if on_progress:
        on_progress("written", len(good))
    report.created, report.updated = result.created, result.updated
    report.unchanged, report.accepted = result.unchanged, result.accepted
    report.applied = bool(result.created or result.updated)
    logger.info(
        "submission import by %s (%s, period %s, %s): %d rows, %d created, %d updated, %d unchanged, %d bad lines",
        user.username, filename, period.code, mode, report.total_rows, report.created, report.updated,
        report.unchanged, report.skipped,
    )
    return report
