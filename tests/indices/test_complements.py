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
    cells = compute_cells(scores, registry, IndexParameters(complement_method="heuristic"), DIMS)
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


def test_the_optimal_choice_hides_fewer_contributors_than_the_heuristic():
    """docs/METHOD.md "互补隐藏：最优选择", worked example: the same frame as above. The
    heuristic hides 江苏 65, 南京 62, a county of 南京 31 and their province × division
    and prefecture × division cells 65 + 62: 285 filings. The 0/1 program sees that 江苏's
    small prefecture 320200 (3 filings, hidden anyway) already pairs with 江苏 in its
    prefecture partition: hiding 江苏 and its province × division cell, 65 + 65 = 130,
    protects 青海 — 155 filings fewer, and the linear and interval audits still pass."""
    scores, registry = provinces()
    cells = compute_cells(scores, registry, IndexParameters(), DIMS)
    secondary = cells.loc[cells["suppression_reason"] == "secondary"]
    assert sorted(zip(secondary["kind"], secondary["code"], secondary["n"], strict=True)) == [
        ("province", "320000", 65), ("province_division", "320000|39", 65)]
    report = cells.attrs["complements"]
    assert report["method"] == "milp" and report["secondary_contributors"] == 130 and report["secondary_cells"] == 2
    assert report["solved"] == {"optimal": 1} and report["objective"] == 130
    assert not any(cells.loc[cells["code"].str.startswith("44"), "suppressed"])
    assert dc.derivable_cells(cells).empty and dc.linearly_derivable_cells(cells).empty
    assert cells.attrs["protection"]["unprotected"] == []


def test_a_block_above_the_size_limit_is_left_to_the_heuristic():
    scores, registry = provinces()
    cells = compute_cells(scores, registry, IndexParameters(milp_max_cells=10), DIMS)
    heuristic = compute_cells(scores, registry, IndexParameters(complement_method="heuristic"), DIMS)
    report = cells.attrs["complements"]
    assert [(b["status"], b["why"]) for b in report["blocks"]] == [("heuristic", "too_large")]
    assert cells["suppression_reason"].tolist() == heuristic["suppression_reason"].tolist()
    assert report["secondary_contributors"] == 285


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
    heuristic = IndexParameters(complement_method="heuristic")
    following = compute_cells(scores, registry, heuristic, DIMS, previous_cells=previous)
    assert cell(following, "province", "440000")["suppression_reason"] == "secondary"
    assert dc.derivable_cells(following).empty and dc.linearly_derivable_cells(following).empty
    # the 0/1 program counts what each choice really forces: 江苏 must pair with its
    # prefecture 320200 (3 filings) anyway, so it stays the complement (130 < 97.5 + 130)
    optimal = compute_cells(scores, registry, IndexParameters(), DIMS, previous_cells=previous)
    assert cell(optimal, "province", "440000")["suppressed"] is False
    assert cell(optimal, "province", "320000")["suppression_reason"] == "secondary"


def test_the_optimal_choice_keeps_last_periods_complement_among_equals():
    """Counties of 2, 12, 12 and 15 filings in one prefecture: either county of 12 protects
    the county of 2; ties go to the smaller code (310102). Hidden last period (as a
    complement: at n 12 ≥ 2 × 5 the stability rule does not hold it), 310103 costs 6 and
    stays the complement."""
    from tests.indices.test_disclosure import filings as make

    rows = [("310101", "39", 50)] * 2 + [("310102", "39", 60)] * 12 + [("310103", "39", 70)] * 12
    rows += [("310104", "39", 80)] * 15
    scores = make(rows)

    def secondary(previous=None):
        cells = compute_cells(scores, scores[COLUMNS], IndexParameters(), DIMS, previous_cells=previous)
        assert dc.derivable_cells(cells).empty and dc.linearly_derivable_cells(cells).empty
        return sorted(cells.loc[(cells["kind"] == "county") & (cells["suppression_reason"] == "secondary"), "code"])

    assert secondary() == ["310102"]
    previous = pd.DataFrame({"kind": ["county", "county"], "code": ["310101", "310103"], "n": [2, 12],
                             "mean": [50.0, 70.0], "rank": [None, None],
                             "suppressed": [True, True], "suppression_reason": ["small_n", "secondary"]})
    assert secondary(previous) == ["310103"]


@pytest.mark.django_db
def test_two_runs_of_one_period_record_the_same_pattern():
    _, p2026 = build(small_county=True)
    first, second = inline_run(p2026), inline_run(p2026)

    def pattern(run):
        return sorted(IndexCell.objects.filter(run=run, suppressed=True).values_list("kind", "code", "suppression_reason"))

    assert pattern(first) and pattern(first) == pattern(second)
    assert first.audit["protection"]["audited"] == second.audit["protection"]["audited"] >= 1
