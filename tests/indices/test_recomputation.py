"""An independent recomputation of every cell of a real run (issue 8, "done when": an
independent recomputation still matches every cell).

The run goes through the pipeline on PostgreSQL (plan, chunks, join, disclosure control,
COPY writes). The check below does not use the engine's code: plain Python over the
accepted filings' recorded codes, the enterprises' key-industry tags, the register and the
run's per-filing scores (which tests/indices/test_index_runs.py compares with the
enterprise reports' scores), with sorted lists for the quantiles and a loop for the sums.
Every cell of every kind, every statistic the public or an insider can be shown.
"""

import math

import pytest
from scipy import stats

from apps.enterprises.models import Enterprise
from apps.filings.models import Submission, SubmissionStatus
from apps.indices.models import IndexCell, RunScore
from apps.indices.services import index_run_publish
from tests.factories import key_industry
from tests.indices.population import build
from tests.indices.test_index_runs import inline_run

pytestmark = pytest.mark.django_db

FLOAT = 1e-9


def quantile(values: list[float], q: float) -> float:
    """Linear interpolation between the closest ranks (type 7, numpy's and pandas' default)."""
    h = (len(values) - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (h - lo) * (values[hi] - values[lo])


def keys_of(province, prefecture, county, division, size, tags) -> list[tuple[str, str]]:
    keys = [("nation", "CN"), ("province", province), ("prefecture", prefecture), ("county", county),
            ("division", division), ("size", size), ("province_division", f"{province}|{division}"),
            ("prefecture_division", f"{prefecture}|{division}")]
    return keys + [("key_industry", t) for t in tags]


def test_every_cell_of_a_run_equals_an_independent_recomputation():
    p2025, p2026 = build(n=90, seed=5)
    # key industries overlapping divisions: one enterprise in three tagged, some with both tags
    electronics, biomedicine = key_industry("electronics", "电子信息"), key_industry("biomedicine", "生物医药")
    for i, e in enumerate(Enterprise.objects.order_by("pk")):
        if i % 3 == 0:
            e.key_industries.add(electronics)
        if i % 7 == 0:
            e.key_industries.add(biomedicine)
    index_run_publish(run=inline_run(p2025), user=None)
    run = inline_run(p2026)
    params = run.parameters

    tags = {e.pk: sorted(e.key_industries.values_list("code", flat=True)) for e in Enterprise.objects.all()}
    scores = {s.submission_id: s for s in RunScore.objects.filter(run=run)}
    earlier = dict(RunScore.objects.filter(run__period=p2025, run__is_published=True)
                   .values_list("enterprise_id", "composite"))
    members: dict[tuple[str, str], list] = {}
    accepted = Submission.objects.filter(period=p2026, status=SubmissionStatus.ACCEPTED)
    for sub in accepted:
        score = scores[sub.pk]
        for key in keys_of(sub.province_code, sub.prefecture_code, sub.county_code, sub.division_code,
                           sub.size_class, tags[sub.enterprise_id]):
            members.setdefault(key, []).append((score.composite, score.level, earlier.get(sub.enterprise_id)))
    registered: dict[tuple[str, str], int] = {}
    for e in Enterprise.objects.all():
        for key in keys_of(e.province_code, e.prefecture_code, e.county_code, e.division_code, e.size_class, tags[e.pk]):
            registered[key] = registered.get(key, 0) + 1

    cells = {(c.kind, c.code): c for c in IndexCell.objects.filter(run=run)}
    assert set(cells) == set(registered), set(cells) ^ set(registered)
    assert len(cells) == 26 and accepted.count() == 81
    checked = panels = 0
    for key, cell in cells.items():
        rows = members.get(key, [])
        n = len(rows)
        assert (cell.n, cell.registered) == (n, registered[key]), key
        assert cell.coverage == pytest.approx(n / registered[key], abs=FLOAT), key
        if not n:
            assert cell.mean is None and cell.level_shares == [], key
            continue
        values = sorted(v for v, _, _ in rows)
        mean = sum(values) / n
        assert cell.mean == pytest.approx(mean, abs=FLOAT), key
        for name, q in (("p10", 0.1), ("p25", 0.25), ("median", 0.5), ("p75", 0.75), ("p90", 0.9)):
            assert getattr(cell, name) == pytest.approx(quantile(values, q), abs=FLOAT), (key, name)
        top = [v for v in values if v >= quantile(values, 0.9) - 1e-9]
        assert cell.benchmark == pytest.approx(sum(top) / len(top), abs=FLOAT), key
        levels = [sum(1 for _, lv, _ in rows if lv == k) / n for k in range(1, 6)]
        assert cell.level_shares == pytest.approx(levels, abs=FLOAT), key
        panel = [v - prev for v, _, prev in rows if prev is not None]
        assert cell.panel_n == len(panel), key
        # the balanced-panel change is withheld in the stored cell where the panel rule says
        # so (disclosure step 4: too few in the panel, or too few entering and leaving)
        if panel and cell.panel_change is not None:
            assert cell.panel_change == pytest.approx(sum(panel) / len(panel), abs=FLOAT), key
            panels += 1
        if n >= 2:
            std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
            assert cell.std == pytest.approx(std, abs=FLOAT), key
        else:
            assert cell.std is None, key
        if n >= max(params["interval_min_n"], 2):
            big = registered[key]
            fpc = math.sqrt((big - n) / (big - 1)) if big > n else 0.0
            half = stats.t.ppf(0.975, n - 1) * cell.std / math.sqrt(n) * fpc
            assert cell.ci_low == pytest.approx(min(max(mean - half, 0.0), 100.0), abs=1e-7), key
            assert cell.ci_high == pytest.approx(min(max(mean + half, 0.0), 100.0), abs=1e-7), key
        else:
            assert cell.ci_low is None and cell.ci_high is None, key
        checked += 1
    # every kind was checked, with cells large enough for intervals among them
    assert {k for k, _ in cells} == {"nation", "province", "prefecture", "county", "division", "size", "key_industry",
                                     "province_division", "prefecture_division"}
    assert checked == sum(1 for c in cells.values() if c.n) and cells[("nation", "CN")].ci_low is not None
    assert panels >= 10
