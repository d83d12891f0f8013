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
    old.superseded_by, old.status = new, PolicyStatus.SUPERSEDED
    old._history_user = user
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
    from apps.insights.selectors import PUBLIC, cells_for

    from .selectors import FULL_READER

    found = {}
    for run in runs:
        for kind, codes in targets.groupby("cell_kind")["cell_code"]:
            wanted = tuple(sorted(set(codes)))
            for view, reader in ((ProgressView.FULL, FULL_READER), (ProgressView.PUBLIC, PUBLIC)):
                for cell in cells_for(reader, run, kind, codes=wanted):
                    found[(view, run.pk, kind, cell["code"])] = cell
    return found


def target_progress_recompute(*, target_ids: list[int] | None = None) -> int:
    """Recompute the progress of the given targets (all when None) from every published run,
    in the full and the public view; replaces their TargetProgress rows. Idempotent.
    Returns the number of rows written."""
    from apps.insights.selectors import published_runs

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
        objs = []
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
            table = table.astype(object).where(table.notna(), None)
            for r in table.to_dict("records"):
                objs.append(TargetProgress(
                    target_id=r["target_id"], run_id=r["run_id"], view=view, period_year=r["t"], actual=r["actual"],
                    hidden=bool(r["hidden"]), hidden_reason=r["hidden_reason"], baseline=r["baseline"],
                    expected=r["expected"], status=r["status"], projection=r["projection"],
                    projection_low=r["projection_low"], projection_high=r["projection_high"],
                    projection_points=r["projection_points"] or 0,
                ))
        TargetProgress.objects.bulk_create(objs, batch_size=2000)
    return len(objs)
