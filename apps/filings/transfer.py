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
from apps.core.spreadsheets import (
    FileImportReport,
    RowError,
    SpreadsheetError,
    max_rows,
    neutralised,
    read_records,
)
from apps.enterprises.models import Enterprise, ImportEncoding, ImportMode
from apps.frameworks.models import FrameworkStatus, Indicator, IndicatorKind

from . import services
from .answers import NONE_OF_THESE, NOT_MEASURED, CleanAnswer, clean_answer
from .models import Answer, EventAction, Evidence, Period, Submission, SubmissionEvent, SubmissionStatus
from .packing import pack_answers

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
    """Module ids applying to each enterprise, for many enterprises in three queries.

    The same rule as services.modules_for (industry class, its division, or a key-industry
    tag); tests check that both agree.
    """
    modules = [
        (m.pk, {i.pk for i in m.industries.all()}, {k.pk for k in m.key_industries.all()})
        for m in framework.modules.prefetch_related("industries", "key_industries")
    ]
    result: dict[int, set[int]] = {}
    for ent in enterprises:
        codes = {ent.industry_id, ent.division_code}
        keys = {k.pk for k in ent.key_industries.all()}
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
    submissions: list[Submission] = field(default_factory=list)


SUBMIT_FIELDS = [
    "status", "revision", "pledged_at", "pledged_by", "submitted_at", "updated_at", "answer_vector", "flags",
    "province_code", "prefecture_code", "county_code", "division_code", "industry_code", "size_class", "revenue",
    "passed_on_at", "passed_on_by",
]


# filings_answer columns written by the import (COPY), key columns first
ANSWER_COLUMNS = ("submission_id", "indicator_id", "value", "not_measured", "note", "updated_at", "updated_by_id")


def _answer_row(answer: Answer, now) -> tuple:
    value = None if answer.value is None else json.dumps(answer.value, ensure_ascii=False)  # None: SQL NULL, as the ORM
    return (answer.submission_id, answer.indicator_id, value,
            answer.not_measured, answer.note or "", now, answer.updated_by_id)


def _db_value(field, obj):
    """A model field's value as COPY takes it (JSON as its text)."""
    value = getattr(obj, field.attname)
    if field.get_internal_type() == "JSONField" and value is not None:
        return json.dumps(value, ensure_ascii=False, cls=field.encoder)
    return value


def _who(user) -> str:
    full = user.get_full_name()
    return f"{full}（{user.username}）" if full else user.username


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
    """
    _require_transfer(user)
    check_period_for_paper(period)
    enterprise_ids = [f.enterprise.pk for f in filings]
    if len(set(enterprise_ids)) != len(enterprise_ids):
        raise ValidationError(_("同一家企业在一次导入中只能有一份填报。"))
    visible = set(Enterprise.objects.visible_to(user).filter(pk__in=enterprise_ids).values_list("pk", flat=True))
    outside = [f.enterprise.uscc for f in filings if f.enterprise.pk not in visible]
    if outside:
        raise PermissionDenied(
            _("以下企业不在您的管辖范围内，不能导入其填报：%(codes)s") % {"codes": "、".join(outside)}
        )
    enterprises = list(Enterprise.objects.filter(pk__in=enterprise_ids).prefetch_related("key_industries"))
    by_pk = {e.pk: e for e in enterprises}
    modules = _modules_by_enterprise(period.framework, enterprises)
    indicators = framework_indicators(period.framework)
    existing = {
        s.enterprise_id: s
        for s in Submission.objects.select_for_update().filter(period=period, enterprise_id__in=enterprise_ids)
    }
    stored: dict[int, dict[int, Answer]] = {}
    for answer in Answer.objects.filter(submission__in=[s.pk for s in existing.values()]):
        stored.setdefault(answer.submission_id, {})[answer.indicator_id] = answer

    # Check everything before writing anything.
    plans = []
    problems = []
    for filing in filings:
        ent = by_pk[filing.enterprise.pk]
        cleaned, errors = clean_paper_answers(indicators=indicators, module_ids=modules[ent.pk], raw=filing.answers)
        sub = existing.get(ent.pk)
        if errors:
            problems += [f"{ent.uscc}：{message}" for message in errors.values()]
            continue
        same = sub is not None and _same_answers(cleaned, stored.get(sub.pk, {}))
        if sub is not None and sub.status == SubmissionStatus.ACCEPTED and not same:
            problems.append(_("%(uscc)s：该企业本期次的填报已审核通过，不能用导入覆盖。") % {"uscc": ent.uscc})
            continue
        plans.append((ent, sub, cleaned, same))
    if problems:
        raise ValidationError(problems)

    result = PaperImportResult()
    now = timezone.now()
    note = _("纸质填报导入（导入人：%(who)s，文件：%(source)s）") % {"who": _who(user), "source": source}
    events: list[SubmissionEvent] = []
    new_answers: list[Answer] = []
    changed_answers: list[Answer] = []
    to_finish: list[tuple[Submission, str]] = []
    new_subs = Submission.objects.bulk_create(
        [Submission(enterprise=ent, period=period, framework=period.framework, **services.enterprise_location(ent))
         for ent, sub, _cleaned, _same in plans if sub is None],
        batch_size=500,
    )
    if any(s.pk is None for s in new_subs):  # a database that cannot return the new ids
        new_subs = list(Submission.objects.filter(period=period, enterprise__in=[s.enterprise_id for s in new_subs]))
    created = {s.enterprise_id: s for s in new_subs}
    # The answers each filing holds once written ({indicator id: (value, not measured)}):
    # flags and the packed vector are computed from them without reading them back.
    final: dict[int, dict[int, tuple]] = {}
    for ent, sub, cleaned, same in plans:
        if same and sub.status in (SubmissionStatus.SUBMITTED, SubmissionStatus.ACCEPTED):
            result.unchanged += 1
            continue
        if sub is None:
            sub = created[ent.pk]
            events.append(SubmissionEvent(submission=sub, action=EventAction.CREATED, actor=user, at=now,
                                          to_status=SubmissionStatus.DRAFT, note=note))
            result.created += 1
        else:
            result.updated += 1
        old = stored.get(sub.pk, {})
        held = {indicator_id: (a.value, a.not_measured) for indicator_id, a in old.items()}
        for indicator_id, answer in cleaned.items():
            held[indicator_id] = (answer.value, answer.not_measured)
            current = old.get(indicator_id)
            if current is None:
                new_answers.append(Answer(submission_id=sub.pk, indicator_id=indicator_id, value=answer.value,
                                          not_measured=answer.not_measured, updated_by_id=user.pk))
            elif current.value != answer.value or current.not_measured != answer.not_measured:
                current.value, current.not_measured = answer.value, answer.not_measured
                current.updated_by, current.updated_at = user, now
                changed_answers.append(current)
        final[sub.pk] = held
        sub.enterprise, sub.framework, sub.period = ent, period.framework, period  # no query per row below
        to_finish.append((sub, sub.status))
    # COPY: tens of thousands of answers per file (bulk_create prepares each object)
    copy_rows(Answer._meta.db_table, ANSWER_COLUMNS, (_answer_row(a, now) for a in new_answers))
    update_rows(Answer._meta.db_table, "id", ANSWER_COLUMNS[2:], (
        (a.pk, *_answer_row(a, now)[2:]) for a in changed_answers))

    subs = [sub for sub, _previous in to_finish]
    evidence = _evidence_indicators(subs)
    evidence_flags = _paper_evidence_flags(subs, indicators, final, evidence)
    by_id = {i.pk: i for i in indicators}
    peer_cache: dict = {}  # accepted KPI values per industry, read once for the whole file
    for sub, previous in to_finish:
        held = final[sub.pk]
        sub.status = SubmissionStatus.SUBMITTED
        sub.revision += 1  # an editor open on the old draft now gets a conflict
        # The pledge was signed on paper; an earlier online pledge does not cover these answers.
        sub.pledged_at = sub.pledged_by = None
        sub.submitted_at = sub.updated_at = now
        sub.passed_on_at = sub.passed_on_by = None  # changed answers go through the review chain again
        sub.__dict__.update(services.enterprise_location(sub.enterprise))
        natural = {by_id[i].code: value for i, (value, not_measured) in held.items()
                   if value is not None and not not_measured and i in by_id}
        sub.answer_vector = pack_answers(submission=sub, answers=natural)
        sub.flags = services.submission_flags(
            submission=sub, peer_cache=peer_cache, evidence_indicator_ids=evidence.get(sub.pk, set()),
            answers=[(by_id[i], value) for i, (value, _nm) in held.items() if i in by_id],
        ) + evidence_flags.get(sub.pk, [])
        events.append(SubmissionEvent(submission=sub, action=EventAction.SUBMITTED, actor=user, at=now,
                                      from_status=previous, to_status=SubmissionStatus.SUBMITTED, note=note))
        result.submissions.append(sub)
    # One statement instead of one save() per filing (updated_at is set above).
    fields = [Submission._meta.get_field(name) for name in SUBMIT_FIELDS]
    update_rows(Submission._meta.db_table, "id", [f.column for f in fields], (
        (sub.pk, *(_db_value(f, sub) for f in fields)) for sub in subs))
    SubmissionEvent.objects.bulk_create(events, batch_size=1000)
    if accept:
        # "同时审核通过" takes the step the period's review chain gives the importer: accept,
        # or — a county in a two-level chain — pass the filing on to the prefecture.
        from .review import submission_pass_on

        for sub in result.submissions:
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


def _paper_evidence_flags(
    subs: list[Submission], indicators: list[Indicator], answers: dict[int, dict[int, tuple]],
    evidence: dict[int, set[int]],
) -> dict[int, list[dict]]:
    """Key yes/no items answered "yes" without uploaded evidence, by submission id: an
    online filing could not be submitted so; a paper one can (the authority keeps the
    paper), and is flagged for the reviewer. ``answers``: each filing's answers
    ({indicator id: (value, not measured)}); ``evidence``: as :func:`_evidence_indicators`."""
    key = sorted((i for i in indicators if i.kind == IndicatorKind.YESNO and i.evidence_required), key=lambda i: i.pk)
    flags: dict[int, list[dict]] = {}
    for sub in sorted(subs, key=lambda s: s.pk):
        held, has = answers.get(sub.pk, {}), evidence.get(sub.pk, set())
        for ind in key:
            if held.get(ind.pk, (None, False))[0] is True and ind.pk not in has:
                flags.setdefault(sub.pk, []).append({
                    "indicator": ind.code, "kind": "paper_yes_without_evidence",
                    "message": _("%(code)s 选择了“是”（纸质填报），平台上没有证明材料，请核对纸质材料。") % {"code": ind.code},
                })
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
        counts = _("新增 %(created)d 份，更新 %(updated)d 份，未改动 %(unchanged)d 份，跳过错误行 %(skipped)d 行。") % {
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
    rows: list[tuple[int, list[str]]]
    ignored: list[str]


def _header_key(text: str) -> str:
    return re.sub(r"[\s*]+", "", _normal(text))


def read_sheet(*, data: bytes, filename: str, indicators: list[Indicator]) -> _Sheet:
    """Read the first sheet of an XLSX (or a CSV) into rows of cell texts, mapping the
    header cells to fixed columns and indicators; raise SpreadsheetError when unusable."""
    file_format, encoding, cleaned = read_records(data=data, filename=filename, encoding=ImportEncoding.AUTO)
    header_line, header = cleaned[0]
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
    rows = cleaned[1:]
    if not rows:
        raise SpreadsheetError(_("文件中只有表头，没有数据行。"))
    if len(rows) > max_rows():
        raise SpreadsheetError(_("数据行超过 %(limit)d 行的上限，请分成几个文件分别导入。") % {"limit": max_rows()})
    return _Sheet(file_format, encoding, columns, indicator_columns, rows, ignored)


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

    Rows are checked one by one (enterprise registered and inside ``user``'s jurisdiction,
    answers valid for the period's framework, submission not already accepted); then, in
    one transaction, the good rows are written through :func:`submissions_import_paper` —
    all of them only if there is no bad row (``all_or_nothing``), or just the good ones
    (``valid_rows_only``). Raises SpreadsheetError when the file as a whole is unusable,
    PermissionDenied when ``user`` may not import. ``on_progress(stage, rows)`` is told the
    rows checked ("checked"), then written ("written").
    """
    _require_transfer(user)
    if mode not in ImportMode.values:
        raise ValueError(f"unknown import mode {mode!r}")
    try:
        check_period_for_paper(period)
    except ValidationError as exc:
        raise SpreadsheetError(exc.messages[0]) from exc
    indicators = framework_indicators(period.framework)
    sheet = read_sheet(data=data, filename=filename, indicators=indicators)

    def text(values: list[str], index: int | None) -> str:
        return values[index] if index is not None and index < len(values) else ""

    def where(index: int | None, label: str) -> str:
        return f"{get_column_letter(index + 1)}（{label}）" if index is not None else label

    col = sheet.columns
    usccs = {_uscc(text(values, col[USCC])) for _line, values in sheet.rows}
    enterprises = {
        e.uscc: e for e in Enterprise.objects.filter(uscc__in=usccs).prefetch_related("key_industries")
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

    errors: list[RowError] = []
    good: list[PaperFiling] = []
    first_line: dict[str, int] = {}
    for line, values in sheet.rows:
        row_errors: list[RowError] = []

        def fail(column: str, message: str, _line=line, _errors=row_errors) -> None:
            _errors.append(RowError(line=_line, column=column, message=message))

        uscc = _uscc(text(values, col[USCC]))
        uscc_col = where(col[USCC], USCC)
        ent = None
        if not uscc:
            fail(uscc_col, _("请填写统一社会信用代码。"))
        elif uscc in first_line:
            fail(uscc_col, _("统一社会信用代码 %(uscc)s 在文件中重复（第 %(line)d 行已有），每家企业只能有一行。") % {
                "uscc": uscc, "line": first_line[uscc]})
        else:
            first_line[uscc] = line
            ent = enterprises.get(uscc)
            # One answer for "not registered" and "registered elsewhere": a clerk may not learn
            # from an import whether another jurisdiction holds an enterprise (issue 9, item 7).
            if ent is None or ent.pk not in visible:
                fail(uscc_col, _(
                    "统一社会信用代码 %(uscc)s 不是您管辖范围内已登记的企业。请核对代码；"
                    "该企业如尚未在平台登记，请先登记，再导入其填报。") % {"uscc": uscc})
                ent = None
        if ent is not None:
            name = text(values, col.get(NAME))
            if name and _name_key(name) != _name_key(ent.name):
                fail(where(col.get(NAME), NAME), _("企业名称与平台登记的名称（%(name)s）不一致，请核对统一社会信用代码是否填错。") % {
                    "name": ent.name})
        given_period = _normal(text(values, col.get(PERIOD)))
        if given_period and given_period != period.code:
            fail(where(col.get(PERIOD), PERIOD), _("本行期次为“%(given)s”，与导入时选择的期次“%(code)s”不一致。") % {
                "given": given_period, "code": period.code})

        raw = {ind.code: raw_from_cell(ind, text(values, index_of[ind.code])) for ind in indicators}
        if ent is not None:
            module_ids = modules[ent.pk]
            for ind in indicators:
                if index_of[ind.code] is None and _applies(ind, module_ids):
                    fail(ind.code, _("%(code)s：该企业适用此指标，但文件中没有这一列。") % {"code": ind.code})
            cleaned, answer_errors = clean_paper_answers(indicators=indicators, module_ids=module_ids, raw=raw)
            sub = existing.get(ent.pk)
            if sub is not None and sub.status == SubmissionStatus.ACCEPTED and not answer_errors:
                if not _same_answers(cleaned, stored.get(sub.pk, {})):
                    fail(uscc_col, _("该企业本期次的填报已审核通过，不能用导入覆盖（文件中的答案与已通过的不同）。请从文件中删除这一行。"))
        else:
            # Enterprise unknown: still check the cells that are filled in, to report them all at once.
            answer_errors = {}
            for ind in indicators:
                if raw[ind.code] not in ("", []):
                    try:
                        clean_answer(ind, raw[ind.code], item_codes=_item_codes(ind))
                    except ValidationError as exc:
                        answer_errors[ind.code] = exc.messages[0]
        for ind in indicators:
            if ind.code in answer_errors and index_of[ind.code] is not None:
                fail(where(index_of[ind.code], ind.code), answer_errors[ind.code])
        errors += row_errors
        if not row_errors and ent is not None:
            good.append(PaperFiling(enterprise=ent, answers=raw))

    if on_progress:
        on_progress("checked", len(sheet.rows))
    report = SubmissionImportReport(
        file_format=sheet.file_format, encoding=sheet.encoding, mode=mode, dry_run=dry_run,
        total_rows=len(sheet.rows), skipped=len({e.line for e in errors}), errors=errors,
        ignored_columns=sheet.ignored, period=period.code,
    )
    if dry_run or not good or (errors and mode == ImportMode.ALL_OR_NOTHING):
        return report
    try:
        with transaction.atomic():
            result = submissions_import_paper(period=period, user=user, filings=good, source=filename, accept=accept)
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
