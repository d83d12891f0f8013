"""The enterprise's diagnosis report: score, level, dimension radar, biggest gaps.

Benchmarks against the industry and region (median, top decile) appear once an index run
is published (apps.indices, issue 4); until then the report says so.
"""


import numpy as np
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render
from django.utils.translation import gettext as _

from apps.core import formatting
from apps.frameworks import scoring
from apps.reference.models import Industry, Region

from .models import Submission, SubmissionStatus
from .packing import compiled_for


def _benchmarks(sub: Submission, composite: float, user) -> dict | None:
    """The enterprise against the median and the top decile of its industry and regions,
    from the period's published index run, as ``user`` may see them: through the one
    disclosure path (apps.indices.readers.cells_for) — the public view for the enterprise
    itself and for cells outside an authority's jurisdiction."""
    from apps.indices.models import CellKind
    from apps.indices.readers import Reader, cells_for, published_run

    run = published_run(sub.period)
    if run is None:
        return None
    reader = Reader.of(user)
    wanted = [
        (CellKind.DIVISION, sub.division_code, Industry.objects.filter(code=sub.division_code).values_list("name", flat=True).first() or ""),
        (CellKind.PROVINCE, sub.province_code, ""),
        (CellKind.PREFECTURE, sub.prefecture_code, ""),
        (CellKind.NATION, "CN", ""),
    ]
    names = dict(Region.objects.filter(code__in=[sub.province_code, sub.prefecture_code]).values_list("code", "name"))
    rows = []
    for kind, code, label in wanted:
        found = cells_for(reader, run, kind, codes=(code,)) if code else []
        if not found:
            continue
        cell = found[0]
        median = cell["median"]
        rows.append({
            # the nation is named once ("全国", not "全国 全国")
            "kind": "" if kind == CellKind.NATION else CellKind(kind).label, "kind_code": str(kind),
            "name": label or names.get(code, "") or _("全国"),
            "suppressed": cell["hidden"], "confidential": cell["confidential"], "reason": cell["reason_label"],
            "median": median, "benchmark": cell["benchmark"],
            "above_median": None if median is None else composite >= median,
            "stale": bool(cell.get("stale")),
        })
    return {"run": run, "rows": rows}


def _previous(sub: Submission, score) -> dict | None:
    """The enterprise's accepted, scored filing of the period before this one, compared with
    this one (composite, level, and each dimension both framework versions share)."""
    from .models import SubmissionScore

    before = (
        SubmissionScore.objects.filter(
            submission__enterprise=sub.enterprise, submission__status=SubmissionStatus.ACCEPTED,
            submission__period__opens_on__lt=sub.period.opens_on,
        )
        .select_related("submission__period").order_by("-submission__period__opens_on").first()
    )  # fmt: skip
    if before is None:
        return None
    dims = {
        code: (value, formatting.rounded(score.dimension_scores[code]) - formatting.rounded(value))
        for code, value in before.dimension_scores.items() if code in score.dimension_scores
    }  # fmt: skip
    return {
        "period": before.submission.period, "composite": before.composite, "level": before.level,
        "change": formatting.rounded(score.composite) - formatting.rounded(before.composite),
        "same_framework": before.framework_id == score.framework_id, "dimensions": dims,
    }  # fmt: skip


# --- showcase cases (issue 10): cases of the industry for the weakest dimensions ----------------


def _showcase_cases(sub: Submission, score, dims) -> dict:
    """Published showcase cases (apps.pilots) of the enterprise's industry for its weakest
    dimensions (lowest score first, full marks left out); the rule is
    apps.pilots.selectors.cases_for_report."""
    from apps.pilots.selectors import cases_for_report

    scored = [d for d in dims if score.dimension_scores.get(d.code) is not None and score.dimension_scores[d.code] < 100]
    weakest = sorted(scored, key=lambda d: score.dimension_scores[d.code])
    return cases_for_report(division_code=sub.division_code, weakest=weakest,
                            key_industry_codes=sub.enterprise.key_industries.values_list("pk", flat=True))


# --- the page ---------------------------------------------------------------------------------


@login_required
def filing_report(request, pk: int):
    sub = get_object_or_404(
        Submission.objects.visible_to(request.user).select_related("period", "framework", "enterprise__region"), pk=pk
    )
    context = {"submission": sub, "score": None}
    if sub.status != SubmissionStatus.ACCEPTED:
        return render(request, "filings/report.html", context)
    score = getattr(sub, "score", None)
    if score is None:
        # Accepted, scoring task not finished yet: the page polls (htmx) until it is.
        return render(request, "filings/report.html", {**context, "pending": True})
    compiled = compiled_for(score.framework)
    dims = list(sub.framework.dimensions.order_by("order", "code"))
    row = np.array([
        np.nan if score.indicator_scores.get(code) is None else score.indicator_scores[code]
        for code in compiled.indicator_codes
    ])
    indicators = {i.code: i for i in sub.framework.indicators.prefetch_related("rubric_levels")}
    gaps = [
        {"gap": g, "indicator": indicators[g.code]}
        for g in scoring.biggest_gaps(compiled, row, k=3)
    ]
    levels = list(sub.framework.levels.order_by("rank"))
    current = next((lv for lv in levels if lv.rank == score.level), None)
    following = next((lv for lv in levels if lv.rank == score.level + 1), None)
    # the enterprise's 说明 where the framework asked for one: part of what was assessed
    notes = list(
        sub.answers.exclude(note="").select_related("indicator")
        .order_by("indicator__dimension__order", "indicator__order", "indicator__code")
    )  # fmt: skip
    benchmarks = _benchmarks(sub, score.composite, request.user)
    previous = _previous(sub, score)
    radar = {
        "indicators": [{"name": d.label, "min": 0, "max": 100} for d in dims],
        "values": [formatting.rounded(score.dimension_scores.get(d.code, 0.0)) for d in dims],
        "name": sub.enterprise.name,
    }
    return render(
        request,
        "filings/report.html",
        {
            **context, "score": score, "level": current, "next_level": following, "levels": levels,
            "dimensions": [(d, score.dimension_scores.get(d.code, 0.0),
                            (previous or {}).get("dimensions", {}).get(d.code)) for d in dims],
            "previous": previous,
            "gaps": gaps, "radar": radar, "benchmarks": benchmarks, "notes": notes,
            "showcase": _showcase_cases(sub, score, dims),
        },
    )
