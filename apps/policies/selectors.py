"""Reading policies, targets and their progress for a user.

Progress values come from TargetProgress rows, which were computed through
``apps.insights.selectors.cells_for`` in two views; a reader gets the full view only where
``apps.accounts.policy_rules.sees_full_cell`` says cells_for would show it the values."""

from __future__ import annotations

from dataclasses import dataclass, field

from apps.accounts.policy_rules import policies_visible_q, regions_covered_q, sees_full_cell
from apps.insights.selectors import Reader

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


def dashboard_tracks(user) -> list[TargetTrack]:
    """dashboard_targets with progress, off-track targets first."""
    tracks = tracks_for(user, dashboard_targets(user))
    return sorted(tracks, key=lambda tr: (STATUS_ORDER.get(tr.status, 9), tr.target.measure.policy.title, tr.target.pk))
