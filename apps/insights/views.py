"""Pages for authorities and ministry staff: their jurisdiction and what lies below it.

Every number comes from :mod:`apps.indices.readers` — published runs only, and what a
reader may see is decided there (cells of the jurisdiction unsuppressed and marked
"内部数据，不公开" when the public must not see them; other cells as the public sees them).
Nothing here aggregates filings; the enterprise list is a plain filtered list of the
enterprises the user may see.

Access: anonymous visitors are sent to log in; enterprise users and experts get 403;
authorities read their jurisdiction and the regions below it (新疆生产建设兵团: the
prefecture-level code it oversees) — any other region asked for by URL parameter is a 404.
Ministry staff and system admins read the nation.

Drill-down: the nation → provinces → prefectures → counties; a placeholder prefecture
(直辖市 市辖区, 省直辖县级行政区划) is skipped, its counties listed in its place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from apps.accounts.permissions import can_read_insights, export_jobs_visible_to, require
from apps.accounts.scoping import jurisdiction_of
from apps.core import formatting
from apps.indices.models import CellKind, IndexRun, RunStatus
from apps.indices.readers import (
    Reader,
    cell_for,
    cells_for,
    cells_over_runs,
    cells_with_code_prefix,
    public_memo,
    published_runs,
    published_runs_brief,
    run_version,
)
from apps.reference.models import Industry, IndustryLevel, KeyIndustry, Region, RegionLevel

from .exports import (
    CONTENT_TYPES,
    FORMATS,
    STATUS_LABELS,
    STATUS_NONE,
    Column,
    Table,
    enterprise_file,
    enterprise_filename,
    enterprise_list,
    export_job_create,
    published_label,
    sync_max_rows,
)
from .models import ExportJob, ExportJobStatus
from .tilemap import BANDS, province_tiles

NATION_CODE = "CN"
LEVEL_KIND = {
    RegionLevel.PROVINCE: CellKind.PROVINCE,
    RegionLevel.PREFECTURE: CellKind.PREFECTURE,
    RegionLevel.COUNTY: CellKind.COUNTY,
}
CHILD_KIND = {
    CellKind.NATION: CellKind.PROVINCE,
    CellKind.PROVINCE: CellKind.PREFECTURE,
    CellKind.PREFECTURE: CellKind.COUNTY,
}
MAX_PEERS = 5
PAGE_SIZE = 50
WEAKEST = 3
WEAKEST_INDICATORS = 5

# --- access, period, scope -----------------------------------------------------------------------


def _require_reader(user) -> None:
    require(can_read_insights, user, _("只有主管部门和平台工作人员可以查看数据分析。"))


@dataclass(frozen=True)
class Place:
    kind: str
    code: str
    name: str


@dataclass
class Scope:
    """The region a page is about, inside the reader's jurisdiction."""

    place: Place
    trail: list[Place]  # from the top of the jurisdiction down to this region (included)
    parent: Place | None  # compared with on the dashboard; None for the nation
    home: bool  # the top of the jurisdiction
    everything: bool  # ministry staff

    kind = property(lambda self: self.place.kind)
    code = property(lambda self: self.place.code)
    name = property(lambda self: self.place.name)

    @property
    def child_kind(self) -> str | None:
        return CHILD_KIND.get(self.kind)

    @property
    def param(self) -> str:
        """The ?region= value of this scope ("" for the top of the jurisdiction)."""
        return "" if self.home else self.code


def _scope(request) -> Scope:
    """The region asked for by ?region= (default: the top of the user's jurisdiction);
    404 outside the jurisdiction."""
    user = request.user
    j = jurisdiction_of(user)
    asked = (request.GET.get("region") or "").strip()
    nation = Place(CellKind.NATION, NATION_CODE, _("全国"))
    if j.everything:
        if asked in ("", NATION_CODE):
            return Scope(place=nation, trail=[nation], parent=None, home=True, everything=True)
        home_code, home_name = NATION_CODE, ""
    else:
        own = user.region
        if own is None:
            raise PermissionDenied
        home_code = own.oversees_prefecture_code or own.code
        # 新疆生产建设兵团 oversees a prefecture-level code: its cell bears the authority's name.
        home_name = own.name if own.oversees_prefecture_code else ""
        asked = asked or home_code
        if not j.covers_region_code(asked):
            raise Http404
    region = Region.objects.select_related("parent__parent").filter(code=asked).first()
    if region is None or region.level not in LEVEL_KIND:
        raise Http404

    def name_of(r: Region) -> str:
        if r.code == home_code and home_name:
            return home_name
        if r.is_placeholder and r.parent_id and r.parent is not None:
            return f"{r.parent.name} {r.name}"
        return r.name

    chain = [r for r in (region.parent.parent if region.parent else None, region.parent, region) if r is not None]
    trail = [nation] if j.everything else []
    for r in chain:
        if r is not region and r.is_placeholder and r.code != home_code:
            continue
        if not j.everything and not j.covers_region_code(r.code):
            continue
        trail.append(Place(LEVEL_KIND[r.level], r.code, name_of(r)))
    parent = nation
    for r in reversed(chain[:-1]):
        if not r.is_placeholder:
            parent = Place(LEVEL_KIND[r.level], r.code, r.name)
            break
    return Scope(place=trail[-1], trail=trail, parent=parent, home=region.code == home_code, everything=j.everything)


def _runs(request, brief: bool = False):
    """All published runs (newest first) and the one of ?period= (default: the newest).
    ``brief``: the runs with the public fields only, kept per process under their versions
    (one small query per request: which runs are published)."""
    runs = published_runs_brief() if brief else published_runs()
    code = request.GET.get("period")
    if code:
        return runs, next((r for r in runs if r.period.code == code), None)
    return runs, (runs[0] if runs else None)


def _url(name: str, **params) -> str:
    clean = {k: v for k, v in params.items() if v not in (None, "")}
    return reverse(f"insights:{name}") + (f"?{urlencode(clean)}" if clean else "")


def _base_context(request, page: str, scope: Scope, runs, run) -> dict:
    period = run.period.code if run else request.GET.get("period", "")
    # The first place is the top of the jurisdiction: no ?region= there.
    trail = [(p, _url(page, region="" if i == 0 else p.code, period=period)) for i, p in enumerate(scope.trail)]
    tabs = [
        ("dashboard", _("概览")),
        ("rankings", _("排名")),
        ("trends", _("趋势")),
        ("enterprises", _("企业名单")),
        ("report", _("数据地图")),
    ]
    stale = bool(run and run.stale_since)
    return {
        "page": page,
        "scope": scope,
        "runs": runs,
        "run": run,
        "period_code": period,
        "trail": trail,
        "tabs": [(key, label, _url(key, region=scope.param, period=period)) for key, label in tabs],
        "stale": stale,
        "needs_run": True,
        "keep": [],
        "export_query": urlencode({k: v for k, v in {"region": scope.param, "period": period}.items() if v}),
    }


# --- names ---------------------------------------------------------------------------------------


def _english() -> bool:
    return (get_language() or "").startswith("en")


def _dimensions(run) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """The framework's dimensions [(code, name)] and its indicators' questions {code:
    question}, in the active language. One query (dimensions LEFT JOIN indicators)."""
    english = _english()
    rows = run.framework.dimensions.order_by("order", "code", "indicators__order", "indicators__code").values_list(
        "code", "name", "name_en", "indicators__code", "indicators__question", "indicators__question_en"
    )
    dims: dict[str, str] = {}
    questions: dict[str, str] = {}
    for code, name, en, indicator, question, question_en in rows:
        dims.setdefault(code, en if english and en else name)
        if indicator is not None:
            questions[indicator] = question_en if english and question_en else question
    return list(dims.items()), questions


def _levels(run) -> list[tuple[int, str]]:
    english = _english()
    rows = run.framework.levels.order_by("rank").values_list("rank", "name", "name_en")
    return [(rank, f"L{rank} {en if english and en else name}") for rank, name, en in rows]


# --- rows ----------------------------------------------------------------------------------------

RANKING_COLUMNS = [
    Column("name", gettext_lazy("名称"), "text", sort="name"),
    Column("mean", gettext_lazy("综合指数"), "num", sort="mean"),
    Column("rank", gettext_lazy("排名"), "rank", sort="rank"),
    Column("rank_change", gettext_lazy("排名变化"), "rank_change", sort="rank_change"),
    Column("change", gettext_lazy("较上期"), "signed", sort="change"),
    Column("n", gettext_lazy("填报企业数"), "int", sort="n"),
    Column("coverage", gettext_lazy("覆盖率"), "pct", sort="coverage"),
    Column("not_measured_share", gettext_lazy("未统计占比"), "pct"),
    Column("ci", gettext_lazy("95%置信区间"), "ci"),
    Column("performance_group", gettext_lazy("表现分组"), "group"),
]
SORT_FIELDS = {"name": "code", "mean": "mean", "rank": "rank", "rank_change": "rank_change", "change": "change",
               "n": "n", "coverage": "coverage"}
# Direction of a first click on a column header: ranks ascending, everything else descending.
FIRST_DESCENDING = {"mean", "rank_change", "change", "n", "coverage"}


def _sorted(rows: list[dict], sort: str) -> tuple[list[dict], str]:
    """Rows sorted by ?sort= (default: rank); rows without the value last, by code."""
    desc = sort.startswith("-")
    key = sort.lstrip("-")
    if key not in SORT_FIELDS:
        key, desc = "rank", False
    name = SORT_FIELDS[key]
    present = sorted((r for r in rows if r.get(name) is not None), key=lambda r: r["code"])
    present.sort(key=lambda r: r[name], reverse=desc)  # stable: ties stay in code order
    missing = sorted((r for r in rows if r.get(name) is None), key=lambda r: r["code"])
    return present + missing, ("-" if desc else "") + key


def _sort_key(sort: str) -> str:
    """?sort= reduced to a known column and direction (default: rank), as _sorted reads it."""
    desc = sort.startswith("-")
    key = sort.lstrip("-")
    if key not in SORT_FIELDS:
        return "rank"
    return ("-" if desc else "") + key


def _headers(columns, sort: str, make_url) -> list[dict]:
    out = []
    for c in columns:
        entry = {"column": c, "url": "", "state": ""}
        if c.sort:
            current = sort.lstrip("-") == c.sort
            if current:
                entry["state"] = "descending" if sort.startswith("-") else "ascending"
                nxt = c.sort if sort.startswith("-") else "-" + c.sort
            else:
                nxt = ("-" if c.sort in FIRST_DESCENDING else "") + c.sort
            entry["url"] = make_url(nxt)
        out.append(entry)
    return out


def _with_names(cells: list[dict], names: dict[str, str]) -> list[dict]:
    return [dict(c, name=names.get(c["code"], c["code"])) for c in cells]


def _region_facts(run, kind: str, parent_code: str, cells: list[dict]) -> dict[str, tuple[str, bool]]:
    """{code: (name, is placeholder)} of the regions of ``cells`` (children of
    ``parent_code``): read once per run version and kept with the run's cells (a ranking
    request then reads no region row)."""

    def build():
        rows = Region.objects.filter(code__in=[c["code"] for c in cells]).values_list("code", "name", "is_placeholder")
        return {code: (name, placeholder) for code, name, placeholder in rows}

    return public_memo.get(f"ranking-regions:{run_version(run)}:{kind}:{parent_code}", build, 3600)


def region_rows(reader: Reader, run, scope: Scope) -> list[dict]:
    """The child regions of the scope (a placeholder prefecture replaced by its counties),
    each with its name and the page it drills down to. Values through ``cells_for`` (the
    reader's view of the run's kept cells), names from :func:`_region_facts`."""
    kind = scope.child_kind
    if kind is None:
        return []
    cells = cells_for(reader, run, kind, parent_code=scope.code)
    regions = _region_facts(run, kind, scope.code, cells)
    if kind == CellKind.PREFECTURE:
        placeholders = [c["code"] for c in cells if regions.get(c["code"], ("", False))[1]]
        if placeholders:
            cells = [c for c in cells if c["code"] not in placeholders]
            for code in placeholders:
                counties = cells_for(reader, run, CellKind.COUNTY, parent_code=code)
                regions = {**regions, **_region_facts(run, CellKind.COUNTY, code, counties)}
                cells += counties
    rows = []
    for c in cells:
        region = regions.get(c["code"])
        row = dict(c, name=region[0] if region else c["code"])
        if region is not None:
            page = "dashboard" if c["kind"] == CellKind.COUNTY else "rankings"
            row["link"] = _url(page, region=c["code"], period=run.period.code)
        rows.append(row)
    return rows


def industry_rows(reader: Reader, run, scope: Scope) -> list[dict]:
    """The industries (GB/T 4754 divisions) of the scope: division cells for the nation,
    province × division / prefecture × division cells for a province / prefecture."""
    if scope.kind == CellKind.NATION:
        cells = cells_for(reader, run, CellKind.DIVISION, parent_code=NATION_CODE)
    elif scope.kind == CellKind.PROVINCE:
        cells = cells_for(reader, run, CellKind.PROVINCE_DIVISION, parent_code=scope.code)
    elif scope.kind == CellKind.PREFECTURE:
        cells = cells_with_code_prefix(reader, run, CellKind.PREFECTURE_DIVISION, scope.code + "|")
    else:
        return []
    division = {c["code"]: c["code"].rsplit("|", 1)[-1] for c in cells}
    names = public_memo.get(
        f"ranking-divisions:{run_version(run)}",
        lambda: dict(Industry.objects.filter(level=IndustryLevel.DIVISION).values_list("code", "name")), 3600,
    )
    rows = []
    for c in cells:
        d = division[c["code"]]
        rows.append(dict(c, name=f"{d} {names.get(d, '')}".strip(),
                         link=_url("enterprises", region=scope.param, division=d, period=run.period.code)))
    return rows


def key_industry_rows(reader: Reader, run) -> list[dict]:
    """Key industries (national cells only; for ministry staff)."""
    cells = cells_for(reader, run, CellKind.KEY_INDUSTRY, parent_code=NATION_CODE)
    english = _english()
    rows = public_memo.get(f"ranking-key-industries:{run_version(run)}",
                           lambda: list(KeyIndustry.objects.values_list("code", "name", "name_en")), 3600) if cells else []
    names = {code: (en if english and en else name) for code, name, en in rows}
    return _with_names(cells, names)


def _ranking_table(name: str, title: str, rows: list[dict], run, scope: Scope, sort: str) -> tuple[Table, str]:
    rows, sort = _sorted(rows, sort)
    return Table(name=name, title=title, columns=RANKING_COLUMNS, rows=rows, run=run, period=run.period,
                 scope_name=scope.name, extra={"scope_code": scope.code}), sort


def _bar_chart(rows: list[dict], national: dict | None) -> dict:
    data = sorted((r for r in rows if r.get("mean") is not None), key=lambda r: -r["mean"])
    return {
        "names": [r["name"] for r in data],
        "values": [float(f"{r['mean']:.1f}") for r in data],
        "confidential": [bool(r.get("confidential")) for r in data],
        "national": float(f"{national['mean']:.1f}") if national and national.get("mean") is not None else None,
        "labels": {"index": _("综合指数"), "national": _("全国"), "confidential": _("内部数据，不公开")},
    }


# --- dashboard -----------------------------------------------------------------------------------

SUMMARY_COLUMNS = [
    Column("name", gettext_lazy("地区")),
    Column("mean", gettext_lazy("综合指数"), "num"),
    Column("dev_index", gettext_lazy("发展指数"), "num"),
    Column("change", gettext_lazy("较上期变化"), "signed"),
    Column("panel_change", gettext_lazy("面板变化（同一批企业）"), "signed"),
    Column("panel_n", gettext_lazy("面板企业数"), "int"),
    Column("rank", gettext_lazy("排名"), "rank"),
    Column("rank_change", gettext_lazy("排名变化"), "rank_change"),
    Column("performance_group", gettext_lazy("表现分组"), "group"),
    Column("n", gettext_lazy("填报企业数"), "int"),
    Column("registered", gettext_lazy("登记企业数"), "int"),
    Column("coverage", gettext_lazy("覆盖率"), "pct"),
    Column("not_measured_share", gettext_lazy("未统计占比"), "pct"),
    Column("ci", gettext_lazy("95%置信区间"), "ci"),
    Column("median", gettext_lazy("中位数"), "num"),
]


@dataclass
class Dashboard:
    cell: dict | None
    parent: dict | None
    nation: dict | None
    summary: Table
    dimensions: Table
    weakest: list[dict]
    radar: dict
    levels: dict
    cards: dict = field(default_factory=dict)
    weakest_indicators: list[dict] = field(default_factory=list)


def weakest_indicators(cell: dict | None, nation: dict | None, questions: dict[str, str]) -> list[dict]:
    """The applicable indicators with the lowest mean in ``cell`` (at most
    WEAKEST_INDICATORS; ties in code order), each with its question and the national mean."""
    means = (cell or {}).get("indicator_means") or {}
    national = (nation or {}).get("indicator_means") or {}
    applicable = sorted(((v, code) for code, v in means.items() if v is not None), key=lambda t: (t[0], t[1]))
    return [
        {"code": code, "question": questions.get(code, ""), "mean": value, "national": national.get(code),
         "value": Column("v", "", "num").display({"v": value}),
         "national_value": Column("v", "", "num").display({"v": national.get(code)})}
        for value, code in applicable[:WEAKEST_INDICATORS]
    ]


def dashboard_data(reader: Reader, run, scope: Scope) -> Dashboard:
    cell = cell_for(reader, run, scope.kind, scope.code)
    nation = cell if scope.kind == CellKind.NATION else cell_for(reader, run, CellKind.NATION, NATION_CODE)
    parent = None
    if scope.parent is not None and scope.parent.kind != CellKind.NATION:
        parent = cell_for(reader, run, scope.parent.kind, scope.parent.code)
    series = [(scope.name, cell)]
    if parent is not None:
        series.append((scope.parent.name, parent))
    if scope.kind != CellKind.NATION:
        series.append((_("全国"), nation))
    summary_rows = [dict(c, name=label) for label, c in series if c is not None]
    summary = Table(name="summary", title=_("主要指标"), columns=SUMMARY_COLUMNS, rows=summary_rows, run=run,
                    period=run.period, scope_name=scope.name, extra={"scope_code": scope.code})

    dims, questions = _dimensions(run)
    dim_columns = [Column("name", gettext_lazy("维度"))]
    for i, (label, _c) in enumerate(series):
        dim_columns.append(Column(f"v{i}", label, "num"))
    if scope.kind != CellKind.NATION:
        dim_columns.append(Column("gap", gettext_lazy("与全国差距"), "signed"))
    dim_rows = []
    for code, name in dims:
        row = {"code": code, "name": f"{code} {name}", "confidential": bool(cell and cell["confidential"]),
               "reason_label": (cell or {}).get("reason_label", ""), "stale": bool(cell and cell.get("stale"))}
        for i, (_label, c) in enumerate(series):
            row[f"v{i}"] = ((c or {}).get("dimension_means") or {}).get(code)
        if scope.kind != CellKind.NATION and row["v0"] is not None and row.get(f"v{len(series) - 1}") is not None:
            row["gap"] = row["v0"] - row[f"v{len(series) - 1}"]
        dim_rows.append(row)
    # On the page the banner above says why the scope's values are internal; the file marks every row.
    dimensions = Table(name="dimensions", title=_("维度得分"), columns=dim_columns, rows=dim_rows, run=run,
                       period=run.period, scope_name=scope.name, extra={"scope_code": scope.code, "page_marks": False})
    weakest = [
        {"name": r["name"], "value": Column("v0", "", "num").display(r),
         "gap": Column("gap", "", "signed").display(r) if r.get("gap") is not None else ""}
        for r in sorted((r for r in dim_rows if r["v0"] is not None), key=lambda r: r["v0"])[:WEAKEST]
    ]

    radar = {
        "indicators": [{"name": name, "max": 100} for _code, name in dims],
        "series": [
            {"name": str(label), "value": [float(f"{((c or {}).get('dimension_means') or {}).get(code, 0):.1f}") for code, _n in dims]}
            for label, c in series if c is not None and (c.get("dimension_means") or {})
        ],
    }
    levels = _levels(run)
    level_chart = {
        "levels": [name for _rank, name in levels],
        "series": [
            {"name": str(label), "value": [formatting.percent(v) for v in (c.get("level_shares") or [])]}
            for label, c in series if c is not None and c.get("level_shares")
        ],
        "unit": "%",
    }
    cards = {}
    if cell is not None:
        for key in ("mean", "dev_index", "change", "panel_change", "panel_n", "rank", "rank_change", "performance_group",
                    "n", "registered", "coverage", "ci"):
            column = next(c for c in SUMMARY_COLUMNS if c.key == key)
            cards[key] = column.display(cell)
    return Dashboard(cell=cell, parent=parent, nation=nation, summary=summary, dimensions=dimensions, weakest=weakest,
                     radar=radar, levels=level_chart,
                     cards=cards, weakest_indicators=weakest_indicators(cell, nation, questions))


@login_required
@require_GET
def dashboard(request):
    _require_reader(request.user)
    runs, run = _runs(request, brief=True)

    def build_context(live_policies: bool = False) -> dict:
        scope = _scope(request)
        context = _base_context(request, "dashboard", scope, runs, run)
        if run is not None:
            data = dashboard_data(Reader.of(request.user), run, scope)
            context["d"] = data
            context["stale"] = context["stale"] or bool(data.cell and data.cell.get("stale"))
        if live_policies:
            context.update(_policy_targets(request.user, _policy_region(scope) or None))
        else:  # filled in per request (policies change without a run being published)
            context.update(policies_later=True, policy_region_code=_policy_region(scope))
        return context

    if run is None and request.GET.get("period"):  # an unknown period: not worth keeping
        return render(request, "insights/dashboard.html", build_context(live_policies=True))
    # The figures depend on the published runs and on what the reader's jurisdiction sees of
    # them: kept per (published runs, period, jurisdiction, region, language). The region's
    # policy targets are read and rendered per request and put in their place.
    key = f"dashboard:{_runs_key(runs)}:{run.pk if run else '-'}:{_reader_key(request.user)}:{_region_param(request)}:{get_language()}"
    return _render_kept(request, key, "insights/dashboard.html", build_context,
                        live={"region-policies": lambda code: _region_policies_html(request.user, code)})


def _region_policies_html(user, region_code: str) -> str:
    """The dashboard's policy targets of a region ("" for the nation) as ``user`` reads
    them, rendered now (the kept page marks their place with the region's code)."""
    return render_to_string("insights/_region_policies.html", _policy_targets(user, region_code or None))


POLICY_TARGETS_SHOWN = 8


def _policy_region(scope: Scope) -> str:
    """The region whose policy targets the dashboard of ``scope`` shows ("" for the nation)."""
    return "" if scope.kind == CellKind.NATION else scope.code


def _policy_targets(user, region_code: str | None) -> dict:
    """The policy targets of a region (issue 11: a region's dashboard shows its policies and
    targets; None: the nation), off-track first, each in the view ``user`` reads — a target
    whose cell is not public shows 不公开 to a reader outside it, never the value."""
    from apps.policies.selectors import dashboard_tracks

    tracks = dashboard_tracks(user, region_code)
    return {"policy_tracks": tracks[:POLICY_TARGETS_SHOWN], "policy_tracks_total": len(tracks),
            "policy_region_code": region_code or ""}


# --- rankings ------------------------------------------------------------------------------------

TABS = ("regions", "industries", "key")


def rankings_table(request, reader: Reader, run, scope: Scope, tab: str) -> tuple[Table, str]:
    sort = request.GET.get("sort", "rank")
    if tab == "industries":
        return _ranking_table("industries", _("行业排名"), industry_rows(reader, run, scope), run, scope, sort)
    if tab == "key":
        rows = key_industry_rows(reader, run) if scope.everything and scope.kind == CellKind.NATION else []
        return _ranking_table("key_industries", _("重点行业排名"), rows, run, scope, sort)
    return _ranking_table("regions", _("下级地区排名"), region_rows(reader, run, scope), run, scope, sort)


# The blocks of an insights page below the site frame (base.html): rendered without the request
# (nothing of the reader's session goes into them), so they can be kept per key.
KEPT_BLOCKS = ("title", "head", "breadcrumbs", "content", "scripts")
LIVE_MARK = re.compile(r"<!-- live:([a-z-]+):(\w*) -->")


def _render_kept(request, key: str, template: str, build_context, live: dict | None = None) -> HttpResponse:
    """Render ``template`` (an insights page extending base.html) from blocks kept under
    ``key``: ``build_context()`` runs and the page's own blocks are rendered only the first
    time a key is asked for (in this process, else in the shared cache); each request then
    renders just the site frame around them (header, navigation, notices, messages).
    ``key`` must name everything the blocks depend on: the published runs' versions, the
    reader's jurisdiction, the query parameters and the language (issue 13: the page layout
    was two thirds of a warm ranking request). ``live``: parts of the page that depend on
    more than the key, marked in the kept blocks as ``<!-- live:name:argument -->``; ``live[name](argument)`` renders what replaces
    it on every request."""
    import hashlib

    from render_block import render_block_to_string

    def build() -> dict[str, str]:
        context = build_context()
        return {name: render_block_to_string(template, name, context) for name in KEPT_BLOCKS}

    digest = hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
    blocks = public_memo.get(f"kept-page:{digest}", build, 3600)
    if live:
        def fill(match) -> str:
            return live[match.group(1)](match.group(2))

        blocks = {name: LIVE_MARK.sub(fill, block) for name, block in blocks.items()}
    return render(request, "insights/kept_page.html", {"blocks": {k: mark_safe(v) for k, v in blocks.items()}})  # noqa: S308 — our templates


def _runs_key(runs) -> str:
    """The part of a kept page's key that the published runs contribute (their versions)."""
    return ",".join(run_version(r) for r in runs)


def _region_param(request) -> str:
    """?region= as a key part: a region code is six digits (anything else is refused by
    _scope when the page is built, and must not make keys of its own)."""
    region = (request.GET.get("region") or "").strip()
    return region if region.isdigit() and len(region) <= 12 else ("" if not region else "?")


def _reader_key(user) -> str:
    """The part of a kept page's key that a reader's identity contributes: the jurisdiction
    (everything, or the region field and code) and the user's own region (its name heads the
    trail of 新疆生产建设兵团)."""
    j = jurisdiction_of(user)
    return "all" if j.everything else f"{j.region_field}={j.region_code}:{user.region_id}"


@login_required
@require_GET
def rankings(request):
    _require_reader(request.user)
    runs, run = _runs(request, brief=True)
    tab = request.GET.get("tab") if request.GET.get("tab") in TABS else "regions"
    sort = _sort_key(request.GET.get("sort", "rank"))

    def build_context() -> dict:
        scope = _scope(request)
        context = _base_context(request, "rankings", scope, runs, run)
        context["tab"] = tab
        context["tab_links"] = [
            (key, label, _url("rankings", region=scope.param, period=context["period_code"], tab=key if key != "regions" else ""))
            for key, label in (("regions", _("地区")), ("industries", _("行业")), ("key", _("重点行业")))
        ]
        context["key_allowed"] = scope.everything and scope.kind == CellKind.NATION
        context["applicable"] = {
            "regions": scope.child_kind is not None,
            "industries": scope.kind != CellKind.COUNTY,
            "key": context["key_allowed"],
        }[tab]
        if run is None:  # the layout shows the empty state instead of the body
            return context
        params = {"region": scope.param, "period": run.period.code, "tab": tab if tab != "regions" else ""}
        reader = Reader.of(request.user)
        table, effective = rankings_table(request, reader, run, scope, tab)
        national = cell_for(reader, run, CellKind.NATION, NATION_CODE)
        query = urlencode({k: v for k, v in {**params, "sort": effective}.items() if v})
        context.update({
            "table": table,
            "sort": effective,
            "headers": _headers(table.columns, effective, lambda s: _url("rankings", **params, sort=s)),
            "chart": _bar_chart(table.rows, national),
            "export_query": query,
            "confidential_rows": any(r.get("confidential") for r in table.rows),
            "keep": [("tab", params["tab"]), ("sort", effective if effective != "rank" else "")],
            "stale": context["stale"] or any(r.get("stale") for r in table.rows),
        })  # fmt: skip
        return context

    if run is None and request.GET.get("period"):  # an unknown period: not worth keeping
        return render(request, "insights/rankings.html", build_context())
    # Everything below the site frame is the same for every reader of one jurisdiction: built
    # once per (published runs, jurisdiction, region, tab, sort, language) from the values
    # cells_for gives that reader.
    key = (f"rankings:{_runs_key(runs)}:{run.pk if run else '-'}:{_reader_key(request.user)}:"
           f"{_region_param(request)}:{tab}:{sort}:{get_language()}")  # fmt: skip
    return _render_kept(request, key, "insights/rankings.html", build_context)


# --- trends --------------------------------------------------------------------------------------

TREND_COLUMNS = [
    Column("period_name", gettext_lazy("期次")),
    Column("name", gettext_lazy("地区")),
    Column("mean", gettext_lazy("综合指数"), "num"),
    Column("change", gettext_lazy("较上期变化"), "signed"),
    Column("panel_change", gettext_lazy("面板变化（同一批企业）"), "signed"),
    Column("panel_n", gettext_lazy("面板企业数"), "int"),
    Column("dev_index", gettext_lazy("发展指数"), "num"),
    Column("rank", gettext_lazy("排名"), "rank"),
    Column("n", gettext_lazy("填报企业数"), "int"),
    Column("coverage", gettext_lazy("覆盖率"), "pct"),
]


def _peers(request, reader: Reader, run, scope: Scope) -> tuple[list[dict], list[str]]:
    """Siblings of the scope in ``run`` (choices) and the chosen ones (?peers=a,b or
    repeated ?peers=)."""
    if scope.kind == CellKind.NATION:
        return [], []
    own = cell_for(reader, run, scope.kind, scope.code)
    if own is None or not own.get("parent_code"):
        return [], []
    siblings = [c for c in cells_for(reader, run, scope.kind, parent_code=own["parent_code"]) if c["code"] != scope.code]
    names = dict(Region.objects.filter(code__in=[c["code"] for c in siblings]).values_list("code", "name"))
    choices = sorted(_with_names(siblings, names), key=lambda c: c["code"])
    asked = [code.strip() for value in request.GET.getlist("peers") for code in value.split(",") if code.strip()]
    known = {c["code"] for c in choices}
    chosen = [code for code in dict.fromkeys(asked) if code in known][:MAX_PEERS]
    return choices, chosen


def trends_data(request, reader: Reader, runs, run, scope: Scope) -> dict:
    choices, chosen = _peers(request, reader, run, scope)
    names = {scope.code: scope.name, **{c["code"]: c["name"] for c in choices}}
    codes = (scope.code, *chosen)
    series = cells_over_runs(reader, runs, scope.kind, codes)
    levels = _levels(run)
    level_columns = [Column(f"level_{rank}", name, "pct") for rank, name in levels]
    rows = []
    for r, cells in series:
        for code in codes:
            cell = cells.get(code) or {"code": code}
            row = dict(cell, name=names.get(code, code), period_name=r.period.name, run_label=published_label(r))
            for i, share in enumerate(cell.get("level_shares") or [], start=1):
                row[f"level_{i}"] = share
            rows.append(row)
    table = Table(name="trends", title=_("趋势"), columns=TREND_COLUMNS + level_columns, rows=rows, run=None,
                  period=None, scope_name=scope.name, extra={"scope_code": scope.code, "per_row_run": True})
    chart = {
        "periods": [r.period.label for r, _c in series],
        "lines": [{"name": names.get(code, code),
                   "value": [None if (cells.get(code) or {}).get("mean") is None else float(f"{cells[code]['mean']:.1f}") for _r, cells in series]}
                  for code in codes],
        "levels": [name for _rank, name in levels],
        "shares": [[None if not (cells.get(scope.code) or {}).get("level_shares") else formatting.percent(cells[scope.code]["level_shares"][i])
                    for _r, cells in series] for i in range(len(levels))],
        "labels": {"index": _("综合指数"), "shares": _("等级分布（%）")},
    }
    return {"table": table, "choices": choices, "chosen": chosen, "chart": chart}


@login_required
@require_GET
def trends(request):
    _require_reader(request.user)
    runs, run = _runs(request, brief=True)

    def build_context() -> dict:
        scope = _scope(request)
        context = _base_context(request, "trends", scope, runs, run)
        if run is not None:
            data = trends_data(request, Reader.of(request.user), runs, run, scope)
            context.update(data)
            context["export_query"] = urlencode({k: v for k, v in {"region": scope.param, "period": run.period.code,
                                                                   "peers": ",".join(data["chosen"])}.items() if v})
            context["stale"] = context["stale"] or any(r.get("stale") for r in data["table"].rows)
        return context

    if run is None and request.GET.get("period"):  # an unknown period: not worth keeping
        return render(request, "insights/trends.html", build_context())
    # Every published run's cells as this jurisdiction reads them: kept per (published runs,
    # period, jurisdiction, region, peers asked, language) like the ranking page.
    asked = [code.strip() for value in request.GET.getlist("peers") for code in value.split(",") if code.strip()]
    peers = ",".join(code for code in dict.fromkeys(asked) if code.isdigit() and len(code) <= 12)
    if len(peers) > 200:  # more than anyone can choose: built for this request only
        return render(request, "insights/trends.html", build_context())
    key = f"trends:{_runs_key(runs)}:{run.pk if run else '-'}:{_reader_key(request.user)}:{_region_param(request)}:{peers}:{get_language()}"
    return _render_kept(request, key, "insights/trends.html", build_context)


# --- coverage, report ----------------------------------------------------------------------------

COVERAGE_COLUMNS = [
    Column("name", gettext_lazy("地区")),
    Column("registered", gettext_lazy("登记企业数"), "int"),
    Column("n", gettext_lazy("纳入计算的填报数"), "int"),
    Column("coverage", gettext_lazy("覆盖率"), "pct"),
    Column("gap", gettext_lazy("未覆盖企业数"), "int"),
]


def coverage_table(reader: Reader, run, scope: Scope, children: list[dict] | None = None) -> Table:
    own = cell_for(reader, run, scope.kind, scope.code)
    rows = ([dict(own, name=scope.name, total=True)] if own else []) + sorted(
        children if children is not None else region_rows(reader, run, scope), key=lambda r: r["code"]
    )
    out = []
    for r in rows:
        r = dict(r)
        if r.get("registered") is not None and r.get("n") is not None:
            r["gap"] = max(r["registered"] - r["n"], 0)
        out.append(r)
    return Table(name="coverage", title=_("填报覆盖"), columns=COVERAGE_COLUMNS, rows=out, run=run, period=run.period,
                 scope_name=scope.name, extra={"scope_code": scope.code})


@login_required
@require_GET
def report(request):
    """数据地图: one printable page for the scope and period."""
    _require_reader(request.user)
    scope = _scope(request)
    runs, run = _runs(request)
    context = _base_context(request, "report", scope, runs, run)
    if run is not None:
        reader = Reader.of(request.user)
        data = dashboard_data(reader, run, scope)
        children = region_rows(reader, run, scope)
        table, _sort = _ranking_table("regions", _("下级地区排名"), children, run, scope, "rank")
        national = data.nation
        context.update({
            "d": data,
            "table": table,
            "chart": _bar_chart(children, national),
            "coverage": coverage_table(reader, run, scope, children),
            "tiles": province_tiles(children) if scope.child_kind == CellKind.PROVINCE else None,
            "region_query": urlencode({k: v for k, v in {"region": scope.param, "period": run.period.code}.items() if v}),
            "stale": context["stale"] or bool(data.cell and data.cell.get("stale")),
        })
    context["bands"] = BANDS
    return render(request, "insights/report.html", context)


# --- table exports -------------------------------------------------------------------------------


def _table_for(request, name: str) -> Table:
    scope = _scope(request)
    runs, run = _runs(request)
    if run is None:
        raise Http404
    reader = Reader.of(request.user)
    if name in ("summary", "dimensions"):
        data = dashboard_data(reader, run, scope)
        return data.summary if name == "summary" else data.dimensions
    if name in ("regions", "industries", "key_industries"):
        tab = {"regions": "regions", "industries": "industries", "key_industries": "key"}[name]
        if tab == "key" and not (scope.everything and scope.kind == CellKind.NATION):
            raise Http404
        return rankings_table(request, reader, run, scope, tab)[0]
    if name == "trends":
        return trends_data(request, reader, runs, run, scope)["table"]
    if name == "coverage":
        return coverage_table(reader, run, scope)
    raise Http404


@login_required
@require_GET
def export_table(request, table: str, fmt: str):
    """Any table of these pages as CSV (UTF-8 with BOM) or XLSX, with the same parameters
    (?period=, ?region=, ?sort=, ?tab=, ?peers=) and the same numbers as the page."""
    _require_reader(request.user)
    if fmt not in FORMATS:
        raise Http404
    t = _table_for(request, table)
    response = HttpResponse(t.render(fmt), content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{t.filename(fmt)}"'
    return response


# --- enterprise lists ----------------------------------------------------------------------------


@login_required
@require_GET
def enterprises(request):
    """The enterprises of the jurisdiction with their filing of a period; ?status=none is
    the "not filed" view with the coverage of the published run beside it."""
    _require_reader(request.user)
    scope = _scope(request)  # validates ?region= against the jurisdiction
    listing = enterprise_list(request.user, request.GET)
    runs = published_runs()
    run = next((r for r in runs if listing.period and r.period_id == listing.period.pk), None)
    context = _base_context(request, "enterprises", scope, runs, run)
    page = Paginator(listing.queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    for e in page.object_list:
        e.status_label = STATUS_LABELS.get(e.filing_status or STATUS_NONE, "") if listing.period else ""
        e.composite_text = Column("composite", "", "num").display({"composite": getattr(e, "composite", None)})
    query = urlencode(listing.filters)
    context.update({
        "form": listing.form,
        "listing": listing,
        "page_obj": page,
        "total": page.paginator.count,
        "query": query,
        "not_filed_query": urlencode({**listing.filters, "status": STATUS_NONE}),
        "sync_max": sync_max_rows(),
        "gaps": listing.filters.get("status") == STATUS_NONE,
        "needs_run": False,
    })
    if context["gaps"] and run is not None:
        coverage = coverage_table(Reader.of(request.user), run, scope)
        for row in coverage.rows:  # drill to the enterprises not filed there
            if row.get("link"):
                row["link"] = _url("enterprises", **{**listing.filters, "region": row["code"], "status": STATUS_NONE})
        context["coverage"] = coverage
        context["coverage_query"] = urlencode({k: v for k, v in {"region": scope.param, "period": run.period.code}.items() if v})
    return render(request, "insights/enterprises.html", context)


@login_required
@require_GET
def enterprise_export(request, fmt: str):
    """The filtered list as CSV or XLSX; longer than INSIGHTS_EXPORT_SYNC_MAX_ROWS: a
    background job (redirect to its page)."""
    _require_reader(request.user)
    if fmt not in FORMATS:
        raise Http404
    _scope(request)
    listing = enterprise_list(request.user, request.GET)
    total = listing.queryset.count()
    if total > sync_max_rows():
        job = export_job_create(user=request.user, params=listing.filters, file_format=fmt)
        return redirect("insights:export-job", pk=job.pk)
    # Streamed in constant memory: CSV chunk by chunk, XLSX from a temporary file.
    out = enterprise_file(queryset=listing.queryset, period=listing.period, file_format=fmt)
    filename = enterprise_filename(listing.period, fmt)
    if fmt == "csv":
        response = StreamingHttpResponse(out, content_type=CONTENT_TYPES[fmt])
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
    return FileResponse(out, as_attachment=True, filename=filename, content_type=CONTENT_TYPES[fmt])


@login_required
@require_GET
def export_job(request, pk: int):
    """A background export's progress (htmx polls the fragment) and, when done, its link."""
    _require_reader(request.user)
    job = get_object_or_404(export_jobs_visible_to(ExportJob.objects.all(), request.user), pk=pk)
    context = {"job": job}
    if request.headers.get("HX-Request") == "true":
        return render(request, "insights/_export_job_status.html", context)
    context["jobs"] = export_jobs_visible_to(ExportJob.objects.all(), request.user).exclude(pk=job.pk)[:5]
    return render(request, "insights/export_job.html", context)


@login_required
@require_GET
def export_download(request, pk: int):
    """The file of a finished export, to the user who asked for it only."""
    _require_reader(request.user)
    job = get_object_or_404(
        export_jobs_visible_to(ExportJob.objects.all(), request.user), pk=pk, status=ExportJobStatus.SUCCEEDED
    )
    if not job.file:
        raise Http404
    try:
        handle = job.file.open("rb")
    except OSError:
        raise Http404 from None
    return FileResponse(handle, as_attachment=True, filename=job.filename, content_type=CONTENT_TYPES[job.file_format])


@login_required
def run_status(request):
    """htmx fragment: progress of index runs being computed (polled while one is active).
    Loaded after the page, so the pages' own queries stay fixed."""
    _require_reader(request.user)
    active = list(
        IndexRun.objects.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).select_related("period").order_by("created_at")
    )
    return render(request, "insights/_run_status.html", {"active": active})
