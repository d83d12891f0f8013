"""Public pages (no log-in): published, disclosure-safe indices, rankings, trends, method.

Every number comes from :func:`apps.indices.readers.public_cells`: the PUBLIC view of a
*published* run. A suppressed cell is shown with its reason (样本不足 …), never a value.
A page costs one query once the run's cells are cached (which runs are published); the
cells and their names are cached per run version by the selector.
"""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from apps.core import formatting
from apps.frameworks.models import Dimension, Framework, FrameworkStatus, MaturityLevel
from apps.indices.models import CellKind, IndexRun
from apps.indices.readers import public_cells, public_memo, public_trend, published_runs_brief, run_version
from apps.indices.services import index_parameters

# The ranking pages: URL name → (cell kind, page title, name column heading).
RANKINGS = {
    "provinces": (CellKind.PROVINCE, gettext_lazy("地区排名"), gettext_lazy("省份")),
    "industries": (CellKind.DIVISION, gettext_lazy("行业排名"), gettext_lazy("行业大类")),
    "key_industries": (CellKind.KEY_INDUSTRY, gettext_lazy("重点行业"), gettext_lazy("重点行业")),
    "sizes": (CellKind.SIZE, gettext_lazy("企业规模"), gettext_lazy("企业规模")),
}
TABS = [
    ("home", gettext_lazy("全国指数")),
    ("provinces", gettext_lazy("地区排名")),
    ("industries", gettext_lazy("行业排名")),
    ("key_industries", gettext_lazy("重点行业")),
    ("sizes", gettext_lazy("企业规模")),
    ("trends", gettext_lazy("历年趋势")),
    ("method", gettext_lazy("方法说明")),
]
PERFORMANCE_GROUPS = {
    "leader": gettext_lazy("领先"),
    "strong": gettext_lazy("较强"),
    "moderate": gettext_lazy("中等"),
    "emerging": gettext_lazy("起步"),
}


# --- shared context ---------------------------------------------------------------------------


def _pick_run(request, runs: list[IndexRun]) -> IndexRun | None:
    wanted = request.GET.get("period")
    if not wanted:
        return runs[0] if runs else None
    for run in runs:
        if run.period.code == wanted:
            return run
    raise Http404(_("该期次没有已发布的指数。"))


def _context(request, tab: str, runs: list[IndexRun], run: IndexRun | None, **extra) -> dict:
    query = f"?period={run.period.code}" if run is not None and run is not (runs[0] if runs else None) else ""
    tabs = [(name, label, reverse(f"open:{name}") + (query if name != "method" else ""), name == tab) for name, label in TABS]
    return {
        "runs": runs,
        "run": run,
        "tab": tab,
        "tabs": tabs,
        "period_query": query,
        "disclosure_url": reverse("open:method") + "#not-published",
        **extra,
    }


def _decorate(cell: dict) -> dict:
    """A cell for a template: percentages and labels computed once."""
    row = dict(cell)
    row["coverage_pct"] = None if cell.get("coverage") is None else 100 * cell["coverage"]
    row["group_label"] = PERFORMANCE_GROUPS.get(cell.get("performance_group") or "", "")
    row["change_str"] = "" if cell.get("change") is None else f"{cell['change']:+.1f}"
    rank_change = cell.get("rank_change")
    row["rank_change_str"] = "" if rank_change is None else ("0" if rank_change == 0 else f"{rank_change:+d}")
    return row


# --- pages ------------------------------------------------------------------------------------
# The data part of a page (everything below the heading) depends only on the run version, the
# language and the page's own parameters: it is rendered once and kept in the cache. What
# stays per request is the frame (header, language form with its CSRF token, tabs, footer).


def _fragment(name: str, version: str, template: str, build) -> str:
    """The HTML of ``template`` with the context ``build()``, cached per run version and language."""
    key = f"public-page:{version}:{get_language()}:{name}"
    html = public_memo.get(key, lambda: render_to_string(template, build()))
    return mark_safe(html)  # rendered by our own template, autoescaped


def _home_context(run: IndexRun) -> dict:
    nation = next(iter(public_cells(run, CellKind.NATION)), None)
    context: dict = {"run": run, "nation": _decorate(nation) if nation else None}
    if nation and not nation["suppressed"]:
        levels = {lv.rank: lv for lv in MaturityLevel.objects.filter(framework_id=run.framework_id)}
        shares = nation.get("level_shares") or []
        context["levels"] = [(rank, levels.get(rank), 100 * share) for rank, share in enumerate(shares, start=1)]
        dims = {d.code: d for d in Dimension.objects.filter(framework_id=run.framework_id)}
        means = nation.get("dimension_means") or {}
        context["dimensions"] = [(code, dims.get(code), value) for code, value in means.items()]
    context["api"] = {
        "csv": reverse("public-api-cells-csv", args=[run.period.code]),
        "json": reverse("public-api-cells-json", args=[run.period.code]),
        "docs": reverse("api-docs"),
    }
    return context


def home(request):
    """The national index of a published period (the latest by default)."""
    runs = published_runs_brief()
    run = _pick_run(request, runs)
    body = ""
    if run is not None:
        body = _fragment("home", run_version(run), "insights/public/_home_body.html", lambda: _home_context(run))
    return render(request, "insights/public/home.html", _context(request, "home", runs, run, body=body))


def _ranking_context(run: IndexRun, page: str) -> dict:
    kind, title, name_heading = RANKINGS[page]
    rows = [_decorate(c) for c in public_cells(run, kind)]
    shown = [r for r in rows if not r["suppressed"] and r["mean"] is not None]
    if kind != CellKind.SIZE:
        shown = [r for r in shown if r["rank"] is not None]
    chart = {"names": [r["name"] for r in shown], "values": [formatting.rounded(r["mean"]) for r in shown],
             "label": str(_("综合指数（均值）"))}
    return {
        "run": run, "rows": rows, "chart": chart, "title": title, "name_heading": name_heading,
        "ranked": kind != CellKind.SIZE, "chart_height": max(160, 26 * len(shown) + 60),
        "suppressed_count": sum(1 for r in rows if r["suppressed"]),
    }  # fmt: skip


def ranking(request, page: str):
    """Ranked table and horizontal bar chart of one kind of cell (provinces, industries …)."""
    runs = published_runs_brief()
    run = _pick_run(request, runs)
    body = ""
    if run is not None:
        body = _fragment(f"ranking:{page}", run_version(run), "insights/public/_ranking_body.html",
                         lambda: _ranking_context(run, page))
    return render(request, "insights/public/ranking.html",
                  _context(request, page, runs, run, body=body, title=RANKINGS[page][1]))


def provinces(request):
    return ranking(request, "provinces")


def industries(request):
    return ranking(request, "industries")


def key_industries(request):
    return ranking(request, "key_industries")


def sizes(request):
    return ranking(request, "sizes")


def _trends_context(runs: list[IndexRun], province: dict | None) -> dict:
    national = public_trend(runs, CellKind.NATION, "CN")
    regional = public_trend(runs, CellKind.PROVINCE, province["code"]) if province else []
    rows = []
    for i, (r, cell) in enumerate(national):
        rows.append({"run": r, "nation": _decorate(cell) if cell else None,
                     "province": _decorate(regional[i][1]) if regional and regional[i][1] else None})
    series = [{"name": str(_("全国")), "values": [_value(c) for _, c in national]}]
    if province:
        series.append({"name": province["name"], "values": [_value(c) for _, c in regional]})
    chart = {"periods": [r.period.label for r, _c in national], "series": series}
    return {"rows": rows, "chart": chart, "province": province}


def trends(request):
    """The national index over every published period, and one chosen province's."""
    runs = published_runs_brief()
    run = runs[0] if runs else None
    provinces_ = public_cells(run, CellKind.PROVINCE) if run else []
    chosen = request.GET.get("province") or ""
    province = next((p for p in provinces_ if p["code"] == chosen), None)
    if chosen and province is None:
        raise Http404(_("没有这个省份。"))
    body = ""
    if run is not None:
        version = ",".join(run_version(r) for r in runs)
        body = _fragment(f"trends:{chosen}", version, "insights/public/_trends_body.html",
                         lambda: _trends_context(runs, province))
    context = _context(request, "trends", runs, run, body=body, provinces=provinces_, chosen=chosen)
    return render(request, "insights/public/trends.html", context)


def _value(cell: dict | None):
    if not cell or cell["suppressed"] or cell.get("mean") is None:
        return None
    return formatting.rounded(cell["mean"])


def method(request):
    """The method written for the public (what is measured, how levels are set, what is not
    published and why); the developer's detail stays in docs/METHOD.md."""
    from apps.indices.aggregation import IndexParameters

    runs = published_runs_brief()
    run = runs[0] if runs else None
    params = index_parameters(run) if run is not None else IndexParameters()
    # the framework of the newest published index, else the newest published version: its
    # dimensions and levels (names in the reader's language) make the method concrete
    newest = Framework.objects.filter(status=FrameworkStatus.PUBLISHED).order_by("-published_at")
    framework_id = run.framework_id if run is not None else newest.values_list("pk", flat=True).first()
    dimensions = list(Dimension.objects.filter(framework_id=framework_id).order_by("order", "code"))
    levels = list(MaturityLevel.objects.filter(framework_id=framework_id).order_by("rank"))
    return render(request, "insights/public/method.html",
                  _context(request, "method", runs, run, min_cell_size=params.min_cell_size,
                           dimensions=dimensions, levels=levels))
