"""Targets' progress from published runs, against figures worked out by hand
(docs/METHOD.md, 政策目标进展)."""

import datetime

import numpy as np
import pandas as pd
import pytest
from django.core.exceptions import ValidationError

from apps.accounts.models import Role
from apps.policies import progress
from apps.policies.models import Metric, ProgressStatus, ProgressView, TargetProgress
from apps.policies.selectors import tracks_for
from apps.policies.services import target_create, target_progress_recompute
from tests.factories import UserFactory, authority_user, prefecture
from tests.policies.builders import measure, periods, policy, publish_cells, reference

pytestmark = pytest.mark.django_db

LEVELS = {  # province 320000, shares of levels 1..5 → share at level ≥ 3
    2024: [0.3, 0.5, 0.1, 0.05, 0.05],   # 20 %
    2025: [0.25, 0.5, 0.15, 0.05, 0.05],  # 25 %
    2026: [0.2, 0.5, 0.15, 0.1, 0.05],   # 30 %
}
NATION_MEAN = {2024: 50.0, 2025: 55.0, 2026: 57.0}
COVERAGE_39 = {2024: 0.6, 2025: 0.7, 2026: 0.82}
MEDIAN_BIO = {2024: 52.0, 2025: 56.0, 2026: 61.0}


@pytest.fixture
def world():
    reference()
    ps = periods()
    for y, p in ps.items():
        publish_cells(p, [
            dict(kind="nation", code="CN", parent_code="", n=200, mean=NATION_MEAN[y], median=NATION_MEAN[y] + 1),
            dict(kind="province", code="320000", n=80, mean=60.0, level_shares=LEVELS[y]),
            dict(kind="division", code="39", n=40, mean=58.0, coverage=COVERAGE_39[y]),
            dict(kind="key_industry", code="biomedicine", n=30, mean=59.0, median=MEDIAN_BIO[y]),
            # 苏州: published in 2024 and 2025, suppressed (too few filings) in 2026
            dict(kind="prefecture", code="320500", parent_code="320000", n=12 if y < 2026 else 3,
                 mean={2024: 62.0, 2025: 66.0, 2026: 70.0}[y],
                 suppressed=y == 2026, suppression_reason="small_n" if y == 2026 else ""),
        ])
    pol = policy()
    m = measure(pol)
    base = ps[2024]
    targets = {
        "mean": target_create(measure=m, metric=Metric.MEAN, cell_kind="nation", cell_code="CN", baseline_period=base,
                              target_year=2028, value=65),
        "share": target_create(measure=m, metric=Metric.LEVEL_SHARE, level_min=3, cell_kind="province",
                               cell_code="320000", baseline_period=base, target_year=2027, value=40),
        "coverage": target_create(measure=m, metric=Metric.COVERAGE, cell_kind="division", cell_code="39",
                                  baseline_period=base, target_year=2026, value=80),
        "median": target_create(measure=m, metric=Metric.MEDIAN, cell_kind="key_industry", cell_code="biomedicine",
                                baseline_period=base, target_year=2027, value=60),
        "suzhou": target_create(measure=m, metric=Metric.MEAN, cell_kind="prefecture", cell_code="320500",
                                baseline_period=base, target_year=2027, value=75),
    }
    target_progress_recompute()
    return ps, targets


def rows(target, view=ProgressView.FULL):
    return {round(r.period_year): r for r in TargetProgress.objects.filter(target=target, view=view)}


def test_mean_target_on_national_cell_with_projection(world):
    _, t = world
    r = rows(t["mean"])
    assert [r[y].actual for y in (2024, 2025, 2026)] == [50.0, 55.0, 57.0]
    # trajectory 50 → 65 over 2024..2028: expected 57.5 in 2026; 57 is behind it
    assert r[2026].baseline == 50.0 and r[2026].expected == pytest.approx(57.5)
    # OLS on (2024, 50) (2025, 55) (2026, 57): slope 3.5, 54 at 2025 → 64.5 at 2028;
    # residuals −0.5, 1, −0.5 → s² = 1.5 / 1; se = s·√(1 + 1/3 + 9/2); t(0.975, 1) = 12.7062
    se = np.sqrt(1.5) * np.sqrt(1 + 1 / 3 + 9 / 2)
    assert r[2026].projection == pytest.approx(64.5)
    assert r[2026].projection_high == pytest.approx(64.5 + 12.7062047 * se, rel=1e-6)
    assert r[2026].projection_low == pytest.approx(64.5 - 12.7062047 * se, rel=1e-6)
    assert r[2026].projection_points == 3
    # behind the trajectory, but 65 lies inside the prediction interval → at risk
    assert r[2026].status == ProgressStatus.AT_RISK
    # as of 2025: two points only → no projection; 55 ≥ expected 53.75 → on track
    assert r[2025].projection is None and r[2025].projection_points == 0
    assert r[2025].expected == pytest.approx(53.75) and r[2025].status == ProgressStatus.ON_TRACK
    assert r[2024].status == ProgressStatus.ON_TRACK  # at the baseline, A = B = E


def test_level_share_target_on_province_reads_level_shares(world):
    _, t = world
    r = rows(t["share"])
    assert [r[y].actual for y in (2024, 2025, 2026)] == [pytest.approx(20), pytest.approx(25), pytest.approx(30)]
    # expected 20 + 20 × 2/3 = 33.33 in 2026; exact line 20, 25, 30 → 35 in 2027 with s = 0,
    # so even the favourable end of the interval misses 40 → off track
    assert r[2026].expected == pytest.approx(20 + 20 * 2 / 3)
    assert r[2026].projection == pytest.approx(35) and r[2026].projection_high == pytest.approx(35)
    assert r[2026].status == ProgressStatus.OFF_TRACK


def test_coverage_target_on_division_achieved_when_due(world):
    _, t = world
    r = rows(t["coverage"])
    assert r[2026].actual == pytest.approx(82)
    assert r[2025].expected == pytest.approx(70) and r[2025].status == ProgressStatus.ON_TRACK
    assert r[2026].status == ProgressStatus.ACHIEVED


def test_median_target_on_key_industry(world):
    _, t = world
    r = rows(t["median"])
    assert r[2026].actual == 61.0 and r[2026].status == ProgressStatus.ON_TRACK  # already meets 60
    # the public sees the same median: 30 filings leave more than 5 on each side
    assert rows(t["median"], ProgressView.PUBLIC)[2026].actual == 61.0


def test_suppressed_target_cell_is_never_shown_publicly(world, client):
    _, t = world
    public = rows(t["suzhou"], ProgressView.PUBLIC)
    assert public[2026].actual is None and public[2026].hidden and public[2026].hidden_reason == "not_published"  # one public reason, no detail
    assert public[2026].status == ProgressStatus.NOT_ASSESSED
    assert public[2026].projection is None  # two readable points only
    assert public[2025].actual == 66.0
    full = rows(t["suzhou"])
    assert full[2026].actual == 70.0 and not full[2026].hidden
    # who reads which view
    suzhou_authority = authority_user(prefecture(("320500", "苏州市")))
    nanjing_authority = authority_user(prefecture(("320100", "南京市")))
    ministry = UserFactory(role=Role.MINISTRY)
    target = t["suzhou"]
    assert tracks_for(suzhou_authority, [target])[0].latest.actual == 70.0
    assert tracks_for(ministry, [target])[0].latest.actual == 70.0
    assert tracks_for(nanjing_authority, [target])[0].latest.actual is None
    assert tracks_for(None, [target])[0].latest.hidden


def test_rollback_recomputes_from_the_published_runs(world):
    ps, t = world
    from apps.indices.services import index_run_publish
    from tests.policies.builders import publish_cells as publish

    first = TargetProgress.objects.get(target=t["mean"], view="full", period_year=2026.0).run
    # a corrected run for 2026 moves the national mean; then the old one is published again
    publish(ps[2026], [dict(kind="nation", code="CN", parent_code="", n=200, mean=59.0)])
    target_progress_recompute()
    assert rows(t["mean"])[2026].actual == 59.0
    index_run_publish(run=first, user=None)
    target_progress_recompute()
    assert rows(t["mean"])[2026].actual == 57.0


@pytest.mark.parametrize(
    "kw, field",
    [
        (dict(metric="p95", cell_kind="nation", cell_code="CN"), "metric"),
        (dict(metric="mean", cell_kind="province", cell_code="990000"), "cell_code"),
        (dict(metric="mean", cell_kind="prefecture", cell_code="320000"), "cell_code"),  # a province, not a prefecture
        (dict(metric="coverage", cell_kind="province_division", cell_code="320000|99"), "cell_code"),
        (dict(metric="level_share", cell_kind="nation", cell_code="CN"), "level_min"),
        (dict(metric="mean", cell_kind="galaxy", cell_code="CN"), "cell_kind"),
    ],
)
def test_target_on_missing_metric_or_cell_is_refused_with_a_message(world, kw, field):
    ps, _ = world
    m = measure(policy(title="另一政策", doc="苏工信〔2025〕1号", body="江苏省工信厅"))
    with pytest.raises(ValidationError) as info:
        target_create(measure=m, baseline_period=ps[2024], target_year=2027, value=50, **kw)
    assert field in info.value.message_dict
    assert any("不存在" in msg or "等级" in msg for msg in info.value.message_dict[field])


def test_province_division_target_accepted():
    reference()
    ps = periods((2025,))
    m = measure(policy())
    t = target_create(measure=m, metric="coverage", cell_kind="province_division", cell_code="320000|39",
                      baseline_period=ps[2025], target_year=2027, value=80)
    assert t.pk and t.region_code == "320000"


def test_progress_rules_without_projection_half_way():
    targets = pd.DataFrame([
        dict(target_id=1, comparison="gte", value=80.0, target_year=2028, baseline_t=2024.0),
        dict(target_id=2, comparison="gte", value=80.0, target_year=2028, baseline_t=2024.0),
        dict(target_id=3, comparison="lte", value=10.0, target_year=2028, baseline_t=2024.0),
    ])
    points = pd.DataFrame([
        # expected at 2026: 60 + 20 × 0.5 = 70. 66 has covered 6/10 ≥ half → at risk
        dict(target_id=1, run_id=1, t=2024.0, actual=60.0, hidden=False, hidden_reason=""),
        dict(target_id=1, run_id=2, t=2026.0, actual=66.0, hidden=False, hidden_reason=""),
        # 64 has covered 4/10 < half → off track
        dict(target_id=2, run_id=1, t=2024.0, actual=60.0, hidden=False, hidden_reason=""),
        dict(target_id=2, run_id=2, t=2026.0, actual=64.0, hidden=False, hidden_reason=""),
        # "不高于 10": 30 → 20 is exactly on the trajectory (expected 20) → on track
        dict(target_id=3, run_id=1, t=2024.0, actual=30.0, hidden=False, hidden_reason=""),
        dict(target_id=3, run_id=2, t=2026.0, actual=20.0, hidden=False, hidden_reason=""),
    ])
    out = progress.progress_table(targets, points).set_index(["target_id", "t"])
    assert out.loc[(1, 2026.0), "status"] == progress.AT_RISK
    assert out.loc[(2, 2026.0), "status"] == progress.OFF_TRACK
    assert out.loc[(3, 2026.0), "status"] == progress.ON_TRACK
    assert out.loc[(3, 2026.0), "expected"] == pytest.approx(20.0)
    assert np.isnan(out.loc[(1, 2026.0), "projection"])


def test_decimal_year():
    assert progress.decimal_year(datetime.date(2026, 1, 1)) == 2026.0
