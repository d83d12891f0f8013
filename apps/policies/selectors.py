"""Reading policies, targets and their progress for a user.

Progress values come from TargetProgress rows, which were computed through
``apps.indices.readers.cells_for`` in two views; a reader gets the full view only where
``apps.accounts.policy_rules.sees_full_cell`` says cells_for would show it the values."""

from __future__ import annotations

from dataclasses import dataclass, field

from apps.accounts.policy_rules import policies_visible_q, regions_covered_q, sees_full_cell
from apps.core.lookups import json_list_has
from apps.indices.readers import Reader

from .models import Policy, ProgressStatus, ProgressView, Target, TargetProgress

# What ministry staff read: every cell unsuppressed (used to compute the full view).
FULL_READER = Reader(everything=True, covers=lambda code: True)

STATUS_ORDER = {
    ProgressStatus.OFF_TRACK: 0, ProgressStatus.AT_RISK: 1, ProgressStatus.NOT_ASSESSED: 2,
    ProgressStatus.ON_TRACK: 3, ProgressStatus.ACHIEVED: 4,
}


def policies_for(user):
    """Policies ``user`` may read."""
    return Policy.objects.filter(policies_visible_q(user)).select_related("region", "superseded_by").distinct()


def view_for(user, target: Target) -> str:
    return ProgressView.FULL if sees_full_cell(user, target.cell_kind, target.cell_code) else ProgressView.PUBLIC


@dataclass
class TargetTrack:
    """A target with its progress series (oldest period first) in the view the reader gets."""

    target: Target
    view: str
    series: list[TargetProgress] = field(default_factory=list)
    cell_name: str = ""

    @property
    def latest(self) -> TargetProgress | None:
        return self.series[-1] if self.series else None

    @property
    def status(self) -> str:
        return self.latest.status if self.latest else ProgressStatus.NOT_ASSESSED

    @property
    def status_label(self) -> str:
        return ProgressStatus(self.status).label

    def chart(self) -> dict:
        """Data of the actual / trajectory / target chart (for json_script)."""
        t = self.target
        return {
            "id": t.pk,
            "years": [round(p.period_year, 2) for p in self.series],
            "actual": [p.actual for p in self.series],
            "hidden": [p.hidden for p in self.series],
            "expected": [p.expected for p in self.series],
            "target_year": t.target_year,
            "target": t.value,
            "projection": self.latest.projection if self.latest else None,
            "projection_low": self.latest.projection_low if self.latest else None,
            "projection_high": self.latest.projection_high if self.latest else None,
        }


def tracks_for(user, targets) -> list[TargetTrack]:
    """Each target with its progress series in the view ``user`` reads. Two queries."""
    targets = list(targets)
    views = {t.pk: view_for(user, t) for t in targets}
    rows = TargetProgress.objects.filter(target__in=targets).order_by("period_year")
    tracks = {t.pk: TargetTrack(target=t, view=views[t.pk]) for t in targets}
    for row in rows:
        if row.view == views[row.target_id]:
            tracks[row.target_id].series.append(row)
    return [tracks[t.pk] for t in targets]


def dashboard_targets(user):
    """Targets for an authority's tracking dashboard: targets of policies it may read whose
    cell lies in its jurisdiction or whose policy's region does (all for ministry staff)."""
    from django.db.models import Q

    from apps.accounts.policy_rules import policy_region_q

    qs = Target.objects.filter(policies_visible_q(user, "measure__policy"))
    qs = qs.filter(regions_covered_q(user, "cell_code") | policy_region_q(user, "measure__policy"))
    return qs.select_related("measure__policy", "baseline_period").filter(~Q(cell_code=""))


def dashboard_tracks(user, region_code: str | None = None) -> list[TargetTrack]:
    """dashboard_targets with progress, off-track targets first; with ``region_code`` (a
    region inside the user's jurisdiction — the caller checks) only targets on cells of that
    region and below, or of policies of that region."""
    from django.db.models import Q

    targets = dashboard_targets(user)
    if region_code:
        if region_code.endswith("0000"):
            prefix = region_code[:2]
        elif region_code.endswith("00"):
            prefix = region_code[:4]
        else:
            prefix = region_code
        targets = targets.filter(Q(cell_code__startswith=prefix) | Q(measure__policy__region__code=region_code))
    tracks = tracks_for(user, targets)
    return sorted(tracks, key=lambda tr: (STATUS_ORDER.get(tr.status, 9), tr.target.measure.policy.title, tr.target.pk))


# --- list, page, reach ----------------------------------------------------------------------

MIN_PUBLIC_COUNT = 5  # the index engine's default minimum cell size: no public count below it


def policy_search(qs, params):
    """Filter policies by ``params`` (a QueryDict): region, level, status, instrument,
    industry (key industry code), dimension (framework dimension code), year, q.

    ``q``: PostgreSQL full-text search (SearchVector over title and text, 'simple'
    configuration) OR a substring match — PostgreSQL's parsers do not segment Chinese, so
    Chinese words are found by the substring, Latin words and numbers also by the index
    search. On SQLite only the substring match."""
    from django.db import connection
    from django.db.models import Q

    if params.get("region"):
        code = params["region"].strip()
        qs = qs.filter(Q(region__code=code) | Q(region__province_code=code) | Q(region__prefecture_code=code))
    for name in ("level", "status", "instrument"):
        if params.get(name):
            qs = qs.filter(**{name: params[name]})
    if params.get("industry"):
        qs = qs.filter(key_industries__code=params["industry"])
    if params.get("dimension"):
        qs = qs.filter(json_list_has("dimensions", params["dimension"].strip()))
    year = str(params.get("year") or "")
    if year.isascii() and year.isdigit() and len(year) == 4:  # a year, not a number too large for a date
        qs = qs.filter(issued_on__year=int(year))
    q = (params.get("q") or "").strip()
    if q:
        substring = Q(title__icontains=q) | Q(text__icontains=q) | Q(doc_number__icontains=q)
        if connection.vendor == "postgresql":
            from django.contrib.postgres.search import SearchQuery, SearchVector

            qs = qs.annotate(search=SearchVector("title", "text", config="simple"))
            qs = qs.filter(Q(search=SearchQuery(q, config="simple")) | substring)
        else:
            qs = qs.filter(substring)
    return qs.distinct()


@dataclass
class Reach:
    """Whom a policy's measures touched, as ``user`` may know it."""

    total: int | None  # None: below the minimum, not shown
    regions: list[tuple[str, str, int]]  # (code, name, count), counts below the minimum left out
    enterprises: list  # the user's own jurisdiction only; [] for the public


def policy_reach(user, policy) -> Reach:
    """Regions and enterprises a policy touched: an authority sees the enterprises of its
    jurisdiction; everyone sees counts per province, none below MIN_PUBLIC_COUNT."""
    from django.db.models import Count

    from apps.accounts.policy_rules import can_see_support_records
    from apps.reference.models import Region

    from .models import SupportRecord

    records = SupportRecord.objects.filter(measure__policy=policy)
    per_province = dict(records.values_list("enterprise__province_code").annotate(n=Count("enterprise", distinct=True)))
    names = dict(Region.objects.filter(code__in=per_province).values_list("code", "name"))
    regions = sorted(((c, names.get(c, c), n) for c, n in per_province.items() if n >= MIN_PUBLIC_COUNT),
                     key=lambda r: (-r[2], r[0]))
    total = records.values("enterprise").distinct().count()
    enterprises = []
    if can_see_support_records(user):
        from apps.enterprises.models import Enterprise

        enterprises = list(Enterprise.objects.visible_to(user).filter(support_records__measure__policy=policy)
                           .distinct().order_by("name")[:200])
    return Reach(total=total if total >= MIN_PUBLIC_COUNT else None, regions=regions, enterprises=enterprises)


def cell_names(targets) -> dict[int, str]:
    """{target id: display name of its cell} (region, division, key industry, size; "全国")."""
    from django.utils.translation import gettext as _

    from apps.reference.models import Industry, KeyIndustry, Region
    from apps.reference.size import SizeClass

    targets = list(targets)
    parts = {p for t in targets for p in t.cell_code.split("|")}
    names = dict(Region.objects.filter(code__in=parts).values_list("code", "name"))
    names.update(Industry.objects.filter(code__in=parts).values_list("code", "name"))
    names.update(KeyIndustry.objects.filter(code__in=parts).values_list("code", "name"))
    names.update({k: str(v) for k, v in SizeClass.choices})
    names["CN"] = _("全国")
    return {t.pk: " · ".join(names.get(p, p) for p in t.cell_code.split("|")) for t in targets}


@dataclass
class ChangeEntry:
    when: object
    who: str
    what: str  # the record changed: 政策 / 措施 … / 目标 …
    action: str
    changes: list[tuple[str, object, object]]


def policy_change_log(policy) -> list[ChangeEntry]:
    """Every change of the policy, its measures and their targets (who, what, when), newest
    first, from django-simple-history; each entry lists the fields that changed."""
    from django.utils.translation import gettext as _

    from .models import Measure, Target

    actions = {"+": _("新增"), "~": _("修改"), "-": _("删除")}
    measure_ids = set(Measure.history.filter(policy_id=policy.pk).values_list("id", flat=True))
    groups = [
        (str(Policy._meta.verbose_name), policy.history.all()),
        (str(Measure._meta.verbose_name), Measure.history.filter(policy_id=policy.pk)),
        (str(Target._meta.verbose_name), Target.history.filter(measure_id__in=measure_ids)),
    ]
    entries = []
    for label, qs in groups:
        by_object: dict = {}
        for record in qs.select_related("history_user").order_by("history_date", "history_id"):
            by_object.setdefault(record.id, []).append(record)
        for object_id, records in by_object.items():
            previous = None
            for record in records:
                changes = []
                if previous is not None:
                    for change in record.diff_against(previous).changes:
                        field = record.instance_type._meta.get_field(change.field)
                        changes.append((str(field.verbose_name), change.old, change.new))
                user = record.history_user
                who = (user.get_full_name() or user.username) if user else _("系统")
                entries.append(ChangeEntry(when=record.history_date, who=who, what=f"{label} #{object_id}",
                                           action=actions.get(record.history_type, record.history_type), changes=changes))
                previous = record
    return sorted(entries, key=lambda e: e.when, reverse=True)


def framework_dimensions() -> list[tuple[str, str]]:
    """(code, name) of the dimensions of the most recently published framework, for the
    policy filters and the check of a policy's dimensions."""
    from apps.frameworks.models import Dimension, Framework, FrameworkStatus

    framework = Framework.objects.filter(status=FrameworkStatus.PUBLISHED).order_by("-published_at").first()
    if framework is None:
        return []
    return list(Dimension.objects.filter(framework=framework).order_by("code").values_list("code", "name"))
