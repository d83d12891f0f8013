"""Disclosure control (apps.indices.disclosure): pure functions, no database.

Each protection is shown twice where it matters: the attack works without it, and finds
nothing with it.
"""

import numpy as np
import pandas as pd
import pytest

from apps.indices import disclosure as dc
from apps.indices.aggregation import IndexParameters, compute_cells, compute_statistics
from tests.indices.test_aggregation import DIMS, cell, hand_registry, hand_scores

COLUMNS = ["enterprise_id", "province", "prefecture", "county", "division", "size_class", "key_industries"]


def filings(rows, start_id=1) -> pd.DataFrame:
    """Scores from (county, division, composite[, revenue]) tuples; the prefecture is the
    first 4 digits of the county + "00", the province the first 2 + "0000"."""
    records = []
    for i, row in enumerate(rows):
        county, division, composite = row[:3]
        revenue = row[3] if len(row) > 3 else 100.0
        records.append(
            {
                "enterprise_id": start_id + i,
                "province": county[:2] + "0000",
                "prefecture": county[:4] + "00",
                "county": county,
                "division": division,
                "size_class": "small",
                "key_industries": (),
                "composite": float(composite),
                "level": int(composite // 20 + 1),
                "D1": float(composite),
                "D2": float(composite),
                "revenue": float(revenue),
            }
        )
    return pd.DataFrame(records)


def random_population(seed: int, n: int):
    """A synthetic region tree (3–5 provinces, 2–4 prefectures each, 2–5 counties each),
    6 divisions, skewed sizes of regions and divisions, key-industry tags, revenue."""
    rng = np.random.default_rng(seed)
    counties = []
    for p in range(rng.integers(3, 6)):
        for f in range(rng.integers(2, 5)):
            for c in range(rng.integers(2, 6)):
                counties.append(f"{31 + p:02d}{1 + f:02d}{1 + c:02d}")
    counties = np.array(counties)
    county_w = rng.lognormal(0, 1.3, len(counties))
    divisions = np.array(["13", "17", "26", "27", "35", "39"])
    division_w = rng.lognormal(0, 1.0, len(divisions))
    n_registry = int(n * 1.4)
    c = counties[rng.choice(len(counties), n_registry, p=county_w / county_w.sum())]
    d = divisions[rng.choice(len(divisions), n_registry, p=division_w / division_w.sum())]
    tags = np.array([(), (), (), ("biomedicine",), ("electronics",), ("biomedicine", "new_materials")], dtype=object)
    registry = pd.DataFrame(
        {
            "enterprise_id": np.arange(n_registry),
            "province": [x[:2] + "0000" for x in c],
            "prefecture": [x[:4] + "00" for x in c],
            "county": c,
            "division": d,
            "size_class": rng.choice(["large", "medium", "small", "micro"], n_registry, p=[0.05, 0.15, 0.4, 0.4]),
            "key_industries": tags[rng.integers(0, len(tags), n_registry)],
        }
    )
    scores = registry.iloc[np.sort(rng.choice(n_registry, n, replace=False))].reset_index(drop=True)
    composite = np.clip(rng.normal(58, 16, n), 0, 100)
    scores = scores.assign(
        composite=composite,
        level=np.clip(composite // 20 + 1, 1, 5).astype(int),
        D1=np.clip(composite + rng.normal(0, 5, n), 0, 100),
        D2=np.clip(composite + rng.normal(0, 5, n), 0, 100),
        revenue=rng.lognormal(7, 2.2, n),
    )
    previous = scores.sample(frac=0.7, random_state=seed)[["enterprise_id"]].assign(
        composite=rng.uniform(20, 90, int(round(n * 0.7)))
    )
    return scores, registry, previous


def cell_sums(frame: pd.DataFrame) -> pd.Series:
    """Σ composite of each cell as an attacker reads it (mean × n), NaN where hidden."""
    mean = pd.to_numeric(frame["mean"], errors="coerce").fillna(0.0)
    n = pd.to_numeric(frame["n"], errors="coerce")
    return mean * n


def subtraction_attack(view: pd.DataFrame) -> dict[int, float]:
    """Every partition with a published parent and exactly one hidden child: the child's
    sum = parent − Σ published children. Returns {row: recovered sum}."""
    view = view.reset_index(drop=True)
    edges = dc.partition_table(view)
    sums = cell_sums(view).to_numpy()
    hidden = view["suppressed"].astype(bool).to_numpy()
    recovered = {}
    for _, group in edges.groupby("partition"):
        parent = int(group["parent"].iloc[0])
        children = group["child"].to_numpy()
        if hidden[parent]:
            continue
        unknown = children[hidden[children]]
        if len(unknown) == 1:
            known = children[~hidden[children]]
            recovered[int(unknown[0])] = sums[parent] - np.nansum(sums[known])
    return recovered


# --- primary suppression --------------------------------------------------------------------


def test_reason_labels():
    assert dc.REASON_LABELS == {
        "small_n": "样本不足",
        "dominance": "集中度过高",
        "secondary": "为防推算而隐藏",
        "stability": "保持与上期一致",
        "no_data": "无填报",
        "overlap": "重叠分组差值过小",
        "not_published": "不公开",
    }


def test_primary_suppression_of_small_cells():
    cells = compute_cells(hand_scores(), hand_registry(), IndexParameters(), DIMS)  # min_cell_size 5
    assert cell(cells, "nation", "CN")["suppressed"] is False
    for kind, code in [("province", "330000"), ("county", "320103"), ("county", "320205"), ("size", "large")]:
        c = cell(cells, kind, code)  # n = 4, 2, 3, 2
        assert c["suppressed"] is True and c["suppression_reason"] == "small_n", (kind, code)
    empty = cell(cells, "county", "330108")  # nothing filed: nothing to hide, published as a gap
    assert empty["suppressed"] is False and empty["suppression_reason"] == "no_data"
    # Key industries: primary suppression only (no partition), here 5 filings → published.
    assert cell(cells, "key_industry", "biomedicine")["suppressed"] is False
    assert cell(cells, "key_industry", "electronics")["suppression_reason"] == "small_n"
    # 320000 (n = 8) would be the nation minus 330000: hidden as its complement, and neither
    # province is ranked.
    assert cell(cells, "province", "320000")["suppression_reason"] == "secondary"
    assert cell(cells, "province", "320000")["rank"] is None and cell(cells, "province", "320000")["siblings"] == 0
    # Divisions: 39 (n = 7) and 27 (n = 5) are published and ranked.
    assert cell(cells, "division", "39")["rank"] == 1 and cell(cells, "division", "27")["rank"] == 2


def test_secondary_suppression_hides_the_smallest_sibling():
    # One province, one prefecture (310100), four counties with 2, 6, 6 and 9 filings.
    rows = (
        [("310101", "39", 50)] * 2
        + [("310102", "39", 60)] * 6
        + [("310103", "39", 70)] * 6
        + [("310104", "39", 80)] * 9
    )
    scores = filings(rows)
    registry = scores[COLUMNS]
    params = IndexParameters()

    # Primary suppression alone lets the attacker subtract: 310101 = 310100 − the others.
    stats = compute_statistics(scores, registry, params, DIMS)
    primary = stats.assign(suppressed=dc.primary_suppression(stats, params) == "small_n")
    primary["suppression_reason"] = np.where(primary["suppressed"], "small_n", "")
    recovered = subtraction_attack(primary)
    row = int(primary.index[(primary["kind"] == "county") & (primary["code"] == "310101")][0])
    assert recovered[row] == pytest.approx(2 * 50)  # the two enterprises' total, exactly
    assert set(dc.derivable_cells(primary)["code"]) == {"310101"}

    cells = compute_cells(scores, registry, params, DIMS)
    reasons = {c: cell(cells, "county", c)["suppression_reason"] for c in ("310101", "310102", "310103", "310104")}
    # 310102 and 310103 both have 6: the tie goes to the smaller code.
    assert reasons == {"310101": "small_n", "310102": "secondary", "310103": "", "310104": ""}
    assert dc.derivable_cells(cells).empty and not subtraction_attack(dc.public_view(cells))
    assert dc.linearly_derivable_cells(dc.public_view(cells)).empty


def test_a_suppressed_parent_is_not_left_as_the_sum_of_published_children():
    # Prefecture 310100 (counties 310101: 4, 310102: 4) was suppressed last period and stays
    # suppressed (n = 8 < 3 × 3); published counties would add up to it.
    rows = [("310101", "39", 50)] * 4 + [("310102", "39", 70)] * 4 + [("310201", "39", 60)] * 12
    scores = filings(rows)
    params = IndexParameters(min_cell_size=3, stability_factor=3)
    previous_cells = pd.DataFrame(
        {"kind": ["prefecture"], "code": ["310100"], "mean": [55.0], "rank": [None], "suppressed": [True]}
    )
    cells = compute_cells(scores, scores[COLUMNS], params, DIMS, previous_cells=previous_cells)
    assert cell(cells, "prefecture", "310100")["suppression_reason"] == "stability"
    hidden_counties = [c for c in ("310101", "310102") if cell(cells, "county", c)["suppressed"]]
    assert hidden_counties  # at least one complement among the children
    # The province would otherwise give 310100 = 310000 − 310200: 310200 is hidden as well.
    assert cell(cells, "prefecture", "310200")["suppression_reason"] == "secondary"
    assert dc.derivable_cells(cells).empty and dc.linearly_derivable_cells(cells).empty


@pytest.mark.parametrize("seed,n", [(1, 200), (2, 500), (3, 1000), (4, 2000), (5, 350), (6, 1500)])
@pytest.mark.parametrize("weighting", ["none", "revenue"])
def test_subtraction_attack_recovers_nothing(seed, n, weighting):
    scores, registry, previous = random_population(seed, n)
    params = IndexParameters(weighting=weighting)
    cells = compute_cells(scores, registry, params, DIMS, previous_scores=previous)
    view = dc.public_view(cells, params)
    assert cells["suppressed"].any()  # there is something to protect
    assert subtraction_attack(view) == {}
    assert dc.derivable_cells(view).empty
    assert dc.linearly_derivable_cells(view).empty
    # Hidden cells carry no values in the public view, n included.
    hidden = view[view["suppressed"].astype(bool)]
    assert hidden.drop(columns=list(dc.IDENTITY_COLUMNS)).isna().all().all()
    # Ranks are dense among published cells only: 1..k within each group, without gaps
    # left by hidden cells.
    ranked = cells[cells["rank"].notna()]
    assert not ranked["suppressed"].any()
    # The attack does work on primary suppression alone, and finds the true sums.
    stats = compute_statistics(scores, registry, params, DIMS, previous)
    reason = dc.primary_suppression(stats, params)
    primary = stats.assign(suppressed=(reason != "") & (reason != "no_data"), suppression_reason=reason)
    recovered = subtraction_attack(primary)
    assert recovered, "the population should have a lone small cell somewhere"
    truth = (stats["mean"] * stats["n"]).to_numpy()
    for row, value in recovered.items():
        assert value == pytest.approx(truth[row], abs=1e-6)


def test_linear_audit_finds_what_the_line_rule_misses():
    # A province × division table. Hidden cells (n = 2): two 2×2 blocks
    # {P1, P2} × {D1, D2} and {P3, P4} × {D3, D4}, and the "bridge" P2 × D3. Every row
    # and column with a hidden cell has two or more, so the line rule adds nothing — yet
    # bridge = row P1 + row P2 − column D1 − column D2 (in hidden parts).
    provinces, divisions = ["P1", "P2", "P3", "P4", "P5"], ["D1", "D2", "D3", "D4", "D5"]
    small = {
        ("P1", "D1"),
        ("P1", "D2"),
        ("P2", "D1"),
        ("P2", "D2"),
        ("P3", "D3"),
        ("P3", "D4"),
        ("P4", "D3"),
        ("P4", "D4"),
        ("P2", "D3"),
    }
    table = {
        (p, d): (2 if (p, d) in small else 20 + 3 * i + j)
        for i, p in enumerate(provinces)
        for j, d in enumerate(divisions)
    }
    rows = [("nation", "CN", "", sum(table.values()))]
    rows += [("province", p, "CN", sum(v for (pp, _), v in table.items() if pp == p)) for p in provinces]
    rows += [("division", d, "CN", sum(v for (_, dd), v in table.items() if dd == d)) for d in divisions]
    rows += [("province_division", f"{p}|{d}", p, v) for (p, d), v in table.items()]
    cells = pd.DataFrame(rows, columns=["kind", "code", "parent_code", "n"])

    line_only = dc.apply_disclosure_control(cells, IndexParameters(), linear_audit=False)
    assert set(line_only.loc[line_only["suppression_reason"] == "small_n", "code"]) == {f"{p}|{d}" for p, d in small}
    assert (line_only["suppression_reason"] != "secondary").all()
    assert dc.derivable_cells(line_only).empty  # no single equation gives it away …
    assert list(dc.linearly_derivable_cells(line_only)["code"]) == ["P2|D3"]  # … a combination does

    full = dc.apply_disclosure_control(cells, IndexParameters())
    assert (full["suppression_reason"] == "secondary").any()
    assert dc.linearly_derivable_cells(full).empty and dc.derivable_cells(full).empty


# --- dominance ------------------------------------------------------------------------------


def test_top_contributor_share():
    groups = np.array([0, 0, 0, 0, 1, 1, 1, 2])
    weights = np.array([5.0, 1.0, 3.0, 1.0, 2.0, 2.0, 2.0, 0.0])
    share = dc.top_contributor_share(groups, weights, 2, 4)
    assert share[0] == pytest.approx((5 + 3) / 10)
    assert share[1] == pytest.approx(4 / 6)  # ties: any two of the three
    assert np.isnan(share[2]) and np.isnan(share[3])  # no weight / no contributor


def test_dominance_with_revenue_weighting():
    # County 310101: revenues 1000, 800 and four of 50 → the two largest hold
    # 1800 / 2000 = 0.90 > 0.85. County 310102: six equal revenues → 2 / 6.
    rows = [("310101", "39", 90, 1000), ("310101", "39", 80, 800)] + [("310101", "39", 50, 50)] * 4
    rows += [("310102", "39", 60, 100)] * 6 + [("310103", "39", 70, 100)] * 6
    scores = filings(rows)
    params = IndexParameters(weighting="revenue")
    stats = compute_statistics(scores, scores[COLUMNS], params, DIMS)
    c = cell(stats, "county", "310101")
    assert c["_dominance_share"] == pytest.approx(0.9)
    # Weighted mean (90·1000 + 80·800 + 4·50·50) / 2000 = 164000 / 2000 = 82;
    # plain mean (90 + 80 + 4·50) / 6 = 370 / 6.
    assert c["weighted_mean"] == pytest.approx(82) and c["mean"] == pytest.approx(370 / 6)
    cells = compute_cells(scores, scores[COLUMNS], params, DIMS)
    assert cell(cells, "county", "310101")["suppression_reason"] == "dominance"
    assert cell(cells, "county", "310102")["suppression_reason"] == "secondary"  # its complement (n 6 < 6? tie → code)
    assert cell(cells, "county", "310103")["suppressed"] is False
    # Prefecture, province, nation: the same two enterprises dominate them too (1800 / 3200
    # = 0.56 → no).
    assert cell(cells, "prefecture", "310100")["suppressed"] is False
    assert dc.derivable_cells(cells).empty
    # Unweighted indices have no dominance rule.
    plain = compute_cells(scores, scores[COLUMNS], IndexParameters(), DIMS)
    assert cell(plain, "county", "310101")["suppressed"] is False


# --- stability across periods ---------------------------------------------------------------


def test_stability_keeps_last_periods_suppressions_until_the_cell_has_grown():
    # Prefecture 310100: 310101 (7 filings), 310102 (10), 310104 (12), 310106 (8), 310105
    # (registered only). Prefecture 310200: 310201 (20), 310202 (6), 310203 (3).
    rows = (
        [("310101", "39", 50)] * 7
        + [("310102", "39", 60)] * 10
        + [("310104", "39", 80)] * 12
        + [("310106", "39", 55)] * 8
    )
    rows += [("310201", "39", 65)] * 20 + [("310202", "39", 45)] * 6 + [("310203", "39", 70)] * 3
    scores = filings(rows)
    registry = pd.concat([scores[COLUMNS], filings([("310105", "39", 0)], start_id=999)[COLUMNS]], ignore_index=True)
    previous_cells = pd.DataFrame(
        {
            "kind": ["county"] * 5,
            "code": ["310101", "310102", "310203", "310104", "310105"],
            "mean": [48.0, 58.0, 66.0, 77.0, 40.0],
            "rank": [None, None, None, 1, None],
            "suppressed": [True, True, True, False, True],
        }
    )
    params = IndexParameters()  # stays suppressed while n < 2 × 5 = 10
    cells = compute_cells(scores, registry, params, DIMS, previous_cells=previous_cells)
    reasons = {
        code: cell(cells, "county", code)["suppression_reason"] for code in sorted(set(scores["county"]) | {"310105"})
    }
    assert reasons == {
        "310101": "stability",  # n = 7 < 10
        # n = 10: grown enough to leave stability, but hidden last period it is the
        # cheapest complement of 310101 (cost ½ × 10 = 5 < 8 of 310106): the pattern of
        # last period stays as it was instead of hiding a cell that was published
        "310102": "secondary",
        "310104": "",
        "310105": "no_data",  # n = 0: nothing to protect
        "310106": "",
        "310201": "",
        "310202": "secondary",  # the complement of 310203
        "310203": "small_n",  # n = 3
    }
    # 310102 was hidden last period: its previous mean must not appear as prev_mean/change.
    c = cell(cells, "county", "310102")
    assert c["prev_mean"] is None and c["change"] is None and c["rank_change"] is None
    c = cell(cells, "county", "310104")
    assert c["prev_mean"] == 77.0 and c["change"] == pytest.approx(3.0) and c["prev_rank"] == 1
    assert dc.derivable_cells(cells).empty and dc.linearly_derivable_cells(cells).empty
    # Without the previous run, 310101 (n = 7) and 310106 would be published.
    fresh = compute_cells(scores, registry, params, DIMS)
    assert (
        cell(fresh, "county", "310101")["suppressed"] is False
        and cell(fresh, "county", "310106")["suppressed"] is False
    )


# --- panel --------------------------------------------------------------------------------------


def test_panel_change_hidden_when_few_enterprises_entered_or_left():
    # Province 330000 of the hand population (min_cell_size 3): panel of 3 (9, 10, 11), one
    # newcomer (12) and one leaver (99). Sum now − sum before − panel sum = 35 − 70: the
    # newcomer's score minus the leaver's — hidden.
    previous_scores = pd.DataFrame({"enterprise_id": [9, 10, 11, 99], "composite": [70.0, 40.0, 80.0, 70.0]})
    previous_cells = pd.DataFrame(
        {"kind": ["province"], "code": ["330000"], "mean": [65.0], "rank": [1], "suppressed": [False], "n": [4]}
    )
    params = IndexParameters(min_cell_size=3)
    cells = compute_cells(hand_scores(), hand_registry(), params, DIMS, previous_scores, previous_cells)
    c = cell(cells, "province", "330000")
    assert c["panel_n"] == 3 and c["panel_change"] is None
    assert c["change"] == pytest.approx(-5)  # the plain change is public: both means are
    # When the panel is the whole cell in both periods, nothing new is revealed.
    same = pd.DataFrame({"enterprise_id": [9, 10, 11, 12], "composite": [70.0, 40.0, 80.0, 30.0]})
    previous_cells["mean"], previous_cells["n"] = 55.0, 4
    cells = compute_cells(hand_scores(), hand_registry(), params, DIMS, same, previous_cells)
    c = cell(cells, "province", "330000")
    assert c["panel_n"] == 4 and c["panel_change"] == pytest.approx(5)


# --- what the public sees ----------------------------------------------------------------------


def test_public_view_blanks_hidden_cells_and_keeps_coverage_gaps():
    params = IndexParameters()
    cells = compute_cells(hand_scores(), hand_registry(), params, DIMS)
    view = dc.public_view(cells, params)
    assert list(view.columns) == list(cells.columns) and len(view) == len(cells)
    hidden = cell(view, "province", "330000")
    # the public reads one reason for every suppressed cell (the detail tells n ranges apart)
    assert hidden["suppressed"] is True and hidden["suppression_reason"] == "not_published" and hidden["parent_code"] == "CN"
    assert all(
        hidden[k] is None
        for k in ("n", "registered", "coverage", "mean", "rank", "level_shares", "dimension_means", "dev_index")
    )
    gap = cell(view, "county", "330108")
    assert gap["n"] == 0 and gap["registered"] == 3 and gap["coverage"] == 0.0 and gap["mean"] is None
    nation = cell(view, "nation", "CN")
    assert nation["n"] == 12 and nation["mean"] == 62.5
    # n = 12: the median (6 filings on each side) is shown, p10/p90/benchmark are not.
    assert nation["median"] == 62.5 and nation["p25"] is None and nation["p90"] is None and nation["benchmark"] is None
    # The stored frame itself keeps every value (for staff and for re-checks).
    assert cell(cells, "province", "330000")["mean"] == 60.0 and cell(cells, "nation", "CN")["benchmark"] == 87.5


def test_order_statistics_need_enough_filings_on_each_side():
    n = np.arange(0, 60)
    mask = dc.order_statistic_mask(n, 5)
    first = {column: int(n[ok].min()) for column, ok in mask.items()}
    # median: ⌊(n−1)/2⌋ + 1 ≥ 5 and n − ⌈(n−1)/2⌉ ≥ 5 → n ≥ 9; quartiles n ≥ 17; deciles
    # and the benchmark (top group ≥ 5) n ≥ 41.
    assert first == {"median": 9, "p25": 17, "p75": 17, "p10": 41, "p90": 41, "benchmark": 41}
    for ok in mask.values():
        assert ok[first_index(ok) :].all()


def first_index(ok):
    return int(np.flatnonzero(ok)[0])


def test_partitions_cover_the_hierarchies_and_leave_key_industries_out():
    cells = compute_cells(hand_scores(), hand_registry(), IndexParameters(), DIMS)
    edges = dc.partition_table(cells)
    # (county × division pseudo-cells exist only in the two-run audit's frames)
    assert set(edges["name"]) == {name for name, _, child, _ in dc.PARTITIONS if child != dc.COUNTY_DIVISION}
    kinds = cells["kind"].to_numpy()
    assert "key_industry" not in set(kinds[edges["child"]]) | set(kinds[edges["parent"]])
    # Every partition's children add up to the parent (counts): these are real partitions.
    n = cells["n"].to_numpy()
    sums = edges.assign(n=n[edges["child"]]).groupby("partition").agg(parent=("parent", "first"), n=("n", "sum"))
    assert (sums["n"].to_numpy() == n[sums["parent"].to_numpy()]).all()
    # province_division cells sit in two partitions: their province's and their division's.
    row = int(cells.index[(cells["kind"] == "province_division") & (cells["code"] == "320000|39")][0])
    parents = set(cells.loc[edges.loc[edges["child"] == row, "parent"], "code"])
    assert parents == {"320000", "39"}
