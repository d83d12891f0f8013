"""Changing policies, targets and support records; recomputing targets' progress."""

from __future__ import annotations

import pandas as pd
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils.translation import gettext as _

from apps.indices.models import CellKind
from apps.reference.models import Industry, IndustryLevel, KeyIndustry, Region, RegionLevel
from apps.reference.size import SizeClass

from . import progress
from .models import Comparison, Metric, Policy, PolicyStatus, ProgressNote, ProgressView, Target, TargetProgress

_REGION_LEVEL = {
    CellKind.PROVINCE: RegionLevel.PROVINCE,
    CellKind.PREFECTURE: RegionLevel.PREFECTURE,
    CellKind.COUNTY: RegionLevel.COUNTY,
    CellKind.PROVINCE_DIVISION: RegionLevel.PROVINCE,
    CellKind.PREFECTURE_DIVISION: RegionLevel.PREFECTURE,
}


def cell_exists(kind: str, code: str) -> bool:
    """Whether (kind, code) names a cell the index engine can compute: a known region of
    the right level, GB/T 4754 division, key industry or size class."""
    if kind == CellKind.NATION:
        return code == "CN"
    if kind == CellKind.SIZE:
        return code in SizeClass.values
    if kind == CellKind.KEY_INDUSTRY:
        return KeyIndustry.objects.filter(pk=code).exists()
    if kind == CellKind.DIVISION:
        return Industry.objects.filter(code=code, level=IndustryLevel.DIVISION).exists()
    if kind in (CellKind.PROVINCE_DIVISION, CellKind.PREFECTURE_DIVISION):
        region, sep, division = code.partition("|")
        return bool(sep) and cell_exists(CellKind.DIVISION, division) and Region.objects.filter(
            code=region, level=_REGION_LEVEL[kind]).exists()
    if kind in _REGION_LEVEL:
        return Region.objects.filter(code=code, level=_REGION_LEVEL[kind]).exists()
    return False


def target_check(*, metric: str, level_min: int | None, cell_kind: str, cell_code: str, baseline_period,
                 target_year: int, comparison: str, value: float) -> None:
    """Refuse a target on a metric or cell that does not exist, with messages a clerk can act
    on (raised as one ValidationError keyed by field)."""
    errors: dict[str, str] = {}
    if metric not in Metric.values:
        errors["metric"] = _("指标“%(metric)s”不存在。可选：%(choices)s。") % {
            "metric": metric, "choices": "、".join(str(label) for label in Metric.labels)}
    elif metric == Metric.LEVEL_SHARE and level_min not in (1, 2, 3, 4, 5):
        errors["level_min"] = _("等级占比指标须指定等级下限（1–5），例如 3 表示“保证级及以上”。")
    if cell_kind not in CellKind.values:
        errors["cell_kind"] = _("单元类型“%(kind)s”不存在。") % {"kind": cell_kind}
    elif not cell_exists(cell_kind, cell_code):
        errors["cell_code"] = _("单元“%(code)s”（%(kind)s）不存在：请核对区划代码、行业大类代码或重点行业代码。") % {
            "code": cell_code, "kind": CellKind(cell_kind).label}
    if comparison not in Comparison.values:
        errors["comparison"] = _("比较方式只能是“不低于”或“不高于”。")
    if metric in (Metric.COVERAGE, Metric.LEVEL_SHARE) and not 0 <= value <= 100:
        errors["value"] = _("占比和覆盖率以百分数填写，应在 0–100 之间。")
    if baseline_period is not None and target_year is not None and target_year <= baseline_period.opens_on.year:
        errors["target_year"] = _("目标年度应晚于基期（%(period)s）。") % {"period": baseline_period.name}
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def target_create(*, measure, metric: str, cell_kind: str, cell_code: str, baseline_period, target_year: int,
                  value: float, comparison: str = Comparison.AT_LEAST, level_min: int | None = None) -> Target:
    """Add a target to ``measure`` (checked by :func:`target_check`); its progress is
    computed on commit."""
    target_check(metric=metric, level_min=level_min, cell_kind=cell_kind, cell_code=cell_code,
                 baseline_period=baseline_period, target_year=target_year, comparison=comparison, value=value)
    target = Target.objects.create(
        measure=measure, metric=metric, level_min=level_min if metric == Metric.LEVEL_SHARE else None,
        cell_kind=cell_kind, cell_code=cell_code, baseline_period=baseline_period, target_year=target_year,
        comparison=comparison, value=value,
    )
    transaction.on_commit(lambda: target_progress_enqueue(target_ids=[target.pk]))
    return target


@transaction.atomic
def policy_supersede(*, old: Policy, new: Policy, user) -> Policy:
    """Record that ``new`` replaces ``old`` (old becomes 已被替代); refused if it would make
    the chain circular."""
    if old.superseded_by_id == new.pk:
        return old
    if old.pk == new.pk or any(p.pk == old.pk for p in new.supersession_chain()):
        raise ValidationError(_("替代关系不能形成循环：所选政策已在该政策的替代链中。"))
    from apps.accounts.scoping import recorded_user

    old.superseded_by, old.status = new, PolicyStatus.SUPERSEDED
    old._history_user = recorded_user(user)
    old.save(update_fields=["superseded_by", "status", "updated_at"])
    return old


def progress_note_add(*, target: Target, user, text: str) -> ProgressNote:
    """A progress note by the responsible authority (permission checked by the caller's
    queryset: :func:`apps.accounts.policy_rules.policies_editable_q`)."""
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": _("请填写进展说明。")})
    return ProgressNote.objects.create(target=target, author=user, text=text)


def target_progress_enqueue(*, target_ids: list[int] | None = None) -> None:
    from .tasks import recompute_target_progress

    recompute_target_progress.delay(target_ids)


def _cells_by_key(runs, targets: pd.DataFrame) -> dict:
    """{(view, run_id, kind, code): cell} for every target cell in every run, read through
    the reader-aware selectors: the full view (as ministry staff read) and the public view."""
    from apps.indices.readers import PUBLIC, cells_for

    from .selectors import FULL_READER

    found = {}
    for run in runs:
        for kind, codes in targets.groupby("cell_kind")["cell_code"]:
            wanted = set(codes)
            for view, reader in ((ProgressView.FULL, FULL_READER), (ProgressView.PUBLIC, PUBLIC)):
                # the whole kind (one cached read per run version, shared with other readers)
                # rather than a code list, whose cache key would grow with the targets
                for cell in cells_for(reader, run, kind):
                    if cell["code"] in wanted:
                        found[(view, run.pk, kind, cell["code"])] = cell
    return found


def target_progress_recompute(*, target_ids: list[int] | None = None) -> int:
    """Recompute the progress of the given targets (all when None) from every published run,
    in the full and the public view; replaces their TargetProgress rows. Idempotent.
    Returns the number of rows written."""
    from apps.indices.readers import published_runs

    qs = Target.objects.select_related("baseline_period")
    if target_ids is not None:
        qs = qs.filter(pk__in=target_ids)
    rows = list(qs.values("pk", "metric", "level_min", "cell_kind", "cell_code", "comparison", "value",
                          "target_year", "baseline_period__opens_on"))
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:  # one recompute at a time
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext('policies.target_progress'))")
        runs = published_runs()
        delete = TargetProgress.objects.all() if target_ids is None else TargetProgress.objects.filter(target_id__in=target_ids)
        delete.delete()
        if not rows or not runs:
            return 0
        targets = pd.DataFrame(rows).rename(columns={"pk": "target_id"})
        targets["baseline_t"] = targets["baseline_period__opens_on"].map(progress.decimal_year)
        cells = _cells_by_key(runs, targets)
        from django.utils import timezone

        from apps.core.bulk import copy_rows

        now, written = timezone.now(), 0
        for view in ProgressView.values:
            points = []
            for run in runs:
                t = progress.decimal_year(run.period.opens_on)
                for tg in rows:
                    cell = cells.get((view, run.pk, tg["cell_kind"], tg["cell_code"]))
                    value, hidden, reason = progress.metric_value(
                        cell, tg["metric"], tg["level_min"], public=view == ProgressView.PUBLIC)
                    points.append((tg["pk"], run.pk, t, value, hidden, reason if hidden else ""))
            frame = pd.DataFrame(points, columns=["target_id", "run_id", "t", "actual", "hidden", "hidden_reason"])
            frame["actual"] = frame["actual"].astype(float)
            table = progress.progress_table(targets[["target_id", "comparison", "value", "target_year", "baseline_t"]], frame)
            columns = {name: [None if isinstance(v, float) and v != v else v for v in table[name].tolist()]
                       for name in ("actual", "baseline", "expected", "projection", "projection_low", "projection_high")}
            records = zip(
                table["target_id"].tolist(), table["run_id"].tolist(), table["t"].tolist(), columns["actual"],
                table["hidden"].tolist(), table["hidden_reason"].tolist(), columns["baseline"], columns["expected"],
                table["status"].tolist(), columns["projection"], columns["projection_low"], columns["projection_high"],
                table["projection_points"].tolist(), strict=True)
            written += copy_rows(
                TargetProgress._meta.db_table,
                ["target_id", "run_id", "view", "period_year", "actual", "hidden", "hidden_reason", "baseline", "expected",
                 "status", "projection", "projection_low", "projection_high", "projection_points", "computed_at"],
                ((tid, rid, view, t, a, bool(h), r, b, e, st, p, lo, hi, int(n), now)
                 for tid, rid, t, a, h, r, b, e, st, p, lo, hi, n in records),
            )
    return written


# --- support records: import and export ------------------------------------------------------


class SupportImportError(Exception):
    """The file as a whole cannot be read (type, encoding, header); nothing was saved."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _support_table(*, data: bytes, filename: str, encoding: str):
    """(headers, rows, lines) of a support file; header cells mapped to the resource's columns."""
    from apps.core.spreadsheets import SpreadsheetError, read_records

    from .resources import SUPPORT_COLUMNS, SUPPORT_REQUIRED

    try:
        _format, _label, cleaned = read_records(data=data, filename=filename, encoding=encoding)
    except SpreadsheetError as exc:
        raise SupportImportError(exc.message) from exc
    header_line, header = cleaned[0]
    aliases = {"uscc": SUPPORT_COLUMNS[0], "measure": SUPPORT_COLUMNS[1], "date": SUPPORT_COLUMNS[2],
               "金额": SUPPORT_COLUMNS[3], "amount": SUPPORT_COLUMNS[3], "note": SUPPORT_COLUMNS[4]}
    headers = []
    for index, cell in enumerate(header, start=1):
        key = cell.replace(" ", "").replace("*", "")
        column = key if key in SUPPORT_COLUMNS else aliases.get(key.casefold(), f"__ignored_{index}")
        headers.append(column)
    missing = [c for c in SUPPORT_REQUIRED if c not in headers]
    if missing:
        raise SupportImportError(
            _("表头（第 %(line)d 行）缺少必需的列：%(missing)s。表头应为：%(expected)s。")
            % {"line": header_line, "missing": "、".join(missing), "expected": "、".join(SUPPORT_COLUMNS)})
    width = len(headers)
    rows = [(values + [""] * width)[:width] for _line, values in cleaned[1:]]
    lines = [line for line, _values in cleaned[1:]]
    if not rows:
        raise SupportImportError(_("文件中只有表头，没有数据行。"))
    return headers, rows, lines


def support_records_import(*, data: bytes, filename: str, user, measure=None, encoding: str = "auto",
                           dry_run: bool = False) -> dict:
    """Import support records from a CSV (UTF-8 or GBK) or XLSX file, all or nothing.

    Enterprises are looked up by USCC among those ``user`` may see; measures among those of
    policies the user may read (``measure`` given: every row is for it). When any row is
    wrong nothing is saved and every error is reported as {line, uscc, column, message}.
    Returns {"created": n, "errors": [...], "rows": total}. Raises SupportImportError
    when the file itself cannot be read."""
    import tablib

    from apps.accounts.policy_rules import policies_visible_q

    from .models import Measure
    from .resources import USCC, SupportRecordResource

    headers, rows, lines = _support_table(data=data, filename=filename, encoding=encoding)
    dataset = tablib.Dataset(*rows, headers=headers)
    measures = Measure.objects.filter(policies_visible_q(user, "policy"))
    resource = SupportRecordResource(user=user, measure=measure, measures=measures)
    uscc_at = headers.index(USCC)
    errors = []
    with transaction.atomic():
        result = resource.import_data(dataset, dry_run=True, use_transactions=True, raise_errors=False)
        for number, row in enumerate(result.rows, start=1):
            uscc = rows[number - 1][uscc_at]
            if row.validation_error is not None:
                for field, messages in row.validation_error.message_dict.items():
                    column = resource.fields[field].column_name if field in resource.fields else field
                    for message in messages:
                        errors.append({"line": lines[number - 1], "uscc": uscc, "column": column, "message": message})
            for err in row.errors:
                errors.append({"line": lines[number - 1], "uscc": uscc, "column": "", "message": str(err.error)})
        for err in result.base_errors:
            errors.append({"line": 0, "uscc": "", "column": "", "message": str(err.error)})
        if errors or dry_run:
            return {"created": 0, "errors": errors, "rows": len(rows)}
        resource = SupportRecordResource(user=user, measure=measure, measures=measures)
        result = resource.import_data(dataset, dry_run=False, use_transactions=True, raise_errors=True)
    return {"created": result.totals.get("new", 0), "errors": [], "rows": len(rows)}


def support_records_export(*, user, file_format: str = "csv", queryset=None) -> bytes:
    """The support records ``user`` may see (narrowed by ``queryset``) as CSV (UTF-8 with
    BOM) or XLSX bytes, formula-like cells neutralised."""
    from apps.core.spreadsheets import render_dataset

    from .models import SupportRecord
    from .resources import SupportRecordResource

    qs = (queryset if queryset is not None else SupportRecord.objects.all()).visible_to(user)
    dataset = SupportRecordResource(user=user).export(
        queryset=qs.select_related("enterprise").order_by("-granted_on", "pk"), force_native_type=file_format == "xlsx")
    return render_dataset(dataset=dataset, file_format=file_format, title="support")


# --- support impact ------------------------------------------------------------------------


def impact_panel(*, user, before_period, after_period) -> pd.DataFrame:
    """The enterprises ``user`` may see with a score in the published runs of both periods:
    enterprise_id, division, size (as filed in the before period), before, after.
    Scores are the published runs' RunScore rows; empty when a period has no published run."""
    from apps.accounts.scoping import jurisdiction_of
    from apps.enterprises.models import Enterprise
    from apps.filings.models import Submission
    from apps.indices.models import RunScore
    from apps.indices.services import published_run

    runs = published_run(before_period), published_run(after_period)
    columns = ["enterprise_id", "division", "size", "before", "after"]
    if None in runs:
        return pd.DataFrame(columns=columns)
    before = pd.DataFrame(list(RunScore.objects.filter(run=runs[0]).values_list("enterprise_id", "submission_id", "composite")),
                          columns=["enterprise_id", "submission_id", "before"])
    after = pd.DataFrame(list(RunScore.objects.filter(run=runs[1]).values_list("enterprise_id", "composite")),
                         columns=["enterprise_id", "after"])
    panel = before.merge(after, on="enterprise_id")
    if not jurisdiction_of(user).everything:
        visible = set(Enterprise.objects.visible_to(user).values_list("pk", flat=True))
        panel = panel[panel["enterprise_id"].isin(visible)]
    filed = pd.DataFrame(
        list(Submission.objects.filter(period=before_period).values_list("pk", "division_code", "size_class")),
        columns=["submission_id", "division", "size"])
    panel = panel.merge(filed, on="submission_id")
    return panel[columns].reset_index(drop=True)


def support_impact(*, user, measures, before_period, after_period, caliper: float | None = None):
    """The support-impact estimate (:func:`apps.policies.impact.estimate_impact`) for the
    enterprises ``user`` may see: supported = received one of ``measures`` on or after the
    before period opened and before the after period opened; enterprises supported by them
    at any other time are no controls."""
    from .impact import DEFAULT_CALIPER, estimate_impact
    from .models import SupportRecord

    panel = impact_panel(user=user, before_period=before_period, after_period=after_period)
    records = SupportRecord.objects.filter(measure__in=measures).values_list("enterprise_id", "granted_on")
    window, other = set(), set()
    for enterprise_id, granted_on in records:
        inside = before_period.opens_on <= granted_on < after_period.opens_on
        (window if inside else other).add(enterprise_id)
    return estimate_impact(panel, window, excluded=other - window, caliper=caliper or DEFAULT_CALIPER)
