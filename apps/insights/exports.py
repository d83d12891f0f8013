"""Tables of the authority pages and their files; enterprise lists and their export jobs.

A page table and its file come from one :class:`Table`: every column formats a value once
for the page (``display``) and once for the file (``export``, the same rounding), so the
file says what the page says. Files carry the period, the run id and the scope on every row
and, per row, the reason a value is hidden from the public (隐藏原因) and whether it is
internal (内部数据，不公开). They are written by
:func:`apps.core.spreadsheets.render_dataset` — UTF-8 with BOM for CSV, and cells that
Excel would run as formulas neutralised — the portal's one safe export writer.

Enterprise lists (:func:`enterprise_list`) are plain filtered lists of the enterprises the
user may see (``Enterprise.objects.visible_to``) with the status, score and level of their
filing of one period; the only page of apps.insights that reads filings. Lists longer than
``INSIGHTS_EXPORT_SYNC_MAX_ROWS`` are written by a Celery job (:func:`export_job_run`).
"""

from __future__ import annotations

import logging
import math
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import tablib
from django import forms
from django.conf import settings
from django.core.files.base import File
from django.db import transaction
from django.db.models import F, FilteredRelation, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.accounts.scoping import jurisdiction_of
from apps.core import formatting
from apps.core.jobs import job_claim, job_fail
from apps.core.spreadsheets import csv_stream, render_dataset, xlsx_temp_file
from apps.enterprises.models import Enterprise, enterprise_search_q
from apps.filings.models import Period, SubmissionStatus
from apps.reference.models import Industry, IndustryLevel, Region, RegionLevel
from apps.reference.size import SizeClass

from .models import ExportJob, ExportJobStatus

logger = logging.getLogger(__name__)

FORMATS = ("csv", "xlsx")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
DEFAULT_SYNC_MAX_ROWS = 5000
PROGRESS_EVERY = 500  # rows between two progress updates of an export job

PERFORMANCE_GROUPS = {
    "leader": gettext_lazy("领先"),
    "strong": gettext_lazy("较强"),
    "moderate": gettext_lazy("中等"),
    "emerging": gettext_lazy("起步"),
}
CONFIDENTIAL = gettext_lazy("内部数据，不公开")
STALE = gettext_lazy("已过时")
DASH = "—"


def sync_max_rows() -> int:
    """Enterprise lists longer than this are exported by a background job."""
    return int(getattr(settings, "INSIGHTS_EXPORT_SYNC_MAX_ROWS", DEFAULT_SYNC_MAX_ROWS))


# --- formatting: one rounding for the page and the file --------------------------------------


def _finite(v) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def one_decimal(v) -> float | None:
    """The value as the page prints it (one decimal), as a number for the file."""
    return formatting.rounded(v) if _finite(v) else None


def percent(v) -> float | None:
    """A share 0–1 as a percentage with one decimal."""
    return formatting.percent(v) if _finite(v) else None


def _num(v) -> str:
    return formatting.number_text(v) if _finite(v) else DASH


def _signed(v) -> str:
    return formatting.signed_text(v) if _finite(v) else DASH


def _int(v) -> str:
    return f"{int(v):,}" if _finite(v) else DASH


def _pct(v) -> str:
    return f"{v * 100:.1f}%" if _finite(v) else DASH


def rank_change_text(v) -> str:
    if not _finite(v):
        return DASH
    v = int(v)
    return f"↑{v}" if v > 0 else (f"↓{-v}" if v < 0 else "0")


@dataclass(frozen=True)
class Column:
    """A column of a page table and of its file.

    kind: text, num (one decimal), signed (one decimal with sign), int, pct (a share shown
    as a percentage), rank ("rank / siblings"; two columns in the file), rank_change
    (↑/↓), ci (95% interval; two columns in the file), group (performance group).
    ``sort`` is the ?sort= key of a sortable column.
    """

    key: str
    label: object
    kind: str = "text"
    sort: str = ""

    @property
    def numeric(self) -> bool:
        return self.kind != "text" and self.kind != "group"

    def display(self, row: dict) -> str:
        v = row.get(self.key)
        if self.kind == "text":
            return str(v) if v not in (None, "") else DASH
        if self.kind == "num":
            return _num(v)
        if self.kind == "signed":
            return _signed(v)
        if self.kind == "int":
            return _int(v)
        if self.kind == "pct":
            return _pct(v)
        if self.kind == "rank":
            if not _finite(row.get("rank")):
                return DASH
            siblings = row.get("siblings")
            rank = int(row["rank"])
            text = f"{rank} / {int(siblings)}" if _finite(siblings) else str(rank)
            lo, hi = row.get("rank_low"), row.get("rank_high")
            if _finite(lo) and _finite(hi):  # the 95 % rank interval (apps.indices.aggregation)
                text += f"（{int(lo)}–{int(hi)}）"
            return text
        if self.kind == "rank_change":
            return rank_change_text(v)
        if self.kind == "ci":
            lo, hi = row.get("ci_low"), row.get("ci_high")
            if _finite(lo) and _finite(hi):
                return f"{lo:.1f}–{hi:.1f}"
            # a cell with filings but no interval: too few for one (IndexParameters.interval_min_n)
            return _("样本不足以估计区间") if _finite(row.get("n")) and row["n"] > 0 else DASH
        if self.kind == "group":
            return str(PERFORMANCE_GROUPS.get(v, "")) or DASH
        raise ValueError(self.kind)

    def headers(self) -> list[str]:
        label = str(self.label)
        if self.kind == "rank":
            return [label, _("参与排名数")]
        if self.kind == "ci":
            return [_("95%置信区间下限"), _("95%置信区间上限")]
        if self.kind == "pct":
            return [f"{label}（%）"]
        return [label]

    def export(self, row: dict) -> list:
        v = row.get(self.key)
        if self.kind == "text":
            return ["" if v is None else str(v)]
        if self.kind in ("num", "signed"):
            return [one_decimal(v)]
        if self.kind in ("int", "rank_change"):
            return [int(v) if _finite(v) else None]
        if self.kind == "pct":
            return [percent(v)]
        if self.kind == "rank":
            r, s = row.get("rank"), row.get("siblings")
            return [int(r) if _finite(r) else None, int(s) if _finite(s) else None]
        if self.kind == "ci":
            return [one_decimal(row.get("ci_low")), one_decimal(row.get("ci_high"))]
        if self.kind == "group":
            return [str(PERFORMANCE_GROUPS.get(v, ""))]
        raise ValueError(self.kind)


def published_label(run) -> str:
    """When a run's figures were published, local time to the minute (the 数据发布时间 column)."""
    return timezone.localtime(run.published_at).strftime("%Y-%m-%d %H:%M") if run.published_at else ""


@dataclass
class Table:
    """Rows (dicts: cell values plus name, link, reason_label, confidential, stale) under
    columns; ``meta`` identifies the data: run, period and scope."""

    name: str  # slug, used in the export URL and the file name
    title: str
    columns: list[Column]
    rows: list[dict]
    run: object = None  # IndexRun, or None for tables that are not read from a run
    period: object = None
    scope_name: str = ""
    marks: bool = True  # columns 隐藏原因 / 数据说明
    note: str = ""
    extra: dict = field(default_factory=dict)

    def page_rows(self) -> list[dict]:
        """Rows for the template: the display strings in column order, and the row."""
        return [{"row": r, "cells": [(c, c.display(r)) for c in self.columns]} for r in self.rows]

    @property
    def per_row_run(self) -> bool:
        """Rows of several runs (trends): each row names its period and run."""
        return bool(self.extra.get("per_row_run"))

    @property
    def show_marks(self) -> bool:
        """Whether the page needs its 说明 column (the file always has 隐藏原因 / 数据说明)."""
        if self.extra.get("page_marks") is False:
            return False
        return self.marks and any(r.get("reason_label") or r.get("confidential") or r.get("stale") for r in self.rows)

    def plain_headers(self) -> list[dict]:
        return [{"column": c, "url": "", "state": ""} for c in self.columns]

    def _file_columns(self) -> list[Column]:
        return [c for c in self.columns if not (self.per_row_run and c.key == "period_name")]

    def headers(self) -> list[str]:
        out = [_("期次")]
        if self.run is not None or self.per_row_run:
            # which publication of the period's figures the row comes from, in words a clerk
            # reads (a run number such as "#5" meant nothing outside the platform)
            out.append(_("数据发布时间"))
        out.append(_("范围"))
        for c in self._file_columns():
            out += c.headers()
        if self.marks:
            out += [_("隐藏原因"), _("数据说明")]
        return out

    def dataset(self) -> tablib.Dataset:
        data = tablib.Dataset(headers=self.headers(), title=str(self.title)[:31])
        period_name = getattr(self.period, "name", "") or ""
        columns = self._file_columns()
        for row in self.rows:
            if self.per_row_run:
                values = [row.get("period_name", ""), row.get("run_label", "")]
            else:
                values = [period_name]
                if self.run is not None:
                    values.append(published_label(self.run))
            values.append(self.scope_name)
            for c in columns:
                values += c.export(row)
            if self.marks:
                values += [str(row.get("reason_label") or ""), row_mark(row)]
            data.append(values)
        return data

    def render(self, file_format: str) -> bytes:
        return render_dataset(dataset=self.dataset(), file_format=file_format)

    def filename(self, file_format: str) -> str:
        parts = ["insights", self.name]
        if self.period is not None:
            parts.append(str(self.period.code))
        if self.run is not None:
            parts.append(f"run{self.run.pk}")
        if self.extra.get("scope_code"):
            parts.append(self.extra["scope_code"])
        return "-".join(parts) + f".{file_format}"


def row_mark(row: dict) -> str:
    """What the file says about a row besides its reason: internal, out of date."""
    marks = []
    if row.get("confidential"):
        marks.append(str(CONFIDENTIAL))
    if row.get("stale"):
        marks.append(str(STALE))
    return "；".join(marks)


# --- enterprise lists ------------------------------------------------------------------------

STATUS_NONE = "none"
STATUS_CHOICES = [("", gettext_lazy("全部")), (STATUS_NONE, gettext_lazy("未填报")), *SubmissionStatus.choices]
STATUS_LABELS = {STATUS_NONE: gettext_lazy("未填报"), **dict(SubmissionStatus.choices)}
LIST_FIELDS = ("period", "region", "division", "size", "status", "level", "score_min", "score_max", "q")


def region_choices(user) -> list[tuple[str, str]]:
    """Regions a user may narrow the list to: two levels below the jurisdiction's top
    (the ministry: provinces and prefectures), placeholder rows left out."""
    j = jurisdiction_of(user)
    qs = Region.objects.filter(is_active=True, is_placeholder=False, oversees_prefecture_code="")
    if j.everything:
        qs = qs.filter(level__in=[RegionLevel.PROVINCE, RegionLevel.PREFECTURE])
    elif j.region_field == "province_code":
        qs = qs.filter(province_code=j.region_code).exclude(code=j.region_code)
    elif j.region_field == "prefecture_code":
        qs = qs.filter(prefecture_code=j.region_code).exclude(code=j.region_code)
    else:
        return []
    indent = {RegionLevel.PROVINCE: "", RegionLevel.PREFECTURE: "\u3000", RegionLevel.COUNTY: "\u3000\u3000"}
    if not j.everything:
        indent = {RegionLevel.PREFECTURE: "", RegionLevel.COUNTY: "\u3000"}
    return [(r.code, f"{indent.get(r.level, '')}{r.name}") for r in qs.order_by("code").only("code", "name", "level")]


class EnterpriseListForm(forms.Form):
    """Filters of the enterprise list (GET)."""

    period = forms.ModelChoiceField(
        label=gettext_lazy("期次"), queryset=Period.objects.all(), to_field_name="code", required=False, empty_label=None
    )
    region = forms.ChoiceField(label=gettext_lazy("地区"), required=False)
    division = forms.ChoiceField(label=gettext_lazy("行业大类"), required=False)
    size = forms.ChoiceField(label=gettext_lazy("企业规模"), required=False,
                             choices=[("", gettext_lazy("全部")), *SizeClass.choices])
    status = forms.ChoiceField(label=gettext_lazy("填报状态"), required=False, choices=STATUS_CHOICES)
    level = forms.TypedChoiceField(
        label=gettext_lazy("等级"), required=False, coerce=int, empty_value=None,
        choices=[("", gettext_lazy("全部")), *[(i, f"L{i}") for i in range(1, 6)]],
    )
    score_min = forms.FloatField(label=gettext_lazy("综合得分不低于"), required=False, min_value=0, max_value=100)
    score_max = forms.FloatField(label=gettext_lazy("综合得分不高于"), required=False, min_value=0, max_value=100)
    q = forms.CharField(label=gettext_lazy("名称或信用代码"), required=False, max_length=100)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["region"].choices = [("", gettext_lazy("全部（管辖范围内）")), *region_choices(user)]
        self.fields["division"].choices = [("", gettext_lazy("全部"))] + [
            (code, f"{code} {name}")
            for code, name in Industry.objects.filter(level=IndustryLevel.DIVISION).order_by("code").values_list("code", "name")
        ]
        for name in ("score_min", "score_max"):
            self.fields[name].widget.attrs.update({"step": "0.1", "inputmode": "decimal"})

    def clean(self):
        data = super().clean()
        lo, hi = data.get("score_min"), data.get("score_max")
        if lo is not None and hi is not None and lo > hi:
            self.add_error("score_max", _("上限不能低于下限。"))
        return data


@dataclass
class EnterpriseList:
    form: EnterpriseListForm
    period: Period | None
    queryset: object
    filters: dict


def _region_q(code: str) -> Q:
    level_field = {2: "province_code", 4: "prefecture_code"}
    if code.endswith("0000"):
        return Q(**{level_field[2]: code})
    if code.endswith("00"):
        return Q(**{level_field[4]: code}) | Q(county_code=code)
    return Q(county_code=code)


def enterprise_list(user, data) -> EnterpriseList:
    """The enterprises ``user`` may see with their filing of the chosen period (default: the
    latest), filtered by ``data`` (a QueryDict or dict). Invalid filters are ignored (the
    form shows why); the queryset is not evaluated here."""
    data = {k: data.get(k) for k in LIST_FIELDS if data.get(k) not in (None, "")}
    form = EnterpriseListForm(data, user=user)
    form.is_valid()
    clean = {k: v for k, v in getattr(form, "cleaned_data", {}).items() if k not in form.errors}
    period = clean.get("period") or Period.objects.order_by("-opens_on").first()
    qs = Enterprise.objects.visible_to(user)
    if period is not None:
        qs = qs.annotate(this_period=FilteredRelation("submissions", condition=Q(submissions__period=period)))
        qs = qs.annotate(
            filing_status=F("this_period__status"),
            composite=F("this_period__score__composite"),
            score_level=F("this_period__score__level"),
        )
    if clean.get("region"):
        qs = qs.filter(_region_q(clean["region"]))
    if clean.get("division"):
        qs = qs.filter(division_code=clean["division"])
    if clean.get("size"):
        qs = qs.filter(size_class=clean["size"])
    if clean.get("q"):
        value = clean["q"].strip()
        qs = qs.filter(enterprise_search_q(value))
    if period is not None:
        status = clean.get("status")
        if status == STATUS_NONE:
            qs = qs.filter(filing_status__isnull=True)
        elif status:
            qs = qs.filter(filing_status=status)
        if clean.get("level"):
            qs = qs.filter(score_level=clean["level"])
        if clean.get("score_min") is not None:
            qs = qs.filter(composite__gte=clean["score_min"])
        if clean.get("score_max") is not None:
            qs = qs.filter(composite__lte=clean["score_max"])
    qs = qs.select_related("region__parent__parent", "industry").order_by("province_code", "prefecture_code", "county_code", "name", "pk")
    filters = {k: v for k, v in data.items() if k not in form.errors}
    if period is not None:
        filters["period"] = period.code
    return EnterpriseList(form=form, period=period, queryset=qs, filters=filters)


ENTERPRISE_COLUMNS: list[tuple[object, Callable]] = [
    (gettext_lazy("统一社会信用代码"), lambda e: e.uscc),
    (gettext_lazy("企业名称"), lambda e: e.name),
    (gettext_lazy("所在地区"), lambda e: e.region.full_name()),
    (gettext_lazy("区县代码"), lambda e: e.county_code),
    (gettext_lazy("行业"), lambda e: f"{e.industry.code} {e.industry.name}"),
    (gettext_lazy("企业规模"), lambda e: e.get_size_class_display()),
    (gettext_lazy("填报状态"), lambda e: str(STATUS_LABELS.get(getattr(e, "filing_status", None) or STATUS_NONE))),
    (gettext_lazy("综合得分"), lambda e: one_decimal(getattr(e, "composite", None))),
    (gettext_lazy("等级"), lambda e: f"L{e.score_level}" if getattr(e, "score_level", None) else ""),
    (gettext_lazy("联系人"), lambda e: e.contact_name),
    (gettext_lazy("联系电话"), lambda e: e.contact_phone),
]


def enterprise_headers() -> list[str]:
    """The header row of an enterprise list file."""
    return [_("期次"), *[str(label) for label, _f in ENTERPRISE_COLUMNS]]


def enterprise_rows(rows: Iterable[Enterprise], period: Period | None, on_row: Callable[[int], None] | None = None):
    """The rows of an enterprise list file, one at a time (for the streaming writers)."""
    name = period.name if period is not None else ""
    for i, e in enumerate(rows, start=1):
        yield [name, *[f(e) for _label, f in ENTERPRISE_COLUMNS]]
        if on_row is not None:
            on_row(i)


def enterprise_file(*, queryset, period: Period | None, file_format: str, on_row: Callable[[int], None] | None = None):
    """An enterprise list of any length as a file in constant memory: CSV as chunks of bytes
    (for a StreamingHttpResponse), XLSX as an open temporary file (openpyxl write-only)."""
    rows = enterprise_rows(queryset.iterator(chunk_size=2000), period, on_row)
    if file_format == "csv":
        return csv_stream(headers=enterprise_headers(), rows=rows)
    if file_format == "xlsx":
        return xlsx_temp_file(title=str(_("企业名单")), headers=enterprise_headers(), rows=rows)
    raise ValueError(f"unknown export format {file_format!r}")


def enterprise_filename(period: Period | None, file_format: str) -> str:
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    return f"insights-enterprises-{period.code if period else 'all'}-{stamp}.{file_format}"


# --- export jobs -----------------------------------------------------------------------------


def export_job_create(*, user, params: dict, file_format: str) -> ExportJob:
    """Queue an export of the enterprise list ``params`` (the list's filters) for ``user``."""
    from .tasks import run_export_job  # tasks imports this module

    with transaction.atomic():
        job = ExportJob.objects.create(
            owner=user, file_format=file_format, params=params,
            language=translation.get_language() or settings.LANGUAGE_CODE,
        )
        job_id = job.pk
        transaction.on_commit(lambda: run_export_job.delay(job_id))
    return job


def export_job_run(*, job_id: int) -> ExportJob | None:
    """Write the file of a queued export job. A finished job is left alone (a second
    delivery does nothing); the list is read again with the owner's jurisdiction of now."""
    job, go_on = job_claim(ExportJob.objects.select_related("owner"), job_id, progress=0)
    if not go_on:
        return job
    try:
        with translation.override(job.language):
            listing = enterprise_list(job.owner, job.params)
            total = listing.queryset.count()
            ExportJob.objects.filter(pk=job_id).update(total_rows=total)

            def progress(i: int) -> None:
                if i % PROGRESS_EVERY == 0:
                    ExportJob.objects.filter(pk=job_id).update(rows_done=i, progress=min(95, int(95 * i / max(total, 1))))

            written = 0

            def count(i: int) -> None:
                nonlocal written
                written = i
                progress(i)

            # Written in constant memory into a temporary file, then stored.
            out = enterprise_file(queryset=listing.queryset, period=listing.period, file_format=job.file_format, on_row=count)
            if job.file_format == "csv":
                handle = tempfile.TemporaryFile()
                for chunk in out:
                    handle.write(chunk)
                handle.seek(0)
                out = handle
            filename = enterprise_filename(listing.period, job.file_format)
            job.refresh_from_db()
            with out:
                job.file.save(filename, File(out), save=False)
            job.filename = filename
            job.status, job.progress, job.rows_done, job.total_rows = ExportJobStatus.SUCCEEDED, 100, written, written
            job.finished_at = timezone.now()
            job.message = _("导出完成：共 %(n)d 行。") % {"n": written}
            job.save()
    except Exception:
        logger.exception("export job %s failed", job_id)
        with translation.override(job.language):
            message = _("导出失败，请稍后重试；如仍失败，请联系平台管理员。")
        job_fail(ExportJob, job_id, message)
    return ExportJob.objects.get(pk=job_id)
