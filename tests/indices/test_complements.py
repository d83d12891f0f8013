"""Complements chosen by cost, stable across runs and periods (issue 8, "better
complements"): docs/METHOD.md "互补隐藏的代价"."""

import pandas as pd
import pytest

from apps.indices import disclosure as dc
from apps.indices.aggregation import IndexParameters, compute_cells
from apps.indices.models import IndexCell
from tests.indices.population import build
from tests.indices.test_aggregation import cell
from tests.indices.test_disclosure import COLUMNS, DIMS, filings
from tests.indices.test_index_runs import inline_run


def provinces():
    """青海 (630000) 4 filings; 广东 (440000) 60 in two prefectures of two counties of 15;
    江苏 (320000) 65 = 南京 (320100: 31 + 31) + a prefecture of 3 (320200); 浙江 120."""
    rows = [("630101", "39", 60)] * 4
    rows += [("440101", "39", 70)] * 15 + [("440102", "39", 72)] * 15
    rows += [("440201", "39", 68)] * 15 + [("440202", "39", 66)] * 15
    rows += [("320101", "39", 55)] * 31 + [("320102", "39", 57)] * 31 + [("320201", "39", 50)] * 3
    rows += [("330101", "39", 55)] * 40 + [("330102", "39", 57)] * 40 + [("330201", "39", 50)] * 40
    scores = filings(rows)
    return scores, scores[COLUMNS]


def test_a_large_province_is_not_hidden_to_protect_a_small_one_when_a_cheaper_complement_exists():
    scores, registry = provinces()
    cells = compute_cells(scores, registry, IndexParameters(), DIMS)
    others = cells[(cells["kind"] == "province") & (cells["code"] != "630000")].sort_values("n")
    # the finding: 广东 is the smallest published province, so "smallest n first" hid it
    # (60 + a prefecture 30 + a county 15 + their province × division cells 60 + 30 = 195
    # filings lost for 青海, on top of 江苏's own complements)
    assert cell(cells, "province", "630000")["suppression_reason"] == "small_n"
    assert others["code"].tolist()[0] == "440000" and others["n"].tolist()[0] == 60
    # now: 广东 stays published; 江苏 is the complement — its prefectures must be hidden
    # anyway (320200 has 3 filings, 320100 is its complement), so hiding it forces nothing new
    assert cell(cells, "province", "440000")["suppressed"] is False
    assert cell(cells, "province", "320000")["suppression_reason"] == "secondary"
    assert not any(cells.loc[cells["code"].str.startswith("44"), "suppressed"])
    lost = int(cells.loc[cells["suppression_reason"] == "secondary", "n"].sum())
    assert lost == 65 + 62 + 31 + 65 + 62  # 285, against 350 with 广东 as the complement
    assert dc.derivable_cells(cells).empty and dc.linearly_derivable_cells(cells).empty
    assert cells.attrs["protection"]["unprotected"] == []


def test_complement_cost_counts_the_complements_a_cell_would_force():
    scores, registry = provinces()
    from apps.indices.aggregation import compute_statistics

    stats = compute_statistics(scores, registry, IndexParameters(), DIMS).reset_index(drop=True)
    n = stats["n"].to_numpy()
    hidden = (n > 0) & (n < 5)
    edges = dc.partition_table(stats)
    cost = dc.complement_cost(hidden, n, dc._code_order(stats), edges)
    at = {(k, c): i for i, (k, c) in enumerate(zip(stats["kind"], stats["code"], strict=True))}
    # 广东: itself 60 + the cheapest prefecture 30 + its province × division cell 60
    assert cost[at[("province", "440000")]] == 60 + 30 + 60
    # 江苏: itself 65 + its province × division cell 65 (its prefecture table already has
    # a hidden member, 320200)
    assert cost[at[("province", "320000")]] == 65 + 65
    # a cell hidden last period counts half its n
    weight = dc.previous_weight(stats, pd.DataFrame({"kind": ["province"], "code": ["440000"], "suppressed": [True]}))
    assert dc.complement_cost(hidden, n, dc._code_order(stats), edges, weight)[at[("province", "440000")]] == 30 + 30 + 60


def test_the_pattern_is_the_same_for_the_same_frame_and_follows_last_periods_complements():
    scores, registry = provinces()
    first = compute_cells(scores, registry, IndexParameters(), DIMS)
    again = compute_cells(scores.sample(frac=1, random_state=7), registry, IndexParameters(), DIMS)
    key = ["kind", "code"]
    pattern = first.loc[first["suppressed"], key].sort_values(key).to_numpy().tolist()
    assert pattern == again.loc[again["suppressed"], key].sort_values(key).to_numpy().tolist()
    # next period, 广东 was the complement last time: it costs half (30 + 30 + 60 = 120 <
    # 130 for 江苏) and is chosen again rather than moving the pattern to 江苏
    previous = pd.DataFrame({"kind": ["province"] * 2, "code": ["630000", "440000"], "n": [4, 60],
                             "mean": [60.0, 69.0], "rank": [None, None], "suppressed": [True, True],
                             "suppression_reason": ["small_n", "secondary"]})
    following = compute_cells(scores, registry, IndexParameters(), DIMS, previous_cells=previous)
    assert cell(following, "province", "440000")["suppression_reason"] == "secondary"
    assert dc.derivable_cells(following).empty and dc.linearly_derivable_cells(following).empty


@pytest.mark.django_db
def test_two_runs_of_one_period_record_the_same_pattern():
    _, p2026 = build(small_county=True)
    first, second = inline_run(p2026), inline_run(p2026)

    def pattern(run):
        return sorted(IndexCell.objects.filter(run=run, suppressed=True).values_list("kind", "code", "suppression_reason"))

    assert pattern(first) and pattern(first) == pattern(second)
    assert first.audit["protection"]["audited"] == second.audit["protection"]["audited"] >= 1
